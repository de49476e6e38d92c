//! What a run's end answers over HTTP, in one table: [`Exit::status`] and
//! [`Exit::reason`] for the watchdog's (and the gateway's) callers, and
//! [`read`], the way back, for the gateway reading a watchdog's answer.

use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;

use crate::runner::Exit;

/// The limits a reason names, and the settings that raise them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Option<Duration>,
    pub timeout_setting: &'static str,
    pub max_input_bytes: u64,
    pub input_setting: &'static str,
    pub max_output_bytes: usize,
    pub output_setting: &'static str,
}

impl Exit {
    /// The status a caller gets: 200 on exit 0, 500 on another exit or a
    /// signal, 504 on the timeout, 502 when the output went over the limit,
    /// 413 when the input did, 400 when the input could not be read.
    pub fn status(&self) -> StatusCode {
        match self {
            Exit::Code(0) => StatusCode::OK,
            Exit::Code(_) | Exit::Signal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Exit::TimedOut => StatusCode::GATEWAY_TIMEOUT,
            Exit::OutputTooLarge => StatusCode::BAD_GATEWAY,
            Exit::InputTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Exit::InputFailed(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The line saying why the run did not succeed; `None` on exit 0.
    pub fn reason(&self, limits: &Limits) -> Option<String> {
        Some(match self {
            Exit::Code(0) => return None,
            Exit::Code(code) => format!("exit status {code}"),
            Exit::Signal(signal) => format!("killed by signal {signal}"),
            Exit::TimedOut => format!(
                "timed out after {:?} ({}); the process was killed",
                limits.timeout.unwrap_or_default(),
                limits.timeout_setting
            ),
            Exit::OutputTooLarge => format!(
                "the output is larger than {} bytes ({}); the process was killed",
                limits.max_output_bytes, limits.output_setting
            ),
            Exit::InputTooLarge => format!(
                "the input is larger than {} bytes ({})",
                limits.max_input_bytes, limits.input_setting
            ),
            Exit::InputFailed(why) => why.clone(),
        })
    }
}

/// A watchdog's answer read back into how the run ended and its output: the
/// inverse of [`Exit::status`] (a 500's first line names the exit status).
pub fn read(status: u16, body: Bytes, max_output: usize) -> (Exit, Bytes) {
    match status {
        200..=299 if body.len() > max_output => (Exit::OutputTooLarge, Bytes::new()),
        200..=299 => (Exit::Code(0), body),
        500 => {
            let head = String::from_utf8_lossy(&body[..body.len().min(64)]).into_owned();
            let first = head.split('\n').next().unwrap_or("");
            let exit = if let Some(code) = first.strip_prefix("exit status ") {
                code.trim().parse().ok().map(Exit::Code)
            } else if let Some(signal) = first.strip_prefix("killed by signal ") {
                signal.trim().parse().ok().map(Exit::Signal)
            } else {
                None
            };
            match exit {
                Some(exit) => {
                    let skip = body
                        .iter()
                        .position(|b| *b == b'\n')
                        .map_or(body.len(), |i| i + 1);
                    (exit, body.slice(skip..))
                }
                None => (Exit::Code(1), body),
            }
        }
        502 => (Exit::OutputTooLarge, Bytes::new()),
        504 => (Exit::TimedOut, Bytes::new()),
        413 => (Exit::InputTooLarge, Bytes::new()),
        other => {
            let mut text = format!("the watchdog answered {other}\n").into_bytes();
            text.extend_from_slice(&body);
            (Exit::Code(1), Bytes::from(text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        timeout: Some(Duration::from_secs(5)),
        timeout_setting: "exec_timeout",
        max_input_bytes: 7,
        input_setting: "max_input_bytes",
        max_output_bytes: 9,
        output_setting: "max_output_bytes",
    };

    #[test]
    fn every_end_reads_back_as_itself() {
        let ends = [
            Exit::Code(0),
            Exit::Code(3),
            Exit::Signal(9),
            Exit::TimedOut,
            Exit::OutputTooLarge,
            Exit::InputTooLarge,
        ];
        for exit in ends {
            let mut body = exit
                .reason(&LIMITS)
                .map(|line| format!("{line}\n"))
                .unwrap_or_default()
                .into_bytes();
            body.extend_from_slice(b"out");
            let (back, output) = read(exit.status().as_u16(), Bytes::from(body), 100);
            assert_eq!(back, exit);
            if matches!(exit, Exit::Code(_) | Exit::Signal(_)) {
                assert_eq!(&output[..], b"out");
            }
        }
    }

    #[test]
    fn reasons_name_the_limit_and_its_setting() {
        let line = Exit::TimedOut.reason(&LIMITS).expect("a reason");
        assert!(
            line.contains("5s") && line.contains("exec_timeout"),
            "{line}"
        );
        let line = Exit::OutputTooLarge.reason(&LIMITS).expect("a reason");
        assert!(line.contains("9 bytes"), "{line}");
        assert_eq!(Exit::Code(0).reason(&LIMITS), None);
    }

    #[test]
    fn answers_over_the_limit_or_unknown_are_failures() {
        let (exit, _) = read(200, Bytes::from_static(b"toolong"), 3);
        assert_eq!(exit, Exit::OutputTooLarge);
        let (exit, out) = read(418, Bytes::from_static(b"teapot"), 100);
        assert_eq!(exit, Exit::Code(1));
        assert!(out.starts_with(b"the watchdog answered 418\n"));
    }
}

//! A call as the gateway records it: its kind, where it is in its life
//! ([`Status`]), how it ended ([`End`]), its record as shown
//! ([`CallInfo`]), its events ([`Event`]) and a function's counts. Nothing
//! here knows HTTP: the table from an end to a status code is the invoke
//! pipeline's.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::{Serialize, Serializer};
use uuid::Uuid;
use watchdog::{Exit, Outcome};

use crate::backend::BackendError;
use crate::clock;

/// Bytes kept of STDIN, STDOUT and STDERR in events.
pub const SHORT: usize = 255;

/// The first [`SHORT`] bytes of `bytes`, as text.
pub fn short(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(SHORT)]).into_owned()
}

/// Whether the caller waits for the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// The caller waits; the function's timeout covers the queue and the
    /// run; the record is written once, when the call ends; the output goes
    /// to the caller only.
    Sync,
    /// Acknowledged once durable; the timeout covers the run only; every
    /// step is written as it happens, the output is kept, and a restart
    /// resumes it.
    Async,
}

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pending,
    Running,
    Finished,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "PENDING",
            Status::Running => "RUNNING",
            Status::Finished => "FINISHED",
            Status::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Status {
        match s {
            "PENDING" => Status::Pending,
            "RUNNING" => Status::Running,
            "FINISHED" => Status::Finished,
            _ => Status::Failed,
        }
    }
}

/// How a call ended, whatever ended it.
#[derive(Debug, Clone)]
pub struct End {
    pub how: How,
    /// The line saying why a call did not finish; `None` when it did.
    pub message: Option<String>,
    pub stdout: Bytes,
    pub stderr: Bytes,
    /// Run time; zero when it never ran.
    pub duration: Duration,
}

/// What ended a call.
#[derive(Debug, Clone)]
pub enum How {
    /// The function ran; this is how its process ended.
    Exited(Exit),
    /// It waited in the queue for all of its timeout.
    QueueTimeout,
    /// Its function was removed before it ended.
    Removed,
    /// Its (sync) caller hung up before it ended.
    HungUp,
    /// The gateway stopped before it ran.
    Stopped,
    /// The backend could not run it.
    Backend(BackendError),
    /// The gateway could not run it (its stored input was unreadable).
    Internal,
}

/// The limits a run's messages name.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_payload_bytes: usize,
}

impl End {
    /// A run's end, as the backend reported it.
    pub fn ran(outcome: Outcome, limits: Limits) -> End {
        let message = outcome.exit.reason(&watchdog::answer::Limits {
            timeout: Some(limits.timeout),
            timeout_setting: "the function's timeout",
            max_input_bytes: limits.max_payload_bytes as u64,
            input_setting: "FAAS_MAX_PAYLOAD_BYTES",
            max_output_bytes: limits.max_payload_bytes,
            output_setting: "FAAS_MAX_PAYLOAD_BYTES",
        });
        End {
            how: How::Exited(outcome.exit),
            message,
            stdout: outcome.stdout,
            stderr: outcome.stderr,
            duration: outcome.duration,
        }
    }

    /// A call that did not run (or whose run was cut) for `how`.
    pub fn without_run(how: How, message: String) -> End {
        End {
            how,
            message: Some(message),
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            duration: Duration::ZERO,
        }
    }

    pub fn removed() -> End {
        End::without_run(How::Removed, "the function was removed".into())
    }

    pub fn status(&self) -> Status {
        match self.how {
            How::Exited(Exit::Code(0)) => Status::Finished,
            _ => Status::Failed,
        }
    }

    pub fn exit_code(&self) -> Option<i32> {
        match self.how {
            How::Exited(Exit::Code(code)) => Some(code),
            _ => None,
        }
    }

    pub fn timed_out(&self) -> bool {
        matches!(self.how, How::Exited(Exit::TimedOut) | How::QueueTimeout)
    }

    /// Run time in seconds, if it ran.
    pub fn seconds(&self) -> Option<f64> {
        (!self.duration.is_zero()).then_some(self.duration.as_secs_f64())
    }

    /// What the caller reads: STDOUT, or on failure the line saying why,
    /// then STDOUT and STDERR.
    pub fn body(&self) -> Bytes {
        match &self.message {
            None => self.stdout.clone(),
            Some(line) => {
                let mut body =
                    BytesMut::with_capacity(line.len() + 1 + self.stdout.len() + self.stderr.len());
                body.extend_from_slice(line.as_bytes());
                body.extend_from_slice(b"\n");
                body.extend_from_slice(&self.stdout);
                body.extend_from_slice(&self.stderr);
                body.freeze()
            }
        }
    }
}

impl How {
    /// What ended a call as far as its stored record tells.
    pub fn recorded(info: &CallInfo) -> How {
        match (info.status, info.timed_out, info.exit_code) {
            (Status::Finished, _, _) => How::Exited(Exit::Code(0)),
            (_, true, _) => How::Exited(Exit::TimedOut),
            (_, false, Some(code)) => How::Exited(Exit::Code(code)),
            _ => How::Internal,
        }
    }
}

/// `GET /system/calls/<id>`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallInfo {
    pub call_id: Uuid,
    pub function: String,
    pub status: Status,
    pub created: String,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub exit_code: Option<i32>,
    pub duration_seconds: Option<f64>,
    pub message: Option<String>,
    /// Whether the call was asynchronous (its output is kept).
    pub r#async: bool,
    #[serde(skip)]
    pub timed_out: bool,
}

/// The kinds of call events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventKind {
    Call,
    Pending,
    Running,
    Finished,
    Failed,
    /// How an async call's `X-Callback-Url` delivery went.
    Callback,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Call => "CALL",
            EventKind::Pending => "PENDING",
            EventKind::Running => "RUNNING",
            EventKind::Finished => "FINISHED",
            EventKind::Failed => "FAILED",
            EventKind::Callback => "CALLBACK",
        }
    }

    pub fn parse(s: &str) -> EventKind {
        match s {
            "CALL" => EventKind::Call,
            "PENDING" => EventKind::Pending,
            "RUNNING" => EventKind::Running,
            "FINISHED" => EventKind::Finished,
            "CALLBACK" => EventKind::Callback,
            _ => EventKind::Failed,
        }
    }

    /// The last event of a call.
    pub fn is_end(self) -> bool {
        matches!(self, EventKind::Finished | EventKind::Failed)
    }
}

/// One line of `/system/logs`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    /// Unix milliseconds, shown in whole seconds as Hyper Func did.
    #[serde(serialize_with = "seconds")]
    pub time: i64,
    pub event: EventKind,
    pub call_id: String,
    pub short_stdin: String,
    pub short_stdout: String,
    pub short_stderr: String,
    pub message: String,
    /// Its place in the log, for `follow` to skip what was already sent.
    #[serde(skip)]
    pub id: i64,
    #[serde(skip)]
    pub function: String,
}

fn seconds<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&clock::seconds(*ms))
}

/// `{"Total","Pending","Running","Finished","Failed"}`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Counts {
    pub total: u64,
    pub pending: u64,
    pub running: u64,
    pub finished: u64,
    pub failed: u64,
}

impl Counts {
    /// Counts `n` calls in `status`.
    pub fn add(&mut self, status: Status, n: u64) {
        self.total += n;
        match status {
            Status::Pending => self.pending += n,
            Status::Running => self.running += n,
            Status::Finished => self.finished += n,
            Status::Failed => self.failed += n,
        }
    }
}

/// Shows a stored time.
pub fn time(ms: Option<i64>) -> Option<String> {
    ms.map(clock::millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(exit: Exit) -> Outcome {
        Outcome {
            exit,
            stdout: Bytes::from_static(b"out\n"),
            stderr: Bytes::from_static(b"err\n"),
            duration: Duration::from_millis(5),
        }
    }

    const LIMITS: Limits = Limits {
        timeout: Duration::from_secs(2),
        max_payload_bytes: 10,
    };

    #[test]
    fn a_finished_call_answers_its_stdout_only() {
        let end = End::ran(outcome(Exit::Code(0)), LIMITS);
        assert_eq!(end.status(), Status::Finished);
        assert_eq!((end.exit_code(), end.message.as_deref()), (Some(0), None));
        assert_eq!(&end.body()[..], b"out\n");
    }

    #[test]
    fn a_failed_call_answers_why_then_its_output() {
        let end = End::ran(outcome(Exit::Code(3)), LIMITS);
        assert_eq!(end.status(), Status::Failed);
        assert_eq!(&end.body()[..], b"exit status 3\nout\nerr\n");
        let end = End::ran(outcome(Exit::TimedOut), LIMITS);
        assert!(end.timed_out());
        assert!(end.message.as_deref().is_some_and(|m| m.contains("2s")));
        let end = End::without_run(How::QueueTimeout, "waited".into());
        assert!(end.timed_out());
        assert_eq!(end.seconds(), None);
    }

    #[test]
    fn events_show_their_time_in_seconds_and_kind_in_capitals() {
        let event = Event {
            time: 1_489_676_758_042,
            event: EventKind::Finished,
            call_id: "c".into(),
            short_stdin: String::new(),
            short_stdout: "hi".into(),
            short_stderr: String::new(),
            message: String::new(),
            id: 7,
            function: "f".into(),
        };
        let json = serde_json::to_value(&event).expect("json");
        assert_eq!(json["Time"], "2017-03-16T15:05:58Z");
        assert_eq!(json["Event"], "FINISHED");
        assert!(json.get("Id").is_none() && json.get("Function").is_none());
        assert_eq!(
            EventKind::parse(EventKind::Running.as_str()),
            EventKind::Running
        );
    }
}

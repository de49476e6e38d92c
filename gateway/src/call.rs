//! A call as the gateway records it: its kind, where it is in its life
//! ([`Status`]), how it ended ([`End`]), its record as shown
//! ([`CallInfo`]), its events ([`Event`]) and a function's counts. Nothing
//! here knows HTTP: the table from an end to a status code is the invoke
//! pipeline's.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::{Deserialize, Serialize};
use watchdog::{Exit, Outcome};

use crate::backend_error::BackendError;
use crate::call_id::CallId;
use crate::clock;
use crate::function::NAMESPACE;

/// How serde names `value`'s variant (a unit variant's text, or the tag of
/// one that carries data): the one spelling records, the wire and the
/// database use.
pub fn name<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(name)) => name,
        Ok(serde_json::Value::Object(map)) => {
            map.into_iter().next().map(|(k, _)| k).unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// The unit variant serde names `text`; the error says which text.
pub fn named<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        text.into_deserializer();
    T::deserialize(de).map_err(|e| format!("{text:?} is not a known name: {e}"))
}

/// `Display` as [`name`] spells the value, for these enums.
macro_rules! display_by_name {
    ($($kind:ty),*) => {$(
        impl std::fmt::Display for $kind {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&name(self))
            }
        }
    )*};
}

display_by_name!(Status, EventKind);

/// Bytes kept of STDIN, STDOUT and STDERR in events.
pub const SHORT: usize = 255;

/// The first [`SHORT`] bytes of `bytes`, as text.
pub fn short(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(SHORT)]).into_owned()
}

/// Most STDERR lines of one call kept as events of their own.
pub const MAX_STDERR_LINES: usize = 1000;
/// Longest STDERR line kept; the rest of a longer one is cut.
pub const MAX_LINE_BYTES: usize = 4096;

/// The lines of a call's STDERR as its `STDERR` events hold them: each
/// without its newline, cut at [`MAX_LINE_BYTES`], at most
/// [`MAX_STDERR_LINES`] of them, then one saying how many more were left
/// out.
pub fn stderr_lines(stderr: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut all = stderr.split(|&b| b == b'\n').peekable();
    let mut left_out = 0usize;
    while let Some(line) = all.next() {
        // The empty piece after a final newline is not a line.
        if line.is_empty() && all.peek().is_none() {
            break;
        }
        if lines.len() == MAX_STDERR_LINES {
            left_out += 1;
            continue;
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        lines.push(String::from_utf8_lossy(&line[..line.len().min(MAX_LINE_BYTES)]).into_owned());
    }
    if left_out > 0 {
        lines.push(format!("({left_out} more lines of STDERR not kept)"));
    }
    lines
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pending,
    Running,
    Finished,
    Failed,
    /// Cancelled by a `DELETE` before it ended (killed when running).
    Cancelled,
    /// Older than its maximum age when its turn came; it never ran.
    Expired,
}

impl Status {
    /// Whether a call in this status has ended.
    pub fn is_end(self) -> bool {
        !matches!(self, Status::Pending | Status::Running)
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
    /// Where it ran when not on the gateway's own engine (an agent's
    /// node): recorded as a `NODE` event before its end.
    pub node: Option<String>,
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
    /// Cancelled (`DELETE /system/calls/<id>`): never run, or killed.
    Cancelled,
    /// It waited longer than its maximum age; it never ran.
    Expired,
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
            node: None,
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
            node: None,
        }
    }

    pub fn removed() -> End {
        End::without_run(How::Removed, "the function was removed".into())
    }

    /// A call cancelled by `by` (who, from where): while `running` (its
    /// run killed), or while queued (never run).
    pub fn cancelled(by: &str, running: bool) -> End {
        let what = if running {
            "while running: its run was killed"
        } else {
            "while queued: it never ran"
        };
        End::without_run(How::Cancelled, format!("cancelled by {by} {what}"))
    }

    /// An async call not started within its maximum age, `max_age`.
    pub fn expired(max_age: Duration) -> End {
        let message = format!(
            "expired: not started within its maximum age of {}s (the function's maxAge, else --max-call-age); it never ran",
            max_age.as_secs_f64()
        );
        End::without_run(How::Expired, message)
    }

    pub fn status(&self) -> Status {
        match self.how {
            How::Exited(Exit::Code(0)) => Status::Finished,
            How::Cancelled => Status::Cancelled,
            How::Expired => Status::Expired,
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
        matches!(
            self.how,
            How::Exited(Exit::TimedOut)
                | How::QueueTimeout
                | How::Backend(BackendError::NotReady(_))
        )
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

/// What ended a call, as its record spells it: the name, then for a
/// signal its number and for a backend error its kind, after a colon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Ending {
    Exit,
    Signal,
    Timeout,
    OutputTooLarge,
    InputTooLarge,
    InputFailed,
    QueueTimeout,
    Removed,
    HungUp,
    Stopped,
    Backend,
    Internal,
    Cancelled,
    Expired,
}

impl How {
    /// How a call's record keeps it; [`How::recorded`] reads it back.
    pub fn kind(&self) -> String {
        let (ending, detail) = match self {
            How::Exited(Exit::Code(_)) => (Ending::Exit, None),
            How::Exited(Exit::Signal(n)) => (Ending::Signal, Some(n.to_string())),
            How::Exited(Exit::TimedOut) => (Ending::Timeout, None),
            How::Exited(Exit::OutputTooLarge) => (Ending::OutputTooLarge, None),
            How::Exited(Exit::InputTooLarge) => (Ending::InputTooLarge, None),
            How::Exited(Exit::InputFailed(_)) => (Ending::InputFailed, None),
            How::QueueTimeout => (Ending::QueueTimeout, None),
            How::Removed => (Ending::Removed, None),
            How::HungUp => (Ending::HungUp, None),
            How::Stopped => (Ending::Stopped, None),
            How::Backend(e) => (Ending::Backend, Some(e.kind().to_string())),
            How::Internal => (Ending::Internal, None),
            How::Cancelled => (Ending::Cancelled, None),
            How::Expired => (Ending::Expired, None),
        };
        match detail {
            Some(detail) => format!("{}:{detail}", name(&ending)),
            None => name(&ending),
        }
    }

    /// What ended a call as far as its stored record tells: its kind
    /// ([`How::kind`]), or for a record kept without one, its status, exit
    /// code and whether it timed out.
    pub fn recorded(info: &CallInfo) -> How {
        let message = || info.message.clone().unwrap_or_default();
        let kept = info.how.as_deref().and_then(|kind| {
            let (head, detail) = match kind.split_once(':') {
                Some((head, detail)) => (head, Some(detail)),
                None => (kind, None),
            };
            Some(match (named::<Ending>(head).ok()?, detail) {
                (Ending::Exit, None) => How::Exited(Exit::Code(info.exit_code?)),
                (Ending::Signal, Some(n)) => How::Exited(Exit::Signal(n.parse().ok()?)),
                (Ending::Timeout, None) => How::Exited(Exit::TimedOut),
                (Ending::OutputTooLarge, None) => How::Exited(Exit::OutputTooLarge),
                (Ending::InputTooLarge, None) => How::Exited(Exit::InputTooLarge),
                (Ending::InputFailed, None) => How::Exited(Exit::InputFailed(message())),
                (Ending::QueueTimeout, None) => How::QueueTimeout,
                (Ending::Removed, None) => How::Removed,
                (Ending::HungUp, None) => How::HungUp,
                (Ending::Stopped, None) => How::Stopped,
                (Ending::Backend, Some(kind)) => {
                    How::Backend(BackendError::of_kind(kind, message())?)
                }
                (Ending::Internal, None) => How::Internal,
                (Ending::Cancelled, None) => How::Cancelled,
                (Ending::Expired, None) => How::Expired,
                _ => return None,
            })
        });
        if let Some(how) = kept {
            return how;
        }
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
    pub call_id: CallId,
    pub function: String,
    pub status: Status,
    /// Why it did not finish, when it did not.
    pub message: Option<String>,
    pub created: String,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub exit_code: Option<i32>,
    pub duration_seconds: Option<f64>,
    /// Whether the call was asynchronous (its output is kept).
    pub r#async: bool,
    #[serde(skip)]
    pub timed_out: bool,
    /// What ended it ([`How::kind`]), when it ended and the record keeps it.
    #[serde(skip)]
    pub how: Option<String>,
}

/// The kinds of call events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, strum::EnumIter)]
#[serde(rename_all = "UPPERCASE")]
pub enum EventKind {
    Call,
    Pending,
    Running,
    Finished,
    Failed,
    /// How an async call's `X-Callback-Url` delivery went.
    Callback,
    /// A line the function wrote to STDERR.
    Stderr,
    /// Where a call ran: the agent and node that ran a per-call call.
    Node,
    /// A call's end by cancellation.
    Cancelled,
    /// A call's end by its maximum age, unrun.
    Expired,
}

impl EventKind {
    /// The last event of a call.
    pub fn is_end(self) -> bool {
        matches!(
            self,
            EventKind::Finished | EventKind::Failed | EventKind::Cancelled | EventKind::Expired
        )
    }

    /// The event that ends a call in `status`.
    pub fn ending(status: Status) -> EventKind {
        match status {
            Status::Finished => EventKind::Finished,
            Status::Cancelled => EventKind::Cancelled,
            Status::Expired => EventKind::Expired,
            Status::Pending | Status::Running | Status::Failed => EventKind::Failed,
        }
    }
}

/// One event of a function's log: a step of a call, or a line its
/// function wrote to STDERR. Shown by `/system/logs` as a [`LogLine`].
#[derive(Debug, Clone)]
pub struct Event {
    /// Unix milliseconds.
    pub time: i64,
    pub event: EventKind,
    pub call_id: CallId,
    pub short_stdin: String,
    pub short_stdout: String,
    pub short_stderr: String,
    /// Why a call failed, how a callback went; for `STDERR`, the line.
    pub message: String,
    /// Its place in the log, for `follow` to skip what was already sent.
    pub id: i64,
    pub function: String,
}

/// A line of `/system/logs`: OpenFaaS's `logs.Message` (`name`,
/// `namespace`, `instance`, `timestamp`, `text`) and Hyper Func's event
/// fields at once. A line read from a replica's container has no call.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub name: String,
    pub namespace: &'static str,
    /// The call id for a call's events and per-call STDERR; the replica's
    /// container (or task) id for what a replica wrote.
    pub instance: String,
    /// RFC 3339, to the millisecond.
    pub timestamp: String,
    pub text: String,
    /// RFC 3339 in whole seconds, as Hyper Func showed it.
    #[serde(rename = "Time")]
    pub time: String,
    #[serde(rename = "Event")]
    pub event: EventKind,
    #[serde(rename = "CallId", skip_serializing_if = "Option::is_none")]
    pub call_id: Option<CallId>,
    #[serde(rename = "ShortStdin")]
    pub short_stdin: String,
    #[serde(rename = "ShortStdout")]
    pub short_stdout: String,
    #[serde(rename = "ShortStderr")]
    pub short_stderr: String,
    #[serde(rename = "Message")]
    pub message: String,
    /// Unix milliseconds, to merge lines from several sources.
    #[serde(skip)]
    pub at: i64,
}

impl Event {
    /// How `/system/logs` shows it.
    pub fn line(&self) -> LogLine {
        LogLine {
            name: self.function.clone(),
            namespace: NAMESPACE,
            instance: self.call_id.to_string(),
            timestamp: clock::millis(self.time),
            text: self.text(),
            time: clock::seconds(self.time),
            event: self.event,
            call_id: Some(self.call_id),
            short_stdin: self.short_stdin.clone(),
            short_stdout: self.short_stdout.clone(),
            short_stderr: self.short_stderr.clone(),
            message: self.message.clone(),
            at: self.time,
        }
    }

    /// OpenFaaS's `text`: the line for STDERR, else the event as Hyper
    /// Func's log printed it, without its time.
    fn text(&self) -> String {
        let id = &self.call_id;
        match self.event {
            EventKind::Stderr => self.message.clone(),
            EventKind::Call => format!("[CALL] CallId: {id}, ShortStdin: {}", self.short_stdin),
            EventKind::Finished => format!(
                "[FINISHED] CallId: {id}, ShortStdout: {}, ShortStderr: {}",
                self.short_stdout, self.short_stderr
            ),
            EventKind::Pending | EventKind::Running => {
                format!("[{}] CallId: {id}", self.event)
            }
            EventKind::Failed
            | EventKind::Callback
            | EventKind::Node
            | EventKind::Cancelled
            | EventKind::Expired => {
                format!("[{}] CallId: {id}, Message: {}", self.event, self.message)
            }
        }
    }
}

impl LogLine {
    /// A line a replica of `function` wrote, read from its container.
    pub fn replica(function: &str, instance: String, at: i64, text: String) -> LogLine {
        LogLine {
            name: function.to_string(),
            namespace: NAMESPACE,
            instance,
            timestamp: clock::millis(at),
            time: clock::seconds(at),
            event: EventKind::Stderr,
            call_id: None,
            short_stdin: String::new(),
            short_stdout: String::new(),
            short_stderr: String::new(),
            message: text.clone(),
            text,
            at,
        }
    }
}

/// `{"Total","Pending","Running","Finished","Failed","Cancelled","Expired"}`.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Counts {
    pub total: u64,
    pub pending: u64,
    pub running: u64,
    pub finished: u64,
    pub failed: u64,
    pub cancelled: u64,
    pub expired: u64,
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
            Status::Cancelled => self.cancelled += n,
            Status::Expired => self.expired += n,
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

    #[test]
    fn a_record_keeps_how_its_call_ended() {
        let ends = [
            How::Exited(Exit::Code(3)),
            How::Exited(Exit::Signal(9)),
            How::Exited(Exit::TimedOut),
            How::Exited(Exit::OutputTooLarge),
            How::Exited(Exit::InputTooLarge),
            How::Exited(Exit::InputFailed("why".into())),
            How::QueueTimeout,
            How::Removed,
            How::HungUp,
            How::Stopped,
            How::Internal,
            How::Backend(BackendError::Lost("gone".into())),
            How::Backend(BackendError::Unreachable("down".into())),
            How::Backend(BackendError::Start("no".into())),
            How::Backend(BackendError::NotReady("none".into())),
            How::Cancelled,
            How::Expired,
        ];
        let kinds: Vec<String> = ends.iter().map(How::kind).collect();
        // As existing databases spell them.
        let spelled = [
            "exit",
            "signal:9",
            "timeout",
            "output-too-large",
            "input-too-large",
            "input-failed",
            "queue-timeout",
            "removed",
            "hung-up",
            "stopped",
            "internal",
            "backend:lost",
            "backend:unreachable",
            "backend:start",
            "backend:not-ready",
            "cancelled",
            "expired",
        ];
        assert_eq!(kinds, spelled);
        for how in ends {
            let end = End::without_run(how.clone(), "why".into());
            let info = CallInfo {
                call_id: CallId::new(),
                function: "f".into(),
                status: end.status(),
                created: String::new(),
                started: None,
                finished: None,
                exit_code: match how {
                    How::Exited(Exit::Code(c)) => Some(c),
                    _ => None,
                },
                duration_seconds: None,
                message: Some("why".into()),
                r#async: true,
                timed_out: end.timed_out(),
                how: Some(how.kind()),
            };
            assert_eq!(How::recorded(&info).kind(), how.kind());
        }
        // A record made before kinds were kept: what its columns tell.
        let old = CallInfo {
            call_id: CallId::new(),
            function: "f".into(),
            status: Status::Failed,
            created: String::new(),
            started: None,
            finished: None,
            exit_code: Some(2),
            duration_seconds: None,
            message: None,
            r#async: true,
            timed_out: false,
            how: None,
        };
        assert_eq!(How::recorded(&old).kind(), "exit");
    }

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
    fn stderr_is_kept_line_by_line_and_bounded() {
        assert!(stderr_lines(b"").is_empty());
        assert_eq!(stderr_lines(b"a\n\nb\r\nc"), ["a", "", "b", "c"]);
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        assert_eq!(stderr_lines(&long)[0].len(), MAX_LINE_BYTES);
        let many = "l\n".repeat(MAX_STDERR_LINES + 5);
        let lines = stderr_lines(many.as_bytes());
        assert_eq!(lines.len(), MAX_STDERR_LINES + 1);
        assert_eq!(lines[MAX_STDERR_LINES], "(5 more lines of STDERR not kept)");
    }

    #[test]
    fn events_show_their_time_in_seconds_and_kind_in_capitals() {
        let event = Event {
            time: 1_489_676_758_042,
            event: EventKind::Finished,
            call_id: ID.parse().expect("id"),
            short_stdin: String::new(),
            short_stdout: "hi".into(),
            short_stderr: String::new(),
            message: String::new(),
            id: 7,
            function: "f".into(),
        };
        let json = serde_json::to_value(event.line()).expect("json");
        assert_eq!(json["Time"], "2017-03-16T15:05:58Z");
        assert_eq!(json["Event"], "FINISHED");
        assert!(json.get("Id").is_none() && json.get("Function").is_none());
        // OpenFaaS's logs.Message beside them.
        assert_eq!(json["name"], "f");
        assert_eq!(json["namespace"], NAMESPACE);
        assert_eq!(json["instance"], ID);
        assert_eq!(json["CallId"], ID);
        assert_eq!(json["timestamp"], "2017-03-16T15:05:58.042Z");
        assert_eq!(
            json["text"],
            format!("[FINISHED] CallId: {ID}, ShortStdout: hi, ShortStderr: ")
        );
    }

    /// Every value, in order, shows as `texts` and reads back from its text.
    fn spelled<T>(texts: &str)
    where
        T: strum::IntoEnumIterator + std::fmt::Display + DeserializeOwned + PartialEq,
        T: std::fmt::Debug,
    {
        let values: Vec<T> = T::iter().collect();
        let shown: Vec<String> = values.iter().map(ToString::to_string).collect();
        assert_eq!(shown.join(" "), texts);
        for (value, text) in values.iter().zip(&shown) {
            assert_eq!(named::<T>(text).as_ref(), Ok(value));
        }
    }

    const ID: &str = "218b7b10-e7f1-4c48-ac3c-66792f8ffc06";

    #[test]
    fn names_are_spelled_as_records_and_the_wire_keep_them() {
        spelled::<Status>("PENDING RUNNING FINISHED FAILED CANCELLED EXPIRED");
        spelled::<EventKind>(
            "CALL PENDING RUNNING FINISHED FAILED CALLBACK STDERR NODE CANCELLED EXPIRED",
        );
        assert!(named::<Status>("DONE").is_err_and(|e| e.contains("\"DONE\"")));
    }
}

//! The text `faas` prints: log lines in Hyper Func's format, Docker-style
//! tables, UTC times and "… ago" durations, every field from the gateway
//! escaped to one line. Pure functions, tested here.

use std::time::SystemTime;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::escape::line;

/// Hyper Func's time format (Go's `2006-01-02T15:04:05Z`), always UTC.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// One event of `GET /system/logs` (docs/api.md).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Event {
    pub time: Value,
    pub event: String,
    pub call_id: Option<String>,
    pub short_stdin: Option<String>,
    pub short_stdout: Option<String>,
    pub short_stderr: Option<String>,
    pub message: Option<String>,
    /// OpenFaaS's field: the replica that wrote a line of no call.
    #[serde(rename = "instance")]
    pub instance: Option<String>,
}

/// The line `faas func logs` prints for `event`, newline included:
/// `<t> [CALL] CallId: <id>, ShortStdin: <s>`, `<t> [PENDING] CallId: <id>`,
/// `<t> [FINISHED] CallId: <id>, ShortStdout: <s>, ShortStderr: <s>`,
/// `<t> [FAILED] CallId: <id>, Message: <m>`. Every field is escaped
/// ([`line`]): an event is one line, whatever a function wrote (a Short
/// field's newline shows as `\n`).
pub fn log_line(event: &Event) -> String {
    let time = line(&format_time(&event.time));
    let mut text = format!("{time} [{}]", line(&event.event));
    let mut sep = " ";
    if let Some(id) = &event.call_id {
        text.push_str(&format!(" CallId: {}", line(id)));
        sep = ", ";
    } else if let Some(instance) = event.instance.as_ref().filter(|i| !i.is_empty()) {
        // A replica's line: which replica, by its short container id.
        let short: String = instance.chars().take(12).collect();
        text.push_str(&format!(" Instance: {}", line(&short)));
        sep = ", ";
    }
    let field = |s: &Option<String>| line(s.as_deref().unwrap_or_default());
    match event.event.as_str() {
        "CALL" => text.push_str(&format!("{sep}ShortStdin: {}", field(&event.short_stdin))),
        "FINISHED" => text.push_str(&format!(
            "{sep}ShortStdout: {}, ShortStderr: {}",
            field(&event.short_stdout),
            field(&event.short_stderr)
        )),
        "PENDING" | "RUNNING" => {}
        _ => {
            // FAILED, STDERR (its line), and whatever else the gateway logs.
            if event.event == "FAILED" || event.message.as_deref().is_some_and(|m| !m.is_empty()) {
                text.push_str(&format!("{sep}Message: {}", field(&event.message)));
            }
        }
    }
    text.push('\n');
    text
}

/// Reads a time the gateway sent: an RFC 3339 string, or a number of Unix
/// seconds (milliseconds when it is too large to be seconds).
pub fn parse_time(value: &Value) -> Option<DateTime<Utc>> {
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Value::Number(n) => {
            let secs = n.as_f64()?;
            let secs = if secs > 1e11 { secs / 1000.0 } else { secs };
            DateTime::from_timestamp(secs.trunc() as i64, 0)
        }
        _ => None,
    }
}

/// `2017-03-16T15:05:58Z`; a time that cannot be read is printed as it came.
pub fn format_time(value: &Value) -> String {
    match (parse_time(value), value) {
        (Some(t), _) => t.format(TIME_FORMAT).to_string(),
        (None, Value::String(s)) => s.clone(),
        (None, Value::Null) => String::new(),
        (None, other) => other.to_string(),
    }
}

/// `3 minutes ago`, as `docker ps` and `hyper func ls` print CREATED.
pub fn ago(value: &Value, now: SystemTime) -> String {
    match parse_time(value) {
        Some(then) => {
            let now: DateTime<Utc> = now.into();
            let secs = (now - then).num_seconds().max(0) as u64;
            format!("{} ago", human_duration(secs))
        }
        None => format_time(value),
    }
}

/// Docker's `units.HumanDuration`.
pub fn human_duration(seconds: u64) -> String {
    let minutes = seconds / 60;
    let hours = (seconds + 1800) / 3600; // rounded, as Docker does
    match seconds {
        0 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".to_string(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_string(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// A table as Docker prints one: columns left-aligned, three spaces apart,
/// the last one not padded; each cell escaped to one line.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| row.iter().map(|cell| line(cell)).collect())
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    fn event(v: Value) -> Event {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn log_lines_follow_hyper() {
        let t = "2017-03-16T15:05:58.123456+00:00";
        let id = "218b7b10-e7f1-4c48-ac3c-66792f8ffc06";
        let call = event(json!({"Time": t, "Event": "CALL", "CallId": id, "ShortStdin": ""}));
        assert_eq!(
            log_line(&call),
            format!("2017-03-16T15:05:58Z [CALL] CallId: {id}, ShortStdin: \n")
        );
        let pending = event(json!({"Time": t, "Event": "PENDING", "CallId": id}));
        assert_eq!(
            log_line(&pending),
            format!("2017-03-16T15:05:58Z [PENDING] CallId: {id}\n")
        );
        let finished = event(
            json!({"Time": "2017-03-16T17:06:10+02:00", "Event": "FINISHED",
            "CallId": id, "ShortStdout": "HelloWorld\n", "ShortStderr": ""}),
        );
        assert_eq!(
            log_line(&finished),
            format!(
                "2017-03-16T15:06:10Z [FINISHED] CallId: {id}, ShortStdout: HelloWorld\\n, ShortStderr: \n"
            )
        );
        let failed = event(json!({"Time": t, "Event": "FAILED", "CallId": id,
            "Message": "exit status 3"}));
        assert_eq!(
            log_line(&failed),
            format!("2017-03-16T15:05:58Z [FAILED] CallId: {id}, Message: exit status 3\n")
        );
        let stderr = event(json!({"Time": t, "Event": "STDERR", "CallId": id,
            "Message": "oops", "instance": id, "text": "oops"}));
        assert_eq!(
            log_line(&stderr),
            format!("2017-03-16T15:05:58Z [STDERR] CallId: {id}, Message: oops\n")
        );
        let replica = event(json!({"Time": t, "Event": "STDERR", "Message": "oops",
            "instance": "0123456789abcdef"}));
        assert_eq!(
            log_line(&replica),
            "2017-03-16T15:05:58Z [STDERR] Instance: 0123456789ab, Message: oops\n"
        );
    }

    #[test]
    fn a_hostile_event_is_one_printable_line() {
        let t = "2017-03-16T15:05:58Z";
        let forged = "x\n2017-03-16T15:05:58Z [FINISHED] CallId: fake, ShortStdout: ok";
        let hostile = "\x1b]0;owned\x07\x1b[2J\r\u{9b}";
        for raw in [
            json!({"Time": t, "Event": "FINISHED", "CallId": "id\n",
                   "ShortStdout": forged, "ShortStderr": hostile}),
            json!({"Time": t, "Event": "CALL", "CallId": "id", "ShortStdin": forged}),
            json!({"Time": t, "Event": "STDERR", "instance": hostile, "Message": forged}),
            json!({"Time": forged, "Event": hostile, "Message": hostile}),
        ] {
            let text = log_line(&event(raw));
            let (body, end) = text.split_at(text.len() - 1);
            assert_eq!(end, "\n");
            assert!(
                !body.chars().any(|c| c.is_control()),
                "{text:?} has a control character"
            );
        }
        let text = log_line(&event(json!({"Time": t, "Event": "FINISHED",
            "CallId": "id", "ShortStdout": forged, "ShortStderr": hostile})));
        assert_eq!(
            text,
            "2017-03-16T15:05:58Z [FINISHED] CallId: id, ShortStdout: x\\n2017-03-16T15:05:58Z \
             [FINISHED] CallId: fake, ShortStdout: ok, ShortStderr: \\x1b]0;owned\\x07\\x1b[2J\\r\\u{9b}\n"
        );
    }

    #[test]
    fn times_are_utc_seconds() {
        for (time, text) in [
            (json!("2017-03-16T15:05:58.9Z"), "2017-03-16T15:05:58Z"),
            (json!(1489676758), "2017-03-16T15:05:58Z"),
            (json!(1489676758000u64), "2017-03-16T15:05:58Z"),
            (json!("yesterday"), "yesterday"),
        ] {
            assert_eq!(format_time(&time), text, "{time}");
        }
    }

    #[test]
    fn durations_read_like_docker() {
        const HOUR: u64 = 3600;
        const DAY: u64 = 24 * HOUR;
        for (seconds, text) in [
            (0, "Less than a second"),
            (1, "1 second"),
            (59, "59 seconds"),
            (60, "About a minute"),
            (150, "2 minutes"),
            (HOUR, "About an hour"),
            (5 * HOUR, "5 hours"),
            (3 * DAY, "3 days"),
            (20 * DAY, "2 weeks"),
            (90 * DAY, "3 months"),
            (800 * DAY, "2 years"),
        ] {
            assert_eq!(human_duration(seconds), text);
        }
        let now = UNIX_EPOCH + Duration::from_secs(1489676758 + 120);
        assert_eq!(ago(&json!("2017-03-16T15:05:58Z"), now), "2 minutes ago");
    }

    #[test]
    fn table_cells_are_escaped_and_measured_escaped() {
        let rows = vec![vec!["a\x1b[2J".to_string(), "b\nc".to_string()]];
        assert_eq!(
            table(&["NAME", "IMAGE"], &rows),
            "NAME       IMAGE\na\\x1b[2J   b\\nc\n"
        );
    }

    #[test]
    fn tables_pad_all_but_the_last_column() {
        let rows = vec![
            vec!["helloworld".to_string(), "ubuntu".to_string()],
            vec!["x".to_string(), "".to_string()],
        ];
        assert_eq!(
            table(&["NAME", "IMAGE"], &rows),
            "NAME         IMAGE\nhelloworld   ubuntu\nx\n"
        );
    }
}

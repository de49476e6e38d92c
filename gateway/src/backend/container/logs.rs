//! Service replicas' own lines: their containers' logs read from the
//! engine (both streams, with the engine's timestamps), one stream of
//! [`ReplicaLine`]s for all of a function's replicas. The watchdog writes a
//! call's STDERR as `fwatchdog: stderr: <first line>` and the rest as they
//! were; the prefix is taken off, so a line is what the function wrote.

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::stream::{self, StreamExt};

use super::{Engine, Replica};
use crate::backend::{LogQuery, ReplicaLine, ReplicaLines};

/// What the watchdog writes before a call's STDERR.
const WATCHDOG_STDERR: &str = "fwatchdog: stderr: ";

/// The lines of `replicas` as `query` asks, merged as they come.
pub fn read(engine: &Engine, replicas: Vec<Replica>, query: LogQuery) -> ReplicaLines {
    let streams = replicas.into_iter().map(|replica| {
        let mut options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .follow(query.follow);
        if let Some(since) = query.since {
            // The engine counts whole seconds; the rest is filtered here.
            let secs = i32::try_from(since.div_euclid(1000)).unwrap_or(i32::MAX);
            options = options.since(secs);
        }
        let tail = query
            .tail
            .map_or_else(|| "all".to_string(), |n| n.to_string());
        let options = options.tail(&tail).build();
        let id = replica.id;
        let since = query.since;
        engine
            .docker
            .logs(&id, Some(options))
            // A replica going away ends its lines, nothing more.
            .take_while(|frame| std::future::ready(frame.is_ok()))
            .filter_map(|frame| std::future::ready(frame.ok()))
            .flat_map(move |frame| stream::iter(lines(&id, frame, since)))
            .boxed()
    });
    stream::select_all(streams).boxed()
}

/// The lines of one frame the engine sent, each `<RFC 3339 time> <text>`.
fn lines(id: &str, frame: LogOutput, since: Option<i64>) -> Vec<ReplicaLine> {
    let bytes = match frame {
        LogOutput::StdErr { message }
        | LogOutput::StdOut { message }
        | LogOutput::Console { message } => message,
        LogOutput::StdIn { .. } => return Vec::new(),
    };
    String::from_utf8_lossy(&bytes)
        .split('\n')
        .filter_map(|line| parse(id, line))
        .filter(|line| since.is_none_or(|s| line.at >= s))
        .collect()
}

/// One `<time> <text>` line; `None` for an empty or unstamped one.
fn parse(id: &str, line: &str) -> Option<ReplicaLine> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let (stamp, text) = line.split_once(' ').unwrap_or((line, ""));
    let at = chrono::DateTime::parse_from_rfc3339(stamp)
        .ok()?
        .timestamp_millis();
    let text = text.strip_prefix(WATCHDOG_STDERR).unwrap_or(text);
    let text = &text[..floor_char_boundary(text, crate::call::MAX_LINE_BYTES)];
    Some(ReplicaLine {
        instance: id.to_string(),
        at,
        text: text.to_string(),
    })
}

/// The largest index ≤ `max` on a character boundary of `s`.
fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn engine_lines_become_the_functions_lines() {
        let frame = LogOutput::StdErr {
            message: Bytes::from_static(
                b"2026-11-25T16:32:29.123456789Z fwatchdog: stderr: oops\n2026-11-25T16:32:29.2Z second\n",
            ),
        };
        let got = lines("c1", frame, None);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].text, "oops");
        assert_eq!(got[0].instance, "c1");
        assert_eq!(got[0].at % 1000, 123);
        assert_eq!(got[1].text, "second");
        let frame = LogOutput::StdOut {
            message: Bytes::from_static(b"2026-11-25T16:32:29Z old\nnot stamped\n"),
        };
        let later = Some(got[1].at);
        assert!(lines("c1", frame, later).is_empty());
    }
}

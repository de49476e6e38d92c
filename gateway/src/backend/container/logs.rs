//! Service replicas' own lines: their containers' logs read from the
//! engine (both streams, with the engine's timestamps), one stream of
//! [`ReplicaLine`]s for all of a function's replicas: on a plain engine
//! each replica container's logs ([`read`]); on Swarm the service's logs
//! through the manager ([`read_service`]), which gathers them from every
//! node. The watchdog writes a call's STDERR as `fwatchdog: stderr: <first
//! line>` and the rest as they were; the prefix is taken off, so a line is
//! what the function wrote.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bollard::container::LogOutput;
use bollard::query_parameters::{ListTasksOptionsBuilder, LogsOptions, LogsOptionsBuilder};
use bollard::{BollardRequest, Docker};
use futures_util::stream::{self, StreamExt};

use super::engine::Engine;
use super::labels::filter;
use super::replica::Replica;
use crate::backend::{LogQuery, ReplicaLine, ReplicaLines};

/// What the watchdog writes before a call's STDERR.
const WATCHDOG_STDERR: &str = "fwatchdog: stderr: ";

/// The engine's log options for `query`: both streams, with timestamps.
fn options(query: &LogQuery) -> LogsOptions {
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
    options.tail(&tail).build()
}

/// The lines of `replicas` as `query` asks, merged as they come.
pub fn read(engine: &Engine, replicas: Vec<Replica>, query: LogQuery) -> ReplicaLines {
    let streams = replicas.into_iter().map(|replica| {
        let options = options(&query);
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

/// The lines of the Swarm service `service` as `query` asks, from every
/// node (the manager gathers them; `tail` is per task, as per replica on a
/// plain engine). Each line is the task's container's, as
/// [`Replica::id`] names it, or its task's before the gateway learns that.
pub fn read_service(engine: &Engine, service: &str, query: LogQuery) -> ReplicaLines {
    let docker = engine.docker.clone().with_request_modifier(with_details);
    let containers = Arc::new(Containers {
        docker: engine.docker.clone(),
        service: service.to_string(),
        known: Mutex::default(),
    });
    let since = query.since;
    docker
        .service_logs(service, Some(options(&query)))
        // The service going away ends its lines, nothing more.
        .take_while(|frame| std::future::ready(frame.is_ok()))
        .filter_map(|frame| std::future::ready(frame.ok()))
        .flat_map(move |frame| stream::iter(task_lines(frame, since)))
        .then(move |(task, mut line)| {
            let containers = containers.clone();
            async move {
                line.instance = containers.of(&task).await;
                line
            }
        })
        .boxed()
}

/// Asks for the task of each log line (`details`), which bollard's
/// options leave out.
fn with_details(mut request: BollardRequest) -> BollardRequest {
    let uri = request.uri().clone();
    if !uri.path().ends_with("/logs") {
        return request;
    }
    let query = match uri.query() {
        Some(query) => format!("{query}&details=1"),
        None => "details=1".to_string(),
    };
    let mut parts = uri.into_parts();
    if let Ok(pq) = format!(
        "{}?{query}",
        parts.path_and_query.as_ref().map_or("", |p| p.path())
    )
    .parse()
    {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// The container of each task of a service, as learnt.
struct Containers {
    docker: Docker,
    service: String,
    known: Mutex<HashMap<String, String>>,
}

impl Containers {
    /// The container of `task`: asked of the manager (the service's tasks,
    /// once per task it does not know yet); the task itself when it has none.
    async fn of(&self, task: &str) -> String {
        if let Some(id) = self.lock().get(task) {
            return id.clone();
        }
        let filters = filter("service", vec![self.service.clone()]);
        let options = ListTasksOptionsBuilder::default().filters(&filters).build();
        let found = self
            .docker
            .list_tasks(Some(options))
            .await
            .unwrap_or_default();
        let mut known = self.lock();
        for t in found {
            let container = t
                .status
                .and_then(|s| s.container_status)
                .and_then(|c| c.container_id)
                .filter(|c| !c.is_empty());
            if let (Some(id), Some(container)) = (t.id, container) {
                known.insert(id, container);
            }
        }
        let id = known.get(task).cloned().unwrap_or_else(|| task.to_string());
        known.insert(task.to_string(), id.clone());
        id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The bytes of a frame the engine sent; nothing for STDIN.
fn text(frame: LogOutput) -> Option<bytes::Bytes> {
    match frame {
        LogOutput::StdErr { message }
        | LogOutput::StdOut { message }
        | LogOutput::Console { message } => Some(message),
        LogOutput::StdIn { .. } => None,
    }
}

/// The lines of one frame the engine sent, each `<RFC 3339 time> <text>`.
fn lines(id: &str, frame: LogOutput, since: Option<i64>) -> Vec<ReplicaLine> {
    let Some(bytes) = text(frame) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&bytes)
        .split('\n')
        .filter_map(|line| parse(id, line))
        .filter(|line| since.is_none_or(|s| line.at >= s))
        .collect()
}

/// The lines of one frame of a service's logs, each `<RFC 3339 time>
/// <details> <text>` where the details (URL-encoded `key=value`s, comma
/// separated) name the task: each with its task's id.
fn task_lines(frame: LogOutput, since: Option<i64>) -> Vec<(String, ReplicaLine)> {
    let Some(bytes) = text(frame) else {
        return Vec::new();
    };
    String::from_utf8_lossy(&bytes)
        .split('\n')
        .filter_map(|line| {
            let (stamp, rest) = line.split_once(' ')?;
            let (details, text) = rest.split_once(' ').unwrap_or((rest, ""));
            let task = details
                .split(',')
                .find_map(|d| d.strip_prefix("com.docker.swarm.task.id="))?
                .to_string();
            let line = parse("", &format!("{stamp} {text}"))?;
            Some((task, line))
        })
        .filter(|(_, line)| since.is_none_or(|s| line.at >= s))
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

    #[test]
    fn a_service_s_lines_name_their_task() {
        // As Docker 20.10 answers GET /services/{id}/logs?details=1.
        let frame = LogOutput::StdErr {
            message: Bytes::from_static(
                b"2026-11-25T19:56:32.142654921Z com.docker.swarm.node.id=pomyzy19en80635litn33pb9o,com.docker.swarm.service.id=anjl3wsi0m7tlf96aa6sgnskb,com.docker.swarm.task.id=qy192xbof0ay3enpptztyec6u fwatchdog: stderr: hello err\n",
            ),
        };
        let got = task_lines(frame, None);
        assert_eq!(got.len(), 1);
        let (task, line) = &got[0];
        assert_eq!(task, "qy192xbof0ay3enpptztyec6u");
        assert_eq!(line.text, "hello err");
        assert_eq!(line.at % 1000, 142);
        // A line with no task (not a service's) is left out.
        let frame = LogOutput::StdOut {
            message: Bytes::from_static(b"2026-11-25T19:56:32Z plain text\n"),
        };
        assert!(task_lines(frame, None).is_empty());
    }

    #[test]
    fn details_are_asked_for_logs_only() {
        let request = |uri: &str| {
            let mut r = BollardRequest::new(bollard::body_full(Bytes::new()));
            *r.uri_mut() = uri.parse().expect("a uri");
            with_details(r).uri().to_string()
        };
        assert_eq!(
            request("http://docker/v1.41/services/f/logs?stdout=true"),
            "http://docker/v1.41/services/f/logs?stdout=true&details=1"
        );
        assert_eq!(
            request("http://docker/v1.41/tasks?filters=x"),
            "http://docker/v1.41/tasks?filters=x"
        );
    }
}

//! The invoke pipeline, one step each: queue place (429 when full) → record
//! the call → wait for a slot under the quota → run on the backend → record
//! the end, count it, deliver the callback. Sync and async calls share it;
//! async calls are committed before they are acknowledged and resume after a
//! restart. A sync call is written once, when it ends (its caller waits for
//! the answer, not the record); until then the store keeps it in memory.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{StatusCode, Uri};
use bytes::{Bytes, BytesMut};
use uuid::Uuid;

use crate::app::App;
use crate::backend::{BackendError, Exit, Invocation, Outcome};
use crate::callback::{self, Callback};
use crate::clock;
use crate::error::Error;
use crate::model::Status;
use crate::registry::Deployed;
use crate::scheduler::Ticket;
use crate::store::{self, Finish, NewCall, Resume, SyncCall, Write};

/// Async inputs up to this size stay in memory while queued; larger ones are
/// read back from the store when the call starts.
const KEEP_INPUT: usize = 64 * 1024;

/// A call as the handlers hand it over.
pub struct CallRequest {
    pub id: Uuid,
    /// The request's `Http_*` variables.
    pub env: Vec<(String, String)>,
    pub input: Bytes,
    pub callback: Option<Uri>,
}

/// Where a call's progress goes while it runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Record {
    /// Async: each step is written as it happens (a restart resumes it).
    Stored,
    /// Sync: in memory, written in one piece when the call ends.
    Live,
}

/// Records a sync call whose caller hung up (its handler was dropped before
/// the call ended) as failed, so it does not stay in flight.
struct HangUp<'a> {
    app: &'a App,
    function: &'a str,
    /// Taken when the call ended normally.
    call: Option<NewCall>,
    tracked: bool,
}

impl Drop for HangUp<'_> {
    fn drop(&mut self) {
        let Some(call) = self.call.take() else {
            return;
        };
        let message = "the caller hung up before the call ended".to_string();
        let ended = Ended::failed(StatusCode::BAD_REQUEST, message);
        let end = Finish {
            function: self.function.to_string(),
            ..self.app.finish_record(call.id, &ended, false)
        };
        let started = self.app.store.sync_started_at(call.id);
        let call = SyncCall { call, started, end };
        self.app.store.sync_end(call, self.tracked);
    }
}

/// Where the input of a queued call is.
enum Input {
    Ready(Bytes),
    Stored,
}

/// How a call ended.
pub struct Ended {
    /// What a sync caller gets, and the output endpoint answers.
    pub status: StatusCode,
    pub record: Status,
    pub exit_code: Option<i32>,
    /// The response body: STDOUT, or on failure a line saying why then the output.
    pub body: Bytes,
    pub stdout: Bytes,
    pub stderr: Bytes,
    /// Run time; zero when it never ran.
    pub duration: Duration,
    pub message: Option<String>,
    pub timed_out: bool,
}

impl Ended {
    fn failed(status: StatusCode, message: String) -> Ended {
        Ended {
            status,
            record: Status::Failed,
            exit_code: None,
            body: Bytes::from(format!("{message}\n")),
            stdout: Bytes::new(),
            stderr: Bytes::new(),
            duration: Duration::ZERO,
            timed_out: status == StatusCode::GATEWAY_TIMEOUT,
            message: Some(message),
        }
    }

    fn removed() -> Ended {
        Ended::failed(StatusCode::GONE, "the function was removed".into())
    }

    fn from_outcome(
        result: Result<Outcome, BackendError>,
        timeout: Duration,
        max_output: usize,
    ) -> Ended {
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(e) => return Ended::failed(e.status(), e.to_string()),
        };
        let (status, exit_code, message) = match &outcome.exit {
            Exit::Code(0) => (StatusCode::OK, Some(0), None),
            Exit::Code(code) => (StatusCode::INTERNAL_SERVER_ERROR, Some(*code), Some(format!("exit status {code}"))),
            Exit::Signal(signal) => (StatusCode::INTERNAL_SERVER_ERROR, None, Some(format!("killed by signal {signal}"))),
            Exit::TimedOut => (StatusCode::GATEWAY_TIMEOUT, None, Some(format!("timed out after {}s", timeout.as_secs_f64()))),
            Exit::OutputTooLarge => (
                StatusCode::BAD_GATEWAY,
                None,
                Some(format!("the output is larger than {max_output} bytes (FAAS_MAX_PAYLOAD_BYTES); the process was killed")),
            ),
            Exit::InputTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, None, Some("the input is too large".into())),
            Exit::InputFailed(why) => (StatusCode::INTERNAL_SERVER_ERROR, None, Some(why.clone())),
        };
        let body = match &message {
            None => outcome.stdout.clone(),
            Some(line) => {
                let mut body = BytesMut::with_capacity(
                    line.len() + 1 + outcome.stdout.len() + outcome.stderr.len(),
                );
                body.extend_from_slice(line.as_bytes());
                body.extend_from_slice(b"\n");
                body.extend_from_slice(&outcome.stdout);
                body.extend_from_slice(&outcome.stderr);
                body.freeze()
            }
        };
        Ended {
            status,
            record: if message.is_none() {
                Status::Finished
            } else {
                Status::Failed
            },
            exit_code,
            body,
            stdout: outcome.stdout,
            stderr: outcome.stderr,
            duration: outcome.duration,
            timed_out: outcome.exit == Exit::TimedOut,
            message,
        }
    }
}

impl App {
    /// Runs a call while its caller waits; the function's timeout covers the
    /// queue and the run.
    pub async fn call_sync(
        self: &Arc<Self>,
        deployed: Arc<Deployed>,
        call: CallRequest,
    ) -> Result<Ended, Error> {
        let deadline = Instant::now() + Duration::from_secs(deployed.function.timeout);
        let ticket = self.enqueue(&deployed, true)?;
        // Holds off a removal until the call's record is queued, so its write
        // comes before the function's deletion.
        let _recording = deployed.life.running();
        let new_call = self.new_call(&deployed, &call, false);
        let tracked = self.store.sync_begin(&new_call);
        let mut record = HangUp {
            app: self,
            function: &deployed.function.name,
            call: Some(new_call),
            tracked,
        };
        let (ended, started) = self
            .execute(
                &deployed,
                call.id,
                call.env,
                Input::Ready(call.input),
                ticket,
                Some(deadline),
                Record::Live,
            )
            .await;
        let end = self.finish(&deployed, call.id, &ended, false);
        if let Some(call) = record.call.take() {
            self.store
                .sync_end(SyncCall { call, started, end }, tracked);
        }
        Ok(ended)
    }

    /// Accepts an async call: it is durable when this returns.
    pub async fn call_async(
        self: &Arc<Self>,
        deployed: Arc<Deployed>,
        call: CallRequest,
    ) -> Result<(), Error> {
        let ticket = self.enqueue(&deployed, true)?;
        self.store
            .commit(Write::NewCall(Box::new(
                self.new_call(&deployed, &call, true),
            )))
            .await?;
        let input = if call.input.len() <= KEEP_INPUT {
            Input::Ready(call.input)
        } else {
            Input::Stored
        };
        let app = self.clone();
        tokio::spawn(async move {
            app.run_async(deployed, call.id, call.env, input, ticket, call.callback)
                .await
        });
        Ok(())
    }

    /// Requeues the async calls a previous run accepted, in their order.
    pub fn resume(self: &Arc<Self>, queued: Vec<Resume>) {
        for call in queued {
            let Ok(id) = Uuid::parse_str(&call.id) else {
                continue;
            };
            let Some(deployed) = self.registry.get(&call.function) else {
                let message = "the function was removed before the call ran".to_string();
                let ended = Ended::failed(StatusCode::NOT_FOUND, message);
                let finish = Finish {
                    function: call.function.clone(),
                    ..self.finish_record(id, &ended, false)
                };
                self.store.record(Write::Finished(Box::new(finish)));
                continue;
            };
            let env = call
                .env
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok())
                .unwrap_or_default();
            let callback = call
                .callback
                .as_deref()
                .and_then(|u| callback::parse_url(u).ok());
            let Ok(ticket) = self.enqueue(&deployed, false) else {
                continue;
            };
            let app = self.clone();
            tracing::debug!(call_id = %id, created = call.created, "resuming");
            tokio::spawn(async move {
                app.run_async(deployed, id, env, Input::Stored, ticket, callback)
                    .await
            });
        }
    }

    fn enqueue(&self, deployed: &Deployed, bounded: bool) -> Result<Ticket, Error> {
        let f = &deployed.function;
        self.scheduler
            .enqueue(&f.name, f.max_concurrency, bounded)
            .map_err(|_| Error::QueueFull {
                function: f.name.clone(),
                max: self.config.max_queue,
            })
    }

    fn new_call(&self, deployed: &Deployed, call: &CallRequest, is_async: bool) -> NewCall {
        self.metrics
            .invocation_started
            .with_label_values(&[&deployed.function.name])
            .inc();
        NewCall {
            id: call.id,
            function: deployed.function.name.clone(),
            is_async,
            created: clock::now_ms(),
            // A sync call's record keeps only the start of its input (for
            // its CALL event) and none of its variables: it never resumes.
            input: if is_async {
                call.input.clone()
            } else {
                Bytes::copy_from_slice(&call.input[..call.input.len().min(crate::model::SHORT)])
            },
            env: if is_async {
                call.env.clone()
            } else {
                Vec::new()
            },
            callback: call.callback.as_ref().map(|u| u.to_string()),
        }
    }

    async fn run_async(
        self: Arc<Self>,
        deployed: Arc<Deployed>,
        id: Uuid,
        env: Vec<(String, String)>,
        input: Input,
        ticket: Ticket,
        callback: Option<Uri>,
    ) {
        let (ended, _) = self
            .execute(&deployed, id, env, input, ticket, None, Record::Stored)
            .await;
        let finish = self.finish(&deployed, id, &ended, true);
        if let Err(e) = self.store.commit(Write::Finished(Box::new(finish))).await {
            tracing::error!(call_id = %id, "cannot record the end of the call: {e}");
        }
        if let Some(url) = callback {
            self.notifier.notify(Callback {
                url,
                call_id: id.to_string(),
                function: deployed.function.name.clone(),
                status: ended.status.as_u16(),
                duration_seconds: ended.duration.as_secs_f64(),
                body: ended.body,
            });
        }
    }

    /// Waits for a slot (until `deadline`, if any), then runs the call.
    /// Answers how it ended and when it started running, if it did.
    #[allow(clippy::too_many_arguments)]
    async fn execute(
        &self,
        deployed: &Deployed,
        id: Uuid,
        env: Vec<(String, String)>,
        input: Input,
        ticket: Ticket,
        deadline: Option<Instant>,
        record: Record,
    ) -> (Ended, Option<i64>) {
        let function = &deployed.function;
        let timeout = Duration::from_secs(function.timeout);
        let life = &deployed.life;
        let queue_deadline =
            deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(100 * 365 * 86_400));
        let permit = tokio::select! {
            permit = ticket.wait() => permit,
            _ = tokio::time::sleep_until(queue_deadline.into()) => {
                return (Ended::failed(StatusCode::GATEWAY_TIMEOUT, format!("timed out after {}s waiting in the queue", function.timeout)), None);
            }
            _ = life.removed.cancelled() => return (Ended::removed(), None),
        };
        let _running = life.running();
        let started = clock::now_ms();
        match record {
            Record::Stored => self.store.record(Write::Started {
                id,
                function: function.name.clone(),
                at: started,
            }),
            Record::Live => self.store.sync_started(id, started),
        }
        let ran = |ended| (ended, Some(started));
        let input = match input {
            Input::Ready(input) => input,
            Input::Stored => {
                let key = id.to_string();
                match self.store.read(move |c| store::input(c, &key)).await {
                    Ok(input) => input.unwrap_or_default(),
                    Err(e) => {
                        return ran(Ended::failed(
                            StatusCode::INTERNAL_SERVER_ERROR,
                            format!("cannot read the call's input: {e}"),
                        ))
                    }
                }
            }
        };
        let run_timeout = deadline.map_or(timeout, |d| d.saturating_duration_since(Instant::now()));
        let max_output = self.config.max_payload_bytes as usize;
        let call = Invocation {
            env,
            input,
            timeout: run_timeout,
            max_output_bytes: max_output,
        };
        let result = tokio::select! {
            result = self.backend.invoke(function, call) => result,
            _ = life.killed.cancelled() => return ran(Ended::removed()),
        };
        drop(permit);
        ran(Ended::from_outcome(result, timeout, max_output))
    }

    /// The record of a call's end; counts it in the metrics.
    fn finish(&self, deployed: &Deployed, id: Uuid, ended: &Ended, keep_output: bool) -> Finish {
        let name = &deployed.function.name;
        self.metrics
            .invocation_total
            .with_label_values(&[name.as_str(), ended.status.as_str()])
            .inc();
        if !ended.duration.is_zero() {
            self.metrics
                .functions_seconds
                .with_label_values(&[name])
                .observe(ended.duration.as_secs_f64());
        }
        Finish {
            function: name.clone(),
            ..self.finish_record(id, ended, keep_output)
        }
    }

    fn finish_record(&self, id: Uuid, ended: &Ended, keep_output: bool) -> Finish {
        Finish {
            id,
            function: String::new(),
            status: ended.record,
            at: clock::now_ms(),
            exit_code: ended.exit_code,
            duration: (!ended.duration.is_zero()).then_some(ended.duration.as_secs_f64()),
            message: ended.message.clone(),
            timed_out: ended.timed_out,
            output: keep_output.then(|| ended.body.clone()),
            stdout: ended.stdout.clone(),
            stderr: ended.stderr.clone(),
        }
    }
}

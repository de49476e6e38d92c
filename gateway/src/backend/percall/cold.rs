//! A new container per call (Hyper Func's model): create it from the
//! function's image with its command and environment, attach STDIN, STDOUT
//! and STDERR, start it, write the payload in, collect the output under the
//! limits, wait for its exit, and remove it — always: on success, failure,
//! timeout, and when the caller goes away.
//!
//! The result is the same [`Outcome`] the process runner gives, so the rest
//! of the gateway does not know where a call ran.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bollard::container::AttachContainerResults;
use bollard::models::{ContainerCreateBody, ContainerWaitResponse, HostConfig};
use bollard::query_parameters::CreateContainerOptionsBuilder;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use watchdog::runner::{Exit, Outcome};

use super::attach;
use crate::backend::container::{labels, setup, Engine, EngineError};
use crate::backend::{BackendError, Invocation, Reached};
use crate::function::Function;

/// Runs one call of a per-call function in a new container labelled with
/// the function, the call and the gateway.
pub async fn invoke(
    engine: &Engine,
    function: &Function,
    call: Invocation,
) -> Result<Outcome, BackendError> {
    let call_id = call.id.to_string();
    let call_label = [(labels::CALL.to_string(), call_id.clone())];
    let container = ContainerCall {
        name: format!("faas-{}-{call_id}", function.name),
        function: function.name.clone(),
        image: function.image.clone(),
        body: create_body(engine, function, &call.request.env(call.id), call_label)?,
        timeout: call.timeout,
        max_output_bytes: call.max_output_bytes,
        reached: call.reached,
    };
    Ok(run(engine, container, call.input).await?)
}

/// How every per-call container of `function` is created, a cold one for
/// a call and a warm one for the pool alike: its image and command, the
/// function's env followed by `env`, labels naming the function and the
/// gateway plus `more_labels`, STDIN/STDOUT/STDERR attached, and the host
/// settings.
pub fn create_body(
    engine: &Engine,
    function: &Function,
    env: &[(String, String)],
    more_labels: impl IntoIterator<Item = (String, String)>,
) -> Result<ContainerCreateBody, BackendError> {
    let mut labels = HashMap::from([
        (labels::FUNCTION.to_string(), function.name.clone()),
        (labels::OWNER.to_string(), engine.owner.clone()),
    ]);
    labels.extend(more_labels);
    Ok(ContainerCreateBody {
        image: Some(function.image.clone()),
        cmd: (!function.command.is_empty()).then(|| function.command.clone()),
        env: Some(setup::env_entries(function, env)),
        labels: Some(labels),
        user: function.user.clone(),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        tty: Some(false),
        host_config: Some(HostConfig {
            // The functions network unless it says otherwise: never the
            // engine's default bridge.
            network_mode: Some(
                function
                    .network
                    .clone()
                    .unwrap_or_else(|| engine.network.clone()),
            ),
            mounts: engine
                .secret_files
                .as_deref()
                .map(|dir| setup::secret_mounts(function, dir))
                .filter(|mounts| !mounts.is_empty()),
            runtime: Some(engine.runtimes.of(function).to_string()),
            ..setup::host_config(function, &engine.isolation)?
        }),
        ..Default::default()
    })
}

/// One container to run for one call.
struct ContainerCall {
    /// Container name (unique per call).
    name: String,
    /// The function's name, for messages.
    function: String,
    /// The image, for messages.
    image: String,
    /// What the container is created with ([`create_body`]).
    body: ContainerCreateBody,
    timeout: Duration,
    max_output_bytes: usize,
    /// Set as the container is started.
    reached: Reached,
}

/// Runs `call` with `input` on STDIN.
///
/// The container's whole life runs in a task of its own (in the call's
/// span) that always ends by removing the container, so a caller that
/// goes away at any point (even while the engine is still creating it)
/// cancels the run without leaving anything behind. The answer is handed
/// over before the removal, which then goes on off the caller's path.
async fn run(engine: &Engine, call: ContainerCall, input: Bytes) -> Result<Outcome, EngineError> {
    let cancel = CancellationToken::new();
    let _cancel_on_drop = cancel.clone().drop_guard();
    let (answer, answered) = oneshot::channel();
    let name = call.name.clone();
    let lifecycle = lifecycle(engine.clone(), call, input, cancel, answer);
    tokio::spawn(lifecycle.in_current_span());
    answered.await.unwrap_or(Err(EngineError::Lost(name)))
}

/// Create → attach → start → exchange → remove; the result goes to
/// `answer` as soon as it is known, unless the caller went away.
async fn lifecycle(
    engine: Engine,
    call: ContainerCall,
    input: Bytes,
    cancel: CancellationToken,
    answer: oneshot::Sender<Result<Outcome, EngineError>>,
) {
    let started = Instant::now();
    let body = call.body.clone();
    let options = CreateContainerOptionsBuilder::default()
        .name(&call.name)
        .build();
    let id = match engine.docker.create_container(Some(options), body).await {
        Ok(created) => created.id,
        Err(source) => {
            let action = format!(
                "create a container of {} from {}",
                call.function, call.image
            );
            let _ = answer.send(Err(EngineError::refused(action, source)));
            return;
        }
    };
    tracing::debug!(container = %id, "a new container runs the call");
    tokio::select! {
        result = drive(&engine, &id, &call, input, started) => {
            let _ = answer.send(result);
        }
        () = cancel.cancelled() => {}
    }
    engine.remove(&id).await;
}

/// Attaches, starts and exchanges data with a created container, under the
/// call's timeout.
async fn drive(
    engine: &Engine,
    id: &str,
    call: &ContainerCall,
    input: Bytes,
    started: Instant,
) -> Result<Outcome, EngineError> {
    let what = format!("a container of {}", call.function);
    call.reached.store(true, Ordering::SeqCst);
    let attached = attach::attach_and_start(engine, id, &what).await?;
    let mut output = attach::Output::new(call.max_output_bytes);
    let work = exchange(engine, id, attached, input, &mut output);
    let left = call.timeout.saturating_sub(started.elapsed());
    let exit = tokio::time::timeout(left, work)
        .await
        .unwrap_or(Ok(Exit::TimedOut))?;
    Ok(output.outcome(exit, started))
}

/// Writes STDIN, reads the output and waits for the exit status. A failure
/// of the engine while waiting is the engine's, not the call's.
async fn exchange(
    engine: &Engine,
    id: &str,
    attached: AttachContainerResults,
    input: Bytes,
    kept: &mut attach::Output,
) -> Result<Exit, EngineError> {
    let AttachContainerResults {
        mut output,
        input: mut stdin,
    } = attached;
    let feed = async {
        // A container that stops reading early just misses the rest; then
        // end of input: half-close, so the container sees end-of-file.
        if stdin.write_all(&input).await.is_ok() {
            let _ = stdin.shutdown().await;
        }
        Ok::<(), Exit>(())
    };
    let read = async {
        while let Some(said) = attach::next(&mut output).await {
            kept.keep(said)?;
        }
        Ok(())
    };
    if let Err(exit) = tokio::try_join!(feed, read) {
        return Ok(exit);
    }
    exit_of(engine.docker.wait_container(id, None).next().await)
}

/// The exit status from the engine's first answer to a wait. An engine that
/// fails while waiting is the engine's failure, not the call's.
pub(super) fn exit_of(
    waited: Option<Result<ContainerWaitResponse, bollard::errors::Error>>,
) -> Result<Exit, EngineError> {
    match waited {
        Some(Ok(response)) => Ok(Exit::Code(response.status_code as i32)),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
            Ok(Exit::Code(code as i32))
        }
        Some(Err(source)) => Err(EngineError::Unreachable {
            action: "wait for the container's exit".into(),
            source,
        }),
        None => Err(EngineError::CutShort("the wait for the container's exit")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_failing_while_waiting_is_unreachable() {
        let exited = ContainerWaitResponse {
            status_code: 3,
            ..Default::default()
        };
        assert_eq!(exit_of(Some(Ok(exited))).ok(), Some(Exit::Code(3)));
        let failed = bollard::errors::Error::DockerContainerWaitError {
            error: String::new(),
            code: 1,
        };
        assert_eq!(exit_of(Some(Err(failed))).ok(), Some(Exit::Code(1)));
        let gone = bollard::errors::Error::RequestTimeoutError;
        for waited in [Some(Err(gone)), None] {
            let error = exit_of(waited).map(|_| ()).map_err(BackendError::from);
            assert!(
                matches!(error, Err(BackendError::Unreachable(_))),
                "{error:?}"
            );
        }
    }
}

//! A new container per call (Hyper Func's model): create it from the
//! function's image with its command and environment, attach STDIN, STDOUT
//! and STDERR, start it, stream the payload in, collect the output under the
//! limits, wait for its exit, and remove it — always: on success, failure,
//! timeout, and when the caller goes away.
//!
//! The result is the same [`Outcome`] the process runner gives, so the rest
//! of the gateway does not know where a call ran.

use std::collections::HashMap;
use std::io;
use std::time::{Duration, Instant};

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use watchdog::runner::{Exit, Outcome};

/// One container to run for one call.
pub struct ContainerCall {
    /// Container name (unique per call).
    pub name: String,
    pub image: String,
    /// The command; empty runs the image's own.
    pub command: Vec<String>,
    /// `KEY=value` entries: the function's env and the request's `Http_*`.
    pub env: Vec<String>,
    /// Labels naming the function and the call, for clean-up.
    pub labels: HashMap<String, String>,
    pub host_config: HostConfig,
    pub timeout: Option<Duration>,
    pub max_input_bytes: u64,
    pub max_output_bytes: usize,
}

/// The engine refused or failed part of the run.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("No such image: {0}")]
    NoSuchImage(String),
    #[error("the call was cancelled")]
    Cancelled,
    #[error("the container's task ended without an answer")]
    Lost,
    #[error("the Docker Engine failed to {action}: {source}")]
    Engine {
        action: &'static str,
        #[source]
        source: bollard::errors::Error,
    },
}

/// Runs `call` with `input` on STDIN.
///
/// The container's whole life runs in a task of its own that always ends by
/// removing the container, so a caller that goes away at any point (even
/// while the engine is still creating it) cancels the run without leaving
/// anything behind. The answer is handed over before the removal, which
/// then goes on off the caller's path.
pub async fn run(
    docker: &Docker,
    call: ContainerCall,
    input: Bytes,
) -> Result<Outcome, ContainerError> {
    let cancel = CancellationToken::new();
    let _cancel_on_drop = cancel.clone().drop_guard();
    let (answer, answered) = oneshot::channel();
    tokio::spawn(lifecycle(docker.clone(), call, input, cancel, answer));
    answered.await.unwrap_or(Err(ContainerError::Lost))
}

/// Create → attach → start → exchange → remove; the result goes to
/// `answer` as soon as it is known.
async fn lifecycle(
    docker: Docker,
    call: ContainerCall,
    input: Bytes,
    cancel: CancellationToken,
    answer: oneshot::Sender<Result<Outcome, ContainerError>>,
) {
    let started = Instant::now();
    let body = ContainerCreateBody {
        image: Some(call.image.clone()),
        cmd: (!call.command.is_empty()).then(|| call.command.clone()),
        env: Some(call.env.clone()),
        labels: Some(call.labels.clone()),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        tty: Some(false),
        host_config: Some(call.host_config.clone()),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default()
        .name(&call.name)
        .build();
    let id = match docker.create_container(Some(options), body).await {
        Ok(created) => created.id,
        Err(source) => {
            let error = match &source {
                bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                } => ContainerError::NoSuchImage(call.image.clone()),
                _ => ContainerError::Engine {
                    action: "create the container",
                    source,
                },
            };
            let _ = answer.send(Err(error));
            return;
        }
    };
    let result = tokio::select! {
        result = drive(&docker, &id, &call, input, started) => result,
        () = cancel.cancelled() => Err(ContainerError::Cancelled),
    };
    let _ = answer.send(result);
    let options = RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build();
    if let Err(err) = docker.remove_container(&id, Some(options)).await {
        tracing::warn!(container = %id, "cannot remove a call's container: {err}");
    }
}

/// Attaches, starts and exchanges data with a created container, under the
/// call's timeout.
async fn drive(
    docker: &Docker,
    id: &str,
    call: &ContainerCall,
    input: Bytes,
    started: Instant,
) -> Result<Outcome, ContainerError> {
    let attach = AttachContainerOptionsBuilder::default()
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .stream(true)
        .build();
    let attached = docker
        .attach_container(id, Some(attach))
        .await
        .map_err(|source| ContainerError::Engine {
            action: "attach to the container",
            source,
        })?;
    docker
        .start_container(id, None)
        .await
        .map_err(|source| ContainerError::Engine {
            action: "start the container",
            source,
        })?;
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let input = futures_util::stream::iter([Ok::<_, io::Error>(input)]);
    let work = exchange(docker, id, attached, input, call, &mut stdout, &mut stderr);
    let exit = match call.timeout {
        Some(limit) => {
            let left = limit.saturating_sub(started.elapsed());
            tokio::time::timeout(left, work)
                .await
                .unwrap_or(Exit::TimedOut)
        }
        None => work.await,
    };
    Ok(Outcome {
        exit,
        stdout: Bytes::from(stdout),
        stderr: Bytes::from(stderr),
        duration: started.elapsed(),
    })
}

/// Feeds STDIN, reads the output and waits for the exit status.
async fn exchange<S>(
    docker: &Docker,
    id: &str,
    attached: bollard::container::AttachContainerResults,
    mut input: S,
    call: &ContainerCall,
    stdout: &mut Vec<u8>,
    stderr: &mut Vec<u8>,
) -> Exit
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let bollard::container::AttachContainerResults {
        mut output,
        input: mut stdin,
    } = attached;
    let feed = async {
        let mut total = 0u64;
        while let Some(chunk) = input.next().await {
            let chunk = chunk.map_err(|e| Exit::InputFailed(e.to_string()))?;
            total += chunk.len() as u64;
            if total > call.max_input_bytes {
                return Err(Exit::InputTooLarge);
            }
            if stdin.write_all(&chunk).await.is_err() {
                return Ok(());
            }
        }
        // End of input: half-close, so the container sees end-of-file.
        let _ = stdin.shutdown().await;
        Ok(())
    };
    let read = async {
        while let Some(frame) = output.next().await {
            match frame {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    if stdout.len() + message.len() > call.max_output_bytes {
                        return Err(Exit::OutputTooLarge);
                    }
                    stdout.extend_from_slice(&message);
                }
                Ok(LogOutput::StdErr { message }) => {
                    let keep = message
                        .len()
                        .min(call.max_output_bytes.saturating_sub(stderr.len()));
                    stderr.extend_from_slice(&message[..keep]);
                }
                Ok(LogOutput::StdIn { .. }) => {}
                Err(_) => break,
            }
        }
        Ok(())
    };
    if let Err(exit) = tokio::try_join!(feed, read) {
        return exit;
    }
    match docker.wait_container(id, None).next().await {
        Some(Ok(response)) => Exit::Code(response.status_code as i32),
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => {
            Exit::Code(code as i32)
        }
        Some(Err(err)) => Exit::InputFailed(format!("waiting for the container: {err}")),
        None => Exit::InputFailed("the Docker Engine ended the wait without a status".into()),
    }
}

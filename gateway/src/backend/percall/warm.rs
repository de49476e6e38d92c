//! One warm single-use container: created from the function's image with
//! the launcher as its entrypoint ([`super::launcher`]), attached, started,
//! and ready once the launcher says so ([`start`]). It then waits for
//! exactly one [`Claim`] ([`keep`]): the call's `Http_*` variables and
//! input go in, STDOUT, STDERR and the exit status come back in the
//! watchdog's framed protocol over the attached STDIN/STDOUT
//! (`watchdog::frame`), and the container is removed — after its call,
//! after a timeout, when the caller goes away, when the pool lets it go, or
//! when it dies while waiting. It never serves a second call.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bollard::container::{AttachContainerResults, LogOutput};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use watchdog::frame::{self, Decoder, Start};
use watchdog::runner::{Exit, Outcome};

use super::attach::{self, Said};
use super::cold;
use crate::backend::container::{Engine, EngineError};
use crate::backend::{BackendError, Reached};

/// One call handed to a warm container.
pub struct Claim {
    /// The request's `Http_*` variables.
    pub env: Vec<(String, String)>,
    pub input: Bytes,
    /// How long the run may take; then the container is killed.
    pub timeout: Duration,
    pub max_output_bytes: usize,
    /// Where the outcome goes.
    pub answer: oneshot::Sender<Result<Outcome, BackendError>>,
    /// Cancelled when the caller goes away.
    pub cancel: CancellationToken,
    /// Set as the call is handed to the launcher.
    pub reached: Reached,
    /// The call's span: the container's own task serves the call in it.
    pub span: tracing::Span,
}

type Output = Pin<Box<dyn Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>;

/// A started container whose launcher waits for its call.
pub struct Ready {
    pub id: String,
    /// The function's name, for messages.
    function: String,
    output: Output,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    /// What arrived on STDOUT after the launcher's ready frame.
    decoder: Decoder,
}

/// Creates, attaches and starts a container with `body`, and waits up to
/// `limit` for its launcher to say it is ready. On any failure the
/// container is removed.
pub async fn start(
    engine: &Engine,
    function: &str,
    name: &str,
    body: ContainerCreateBody,
    limit: Duration,
) -> Result<Ready, BackendError> {
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    let id = engine
        .docker
        .create_container(Some(options), body)
        .await
        .map_err(|e| EngineError::refused(format!("create a warm container of {function}"), e))?
        .id;
    match tokio::time::timeout(limit, launch(engine, function, &id)).await {
        Ok(Ok(ready)) => Ok(ready),
        Ok(Err(e)) => {
            discard(engine, &id).await;
            Err(e)
        }
        Err(_) => {
            discard(engine, &id).await;
            Err(BackendError::Start(format!(
                "a warm container of {function} was not ready within {}s",
                limit.as_secs()
            )))
        }
    }
}

/// Attaches to the created container `id`, starts it, and reads up to the
/// launcher's ready frame.
async fn launch(engine: &Engine, function: &str, id: &str) -> Result<Ready, BackendError> {
    let what = format!("a warm container of {function}");
    let AttachContainerResults { mut output, input } =
        attach::attach_and_start(engine, id, &what).await?;
    let mut decoder = Decoder::default();
    let mut said = Vec::new();
    loop {
        match decoder.next_frame() {
            Ok(Some(frame)) if frame.tag == frame::READY => break,
            Ok(Some(_)) | Err(_) => return Err(not_ready(function, &said)),
            Ok(None) => {}
        }
        match attach::next(&mut output).await {
            Some(Said::Stdout(message)) => decoder.push(&message),
            Some(Said::Stderr(message)) => said.extend_from_slice(&message),
            None => return Err(not_ready(function, &said)),
        }
    }
    Ok(Ready {
        id: id.to_string(),
        function: function.to_string(),
        output,
        input,
        decoder,
    })
}

fn not_ready(function: &str, said: &[u8]) -> BackendError {
    let said = String::from_utf8_lossy(said);
    BackendError::Start(format!(
        "the launcher of a warm container of {function} did not start: {}",
        said.trim()
    ))
}

/// Waits for the one claim and serves it; then, or when the claim is
/// dropped (the pool let the container go), or when the container says
/// anything or dies while it waits, removes the container.
pub async fn keep(engine: Engine, mut ready: Ready, claims: oneshot::Receiver<Claim>) {
    let claim = tokio::select! {
        claim = claims => claim.ok(),
        _ = ready.output.next() => None,
    };
    if let Some(claim) = claim {
        let span = claim.span.clone();
        serve(&engine, &mut ready, claim).instrument(span).await;
    }
    discard(&engine, &ready.id).await;
}

/// Runs the claimed call under its timeout and answers it, unless the
/// caller went away.
async fn serve(engine: &Engine, ready: &mut Ready, claim: Claim) {
    let Claim {
        env,
        input,
        timeout,
        max_output_bytes,
        answer,
        cancel,
        reached,
        span: _,
    } = claim;
    tracing::debug!(container = %ready.id, "a warm container runs the call");
    reached.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let mut output = attach::Output::new(max_output_bytes);
    let work = exchange(engine, ready, env, input, max_output_bytes, &mut output);
    let exit = tokio::select! {
        exit = tokio::time::timeout(timeout, work) => exit.unwrap_or(Ok(Exit::TimedOut)),
        () = cancel.cancelled() => return,
    };
    let _ = answer.send(exit.map(|exit| output.outcome(exit, started)));
}

/// Sends the call and reads the launcher's answer.
async fn exchange(
    engine: &Engine,
    ready: &mut Ready,
    env: Vec<(String, String)>,
    input: Bytes,
    max_output_bytes: usize,
    kept: &mut attach::Output,
) -> Result<Exit, BackendError> {
    let Ready {
        id,
        function,
        output,
        input: stdin,
        decoder,
    } = ready;
    let start = Start {
        max_output_bytes: max_output_bytes as u64,
        env,
    };
    let mut request = BytesMut::new();
    frame::put(&mut request, frame::START, &start.encode());
    frame::put_chunks(&mut request, frame::INPUT, &input);
    frame::put(&mut request, frame::END, b"");
    let feed = async {
        // A launcher that is gone shows in what comes back.
        if stdin.write_all(&request).await.is_ok() {
            let _ = stdin.flush().await;
        }
        Ok::<(), BackendError>(())
    };
    let read = async {
        loop {
            while let Some(frame) = decoder.next_frame().map_err(|e| broken(function, e))? {
                let said = match frame.tag {
                    frame::STDOUT => Said::Stdout(frame.payload),
                    frame::STDERR => Said::Stderr(frame.payload),
                    frame::EXIT => {
                        return match frame::decode_exit(frame.payload) {
                            // As the engine reports a container a signal ended.
                            Ok(Ok(Exit::Signal(signal))) => Ok(Exit::Code(128 + signal)),
                            Ok(Ok(exit)) => Ok(exit),
                            Ok(Err(why)) => Err(BackendError::Start(format!(
                                "cannot run the command of {function} in its container: {why}"
                            ))),
                            Err(e) => Err(broken(function, e)),
                        };
                    }
                    _ => continue,
                };
                if let Err(exit) = kept.keep(said) {
                    return Ok(exit);
                }
            }
            match attach::next(output).await {
                Some(Said::Stdout(message)) => decoder.push(&message),
                Some(Said::Stderr(message)) => {
                    let said = String::from_utf8_lossy(&message);
                    tracing::warn!(container = %id, "launcher: {}", said.trim());
                }
                // The launcher died mid-call (e.g. the container ran out of
                // memory): the container's exit status, as for a cold call.
                None => {
                    let waited = engine.docker.wait_container(id, None).next().await;
                    return Ok(cold::exit_of(waited)?);
                }
            }
        }
    };
    let ((), exit) = tokio::try_join!(feed, read)?;
    Ok(exit)
}

fn broken(function: &str, e: frame::FrameError) -> BackendError {
    BackendError::Unreachable(format!(
        "the launcher of {function} broke the protocol: {e}"
    ))
}

/// Removes a warm container, running or not. It removes itself once its
/// launcher exits (auto-remove), which [`Engine::remove`] takes as gone.
pub async fn discard(engine: &Engine, id: &str) {
    engine.remove(id).await;
}

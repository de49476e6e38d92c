//! A per-call container's attached streams, as a cold call ([`super::cold`])
//! and a warm container ([`super::warm`]) both use them: attaching before
//! the start (so nothing it says is missed), what the container says next,
//! and a call's output within its limit ([`Output`]).

use bollard::container::{AttachContainerResults, LogOutput};
use bollard::query_parameters::AttachContainerOptionsBuilder;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use watchdog::runner::{Exit, Outcome};

use crate::backend::container::{Engine, EngineError};

/// Attaches to the created container `id` (STDIN, STDOUT and STDERR) and
/// starts it; `what` names it in errors ("a container of f").
pub async fn attach_and_start(
    engine: &Engine,
    id: &str,
    what: &str,
) -> Result<AttachContainerResults, EngineError> {
    let attach = AttachContainerOptionsBuilder::default()
        .stdin(true)
        .stdout(true)
        .stderr(true)
        .stream(true)
        .build();
    let attached = engine
        .docker
        .attach_container(id, Some(attach))
        .await
        .map_err(EngineError::unreachable(format!("attach to {what}")))?;
    engine
        .docker
        .start_container(id, None)
        .await
        .map_err(|e| EngineError::refused(format!("start {what}"), e))?;
    Ok(attached)
}

/// What a container said on one of its streams.
pub enum Said {
    Stdout(Bytes),
    Stderr(Bytes),
}

/// The next thing the container says; `None` once its output ended (it
/// exited, or the engine's stream broke).
pub async fn next<S>(output: &mut S) -> Option<Said>
where
    S: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
{
    loop {
        match output.next().await? {
            Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                return Some(Said::Stdout(message))
            }
            Ok(LogOutput::StdErr { message }) => return Some(Said::Stderr(message)),
            Ok(LogOutput::StdIn { .. }) => {}
            Err(_) => return None,
        }
    }
}

/// A call's output as it comes in, within its limit.
pub struct Output {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    max_output_bytes: usize,
}

impl Output {
    pub fn new(max_output_bytes: usize) -> Output {
        Output {
            stdout: Vec::new(),
            stderr: Vec::new(),
            max_output_bytes,
        }
    }

    /// Adds what the call's container said: STDOUT past the limit ends the
    /// call ([`Exit::OutputTooLarge`]), STDERR past it is cut.
    pub fn keep(&mut self, said: Said) -> Result<(), Exit> {
        match said {
            Said::Stdout(message) => {
                if self.stdout.len() + message.len() > self.max_output_bytes {
                    return Err(Exit::OutputTooLarge);
                }
                self.stdout.extend_from_slice(&message);
            }
            Said::Stderr(message) => {
                let room = self.max_output_bytes.saturating_sub(self.stderr.len());
                self.stderr
                    .extend_from_slice(&message[..message.len().min(room)]);
            }
        }
        Ok(())
    }

    /// The call's outcome: how it ended, this output, and the time since
    /// `started`.
    pub fn outcome(self, exit: Exit, started: Instant) -> Outcome {
        Outcome {
            exit,
            stdout: Bytes::from(self.stdout),
            stderr: Bytes::from(self.stderr),
            duration: started.elapsed(),
        }
    }
}

//! `fwatchdog --once -- ARGV...`: the launcher inside a warm single-use
//! container. It says it is ready, waits for exactly one call on STDIN
//! ([`crate::frame`]), runs ARGV once with the call's variables added to
//! its own environment and the call's input on its STDIN, sends STDOUT,
//! STDERR and how it ended back on STDOUT, and exits. End of STDIN before a
//! call (the gateway went away or drained the container) exits quietly.

use std::io;
use std::os::fd::AsFd;

use bytes::{Bytes, BytesMut};
use futures_util::stream;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::frame::{self, Frame, Start};
use crate::runner::{self, Job, OutputMode};

/// The launcher's STDIN and STDOUT. Where they are pipes (as an engine's
/// attach gives them), they are polled on the runtime's own thread; else
/// (a file, a terminal) read and written on tokio's blocking threads.
/// Under gVisor every thread start and hand-off between threads is more
/// syscalls, each trapped by the sandbox's kernel, so a warm call is
/// quicker without them. Call it inside the runtime.
pub fn stdio() -> (
    Box<dyn AsyncRead + Unpin + Send>,
    Box<dyn AsyncWrite + Unpin + Send>,
) {
    use tokio::net::unix::pipe;
    let input = io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Receiver::from_owned_fd);
    let output = io::stdout()
        .as_fd()
        .try_clone_to_owned()
        .and_then(pipe::Sender::from_owned_fd);
    let input: Box<dyn AsyncRead + Unpin + Send> = match input {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdin()),
    };
    let output: Box<dyn AsyncWrite + Unpin + Send> = match output {
        Ok(pipe) => Box::new(pipe),
        Err(_) => Box::new(tokio::io::stdout()),
    };
    (input, output)
}

/// Serves one call of `argv` read from `input`, answering on `output`.
pub async fn serve<R, W>(argv: Vec<String>, mut input: R, mut output: W) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut ready = BytesMut::new();
    frame::put(&mut ready, frame::READY, b"");
    output.write_all(&ready).await?;
    output.flush().await?;
    let start = match frame::read(&mut input).await? {
        None => return Ok(()),
        Some(Frame {
            tag: frame::START,
            payload,
        }) => Start::decode(payload).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
        Some(other) => {
            let message = format!("expected a start frame, got tag {:?}", other.tag as char);
            return Err(io::Error::new(io::ErrorKind::InvalidData, message));
        }
    };
    let job = Job {
        argv,
        env: start.env,
        clear_env: false,
        timeout: None,
        // The gateway checked the input against its limit already.
        max_input_bytes: u64::MAX,
        max_output_bytes: usize::try_from(start.max_output_bytes).unwrap_or(usize::MAX),
        output: OutputMode::Separate,
    };
    let body = Box::pin(stream::unfold(input, |mut input| async move {
        match frame::read(&mut input).await {
            Ok(Some(Frame {
                tag: frame::INPUT,
                payload,
            })) => Some((Ok::<Bytes, io::Error>(payload), input)),
            Ok(Some(Frame {
                tag: frame::END, ..
            })) => None,
            Ok(_) => {
                let cut = io::Error::new(io::ErrorKind::UnexpectedEof, "the input ended early");
                Some((Err(cut), input))
            }
            Err(e) => Some((Err(e), input)),
        }
    }));
    let mut answer = BytesMut::new();
    let exit = match runner::run(&job, body).await {
        Ok(outcome) => {
            frame::put_chunks(&mut answer, frame::STDOUT, &outcome.stdout);
            frame::put_chunks(&mut answer, frame::STDERR, &outcome.stderr);
            Ok(outcome.exit)
        }
        Err(e) => Err(e.to_string()),
    };
    frame::put(&mut answer, frame::EXIT, &frame::encode_exit(&exit));
    output.write_all(&answer).await?;
    output.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::Exit;

    /// Runs the launcher on `request` and returns its frames.
    async fn exchange(argv: &[&str], request: BytesMut) -> Vec<Frame> {
        let argv = argv.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        serve(argv, &request[..], &mut out).await.expect("served");
        let mut decoder = frame::Decoder::default();
        decoder.push(&out);
        std::iter::from_fn(|| decoder.next_frame().expect("well formed")).collect()
    }

    fn request(env: &[(&str, &str)], input: &[u8]) -> BytesMut {
        let start = Start {
            max_output_bytes: 1 << 20,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let mut out = BytesMut::new();
        frame::put(&mut out, frame::START, &start.encode());
        frame::put_chunks(&mut out, frame::INPUT, input);
        frame::put(&mut out, frame::END, b"");
        out
    }

    #[tokio::test]
    async fn one_call_with_its_variables_and_input() {
        let script = "echo \"$Http_X_Name\"; cat; echo oops >&2; exit 3";
        let frames = exchange(
            &["sh", "-c", script],
            request(&[("Http_X_Name", "n")], b"in"),
        )
        .await;
        let tags: Vec<u8> = frames.iter().map(|f| f.tag).collect();
        assert_eq!(
            tags,
            [frame::READY, frame::STDOUT, frame::STDERR, frame::EXIT]
        );
        assert_eq!(&frames[1].payload[..], b"n\nin");
        assert_eq!(&frames[2].payload[..], b"oops\n");
        let exit = frame::decode_exit(frames[3].payload.clone()).expect("exit");
        assert_eq!(exit, Ok(Exit::Code(3)));
    }

    #[tokio::test]
    async fn no_call_ends_quietly_and_a_missing_program_is_said() {
        let frames = exchange(&["cat"], BytesMut::new()).await;
        assert_eq!(frames.len(), 1);
        let frames = exchange(&["/no/such/program"], request(&[], b"")).await;
        let exit = frame::decode_exit(frames[1].payload.clone()).expect("exit");
        assert!(matches!(exit, Err(why) if why.contains("/no/such/program")));
    }
}

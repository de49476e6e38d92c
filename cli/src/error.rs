//! The one error type of the CLI. Its `Display` is the text after `Error: `.

use std::path::PathBuf;

/// Everything that can make a `faas` command fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The gateway does not know the function (404 on a function route).
    #[error("No such function: {0}")]
    NoSuchFunction(String),
    /// The gateway does not know the call (404 on a call route).
    #[error("No such call id: {0}")]
    NoSuchCallId(String),
    /// A function of that name exists already (409 on create).
    #[error("Function {0} already exists")]
    FunctionExists(String),
    /// The gateway refused what we sent (400): its message says why.
    #[error("{0}")]
    BadRequest(String),
    /// The call ran and failed; its output, if any, went to STDOUT.
    #[error("call {id} failed: {message}")]
    CallFailed { id: String, message: String },
    /// The call cannot be cancelled (409): the gateway's message says why.
    #[error("{0}")]
    NotCancelled(String),
    /// The call's output is no longer kept (410).
    #[error("the output of call {0} has been rotated out of the cache")]
    OutputGone(String),
    /// `get` without `--wait` on a call that has not ended.
    #[error("call {id} is {status}: use `faas func get --wait {id}` to wait for its output")]
    NotFinished { id: String, status: String },
    /// No TCP connection, or it broke before an answer came.
    #[error("cannot reach the gateway at {gateway}: {cause}")]
    Unreachable { gateway: String, cause: String },
    /// The gateway wants a password and we have none.
    #[error("the gateway at {0} needs a password: run `faas login` or set FAAS_PASSWORD")]
    NoCredentials(String),
    /// The gateway refused the password we sent.
    #[error("bad credentials for the gateway at {0}: run `faas login` or set FAAS_PASSWORD")]
    BadCredentials(String),
    /// Any other answer the gateway gives with an error status.
    #[error("the gateway answered {status}: {message}")]
    Gateway { status: u16, message: String },
    /// An answer we could not make sense of.
    #[error("unexpected answer from the gateway: {0}")]
    Protocol(String),
    /// A flag's value or an input file is wrong.
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a local file.
    #[error("{}: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Reading STDIN or writing STDOUT.
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        source: std::io::Error,
    },
    /// The command has already printed its errors (e.g. `rm` of several
    /// names); only the exit status is left to set.
    #[error("one or more operations failed")]
    Reported,
}

impl Error {
    /// Nothing more will work against this gateway (it is unreachable or
    /// refuses us): a command over many names stops at the first.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Error::Unreachable { .. } | Error::BadCredentials(_) | Error::NoCredentials(_)
        )
    }

    /// An `Io` error with a word on what was being done. A closed pipe
    /// (`faas func logs f | head`) ends the command quietly, as it ends
    /// any Unix filter.
    pub fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> Error {
        move |source| match source.kind() {
            std::io::ErrorKind::BrokenPipe => Error::Reported,
            _ => Error::Io { context, source },
        }
    }

    /// A `File` error about `path`.
    pub fn file(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::File { path, source }
    }
}

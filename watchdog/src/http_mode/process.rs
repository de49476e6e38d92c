//! The http mode's `fprocess`: started once at boot, in a session of its
//! own, and started again whenever it exits; its STDOUT and STDERR copied
//! to the watchdog's own. [`Readiness`] says whether it accepts
//! connections on `upstream_url`: false until a connection to it succeeds,
//! false again from the moment it exits. The lock file follows readiness.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::sys::wait::WaitStatus;
use nix::unistd::Pid;
use tokio::net::unix::pipe::Sender;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::lock;
use crate::runner;
use crate::spawn::{self, Child, Spawn};

/// The first pause before a process that exited is started again.
const RESTART_FIRST: Duration = Duration::from_millis(100);
/// The pause doubles at each quick exit up to this; a process that ran
/// longer than this starts again after the first pause.
const RESTART_MAX: Duration = Duration::from_secs(5);
/// The first pause between connection attempts while the process starts;
/// it doubles up to [`PROBE_MAX`].
const PROBE_FIRST: Duration = Duration::from_millis(5);
const PROBE_MAX: Duration = Duration::from_millis(100);

/// Whether the upstream accepts connections, for `/_/health`; the lock
/// file follows it.
pub struct Readiness {
    ready: AtomicBool,
    /// Keep no lock file (`suppress_lock`).
    suppress_lock: bool,
}

impl Readiness {
    pub fn new(suppress_lock: bool) -> Readiness {
        Readiness {
            ready: AtomicBool::new(false),
            suppress_lock,
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Records readiness, with the lock file (a failure to write it is
    /// logged: health stays 503).
    fn set(&self, ready: bool) {
        if !self.suppress_lock {
            if ready {
                if let Err(err) = lock::create() {
                    eprintln!(
                        "fwatchdog: cannot write the lock file {}: {err}",
                        lock::path().display()
                    );
                }
            } else {
                lock::remove();
            }
        }
        self.ready.store(ready, Ordering::Release);
    }
}

/// What the process is started with.
pub struct Command {
    pub argv: Vec<String>,
    /// Variables over (or, with `clear_env`, instead of) the inherited ones.
    pub env: Vec<(String, String)>,
    pub clear_env: bool,
    /// Where it is expected to listen.
    pub addr: SocketAddr,
}

/// The running process and what restarts it.
pub struct Supervisor {
    command: Command,
    program: PathBuf,
    readiness: Arc<Readiness>,
    child: Child,
    /// Its STDIN, held open for its lifetime as of-watchdog does.
    _stdin: Sender,
}

impl Supervisor {
    /// Starts the process for the first time: an error here (no such
    /// program) stops the watchdog at start.
    pub fn start(command: Command, readiness: Arc<Readiness>) -> io::Result<Supervisor> {
        let program = command
            .argv
            .first()
            .map(|p| runner::resolve(p, &command.env))
            .ok_or_else(|| io::Error::other("fprocess is empty"))?;
        let (child, stdin) = spawn_logged(&command, &program)?;
        Ok(Supervisor {
            command,
            program,
            readiness,
            child,
            _stdin: stdin,
        })
    }

    /// Watches the process and starts it again each time it exits, until
    /// `stop` says how long it may take to stop: then SIGTERM to its group,
    /// SIGKILL after that long.
    pub async fn run(mut self, mut stop: oneshot::Receiver<Duration>) {
        // Zero until the first exit.
        let mut pause = Duration::ZERO;
        loop {
            let started = Instant::now();
            let exited = tokio::select! {
                status = watch(&mut self.child, self.command.addr, &self.readiness) => status,
                grace = &mut stop => return self.stop(grace.unwrap_or_default()).await,
            };
            self.readiness.set(false);
            pause = if pause.is_zero() || started.elapsed() > RESTART_MAX {
                RESTART_FIRST
            } else {
                (pause * 2).min(RESTART_MAX)
            };
            eprintln!(
                "fwatchdog: fprocess (pid {}) {}; starting it again in {pause:?}",
                self.child.id(),
                describe(exited)
            );
            loop {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    grace = &mut stop => return self.stop(grace.unwrap_or_default()).await,
                }
                match spawn_logged(&self.command, &self.program) {
                    // The old one's group is killed and reaped as it drops.
                    Ok((child, stdin)) => {
                        (self.child, self._stdin) = (child, stdin);
                        break;
                    }
                    Err(err) => {
                        pause = (pause * 2).min(RESTART_MAX);
                        eprintln!(
                            "fwatchdog: cannot start fprocess again: {err}; trying in {pause:?}"
                        );
                    }
                }
            }
        }
    }

    async fn stop(mut self, grace: Duration) {
        self.readiness.set(false);
        let group = Pid::from_raw(self.child.id() as i32);
        let _ = killpg(group, Signal::SIGTERM);
        if tokio::time::timeout(grace, self.child.exited())
            .await
            .is_err()
        {
            eprintln!("fwatchdog: fprocess did not exit within {grace:?} of SIGTERM; killed");
        }
        // Dropping the child kills what is left of its group.
    }
}

/// Waits for the process to accept a connection on `addr` (marking it
/// ready), then for it to exit.
async fn watch(
    child: &mut Child,
    addr: SocketAddr,
    readiness: &Readiness,
) -> io::Result<WaitStatus> {
    let accepts = async {
        let mut pause = PROBE_FIRST;
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(PROBE_MAX);
        }
    };
    tokio::select! {
        status = child.exited() => return status,
        () = accepts => readiness.set(true),
    }
    child.exited().await
}

/// Starts the process with its STDOUT and STDERR copied to this one's.
fn spawn_logged(command: &Command, program: &std::path::Path) -> io::Result<(Child, Sender)> {
    let (child, pipes) = spawn::spawn(&Spawn {
        program,
        args: &command.argv[1..],
        env: &command.env,
        clear_env: command.clear_env,
        combined: false,
    })?;
    let mut stdout = pipes.stdout;
    tokio::spawn(async move { tokio::io::copy(&mut stdout, &mut tokio::io::stdout()).await });
    if let Some(mut stderr) = pipes.stderr {
        tokio::spawn(async move { tokio::io::copy(&mut stderr, &mut tokio::io::stderr()).await });
    }
    Ok((child, pipes.stdin))
}

/// How the process ended, for the log.
fn describe(status: io::Result<WaitStatus>) -> String {
    match status {
        Ok(WaitStatus::Exited(_, code)) => format!("exited with status {code}"),
        Ok(WaitStatus::Signaled(_, signal, _)) => format!("was killed by {}", signal.as_str()),
        Ok(other) => format!("ended ({other:?})"),
        Err(err) => format!("could not be waited for ({err})"),
    }
}

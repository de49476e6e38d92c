//! Start one process in a session of its own, and wait for it without
//! holding a runtime thread.
//!
//! [`spawn`] starts an argv with `posix_spawnp` (the C library's vfork-style
//! spawn: the parent's pages are never copied) as the leader of a new
//! session, and so of a new process group, with no controlling terminal and
//! pipes for its STDIN, STDOUT and STDERR. Its pid is its session and group
//! id, so the whole group can be killed at once. [`Child::exited`] waits on a
//! pidfd through the runtime's I/O driver (a blocking thread where the kernel
//! has no pidfds) and leaves the process unreaped: while it is a zombie its
//! pid cannot be reused, so killing its group after it exited is always safe.
//! A [`Child`] dropped before it was reaped kills the group first.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use nix::errno::Errno;
use nix::libc;
use nix::spawn::{posix_spawnp, PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags};
use nix::sys::signal::{killpg, SigSet, Signal};
use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::unix::pipe::{Receiver, Sender};
use tokio::task::JoinHandle;

/// What to start.
pub struct Spawn<'a> {
    /// Run as it is when it has a `/`, else looked up in this process's `PATH`.
    pub program: &'a Path,
    /// Arguments after `argv[0]`, which is `program`.
    pub args: &'a [String],
    /// Variables over the inherited environment, the last of a name winning.
    pub env: &'a [(String, String)],
    /// Start from an empty environment instead of this process's own.
    pub clear_env: bool,
    /// STDERR shares STDOUT's pipe instead of having its own.
    pub combined: bool,
}

/// The parent's ends of a started process's pipes.
pub struct Pipes {
    pub stdin: Sender,
    /// STDOUT, with STDERR too when combined.
    pub stdout: Receiver,
    /// STDERR when not combined.
    pub stderr: Option<Receiver>,
}

/// A started process, not yet reaped.
pub struct Child {
    pid: Pid,
    waiter: Waiter,
    /// Seen exited (a zombie until reaped).
    status: Option<WaitStatus>,
    /// Reaped with the group left alone: nothing is left to do on drop.
    reaped: bool,
}

/// How the exit is waited for.
enum Waiter {
    /// Readable once the process exited.
    PidFd(AsyncFd<OwnedFd>),
    /// A blocking `waitid` on a thread of the blocking pool; `None` once it
    /// answered.
    Thread(Option<JoinHandle<nix::Result<WaitStatus>>>),
}

/// Starts `what` in a session of its own with piped STDIO.
pub fn spawn(what: &Spawn<'_>) -> io::Result<(Child, Pipes)> {
    let program = c_string(what.program.as_os_str().as_bytes().to_vec())?;
    let mut argv = Vec::with_capacity(what.args.len() + 1);
    argv.push(program.clone());
    for arg in what.args {
        argv.push(c_string(arg.clone().into_bytes())?);
    }
    let envp = environment(what.env, what.clear_env)?;

    let (stdin_child, stdin) = pipe()?;
    let (stdout, stdout_child) = pipe()?;
    let stderr = (!what.combined).then(pipe).transpose()?;
    let mut actions = PosixSpawnFileActions::init()?;
    actions.add_dup2(stdin_child.as_raw_fd(), 0)?;
    actions.add_dup2(stdout_child.as_raw_fd(), 1)?;
    let stderr_child = stderr.as_ref().map_or(&stdout_child, |(_, child)| child);
    actions.add_dup2(stderr_child.as_raw_fd(), 2)?;

    let mut attr = PosixSpawnAttr::init()?;
    // A new session; the standard library's spawn does the rest alike: an
    // empty signal mask, and SIGPIPE (ignored in Rust programs, which the
    // child would inherit) back to its default.
    let setsid = PosixSpawnFlags::from_bits_retain(libc::POSIX_SPAWN_SETSID.into());
    attr.set_flags(
        setsid | PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF,
    )?;
    attr.set_sigmask(&SigSet::empty())?;
    let mut default = SigSet::empty();
    default.add(Signal::SIGPIPE);
    attr.set_sigdefault(&default)?;

    let pid = posix_spawnp(&program, &actions, &attr, &argv, &envp)?;
    // The child has its copies; ours must go so the pipes see end-of-file
    // when the process and whatever it started are done.
    drop((stdin_child, stdout_child));
    let child = Child::new(pid);
    let (stderr, stderr_child) = stderr.unzip();
    drop(stderr_child);
    let pipes = Pipes {
        stdin: Sender::from_owned_fd(stdin)?,
        stdout: Receiver::from_owned_fd(stdout)?,
        stderr: stderr.map(Receiver::from_owned_fd).transpose()?,
    };
    Ok((child, pipes))
}

impl Child {
    fn new(pid: Pid) -> Child {
        let waiter = match pidfd(pid) {
            Ok(fd) => Waiter::PidFd(fd),
            Err(_) => Waiter::Thread(Some(tokio::task::spawn_blocking(move || {
                retry(|| waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT))
            }))),
        };
        Child {
            pid,
            waiter,
            status: None,
            reaped: false,
        }
    }

    /// Waits until the process has exited and tells how. The process stays
    /// a zombie, its group safe to kill, until [`Child::reap`] or drop.
    /// Cancel-safe: a new call carries on where a dropped one stopped.
    pub async fn exited(&mut self) -> io::Result<WaitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let status = match &mut self.waiter {
            Waiter::PidFd(fd) => loop {
                let mut ready = fd.readable().await?;
                let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT | WaitPidFlag::WNOHANG;
                match retry(|| waitid(Id::PIDFd(fd.get_ref().as_fd()), flags))? {
                    WaitStatus::StillAlive => ready.clear_ready(),
                    status => break status,
                }
            },
            Waiter::Thread(handle) => {
                let Some(waiting) = handle.as_mut() else {
                    return Err(io::Error::other("the wait for the process failed"));
                };
                let answer = waiting.await;
                *handle = None;
                answer.map_err(io::Error::other)??
            }
        };
        self.status = Some(status);
        Ok(status)
    }

    /// Its pid, which is also its group's and its session's id.
    pub fn id(&self) -> u32 {
        self.pid.as_raw().unsigned_abs()
    }

    /// SIGKILL to the process's whole group.
    pub fn kill_group(&self) {
        // ESRCH (nothing left in the group) is the usual, fine outcome.
        let _ = killpg(self.pid, Signal::SIGKILL);
    }

    /// Reaps the exited process, leaving whatever else is in its group
    /// alone.
    pub fn reap(mut self) {
        if self.status.is_some() && reap_now(self.pid) {
            self.reaped = true;
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        self.kill_group();
        if reap_now(self.pid) {
            return;
        }
        // Killed but not gone yet: reap it where waiting is harmless.
        let pid = self.pid;
        let wait = move || {
            let _ = retry(|| waitid(Id::Pid(pid), WaitPidFlag::WEXITED));
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(wait)),
            Err(_) => drop(std::thread::spawn(wait)),
        }
    }
}

/// Reaps `pid` if it has exited; whether it is gone.
fn reap_now(pid: Pid) -> bool {
    match retry(|| waitid(Id::Pid(pid), WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::StillAlive) => false,
        // Reaped now, or (ECHILD) already.
        Ok(_) | Err(_) => true,
    }
}

/// A pidfd for `pid` registered with the runtime, where the kernel has them.
fn pidfd(pid: Pid) -> io::Result<AsyncFd<OwnedFd>> {
    let raw =
        rustix::process::Pid::from_raw(pid.as_raw()).ok_or_else(|| io::Error::other("pid 0"))?;
    let fd = rustix::process::pidfd_open(raw, rustix::process::PidfdFlags::NONBLOCK)?;
    // Deprecated as unsound for a `T` whose `as_raw_fd` could change or
    // close under the registration; an `OwnedFd` owns its one descriptor
    // until the `AsyncFd` drops it.
    #[allow(deprecated)]
    AsyncFd::with_interest(fd, Interest::READABLE)
}

/// `call` again while a signal interrupts it.
fn retry<T>(mut call: impl FnMut() -> nix::Result<T>) -> nix::Result<T> {
    loop {
        match call() {
            Err(Errno::EINTR) => continue,
            answer => return answer,
        }
    }
}

/// A pipe, reading end first, whose ends close on exec (the child gets its
/// end by `dup2`).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (reader, writer) = io::pipe()?;
    Ok((reader.into(), writer.into()))
}

/// The child's environment as `NAME=value` strings.
fn environment(env: &[(String, String)], clear: bool) -> io::Result<Vec<CString>> {
    let mut all: BTreeMap<OsString, OsString> = if clear {
        BTreeMap::new()
    } else {
        std::env::vars_os().collect()
    };
    for (name, value) in env {
        all.insert(name.into(), value.into());
    }
    all.into_iter()
        .map(|(name, value)| {
            let mut entry = name.into_vec();
            entry.push(b'=');
            entry.extend_from_slice(OsStr::as_bytes(&value));
            c_string(entry)
        })
        .collect()
}

fn c_string(bytes: Vec<u8>) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    })
}

//! The supervisor: `gateway supervise --data-dir D`, a second process of
//! the gateway's binary that outlives the gateway to kill the process
//! groups of the calls it was running, whichever way it ended (`kill -9`
//! too). Its STDIN is a pipe only the gateway holds (close-on-exec on the
//! gateway's side, so no function inherits it): end-of-file is the gateway
//! gone. It runs in a session of its own, so what is sent to the gateway's
//! group or terminal (Ctrl-C, a hang-up) does not end it first.

use std::io;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::process::ChildStdin;
use tokio::task::JoinHandle;

use super::leftovers;
use super::records::{self, Identity};

/// How long a cleanly stopping gateway waits for its supervisor to end.
const STOP_LIMIT: Duration = Duration::from_secs(2);

/// The gateway's side of its supervisor.
pub struct Supervisor {
    /// The pipe whose end tells the supervisor the gateway is gone.
    stdin: Option<ChildStdin>,
    /// Waits for the supervisor to end, saying so if it ends early.
    ended: JoinHandle<()>,
    /// Set once the gateway stops cleanly: the supervisor's end is then
    /// expected.
    stopping: Arc<AtomicBool>,
}

impl Supervisor {
    /// Starts the supervisor of the calls recorded in `data_dir`. It gets
    /// none of the gateway's environment (its password file's path among
    /// it) but `RUST_LOG`, and logs to the gateway's STDERR.
    pub fn start(data_dir: &Path) -> io::Result<Supervisor> {
        let dir = std::path::absolute(data_dir)?;
        // This very binary; through /proc if its file was replaced since.
        let exe = std::env::current_exe()
            .ok()
            .filter(|exe| exe.exists())
            .unwrap_or_else(|| "/proc/self/exe".into());
        let mut command = tokio::process::Command::new(exe);
        command
            .arg0("gateway")
            .arg("supervise")
            .arg("--data-dir")
            .arg(dir)
            .env_clear()
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Ok(filter) = std::env::var("RUST_LOG") {
            command.env("RUST_LOG", filter);
        }
        let mut child = command.spawn()?;
        let stdin = child.stdin.take();
        let stopping = Arc::new(AtomicBool::new(false));
        let ended = tokio::spawn({
            let stopping = stopping.clone();
            async move {
                let status = child.wait().await;
                if !stopping.load(Ordering::SeqCst) {
                    tracing::warn!(
                        "the supervisor of function processes ended ({status:?}): calls running if the gateway is killed now will run on until its next start"
                    );
                }
            }
        });
        Ok(Supervisor {
            stdin,
            ended,
            stopping,
        })
    }

    /// The gateway stops cleanly: tells the supervisor (which finds
    /// nothing left to kill) and waits a little for it to end.
    pub async fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        drop(self.stdin.take());
        let _ = tokio::time::timeout(STOP_LIMIT, self.ended).await;
    }
}

/// `gateway supervise`: waits for the gateway that started it to end,
/// then kills the groups it recorded in `data_dir` and removes their
/// records.
pub fn supervise(data_dir: &Path) {
    // Started in the gateway's group, so not a group leader: this succeeds.
    if let Err(e) = nix::unistd::setsid() {
        tracing::warn!("supervisor: cannot start a session of its own: {e}");
    }
    let gateway = u32::try_from(nix::unistd::getppid().as_raw())
        .ok()
        .and_then(Identity::of);
    // Nothing is sent: the read ends when the gateway does.
    let _ = io::copy(&mut io::stdin().lock(), &mut io::sink());
    let dir = data_dir.join(records::DIR);
    let killed = leftovers::clear(&dir, |owner| Some(owner) == gateway);
    if killed > 0 {
        tracing::warn!(
            "supervisor: the gateway ended; calls it was running: {killed}, their process groups killed"
        );
    }
}

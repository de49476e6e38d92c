//! Run one process for one request.
//!
//! [`run`] spawns the argv of a [`Job`] as the leader of a session and process
//! group of its own, streams the input to its STDIN while it reads STDOUT and
//! STDERR (so a process that writes before it reads never deadlocks), enforces
//! the byte limits and the timeout, and reports the [`Outcome`]. Whatever way
//! the call ends — success, timeout, a limit, or the caller dropping the
//! future — the whole process group is killed: nothing a request started
//! outlives it.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use nix::sys::wait::WaitStatus;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe::Sender;

use crate::spawn::{self, Child, Pipes, Spawn};

/// How long the output pipes may stay open after the process exited before
/// whatever it left running in its group is killed.
const STRAGGLER_GRACE: Duration = Duration::from_millis(20);
/// Most bytes read from a pipe at once.
const READ_CHUNK: usize = 16 * 1024;
/// How long to wait for the pipes to close once the group is killed.
const PIPE_CLOSE_LIMIT: Duration = Duration::from_secs(1);

/// One process to run for one request.
#[derive(Debug, Clone)]
pub struct Job {
    /// Program and arguments; run without a shell.
    pub argv: Vec<String>,
    /// Variables added to the inherited environment (or, with
    /// `clear_env`, the whole environment).
    pub env: Vec<(String, String)>,
    /// Start from an empty environment instead of this process's own.
    pub clear_env: bool,
    /// Kill the process group after this long.
    pub timeout: Option<Duration>,
    /// Larger input ends the run with [`Exit::InputTooLarge`].
    pub max_input_bytes: u64,
    /// Larger output kills the process: [`Exit::OutputTooLarge`].
    pub max_output_bytes: usize,
    /// Whether STDERR joins STDOUT or is kept apart.
    pub output: OutputMode,
}

/// Where the process's STDERR goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    /// STDOUT and STDERR share one pipe, interleaved as written; the limit
    /// counts both.
    Combined,
    /// STDERR is collected on its own (up to the output limit, the rest
    /// discarded) and does not count against the output limit.
    Separate,
}

/// How a run ended (as an agent sends it, in camelCase).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Exit {
    /// The process exited with this status.
    Code(i32),
    /// The process was ended by this signal (not sent by the runner).
    Signal(i32),
    /// The timeout expired; the group was killed.
    TimedOut,
    /// The output went over the limit; the group was killed.
    OutputTooLarge,
    /// The input went over the limit; the group was killed.
    InputTooLarge,
    /// Reading the input failed; the group was killed.
    InputFailed(String),
}

/// What a run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub exit: Exit,
    /// STDOUT (with STDERR interleaved in [`OutputMode::Combined`]).
    pub stdout: Bytes,
    /// STDERR in [`OutputMode::Separate`]; empty otherwise.
    pub stderr: Bytes,
    /// From spawn to the end of the run.
    pub duration: Duration,
}

impl Outcome {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.exit == Exit::Code(0)
    }
}

/// The process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the command is empty")]
    EmptyCommand,
    #[error("cannot start {program:?}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
}

/// Runs `job`, feeding it `input`, and reports how it ended.
pub async fn run<S>(job: &Job, input: S) -> Result<Outcome, RunError>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    run_with(job, input, |_| {}).await
}

/// [`run`], telling `spawned` the process's pid (its group's id) as soon
/// as it is started, before any input is fed: for a caller that keeps
/// its own account of the groups it has running.
pub async fn run_with<S>(
    job: &Job,
    input: S,
    spawned: impl FnOnce(u32),
) -> Result<Outcome, RunError>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let (program, args) = job.argv.split_first().ok_or(RunError::EmptyCommand)?;
    let spawn_error = |source| RunError::Spawn {
        program: program.clone(),
        source,
    };
    let start = Instant::now();
    let program = resolve(program, &job.env);
    let (mut child, pipes) = spawn::spawn(&Spawn {
        program: &program,
        args,
        env: &job.env,
        clear_env: job.clear_env,
        combined: job.output == OutputMode::Combined,
    })
    .map_err(spawn_error)?;
    spawned(child.id());

    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let exit = {
        let work = supervise(job, &mut child, pipes, input, &mut stdout, &mut stderr);
        match job.timeout {
            Some(limit) => tokio::time::timeout(limit, work)
                .await
                .unwrap_or(Err(Exit::TimedOut)),
            None => work.await,
        }
    };
    let exit = match exit {
        Ok(exit) => exit,
        Err(killed) => {
            child.kill_group();
            let _ = child.exited().await;
            killed
        }
    };
    // Whatever the process left running in its group goes with it, while
    // its unreaped pid still holds the group's id.
    child.kill_group();
    child.reap();
    Ok(Outcome {
        exit,
        stdout: Bytes::from(stdout),
        stderr: Bytes::from(stderr),
        duration: start.elapsed(),
    })
}

/// Drives one spawned process to its end. `Err` is a reason the runner ends
/// the run itself (the caller kills the group).
async fn supervise<S>(
    job: &Job,
    child: &mut Child,
    pipes: Pipes,
    input: S,
    stdout: &mut Vec<u8>,
    stderr: &mut Vec<u8>,
) -> Result<Exit, Exit>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let mut feed = pin!(feed(pipes.stdin, input, job.max_input_bytes));
    let outputs = async {
        let out = read_pipe(Some(pipes.stdout), stdout, job.max_output_bytes, Past::Fail);
        let err = read_pipe(pipes.stderr, stderr, job.max_output_bytes, Past::Drop);
        tokio::try_join!(out, err).map(|_| ())
    };
    let mut outputs = pin!(outputs);
    let mut fed = false;
    let mut read = false;
    let status = loop {
        tokio::select! {
            result = &mut feed, if !fed => { result?; fed = true; }
            result = &mut outputs, if !read => { result?; read = true; }
            status = child.exited() => break status,
        }
    };
    if !read {
        // The process is gone; anything still holding the pipes was left
        // running in its group (which its unreaped pid still names).
        match tokio::time::timeout(STRAGGLER_GRACE, &mut outputs).await {
            Ok(result) => result?,
            Err(_) => {
                child.kill_group();
                if let Ok(result) = tokio::time::timeout(PIPE_CLOSE_LIMIT, &mut outputs).await {
                    result?;
                }
            }
        }
    }
    let status = status.map_err(|e| Exit::InputFailed(format!("waiting for the process: {e}")))?;
    Ok(match status {
        WaitStatus::Exited(_, code) => Exit::Code(code),
        WaitStatus::Signaled(_, signal, _) => Exit::Signal(signal as i32),
        _ => Exit::Code(-1),
    })
}

/// Writes the input to STDIN, counting it against the limit. A process that
/// stops reading (closes STDIN or exits) ends the feed quietly.
async fn feed<S>(stdin: Sender, mut input: S, limit: u64) -> Result<(), Exit>
where
    S: Stream<Item = io::Result<Bytes>> + Unpin,
{
    let mut stdin = Some(stdin);
    let mut total: u64 = 0;
    while let Some(chunk) = input.next().await {
        let chunk = chunk.map_err(|e| Exit::InputFailed(e.to_string()))?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(Exit::InputTooLarge);
        }
        if let Some(pipe) = stdin.as_mut() {
            if pipe.write_all(&chunk).await.is_err() {
                stdin = None;
            }
        }
    }
    Ok(())
}

/// What a pipe's bytes past its limit do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Past {
    /// End the run: [`Exit::OutputTooLarge`].
    Fail,
    /// Are read and dropped, so the process never blocks on a full pipe.
    Drop,
}

/// Reads `reader` to its end into `buf`, up to `limit` bytes; what is past
/// the limit does as `past` says.
async fn read_pipe<R: AsyncRead + Unpin>(
    reader: Option<R>,
    buf: &mut Vec<u8>,
    limit: usize,
    past: Past,
) -> Result<(), Exit> {
    let Some(mut reader) = reader else {
        return Ok(());
    };
    loop {
        let read = match past {
            // One byte past the limit is enough to know it was crossed.
            Past::Fail => read_into(&mut reader, buf, (limit + 1).saturating_sub(buf.len())).await,
            Past::Drop if buf.len() < limit => read_into(&mut reader, buf, limit - buf.len()).await,
            Past::Drop => {
                let kept = buf.len();
                let read = read_into(&mut reader, buf, READ_CHUNK).await;
                buf.truncate(kept);
                read
            }
        };
        if read == 0 {
            return Ok(());
        }
        if past == Past::Fail && buf.len() > limit {
            return Err(Exit::OutputTooLarge);
        }
    }
}

/// One read of at most `room` bytes appended to `buf`, straight into its
/// spare capacity (no zeroed scratch buffer per call); 0 at the end or on
/// an error.
async fn read_into<R: AsyncRead + Unpin>(reader: &mut R, buf: &mut Vec<u8>, room: usize) -> usize {
    let want = room.min(READ_CHUNK);
    buf.reserve(want);
    let start = buf.len();
    let mut limited = (&mut *reader).take(want as u64);
    let read = limited.read_buf(buf).await.unwrap_or(0);
    buf.truncate(start + read);
    read
}

/// The program to spawn. `posix_spawnp` looks a bare name up in this
/// process's `PATH`, not the job's: when `env` (a job's variables) sets
/// `PATH` and the name has no `/`, the name is looked up in that `PATH` here.
/// Without a `PATH` of the job's, the name goes to `posix_spawnp` as it is. A
/// name found nowhere is left as it is, for the spawn to report. Callers that
/// run the same program again and again can resolve it once and pass the
/// path.
pub fn resolve(program: &str, env: &[(String, String)]) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = env.iter().rev().find(|(k, _)| k == "PATH");
    let Some((_, path)) = path.filter(|_| !program.contains('/')) else {
        return program.into();
    };
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| program.into())
}

/// Runs `job` with an in-memory input: a convenience for buffered callers.
pub fn run_bytes(job: &Job, input: Bytes) -> impl Future<Output = Result<Outcome, RunError>> + '_ {
    run(job, futures_util::stream::iter([Ok(input)]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(argv: &[&str]) -> Job {
        Job {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            env: vec![],
            clear_env: false,
            timeout: None,
            max_input_bytes: 1 << 20,
            max_output_bytes: 1 << 20,
            output: OutputMode::Separate,
        }
    }

    #[tokio::test]
    async fn cat_echoes_input() {
        let out = run_bytes(&job(&["cat"]), Bytes::from_static(b"hello"))
            .await
            .expect("spawn");
        assert!(out.success());
        assert_eq!(&out.stdout[..], b"hello");
    }

    #[tokio::test]
    async fn clear_env_passes_only_the_given_variables() {
        std::env::set_var("FAAS_RUNNER_TEST_SECRET", "leaked");
        let mut j = job(&["/bin/sh", "-c", "echo \"$FAAS_RUNNER_TEST_SECRET|$GIVEN\""]);
        j.env = vec![("GIVEN".into(), "yes".into())];
        let inherited = run_bytes(&j, Bytes::new()).await.expect("spawn");
        assert_eq!(&inherited.stdout[..], b"leaked|yes\n");
        j.clear_env = true;
        let cleared = run_bytes(&j, Bytes::new()).await.expect("spawn");
        assert_eq!(&cleared.stdout[..], b"|yes\n");
    }

    #[test]
    fn resolve_looks_in_the_jobs_path() {
        let dir = std::env::temp_dir().join(format!("faas-resolve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let tool = dir.join("only-here");
        std::fs::write(&tool, "#!/bin/sh\n").expect("write");
        std::fs::set_permissions(&tool, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .expect("chmod");
        assert_eq!(
            resolve("only-here", &[]),
            std::path::PathBuf::from("only-here")
        );
        let env = [("PATH".to_string(), dir.to_string_lossy().into_owned())];
        assert_eq!(resolve("only-here", &env), tool);
        assert_eq!(resolve("./x/y", &env), std::path::PathBuf::from("./x/y"));
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[tokio::test]
    async fn separate_and_combined_stderr() {
        let mut j = job(&["sh", "-c", "echo out; echo err >&2; exit 3"]);
        let out = run_bytes(&j, Bytes::new()).await.expect("spawn");
        assert_eq!(out.exit, Exit::Code(3));
        assert_eq!(&out.stdout[..], b"out\n");
        assert_eq!(&out.stderr[..], b"err\n");
        j.output = OutputMode::Combined;
        let out = run_bytes(&j, Bytes::new()).await.expect("spawn");
        assert_eq!(&out.stdout[..], b"out\nerr\n");
        assert!(out.stderr.is_empty());
    }

    #[tokio::test]
    async fn limits_and_timeout() {
        let mut j = job(&["cat"]);
        j.max_input_bytes = 3;
        let out = run_bytes(&j, Bytes::from_static(b"abcd"))
            .await
            .expect("spawn");
        assert_eq!(out.exit, Exit::InputTooLarge);
        let mut j = job(&["sh", "-c", "head -c 100 /dev/zero"]);
        j.max_output_bytes = 99;
        let out = run_bytes(&j, Bytes::new()).await.expect("spawn");
        assert_eq!(out.exit, Exit::OutputTooLarge);
        let mut j = job(&["sleep", "10"]);
        j.timeout = Some(Duration::from_millis(100));
        let out = run_bytes(&j, Bytes::new()).await.expect("spawn");
        assert_eq!(out.exit, Exit::TimedOut);
        assert!(out.duration < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn output_limit_holds_when_the_process_exits_first() {
        // The process is done before its output is read: the limit must
        // still be seen, every time.
        for _ in 0..50 {
            let mut j = job(&["head", "-c", "5000", "/dev/zero"]);
            j.max_output_bytes = 4096;
            let out = run_bytes(&j, Bytes::new()).await.expect("spawn");
            assert_eq!(out.exit, Exit::OutputTooLarge);
        }
    }

    #[tokio::test]
    async fn stragglers_do_not_hold_the_call() {
        let j = job(&["sh", "-c", "sleep 30 & echo done"]);
        let out = run_bytes(&j, Bytes::new()).await.expect("spawn");
        assert!(out.success());
        assert_eq!(&out.stdout[..], b"done\n");
        assert!(out.duration < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn missing_program_is_a_spawn_error() {
        let err = run_bytes(&job(&["/no/such/program"]), Bytes::new()).await;
        assert!(matches!(err, Err(RunError::Spawn { .. })));
    }

    /// Fields of a `/proc/<pid>/stat` line: the pid, then the ppid, pgrp,
    /// session and tty_nr after the `)` that ends the command's name and the
    /// state.
    fn stat_fields(line: &[u8]) -> (i64, Vec<i64>) {
        let line = std::str::from_utf8(line).expect("utf-8");
        let (pid, rest) = line.split_once(' ').expect("pid");
        let (_, after) = line.rsplit_once(')').expect("name");
        assert!(rest.starts_with('('));
        let numbers = after
            .split_whitespace()
            .skip(1)
            .take(4)
            .map(|f| f.parse().expect("number"))
            .collect();
        (pid.parse().expect("pid"), numbers)
    }

    #[tokio::test]
    async fn the_process_leads_its_own_session_and_group_without_a_terminal() {
        for output in [OutputMode::Separate, OutputMode::Combined] {
            let mut j = job(&["cat", "/proc/self/stat"]);
            j.output = output;
            let out = run_bytes(&j, Bytes::new()).await.expect("spawn");
            assert!(out.success(), "{out:?}");
            let (pid, fields) = stat_fields(&out.stdout);
            let (ppid, pgrp, session, tty) = (fields[0], fields[1], fields[2], fields[3]);
            assert_eq!(ppid, i64::from(std::process::id()), "our own child");
            assert_eq!(pgrp, pid, "its own process group");
            assert_eq!(session, pid, "its own session");
            assert_eq!(tty, 0, "no controlling terminal");
        }
    }

    #[tokio::test]
    async fn what_the_process_starts_stays_in_its_session() {
        let j = job(&["sh", "-c", "cat /proc/self/stat; echo $$"]);
        let out = run_bytes(&j, Bytes::new()).await.expect("spawn");
        let text = std::str::from_utf8(&out.stdout).expect("utf-8");
        let (stat, shell) = text.trim_end().rsplit_once('\n').expect("two lines");
        let shell: i64 = shell.parse().expect("pid");
        let (_, fields) = stat_fields(stat.as_bytes());
        assert_eq!((fields[1], fields[2]), (shell, shell));
    }

    #[tokio::test]
    async fn sigpipe_is_not_ignored_in_the_process() {
        // This process ignores SIGPIPE (as Rust programs do); the function's
        // must not inherit that.
        let out = run_bytes(&job(&["grep", "SigIgn", "/proc/self/status"]), Bytes::new())
            .await
            .expect("spawn");
        let text = std::str::from_utf8(&out.stdout).expect("utf-8");
        let mask = text.trim().rsplit('\t').next().expect("mask");
        let mask = u64::from_str_radix(mask, 16).expect("hex");
        assert_eq!(mask & (1 << (13 - 1)), 0, "SigIgn {mask:x}");
    }

    #[tokio::test]
    async fn a_signal_ending_the_process_is_reported() {
        let out = run_bytes(&job(&["sh", "-c", "kill -TERM $$"]), Bytes::new())
            .await
            .expect("spawn");
        assert_eq!(out.exit, Exit::Signal(15));
    }

    #[tokio::test]
    async fn a_missing_bare_name_is_a_spawn_error() {
        let err = run_bytes(&job(&["faas-no-such-program"]), Bytes::new()).await;
        assert!(
            matches!(&err, Err(RunError::Spawn { source, .. }) if source.kind() == io::ErrorKind::NotFound),
            "{err:?}"
        );
    }

    /// Whether `pid` is gone or a zombie (its parent may not have reaped it yet).
    fn dead(pid: i64) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |line| {
            line.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X']))
        })
    }

    #[tokio::test]
    async fn dropping_the_run_kills_the_group() {
        let file = std::env::temp_dir().join(format!("faas-drop-{}", std::process::id()));
        let _ = std::fs::remove_file(&file);
        let script = format!(
            "sleep 30 & echo $! > {0}.tmp; mv {0}.tmp {0}; wait",
            file.display()
        );
        let j = job(&["sh", "-c", &script]);
        let straggler = tokio::select! {
            out = run_bytes(&j, Bytes::new()) => panic!("the run ended: {out:?}"),
            pid = async {
                loop {
                    if let Ok(pid) = std::fs::read_to_string(&file) {
                        break pid.trim().parse::<i64>().expect("pid");
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            } => pid,
        };
        std::fs::remove_file(&file).expect("clean");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !dead(straggler) {
            assert!(Instant::now() < deadline, "{straggler} outlived its run");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

//! Shared by the `cli_*` tests: a real gateway (process backend unless a
//! test asks for Docker), the real `faas` binary run against it in an
//! isolated home (its STDOUT a pipe, or a pseudo-terminal), and a small line
//! matcher with `{uuid}`, `{time}` and `{any}` placeholders.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use nix::fcntl::OFlag;
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

use faas_tests::gateway::{start_gateway, GatewayHandle, DOCKER_BACKEND};
use faas_tests::{binary, TempDir};

pub use faas_tests::gateway::PASSWORD;

/// A gateway and a home directory for `faas`.
pub struct Env {
    pub gateway: GatewayHandle,
    pub home: TempDir,
}

impl Env {
    /// Starts `gateway --backend process` (the shared helper) and makes an
    /// empty home for `faas`.
    pub fn start() -> Env {
        Env::start_with(&[])
    }

    /// The same with gateway environment variables such as `FAAS_INVOKE_AUTH`.
    pub fn start_with(vars: &[(&str, &str)]) -> Env {
        Env {
            gateway: start_gateway(vars),
            home: TempDir::new("faas-cli-home"),
        }
    }

    /// The same on the docker backend.
    pub fn docker() -> Env {
        Env::start_with(&DOCKER_BACKEND)
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.gateway.url("")
    }

    /// `faas` with the gateway and password in its environment.
    pub fn faas(&self, args: &[&str]) -> Output {
        self.run(
            args,
            None,
            &[("FAAS_GATEWAY", &self.url()), ("FAAS_PASSWORD", PASSWORD)],
        )
    }

    /// `faas <line>`, the line split into arguments as a shell would.
    pub fn faas_line(&self, line: &str) -> Output {
        let args = shell_words::split(line).expect("a line a shell can split");
        self.faas(&args.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// `faas` with `input` on STDIN.
    pub fn faas_in(&self, args: &[&str], input: &[u8]) -> Output {
        self.run(
            args,
            Some(input),
            &[("FAAS_GATEWAY", &self.url()), ("FAAS_PASSWORD", PASSWORD)],
        )
    }

    /// `faas` in an environment of only PATH, HOME, XDG_CONFIG_HOME and `vars`;
    /// STDIN is `input`, or empty.
    pub fn run(&self, args: &[&str], input: Option<&[u8]>, vars: &[(&str, &str)]) -> Output {
        let mut child = self
            .command(args, vars)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("faas starts");
        let mut stdin = child.stdin.take().expect("stdin");
        let input = input.unwrap_or_default().to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let out = child.wait_with_output().expect("faas runs");
        writer.join().expect("stdin writer");
        out
    }

    /// `faas` with its STDOUT on a pseudo-terminal (raw, so the bytes read
    /// are the bytes `faas` wrote) and STDIN empty: returns what reached the
    /// terminal, and the exit code.
    pub fn faas_on_tty(&self, args: &[&str]) -> (Vec<u8>, Option<i32>) {
        // Both ends close-on-exec, so no process another test starts holds them.
        let mut master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
            .expect("a pseudo-terminal");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(OFlag::O_NOCTTY.bits())
            .open(ptsname_r(&master).expect("the terminal's name"))
            .expect("the terminal opens");
        let mut termios = tcgetattr(&slave).expect("tcgetattr");
        cfmakeraw(&mut termios);
        tcsetattr(&slave, SetArg::TCSANOW, &termios).expect("tcsetattr");
        let mut cmd = self.command(
            args,
            &[("FAAS_GATEWAY", &self.url()), ("FAAS_PASSWORD", PASSWORD)],
        );
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(slave))
            .stderr(Stdio::null());
        let mut child = cmd.spawn().expect("faas starts");
        // Our copy of the terminal closes here: the reader ends when faas's does.
        drop(cmd);
        let reader = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Linux answers EIO once the last holder of the terminal is gone.
            while let Ok(n @ 1..) = master.read(&mut buf) {
                seen.extend_from_slice(&buf[..n]);
            }
            seen
        });
        let status = child.wait().expect("faas runs");
        (reader.join().expect("terminal reader"), status.code())
    }

    /// The `faas` command, not started.
    pub fn command(&self, args: &[&str], vars: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(binary("faas"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", &self.home.0)
            .env("XDG_CONFIG_HOME", self.config_dir())
            .envs(vars.iter().copied())
            .args(args);
        cmd
    }

    pub fn config_dir(&self) -> PathBuf {
        self.home.0.join("config")
    }

    /// Creates a function, asserting it worked.
    pub fn create(&self, args: &[&str]) {
        let mut all = vec!["func", "create"];
        all.extend_from_slice(args);
        let out = self.faas(&all);
        assert_success(&out);
    }
}

/// Asserts exit 0 and an empty STDERR.
pub fn assert_success(out: &Output) {
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "faas failed: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts `faas func create`'s one line: `name` and its address on the
/// gateway at `url`.
pub fn assert_created(out: &Output, url: &str, name: &str) {
    assert_success(out);
    assert_lines(
        &stdout(out),
        &[&format!(
            "{name} is created with the address of {url}/call/{name}/{{uuid}}"
        )],
    );
}

/// The id in `faas func call`'s one line, `CallId: <uuid>`.
pub fn call_id(out: &Output) -> String {
    assert_success(out);
    assert_lines(&stdout(out), &["CallId: {uuid}"]);
    stdout(out)["CallId: ".len()..].trim().to_string()
}

/// STDOUT as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// STDERR as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts exit 1, nothing on STDOUT, and exactly `Error: <message>\n` on STDERR.
pub fn assert_error(out: &Output, message: &str) {
    assert_eq!(
        (
            out.status.code(),
            stderr(out).as_str(),
            stdout(out).as_str()
        ),
        (Some(1), format!("Error: {message}\n").as_str(), ""),
    );
}

/// Asserts that `text` has as many lines as `patterns` and each matches.
pub fn assert_lines(text: &str, patterns: &[&str]) {
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    assert_eq!(
        lines.len(),
        patterns.len(),
        "line count differs:\n{text}\nexpected:\n{}",
        patterns.join("\n")
    );
    for (line, pattern) in lines.iter().zip(patterns) {
        assert!(
            matches(pattern, line),
            "{line:?} does not match {pattern:?}\nin:\n{text}"
        );
    }
}

/// Whether `line` matches `pattern`: literal text plus `{uuid}` (a UUID),
/// `{time}` (`2006-01-02T15:04:05Z`) and `{any}` (anything, maybe nothing).
pub fn matches(pattern: &str, line: &str) -> bool {
    if let Some(rest) = pattern.strip_prefix("{uuid}") {
        return line.len() >= 36 && is_uuid(&line[..36]) && matches(rest, &line[36..]);
    }
    if let Some(rest) = pattern.strip_prefix("{time}") {
        return line.len() >= 20 && is_time(&line[..20]) && matches(rest, &line[20..]);
    }
    if let Some(rest) = pattern.strip_prefix("{any}") {
        return (0..=line.len())
            .filter(|i| line.is_char_boundary(*i))
            .any(|i| matches(rest, &line[i..]));
    }
    match (pattern.chars().next(), line.chars().next()) {
        (None, None) => true,
        (Some(p), Some(l)) if p == l => matches(&pattern[p.len_utf8()..], &line[l.len_utf8()..]),
        _ => false,
    }
}

fn is_uuid(s: &str) -> bool {
    s.chars().enumerate().all(|(i, c)| match i {
        8 | 13 | 18 | 23 => c == '-',
        _ => c.is_ascii_hexdigit(),
    })
}

fn is_time(s: &str) -> bool {
    s.chars().enumerate().all(|(i, c)| match i {
        4 | 7 => c == '-',
        10 => c == 'T',
        13 | 16 => c == ':',
        19 => c == 'Z',
        _ => c.is_ascii_digit(),
    })
}

/// `n` pseudo-random bytes (xorshift), the same for the same seed.
pub fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(n);
    out
}

#[test]
fn the_matcher_knows_its_placeholders() {
    assert!(matches(
        "{time} [CALL] CallId: {uuid}, ShortStdin: ",
        "2017-03-16T15:05:58Z [CALL] CallId: 218b7b10-e7f1-4c48-ac3c-66792f8ffc06, ShortStdin: "
    ));
    assert!(!matches("{uuid}", "218b7b10-e7f1-4c48-ac3c-66792f8ffc0"));
    assert!(matches("a{any}z", "abcz"));
    assert!(!matches("a{any}z", "abc"));
}

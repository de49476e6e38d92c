//! The command line as clap sees it. The doc comments are the `--help`;
//! [`parse`] turns the parsed flags into a plain [`Config`] and one
//! [`Command`], so that nothing past this file knows clap.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use crate::cmd::{self, Command};
use crate::config::{Config, Lookup};
use crate::error::Error;

/// Hyper Func's command line for the faas gateway: create functions from any
/// Docker image and command, call them, fetch their results and logs.
#[derive(Debug, Parser)]
#[command(name = "faas", version, propagate_version = true)]
pub struct Cli {
    /// The gateway's URL [default: the one `faas login` saved, else http://127.0.0.1:8080]
    #[arg(long, global = true, env = "FAAS_GATEWAY", value_name = "URL")]
    gateway: Option<String>,

    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Create, list, remove and call functions
    #[command(subcommand)]
    Func(Func),
    /// Check the gateway's password and save it, with the gateway's address,
    /// for later commands (FAAS_PASSWORD overrides it)
    Login(LoginArgs),
    /// Print a completion script for a shell: `source <(faas completion bash)`
    Completion {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum Func {
    /// Create a function from an image and a command
    Create(CreateArgs),
    /// Update a function's environment, timeout or address
    Update(UpdateArgs),
    /// List functions
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove one or more functions
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Show the details of one or more functions as a JSON array
    Inspect(InspectArgs),
    /// Call a function: STDIN, when it is not a terminal, is its input
    Call(CallArgs),
    /// Print the output of a call
    Get(GetArgs),
    /// Cancel a queued or running call: a queued one never runs, a running one is killed
    Cancel(CallIdArg),
    /// Print the events of a function's calls
    Logs(LogsArgs),
    /// Count a function's calls by state
    Status(NameArg),
}

/// As with `docker run`, options end at IMAGE: what follows is the command
/// and its arguments, flags included.
#[derive(Debug, Args)]
#[command(override_usage = "faas func create [OPTIONS] IMAGE [COMMAND] [ARG...]")]
struct CreateArgs {
    /// The function's name [default: the image's name and a random suffix]
    #[arg(long)]
    name: Option<String>,
    /// Seconds a call may run before it is stopped [gateway default: 300, at most 86400]
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Read environment variables from a file of KEY=VALUE lines
    #[arg(long, value_name = "FILE")]
    env_file: Vec<PathBuf>,
    /// Set a label (KEY=VALUE)
    #[arg(short, long = "label", value_name = "KEY=VALUE")]
    label: Vec<String>,
    /// Read labels from a file of KEY=VALUE lines
    #[arg(long, value_name = "FILE")]
    label_file: Vec<PathBuf>,
    /// How calls run [gateway default: per-call when a command is given, else service]
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// Hyper's container size, as memory and CPU limits: s1 (64 MiB, 0.25 CPU),
    /// s2 (128 MiB, 0.25), s3 (256 MiB, 0.5), s4 (512 MiB, 1), m1 (1 GiB, 1),
    /// m2 (2 GiB, 2), m3 (4 GiB, 2), l1 (4 GiB, 4), l2 (8 GiB, 4), l3 (16 GiB, 8)
    /// [default: no limits but the gateway's]
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    size: Option<Size>,
    /// At most this many calls of the function run at once
    #[arg(long, value_name = "N")]
    max_concurrency: Option<u32>,
    /// The Docker image, then the command run for each call and its
    /// arguments [default: the image's]
    #[arg(
        value_name = "IMAGE",
        required = true,
        num_args = 1..,
        trailing_var_arg = true
    )]
    image_and_command: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// A new container per call, running the command (Hyper Func)
    PerCall,
    /// A long-running service whose watchdog forks the process per call (OpenFaaS)
    Service,
}

#[derive(Debug, Args)]
struct UpdateArgs {
    /// Set an environment variable (KEY=VALUE, or KEY to copy it from here)
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Seconds a call may run before it is stopped
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<u64>,
    /// Give the function a new UUID, and so a new address: the old one stops working
    #[arg(long)]
    refresh: bool,
    /// At most this many calls of the function run at once
    #[arg(long, value_name = "N")]
    max_concurrency: Option<u32>,
    /// The function
    name: String,
}

#[derive(Debug, Args)]
struct RmArgs {
    /// Kill running calls instead of waiting for them
    #[arg(short, long)]
    force: bool,
    /// The functions
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

#[derive(Debug, Args)]
struct LsArgs {
    /// Show only the functions that match: name=<part of the name>,
    /// image=<image, with or without its tag> (repeat to narrow)
    #[arg(short, long = "filter", value_name = "KEY=VALUE", value_parser = parse_filter)]
    filter: Vec<cmd::ls::Filter>,
}

#[derive(Debug, Args)]
struct InspectArgs {
    /// Print each function through a template instead of as JSON:
    /// {{.Name}}, {{.Address}}, {{.Image}}, {{.UUID}}, {{.EnvVars.KEY}}…
    /// (fields by their JSON names, any case), {{json .Labels}} for JSON
    #[arg(short, long, value_name = "TEMPLATE", value_parser = parse_template)]
    format: Option<cmd::inspect::Template>,
    /// The functions
    #[arg(required = true, value_name = "NAME")]
    names: Vec<String>,
}

#[derive(Debug, Args)]
struct CallArgs {
    /// Wait for the call and write its output to STDOUT, instead of printing its id
    #[arg(long)]
    sync: bool,
    /// The function
    name: String,
}

#[derive(Debug, Args)]
struct GetArgs {
    /// Wait until the call has ended
    #[arg(long)]
    wait: bool,
    /// The call's id, as `faas func call` printed it
    #[arg(value_name = "CALL_ID")]
    call_id: String,
}

#[derive(Debug, Args)]
struct CallIdArg {
    /// The call's id, as `faas func call` printed it
    #[arg(value_name = "CALL_ID")]
    call_id: String,
}

#[derive(Debug, Args)]
struct LogsArgs {
    /// Keep printing events as they happen, until interrupted
    #[arg(short, long)]
    follow: bool,
    /// Print only the last N events ("all": every one)
    #[arg(long, value_name = "N", default_value = "all", value_parser = parse_tail)]
    tail: Tail,
    /// Print only the events of this call
    #[arg(long, value_name = "ID")]
    callid: Option<String>,
    /// Print only the events since this time: RFC 3339
    /// (2017-03-16T15:05:58Z), Unix seconds, or a duration back from now (10m, 1h30m)
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    since: Option<String>,
    /// The function
    name: String,
}

#[derive(Debug, Args)]
struct NameArg {
    /// The function
    name: String,
}

#[derive(Debug, Args)]
struct LoginArgs {
    /// The user
    #[arg(short, long, default_value = crate::config::DEFAULT_USERNAME)]
    username: String,
    /// The password (prefer --password-stdin: a flag shows in `ps`)
    #[arg(short, long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from STDIN
    #[arg(long)]
    password_stdin: bool,
}

/// `--size`: one of Hyper's container sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Size(&'static cmd::create::Size);

fn parse_size(s: &str) -> Result<Size, String> {
    cmd::create::size(s).map(Size).ok_or_else(|| {
        let names: Vec<&str> = cmd::create::SIZES.iter().map(|z| z.name).collect();
        format!("expected one of {}, got {s:?}", names.join(", "))
    })
}

fn parse_filter(s: &str) -> Result<cmd::ls::Filter, String> {
    cmd::ls::Filter::parse(s)
}

fn parse_template(s: &str) -> Result<cmd::inspect::Template, String> {
    cmd::inspect::Template::parse(s)
}

/// `--since` as the gateway takes it: RFC 3339 or Unix seconds; a duration
/// is counted back from now.
fn parse_since(s: &str) -> Result<String, String> {
    if s.parse::<i64>().is_ok() || chrono::DateTime::parse_from_rfc3339(s).is_ok() {
        return Ok(s.to_string());
    }
    let back = parse_duration(s).ok_or_else(|| {
        format!("expected an RFC 3339 time, Unix seconds or a duration such as 10m, got {s:?}")
    })?;
    let now: chrono::DateTime<chrono::Utc> = std::time::SystemTime::now().into();
    let then = now
        - chrono::Duration::seconds(
            i64::try_from(back)
                .unwrap_or(i64::MAX / 1000)
                .min(i64::MAX / 1000),
        );
    Ok(then.format("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// `1h30m`, `10m`, `45s`, `2d` as whole seconds.
fn parse_duration(s: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        let n: u64 = number.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        number.clear();
    }
    (number.is_empty() && !s.is_empty()).then_some(total)
}

/// `--tail`: a number, or every event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tail(Option<u64>);

fn parse_tail(s: &str) -> Result<Tail, String> {
    if s == "all" {
        return Ok(Tail(None));
    }
    s.parse()
        .map(|n| Tail(Some(n)))
        .map_err(|_| format!("expected a number or \"all\", got {s:?}"))
}

/// Parses the command line. `--help`, `--version` and usage errors print
/// what clap prints and exit here, as every clap program does.
pub fn parse<I>(args: I, lookup: Lookup) -> Result<(Config, Command), Error>
where
    I: IntoIterator<Item = OsString>,
{
    let cli = Cli::try_parse_from(args).unwrap_or_else(|e| e.exit());
    convert(cli, lookup)
}

fn convert(cli: Cli, lookup: Lookup) -> Result<(Config, Command), Error> {
    let config = Config::resolve(cli.gateway, lookup)?;
    let command = match cli.command {
        Top::Func(func) => func_command(func, lookup)?,
        Top::Login(a) => Command::Login(cmd::login::Options {
            username: a.username,
            password: a.password,
            password_stdin: a.password_stdin,
        }),
        Top::Completion { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "faas", &mut script);
            Command::Completion(script)
        }
    };
    Ok((config, command))
}

fn func_command(func: Func, lookup: Lookup) -> Result<Command, Error> {
    Ok(match func {
        Func::Create(a) => {
            let Some((image, command)) = a.image_and_command.split_first() else {
                return Err(Error::Usage("an IMAGE is required".into()));
            };
            let mut env = BTreeMap::new();
            for file in &a.env_file {
                env.extend(pairs_from_file(file, lookup)?);
            }
            env.extend(pairs(&a.env, lookup)?);
            let mut labels = BTreeMap::new();
            for file in &a.label_file {
                labels.extend(pairs_from_file(file, &|_| None)?);
            }
            labels.extend(pairs(&a.label, &|_| None)?);
            Command::Create(cmd::create::Options {
                name: a.name,
                image: image.clone(),
                command: command.to_vec(),
                timeout: a.timeout,
                env,
                labels,
                mode: a.mode.map(|m| match m {
                    Mode::PerCall => "per-call".to_string(),
                    Mode::Service => "service".to_string(),
                }),
                max_concurrency: a.max_concurrency,
                size: a.size.map(|s| s.0),
            })
        }
        Func::Update(a) => Command::Update(cmd::update::Options {
            name: a.name,
            env: pairs(&a.env, lookup)?,
            timeout: a.timeout,
            refresh: a.refresh,
            max_concurrency: a.max_concurrency,
        }),
        Func::Ls(a) => Command::Ls(cmd::ls::Options { filters: a.filter }),
        Func::Rm(RmArgs { names, force }) => Command::Rm(cmd::rm::Options { names, force }),
        Func::Inspect(InspectArgs { names, format }) => {
            Command::Inspect(cmd::inspect::Options { names, format })
        }
        Func::Call(CallArgs { name, sync }) => Command::Call(cmd::call::Options { name, sync }),
        Func::Get(GetArgs { call_id, wait }) => Command::Get(cmd::get::Options { call_id, wait }),
        Func::Cancel(CallIdArg { call_id }) => Command::Cancel(cmd::cancel::Options { call_id }),
        Func::Logs(a) => Command::Logs(cmd::logs::Options {
            name: a.name,
            follow: a.follow,
            tail: a.tail.0,
            callid: a.callid,
            since: a.since,
        }),
        Func::Status(a) => Command::Status(cmd::status::Options { name: a.name }),
    })
}

/// `KEY=VALUE` items; a bare `KEY` takes its value from `lookup` and is
/// left out when that has none (as `docker run -e KEY` does).
fn pairs(items: &[String], lookup: Lookup) -> Result<BTreeMap<String, String>, Error> {
    let mut out = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some(("", _)) => return Err(Error::Usage(format!("invalid KEY=VALUE: {item:?}"))),
            Some((key, value)) => {
                out.insert(key.to_string(), value.to_string());
            }
            None if item.is_empty() => {
                return Err(Error::Usage("invalid KEY=VALUE: an empty string".into()))
            }
            None => {
                if let Some(value) = lookup(item) {
                    out.insert(item.clone(), value);
                }
            }
        }
    }
    Ok(out)
}

/// A file of `KEY=VALUE` lines; blank lines and `#` comments are skipped.
fn pairs_from_file(path: &Path, lookup: Lookup) -> Result<BTreeMap<String, String>, Error> {
    let text = std::fs::read_to_string(path).map_err(Error::file(path))?;
    let lines: Vec<String> = text
        .lines()
        .map(str::trim_start)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    pairs(&lines, lookup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Command {
        let cli = Cli::try_parse_from(args.iter().map(OsString::from)).unwrap();
        convert(cli, &|k| (k == "FROM_HERE").then(|| "here".to_string()))
            .unwrap()
            .1
    }

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn create_options_end_at_the_image() {
        let Command::Create(o) = parse_ok(&[
            "faas",
            "func",
            "create",
            "--name",
            "x",
            "-e",
            "A=1",
            "-e",
            "FROM_HERE",
            "-e",
            "UNSET",
            "img",
            "sh",
            "-c",
            "exit 3",
            "--name",
            "y",
        ]) else {
            panic!("not a create")
        };
        assert_eq!(o.name.as_deref(), Some("x"));
        assert_eq!(o.image, "img");
        assert_eq!(o.command, ["sh", "-c", "exit 3", "--name", "y"]);
        assert_eq!(o.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(o.env.get("FROM_HERE").map(String::as_str), Some("here"));
        assert!(!o.env.contains_key("UNSET"));
    }

    #[test]
    fn create_takes_a_command_of_flags() {
        let Command::Create(o) = parse_ok(&["faas", "func", "create", "img", "--name", "y"]) else {
            panic!("not a create")
        };
        assert_eq!(o.name, None);
        assert_eq!(o.command, ["--name", "y"]);
    }

    #[test]
    fn logs_tail_is_a_number_or_all() {
        let Command::Logs(o) = parse_ok(&["faas", "func", "logs", "--tail", "5", "-f", "f"]) else {
            panic!("not logs")
        };
        assert_eq!((o.tail, o.follow), (Some(5), true));
        let Command::Logs(o) = parse_ok(&["faas", "func", "logs", "f"]) else {
            panic!("not logs")
        };
        assert_eq!(o.tail, None);
        assert!(Cli::try_parse_from(["faas", "func", "logs", "--tail", "x", "f"]).is_err());
    }

    #[test]
    fn hypers_additions_parse() {
        let Command::Create(o) = parse_ok(&["faas", "func", "create", "--size", "s3", "img"])
        else {
            panic!("not a create")
        };
        assert_eq!(o.size.map(|s| s.memory), Some("256Mi"));
        assert!(Cli::try_parse_from(["faas", "func", "create", "--size", "xl", "img"]).is_err());
        let Command::Ls(o) = parse_ok(&[
            "faas",
            "func",
            "ls",
            "-f",
            "name=he",
            "--filter",
            "image=ubuntu",
        ]) else {
            panic!("not ls")
        };
        assert_eq!(o.filters.len(), 2);
        assert!(Cli::try_parse_from(["faas", "func", "ls", "-f", "size=s1"]).is_err());
        let Command::Inspect(o) = parse_ok(&["faas", "func", "inspect", "-f", "{{.Name}}", "f"])
        else {
            panic!("not inspect")
        };
        assert!(o.format.is_some());
        let Command::Logs(o) = parse_ok(&["faas", "func", "logs", "--since", "10m", "f"]) else {
            panic!("not logs")
        };
        assert!(o
            .since
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(&t).is_ok()));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("10"), None);
        assert!(parse_since("2017-03-16T15:05:58Z").is_ok() && parse_since("soon").is_err());
    }

    #[test]
    fn pairs_need_a_key() {
        assert!(pairs(&["=1".to_string()], &|_| None).is_err());
        let p = pairs(&["A=b=c".to_string(), "E=".to_string()], &|_| None).unwrap();
        assert_eq!(p.get("A").map(String::as_str), Some("b=c"));
        assert_eq!(p.get("E").map(String::as_str), Some(""));
    }
}

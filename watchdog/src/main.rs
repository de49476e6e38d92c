//! `fwatchdog`: reads its configuration from the environment and serves until
//! SIGTERM. `fwatchdog --run-healthcheck` exits 0 while the lock file exists;
//! `fwatchdog --once -- ARGV...` serves one call over STDIN/STDOUT (the
//! launcher in a warm container, `watchdog::once`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use watchdog::config::Mode;
use watchdog::{lock, server, Config};

const HELP: &str = "fwatchdog: an HTTP server that runs $fprocess once per request, the request body on its STDIN, its STDOUT as the response.

Usage: fwatchdog               serve (configured by environment variables)
       fwatchdog --run-healthcheck   exit 0 while the lock file exists
       fwatchdog --once -- ARGV...   run ARGV for exactly one call framed on STDIN/STDOUT
                                     (the launcher of the gateway's warm containers)

Variables: fprocess (required), mode (fork: a process per request; http: fprocess
started once, an HTTP server at upstream_url each request is passed to),
port (8080; 0: any free port, named at start), read_timeout (10s), write_timeout (10s),
exec_timeout (0: none), max_inflight (0: none), healthcheck_interval (0),
max_input_bytes (1048576), max_output_bytes (1048576), content_type, cgi_headers (true),
combine_output (true), write_debug (false), suppress_lock (false),
gateway_token (unset: every request is answered; set: only requests whose
X-Faas-Gateway-Token header carries it, but /_/health).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--once") {
        let argv = match args.get(1).map(String::as_str) {
            Some("--") => args[2..].to_vec(),
            _ => args[1..].to_vec(),
        };
        return once(argv);
    }
    if args
        .iter()
        .any(|a| a == "--run-healthcheck" || a == "-run-healthcheck")
    {
        return if lock::exists() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return ExitCode::SUCCESS;
    }
    if let Some(arg) = args.first() {
        eprintln!("fwatchdog: unknown argument {arg:?}: see fwatchdog --help");
        return ExitCode::from(2);
    }
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(err) => {
            eprintln!("fwatchdog: {err}");
            return ExitCode::from(2);
        }
    };
    block_on(
        tokio::runtime::Builder::new_multi_thread(),
        "fwatchdog",
        run(config),
    )
}

/// `--once`: one call, on a single thread (an idle launcher should cost
/// next to nothing).
fn once(argv: Vec<String>) -> ExitCode {
    if argv.is_empty() {
        eprintln!("fwatchdog: --once needs the command to run: fwatchdog --once -- ARGV...");
        return ExitCode::from(2);
    }
    block_on(
        tokio::runtime::Builder::new_current_thread(),
        "fwatchdog --once",
        async {
            let (input, output) = watchdog::once::stdio();
            watchdog::once::serve(argv, input, output).await
        },
    )
}

/// Runs `work` to its end on a runtime from `builder`: success, or its
/// error on STDERR after `who` and failure.
fn block_on<E: std::fmt::Display>(
    mut builder: tokio::runtime::Builder,
    who: &str,
    work: impl std::future::Future<Output = Result<(), E>>,
) -> ExitCode {
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("fwatchdog: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{who}: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    let port = config.port;
    let listener = tokio::net::TcpListener::bind(std::net::SocketAddr::from(([0, 0, 0, 0], port)))
        .await
        .map_err(|e| format!("cannot listen on port {port}: {e} (set port to a free one)"))?;
    // In http mode the lock follows fprocess's readiness instead.
    if !config.suppress_lock && config.mode == Mode::Fork {
        lock::create().map_err(|e| {
            format!(
                "cannot write the lock file {}: {e} (set TMPDIR or suppress_lock=true)",
                lock::path().display()
            )
        })?;
    }
    server::serve(listener, config, shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    eprintln!("fwatchdog: stopped");
    Ok(())
}

/// Completes on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

//! `faas func logs [-f] [--tail N] [--callid ID] [--since TIME] NAME`: the
//! function's call events and the lines it wrote to STDERR, one line each in
//! Hyper Func's format, their control characters escaped; `-f` keeps reading
//! the gateway's stream until interrupted.

use std::io::{BufRead, BufReader, Write};

use crate::client::Gateway;
use crate::cmd::write;
use crate::config::Config;
use crate::error::Error;
use crate::escape;
use crate::format::{log_line, Event};

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub name: String,
    pub follow: bool,
    /// None: every event kept.
    pub tail: Option<u64>,
    pub callid: Option<String>,
    /// RFC 3339 or Unix seconds: only events since then.
    pub since: Option<String>,
}

pub fn run(config: &Config, o: Options, out: &mut dyn Write) -> Result<(), Error> {
    let gateway = Gateway::new(config)?;
    let resp = gateway.logs(
        &o.name,
        o.callid.as_deref(),
        o.tail,
        o.since.as_deref(),
        o.follow,
    )?;
    let mut reader = BufReader::new(resp);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| gateway.unreachable(&e))?;
        if n == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(text) {
            Ok(event) => write(out, &log_line(&event))?,
            // Not an event: show it rather than lose it.
            Err(_) => write(out, &format!("{}\n", escape::line(text)))?,
        }
    }
}

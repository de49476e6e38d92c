//! `faas func call [--sync] NAME`: calls a function with STDIN as its input
//! when STDIN is not a terminal. Async (the default) prints `CallId: <id>`;
//! `--sync` writes the raw output to STDOUT, byte for byte (escaped when
//! STDOUT is a terminal), and a failed call prints its output too before the
//! error.

use std::io::{IsTerminal, Read, Write};

use reqwest::StatusCode;

use crate::client::{call_id, gateway_error, Gateway};
use crate::cmd::{copy_output, write};
use crate::config::Config;
use crate::error::Error;
use crate::escape::line;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub name: String,
    pub sync: bool,
}

pub fn run(config: &Config, o: Options, out: &mut dyn Write) -> Result<(), Error> {
    let gateway = Gateway::new(config)?;
    let input = read_input()?;
    if !o.sync {
        let id = gateway.call_async(&o.name, input)?;
        return write(out, &format!("CallId: {}\n", line(&id)));
    }
    let resp = gateway.call_sync(&o.name, input)?;
    let status = resp.status();
    if status.is_success() {
        return copy_output(&gateway, resp, out);
    }
    let id = call_id(&resp).unwrap_or_default();
    match status {
        StatusCode::NOT_FOUND => Err(Error::NoSuchFunction(o.name)),
        // The function ran: its output is the body.
        StatusCode::INTERNAL_SERVER_ERROR | StatusCode::GATEWAY_TIMEOUT => {
            copy_output(&gateway, resp, out)?;
            Err(failure(&gateway, &id, status))
        }
        _ => Err(gateway_error(resp)),
    }
}

/// STDIN when it is not a terminal, else nothing.
fn read_input() -> Result<Vec<u8>, Error> {
    let stdin = std::io::stdin();
    let mut input = Vec::new();
    if !stdin.is_terminal() {
        stdin
            .lock()
            .read_to_end(&mut input)
            .map_err(Error::io("reading STDIN"))?;
    }
    Ok(input)
}

/// The error for call `id` that ended with `status`, with the gateway's
/// message from the call's record when it can be read.
pub fn failure(gateway: &Gateway, id: &str, status: StatusCode) -> Error {
    let record = if id.is_empty() {
        None
    } else {
        gateway.call_record(id).ok()
    };
    let message = record
        .as_ref()
        .and_then(|r| r["Message"].as_str())
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| match status {
            StatusCode::GATEWAY_TIMEOUT => "it timed out".to_string(),
            s => format!("the gateway answered {s}"),
        });
    Error::CallFailed {
        id: id.to_string(),
        message,
    }
}

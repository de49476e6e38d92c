//! `faas func get [--wait] CALL_ID`: writes a call's raw output to STDOUT
//! (escaped when STDOUT is a terminal); `--wait` blocks until the call has
//! ended. A failed call's output is written too, then the error.

use std::io::Write;

use reqwest::StatusCode;

use crate::client::{gateway_error, Gateway};
use crate::cmd::call::failure;
use crate::cmd::copy_output;
use crate::config::Config;
use crate::error::Error;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub call_id: String,
    pub wait: bool,
}

pub fn run(config: &Config, o: Options, out: &mut dyn Write) -> Result<(), Error> {
    let gateway = Gateway::new(config)?;
    let resp = gateway.output(&o.call_id, o.wait)?;
    let status = resp.status();
    match status {
        StatusCode::OK => copy_output(&gateway, resp, out),
        // 400: not even a UUID.
        StatusCode::NOT_FOUND | StatusCode::BAD_REQUEST => Err(Error::NoSuchCallId(o.call_id)),
        StatusCode::GONE => Err(Error::OutputGone(o.call_id)),
        StatusCode::INTERNAL_SERVER_ERROR | StatusCode::GATEWAY_TIMEOUT => {
            copy_output(&gateway, resp, out)?;
            Err(failure(&gateway, &o.call_id, status))
        }
        s if s.is_success() => {
            // 201/202: queued or running, and we were not asked to wait.
            let record = gateway.call_record(&o.call_id).ok();
            let state = record
                .as_ref()
                .and_then(|r| r["Status"].as_str())
                .map(str::to_lowercase)
                .unwrap_or_else(|| "not finished".to_string());
            Err(Error::NotFinished {
                id: o.call_id,
                status: state,
            })
        }
        _ => Err(gateway_error(resp)),
    }
}

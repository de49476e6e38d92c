//! `faas func cancel CALL_ID`: cancels a queued or running async call (a
//! queued one never runs, a running one is killed), printing its id.

use std::io::Write;

use crate::client::Gateway;
use crate::cmd::write;
use crate::config::Config;
use crate::error::Error;
use crate::escape::line;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub call_id: String,
}

pub fn run(config: &Config, o: Options, out: &mut dyn Write) -> Result<(), Error> {
    let gateway = Gateway::new(config)?;
    gateway.cancel(&o.call_id)?;
    write(out, &format!("{}\n", line(&o.call_id)))
}

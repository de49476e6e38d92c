//! `faas func rm NAME...`: removes each function, printing its name; goes on
//! after an error and exits 1 at the end if there was one.

use std::io::Write;

use crate::client::Gateway;
use crate::cmd::{warn, write};
use crate::config::Config;
use crate::error::Error;
use crate::escape::line;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub names: Vec<String>,
    /// Kill running calls instead of waiting for them.
    pub force: bool,
}

pub fn run(config: &Config, o: Options, out: &mut dyn Write) -> Result<(), Error> {
    let gateway = Gateway::new(config)?;
    let mut failed = false;
    for name in &o.names {
        match gateway.remove(name, o.force) {
            Ok(()) => write(out, &format!("{}\n", line(name)))?,
            // Nothing more will work: say it once.
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => {
                warn(&e);
                failed = true;
            }
        }
    }
    if failed {
        Err(Error::Reported)
    } else {
        Ok(())
    }
}

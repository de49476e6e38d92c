//! `faas completion <shell>`: prints the script `cli` generated with clap_complete.

use std::io::Write;

use crate::error::Error;

pub fn run(script: &[u8], out: &mut dyn Write) -> Result<(), Error> {
    out.write_all(script)
        .and_then(|()| out.flush())
        .map_err(Error::io("writing STDOUT"))
}

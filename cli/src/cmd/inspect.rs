//! `faas func inspect NAME...`: the functions as a JSON array, as
//! `docker inspect` prints one; unknown names are reported on STDERR and make
//! the exit status 1.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use crate::client::Gateway;
use crate::cmd::{warn, write};
use crate::config::Config;
use crate::error::Error;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub names: Vec<String>,
}

pub fn run(config: &Config, o: Options, out: &mut dyn Write) -> Result<(), Error> {
    let gateway = Gateway::new(config)?;
    let mut found = Vec::new();
    let mut failed = false;
    for name in &o.names {
        match gateway.function(name) {
            Ok(f) => found.push(f),
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => {
                warn(&e);
                failed = true;
            }
        }
    }
    write(out, &render(&found))?;
    if failed {
        Err(Error::Reported)
    } else {
        Ok(())
    }
}

/// A JSON array indented by four spaces, newline-terminated.
pub fn render(functions: &[Value]) -> String {
    let mut buf = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, formatter);
    if functions.serialize(&mut ser).is_err() {
        return "[]\n".to_string();
    }
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inspect_prints_an_array() {
        assert_eq!(render(&[]), "[]\n");
        assert_eq!(
            render(&[json!({"name": "f"})]),
            "[\n    {\n        \"name\": \"f\"\n    }\n]\n"
        );
    }
}

//! `faas func ls`: the functions as a table, `NAME IMAGE COMMAND CREATED UUID`.

use std::io::Write;
use std::time::SystemTime;

use serde_json::Value;

use crate::client::Gateway;
use crate::cmd::write;
use crate::config::Config;
use crate::error::Error;
use crate::format::{ago, table};

const HEADERS: [&str; 5] = ["NAME", "IMAGE", "COMMAND", "CREATED", "UUID"];

pub fn run(config: &Config, out: &mut dyn Write) -> Result<(), Error> {
    let gateway = Gateway::new(config)?;
    let functions = gateway.functions()?;
    write(out, &render(&functions, SystemTime::now()))
}

/// The table, sorted by name.
pub fn render(functions: &[Value], now: SystemTime) -> String {
    let mut rows: Vec<Vec<String>> = functions
        .iter()
        .map(|f| {
            vec![
                text(&f["name"]),
                text(&f["image"]),
                command(f),
                ago(&f["created"], now),
                text(&f["uuid"]),
            ]
        })
        .collect();
    rows.sort();
    table(&HEADERS, &rows)
}

/// The command as a shell would read it; a service shows its `envProcess`.
fn command(f: &Value) -> String {
    match f["command"].as_array() {
        Some(argv) if !argv.is_empty() => {
            let words: Vec<String> = argv.iter().map(text).collect();
            shell_words::join(words)
        }
        _ => text(&f["envProcess"]),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn the_table_has_hypers_columns() {
        let now = UNIX_EPOCH + Duration::from_secs(1489676758 + 300);
        let functions = [
            json!({"name": "zed", "image": "alpine", "envProcess": "cat",
                   "created": "2017-03-16T15:05:58Z", "uuid": "u2"}),
            json!({"name": "helloworld", "image": "ubuntu", "command": ["echo", "Hello World"],
                   "created": "2017-03-16T15:05:58Z", "uuid": "u1"}),
        ];
        assert_eq!(
            render(&functions, now),
            "NAME         IMAGE    COMMAND              CREATED         UUID\n\
             helloworld   ubuntu   echo 'Hello World'   5 minutes ago   u1\n\
             zed          alpine   cat                  5 minutes ago   u2\n"
        );
    }
}

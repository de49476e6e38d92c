//! `faas func ls [-f KEY=VALUE]...`: the functions as a table,
//! `NAME IMAGE COMMAND CREATED UUID`, those that every filter matches.

use std::io::Write;
use std::time::SystemTime;

use serde_json::Value;

use crate::client::Gateway;
use crate::cmd::write;
use crate::config::Config;
use crate::error::Error;
use crate::format::{ago, table};

const HEADERS: [&str; 5] = ["NAME", "IMAGE", "COMMAND", "CREATED", "UUID"];

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub filters: Vec<Filter>,
}

/// `-f/--filter`, as Hyper's and Docker's `ls` take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `name=<part>`: the name contains it.
    Name(String),
    /// `image=<image>`: the image is it, with any tag or digest.
    Image(String),
}

impl Filter {
    pub fn parse(s: &str) -> Result<Filter, String> {
        match s.split_once('=') {
            Some(("name", part)) => Ok(Filter::Name(part.to_string())),
            Some(("image", image)) if !image.is_empty() => Ok(Filter::Image(image.to_string())),
            _ => Err(format!(
                "expected name=<part of a name> or image=<image>, got {s:?}"
            )),
        }
    }

    pub fn matches(&self, f: &Value) -> bool {
        match self {
            Filter::Name(part) => text(&f["name"]).contains(part.as_str()),
            Filter::Image(wanted) => {
                let image = text(&f["image"]);
                image == *wanted
                    || image
                        .strip_prefix(wanted.as_str())
                        .is_some_and(|rest| rest.starts_with([':', '@']))
            }
        }
    }
}

pub fn run(config: &Config, o: Options, out: &mut dyn Write) -> Result<(), Error> {
    let gateway = Gateway::new(config)?;
    let functions: Vec<Value> = gateway
        .functions()?
        .into_iter()
        .filter(|f| o.filters.iter().all(|filter| filter.matches(f)))
        .collect();
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
    fn filters_match_part_of_a_name_and_an_image_with_any_tag() {
        let f = json!({"name": "helloworld", "image": "ubuntu:16.04"});
        let yes = ["name=hello", "name=", "image=ubuntu", "image=ubuntu:16.04"];
        for filter in yes {
            assert!(Filter::parse(filter).unwrap().matches(&f), "{filter}");
        }
        for filter in ["name=bye", "image=ubunt", "image=ubuntu:18.04"] {
            assert!(!Filter::parse(filter).unwrap().matches(&f), "{filter}");
        }
        assert!(Filter::parse("size=s1").is_err() && Filter::parse("image=").is_err());
    }

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

//! `faas func inspect [-f TEMPLATE] NAME...`: the functions as a JSON
//! array, as `docker inspect` prints one, or each through a small template
//! (`{{.Name}} {{.Address}}`); unknown names are reported on STDERR and
//! make the exit status 1. A field's control characters are escaped: a
//! template's text fields to one line, JSON's as JSON's `\u00HH`.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use crate::client::Gateway;
use crate::cmd::{warn, write};
use crate::config::Config;
use crate::error::Error;
use crate::escape;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub names: Vec<String>,
    pub format: Option<Template>,
}

/// A template of `-f/--format`: text with `{{.Field.Sub}}` and
/// `{{json .Field}}` (and `{{json .}}`) in it. Fields are the function's
/// JSON names in any case (`.Name`, `.UUID`, `.EnvVars.HOME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field { path: Vec<String>, json: bool },
}

impl Template {
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = s;
        while let Some(start) = rest.find("{{") {
            pieces.push(Piece::Text(rest[..start].to_string()));
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("template {s:?}: {{{{ without }}}}"))?;
            let action = after[..end].trim();
            let (json, field) = match action.strip_prefix("json ") {
                Some(field) => (true, field.trim()),
                None => (false, action),
            };
            let path = field.strip_prefix('.').ok_or_else(|| {
                format!("template {s:?}: {{{{{action}}}}} is not a field: use {{{{.Name}}}} or {{{{json .Labels}}}}")
            })?;
            let path = path
                .split('.')
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            pieces.push(Piece::Field { path, json });
            rest = &after[end + 2..];
        }
        pieces.push(Piece::Text(rest.to_string()));
        Ok(Template(pieces))
    }

    /// `function` through the template; a field it does not have is an error.
    pub fn render(&self, function: &Value) -> Result<String, Error> {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Field { path, json } => {
                    let mut value = function;
                    for key in path {
                        value = field(value, key).ok_or_else(|| {
                            Error::Usage(format!(
                                "template: no field {key:?} in .{}",
                                path.join(".")
                            ))
                        })?;
                    }
                    match (value, json) {
                        (Value::String(s), false) => out.push_str(&escape::line(s)),
                        (Value::Null, false) => out.push_str("<no value>"),
                        (other, _) => out.push_str(&escape::json(&other.to_string())),
                    }
                }
            }
        }
        out.push('\n');
        Ok(out)
    }
}

/// The field `key` of `value`: its exact name, else any case.
fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    let object = value.as_object()?;
    object.get(key).or_else(|| {
        object
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
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
    match &o.format {
        Some(template) => {
            for function in &found {
                write(out, &template.render(function)?)?;
            }
        }
        None => write(out, &render(&found))?,
    }
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
    let mut text = escape::json(&String::from_utf8_lossy(&buf));
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_print_fields_by_any_case() {
        let f = json!({"name": "hello", "address": "http://x/call/hello/u", "envVars": {"A": "1"},
            "labels": {"k": "v"}, "timeout": 300});
        let t = Template::parse(
            "{{.Name}} {{ .Address }} {{.EnvVars.A}} {{.Timeout}} {{json .Labels}}",
        )
        .unwrap();
        assert_eq!(
            t.render(&f).unwrap(),
            "hello http://x/call/hello/u 1 300 {\"k\":\"v\"}\n"
        );
        assert!(Template::parse("{{.Name}").is_err());
        assert!(Template::parse("{{Name}}").is_err());
        assert!(Template::parse("{{.Nope}}").unwrap().render(&f).is_err());
        assert_eq!(
            Template::parse("{{json .}}")
                .unwrap()
                .render(&json!({"a": 1}))
                .unwrap(),
            "{\"a\":1}\n"
        );
    }

    #[test]
    fn hostile_fields_are_printed_escaped() {
        let hostile = "v\x1b]0;owned\x07\n[FINISHED]\u{9b}2J\u{7f}";
        let f = json!({"name": "f", "labels": {"k": hostile}, "annotations": {hostile: "a"}});
        let t = Template::parse("{{.Labels.k}}|{{json .Annotations}}").unwrap();
        assert_eq!(
            t.render(&f).unwrap(),
            "v\\x1b]0;owned\\x07\\n[FINISHED]\\u{9b}2J\\x7f|\
             {\"v\\u001b]0;owned\\u0007\\n[FINISHED]\\u009b2J\\u007f\":\"a\"}\n"
        );
        let text = render(std::slice::from_ref(&f));
        assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, json!([f]));
    }

    #[test]
    fn inspect_prints_an_array() {
        assert_eq!(render(&[]), "[]\n");
        assert_eq!(
            render(&[json!({"name": "f"})]),
            "[\n    {\n        \"name\": \"f\"\n    }\n]\n"
        );
    }
}

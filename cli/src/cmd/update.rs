//! `faas func update`: changes a function's environment, timeout or
//! concurrency, or (`--refresh`) its UUID, and prints its address. The gateway
//! replaces a deployment whole on PUT, so the current one is read first and
//! the changes applied to it.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{json, Map, Value};

use crate::client::Gateway;
use crate::cmd::{address, write};
use crate::config::Config;
use crate::error::Error;
use crate::escape::line;

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub name: String,
    pub env: BTreeMap<String, String>,
    pub timeout: Option<u64>,
    pub refresh: bool,
    pub max_concurrency: Option<u32>,
}

pub fn run(config: &Config, o: Options, out: &mut dyn Write) -> Result<(), Error> {
    let gateway = Gateway::new(config)?;
    let current = gateway.function(&o.name)?;
    gateway.deploy(false, &deployment(&o, &current))?;
    let function = gateway.function(&o.name)?;
    let url = address(gateway.base(), &function, &o.name);
    write(
        out,
        &format!(
            "{} is updated with the address of {}\n",
            line(&o.name),
            line(&url)
        ),
    )
}

/// The deployment for PUT: the function as it is listed, with `o` applied.
pub fn deployment(o: &Options, current: &Value) -> Value {
    let mut d = json!({ "service": o.name });
    for key in [
        "image",
        "mode",
        "command",
        "envProcess",
        "envVars",
        "labels",
        "annotations",
        "constraints",
        "secrets",
        "limits",
        "requests",
        "readOnlyRootFilesystem",
        "network",
        "timeout",
        "maxConcurrency",
    ] {
        match &current[key] {
            Value::Null => {}
            v => d[key] = v.clone(),
        }
    }
    if !o.env.is_empty() {
        let mut env = match &current["envVars"] {
            Value::Object(m) => m.clone(),
            _ => Map::new(),
        };
        for (k, v) in &o.env {
            env.insert(k.clone(), json!(v));
        }
        d["envVars"] = Value::Object(env);
    }
    if let Some(t) = o.timeout {
        d["timeout"] = json!(t);
    }
    if let Some(n) = o.max_concurrency {
        d["maxConcurrency"] = json!(n);
    }
    if o.refresh {
        d["refresh"] = json!(true);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_to_the_current_deployment() {
        let current = json!({"name": "f", "image": "ubuntu", "command": ["cat"],
            "envVars": {"A": "1", "B": "2"}, "timeout": 300, "uuid": "u",
            "invocationCount": 3});
        let o = Options {
            name: "f".into(),
            env: [("B".to_string(), "3".to_string())].into(),
            timeout: Some(10),
            refresh: true,
            ..Options::default()
        };
        assert_eq!(
            deployment(&o, &current),
            json!({"service": "f", "image": "ubuntu", "command": ["cat"],
                   "envVars": {"A": "1", "B": "3"}, "timeout": 10, "refresh": true})
        );
    }
}

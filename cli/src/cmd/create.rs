//! `faas func create`: deploys a function (`POST /system/functions`) and
//! prints `<name> is created with the address of <url>`.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{json, Value};

use crate::client::Gateway;
use crate::cmd::{address, write};
use crate::config::Config;
use crate::error::Error;
use crate::escape::line;

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// None: made up from the image's name.
    pub name: Option<String>,
    pub image: String,
    /// argv of each call; empty: the image's own.
    pub command: Vec<String>,
    pub timeout: Option<u64>,
    pub env: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    /// `per-call` or `service`; None lets the gateway decide (docs/api.md).
    pub mode: Option<String>,
    pub max_concurrency: Option<u32>,
    /// Hyper's container size: the function's limits.
    pub size: Option<&'static Size>,
}

/// One of Hyper Func's container sizes, as the limits a deployment sets.
#[derive(Debug, PartialEq, Eq)]
pub struct Size {
    pub name: &'static str,
    pub memory: &'static str,
    pub cpu: &'static str,
}

/// Hyper's sizes, smallest first.
pub static SIZES: [Size; 10] = [
    Size {
        name: "s1",
        memory: "64Mi",
        cpu: "0.25",
    },
    Size {
        name: "s2",
        memory: "128Mi",
        cpu: "0.25",
    },
    Size {
        name: "s3",
        memory: "256Mi",
        cpu: "0.5",
    },
    Size {
        name: "s4",
        memory: "512Mi",
        cpu: "1",
    },
    Size {
        name: "m1",
        memory: "1Gi",
        cpu: "1",
    },
    Size {
        name: "m2",
        memory: "2Gi",
        cpu: "2",
    },
    Size {
        name: "m3",
        memory: "4Gi",
        cpu: "2",
    },
    Size {
        name: "l1",
        memory: "4Gi",
        cpu: "4",
    },
    Size {
        name: "l2",
        memory: "8Gi",
        cpu: "4",
    },
    Size {
        name: "l3",
        memory: "16Gi",
        cpu: "8",
    },
];

/// The size called `name` (any case).
pub fn size(name: &str) -> Option<&'static Size> {
    SIZES.iter().find(|s| s.name.eq_ignore_ascii_case(name))
}

pub fn run(config: &Config, o: Options, out: &mut dyn Write) -> Result<(), Error> {
    let gateway = Gateway::new(config)?;
    let name = o
        .name
        .clone()
        .unwrap_or_else(|| generated_name(&o.image, &uuid::Uuid::new_v4().simple().to_string()));
    gateway.deploy(true, &deployment(&name, &o))?;
    let function = gateway.function(&name)?;
    let url = address(gateway.base(), &function, &name);
    write(
        out,
        &format!(
            "{} is created with the address of {}\n",
            line(&name),
            line(&url)
        ),
    )
}

/// The deployment JSON (docs/api.md) for `o`.
pub fn deployment(name: &str, o: &Options) -> Value {
    let mut d = json!({ "service": name, "image": o.image });
    if !o.command.is_empty() {
        d["command"] = json!(o.command);
        if o.mode.as_deref() == Some("service") {
            // A service's watchdog reads its command from `fprocess`.
            d["envProcess"] = json!(shell_words::join(&o.command));
        }
    }
    if let Some(mode) = &o.mode {
        d["mode"] = json!(mode);
    }
    if !o.env.is_empty() {
        d["envVars"] = json!(o.env);
    }
    if !o.labels.is_empty() {
        d["labels"] = json!(o.labels);
    }
    if let Some(t) = o.timeout {
        d["timeout"] = json!(t);
    }
    if let Some(n) = o.max_concurrency {
        d["maxConcurrency"] = json!(n);
    }
    if let Some(size) = o.size {
        d["limits"] = json!({"memory": size.memory, "cpu": size.cpu});
    }
    d
}

/// `docker.io/library/Ubuntu:16.04` → `ubuntu-<first 6 of suffix>`: a valid
/// function name (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters).
pub fn generated_name(image: &str, suffix: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    let base = last.split(['@', ':']).next().unwrap_or(last);
    let mut clean: String = base
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    clean.truncate(50);
    let clean = clean.trim_matches('-');
    let suffix: String = suffix.chars().take(6).collect();
    if clean.is_empty() {
        format!("func-{suffix}")
    } else {
        format!("{clean}-{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deployment_has_what_was_given() {
        let o = Options {
            image: "ubuntu".into(),
            command: vec!["echo".into(), "Hello World".into()],
            timeout: Some(30),
            env: [("A".to_string(), "1".to_string())].into(),
            ..Options::default()
        };
        assert_eq!(
            deployment("hello", &o),
            json!({"service": "hello", "image": "ubuntu", "command": ["echo", "Hello World"],
                   "envVars": {"A": "1"}, "timeout": 30})
        );
        let service = Options {
            mode: Some("service".into()),
            ..o
        };
        assert_eq!(
            deployment("hello", &service)["envProcess"],
            json!("echo 'Hello World'")
        );
    }

    #[test]
    fn names_are_made_from_the_image() {
        assert_eq!(
            generated_name("docker.io/library/Ubuntu:16.04", "abcdef0123"),
            "ubuntu-abcdef"
        );
        assert_eq!(generated_name("a/b_c@sha256:00", "123456"), "b-c-123456");
        assert_eq!(generated_name("__", "123456"), "func-123456");
    }
}

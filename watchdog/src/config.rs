//! The watchdog's configuration, read from environment variables as
//! OpenFaaS's classic watchdog reads them. Parsing takes a lookup function so
//! tests need not touch the process environment.

use std::time::Duration;

use crate::duration;
use crate::http_mode::UpstreamUrl;
use crate::token::{self, Token};

/// How requests are served (`mode`).
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// `fork` (the default): `fprocess` spawned per request.
    Fork,
    /// `http`: `fprocess` started once, a server every request is passed
    /// to, at `upstream_url`.
    Http(UpstreamUrl),
}

/// Everything `fwatchdog` is configured with (docs/watchdog.md).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Fork per request, or proxy to one long-running process.
    pub mode: Mode,
    /// The command spawned per request (in http mode: once), already
    /// split into words.
    pub fprocess: Vec<String>,
    /// TCP port to listen on.
    pub port: u16,
    /// How long reading, writing, running and draining may take.
    pub timeouts: Timeouts,
    /// Requests beyond this many at once get 429 (`None`: no limit).
    pub max_inflight: Option<usize>,
    /// Larger request bodies get 413.
    pub max_input_bytes: u64,
    /// Larger outputs kill the process and answer 502.
    pub max_output_bytes: usize,
    /// Fixed response Content-Type; `None` echoes the request's.
    pub content_type: Option<String>,
    /// Pass request headers as `Http_*` variables.
    pub cgi_headers: bool,
    /// Send STDERR along with STDOUT in the response.
    pub combine_output: bool,
    /// Log each request's input and output.
    pub write_debug: bool,
    /// Do not write the health lock file.
    pub suppress_lock: bool,
    /// The token every request but health must carry (`None`: any
    /// request is answered).
    pub gateway_token: Option<Token>,
}

/// The watchdog's time limits (of-watchdog's `*_timeout` variables).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// Longest wait for a request's headers and then for its body.
    pub read: Duration,
    /// Longest time to write a response; also the drain limit at SIGTERM.
    pub write: Duration,
    /// How long health answers 503 at SIGTERM, while requests are still
    /// served, before the port closes (so probes see it first).
    pub healthcheck_interval: Duration,
    /// Kill a process running longer than this (`None`: no limit).
    pub exec: Option<Duration>,
}

/// A variable that is missing or cannot be parsed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ConfigError {
    #[error("fprocess is not set: set it to the command to run per request, e.g. fprocess=cat")]
    MissingFprocess,
    #[error("fprocess {0:?} cannot be split into words: {1}")]
    BadFprocess(String, String),
    #[error("{name}={value:?} is not a duration: use seconds (30) or units (1m30s, 500ms)")]
    BadDuration { name: &'static str, value: String },
    #[error("{name}={value:?} is not a whole number")]
    BadNumber { name: &'static str, value: String },
    #[error("{name}={value:?} is not a boolean: use true or false")]
    BadBool { name: &'static str, value: String },
    #[error("mode={0:?} is not a watchdog mode: use fork (the default, a process per request) or http (one process, upstream_url)")]
    BadMode(String),
    #[error("mode=http needs upstream_url, where fprocess listens, e.g. upstream_url=http://127.0.0.1:5000")]
    MissingUpstream,
    #[error("upstream_url={0:?} cannot be used: {1}")]
    BadUpstream(String, String),
}

pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `get`, which returns a variable's value.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let raw = get("fprocess").ok_or(ConfigError::MissingFprocess)?;
        let fprocess = shell_words::split(&raw)
            .map_err(|e| ConfigError::BadFprocess(raw.clone(), e.to_string()))?;
        if fprocess.is_empty() {
            return Err(ConfigError::MissingFprocess);
        }
        let duration = |name: &'static str, default: Duration| match get(name) {
            None => Ok(default),
            Some(value) => duration::parse(&value).ok_or(ConfigError::BadDuration { name, value }),
        };
        let number = |name: &'static str, default: u64| match get(name) {
            None => Ok(default),
            Some(value) => value
                .trim()
                .parse::<u64>()
                .map_err(|_| ConfigError::BadNumber { name, value }),
        };
        let boolean = |name: &'static str, default: bool| match get(name) {
            None => Ok(default),
            Some(value) => match value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(ConfigError::BadBool { name, value }),
            },
        };
        let port = number("port", 8080)?;
        let port = u16::try_from(port).map_err(|_| ConfigError::BadNumber {
            name: "port",
            value: port.to_string(),
        })?;
        let exec_timeout = duration("exec_timeout", Duration::ZERO)?;
        let max_inflight = number("max_inflight", 0)?;
        let mode = match get("mode").as_deref().map(str::trim) {
            None | Some("fork") => Mode::Fork,
            Some("http") => {
                let url = get("upstream_url").ok_or(ConfigError::MissingUpstream)?;
                Mode::Http(
                    UpstreamUrl::parse(&url).map_err(|why| ConfigError::BadUpstream(url, why))?,
                )
            }
            Some(other) => return Err(ConfigError::BadMode(other.to_string())),
        };
        Ok(Config {
            mode,
            fprocess,
            port,
            timeouts: Timeouts {
                read: duration("read_timeout", Duration::from_secs(10))?,
                write: duration("write_timeout", Duration::from_secs(10))?,
                healthcheck_interval: duration("healthcheck_interval", Duration::ZERO)?,
                exec: (!exec_timeout.is_zero()).then_some(exec_timeout),
            },
            max_inflight: (max_inflight > 0).then_some(max_inflight as usize),
            max_input_bytes: number("max_input_bytes", DEFAULT_MAX_BYTES)?,
            max_output_bytes: number("max_output_bytes", DEFAULT_MAX_BYTES)? as usize,
            content_type: get("content_type"),
            cgi_headers: boolean("cgi_headers", true)?,
            combine_output: boolean("combine_output", true)?,
            write_debug: boolean("write_debug", false)?,
            suppress_lock: boolean("suppress_lock", false)?,
            gateway_token: get(token::VARIABLE).map(Token::new),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let c = parse(&[("fprocess", "cat")]).expect("valid");
        assert_eq!(c.mode, Mode::Fork);
        assert_eq!(c.fprocess, vec!["cat"]);
        assert_eq!(c.port, 8080);
        assert_eq!(c.timeouts.read, Duration::from_secs(10));
        assert_eq!(c.timeouts.write, Duration::from_secs(10));
        assert_eq!(c.timeouts.healthcheck_interval, Duration::ZERO);
        assert_eq!(c.timeouts.exec, None);
        assert_eq!(c.max_inflight, None);
        assert_eq!(c.max_input_bytes, 1048576);
        assert_eq!(c.max_output_bytes, 1048576);
        assert_eq!(c.content_type, None);
        assert!(c.cgi_headers && c.combine_output);
        assert!(!c.write_debug && !c.suppress_lock);
        assert_eq!(c.gateway_token, None);
        let c = parse(&[("fprocess", "cat"), ("gateway_token", "t")]).expect("valid");
        assert_eq!(c.gateway_token, Some(Token::new("t")));
    }

    #[test]
    fn http_mode_needs_an_upstream_url() {
        let c = parse(&[
            ("fprocess", "server"),
            ("mode", "http"),
            ("upstream_url", "http://127.0.0.1:5000"),
        ])
        .expect("valid");
        let Mode::Http(url) = c.mode else {
            panic!("not http: {:?}", c.mode);
        };
        assert_eq!(url.addr, "127.0.0.1:5000".parse().expect("an address"));
        assert_eq!(
            parse(&[("fprocess", "cat"), ("mode", "fork")]).map(|c| c.mode),
            Ok(Mode::Fork)
        );
        assert_eq!(
            parse(&[("fprocess", "server"), ("mode", "http")]),
            Err(ConfigError::MissingUpstream)
        );
        let err = parse(&[
            ("fprocess", "s"),
            ("mode", "http"),
            ("upstream_url", "http://x:1"),
        ])
        .unwrap_err();
        assert!(err.to_string().starts_with("upstream_url="), "{err}");
        let err = parse(&[("fprocess", "cat"), ("mode", "streaming")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mode=\"streaming\" is not a watchdog mode: use fork (the default, a process per request) or http (one process, upstream_url)"
        );
    }

    #[test]
    fn fprocess_honours_quotes() {
        let c = parse(&[("fprocess", r#"sh -c 'echo "a b"'"#)]).expect("valid");
        assert_eq!(c.fprocess, vec!["sh", "-c", r#"echo "a b""#]);
    }

    #[test]
    fn errors_name_the_variable() {
        assert_eq!(parse(&[]), Err(ConfigError::MissingFprocess));
        let err = parse(&[("fprocess", "cat"), ("exec_timeout", "soon")]).unwrap_err();
        assert!(err.to_string().starts_with("exec_timeout="), "{err}");
        let err = parse(&[("fprocess", "cat"), ("port", "70000")]).unwrap_err();
        assert!(err.to_string().starts_with("port="), "{err}");
        let err = parse(&[("fprocess", "cat"), ("cgi_headers", "maybe")]).unwrap_err();
        assert!(err.to_string().starts_with("cgi_headers="), "{err}");
        let err = parse(&[("fprocess", "sh -c 'unterminated")]).unwrap_err();
        assert!(err.to_string().starts_with("fprocess"), "{err}");
    }
}

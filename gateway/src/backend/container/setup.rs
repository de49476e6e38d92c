//! What a function's containers get from its spec on either backend: the
//! host settings (confinement, limits, requests, read-only root, no Docker
//! socket) and the environment, a replica's watchdog settings included.

use std::collections::HashMap;
use std::path::Path;

use bollard::models::{HostConfig, Mount, MountType};

use super::resources;
use super::token::ReplicaKey;
use crate::backend::BackendError;
use crate::function::Function;

/// How function containers are confined: what a deployment may ask for
/// beyond the defaults, and the defaults' limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// Networks a deployment's `network` may name besides the functions
    /// network and `none` (`host` and `container:<id>` only when listed).
    pub allow_networks: Vec<String>,
    /// Capabilities a deployment's `capabilities` may add back (every
    /// other one is dropped), upper case without `CAP_`.
    pub allow_capabilities: Vec<String>,
    /// Processes a function container may hold at once.
    pub pids_limit: i64,
    /// The memory limit, in bytes, of a function that gives none.
    pub default_memory: i64,
}

impl Isolation {
    /// The capabilities a deployment may ask for unless told otherwise:
    /// what ordinary programs that change owners or users, or bind a low
    /// port, need. Never `NET_RAW`, `SYS_ADMIN` or the like.
    pub const DEFAULT_CAPABILITIES: [&'static str; 7] = [
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "KILL",
        "NET_BIND_SERVICE",
        "SETGID",
        "SETUID",
    ];

    /// The functions network of a backend when `--network` is not given:
    /// an overlay on Swarm, a bridge otherwise, never of one name, so a
    /// gateway that moves from `docker` to `swarm` finds no bridge in the
    /// way.
    pub fn default_network(swarm: bool) -> &'static str {
        if swarm {
            "faas-functions"
        } else {
            "faas-functions-bridge"
        }
    }
}

impl Default for Isolation {
    fn default() -> Isolation {
        Isolation {
            allow_networks: Vec::new(),
            allow_capabilities: Isolation::DEFAULT_CAPABILITIES
                .iter()
                .map(|c| c.to_string())
                .collect(),
            pids_limit: 512,
            default_memory: 256 * 1024 * 1024,
        }
    }
}

/// Where a function finds its secrets, as OpenFaaS mounts them.
pub const SECRETS_DIR: &str = "/var/openfaas/secrets";

/// The host settings every function container gets: every capability
/// dropped but those its deployment adds back, `no-new-privileges`, the
/// pids limit, its memory limit (the gateway's default when it gives
/// none), requests, a read-only root with a writable `/tmp` when asked,
/// and never the Docker socket (no binds at all).
pub fn host_config(function: &Function, isolation: &Isolation) -> Result<HostConfig, BackendError> {
    let mut config = HostConfig {
        security_opt: Some(vec!["no-new-privileges".into()]),
        cap_drop: Some(vec!["ALL".into()]),
        cap_add: (!function.capabilities.is_empty()).then(|| function.capabilities.clone()),
        pids_limit: Some(isolation.pids_limit),
        ..Default::default()
    };
    let limits = resources::amounts("limits", &function.limits)?;
    config.memory = Some(limits.memory.unwrap_or(isolation.default_memory));
    config.nano_cpus = limits.nano_cpus;
    let requests = resources::amounts("requests", &function.requests)?;
    config.memory_reservation = requests.memory;
    // A relative weight: 1024 shares per requested core (at least 2).
    config.cpu_shares = requests
        .nano_cpus
        .map(|nano| (nano.saturating_mul(1024) / 1_000_000_000).max(2));
    if function.read_only_root_filesystem {
        config.readonly_rootfs = Some(true);
        config.tmpfs = Some(HashMap::from([("/tmp".to_string(), tmp_options(function))]));
    }
    Ok(config)
}

/// The options of the tmpfs `/tmp` of a read-only root: owned by the
/// function's numeric user when it gives one, since the engine copies the
/// image's `/tmp` (often root's, 0755) onto it.
fn tmp_options(function: &Function) -> String {
    let mut options = "rw,exec,nosuid,nodev,mode=1777".to_string();
    let mut ids = function.user.as_deref().unwrap_or_default().splitn(2, ':');
    for key in ["uid", "gid"] {
        if let Some(id) = ids.next().filter(|id| id.parse::<u32>().is_ok()) {
            options.push_str(&format!(",{key}={id}"));
        }
    }
    options
}

/// The read-only bind mounts of a function's secrets, kept as files in
/// `dir`, each at `/var/openfaas/secrets/<name>`. A bind mount (unlike a
/// bind) fails when its file is missing instead of creating a directory.
pub fn secret_mounts(function: &Function, dir: &Path) -> Vec<Mount> {
    function
        .secrets
        .iter()
        .map(|name| Mount {
            target: Some(format!("{SECRETS_DIR}/{name}")),
            source: Some(dir.join(name).to_string_lossy().into_owned()),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            ..Default::default()
        })
        .collect()
}

/// Checks the capabilities a function asks for are on the allow-list.
pub fn check_capabilities(function: &Function, isolation: &Isolation) -> Result<(), BackendError> {
    let allowed = &isolation.allow_capabilities;
    match function
        .capabilities
        .iter()
        .find(|c| !allowed.contains(c))
    {
        None => Ok(()),
        Some(refused) => Err(BackendError::Invalid(format!(
            "capability {refused:?} is not allowed: ask only for {} (the gateway's --allow-capabilities)",
            if allowed.is_empty() { "none".to_string() } else { allowed.join(", ") }
        ))),
    }
}

/// `KEY=value` entries of the function's env followed by `more`.
pub fn env_entries<'a>(
    function: &'a Function,
    more: impl IntoIterator<Item = &'a (String, String)>,
) -> Vec<String> {
    function
        .env_vars
        .iter()
        .chain(more.into_iter().map(|(k, v)| (k, v)))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// The environment of a replica: the function's `envVars`, then what its
/// watchdog needs: `fprocess`, timeouts as long as the function's (so no
/// layer cuts a long call short), the payload limits, STDERR kept out of
/// the answer, and the function's token (`key`), which the watchdog asks
/// every call for (a `gateway_token` among the `envVars` is not the
/// function's to set: it is left out).
pub fn watchdog_env(function: &Function, max_payload_bytes: u64, key: &ReplicaKey) -> Vec<String> {
    let timeout = format!("{}s", function.timeout);
    let limit = max_payload_bytes.to_string();
    let mut vars = vec![
        ("exec_timeout".to_string(), timeout.clone()),
        ("read_timeout".to_string(), timeout.clone()),
        ("write_timeout".to_string(), timeout),
        ("max_input_bytes".to_string(), limit.clone()),
        ("max_output_bytes".to_string(), limit),
        ("combine_output".to_string(), "false".to_string()),
    ];
    if !function.env_process.is_empty() {
        vars.push(("fprocess".to_string(), function.env_process.clone()));
    }
    let mut env: Vec<String> = env_entries(function, &vars)
        .into_iter()
        .filter(|entry| !is_token_entry(entry))
        .collect();
    env.push(key.env_entry(&function.name));
    env
}

/// Whether `entry` (`KEY=value`) sets the watchdog's token.
pub fn is_token_entry(entry: &str) -> bool {
    entry.split_once('=').map(|(k, _)| k) == Some(watchdog::token::VARIABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function(deployment: serde_json::Value) -> Function {
        let deployment = serde_json::from_value(deployment).expect("a deployment");
        Function::create(deployment, 0).expect("a function")
    }

    #[test]
    fn limits_requests_and_a_read_only_root() {
        let f = function(serde_json::json!({
            "service": "f", "image": "i", "command": ["cat"], "readOnlyRootFilesystem": true,
            "limits": {"memory": "64m", "cpu": "0.5"}, "requests": {"cpu": "2"}
        }));
        let host = host_config(&f, &Isolation::default()).expect("host settings");
        assert_eq!(host.memory, Some(64_000_000));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(host.cap_add, None);
        assert_eq!(host.pids_limit, Some(512));
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.cpu_shares, Some(2048));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert!(host.binds.is_none() && host.mounts.is_none());
        let f = function(serde_json::json!({
            "service": "f", "image": "i", "command": ["cat"], "limits": {"memory": "lots"}
        }));
        assert!(matches!(
            host_config(&f, &Isolation::default()),
            Err(BackendError::Invalid(_))
        ));
    }

    #[test]
    fn defaults_and_capabilities_from_the_allow_list() {
        let f = function(serde_json::json!({
            "service": "f", "image": "i", "command": ["cat"], "capabilities": ["cap_chown", "NET_RAW"]
        }));
        assert_eq!(f.capabilities, ["CHOWN", "NET_RAW"]);
        assert!(
            f.read_only_root_filesystem,
            "per-call: read-only by default"
        );
        let isolation = Isolation::default();
        let host = host_config(&f, &isolation).expect("host settings");
        assert_eq!(host.memory, Some(isolation.default_memory));
        assert_eq!(host.cap_add, Some(vec!["CHOWN".into(), "NET_RAW".into()]));
        match check_capabilities(&f, &isolation) {
            Err(BackendError::Invalid(line)) => {
                assert!(
                    line.starts_with("capability \"NET_RAW\" is not allowed"),
                    "{line}"
                )
            }
            other => panic!("{other:?}"),
        }
        let allowing = Isolation {
            allow_capabilities: vec!["CHOWN".into(), "NET_RAW".into()],
            ..Isolation::default()
        };
        assert!(check_capabilities(&f, &allowing).is_ok());
    }

    #[test]
    fn part_of_a_core_is_part_of_the_weight() {
        let shares = |cpu: &str| {
            let f = function(serde_json::json!({
                "service": "f", "image": "i", "command": ["cat"], "requests": {"cpu": cpu}
            }));
            host_config(&f, &Isolation::default())
                .expect("host settings")
                .cpu_shares
        };
        assert_eq!(shares("0.25"), Some(256));
        assert_eq!(shares("0.5"), Some(512));
        assert_eq!(shares("1"), Some(1024));
        assert_eq!(shares("2"), Some(2048));
        assert_eq!(shares("250m"), Some(256));
        assert_eq!(shares("1.5"), Some(1536));
        assert_eq!(shares("1m"), Some(2), "the engine's least weight");
    }

    #[test]
    fn a_replica_s_watchdog_gets_the_function_s_settings() {
        let f = function(serde_json::json!({
            "service": "f", "image": "i", "envProcess": "cat", "timeout": 7,
            "envVars": {"A": "1", "gateway_token": "the function's own"}
        }));
        let key = ReplicaKey::from_bytes(b"k");
        let env = watchdog_env(&f, 99, &key);
        assert_eq!(env[0], "A=1");
        for entry in ["exec_timeout=7s", "max_output_bytes=99", "fprocess=cat"] {
            assert!(env.contains(&entry.to_string()), "{entry} in {env:?}");
        }
        let tokens: Vec<&String> = env.iter().filter(|e| is_token_entry(e)).collect();
        assert_eq!(tokens, [&key.env_entry("f")], "the gateway's token only");
    }
}

//! A function: the deployment JSON as OpenFaaS sends it, the function as
//! stored, its checks (each refusal a [`SpecError`] saying how to fix it),
//! and OpenFaaS's scaling labels with their defaults, named once.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The one namespace of this gateway's functions, as OpenFaaS names its
/// default one.
pub const NAMESPACE: &str = "openfaas-fn";

/// Default and largest function timeout, in seconds.
pub const DEFAULT_TIMEOUT: u64 = 300;
pub const MAX_TIMEOUT: u64 = 86_400;

/// A deployment that cannot be accepted; the text says how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SpecError(pub String);

/// What OpenFaaS's scaling labels begin with (as its `scaling/ranges.go`
/// names them): `min`, `max`, `target`, `factor`, `zero` and
/// `zero-duration` follow.
pub const SCALE_LABEL: &str = "com.openfaas.scale.";

/// The annotation naming a function's OCI runtime where its deployment's
/// `runtime` does not (faas-cli's stack files set annotations, not
/// faas's own fields); `runtime` wins when both are given.
pub const RUNTIME_ANNOTATION: &str = "com.faas.runtime";

/// The annotation setting a function's maximum call age where its
/// deployment's `maxAge` does not; `maxAge` wins when both are given.
pub const MAX_AGE_ANNOTATION: &str = "com.faas.max_age";

/// A function's scaling, read from its labels; a label that is missing or
/// not understood takes the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaling {
    /// Fewest replicas (default 1).
    pub min: u64,
    /// Most replicas (default 20, never below `min`).
    pub max: u64,
    /// Calls running and waiting per replica (default 10, at least 1).
    pub target: u64,
    /// Percent of `max` an AlertManager firing adds (default 20).
    pub factor: u64,
    /// Whether an idle function goes to zero replicas (default false).
    pub zero: bool,
    /// How long idle before zero (default 5 minutes).
    pub zero_after: Duration,
}

impl Scaling {
    pub const DEFAULT_MIN: u64 = 1;
    pub const DEFAULT_MAX: u64 = 20;
    pub const DEFAULT_TARGET: u64 = 10;
    pub const DEFAULT_FACTOR: u64 = 20;
    pub const DEFAULT_ZERO_AFTER: Duration = Duration::from_secs(300);

    pub fn of(labels: &BTreeMap<String, String>) -> Scaling {
        let label = |name: &str| labels.get(&format!("{SCALE_LABEL}{name}"));
        let number =
            |name: &str, default: u64| label(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        let min = number("min", Self::DEFAULT_MIN);
        Scaling {
            min,
            max: number("max", Self::DEFAULT_MAX).max(min),
            target: number("target", Self::DEFAULT_TARGET).max(1),
            factor: number("factor", Self::DEFAULT_FACTOR),
            zero: label("zero").map(String::as_str) == Some("true"),
            zero_after: label("zero-duration")
                .and_then(|v| watchdog::duration::parse(v))
                .unwrap_or(Self::DEFAULT_ZERO_AFTER),
        }
    }

    /// These bounds under the gateway's own maximum (`--max-replicas`).
    pub fn capped(self, most: u64) -> Scaling {
        Scaling {
            min: self.min.min(most),
            max: self.max.min(most),
            ..self
        }
    }

    /// The replicas a call brings a function at zero back to: its min, and
    /// at least one.
    pub fn wake(&self) -> u64 {
        self.min.max(1)
    }
}

/// How a function runs (docs/backends.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Long-running, `envProcess` forked per call by a watchdog.
    Service,
    /// A new process (or container) per call running `command`.
    PerCall,
}

/// Memory and CPU amounts as given; an empty one is not set, as in
/// OpenFaaS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "blank_is_unset"
    )]
    pub memory: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "blank_is_unset"
    )]
    pub cpu: Option<String>,
}

fn blank_is_unset<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value: Option<String> = Option::deserialize(d)?;
    Ok(value.filter(|v| !v.trim().is_empty()))
}

/// The deployment JSON of `POST/PUT /system/functions`: OpenFaaS's fields
/// plus faas's. On PUT, fields left out keep their values.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub service: Option<String>,
    pub image: Option<String>,
    pub env_process: Option<String>,
    pub env_vars: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub constraints: Option<Vec<String>>,
    pub secrets: Option<Vec<String>>,
    pub limits: Option<Resources>,
    pub requests: Option<Resources>,
    pub read_only_root_filesystem: Option<bool>,
    pub network: Option<String>,
    /// OpenFaaS's namespace: the gateway's one, or none.
    pub namespace: Option<String>,
    pub mode: Option<Mode>,
    pub command: Option<Vec<String>>,
    pub timeout: Option<u64>,
    pub max_concurrency: Option<u32>,
    /// Capabilities to add back to the function's containers (from the
    /// gateway's allow-list; every other one is dropped).
    pub capabilities: Option<Vec<String>>,
    /// The user its containers run as (`uid`, `uid:gid` or a name the
    /// image knows); absent: the image's own.
    pub user: Option<String>,
    /// The OCI runtime its containers run under (`runc`, `runsc`, … as
    /// the engine registers them); absent: the gateway's `--runtime`.
    pub runtime: Option<String>,
    /// The oldest a queued async call may be when its turn comes (a
    /// duration: `30s`, `5m`); absent: the gateway's `--max-call-age`.
    pub max_age: Option<String>,
    /// Update only: replace the function's UUID.
    pub refresh: Option<bool>,
}

/// A deployed function as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Function {
    pub name: String,
    pub uuid: Uuid,
    pub image: String,
    pub mode: Mode,
    pub command: Vec<String>,
    pub env_process: String,
    pub env_vars: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub constraints: Vec<String>,
    pub secrets: Vec<String>,
    pub limits: Option<Resources>,
    pub requests: Option<Resources>,
    pub read_only_root_filesystem: bool,
    pub network: Option<String>,
    pub timeout: u64,
    pub max_concurrency: Option<u32>,
    /// Capabilities added back to its containers.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// The user its containers run as; `None`: the image's.
    #[serde(default)]
    pub user: Option<String>,
    /// The runtime its deployment's `runtime` names; `None`: its
    /// [`RUNTIME_ANNOTATION`], else the gateway's default
    /// ([`Function::asked_runtime`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// Its deployment's `maxAge`, as given; `None`: its
    /// [`MAX_AGE_ANNOTATION`], else the gateway's ([`Function::max_age`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
    /// Unix milliseconds.
    pub created: i64,
}

/// What a backend fills in where a new deployment says nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    /// Whether a per-call function's root is read-only.
    pub read_only_per_call: bool,
}

impl Defaults {
    /// A new per-call container's root is read-only unless asked
    /// otherwise: nothing a call writes outlives it anyway, bar `/tmp`.
    pub const CONTAINERS: Defaults = Defaults {
        read_only_per_call: true,
    };
    /// A local process has no root of its own to make read-only.
    pub const PROCESSES: Defaults = Defaults {
        read_only_per_call: false,
    };
}

/// `text` trimmed; `None` when that leaves nothing (a field cleared).
fn trimmed(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A duration (`30`, `30s`, `1m30s`, `500ms`) above zero and at most a
/// day: a maximum call age, and the gateway's durations.
pub fn parse_duration(text: &str) -> Option<Duration> {
    const DAY: Duration = Duration::from_secs(86_400);
    watchdog::duration::parse(text).filter(|d| !d.is_zero() && *d <= DAY)
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters.
pub fn check_name(name: &str) -> Result<(), SpecError> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| ok_char(c) || c == '-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(SpecError(format!(
            "invalid function name {name:?}: use 1-63 lowercase letters, digits and inner dashes"
        )))
    }
}

impl Function {
    /// Whether `uuid` is this function's UUID: the credential of Hyper's
    /// `/call/<name>/<uuid>` and `/output/<name>/<uuid>/...` addresses.
    pub fn has_uuid(&self, uuid: &str) -> bool {
        Uuid::parse_str(uuid).ok() == Some(self.uuid)
    }

    /// The OCI runtime its deployment asks for: `runtime`, else the
    /// [`RUNTIME_ANNOTATION`]; `None`: whatever the gateway gives
    /// functions that name none.
    pub fn asked_runtime(&self) -> Option<&str> {
        self.field_or_annotation(&self.runtime, RUNTIME_ANNOTATION)
    }

    /// `field` when set, else the annotation `key` when not blank.
    fn field_or_annotation<'a>(&'a self, field: &'a Option<String>, key: &str) -> Option<&'a str> {
        field.as_deref().or_else(|| {
            self.annotations
                .get(key)
                .map(|a| a.trim())
                .filter(|a| !a.is_empty())
        })
    }

    /// The oldest a queued async call of it may be when its turn comes:
    /// `maxAge`, else the [`MAX_AGE_ANNOTATION`]; `None`: the gateway's.
    pub fn max_age(&self) -> Option<Duration> {
        self.asked_max_age().and_then(parse_duration)
    }

    /// Its maximum call age as given: `maxAge`, else the
    /// [`MAX_AGE_ANNOTATION`].
    pub fn asked_max_age(&self) -> Option<&str> {
        self.field_or_annotation(&self.max_age, MAX_AGE_ANNOTATION)
    }

    /// Its scaling labels, read.
    pub fn scaling(&self) -> Scaling {
        Scaling::of(&self.labels)
    }

    /// A new function from a POSTed deployment, with a container
    /// backend's defaults.
    pub fn create(d: Deployment, now: i64) -> Result<Function, SpecError> {
        Function::create_with(d, now, Defaults::CONTAINERS)
    }

    /// A new function from a POSTed deployment, `defaults` filling what
    /// it leaves out.
    pub fn create_with(d: Deployment, now: i64, defaults: Defaults) -> Result<Function, SpecError> {
        let name = d.service.clone().ok_or_else(|| {
            SpecError("the deployment needs \"service\": the function's name".into())
        })?;
        check_name(&name)?;
        let image = d
            .image
            .clone()
            .filter(|i| !i.trim().is_empty())
            .ok_or_else(|| {
                SpecError("the deployment needs \"image\": the function's Docker image".into())
            })?;
        let base = Function {
            name,
            uuid: Uuid::new_v4(),
            image,
            mode: Mode::Service,
            command: Vec::new(),
            env_process: String::new(),
            env_vars: BTreeMap::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            constraints: Vec::new(),
            secrets: Vec::new(),
            limits: None,
            requests: None,
            read_only_root_filesystem: false,
            network: None,
            timeout: DEFAULT_TIMEOUT,
            max_concurrency: None,
            capabilities: Vec::new(),
            user: None,
            runtime: None,
            max_age: None,
            created: now,
        };
        base.merge(d, Some(defaults))
    }

    /// This function with a PUT deployment applied: given fields replace,
    /// absent ones stay.
    pub fn apply(&self, d: Deployment) -> Result<Function, SpecError> {
        self.merge(d, None)
    }

    /// `d` over this function; `defaults` is `Some` when it is new.
    fn merge(&self, d: Deployment, defaults: Option<Defaults>) -> Result<Function, SpecError> {
        let creating = defaults.is_some();
        if let Some(service) = &d.service {
            if service != &self.name {
                return Err(SpecError(format!(
                    "\"service\" is {service:?} but the function is {:?}; a function cannot be renamed",
                    self.name
                )));
            }
        }
        if let Some(namespace) = d.namespace.as_deref().filter(|n| !n.is_empty()) {
            if namespace != NAMESPACE {
                return Err(SpecError(format!(
                    "no such namespace: {namespace:?}; this gateway has one, {} (name it or leave namespace out)",
                    NAMESPACE
                )));
            }
        }
        let mut f = self.clone();
        if let Some(image) = d.image.filter(|i| !i.trim().is_empty()) {
            f.image = image;
        }
        let command_given = d.command.as_ref().is_some_and(|c| !c.is_empty());
        let read_only_given = d.read_only_root_filesystem.is_some();
        set(&mut f.command, d.command);
        set(&mut f.env_process, d.env_process);
        set(&mut f.env_vars, d.env_vars);
        set(&mut f.labels, d.labels);
        set(&mut f.annotations, d.annotations);
        set(&mut f.constraints, d.constraints);
        set(&mut f.secrets, d.secrets);
        set(
            &mut f.read_only_root_filesystem,
            d.read_only_root_filesystem,
        );
        f.limits = d.limits.or(f.limits);
        f.requests = d.requests.or(f.requests);
        f.network = d.network.or(f.network);
        if let Some(capabilities) = d.capabilities {
            f.capabilities = capabilities.iter().map(|c| capability(c)).collect();
        }
        if let Some(user) = d.user {
            f.user = (!user.is_empty()).then_some(user);
        }
        if let Some(runtime) = d.runtime {
            f.runtime = trimmed(&runtime);
        }
        if let Some(max_age) = d.max_age {
            f.max_age = trimmed(&max_age);
        }
        if let Some(asked) = f.asked_max_age() {
            if parse_duration(asked).is_none() {
                return Err(SpecError(format!(
                    "the maximum call age {asked:?} (\"maxAge\" or {MAX_AGE_ANNOTATION}) is not a duration above zero and at most a day: use seconds (30) or units (5m, 500ms)"
                )));
            }
        }
        f.mode = match d.mode {
            Some(mode) => mode,
            None if creating && command_given => Mode::PerCall,
            None if creating => Mode::Service,
            None => f.mode,
        };
        if let Some(timeout) = d.timeout {
            if !(1..=MAX_TIMEOUT).contains(&timeout) {
                return Err(SpecError(format!(
                    "\"timeout\" is {timeout}: use 1 to {MAX_TIMEOUT} seconds"
                )));
            }
            f.timeout = timeout;
        }
        if let Some(max) = d.max_concurrency {
            if max == 0 {
                return Err(SpecError(
                    "\"maxConcurrency\" must be at least 1 (leave it out for no limit)".into(),
                ));
            }
            f.max_concurrency = Some(max);
        }
        if let Some(defaults) = defaults {
            if !read_only_given && f.mode == Mode::PerCall {
                f.read_only_root_filesystem = defaults.read_only_per_call;
            }
        }
        if d.refresh == Some(true) {
            f.uuid = Uuid::new_v4();
        }
        if f.mode == Mode::PerCall && f.command.is_empty() {
            return Err(SpecError(
                "a per-call function needs \"command\": the argv run for each call".into(),
            ));
        }
        f.check_strings()?;
        if let Some(user) = &f.user {
            check_user(user)?;
        }
        for secret in &f.secrets {
            check_secret_name(secret)?;
        }
        Ok(f)
    }

    /// Env names are `[A-Za-z_][A-Za-z0-9_]*`, and no string holds a NUL
    /// byte (no process or container can be given one).
    fn check_strings(&self) -> Result<(), SpecError> {
        if let Some(name) = self.env_vars.keys().find(|k| !is_env_name(k)) {
            return Err(SpecError(format!(
                "env var name {name:?} is not usable: use letters, digits and '_', not starting with a digit"
            )));
        }
        let fields: [(&str, Vec<&str>); 14] = [
            ("image", vec![self.image.as_str()]),
            ("command", self.command.iter().map(String::as_str).collect()),
            ("envProcess", vec![self.env_process.as_str()]),
            ("envVars", map_strings(&self.env_vars)),
            ("labels", map_strings(&self.labels)),
            ("annotations", map_strings(&self.annotations)),
            (
                "constraints",
                self.constraints.iter().map(String::as_str).collect(),
            ),
            ("secrets", self.secrets.iter().map(String::as_str).collect()),
            ("network", self.network.as_deref().into_iter().collect()),
            ("limits", resource_strings(&self.limits)),
            ("requests", resource_strings(&self.requests)),
            (
                "capabilities",
                self.capabilities.iter().map(String::as_str).collect(),
            ),
            ("user", self.user.as_deref().into_iter().collect()),
            ("runtime", self.runtime.as_deref().into_iter().collect()),
        ];
        for (field, values) in fields {
            if values.iter().any(|v| v.contains('\0')) {
                return Err(SpecError(format!(
                    "\"{field}\" holds a NUL byte: remove it (no process can be given one)"
                )));
            }
        }
        Ok(())
    }

    /// The `/call/<name>/<uuid>` address under `base` (`http://host:port`).
    pub fn address(&self, base: &str) -> String {
        format!("{base}/call/{}/{}", self.name, self.uuid)
    }
}

/// 1-64 letters, digits, `-`, `_` and `.`, starting with a letter or
/// digit: a Docker secret name and a file name alike (never a path).
pub fn check_secret_name(name: &str) -> Result<(), SpecError> {
    let ok = name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(SpecError(format!(
            "invalid secret name {name:?}: use 1-64 letters, digits, '-', '_' and '.', starting with a letter or digit"
        )))
    }
}

/// A capability as the engine names it: upper case, without `CAP_`.
pub fn capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_string()
}

/// A container user: `name`, `uid`, `name:group` or `uid:gid`, of
/// letters, digits, `_`, `.` and `-`, at most 64 characters.
fn check_user(user: &str) -> Result<(), SpecError> {
    let part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    let mut parts = user.splitn(2, ':');
    let ok = user.len() <= 64 && parts.all(part);
    if ok {
        Ok(())
    } else {
        Err(SpecError(format!(
            "\"user\" {user:?} is not a user: give a name or uid, optionally with :group or :gid (e.g. \"1000:1000\")"
        )))
    }
}

/// Keys and values of a map, for the NUL check.
fn map_strings(m: &BTreeMap<String, String>) -> Vec<&str> {
    m.iter()
        .flat_map(|(k, v)| [k.as_str(), v.as_str()])
        .collect()
}

/// The memory and cpu strings of resources, for the NUL check.
fn resource_strings(r: &Option<Resources>) -> Vec<&str> {
    r.iter()
        .flat_map(|r| [r.memory.as_deref(), r.cpu.as_deref()])
        .flatten()
        .collect()
}

/// `[A-Za-z_][A-Za-z0-9_]*`: a name every shell and runtime takes.
fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

/// Functions for the tests of the modules that read them.
#[cfg(test)]
impl Function {
    /// Per-call `f` running `cat` in image `i`, with `more`'s fields over
    /// that deployment.
    pub fn with_fields(more: serde_json::Value) -> Function {
        let mut deployment = serde_json::json!({"service": "f", "image": "i", "command": ["cat"]});
        if let (Some(d), Some(more)) = (deployment.as_object_mut(), more.as_object()) {
            d.extend(more.clone());
        }
        Function::create(serde_json::from_value(deployment).expect("json"), 0).expect("function")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(json: &str) -> Deployment {
        serde_json::from_str(json).expect("deployment")
    }

    /// A `cat` function created with `more` JSON fields (each with its
    /// leading comma).
    fn cat_with(more: &str) -> Result<Function, SpecError> {
        let base = r#"{"service":"a","image":"i","command":["cat"]"#;
        Function::create(deployment(&format!("{base}{more}}}")), 0)
    }

    #[test]
    fn empty_resources_are_unset_as_in_openfaas() {
        let f = Function::create(
            deployment(
                r#"{"service":"a","image":"i","command":["cat"],
                    "limits":{"memory":"","cpu":" "},"requests":{"memory":"8Mi","cpu":""}}"#,
            ),
            0,
        )
        .expect("create");
        assert_eq!(f.limits, Some(Resources::default()));
        assert_eq!(
            f.requests,
            Some(Resources {
                memory: Some("8Mi".into()),
                cpu: None
            })
        );
    }

    #[test]
    fn names() {
        for ok in ["a", "echo", "a-b-1", &"x".repeat(63)] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modes_and_updates() {
        let f = Function::create(
            deployment(r#"{"service":"a","image":"i","command":["cat"]}"#),
            0,
        )
        .expect("create");
        assert_eq!(f.mode, Mode::PerCall);
        assert_eq!(f.timeout, DEFAULT_TIMEOUT);
        let f = Function::create(
            deployment(r#"{"service":"a","image":"i","envProcess":"cat"}"#),
            0,
        )
        .expect("create");
        assert_eq!(f.mode, Mode::Service);
        let g = f
            .apply(deployment(r#"{"timeout":5,"refresh":true}"#))
            .expect("update");
        assert_eq!(g.timeout, 5);
        assert_ne!(g.uuid, f.uuid);
        assert_eq!(g.env_process, "cat");
        assert!(f.apply(deployment(r#"{"timeout":0}"#)).is_err());
        assert!(f.apply(deployment(r#"{"service":"b"}"#)).is_err());
        assert!(Function::create(
            deployment(r#"{"service":"a","image":"i","mode":"per-call"}"#),
            0
        )
        .is_err());
        assert!(Function::create(deployment(r#"{"service":"a"}"#), 0).is_err());
    }

    #[test]
    fn scaling_under_the_gateway_s_maximum() {
        let labels = BTreeMap::from([
            ("com.openfaas.scale.min".to_string(), "5".to_string()),
            ("com.openfaas.scale.max".to_string(), "50".to_string()),
        ]);
        let s = Scaling::of(&labels);
        assert_eq!((s.min, s.max), (5, 50));
        let s = s.capped(10);
        assert_eq!((s.min, s.max), (5, 10));
        let s = s.capped(3);
        assert_eq!((s.min, s.max), (3, 3));
    }

    #[test]
    fn secret_names_users_and_capabilities() {
        for ok in ["a", "db-password", "API_KEY.v2", &"x".repeat(64)] {
            assert!(check_secret_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "-a", "a/b", "../x", "a b", &"x".repeat(65)] {
            assert!(check_secret_name(bad).is_err(), "{bad}");
        }
        let create = cat_with;
        let error = create(r#","secrets":["../admin-password"]"#).expect_err("a path");
        assert!(error.0.starts_with("invalid secret name"), "{error}");
        for ok in ["1000", "1000:1000", "app", "app:staff"] {
            let f = create(&format!(r#","user":"{ok}""#)).expect(ok);
            assert_eq!(f.user.as_deref(), Some(ok));
        }
        for bad in ["", ":", "a:", "a b", "1:2:3", "$(id)"] {
            let f = create(&format!(r#","user":"{bad}""#));
            if bad.is_empty() {
                assert_eq!(f.expect("empty: the image's").user, None);
            } else {
                assert!(f.is_err(), "{bad}");
            }
        }
        let f =
            create(r#","capabilities":["cap_net_bind_service"],"readOnlyRootFilesystem":false"#)
                .expect("create");
        assert_eq!(f.capabilities, ["NET_BIND_SERVICE"]);
        assert!(
            !f.read_only_root_filesystem,
            "a per-call function may opt out"
        );
        assert!(create("").expect("create").read_only_root_filesystem);
        let service = Function::create(
            deployment(r#"{"service":"a","image":"i","envProcess":"cat"}"#),
            0,
        )
        .expect("create");
        assert!(!service.read_only_root_filesystem);
    }

    #[test]
    fn the_max_age_field_wins_over_the_annotation_and_both_are_checked() {
        let create = cat_with;
        assert_eq!(create("").expect("create").max_age(), None);
        let by_annotation =
            create(r#","annotations":{"com.faas.max_age":" 30s "}"#).expect("create");
        assert_eq!(by_annotation.max_age(), Some(Duration::from_secs(30)));
        let both = create(r#","maxAge":"500ms","annotations":{"com.faas.max_age":"30s"}"#)
            .expect("create");
        assert_eq!(both.max_age(), Some(Duration::from_millis(500)));
        let cleared = both.apply(deployment(r#"{"maxAge":""}"#)).expect("update");
        assert_eq!(cleared.max_age(), Some(Duration::from_secs(30)));
        for bad in [
            r#","maxAge":"soon""#,
            r#","annotations":{"com.faas.max_age":"0"}"#,
        ] {
            let error = create(bad).expect_err(bad);
            assert!(error.0.contains("is not a duration above zero"), "{error}");
        }
    }

    #[test]
    fn the_runtime_field_wins_over_the_annotation() {
        let create = cat_with;
        assert_eq!(create("").expect("create").asked_runtime(), None);
        let by_annotation =
            create(r#","annotations":{"com.faas.runtime":" runc "}"#).expect("create");
        assert_eq!(by_annotation.asked_runtime(), Some("runc"));
        assert_eq!(by_annotation.runtime, None);
        let both = create(r#","runtime":"runsc","annotations":{"com.faas.runtime":"runc"}"#)
            .expect("create");
        assert_eq!(both.asked_runtime(), Some("runsc"));
        let cleared = both.apply(deployment(r#"{"runtime":""}"#)).expect("update");
        assert_eq!(
            cleared.asked_runtime(),
            Some("runc"),
            "the annotation again"
        );
        let kept = both.apply(deployment(r#"{"timeout":5}"#)).expect("update");
        assert_eq!(kept.asked_runtime(), Some("runsc"), "left out: kept");
        let error = create(r#","runtime":"run\u0000sc""#).expect_err("a NUL");
        assert!(error.0.contains("\"runtime\" holds a NUL"), "{error}");
    }

    #[test]
    fn env_names_and_nul_bytes() {
        let create = cat_with;
        assert!(create(r#","envVars":{"A_1":"x","_b":"y"}"#).is_ok());
        for bad in ["", "1A", "A=B", "A-B", "A B", "A\\u0000"] {
            let error = create(&format!(r#","envVars":{{"{bad}":"x"}}"#)).expect_err(bad);
            assert!(error.0.starts_with("env var name"), "{error}");
        }
        for (field, more) in [
            ("envVars", r#","envVars":{"A":"x\u0000"}"#),
            ("labels", r#","labels":{"k":"\u0000"}"#),
            ("annotations", r#","annotations":{"\u0000":"v"}"#),
            ("constraints", r#","constraints":["\u0000"]"#),
            ("secrets", r#","secrets":["s\u0000"]"#),
            ("network", r#","network":"n\u0000""#),
            ("limits", r#","limits":{"memory":"1\u0000"}"#),
            ("envProcess", r#","envProcess":"cat\u0000""#),
        ] {
            let error = create(more).expect_err(field);
            assert!(
                error.0.contains(&format!("\"{field}\" holds a NUL")),
                "{error}"
            );
        }
        let f = create("").expect("create");
        for (field, json) in [
            ("image", r#"{"image":"i\u0000"}"#),
            ("command", r#"{"command":["sh","-c","a\u0000b"]}"#),
        ] {
            let error = f.apply(deployment(json)).expect_err(field);
            assert!(
                error.0.contains(&format!("\"{field}\" holds a NUL")),
                "{error}"
            );
        }
    }
}

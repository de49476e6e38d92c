//! Which OCI runtime a function's containers run under: what the flags ask
//! (`--runtime`, `--allow-runtimes`), resolved once against the runtimes
//! the engine has registered ([`Runtimes::resolve`]: `auto` is gVisor's
//! `runsc` where the engine has it, else `runc`), and each function's
//! runtime checked against them before anything of it changes.

use std::collections::BTreeSet;

use bollard::Docker;

use super::error::EngineError;
use crate::backend::BackendError;
use crate::function::Function;

/// `--runtime auto`: decided at start from the engine's runtimes.
pub const AUTO: &str = "auto";
/// gVisor's runtime: a kernel of its own in every container.
pub const GVISOR: &str = "runsc";
/// The engine's own runtime: the host's kernel, confined by namespaces.
pub const RUNC: &str = "runc";

/// What the flags ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeFlags {
    /// `--runtime`: the runtime of functions that name none, or [`AUTO`].
    pub default: String,
    /// `--allow-runtimes`: what a deployment may name; empty: every
    /// runtime the engine has registered.
    pub allow: Vec<String>,
}

impl Default for RuntimeFlags {
    fn default() -> RuntimeFlags {
        RuntimeFlags {
            default: AUTO.to_string(),
            allow: Vec::new(),
        }
    }
}

impl RuntimeFlags {
    /// Whether `--runtime` names a runtime (not [`AUTO`]).
    pub fn names_one(&self) -> bool {
        self.default != AUTO
    }
}

/// The runtimes of one engine as the flags allow them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtimes {
    /// What functions that name none run under.
    pub default: String,
    /// What a deployment may name: registered and allowed, sorted.
    pub allowed: Vec<String>,
    /// Every runtime the engine has registered, sorted.
    pub registered: Vec<String>,
}

impl Default for Runtimes {
    /// What an engine with only its own runtime allows.
    fn default() -> Runtimes {
        Runtimes {
            default: RUNC.to_string(),
            allowed: vec![RUNC.to_string()],
            registered: vec![RUNC.to_string()],
        }
    }
}

/// The runtimes the engine has registered (`docker info`'s `Runtimes`).
pub async fn registered(docker: &Docker) -> Result<Vec<String>, EngineError> {
    let info = docker.info().await.map_err(EngineError::unreachable(
        "read the Docker Engine's runtimes",
    ))?;
    let mut names: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
    if names.is_empty() {
        // An engine that lists none still has its own.
        names.push(RUNC.to_string());
    }
    names.sort();
    Ok(names)
}

impl Runtimes {
    /// `flags` on an engine with the runtimes `registered`: `auto` is
    /// [`GVISOR`] when it is registered and allowed, else [`RUNC`]. The
    /// text of an error is a start-up error: a runtime named that the
    /// engine lacks, or a default the allow-list leaves out.
    pub fn resolve(flags: &RuntimeFlags, registered: &[String]) -> Result<Runtimes, String> {
        let registered: Vec<String> = registered
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let listed = registered.join(", ");
        let allow: BTreeSet<String> = flags
            .allow
            .iter()
            .map(|r| r.trim().to_string())
            .filter(|r| !r.is_empty())
            .collect();
        if let Some(missing) = allow.iter().find(|r| !registered.contains(r)) {
            return Err(format!(
                "--allow-runtimes names {missing}, which the Docker Engine has not registered (it has {listed}): register it in /etc/docker/daemon.json or leave it out"
            ));
        }
        let allowed: Vec<String> = match allow.is_empty() {
            true => registered.clone(),
            false => allow.into_iter().collect(),
        };
        let default = match flags.default.trim() {
            AUTO => [GVISOR, RUNC]
                .into_iter()
                .find(|r| allowed.iter().any(|a| a == r))
                .map(str::to_string)
                .ok_or_else(|| {
                    format!(
                        "--runtime auto needs {GVISOR} or {RUNC} among --allow-runtimes ({}): name the default with --runtime",
                        allowed.join(", ")
                    )
                })?,
            named if !registered.iter().any(|r| r == named) => {
                return Err(format!(
                    "--runtime {named}: the Docker Engine has not registered it (it has {listed}); register it in /etc/docker/daemon.json, or use --runtime auto"
                ))
            }
            named if !allowed.iter().any(|r| r == named) => {
                return Err(format!(
                    "--runtime {named} is not among --allow-runtimes ({}): add it there",
                    allowed.join(", ")
                ))
            }
            named => named.to_string(),
        };
        Ok(Runtimes {
            default,
            allowed,
            registered,
        })
    }

    /// The line start-up says of the default: whether functions share the
    /// host's kernel, and how to give them gVisor's when they do.
    pub fn start_line(&self, flags: &RuntimeFlags) -> String {
        let how = if flags.names_one() { "" } else { " (auto)" };
        if self.default == GVISOR {
            return format!(
                "runtime {GVISOR}{how}: every function container runs on gVisor, a kernel of its own"
            );
        }
        let remedy = if self.registered.iter().any(|r| r == GVISOR) {
            format!("run the gateway with --runtime {GVISOR} (see docs/security.md)")
        } else {
            format!("for gVisor's own kernel in each, install {GVISOR} (2024 or later) and register it in /etc/docker/daemon.json, as scripts/docker-engine.sh does (see docs/security.md)")
        };
        format!(
            "runtime {}{how}: function containers share the host's kernel; {remedy}",
            self.default
        )
    }

    /// What `function`'s containers run under: what it asks for, else the
    /// default.
    pub fn of<'a>(&'a self, function: &'a Function) -> &'a str {
        function.asked_runtime().unwrap_or(&self.default)
    }

    /// Whether this engine may run `function` under the runtime it asks
    /// for; the refusal is one line naming the runtimes that it may.
    pub fn check(&self, function: &Function) -> Result<(), BackendError> {
        let Some(asked) = function.asked_runtime() else {
            return Ok(());
        };
        if self.allowed.iter().any(|r| r == asked) {
            return Ok(());
        }
        let why = match self.registered.iter().any(|r| r == asked) {
            true => "is not allowed (the gateway's --allow-runtimes)",
            false => "is not registered on the Docker Engine",
        };
        Err(BackendError::Invalid(format!(
            "runtime {asked:?} {why}: name one of {}, or leave \"runtime\" out for the default, {}",
            self.allowed.join(", "),
            self.default
        )))
    }

    /// Whether `runtime` is one containers may be given here.
    pub fn has(&self, runtime: &str) -> bool {
        self.allowed.iter().any(|r| r == runtime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn flags(default: &str, allow: &[&str]) -> RuntimeFlags {
        RuntimeFlags {
            default: default.to_string(),
            allow: names(allow),
        }
    }

    fn function(more: serde_json::Value) -> Function {
        Function::with_fields(more)
    }

    #[test]
    fn auto_is_gvisor_where_the_engine_has_it() {
        let both = names(&["runsc", "runc"]);
        let r = Runtimes::resolve(&RuntimeFlags::default(), &both).expect("resolves");
        assert_eq!(r.default, "runsc");
        assert_eq!(r.allowed, ["runc", "runsc"]);
        assert!(r.start_line(&RuntimeFlags::default()).contains("gVisor"));
        let r = Runtimes::resolve(&RuntimeFlags::default(), &names(&["runc"])).expect("resolves");
        assert_eq!(r.default, "runc");
        let line = r.start_line(&RuntimeFlags::default());
        assert!(line.contains("share the host's kernel"), "{line}");
        assert!(line.contains("install runsc"), "{line}");
        let r = Runtimes::resolve(&flags("auto", &["runc"]), &both).expect("resolves");
        assert_eq!(
            (r.default.as_str(), r.allowed.clone()),
            ("runc", names(&["runc"]))
        );
        assert!(r
            .start_line(&flags("auto", &["runc"]))
            .contains("--runtime runsc"));
    }

    #[test]
    fn start_refuses_what_the_engine_lacks_or_the_list_leaves_out() {
        let runc = names(&["runc"]);
        let e = Runtimes::resolve(&flags("runsc", &[]), &runc).expect_err("not registered");
        assert!(
            e.starts_with("--runtime runsc: the Docker Engine has not registered it (it has runc)"),
            "{e}"
        );
        let e = Runtimes::resolve(&flags("auto", &["runc", "kata"]), &runc).expect_err("kata");
        assert!(e.starts_with("--allow-runtimes names kata"), "{e}");
        let both = names(&["runc", "runsc"]);
        let e = Runtimes::resolve(&flags("runc", &["runsc"]), &both).expect_err("left out");
        assert!(e.contains("not among --allow-runtimes (runsc)"), "{e}");
        let r = Runtimes::resolve(&flags("runc", &["runc", " ", "runsc"]), &both).expect("ok");
        assert_eq!(r.default, "runc");
    }

    #[test]
    fn a_deployment_names_an_allowed_runtime_or_none() {
        let both = names(&["runc", "runsc", "runsc-kvm"]);
        let r = Runtimes::resolve(&flags("auto", &["runsc", "runsc-kvm"]), &both).expect("ok");
        let none = function(serde_json::json!({}));
        assert!(r.check(&none).is_ok());
        assert_eq!(r.of(&none), "runsc");
        let asked = function(serde_json::json!({"runtime": "runsc-kvm"}));
        assert!(r.check(&asked).is_ok());
        assert_eq!(r.of(&asked), "runsc-kvm");
        let refused = |f: &Function| match r.check(f) {
            Err(BackendError::Invalid(line)) => line,
            other => panic!("{other:?}"),
        };
        let line = refused(&function(serde_json::json!({"runtime": "runc"})));
        assert_eq!(line, "runtime \"runc\" is not allowed (the gateway's --allow-runtimes): name one of runsc, runsc-kvm, or leave \"runtime\" out for the default, runsc");
        let by_annotation =
            function(serde_json::json!({"annotations": {"com.faas.runtime": "kata"}}));
        let line = refused(&by_annotation);
        assert!(
            line.starts_with("runtime \"kata\" is not registered on the Docker Engine"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }
}

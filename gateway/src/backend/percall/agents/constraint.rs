//! A function's placement `constraints` (Swarm's syntax: `node.hostname
//! == a`, `node.labels.zone != b`) checked against an agent's node, so a
//! per-call call goes only where its function may run.

use std::collections::BTreeMap;

/// What is known of the node an agent runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub hostname: String,
    /// `manager` or `worker`; empty when not known (no manager to ask).
    pub role: String,
    pub os: String,
    pub arch: String,
    /// The node's Swarm labels (`docker node update --label-add`).
    pub labels: BTreeMap<String, String>,
}

impl Node {
    /// How messages name it.
    pub fn name(&self) -> &str {
        if self.hostname.is_empty() {
            &self.id
        } else {
            &self.hostname
        }
    }
}

/// Whether `node` satisfies every constraint; `Err` names one that cannot
/// be read and says which can.
pub fn satisfies(node: &Node, constraints: &[String]) -> Result<bool, String> {
    for constraint in constraints {
        if !holds(node, constraint)? {
            return Ok(false);
        }
    }
    Ok(true)
}

fn holds(node: &Node, constraint: &str) -> Result<bool, String> {
    let (key, equal, value) = if let Some((k, v)) = constraint.split_once("!=") {
        (k, false, v)
    } else if let Some((k, v)) = constraint.split_once("==") {
        (k, true, v)
    } else {
        return Err(format!(
            "the constraint {constraint:?} is not \"<attribute> == <value>\" or \"<attribute> != <value>\""
        ));
    };
    let (key, value) = (key.trim(), value.trim());
    let actual = match key.to_ascii_lowercase().as_str() {
        "node.id" => Some(node.id.as_str()),
        "node.hostname" => Some(node.hostname.as_str()),
        "node.role" => Some(node.role.as_str()),
        "node.platform.os" => Some(node.os.as_str()),
        "node.platform.arch" => Some(node.arch.as_str()),
        _ => match key.strip_prefix("node.labels.") {
            Some(label) => node.labels.get(label).map(String::as_str),
            None => {
                return Err(format!(
                    "the constraint {constraint:?} cannot be checked for a per-call call: use node.id, node.hostname, node.role, node.platform.os, node.platform.arch or node.labels.<name>"
                ))
            }
        },
    };
    // As Swarm: values compare without regard to case; a missing label
    // equals nothing.
    let same = actual.is_some_and(|a| a.eq_ignore_ascii_case(value));
    Ok(same == equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Node {
        Node {
            id: "abc".into(),
            hostname: "worker-1".into(),
            role: "worker".into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            labels: BTreeMap::from([("zone".into(), "b".into())]),
        }
    }

    fn ok(constraints: &[&str]) -> bool {
        let c: Vec<String> = constraints.iter().map(|c| c.to_string()).collect();
        satisfies(&node(), &c).expect("readable")
    }

    #[test]
    fn constraints_hold_or_not() {
        assert!(ok(&[]));
        assert!(ok(&["node.hostname == worker-1", "node.role==worker"]));
        assert!(ok(&[
            "node.platform.os == Linux",
            "node.platform.arch != arm64"
        ]));
        assert!(ok(&["node.labels.zone == b", "node.labels.gpu != yes"]));
        assert!(!ok(&["node.role == manager"]));
        assert!(!ok(&["node.labels.gpu == yes"]));
        assert!(!ok(&["node.id == abc", "node.labels.zone != b"]));
    }

    #[test]
    fn unreadable_constraints_say_what_is_known() {
        for bad in ["engine.labels.x == 1", "node.hostname = a", "whatever"] {
            let err = satisfies(&node(), &[bad.to_string()]).expect_err(bad);
            assert!(err.contains(bad), "{err}");
        }
    }
}

//! A Swarm of two nodes on this one machine, from `scripts/swarm-nodes.sh`:
//! two more `dockerd`s, each in network, host-name and mount namespaces of
//! its own, node 1 the manager; the machine's own engine and its swarm are
//! left alone. [`nodes_or_skip`] brings it up once per test binary (while
//! any test holds it) with the local `faas/*` images loaded on every node,
//! and takes it down when the last holder drops it.
//!
//! It skips with a printed reason when it cannot run here (not root, no
//! engine, a tool missing), and fails instead when `FAAS_REQUIRE_DOCKER=1`.
//! A script that fails once the conditions are met is a failure either way.
//!
//! ```no_run
//! let Some(nodes) = faas_tests::nodes::nodes_or_skip("my_test") else { return };
//! let listing = nodes.manager().docker(&["node", "ls"]).expect("docker node ls");
//! ```

use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::{Arc, Mutex, Weak};

use crate::docker::engine_or_skip;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// How many nodes the tests' swarm has.
pub const NODES: usize = 2;

/// One node of the swarm.
#[derive(Debug, Clone)]
pub struct Node {
    /// 1 for the manager, 2… for the workers.
    pub number: usize,
    /// Its host name, which is its name in the swarm (`faas-node-<n>`).
    pub name: String,
    /// Its swarm node id.
    pub id: String,
    /// Its engine's socket (`/run/faas-node-<n>.sock`).
    pub socket: String,
    /// Its address, where this machine reaches the ports it publishes.
    pub addr: String,
}

impl Node {
    /// `unix://<socket>`, for `DOCKER_HOST` or `docker -H`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket)
    }

    /// `docker -H <this node> <args>`: its standard output when it
    /// succeeds, else what it printed.
    pub fn docker(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("docker")
            .arg("-H")
            .arg(self.host())
            .args(args)
            .output()
            .map_err(|e| format!("docker does not run: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            Err(format!(
                "docker -H {} {}: {}{}",
                self.host(),
                args.join(" "),
                stdout,
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// `http://<addr>:<port><path>`.
    pub fn url(&self, port: u16, path: &str) -> String {
        format!("http://{}:{port}{path}", self.addr)
    }
}

/// The swarm, taken down when dropped.
#[derive(Debug)]
pub struct Nodes {
    pub nodes: Vec<Node>,
}

impl Nodes {
    /// Node 1, the manager.
    pub fn manager(&self) -> &Node {
        &self.nodes[0]
    }

    /// The other nodes.
    pub fn workers(&self) -> &[Node] {
        &self.nodes[1..]
    }

    /// The node whose swarm id or name is `id_or_name`.
    pub fn node(&self, id_or_name: &str) -> Option<&Node> {
        self.nodes
            .iter()
            .find(|n| n.id == id_or_name || n.name == id_or_name)
    }

    /// Copies `images` from this machine's engine to every node.
    pub fn load(&self, images: &[&str]) {
        let out = script(&[&["load"], images].concat());
        assert!(out.0, "swarm-nodes.sh load {images:?}: {}", out.1);
    }

    /// Kills node `number`'s dockerd (`kill -9`); the containers it
    /// started run on, with no engine. `down` (on drop) cleans up after it.
    pub fn kill(&self, number: usize) {
        let out = script(&["kill", &number.to_string()]);
        assert!(out.0, "swarm-nodes.sh kill {number}: {}", out.1);
    }

    /// Loses node `number` as if it lost power: its dockerd (`kill -9`),
    /// then everything it ran.
    pub fn lose(&self, number: usize) {
        let out = script(&["lose", &number.to_string()]);
        assert!(out.0, "swarm-nodes.sh lose {number}: {}", out.1);
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        let (ok, text) = script(&["down"]);
        if !ok {
            eprintln!("swarm-nodes.sh down: {text}");
        }
    }
}

/// Runs `scripts/swarm-nodes.sh <args>`: whether it succeeded, and its
/// standard output then error.
fn script(args: &[&str]) -> (bool, String) {
    match Command::new("bash")
        .arg(format!("{ROOT}/scripts/swarm-nodes.sh"))
        .args(args)
        .current_dir(ROOT)
        .output()
    {
        Ok(out) => (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        ),
        Err(e) => (false, format!("bash does not run: {e}")),
    }
}

/// Why the swarm cannot run here, if it cannot.
fn cannot_run() -> Option<String> {
    // /proc/self belongs to the process's effective user.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    if !root {
        return Some("the nodes need root (network namespaces, veths, cgroups)".into());
    }
    for tool in ["ip", "nsenter", "unshare", "iptables", "dockerd"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !found {
            return Some(format!(
                "{tool} is missing (Debian: apt-get install iproute2 util-linux iptables docker.io)"
            ));
        }
    }
    None
}

/// The nodes' values from `swarm-nodes.sh env`.
fn parse_env(text: &str) -> Result<Vec<Node>, String> {
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")))
            .map(str::to_string)
            .ok_or_else(|| format!("swarm-nodes.sh env gave no {key}: {text}"))
    };
    let n: usize = value("FAAS_NODES")?
        .parse()
        .map_err(|e| format!("FAAS_NODES: {e}"))?;
    (1..=n)
        .map(|i| {
            Ok(Node {
                number: i,
                name: value(&format!("FAAS_NODE_{i}_NAME"))?,
                id: value(&format!("FAAS_NODE_{i}_ID"))?,
                socket: value(&format!("FAAS_NODE_{i}_SOCK"))?,
                addr: value(&format!("FAAS_NODE_{i}_ADDR"))?,
            })
        })
        .collect()
}

/// The tests' swarm of [`NODES`] nodes, brought up unless a test of this
/// binary holds it already; `None` (after printing why) when it cannot run
/// here. Panics when it cannot and `FAAS_REQUIRE_DOCKER=1`, or when the
/// script fails.
pub fn nodes_or_skip(test: &str) -> Option<Arc<Nodes>> {
    static SHARED: Mutex<Weak<Nodes>> = Mutex::new(Weak::new());
    if !engine_or_skip(test) {
        return None;
    }
    if let Some(why) = cannot_run() {
        assert!(
            std::env::var("FAAS_REQUIRE_DOCKER").as_deref() != Ok("1"),
            "{test}: the multi-node swarm cannot run and FAAS_REQUIRE_DOCKER=1: {why}"
        );
        eprintln!("skipped {test}: the multi-node swarm cannot run: {why}");
        return None;
    }
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(nodes) = shared.upgrade() {
        return Some(nodes);
    }
    let (ok, text) = script(&["up", &NODES.to_string()]);
    assert!(ok, "{test}: scripts/swarm-nodes.sh up failed: {text}");
    let (ok, env) = script(&["env"]);
    assert!(ok, "{test}: scripts/swarm-nodes.sh env failed: {env}");
    let nodes = match parse_env(&env) {
        Ok(nodes) => Arc::new(Nodes { nodes }),
        Err(why) => {
            let _ = script(&["down"]);
            panic!("{test}: {why}");
        }
    };
    *shared = Arc::downgrade(&nodes);
    Some(nodes)
}

//! The labels on everything the gateway creates on a Docker Engine, and the
//! label filters it finds them by.

use std::collections::HashMap;

/// An engine list filter: `key` (`label`, `name`, …) matching any of
/// `values`.
pub fn filter(key: &str, values: Vec<String>) -> HashMap<String, Vec<String>> {
    HashMap::from([(key.to_string(), values)])
}

/// The function a container, service or network belongs to.
pub const FUNCTION: &str = "com.faas.function";
/// On per-call containers: the call id.
pub const CALL: &str = "com.faas.call";
/// On warm containers waiting for a call: the function they are for (not
/// [`FUNCTION`]: they are no call's yet).
pub const POOLED: &str = "com.faas.pooled";
/// On the volume holding the warm containers' launcher: its image.
pub const LAUNCHER: &str = "com.faas.launcher";
/// On the plain containers that are a service function's replicas.
pub const REPLICA: &str = "com.faas.replica";
/// Which gateway created it (its data directory's id), so one gateway never
/// removes another's containers.
pub const OWNER: &str = "com.faas.gateway";
/// On the network the gateway creates for service replicas.
pub const NETWORK: &str = "com.faas.network";

/// The filter `key=value`.
pub fn is(key: &str, value: &str) -> String {
    format!("{key}={value}")
}

/// The filter matching what belongs to `function`.
pub fn of_function(function: &str) -> String {
    is(FUNCTION, function)
}

/// The filter matching what the gateway `owner` created.
pub fn owned_by(owner: &str) -> String {
    is(OWNER, owner)
}

//! What AlertManager's firing alerts (`POST /system/alert`) scaled
//! functions to: a floor the gateway's own scaler ([`crate::autoscale`])
//! keeps each function at until its alert is resolved, as OpenFaaS keeps
//! an alert's replicas.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// The replica counts firing AlertManager alerts scaled functions to: the
/// scaler keeps each function at least there until its alert is resolved,
/// the function is scaled by hand, or it is removed.
#[derive(Default)]
pub struct AlertFloors(Mutex<HashMap<String, u64>>);

impl AlertFloors {
    /// A firing alert scaled `function` to `replicas`.
    pub fn set(&self, function: &str, replicas: u64) {
        self.lock().insert(function.to_string(), replicas);
    }

    /// Its alert was resolved, or `function` was scaled by hand or removed.
    pub fn clear(&self, function: &str) {
        self.lock().remove(function);
    }

    /// The floor of `function` (0 without one).
    pub fn of(&self, function: &str) -> u64 {
        self.lock().get(function).copied().unwrap_or(0)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_s_floor_holds_until_cleared() {
        let floors = AlertFloors::default();
        assert_eq!(floors.of("f"), 0);
        floors.set("f", 3);
        floors.set("g", 2);
        assert_eq!((floors.of("f"), floors.of("g")), (3, 2));
        floors.clear("f");
        assert_eq!((floors.of("f"), floors.of("g")), (0, 2));
    }
}

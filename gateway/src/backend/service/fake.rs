//! A replicas fake for the unit tests of the balancer and the wake: it
//! knows desired counts, records its scales and lists the replicas it is
//! given as ready.

use std::collections::HashMap;
use std::sync::Mutex;

use super::replicas::Replicas;
use crate::backend::container::Replica;
use crate::backend::BackendError;
use crate::function::Function;

#[derive(Default)]
pub struct Counts {
    desired: Mutex<HashMap<String, u64>>,
    scaled: Mutex<Vec<(String, u64)>>,
    pub ready: Vec<Replica>,
}

impl Counts {
    pub fn with_desired(desired: &[(&str, u64)]) -> Counts {
        let desired = desired.iter().map(|(n, d)| (n.to_string(), *d)).collect();
        Counts {
            desired: Mutex::new(desired),
            ..Counts::default()
        }
    }

    pub fn with_ready(ready: Vec<Replica>) -> Counts {
        Counts {
            ready,
            ..Counts::default()
        }
    }

    /// The scales asked of it, in order.
    pub fn scales(&self) -> Vec<(String, u64)> {
        self.scaled.lock().expect("scales").clone()
    }
}

#[async_trait::async_trait]
impl Replicas for Counts {
    async fn desired(&self, name: &str) -> Result<u64, BackendError> {
        Ok(self
            .desired
            .lock()
            .expect("counts")
            .get(name)
            .copied()
            .unwrap_or(0))
    }

    async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError> {
        if !self.desired.lock().expect("counts").contains_key(name) {
            return Err(BackendError::NotFound(name.into()));
        }
        self.scaled
            .lock()
            .expect("scales")
            .push((name.into(), replicas));
        Ok(())
    }

    async fn ready(&self, _: &str, _: bool) -> Result<Vec<Replica>, BackendError> {
        Ok(self.ready.clone())
    }
}

/// A service function called `name`.
pub fn function(name: &str) -> Function {
    let deployment = serde_json::json!({"service": name, "image": "i", "envProcess": "cat"});
    Function::create(serde_json::from_value(deployment).expect("deployment"), 0).expect("function")
}

//! Service functions as local processes: a desired count only, since
//! nothing runs between calls; each call is handed back to run as a fresh
//! process, and one to a function scaled to zero wakes it, as replicas
//! would start.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::replicas::{Replicas, Served, Services};
use crate::backend::container::Replica;
use crate::backend::{BackendError, Invocation, ReplicaCount};
use crate::function::Function;

/// The count a function has before it is scaled.
const FIRST: u64 = 1;

/// Desired replicas of each function.
#[derive(Default)]
pub struct ProcessCounts {
    table: Mutex<HashMap<String, u64>>,
}

impl ProcessCounts {
    fn table(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `name`'s count: a function not scaled here (a per-call one) counts
    /// as it began.
    fn of(&self, name: &str) -> u64 {
        self.table().get(name).copied().unwrap_or(FIRST)
    }
}

#[async_trait::async_trait]
impl Replicas for ProcessCounts {
    async fn desired(&self, name: &str) -> Result<u64, BackendError> {
        Ok(self.of(name))
    }

    async fn scale(&self, name: &str, replicas: u64) -> Result<(), BackendError> {
        self.table().insert(name.to_string(), replicas);
        Ok(())
    }

    /// None: nothing runs between calls.
    async fn ready(&self, _: &str, _: bool) -> Result<Vec<Replica>, BackendError> {
        Ok(Vec::new())
    }
}

#[async_trait::async_trait]
impl Services for ProcessCounts {
    async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        self.table().entry(function.name.clone()).or_insert(FIRST);
        Ok(())
    }

    async fn update(&self, function: &Function) -> Result<(), BackendError> {
        self.deploy(function).await
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
        self.table().remove(name);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<String>, BackendError> {
        Ok(self.table().keys().cloned().collect())
    }

    async fn count(&self, name: &str) -> Result<ReplicaCount, BackendError> {
        let desired = self.of(name);
        Ok(ReplicaCount {
            desired,
            available: desired,
        })
    }

    async fn invoke(&self, function: &Function, call: Invocation) -> Served {
        if let Some(count) = self.table().get_mut(&function.name) {
            if *count == 0 {
                *count = function.scaling().wake();
            }
        }
        Served::Fresh(call)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::function;
    use super::*;

    fn call() -> Invocation {
        Invocation {
            id: crate::call_id::CallId::from(uuid::Uuid::nil()),
            request: Default::default(),
            input: Default::default(),
            timeout: std::time::Duration::from_secs(1),
            max_output_bytes: 1,
            placed: Default::default(),
            reached: Default::default(),
        }
    }

    #[tokio::test]
    async fn a_call_wakes_a_function_at_zero_and_runs_fresh() {
        let counts = ProcessCounts::default();
        let f = function("f");
        counts.deploy(&f).await.expect("deployed");
        counts.scale("f", 0).await.expect("scaled");
        assert!(matches!(counts.invoke(&f, call()).await, Served::Fresh(_)));
        assert_eq!(counts.desired("f").await.expect("desired"), 1);
        // A redeploy keeps the count.
        counts.scale("f", 3).await.expect("scaled");
        counts.update(&f).await.expect("updated");
        assert_eq!(counts.count("f").await.expect("count").available, 3);
    }
}

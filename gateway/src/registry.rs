//! The deployed functions in memory, so a call finds its function without a
//! database read. Each function has a [`Life`] shared across its updates:
//! the tokens that stop its queued and running calls when it is removed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;

use crate::function::Function;

/// A function as the gateway runs it.
pub struct Deployed {
    pub function: Function,
    pub life: Arc<Life>,
}

/// What outlives updates of a function.
#[derive(Default)]
pub struct Life {
    /// Cancelled on removal: queued calls fail.
    pub removed: CancellationToken,
    /// Cancelled on forced removal: running calls are killed.
    pub killed: CancellationToken,
    /// Calls running now, and sync calls until their record is queued: a
    /// removal waits for both.
    running: AtomicUsize,
}

impl Life {
    /// Counts a running call until the guard drops.
    pub fn running(self: &Arc<Self>) -> RunningGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        RunningGuard(self.clone())
    }

    pub fn running_now(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }
}

pub struct RunningGuard(Arc<Life>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
pub struct Registry {
    functions: RwLock<HashMap<String, Arc<Deployed>>>,
}

impl Registry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Deployed>>> {
        self.functions.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Deployed>>> {
        self.functions.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, name: &str) -> Option<Arc<Deployed>> {
        self.read().get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Deployed>> {
        let mut all: Vec<_> = self.read().values().cloned().collect();
        all.sort_by(|a, b| a.function.name.cmp(&b.function.name));
        all
    }

    /// Adds a new function; `false` if the name is taken.
    pub fn insert_new(&self, function: Function) -> bool {
        let mut map = self.write();
        if map.contains_key(&function.name) {
            return false;
        }
        let deployed = Deployed {
            function,
            life: Arc::default(),
        };
        map.insert(deployed.function.name.clone(), Arc::new(deployed));
        true
    }

    /// Replaces a function's spec, keeping its life.
    pub fn replace(&self, function: Function) {
        let mut map = self.write();
        let life = map
            .get(&function.name)
            .map(|d| d.life.clone())
            .unwrap_or_default();
        map.insert(function.name.clone(), Arc::new(Deployed { function, life }));
    }

    pub fn remove(&self, name: &str) -> Option<Arc<Deployed>> {
        self.write().remove(name)
    }
}

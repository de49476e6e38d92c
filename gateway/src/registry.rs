//! The deployed functions in memory, so a call finds its function without a
//! database read. Each function has a [`Life`] shared across its updates:
//! the tokens that stop its queued and running calls when it is removed,
//! and the lock its changes take one at a time. A name being deployed or
//! removed is [`Held`]: no other deployment or removal takes it meanwhile.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

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
    /// Held by an update or a removal for its whole length, so changes of
    /// one function across the backend and the store never interleave.
    pub changing: Arc<tokio::sync::Mutex<()>>,
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
    table: RwLock<Table>,
}

#[derive(Default)]
struct Table {
    functions: HashMap<String, Arc<Deployed>>,
    /// Names being deployed (not yet callable) or removed (no longer).
    held: HashSet<String>,
}

/// A name held while its function is deployed or removed; dropped, the
/// name is free again.
pub struct Held<'a> {
    registry: &'a Registry,
    name: String,
}

impl Held<'_> {
    /// Makes `function` (of the held name) callable, with a new life.
    pub fn commit(self, function: Function) {
        let mut table = self.registry.write();
        let deployed = Deployed {
            function,
            life: Arc::default(),
        };
        table
            .functions
            .insert(deployed.function.name.clone(), Arc::new(deployed));
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.registry.write().held.remove(&self.name);
    }
}

impl Registry {
    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, name: &str) -> Option<Arc<Deployed>> {
        self.read().functions.get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<Deployed>> {
        let mut all: Vec<_> = self.read().functions.values().cloned().collect();
        all.sort_by(|a, b| a.function.name.cmp(&b.function.name));
        all
    }

    /// Holds `name` for a new function; `None` if it is deployed or held.
    pub fn reserve(&self, name: &str) -> Option<Held<'_>> {
        let mut table = self.write();
        if table.functions.contains_key(name) || !table.held.insert(name.to_string()) {
            return None;
        }
        Some(self.held(name))
    }

    /// Takes `deployed` out for new calls, holding its name until the
    /// removal ends; `None` if the registry has another (or no) function
    /// of its name.
    pub fn take(&self, deployed: &Arc<Deployed>) -> Option<Held<'_>> {
        let mut table = self.write();
        let name = &deployed.function.name;
        match table.functions.get(name) {
            Some(current) if Arc::ptr_eq(current, deployed) => {}
            _ => return None,
        }
        table.functions.remove(name);
        table.held.insert(name.clone());
        Some(self.held(name))
    }

    fn held(&self, name: &str) -> Held<'_> {
        Held {
            registry: self,
            name: name.to_string(),
        }
    }

    /// Replaces a function's spec, keeping its life; `false` (nothing
    /// changed) if it is not deployed.
    pub fn replace(&self, function: Function) -> bool {
        let mut table = self.write();
        let Some(life) = table.functions.get(&function.name).map(|d| d.life.clone()) else {
            return false;
        };
        let name = function.name.clone();
        table
            .functions
            .insert(name, Arc::new(Deployed { function, life }));
        true
    }
}

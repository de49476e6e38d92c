//! A function's life across the three places that know it: the
//! [`Registry`] (what calls find), the backend (where it runs) and the
//! [`Store`] (what the next start redeploys). [`Lifecycle`] deploys,
//! updates and removes with the store last, each failed step undoing those
//! before it, so that whichever step fails the three agree afterwards;
//! [`redeploy_at_start`] puts the stored functions back on the backend.
//!
//! - deploy: the name held in the registry → backend deploy → store put →
//!   callable; a failed store put removes it from the backend.
//! - update: backend update → store put → registry; a failed store put
//!   restores the old spec on the backend.
//! - remove: out of the registry for new calls → queued calls fail, running
//!   ones are waited for (or killed) → backend remove → store remove → its
//!   metrics and alert floor forgotten; a failed backend or store remove
//!   redeploys it and puts it back in the registry.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::OwnedMutexGuard;

use crate::alerts::AlertFloors;
use crate::backend::front::Backend;
use crate::backend::BackendError;
use crate::error::Error;
use crate::function::{check_name, Deployment, Function};
use crate::metrics::Metrics;
use crate::registry::{Deployed, Registry};
use crate::store::FunctionStore;

#[cfg(test)]
mod tests;

/// How often a removal checks whether the function's calls are done.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// What the lifecycle asks of the backend: [`Backend`] in the gateway, a
/// fake in the tests.
#[async_trait]
pub trait Deployer: Send + Sync {
    /// `process`, `docker` or `swarm`, for what start-up logs.
    fn name(&self) -> &'static str;
    /// Makes a new function runnable.
    async fn deploy(&self, function: &Function) -> Result<(), BackendError>;
    /// Applies a changed spec.
    async fn update(&self, function: &Function) -> Result<(), BackendError>;
    /// Tears a function down.
    async fn remove(&self, name: &str) -> Result<(), BackendError>;
    /// Names of the functions it runs replicas of.
    async fn list(&self) -> Result<Vec<String>, BackendError>;
}

#[async_trait]
impl Deployer for Backend {
    fn name(&self) -> &'static str {
        Backend::name(self)
    }

    async fn deploy(&self, function: &Function) -> Result<(), BackendError> {
        Backend::deploy(self, function).await
    }

    async fn update(&self, function: &Function) -> Result<(), BackendError> {
        Backend::update(self, function).await
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
        Backend::remove(self, name).await
    }

    async fn list(&self) -> Result<Vec<String>, BackendError> {
        Backend::list(self).await
    }
}

/// The handles deploy, update and remove change.
pub struct Lifecycle<'a> {
    /// What calls find.
    pub registry: &'a Registry,
    /// Where functions run.
    pub backend: &'a dyn Deployer,
    /// What the next start redeploys.
    pub store: &'a dyn FunctionStore,
    /// A removed function's series go.
    pub metrics: &'a Metrics,
    /// A removed function's alert floor goes.
    pub floors: &'a AlertFloors,
    /// `--max-replicas`: no function's `com.openfaas.scale.min` may be
    /// above it.
    pub max_replicas: u64,
}

impl Lifecycle<'_> {
    /// Deploys a new function: `Exists` if its name is deployed, or being
    /// deployed or removed.
    pub async fn deploy(&self, function: Function) -> Result<(), Error> {
        check_min(&function, self.max_replicas)?;
        self.store.writable()?;
        let held = self
            .registry
            .reserve(&function.name)
            .ok_or_else(|| Error::Exists(function.name.clone()))?;
        self.backend.deploy(&function).await?;
        if let Err(e) = self.store.put_function(&function).await {
            if let Err(undo) = self.backend.remove(&function.name).await {
                tracing::warn!(function = %function.name, "not stored, and still on the backend: {undo}");
            }
            return Err(e.into());
        }
        held.commit(function);
        Ok(())
    }

    /// Applies `deployment` to the function `name` (fields left out keep
    /// their values) and returns the function as it now is.
    pub async fn update(&self, name: &str, deployment: Deployment) -> Result<Function, Error> {
        let (current, _changing) = self.lock(name).await?;
        let function = current.function.apply(deployment)?;
        check_min(&function, self.max_replicas)?;
        self.store.writable()?;
        self.backend.update(&function).await?;
        if let Err(e) = self.store.put_function(&function).await {
            if let Err(undo) = self.backend.update(&current.function).await {
                tracing::warn!(function = %name, "not stored, and its old spec not restored on the backend: {undo}");
            }
            return Err(e.into());
        }
        self.registry.replace(function.clone());
        Ok(function)
    }

    /// Removes the function `name`: its queued calls fail at once, its
    /// running ones are waited for, or killed when `force`.
    pub async fn remove(&self, name: &str, force: bool) -> Result<(), Error> {
        let (deployed, _changing) = self.lock(name).await?;
        self.store.writable()?;
        let held = self
            .registry
            .take(&deployed)
            .ok_or_else(|| Error::NoSuchFunction(name.to_string()))?;
        drain(&deployed, force).await;
        let removed = match self.backend.remove(name).await {
            Ok(()) => self.store.remove_function(name).await.map_err(Error::from),
            Err(e) => Err(e.into()),
        };
        if let Err(e) = removed {
            // Still stored: back on the backend (what a failed removal
            // tore down) and callable again.
            let function = &deployed.function;
            if let Err(undo) = self.backend.deploy(function).await {
                tracing::warn!(function = %name, "not removed, and not redeployed: {undo}");
            }
            held.commit(function.clone());
            return Err(e);
        }
        self.metrics.forget(name);
        self.floors.clear(name);
        Ok(())
    }

    /// The deployed function `name` with its changes' lock held: 400 for a
    /// bad name, 404 for an unknown one. A change that ended while this one
    /// waited is seen.
    async fn lock(&self, name: &str) -> Result<(Arc<Deployed>, OwnedMutexGuard<()>), Error> {
        check_name(name)?;
        loop {
            let deployed = self
                .registry
                .get(name)
                .ok_or_else(|| Error::NoSuchFunction(name.to_string()))?;
            let changing = deployed.life.changing.clone().lock_owned().await;
            match self.registry.get(name) {
                Some(now) if Arc::ptr_eq(&now, &deployed) => return Ok((deployed, changing)),
                _ => continue,
            }
        }
    }
}

/// Fails the queued calls, then waits for the running ones (or kills them).
async fn drain(deployed: &Deployed, force: bool) {
    deployed.life.removed.cancel();
    if force {
        deployed.life.killed.cancel();
    }
    while deployed.life.running_now() > 0 {
        tokio::time::sleep(DRAIN_POLL).await;
    }
}

/// 400 when the function's `com.openfaas.scale.min` is over the gateway's
/// `--max-replicas`: deploying it would start that many.
fn check_min(function: &Function, most: u64) -> Result<(), Error> {
    let min = function.scaling().min;
    if min > most {
        return Err(Error::BadRequest(format!(
            "com.openfaas.scale.min {min} is over the gateway's --max-replicas {most}: lower it"
        )));
    }
    Ok(())
}

/// Puts every stored function in the registry and on the backend. One the
/// backend cannot run now (its image gone, say) stays deployed, as it is
/// stored, and is logged: its calls fail until it is updated or removed.
/// Functions the backend runs that the store does not know are logged.
pub async fn redeploy_at_start(
    registry: &Registry,
    backend: &dyn Deployer,
    store: &dyn FunctionStore,
) -> Result<(), Error> {
    for function in store.functions().await? {
        let Some(held) = registry.reserve(&function.name) else {
            continue;
        };
        if let Err(e) = backend.deploy(&function).await {
            let name = backend.name();
            tracing::warn!(
                "function {} cannot run on the {name} backend: {e}",
                function.name
            );
        }
        held.commit(function);
    }
    for name in backend.list().await.unwrap_or_default() {
        if registry.get(&name).is_none() {
            let backend = backend.name();
            tracing::warn!("the {backend} backend runs {name}, which the gateway does not know");
        }
    }
    Ok(())
}

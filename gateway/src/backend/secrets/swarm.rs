//! Secrets on Swarm: Docker secrets the gateway creates through
//! `/system/secrets`, labelled with its id. A function may mount only
//! those; any other secret on the swarm (the gateway's own admin password
//! among them) is not its to give, and a name taken by one is 409.

use std::collections::HashMap;

use base64::Engine as _;
use bollard::models::SecretSpec;

use super::{absent, exists, Secrets};
use crate::backend::container::secrets::{find, Found, SECRET};
use crate::backend::container::{labels, Engine, EngineError};
use crate::backend::BackendError;
use crate::function::Function;

/// The Docker secrets of one gateway on a Swarm.
pub struct SwarmSecrets {
    pub engine: Engine,
}

#[async_trait::async_trait]
impl Secrets for SwarmSecrets {
    async fn names(&self) -> Result<Vec<String>, BackendError> {
        names(&self.engine).await
    }

    async fn put(&self, name: &str, value: &[u8], create: bool) -> Result<(), BackendError> {
        put(&self.engine, name, value, create).await
    }

    async fn remove(&self, name: &str) -> Result<(), BackendError> {
        remove(&self.engine, name).await
    }

    /// A service's are checked as it is made ([`crate::backend::container::secrets::mountable`]).
    fn check_service(&self, _: &Function) -> Result<(), BackendError> {
        Ok(())
    }

    fn check_per_call(&self, function: &Function) -> Result<(), BackendError> {
        if function.secrets.is_empty() {
            return Ok(());
        }
        Err(BackendError::Invalid(
            "\"secrets\" of a per-call function cannot be mounted on swarm: Docker mounts Swarm secrets into services only; deploy it with \"mode\": \"service\", or leave \"secrets\" out".into(),
        ))
    }
}

/// The names of this gateway's secrets.
async fn names(engine: &Engine) -> Result<Vec<String>, BackendError> {
    let mut names: Vec<String> = find(engine, None)
        .await?
        .into_iter()
        .filter(|f| f.ours)
        .map(|f| f.name)
        .collect();
    names.sort();
    Ok(names)
}

/// This gateway's secret `name`: `Absent` when there is none, `Conflict`
/// when the name is another's.
async fn own(engine: &Engine, name: &str) -> Result<Found, BackendError> {
    match find(engine, Some(name)).await?.into_iter().next() {
        Some(found) if found.ours => Ok(found),
        Some(_) => Err(foreign(name)),
        None => Err(absent(name)),
    }
}

/// Creates (`create`) or replaces this gateway's secret `name`. Docker
/// cannot change a secret's value, so a replacement is a removal and a
/// creation, refused (409) while a function mounts it.
async fn put(engine: &Engine, name: &str, value: &[u8], create: bool) -> Result<(), BackendError> {
    if create {
        if let Some(found) = find(engine, Some(name)).await?.into_iter().next() {
            return Err(if found.ours {
                exists(name)
            } else {
                foreign(name)
            });
        }
    } else {
        let found = own(engine, name).await?;
        delete(engine, &found).await?;
    }
    let spec = SecretSpec {
        name: Some(name.to_string()),
        labels: Some(HashMap::from([
            (labels::OWNER.to_string(), engine.owner.clone()),
            (SECRET.to_string(), "true".to_string()),
        ])),
        data: Some(base64::engine::general_purpose::STANDARD.encode(value)),
        ..Default::default()
    };
    engine
        .docker
        .create_secret(spec)
        .await
        .map_err(|e| EngineError::refused(format!("create the secret {name}"), e))?;
    Ok(())
}

/// Removes this gateway's secret `name`.
async fn remove(engine: &Engine, name: &str) -> Result<(), BackendError> {
    let found = own(engine, name).await?;
    delete(engine, &found).await
}

/// Deletes a secret; 409 when a service still mounts it.
async fn delete(engine: &Engine, found: &Found) -> Result<(), BackendError> {
    match engine.docker.delete_secret(&found.id).await {
        Ok(()) => Ok(()),
        Err(bollard::errors::Error::DockerResponseServerError { message, .. })
            if message.contains("in use") =>
        {
            Err(BackendError::Conflict(format!(
                "secret {} is mounted by a function's service: remove it from the function's \"secrets\" first",
                found.name
            )))
        }
        Err(e) => Err(EngineError::refused(format!("remove the secret {}", found.name), e).into()),
    }
}

/// The refusal of a name another's secret has.
fn foreign(name: &str) -> BackendError {
    BackendError::Conflict(format!(
        "a Docker secret named {name} exists that this gateway did not create: choose another name"
    ))
}

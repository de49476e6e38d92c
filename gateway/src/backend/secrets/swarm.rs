//! Secrets on Swarm: Docker secrets the gateway creates through
//! `/system/secrets`, labelled with its id. A function may mount only
//! those; any other secret on the swarm (the gateway's own admin password
//! among them) is not its to give, and a name taken by one is 409.

use std::collections::HashMap;

use base64::Engine as _;
use bollard::models::{Secret, SecretSpec};
use bollard::query_parameters::ListSecretsOptionsBuilder;

use crate::backend::container::{labels, Engine, EngineError};
use crate::backend::docker::secrets::{absent, exists};
use crate::backend::BackendError;

/// Marks a Docker secret as one made through `/system/secrets`.
const SECRET: &str = "com.faas.secret";

/// A Docker secret: its id, its name, and whether this gateway made it.
pub struct Found {
    pub id: String,
    pub name: String,
    pub ours: bool,
}

/// The Docker secrets called `name` (none or one), or all when `None`.
pub async fn find(engine: &Engine, name: Option<&str>) -> Result<Vec<Found>, EngineError> {
    let mut filters = HashMap::new();
    if let Some(name) = name {
        filters.insert("name".to_string(), vec![name.to_string()]);
    }
    let options = ListSecretsOptionsBuilder::default()
        .filters(&filters)
        .build();
    let secrets = engine
        .docker
        .list_secrets(Some(options))
        .await
        .map_err(EngineError::unreachable("list secrets"))?;
    Ok(secrets
        .into_iter()
        .filter_map(|s: Secret| {
            let spec = s.spec?;
            let owner = spec.labels.as_ref().and_then(|l| l.get(labels::OWNER));
            let ours = owner == Some(&engine.owner)
                && spec.labels.as_ref().is_some_and(|l| l.contains_key(SECRET));
            Some(Found {
                id: s.id?,
                name: spec.name?,
                ours,
            })
        })
        .filter(|f| name.is_none_or(|n| f.name == n))
        .collect())
}

/// The names of this gateway's secrets.
pub async fn names(engine: &Engine) -> Result<Vec<String>, BackendError> {
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
pub async fn put(
    engine: &Engine,
    name: &str,
    value: &[u8],
    create: bool,
) -> Result<(), BackendError> {
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
pub async fn remove(engine: &Engine, name: &str) -> Result<(), BackendError> {
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

/// The (id, name) of each secret `names` lists, all this gateway's;
/// `Invalid` names one that is not.
pub async fn mountable(
    engine: &Engine,
    names: &[String],
) -> Result<Vec<(String, String)>, BackendError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let found = find(engine, None).await?;
    names
        .iter()
        .map(|name| {
            found
                .iter()
                .find(|f| f.ours && &f.name == name)
                .map(|f| (f.id.clone(), name.clone()))
                .ok_or_else(|| {
                    BackendError::Invalid(format!(
                        "no such secret: {name} (create it with POST /system/secrets; only secrets made there can be mounted)"
                    ))
                })
        })
        .collect()
}

/// The refusal of a name another's secret has.
fn foreign(name: &str) -> BackendError {
    BackendError::Conflict(format!(
        "a Docker secret named {name} exists that this gateway did not create: choose another name"
    ))
}

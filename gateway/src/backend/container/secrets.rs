//! Docker secrets on a Swarm as this gateway sees them: which are its own
//! (made through `/system/secrets`, labelled with its id), and which of
//! them a service may mount.

use bollard::models::Secret;
use bollard::query_parameters::ListSecretsOptionsBuilder;

use super::engine::Engine;
use super::error::EngineError;
use super::labels;
use super::labels::filter;
use crate::backend::BackendError;

/// Marks a Docker secret as one made through `/system/secrets`.
pub const SECRET: &str = "com.faas.secret";

/// A Docker secret: its id, its name, and whether this gateway made it.
pub struct Found {
    pub id: String,
    pub name: String,
    pub ours: bool,
}

/// The Docker secrets called `name` (none or one), or all when `None`.
pub async fn find(engine: &Engine, name: Option<&str>) -> Result<Vec<Found>, EngineError> {
    let filters = name.map(|name| filter("name", vec![name.to_string()]));
    let options = ListSecretsOptionsBuilder::default()
        .filters(&filters.unwrap_or_default())
        .build();
    let secrets = engine.docker.list_secrets(Some(options)).await;
    let secrets = secrets.map_err(EngineError::unreachable("list secrets"))?;
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

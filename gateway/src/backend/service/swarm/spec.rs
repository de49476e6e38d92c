//! The Swarm service spec of a function, as OpenFaaS's Swarm provider builds
//! it: labels `com.openfaas.function` and `function=true`, env `fprocess`
//! plus `envVars`, the functions network, `node.platform.os == linux` plus
//! the function's constraints, restart policy any (5 attempts, 5 s apart),
//! secrets by name (at `/run/secrets/<name>` and OpenFaaS's
//! `/var/openfaas/secrets/<name>`), the gateway's confinement (capabilities
//! dropped but the asked ones, no new privileges, a pids limit, a default
//! memory limit, the user), limits and reservations, a read-only root with
//! a tmpfs `/tmp` when asked, rolling updates one task at a time that roll back on failure,
//! `dnsrr` so no virtual IP is needed, and the function's replica token
//! (`container::token`), which its watchdog asks every call for.

use std::collections::HashMap;

use bollard::models::{
    EndpointSpec, EndpointSpecModeEnum, Limit, Mount, MountType, NetworkAttachmentConfig,
    ResourceObject, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated,
    ServiceSpecUpdateConfig, ServiceSpecUpdateConfigFailureActionEnum, TaskSpec,
    TaskSpecContainerSpec, TaskSpecContainerSpecFile, TaskSpecContainerSpecPrivileges,
    TaskSpecContainerSpecSecrets, TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};

use crate::backend::container::labels::{FUNCTION, OWNER};
use crate::backend::container::setup::Isolation;
use crate::backend::container::{resources, setup, ReplicaKey};
use crate::backend::BackendError;
use crate::function::Function;

const SECOND_NS: i64 = 1_000_000_000;

/// The spec of `function`'s service, created by the gateway `owner`, with
/// `replicas` tasks, `secrets` as (id, name) and its replica token from
/// `key`.
#[allow(clippy::too_many_arguments)]
pub fn service(
    function: &Function,
    owner: &str,
    network: &str,
    max_payload_bytes: u64,
    replicas: u64,
    secrets: Vec<(String, String)>,
    isolation: &Isolation,
    key: &ReplicaKey,
) -> Result<ServiceSpec, BackendError> {
    let host = setup::host_config(function, isolation)?;
    let mut labels: HashMap<String, String> = function.labels.clone().into_iter().collect();
    labels.insert("com.openfaas.function".into(), function.name.clone());
    labels.insert("function".into(), "true".into());
    labels.insert(FUNCTION.into(), function.name.clone());
    labels.insert(OWNER.into(), owner.into());
    let mut constraints = vec!["node.platform.os == linux".to_string()];
    constraints.extend(function.constraints.iter().cloned());
    let read_only = function.read_only_root_filesystem;
    let container = TaskSpecContainerSpec {
        image: Some(function.image.clone()),
        env: Some(setup::watchdog_env(function, max_payload_bytes, key)),
        labels: Some(HashMap::from([
            (FUNCTION.to_string(), function.name.clone()),
            (OWNER.to_string(), owner.to_string()),
        ])),
        read_only: Some(read_only),
        mounts: read_only.then(|| {
            vec![Mount {
                target: Some("/tmp".into()),
                typ: Some(MountType::TMPFS),
                ..Default::default()
            }]
        }),
        secrets: (!secrets.is_empty()).then(|| {
            secrets
                .into_iter()
                .flat_map(|(id, name)| {
                    let at = [name.clone(), format!("{}/{name}", setup::SECRETS_DIR)];
                    at.map(|target| TaskSpecContainerSpecSecrets {
                        file: Some(TaskSpecContainerSpecFile {
                            name: Some(target),
                            uid: Some("0".into()),
                            gid: Some("0".into()),
                            mode: Some(0o444),
                        }),
                        secret_id: Some(id.clone()),
                        secret_name: Some(name.clone()),
                    })
                })
                .collect()
        }),
        user: function.user.clone(),
        // Engines before API 1.46 ignore it; the capabilities are dropped
        // from the bounding set either way.
        privileges: Some(TaskSpecContainerSpecPrivileges {
            no_new_privileges: Some(true),
            ..Default::default()
        }),
        capability_drop: host.cap_drop.clone(),
        capability_add: host.cap_add.clone(),
        ..Default::default()
    };
    let resources = TaskSpecResources {
        limits: Some(Limit {
            nano_cpus: host.nano_cpus,
            memory_bytes: host.memory,
            pids: host.pids_limit,
        }),
        reservations: Some(ResourceObject {
            nano_cpus: function
                .requests
                .as_ref()
                .and_then(|r| r.cpu.as_deref())
                .and_then(resources::nano_cpus),
            memory_bytes: host.memory_reservation,
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(ServiceSpec {
        name: Some(function.name.clone()),
        labels: Some(labels),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources: Some(resources),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(TaskSpecRestartPolicyConditionEnum::ANY),
                delay: Some(5 * SECOND_NS),
                max_attempts: Some(5),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(constraints),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(
                    function
                        .network
                        .clone()
                        .unwrap_or_else(|| network.to_string()),
                ),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(replicas as i64),
            }),
            ..Default::default()
        }),
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::ROLLBACK),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ..Default::default()
        }),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function() -> Function {
        serde_json::from_value(serde_json::json!({
            "name": "f", "uuid": "00000000-0000-0000-0000-000000000000", "image": "img",
            "mode": "service", "command": [], "envProcess": "cat", "envVars": {"A": "1"},
            "labels": {"com.openfaas.scale.min": "2"}, "annotations": {}, "constraints": ["node.role == manager"],
            "secrets": [], "limits": {"memory": "64m"}, "requests": null, "readOnlyRootFilesystem": true,
            "network": null, "timeout": 30, "maxConcurrency": null, "created": 0
        }))
        .expect("a function")
    }

    #[test]
    fn spec_follows_the_openfaas_swarm_provider() {
        let key = ReplicaKey::from_bytes(b"k");
        let spec = service(
            &function(),
            "gw",
            "faas-functions",
            1024,
            2,
            vec![("id1".into(), "s".into())],
            &Isolation::default(),
            &key,
        )
        .expect("spec");
        let labels = spec.labels.expect("labels");
        assert_eq!(labels["com.openfaas.function"], "f");
        assert_eq!(labels["function"], "true");
        let task = spec.task_template.expect("task");
        let container = task.container_spec.expect("container");
        let env = container.env.expect("env");
        assert!(env.contains(&"fprocess=cat".to_string()));
        assert!(env.contains(&"A=1".to_string()));
        assert!(env.contains(&"exec_timeout=30s".to_string()));
        assert!(env.contains(&key.env_entry("f")), "the replica token");
        assert_eq!(container.read_only, Some(true));
        assert_eq!(
            container.mounts.expect("mounts")[0].target.as_deref(),
            Some("/tmp")
        );
        let targets: Vec<_> = container
            .secrets
            .expect("secrets")
            .into_iter()
            .map(|s| (s.secret_name, s.file.and_then(|f| f.name)))
            .collect();
        assert_eq!(
            targets,
            [
                (Some("s".into()), Some("s".into())),
                (Some("s".into()), Some("/var/openfaas/secrets/s".into()))
            ]
        );
        assert_eq!(container.capability_drop, Some(vec!["ALL".to_string()]));
        let constraints = task
            .placement
            .expect("placement")
            .constraints
            .expect("constraints");
        assert_eq!(
            constraints,
            vec!["node.platform.os == linux", "node.role == manager"]
        );
        assert_eq!(
            task.resources
                .expect("resources")
                .limits
                .expect("limits")
                .memory_bytes,
            Some(64_000_000)
        );
        assert_eq!(
            spec.mode
                .expect("mode")
                .replicated
                .expect("replicated")
                .replicas,
            Some(2)
        );
        assert_eq!(
            spec.endpoint_spec.expect("endpoint").mode,
            Some(EndpointSpecModeEnum::DNSRR)
        );
    }
}

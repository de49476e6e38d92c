//! The launcher every warm container runs: the static `fwatchdog` in its
//! one-shot mode (`watchdog::once`), taken from the launcher image (default
//! `faas/fwatchdog`) into a named volume the gateway labels as its own, and
//! mounted read-only into warm containers. No host path is involved, so it
//! works wherever the gateway reaches the engine (a gateway in a container
//! too). The volume's name carries the image's id, so a rebuilt launcher
//! image gets a new volume; gateways on one engine share it (it is only
//! ever mounted read-only), and one that finds older ones removes those no
//! container uses.

use bollard::models::{ContainerCreateBody, Mount, MountType, VolumeCreateRequest};

use bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, ListVolumesOptionsBuilder, RemoveVolumeOptions,
    UploadToContainerOptionsBuilder,
};
use futures_util::TryStreamExt;

use crate::backend::container::{labels, Engine, EngineError};

/// Where the volume is mounted in a warm container.
const MOUNT: &str = "/.faas-launcher";
/// The launcher's path in its image.
const IN_IMAGE: &str = "/fwatchdog";

/// The launcher as a volume, ready to mount.
#[derive(Debug, Clone)]
pub struct Launcher {
    /// The volume holding `fwatchdog`.
    pub volume: String,
}

impl Launcher {
    /// Makes sure the launcher volume of `image` exists and holds
    /// `fwatchdog`: created once per launcher image, copied in through a
    /// container that is created (never started) and removed.
    /// Fails with the reason, on one line.
    pub async fn prepare(engine: &Engine, image: &str) -> Result<Launcher, String> {
        let docker = &engine.docker;
        let inspected = docker.inspect_image(image).await.map_err(|source| {
            let missing = EngineError::NoSuchImage {
                image: image.to_string(),
                source: Some(source),
            };
            missing.line()
        })?;
        let id = inspected.id.unwrap_or_default();
        let short: String = id.trim_start_matches("sha256:").chars().take(12).collect();
        let volume = format!("faas-launcher-{short}");
        let launcher = Launcher { volume };
        launcher.remove_older(engine).await;
        if let Ok(found) = docker.inspect_volume(&launcher.volume).await {
            if found.labels.contains_key(labels::LAUNCHER) {
                return Ok(launcher);
            }
            let why = format!(
                "the volume {} exists and is not a launcher volume",
                launcher.volume
            );
            return Err(why);
        }
        let created = docker
            .create_volume(VolumeCreateRequest {
                name: Some(launcher.volume.clone()),
                labels: Some(
                    [
                        (labels::LAUNCHER.to_string(), image.to_string()),
                        (labels::OWNER.to_string(), engine.owner.clone()),
                    ]
                    .into(),
                ),
                ..Default::default()
            })
            .await;
        created.map_err(|e| EngineError::refused("create the launcher volume", e).line())?;
        if let Err(e) = launcher.fill(engine, image).await {
            let _ = docker
                .remove_volume(
                    &launcher.volume,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await;
            return Err(e.line());
        }
        Ok(launcher)
    }

    /// Removes launcher volumes of other launcher images that no container
    /// uses (the engine refuses the others).
    async fn remove_older(&self, engine: &Engine) {
        let filters = labels::filter("label", vec![labels::LAUNCHER.to_string()]);
        let options = ListVolumesOptionsBuilder::default()
            .filters(&filters)
            .build();
        let Ok(listed) = engine.docker.list_volumes(Some(options)).await else {
            return;
        };
        for volume in listed.volumes.unwrap_or_default() {
            if volume.name != self.volume {
                let _ = engine
                    .docker
                    .remove_volume(&volume.name, None::<RemoveVolumeOptions>)
                    .await;
            }
        }
    }

    /// Copies `fwatchdog` from `image` into the volume.
    async fn fill(&self, engine: &Engine, image: &str) -> Result<(), EngineError> {
        let docker = &engine.docker;
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            labels: Some([(labels::OWNER.to_string(), engine.owner.clone())].into()),
            host_config: Some(bollard::models::HostConfig {
                mounts: Some(vec![self.mount(false)]),
                network_mode: Some("none".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        // Gateways starting together may each fill it: their own helpers.
        let helper = engine
            .create_named(&format!("{}-fill", self.volume), body)
            .await
            .map_err(|e| EngineError::refused("create the launcher's helper container", e))?;
        let copied = async {
            let from = DownloadFromContainerOptionsBuilder::default()
                .path(IN_IMAGE)
                .build();
            let tar: Vec<u8> = docker
                .download_from_container(&helper, Some(from))
                .map_ok(|chunk| chunk.to_vec())
                .try_concat()
                .await
                .map_err(EngineError::unreachable(format!(
                    "read {IN_IMAGE} from the launcher image {image}"
                )))?;
            let to = UploadToContainerOptionsBuilder::default()
                .path(MOUNT)
                .build();
            docker
                .upload_to_container(&helper, Some(to), bollard::body_full(tar.into()))
                .await
                .map_err(|e| EngineError::refused("copy the launcher into its volume", e))
        }
        .await;
        engine.remove(&helper).await;
        copied
    }

    /// The volume, mounted read-only (or writable, to fill it).
    pub fn mount(&self, read_only: bool) -> Mount {
        Mount {
            target: Some(MOUNT.to_string()),
            source: Some(self.volume.clone()),
            typ: Some(MountType::VOLUME),
            read_only: Some(read_only),
            ..Default::default()
        }
    }

    /// The entrypoint that runs `argv` once: `fwatchdog --once -- argv…`.
    pub fn entrypoint(&self) -> Vec<String> {
        vec![format!("{MOUNT}{IN_IMAGE}"), "--once".into(), "--".into()]
    }
}

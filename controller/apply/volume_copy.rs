//! Copying a named volume's data into a new volume (`devarch stack rename`).
//!
//! Neither engine copies volumes, and the archive endpoints do not serve here (Podman 4.3's
//! loses file ownership), so a short-lived helper container does it: created from an image
//! the stack already uses, both volumes mounted, `cp -a` as root, which keeps owners, modes,
//! times and links. The image needs `sh` and `cp` (every database and application image
//! devarch's catalog names has them).

use std::collections::BTreeMap;

use crate::runtime::{ContainerSpec, Mount, MountSource, Runtime, RuntimeError};

/// Copying a volume failed; the new volume may exist, partly filled.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// An engine call failed.
    #[error("copying volume {from} to {to}: {source}")]
    Engine {
        /// Source volume.
        from: String,
        /// Destination volume.
        to: String,
        /// The engine's error.
        source: RuntimeError,
    },
    /// The copy ran and failed (or the image has no `sh` or `cp`).
    #[error(
        "copying volume {from} to {to} with `cp -a` in image {image} exited {code} (the image needs sh and cp)"
    )]
    Failed {
        /// Source volume.
        from: String,
        /// Destination volume.
        to: String,
        /// Image the helper ran.
        image: String,
        /// Its exit code.
        code: i64,
    },
}

/// Creates volume `to` with `labels` and copies everything in volume `from` into it, with a
/// helper container named `helper` made from `image` (removed afterwards, also on failure).
///
/// # Errors
/// [`CopyError`] naming both volumes.
pub async fn copy_volume(
    rt: &dyn Runtime,
    from: &str,
    to: &str,
    labels: &BTreeMap<String, String>,
    image: &str,
    helper: &str,
) -> Result<(), CopyError> {
    let engine = |source| CopyError::Engine {
        from: from.to_string(),
        to: to.to_string(),
        source,
    };
    rt.create_volume(to, labels).await.map_err(engine)?;
    let spec = ContainerSpec {
        name: helper.to_string(),
        image: image.to_string(),
        entrypoint: Some(vec![
            "sh".into(),
            "-c".into(),
            "cp -a /devarch-from/. /devarch-to/".into(),
        ]),
        command: Some(vec![]),
        user: Some("0".into()),
        labels: labels.clone(),
        mounts: vec![
            Mount {
                source: MountSource::Volume { name: from.into() },
                target: "/devarch-from".into(),
                read_only: true,
            },
            Mount {
                source: MountSource::Volume { name: to.into() },
                target: "/devarch-to".into(),
                read_only: false,
            },
        ],
        ..ContainerSpec::default()
    };
    let id = rt.create_container(&spec).await.map_err(engine)?;
    let ran = async {
        rt.start_container(&id).await?;
        rt.wait_container(&id).await
    }
    .await;
    let removed = rt.remove_container(&id, true).await;
    let code = ran.map_err(engine)?;
    removed.map_err(engine)?;
    if code != 0 {
        return Err(CopyError::Failed {
            from: from.to_string(),
            to: to.to_string(),
            image: image.to_string(),
            code,
        });
    }
    Ok(())
}

/*! Why a step of an apply failed. A failed step fails the steps that depend on it and
nothing else; the report lists every failure, each naming its object. */

use std::path::PathBuf;
use std::sync::Arc;

use super::health::HealthWaitError;
use crate::runtime::RuntimeError;

/// One failed step of an apply.
#[derive(Debug, thiserror::Error)]
#[error("{object}: {failure}")]
pub struct StepError {
    /// The object, e.g. `container devarch-blog-db`.
    pub object: String,
    /// What went wrong.
    #[source]
    pub failure: StepFailure,
}

impl StepError {
    /// A failure of `object`.
    pub fn new(object: impl Into<String>, failure: impl Into<StepFailure>) -> Self {
        StepError {
            object: object.into(),
            failure: failure.into(),
        }
    }
}

/// What went wrong in a step.
#[derive(Debug, thiserror::Error)]
pub enum StepFailure {
    /// The engine refused or failed the operation.
    #[error(transparent)]
    Engine(#[from] RuntimeError),
    /// A config file could not be written under `--home`.
    #[error("writing config file {}: {source}", path.display())]
    ConfigFile {
        /// The host path being written.
        path: PathBuf,
        /// A folder on the way failed its checks (link, owner, mode), or writing failed.
        #[source]
        source: crate::state::HomeError,
    },
    /// The container's image is not present and could not be pulled.
    #[error("image {image}: {source}")]
    Image {
        /// The image reference.
        image: String,
        /// The pull's error (shared by every container of that image).
        #[source]
        source: Arc<RuntimeError>,
    },
    /// A dependency's own step failed, so this container was not started.
    #[error("not started: dependency {dependency} failed")]
    DependencyFailed {
        /// The instance depended on.
        dependency: String,
    },
    /// A dependency with `condition: healthy` did not become healthy.
    #[error("not started: dependency {dependency} is {source}")]
    DependencyNotHealthy {
        /// The instance depended on.
        dependency: String,
        /// How the wait ended.
        #[source]
        source: HealthWaitError,
    },
    /// During a recreate, the old container could not be removed (the new one was removed
    /// again, so the old one keeps the name).
    #[error("removing the old container: {0}")]
    RemoveOld(#[source] RuntimeError),
}

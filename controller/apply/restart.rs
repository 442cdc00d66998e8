//! `devarch restart`: restart running containers in place (stop, start; never recreated) and
//! wait for their health as apply does. The caller holds the stack's lock.

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use super::ApplyOptions;
use super::health::wait_healthy;
use super::progress::{Emitter, Progress, StepStatus};
use crate::resolve::desired::DesiredStack;
use crate::runtime::{ContainerSummary, Runtime};

/// How long a container may take to stop before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// What became of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restarted {
    /// Restarted (and healthy, when it has a health check).
    Done,
    /// Not running: left alone (`apply` starts it).
    NotRunning,
    /// Failed; the error.
    Failed(String),
}

/// Restarts `containers` (instance, container) of `desired`'s stack, all at once, each waited
/// on for health; progress to `progress`.
pub async fn restart(
    rt: &dyn Runtime,
    desired: &DesiredStack,
    containers: &[(String, ContainerSummary)],
    progress: &dyn Progress,
) -> Vec<(String, Restarted)> {
    let emit = Emitter {
        stack: &desired.name,
        sink: progress,
    };
    let tasks = containers.iter().map(|(instance, c)| async move {
        let object = format!("container {}", c.name);
        if !c.state.is_running() {
            emit.emit(&object, StepStatus::Done, "Not running (left alone)", None);
            return (instance.clone(), Restarted::NotRunning);
        }
        let start = Instant::now();
        emit.emit(&object, StepStatus::Working, "Restarting", None);
        let restarted = async {
            rt.stop_container(&c.id, STOP_TIMEOUT).await?;
            rt.start_container(&c.id).await
        }
        .await;
        if let Err(e) = restarted {
            emit.emit(
                &object,
                StepStatus::Failed,
                &e.to_string(),
                Some(start.elapsed()),
            );
            return (instance.clone(), Restarted::Failed(e.to_string()));
        }
        if let Some(d) = desired
            .containers
            .get(instance)
            .filter(|d| d.has_healthcheck)
        {
            emit.emit(&object, StepStatus::Waiting, "Waiting to be healthy", None);
            if let Err(e) = wait_healthy(rt, d, &ApplyOptions::default()).await {
                let message = format!("restarted, but not healthy: {e}");
                emit.emit(&object, StepStatus::Failed, &message, Some(start.elapsed()));
                return (instance.clone(), Restarted::Failed(message));
            }
        }
        emit.emit(
            &object,
            StepStatus::Done,
            "Restarted",
            Some(start.elapsed()),
        );
        (instance.clone(), Restarted::Done)
    });
    join_all(tasks).await
}

/*! Waiting for a dependency to be healthy before its dependents start.

The wait polls a fresh health result ([`Runtime::check_health`], which on Podman runs the
check itself) and gives up after a deadline derived from the dependency's own health check
([`health_deadline`]). */

use std::time::{Duration, Instant};

use super::ApplyOptions;
use crate::resolve::desired::DesiredContainer;
use crate::runtime::{
    DEFAULT_HEALTH_INTERVAL, DEFAULT_HEALTH_RETRIES, DEFAULT_HEALTH_TIMEOUT, Health, Runtime,
    RuntimeError,
};

/// The deadline when a dependency has no health check of its own (the image's may apply).
const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
/// Slack added to a computed deadline (engine scheduling, check start-up).
const DEADLINE_SLACK: Duration = Duration::from_secs(30);

/// How a wait for health ended without the dependency becoming healthy.
#[derive(Debug, thiserror::Error)]
pub enum HealthWaitError {
    /// The engine reports it unhealthy: its check failed as many times in a row as it
    /// retries.
    #[error("unhealthy")]
    Unhealthy,
    /// The container disappeared while being waited on.
    #[error("container is gone")]
    Gone,
    /// The deadline passed.
    #[error("not healthy after {}s", .0.as_secs())]
    TimedOut(Duration),
    /// The engine failed after the deadline passed.
    #[error(transparent)]
    Engine(#[from] RuntimeError),
}

/// How long to wait for a container to become healthy: `opts.health_timeout` when set, 60 s
/// without a health check, else `startPeriod + (interval + timeout) × (retries + 1) + 30 s`
/// (engine defaults: interval and timeout 30 s, retries 3, startPeriod 0).
///
/// # Guarantees
/// Never panics or overflows: the arithmetic saturates at [`Duration::MAX`]. For a health
/// check within the manifest bounds (durations at most
/// [`MAX_HEALTH_DURATION`](crate::manifests::types::MAX_HEALTH_DURATION), retries at most
/// [`MAX_HEALTH_RETRIES`](crate::manifests::types::MAX_HEALTH_RETRIES)) it is at most
/// 1 h + 2 h × 101 + 30 s (about 203 h).
pub fn health_deadline(c: &DesiredContainer, opts: &ApplyOptions) -> Duration {
    if let Some(t) = opts.health_timeout {
        return t;
    }
    let Some(h) = &c.spec.healthcheck else {
        return DEFAULT_DEADLINE;
    };
    let interval = h.interval.unwrap_or(DEFAULT_HEALTH_INTERVAL);
    let timeout = h.timeout.unwrap_or(DEFAULT_HEALTH_TIMEOUT);
    let rounds = h
        .retries
        .unwrap_or(DEFAULT_HEALTH_RETRIES)
        .saturating_add(1);
    let per_round = interval.saturating_add(timeout);
    h.start_period
        .unwrap_or_default()
        .saturating_add(per_round.saturating_mul(rounds))
        .saturating_add(DEADLINE_SLACK)
}

/// Polls until `dep` is healthy (a fresh result each time), ten times per check interval
/// (clamped to 50–250 ms: an inspect, and on Podman a check run only when one is due), so a
/// dependent starts within a tenth of an interval of the engine's verdict; returns how long it
/// took. An `unhealthy` verdict ends the wait at once, as Compose does, once the container had
/// time for a check of its own (one interval, at least 1 s, so a status left from before a
/// restart is not taken for the new one's).
///
/// # Errors
/// [`HealthWaitError`]: gone, unhealthy, timed out, or an engine error that persisted past the
/// deadline.
pub async fn wait_healthy(
    rt: &dyn Runtime,
    dep: &DesiredContainer,
    opts: &ApplyOptions,
) -> Result<Duration, HealthWaitError> {
    let start = Instant::now();
    let deadline = health_deadline(dep, opts);
    let interval = dep
        .spec
        .healthcheck
        .as_ref()
        .and_then(|h| h.interval)
        .unwrap_or(DEFAULT_HEALTH_INTERVAL);
    let poll = (interval / 10).clamp(Duration::from_millis(50), Duration::from_millis(250));
    let grace = interval.max(Duration::from_secs(1));
    loop {
        match rt.check_health(&dep.spec.name).await {
            Ok(Health::Healthy) | Ok(Health::None) => return Ok(start.elapsed()),
            Ok(Health::Unhealthy) if start.elapsed() > grace => {
                return Err(HealthWaitError::Unhealthy);
            }
            Ok(_) => {}
            Err(RuntimeError::NotFound(_)) => return Err(HealthWaitError::Gone),
            Err(_) if start.elapsed() < deadline => {}
            Err(e) => return Err(e.into()),
        }
        if start.elapsed() > deadline {
            return Err(HealthWaitError::TimedOut(deadline));
        }
        tokio::time::sleep(poll).await;
    }
}

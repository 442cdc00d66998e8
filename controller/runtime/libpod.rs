/*! [`Libpod`]: the calls [`EngineRuntime`](super::engine::EngineRuntime) makes through
Podman's own (libpod) API where its Docker-compatible API falls short. Present on Podman only;
on Docker every call goes through the compat API.

- **Health checks** do not run on Podman without systemd (the status stays `starting`):
  [`Libpod::run_health_check`] runs a container's check (`GET
  /v{libpod}/libpod/containers/{id}/healthcheck`), at most once per configured interval, like
  the engine's own timer would, so that polling faster does not use up `retries` faster than
  on Docker.
- **Networks are only ever listed and inspected here.** Podman 4.3's compat network list and
  inspect write into the stored network's option map; anything encoding that network at the
  same moment (a libpod network list) crashes the whole service ("fatal error: concurrent map
  iteration and map write"). libpod's list is also much cheaper: the compat one reports every
  network's containers, a look at every container (58 ms with 20 containers, ~1 ms here).
- **Network names by ID** ([`Libpod::network_name`]): Podman 4.3 removes a network that is in
  use when it is named by ID, so the engine removes networks by name there.
- **Containers** are listed here too: libpod's list is ~40 % cheaper than the compat one.

Lists are narrowed with the engine's `name` filter (a regex match on Podman); the caller
filters them again by prefix. Paths carry the libpod API version the server announced (e.g.
`4.3.1`), not the negotiated compat version.
*/

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::http::{RawClient, body_message, encode};
use super::wire::{
    RawHealth, RawInspect, RawLibpodInfo, RawLibpodNetwork, RawListed, name_filter_query,
    name_label_filter_query, sorted,
};
use super::{
    DEFAULT_HEALTH_INTERVAL, DEFAULT_HEALTH_TIMEOUT, NetworkSummary, Result, RuntimeError,
};

/// Remembered health check runs older than this are forgotten (bounds the map).
const HEALTH_RUN_MEMORY: Duration = Duration::from_secs(600);
/// How much longer than the check's own timeout a health check run may take to answer.
const HEALTH_RUN_SLACK: Duration = Duration::from_secs(10);

/// Podman's libpod API, beside its compat API: one per connected Podman engine, held by the
/// engine runtime as its optional delegate.
pub(super) struct Libpod {
    /// The same endpoint as the compat calls.
    http: RawClient,
    /// The libpod API version of URLs, e.g. `4.3.1`.
    api: String,
    /// When this process last ran each container's health check, by container ID.
    health_runs: Mutex<HashMap<String, Instant>>,
}

/// What [`Libpod::run_health_check`] did, and so where the current health is read.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum CheckRun {
    /// Not run: it ran less than one interval ago. The status read before is current.
    NotDue,
    /// Ran and passed: the stored status is healthy on the spot.
    Passed,
    /// Ran and did not pass, or had nothing to run (the container stopped meanwhile). The
    /// engine's stored status decides: it counts `retries` and the start period, where this
    /// one run's result would say "unhealthy" after a single failure. Inspect again.
    ReadStored,
}

impl Libpod {
    /// The delegate for a Podman engine reached through `http`, whose libpod API version is
    /// `api` (from `/_ping`'s `Libpod-Api-Version`, or `/version`).
    pub(super) fn new(http: RawClient, api: String) -> Self {
        Libpod {
            http,
            api,
            health_runs: Mutex::new(HashMap::new()),
        }
    }

    /// Every container whose name contains `prefix` (and that carries the label key `label`,
    /// when given): engine-side filters, so filter again by prefix.
    ///
    /// # Errors
    /// As [`RawClient::get_json`], for "list containers {prefix}*".
    pub(super) async fn list_containers(
        &self,
        prefix: &str,
        label: Option<&str>,
    ) -> Result<Vec<RawListed>> {
        let filters = name_label_filter_query(prefix, label, '&');
        let path = format!("/v{}/libpod/containers/json?all=true{filters}", self.api);
        let what = format!("containers {prefix}*");
        self.http.get_json(&path, "list", &what).await
    }

    /// Every network whose name contains `prefix` (engine-side filter: filter again by
    /// prefix), labels sorted.
    ///
    /// # Errors
    /// As [`RawClient::get_json`], for "list networks {prefix}*".
    pub(super) async fn list_networks(&self, prefix: &str) -> Result<Vec<NetworkSummary>> {
        let filters = name_filter_query(prefix, '?');
        let path = format!("/v{}/libpod/networks/json{filters}", self.api);
        let what = format!("networks {prefix}*");
        let list: Vec<RawLibpodNetwork> = self.http.get_json(&path, "list", &what).await?;
        Ok(list
            .into_iter()
            .map(|n| NetworkSummary {
                id: n.id,
                name: n.name,
                labels: sorted(n.labels),
            })
            .collect())
    }

    /// The name of the network `id` (an ID or a name).
    ///
    /// # Errors
    /// [`RuntimeError::NotFound`]`("network {id}")` when there is none; otherwise as
    /// [`RawClient::get_json`], for "inspect network {id}".
    pub(super) async fn network_name(&self, id: &str) -> Result<String> {
        let path = format!("/v{}/libpod/networks/{}/json", self.api, encode(id));
        let what = format!("network {id}");
        let network: RawLibpodNetwork = self.http.get_json(&path, "inspect", &what).await?;
        Ok(network.name)
    }

    /// Whether the service runs rootless (`host.security.rootless` of libpod's info).
    ///
    /// # Errors
    /// As [`RawClient::get_json`], for "read info of the engine".
    pub(super) async fn rootless(&self) -> Result<bool> {
        let path = format!("/v{}/libpod/info", self.api);
        let info: RawLibpodInfo = self
            .http
            .get_json(&path, "read", "info of the engine")
            .await?;
        Ok(info.host.security.rootless)
    }

    /// Runs the health check of the container `details` describes, unless it ran less than
    /// its interval ago (default 30 s). Call it only for a running container with a check.
    /// Waits up to the check's timeout (default 30 s) plus 10 s.
    ///
    /// # Errors
    /// - [`RuntimeError::NotFound`]`("container {id}")`: the container is gone.
    /// - [`RuntimeError::Api`] for "run health check of container {id}": any other status but
    ///   200 and 409, or no answer.
    pub(super) async fn run_health_check(&self, details: &RawInspect) -> Result<CheckRun> {
        let id = details.id.as_str();
        let check = details.health_check();
        let interval = nanos_to_duration(check.and_then(|h| h.interval), DEFAULT_HEALTH_INTERVAL);
        let timeout = nanos_to_duration(check.and_then(|h| h.timeout), DEFAULT_HEALTH_TIMEOUT);
        if !self.due(id, interval) {
            return Ok(CheckRun::NotDue);
        }
        let path = format!("/v{}/libpod/containers/{id}/healthcheck", self.api);
        let operation = format!("run health check of container {id}");
        let wait = timeout + HEALTH_RUN_SLACK;
        let (status, body) = self.http.get(&path, wait, &operation).await?;
        match status {
            200 => {
                let result: RawHealth = serde_json::from_slice(&body).unwrap_or_default();
                Ok(match result.status.as_deref() {
                    Some("healthy") => CheckRun::Passed,
                    _ => CheckRun::ReadStored,
                })
            }
            404 => Err(RuntimeError::NotFound(format!("container {id}"))),
            // 409: no check defined, or the container stopped meanwhile.
            409 => Ok(CheckRun::ReadStored),
            status => Err(RuntimeError::Api {
                operation,
                status: Some(status),
                message: body_message(&body),
            }),
        }
    }

    /// Whether container `id`'s check is due (it did not run in the last `interval`); if so,
    /// records that it runs now. Runs older than [`HEALTH_RUN_MEMORY`] are forgotten.
    fn due(&self, id: &str, interval: Duration) -> bool {
        let mut runs = self.health_runs.lock().unwrap_or_else(|p| p.into_inner());
        if runs.get(id).is_some_and(|t| t.elapsed() < interval) {
            return false;
        }
        runs.retain(|_, t| t.elapsed() < HEALTH_RUN_MEMORY);
        runs.insert(id.to_string(), Instant::now());
        true
    }
}

/// A duration from the engine's nanoseconds; `default` for none, 0 or a negative count.
fn nanos_to_duration(n: Option<i64>, default: Duration) -> Duration {
    match n {
        Some(n) if n > 0 => Duration::from_nanos(n.unsigned_abs()),
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_due_once_per_interval() {
        let libpod = Libpod::new(RawClient::new("unix:///nonexistent"), "4.3.1".into());
        let interval = Duration::from_secs(60);
        assert!(libpod.due("a", interval));
        assert!(!libpod.due("a", interval));
        assert!(libpod.due("b", interval));
        assert!(libpod.due("a", Duration::ZERO));
    }

    #[test]
    fn engine_durations_default_when_unset() {
        let default = Duration::from_secs(30);
        assert_eq!(nanos_to_duration(None, default), default);
        assert_eq!(nanos_to_duration(Some(0), default), default);
        assert_eq!(nanos_to_duration(Some(-1), default), default);
        assert_eq!(
            nanos_to_duration(Some(1_500_000_000), default),
            Duration::from_millis(1500)
        );
    }
}

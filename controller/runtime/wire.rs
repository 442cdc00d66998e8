/*! The engines' JSON as devarch reads it by hand: lenient wire types, their decoding into the
engine-neutral types of [`super`], and the `name` filter sent with every list.

Containers are listed and inspected with plain requests ([`super::http`]) into the types here,
not through bollard: Podman reports states such as `stopped` (and `configured`,
`initialized`) that bollard's strict enums refuse to decode, failing the whole list. So every
field is optional or defaulted, `null` (which both engines send for empty lists and maps)
reads as empty, and states stay plain strings until [`ContainerState::parse`].

The engines' `name` filter is a substring (Docker) or regex (Podman) match, not a prefix
match: [`name_filter`] narrows a list on the engine side, and every list is filtered again by
a real prefix match by its caller ([`super::engine`]). Container names come with a leading `/`
that is stripped here ([`RawListed::into_summary`], [`RawInspect::into_details`]).
*/

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::http::encode;
use super::{ContainerDetails, ContainerState, ContainerSummary, Health, PortProtocol};

/// One entry of `GET /containers/json` (compat) or Podman's `GET /libpod/containers/json`;
/// states are plain strings. Read with [`Self::into_summary`].
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RawListed {
    /// libpod: network names (compat: `NetworkSettings.Networks`).
    #[serde(default)]
    networks: Option<Vec<String>>,
    id: String,
    #[serde(default, deserialize_with = "null_default")]
    names: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    image: String,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
    #[serde(default, deserialize_with = "null_default")]
    state: String,
    #[serde(default, deserialize_with = "null_default")]
    network_settings: RawNetworkSettings,
    #[serde(default, deserialize_with = "null_default")]
    ports: Vec<RawPort>,
}

/// One published port of a listed container: compat `{"PublicPort": 8080, "Type": "tcp"}`,
/// libpod `{"host_port": 8080, "protocol": "tcp"}`.
#[derive(Default, Deserialize)]
struct RawPort {
    #[serde(rename = "PublicPort", alias = "host_port", default)]
    public_port: Option<u16>,
    #[serde(rename = "Type", alias = "protocol", default)]
    kind: Option<String>,
}

impl RawListed {
    /// The engine-neutral summary: name without its `/` (legacy link names skipped), labels
    /// and network names sorted, the state parsed. `None` for an entry without a name of its
    /// own. Does not filter by prefix: that is the caller's job.
    pub(super) fn into_summary(self) -> Option<ContainerSummary> {
        let name = primary_name(&self.names)?;
        Some(ContainerSummary {
            id: self.id,
            name,
            image: self.image,
            labels: sorted(self.labels),
            state: ContainerState::parse(&self.state),
            networks: match self.networks {
                Some(mut names) => {
                    names.sort();
                    names
                }
                None => network_names(self.network_settings.networks),
            },
            published: self
                .ports
                .iter()
                .filter_map(|p| {
                    let proto = match p.kind.as_deref() {
                        Some("udp") => PortProtocol::Udp,
                        _ => PortProtocol::Tcp,
                    };
                    p.public_port.filter(|&h| h != 0).map(|h| (h, proto))
                })
                .collect(),
        })
    }
}

/// One entry of Podman's `GET /libpod/networks/json`, or its `GET /libpod/networks/{id}/json`
/// (no `labels` key when there are none).
#[derive(Deserialize)]
pub(super) struct RawLibpodNetwork {
    /// The network's name (unique on Podman).
    pub(super) name: String,
    /// The network's ID.
    pub(super) id: String,
    /// Its labels; `None` when it has none.
    #[serde(default)]
    pub(super) labels: Option<HashMap<String, String>>,
}

/// Podman's `GET /libpod/info`, the one field devarch reads (`host.security.rootless`).
#[derive(Deserialize)]
pub(super) struct RawLibpodInfo {
    pub(super) host: RawLibpodHost,
}

/// `host` of [`RawLibpodInfo`].
#[derive(Deserialize)]
pub(super) struct RawLibpodHost {
    pub(super) security: RawLibpodSecurity,
}

/// `host.security` of [`RawLibpodInfo`].
#[derive(Deserialize)]
pub(super) struct RawLibpodSecurity {
    #[serde(default)]
    pub(super) rootless: bool,
}

/// `GET /containers/{id}/json`, the fields devarch reads. Read with [`Self::into_details`],
/// [`Self::health`] and [`Self::health_check`].
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RawInspect {
    /// The container's full ID.
    pub(super) id: String,
    #[serde(default, deserialize_with = "null_default")]
    name: String,
    #[serde(default, deserialize_with = "null_default")]
    image: String,
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default, deserialize_with = "null_default")]
    state: RawState,
    #[serde(default, deserialize_with = "null_default")]
    network_settings: RawNetworkSettings,
}

/// Inspect's `Config`: the effective config (image reference as created, labels, check).
#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawConfig {
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    labels: Option<HashMap<String, String>>,
    #[serde(default)]
    healthcheck: Option<RawHealthConfig>,
}

/// The health check of a container's effective config (`Config.Healthcheck`); durations in
/// nanoseconds, `None` or 0 for the engine's default.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RawHealthConfig {
    #[serde(default)]
    test: Option<Vec<String>>,
    /// Between two runs, in nanoseconds.
    #[serde(default)]
    pub(super) interval: Option<i64>,
    /// Longest run, in nanoseconds.
    #[serde(default)]
    pub(super) timeout: Option<i64>,
}

/// Inspect's `State`; `Status` is a plain string (Podman's `stopped`, `configured`, ...).
#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawState {
    #[serde(default, deserialize_with = "null_default")]
    status: String,
    #[serde(default, deserialize_with = "null_default")]
    running: bool,
    #[serde(default)]
    exit_code: Option<i64>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    health: Option<RawHealth>,
}

/// A health state: inspect's `State.Health`, or the libpod health check answer.
#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RawHealth {
    /// `healthy`, `unhealthy`, `starting` or empty (read as starting).
    #[serde(default)]
    pub(super) status: Option<String>,
}

/// `NetworkSettings`: the attached networks (the map's keys) and each one's address.
#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawNetworkSettings {
    #[serde(default)]
    networks: Option<HashMap<String, RawEndpoint>>,
}

/// One attached network of `NetworkSettings.Networks`.
#[derive(Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawEndpoint {
    #[serde(rename = "IPAddress", default, deserialize_with = "null_default")]
    ip_address: String,
}

/// `null` (which engines send for empty lists and maps) reads as the default. For
/// `#[serde(default, deserialize_with = "null_default")]` on lenient fields.
pub(super) fn null_default<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

impl RawInspect {
    /// The health check of the effective config, if any (it may be `[NONE]`, see
    /// [`Self::health`]).
    pub(super) fn health_check(&self) -> Option<&RawHealthConfig> {
        self.config.as_ref().and_then(|c| c.healthcheck.as_ref())
    }

    /// Whether the container's process is up (`State.Running`).
    pub(super) fn is_running(&self) -> bool {
        self.state.running
    }

    /// `None` without a check in the effective config (`[NONE]` disables the image's; Podman
    /// reports an empty health state even without a check), `Starting` for the engine's empty
    /// status.
    pub(super) fn health(&self) -> Health {
        let test = self
            .health_check()
            .and_then(|h| h.test.as_deref())
            .and_then(|t| t.first());
        if test.is_none_or(|first| first == "NONE") {
            return Health::None;
        }
        match self.state.health.as_ref().and_then(|h| h.status.as_deref()) {
            Some("healthy") => Health::Healthy,
            Some("unhealthy") => Health::Unhealthy,
            _ => Health::Starting,
        }
    }

    /// The engine-neutral details: name without its `/`, the configured image reference (not
    /// the image ID), no start time for a container that never started, an exit code only for
    /// a stopped one.
    pub(super) fn into_details(self) -> ContainerDetails {
        let health = self.health();
        let state = ContainerState::parse(&self.state.status);
        // Engines report "0001-01-01T00:00:00Z" for a container that never started.
        let started_at = self
            .state
            .started_at
            .filter(|t| !t.is_empty() && !t.starts_with("0001-"));
        let exit_code = match state {
            ContainerState::Exited | ContainerState::Dead => self.state.exit_code,
            _ => None,
        };
        let config = self.config.unwrap_or_default();
        let addresses = self
            .network_settings
            .networks
            .iter()
            .flatten()
            .filter(|(_, e)| !e.ip_address.is_empty())
            .map(|(n, e)| (n.clone(), e.ip_address.clone()))
            .collect();
        ContainerDetails {
            summary: ContainerSummary {
                id: self.id,
                name: self
                    .name
                    .strip_prefix('/')
                    .unwrap_or(&self.name)
                    .to_string(),
                image: config.image.unwrap_or(self.image),
                labels: sorted(config.labels),
                state,
                networks: network_names(self.network_settings.networks),
                published: Vec::new(),
            },
            health,
            started_at,
            exit_code,
            addresses,
        }
    }
}

/// The engine-side `name` filter, for bollard's list options (`None` for an empty prefix).
/// A substring/regex match on the engine: results must be filtered again by prefix.
pub(super) fn name_filter(prefix: &str) -> Option<HashMap<String, Vec<String>>> {
    (!prefix.is_empty()).then(|| HashMap::from([("name".to_string(), vec![prefix.to_string()])]))
}

/// [`name_filter`] for a plain request's query string: `{sep}filters=…` (`sep` is `?` or
/// `&`), or "" for an empty prefix.
pub(super) fn name_filter_query(prefix: &str, sep: char) -> String {
    name_filter(prefix)
        .map(|f| {
            let json = serde_json::to_string(&f).unwrap_or_default();
            format!("{sep}filters={}", encode(&json))
        })
        .unwrap_or_default()
}

/// [`name_filter_query`] with a `label` filter too, when given: only objects that carry
/// that label key.
pub(super) fn name_label_filter_query(prefix: &str, label: Option<&str>, sep: char) -> String {
    let Some(label) = label else {
        return name_filter_query(prefix, sep);
    };
    let mut f = name_filter(prefix).unwrap_or_default();
    f.insert("label".to_string(), vec![label.to_string()]);
    let json = serde_json::to_string(&f).unwrap_or_default();
    format!("{sep}filters={}", encode(&json))
}

/// The container's own name from a list entry: without the leading `/`, skipping legacy link
/// names (`/other/alias`).
fn primary_name(names: &[String]) -> Option<String> {
    names
        .iter()
        .map(|n| n.strip_prefix('/').unwrap_or(n))
        .find(|n| !n.contains('/'))
        .map(str::to_string)
}

/// Labels as the engine sent them (`None` for none), sorted by key.
pub(super) fn sorted(labels: Option<HashMap<String, String>>) -> BTreeMap<String, String> {
    labels.unwrap_or_default().into_iter().collect()
}

/// The keys of a `NetworkSettings.Networks` map, sorted.
fn network_names<V>(networks: Option<HashMap<String, V>>) -> Vec<String> {
    let mut names: Vec<String> = networks.unwrap_or_default().into_keys().collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_name_strips_slash_and_skips_links() {
        let names = vec!["/web/db".to_string(), "/devarch-a-db".to_string()];
        assert_eq!(primary_name(&names).as_deref(), Some("devarch-a-db"));
        assert_eq!(primary_name(&[]), None);
    }

    #[test]
    fn reads_podman_inspect_leniently() {
        let json = r#"{"Id":"abc","Name":"devarch-a-db","Image":"sha256:1","State":{"Status":"stopped",
            "Running":false,"ExitCode":3,"StartedAt":"2026-11-25T22:18:19Z","Health":{"Status":""}},
            "Config":{"Image":"localhost/img:1","Labels":null,"Healthcheck":{"Test":["CMD","true"]}},
            "NetworkSettings":{"Networks":{"b":{},"a":{"Aliases":null}}}}"#;
        let raw: RawInspect = serde_json::from_str(json).unwrap();
        assert_eq!(raw.health(), Health::Starting);
        let d = raw.into_details();
        assert_eq!(
            (d.summary.state, d.exit_code),
            (ContainerState::Exited, Some(3))
        );
        assert_eq!(d.summary.networks, ["a", "b"]);
        assert_eq!(d.summary.image, "localhost/img:1");
        assert!(d.summary.labels.is_empty());

        let never: RawInspect = serde_json::from_str(
            r#"{"Id":"x","State":{"Status":"created","StartedAt":"0001-01-01T00:00:00Z"},
            "Config":{"Healthcheck":{"Test":["NONE"]}}}"#,
        )
        .unwrap();
        assert_eq!(never.health(), Health::None);
        let d = never.into_details();
        assert_eq!((d.started_at, d.exit_code), (None, None));

        let listed: Vec<RawListed> =
            serde_json::from_str(r#"[{"Id":"x","Names":["/n"],"State":"stopped","Labels":null}]"#)
                .unwrap();
        assert_eq!(listed[0].state, "stopped");
    }
}

/*! Finding and connecting to a container engine.

Docker: `DOCKER_HOST` (unix, tcp or http) or `/var/run/docker.sock`. Podman: `CONTAINER_HOST`,
`DEVARCH_PODMAN_SOCKET`, `/run/podman/podman.sock`, `$XDG_RUNTIME_DIR/podman/podman.sock`.
Whatever answers is identified from its own answer (the `/_ping` headers, else `/version`),
not from the endpoint, so a `DOCKER_HOST` pointing at a Podman socket is treated as Podman. The
API version is negotiated, never pinned: the lower of the server's and bollard's.
*/

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bollard::models::SystemVersion;
use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};
use hyper::HeaderMap;

use super::engine::EngineRuntime;
use super::http::RawClient;
use super::{EngineInfo, EngineKind, Runtime, RuntimeError};

/// How long an endpoint may take to answer the handshake (a dead socket fails at once).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Request timeout of the connected client (a stop waits longer on its own).
const REQUEST_TIMEOUT: u64 = 120;
/// Libpod API version assumed when Podman does not say.
const DEFAULT_LIBPOD_API: &str = "4.3.1";

/// Which engine to connect to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Choice {
    /// Docker if it answers, else Podman.
    #[default]
    Auto,
    /// Docker (`DOCKER_HOST` or the default socket).
    Docker,
    /// Podman's API service.
    Podman,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Choice::Auto => "auto",
            Choice::Docker => "docker",
            Choice::Podman => "podman",
        })
    }
}

impl FromStr for Choice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Choice::Auto),
            "docker" => Ok(Choice::Docker),
            "podman" => Ok(Choice::Podman),
            other => Err(format!(
                "unknown runtime {other:?} (expected docker, podman or auto)"
            )),
        }
    }
}

/// Connects to the first engine of `choice` that answers.
///
/// Each endpoint gets [`CONNECT_TIMEOUT`]; when none answers the error lists every endpoint
/// tried with its error.
pub async fn connect(choice: Choice) -> Result<Box<dyn Runtime>, RuntimeError> {
    let mut endpoints = Vec::new();
    if matches!(choice, Choice::Auto | Choice::Docker) {
        endpoints.push(docker_endpoint());
    }
    if matches!(choice, Choice::Auto | Choice::Podman) {
        endpoints.extend(podman_endpoints());
    }
    let mut tried = Vec::new();
    for endpoint in dedup(endpoints) {
        match try_endpoint(&endpoint).await {
            Ok(runtime) => return Ok(Box::new(runtime)),
            Err(error) => tried.push(format!("{endpoint}: {error}")),
        }
    }
    Err(RuntimeError::Unavailable { tried })
}

/// Connects to one endpoint (`unix:///path`, a plain socket path, `tcp://host:port`,
/// `http://host:port`), whatever engine answers there.
pub async fn connect_endpoint(endpoint: &str) -> Result<EngineRuntime, RuntimeError> {
    let endpoint = normalize(endpoint);
    try_endpoint(&endpoint)
        .await
        .map_err(|error| RuntimeError::Unavailable {
            tried: vec![format!("{endpoint}: {error}")],
        })
}

/// Docker's endpoint: `DOCKER_HOST`, else the default socket.
fn docker_endpoint() -> String {
    match std::env::var("DOCKER_HOST") {
        Ok(host) if !host.trim().is_empty() => normalize(host.trim()),
        _ => "unix:///var/run/docker.sock".to_string(),
    }
}

/// Podman's endpoints, most specific first.
fn podman_endpoints() -> Vec<String> {
    let mut endpoints = Vec::new();
    for var in ["CONTAINER_HOST", "DEVARCH_PODMAN_SOCKET"] {
        if let Ok(value) = std::env::var(var)
            && !value.trim().is_empty()
        {
            endpoints.push(normalize(value.trim()));
        }
    }
    endpoints.push("unix:///run/podman/podman.sock".to_string());
    if let Ok(dir) = std::env::var("XDG_RUNTIME_DIR")
        && !dir.is_empty()
    {
        endpoints.push(format!("unix://{dir}/podman/podman.sock"));
    }
    endpoints
}

/// A plain path becomes `unix://path`.
fn normalize(endpoint: &str) -> String {
    if endpoint.starts_with('/') {
        format!("unix://{endpoint}")
    } else {
        endpoint.to_string()
    }
}

fn dedup(endpoints: Vec<String>) -> Vec<String> {
    let mut seen = Vec::new();
    for e in endpoints {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    seen
}

/// Connects, negotiates the API version and identifies the engine; the error is a short text.
///
/// One `GET /_ping` normally does it all, as the Docker CLI does: its headers carry the API
/// version (`Api-Version`), the engine (`Server: Docker/20.10.24 (linux)` or
/// `Server: Libpod/4.3.1 (linux)`) and, on Podman only, `Libpod-Api-Version`. This matters on
/// Podman, whose `/version` takes about 0.65 s (it runs `conmon` and `runc` to report their
/// versions). Without those headers, bollard's `negotiate_version()` and `/version` decide.
async fn try_endpoint(endpoint: &str) -> Result<EngineRuntime, String> {
    if endpoint.starts_with("ssh://") {
        let target = super::ssh::SshTarget::parse(endpoint)?;
        let tunnel = super::ssh::SshTunnel::open(&target).await?;
        let local = format!("unix://{}", tunnel.socket.display());
        let runtime = Box::pin(try_endpoint(&local)).await?;
        return Ok(runtime.through(tunnel, endpoint));
    }
    let socket = endpoint.strip_prefix("unix://");
    if !(socket.is_some() || endpoint.starts_with("tcp://") || endpoint.starts_with("http://")) {
        return Err("unsupported endpoint (use unix://, tcp://, http:// or ssh://)".to_string());
    }
    if let Some(path) = socket
        && !std::path::Path::new(path).exists()
    {
        return Err("no such socket".to_string());
    }
    let (status, headers, _) = RawClient::new(endpoint)
        .fetch("/_ping", CONNECT_TIMEOUT)
        .await?;
    if status != 200 {
        return Err(format!("/_ping answered HTTP {status}"));
    }

    let runtime = match Identity::from_ping(&headers) {
        Some(id) => {
            let version = if &id.api_version < API_DEFAULT_VERSION {
                &id.api_version
            } else {
                API_DEFAULT_VERSION
            };
            let docker = client(endpoint, version)?;
            let info = EngineInfo {
                kind: id.kind,
                version: id.version,
                api_version: docker.client_version().to_string(),
                endpoint: endpoint.to_string(),
                remote: !endpoint.starts_with("unix://"),
            };
            EngineRuntime::new(docker, info).with_libpod(id.libpod_api)
        }
        None => {
            let docker = client(endpoint, API_DEFAULT_VERSION)?;
            let handshake = async {
                let docker = docker.negotiate_version().await?;
                let version = docker.version().await?;
                Ok::<_, bollard::errors::Error>((docker, version))
            };
            let (docker, version) = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
                .await
                .map_err(|_| format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()))?
                .map_err(|e| e.to_string())?;
            let podman = podman_component(&version);
            let info = EngineInfo {
                kind: if podman.is_some() {
                    EngineKind::Podman
                } else {
                    EngineKind::Docker
                },
                version: podman
                    .map(|(v, _)| v.to_string())
                    .or_else(|| version.version.clone())
                    .unwrap_or_default(),
                api_version: docker.client_version().to_string(),
                endpoint: endpoint.to_string(),
                remote: !endpoint.starts_with("unix://"),
            };
            EngineRuntime::new(docker, info).with_libpod(podman.map(|(_, api)| api.to_string()))
        }
    };
    Ok(runtime)
}

/// A bollard client for the endpoint speaking API `version`.
fn client(endpoint: &str, version: &ClientVersion) -> Result<Docker, String> {
    match endpoint.strip_prefix("unix://") {
        Some(path) => Docker::connect_with_unix(path, REQUEST_TIMEOUT, version),
        None => Docker::connect_with_http(endpoint, REQUEST_TIMEOUT, version),
    }
    .map_err(|e| e.to_string())
}

/// What `/_ping`'s headers say about the engine.
#[derive(Debug, PartialEq)]
struct Identity {
    kind: EngineKind,
    version: String,
    api_version: ClientVersion,
    libpod_api: Option<String>,
}

impl Identity {
    /// `None` when the headers do not say enough (then `/version` is asked).
    fn from_ping(headers: &HeaderMap) -> Option<Identity> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let (major, minor) = header("Api-Version")?.split_once('.')?;
        let api_version = ClientVersion {
            major_version: major.parse().ok()?,
            minor_version: minor.parse().ok()?,
        };
        // "Docker/20.10.24+dfsg1 (linux)", "Libpod/4.3.1 (linux)".
        let (product, rest) = header("Server")?.split_once('/')?;
        let version = rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let libpod_api = header("Libpod-Api-Version").map(str::to_string);
        let kind = if libpod_api.is_some() || product.eq_ignore_ascii_case("libpod") {
            EngineKind::Podman
        } else if product.eq_ignore_ascii_case("docker") {
            EngineKind::Docker
        } else {
            return None;
        };
        let libpod_api = match kind {
            EngineKind::Podman => Some(libpod_api.unwrap_or_else(|| version.clone())),
            EngineKind::Docker => None,
        };
        Some(Identity {
            kind,
            version,
            api_version,
            libpod_api,
        })
    }
}

/// Podman's compat API names a component "Podman Engine": its version and libpod API version.
fn podman_component(version: &SystemVersion) -> Option<(&str, &str)> {
    let component = version
        .components
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case("Podman Engine"))?;
    let api = component
        .details
        .as_ref()
        .and_then(|d| d.get("APIVersion"))
        .map_or(DEFAULT_LIBPOD_API, String::as_str);
    Some((component.version.as_str(), api))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_choices() {
        assert_eq!("Podman".parse::<Choice>(), Ok(Choice::Podman));
        assert_eq!(Choice::default().to_string(), "auto");
        assert!("kubernetes".parse::<Choice>().is_err());
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("/run/x.sock"), "unix:///run/x.sock");
        assert_eq!(normalize("tcp://1.2.3.4:2375"), "tcp://1.2.3.4:2375");
        assert_eq!(
            dedup(vec!["a".into(), "b".into(), "a".into()]),
            vec!["a", "b"]
        );
    }

    #[test]
    fn identifies_engines_from_ping_headers() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut map = HeaderMap::new();
            for (k, v) in pairs {
                map.insert(*k, v.parse().unwrap());
            }
            map
        };
        let podman = headers(&[
            ("Api-Version", "1.41"),
            ("Libpod-Api-Version", "4.3.1"),
            ("Server", "Libpod/4.3.1 (linux)"),
        ]);
        let id = Identity::from_ping(&podman).unwrap();
        assert_eq!(
            (id.kind, id.version.as_str()),
            (EngineKind::Podman, "4.3.1")
        );
        assert_eq!(id.libpod_api.as_deref(), Some("4.3.1"));
        assert_eq!(id.api_version.to_string(), "1.41");

        let docker = headers(&[
            ("Api-Version", "1.41"),
            ("Server", "Docker/20.10.24+dfsg1 (linux)"),
        ]);
        let id = Identity::from_ping(&docker).unwrap();
        assert_eq!(
            (id.kind, id.version.as_str(), id.libpod_api),
            (EngineKind::Docker, "20.10.24+dfsg1", None)
        );

        assert_eq!(
            Identity::from_ping(&headers(&[("Api-Version", "1.41")])),
            None
        );
        assert_eq!(
            Identity::from_ping(&headers(&[("Server", "Docker/20.10 (linux)")])),
            None
        );
    }

    #[test]
    fn detects_podman_from_version() {
        let podman: SystemVersion = serde_json::from_str(
            r#"{"Platform":{"Name":"linux/amd64/debian-12"},"Components":[{"Name":"Podman Engine",
            "Version":"4.3.1","Details":{"APIVersion":"4.3.1"}}],"Version":"4.3.1","ApiVersion":"1.41"}"#,
        )
        .unwrap();
        assert_eq!(podman_component(&podman), Some(("4.3.1", "4.3.1")));
        let docker: SystemVersion = serde_json::from_str(
            r#"{"Platform":{"Name":""},"Components":[{"Name":"Engine","Version":"20.10.24"}],
            "Version":"20.10.24","ApiVersion":"1.41"}"#,
        )
        .unwrap();
        assert_eq!(podman_component(&docker), None);
    }
}

/*! [`EngineRuntime`]: the [`Runtime`] for Docker and for Podman, over bollard.

One implementation serves both engines, through the Docker-compatible API (see the brief's
"Engine differences"). Most calls go through bollard; the rest are delegated by concept:

- container lists and inspects: plain requests into lenient types (`wire.rs`: Podman
  reports states such as `stopped` that bollard's strict enums refuse to decode);
- the container create body (`create_body.rs`, which sets no ulimits);
- events (`events.rs`: two subscriptions, normalised to Docker's words);
- on Podman only, its libpod API (`libpod.rs`: container and network lists, network
  names, health check runs), held as one optional delegate: a method that needs it asks
  `self.libpod` once, and `None` means Docker.

The engine differences handled in this file:

- Errors: only HTTP 404 is decided on ([`RuntimeError::NotFound`]); a conflict is 409 on
  Docker and 500 on Podman, so every other status is a plain [`RuntimeError::Api`] and callers
  inspect to find out what happened. A 404 from a container create is about what the
  container refers to (its network or image), and says so.
- Name filters of the engines are substring/regex matches: every list is filtered again here
  by a real prefix match (container names lose their leading `/` in `wire.rs`).
- Docker 20.10 creates a second network with an existing name: [`Runtime::create_network`]
  looks the name up first and returns the existing network's ID.
- Podman fails a network create now and then with "no such network interface" when another
  network's bridge goes away meanwhile; [`Runtime::create_network`] asks again (3 tries).
  Likewise an inspect answered "no such process" while the container's process exits is
  asked again (4 tries).
- Podman 4.3 removes a network that is in use when it is named by ID: on Podman,
  [`Runtime::remove_network`] removes it by name, read through libpod (Podman's compat
  network list and inspect can crash it: on Podman, networks are only ever listed and
  inspected through libpod, see `libpod.rs`).
- Docker before 20.10.27 can deadlock when containers of one network go down together
  ([`EngineInfo::network_teardown_deadlocks`]): there, stops and removals go one at a time.
- A failed pull is HTTP 500 on Docker but an error inside a 200 stream on Podman: both become
  [`RuntimeError::Pull`]. A pull without a tag asks for `latest`, not every tag.
- Health checks do not run on Podman without systemd: [`Runtime::check_health`] has libpod
  run the container's check (at most once per configured interval) and reads the
  retry-aware status back with an inspect.
*/

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
    VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListNetworksOptions, ListVolumesOptions,
    RemoveContainerOptions, RemoveVolumeOptions, RenameContainerOptions, StartContainerOptions,
    StopContainerOptions,
};
use futures_util::StreamExt;

use super::create_body::create_body;
use super::events;
use super::http::{RawClient, encode};
use super::libpod::{CheckRun, Libpod};
use super::wire::{RawInspect, RawListed, name_filter, name_label_filter_query, sorted};
use super::{
    ContainerDetails, ContainerSpec, ContainerSummary, EngineInfo, EventStream, Health,
    NetworkSummary, PullProgress, Result, Runtime, RuntimeError, VolumeSummary,
};

/// A container engine (Docker or Podman) reached through its Docker-compatible API, plus
/// Podman's libpod API where that falls short.
///
/// Built by [`super::connect::connect`] and [`super::connect::connect_endpoint`]; the bollard
/// client must already have negotiated its API version. Containers are listed and inspected
/// with plain requests read into lenient types (Podman reports states such as `stopped` that
/// bollard's strict enums reject); every other call goes through bollard.
pub struct EngineRuntime {
    /// The bollard client, API version negotiated.
    docker: Docker,
    /// The engine it talks to.
    info: EngineInfo,
    /// Plain requests to the same endpoint (container lists and inspects, events).
    http: RawClient,
    /// Podman: its libpod API, for what the compat API does badly or not at all. Each method
    /// that needs it asks once, `Some` meaning Podman.
    libpod: Option<Libpod>,
    /// Docker before 20.10.27: container stops and removals go one at a time (see
    /// [`EngineInfo::network_teardown_deadlocks`]).
    teardown: Option<tokio::sync::Mutex<()>>,
    /// The ssh tunnel the socket goes through, for an `ssh://` endpoint; closed with this.
    tunnel: Option<super::ssh::SshTunnel>,
}

/// Runs `call` up to `tries` times, `pause` apart, while it fails with an engine error whose
/// message contains `transient` (an engine race that the same request, asked again, gets past).
async fn ask_again_on<T, F, Fut>(transient: &str, tries: u32, pause: Duration, call: F) -> Result<T>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tried = 1;
    loop {
        match call().await {
            Err(RuntimeError::Api { message, .. })
                if tried < tries && message.contains(transient) =>
            {
                tried += 1;
                tokio::time::sleep(pause).await;
            }
            r => return r,
        }
    }
}

/// On an engine that needs teardown one at a time: how long one container's stop holds up the
/// next before they overlap.
const TEARDOWN_STAGGER: Duration = Duration::from_secs(1);

impl EngineRuntime {
    /// Every container whose name starts with `prefix` (and that carries the label key
    /// `label`, when given): one list request with the engine-side filters, then the same
    /// filters again here (the engine's `name` filter is a substring match).
    async fn containers_with(
        &self,
        prefix: &str,
        label: Option<&str>,
    ) -> Result<Vec<ContainerSummary>> {
        let list: Vec<RawListed> = match &self.libpod {
            Some(libpod) => libpod.list_containers(prefix, label).await?,
            None => {
                let filters = name_label_filter_query(prefix, label, '&');
                let path = format!("/containers/json?all=1{filters}");
                let what = format!("containers {prefix}*");
                self.get_json(&path, "list", &what).await?
            }
        };
        Ok(list
            .into_iter()
            .filter_map(RawListed::into_summary)
            .filter(|c| c.name.starts_with(prefix))
            .filter(|c| label.is_none_or(|l| c.labels.contains_key(l)))
            .collect())
    }

    /// Wraps a connected client whose API version is negotiated. `info.endpoint` must be the
    /// address the client talks to (`unix:///path`, `tcp://host:port` or `http://host:port`).
    pub fn new(docker: Docker, info: EngineInfo) -> Self {
        let http = RawClient::new(&info.endpoint);
        let teardown = info
            .network_teardown_deadlocks()
            .then(|| tokio::sync::Mutex::new(()));
        EngineRuntime {
            docker,
            info,
            http,
            libpod: None,
            teardown,
            tunnel: None,
        }
    }

    /// This runtime, reached through `tunnel` (its socket is the endpoint it was made for):
    /// named by the `ssh://` URL, and remote.
    pub(super) fn through(mut self, tunnel: super::ssh::SshTunnel, endpoint: &str) -> Self {
        self.info.endpoint = endpoint.to_string();
        self.info.remote = true;
        self.tunnel = Some(tunnel);
        self
    }

    /// Waits for this process's turn to stop or remove a container, on an engine that needs
    /// them one at a time ([`EngineInfo::network_teardown_deadlocks`]); no wait elsewhere.
    async fn teardown_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.teardown {
            Some(lock) => Some(lock.lock().await),
            None => None,
        }
    }

    /// Podman: use its libpod API, in URL version `api_version` (the server's own, e.g.
    /// `4.3.1`), for health checks, container and network lists, and network lookups (see
    /// `libpod.rs`). Without it (Docker), every call goes through the compat API and health is
    /// whatever the engine stored; on Podman that stays `starting` when no systemd timer runs
    /// the checks.
    pub fn with_libpod(mut self, api_version: Option<String>) -> Self {
        self.libpod = api_version.map(|api| Libpod::new(self.http.clone(), api));
        self
    }

    /// `GET` on the compat API at the negotiated version; 404 is `NotFound(what)`.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path_and_query: &str,
        verb: &str,
        what: &str,
    ) -> Result<T> {
        let path = format!("/v{}{path_and_query}", self.info.api_version);
        self.http.get_json(&path, verb, what).await
    }

    /// Inspect one container. Podman answers 500 "read /proc/PID/cgroup: no such process"
    /// when asked at the moment the container's process exits: asked again, it answers.
    async fn inspect_raw(&self, id: &str) -> Result<RawInspect> {
        let path = format!("/containers/{}/json", encode(id));
        let what = format!("container {id}");
        ask_again_on("no such process", 4, Duration::from_millis(50), || {
            self.get_json(&path, "inspect", &what)
        })
        .await
    }

    /// Docker: every network whose name contains `prefix` (engine-side filter), through the
    /// compat API. Never on Podman: see [`Libpod`].
    async fn compat_networks(&self, prefix: &str) -> Result<Vec<NetworkSummary>> {
        let options = ListNetworksOptions {
            filters: name_filter(prefix),
        };
        let list = self
            .docker
            .list_networks(Some(options))
            .await
            .map_err(|e| engine_error("list", &format!("networks {prefix}*"), e))?;
        Ok(list
            .into_iter()
            .filter_map(|n| {
                Some(NetworkSummary {
                    id: n.id.unwrap_or_default(),
                    name: n.name?,
                    labels: sorted(n.labels),
                })
            })
            .collect())
    }
}

#[async_trait]
impl Runtime for EngineRuntime {
    fn engine(&self) -> &EngineInfo {
        &self.info
    }

    async fn list_containers(&self, prefix: &str) -> Result<Vec<ContainerSummary>> {
        self.containers_with(prefix, None).await
    }

    async fn list_labelled_containers(
        &self,
        prefix: &str,
        label: &str,
    ) -> Result<Vec<ContainerSummary>> {
        self.containers_with(prefix, Some(label)).await
    }

    async fn list_networks(&self, prefix: &str) -> Result<Vec<NetworkSummary>> {
        let list = match &self.libpod {
            Some(libpod) => libpod.list_networks(prefix).await?,
            None => self.compat_networks(prefix).await?,
        };
        Ok(list
            .into_iter()
            .filter(|n| n.name.starts_with(prefix))
            .collect())
    }

    async fn list_volumes(&self, prefix: &str) -> Result<Vec<VolumeSummary>> {
        let options = ListVolumesOptions {
            filters: name_filter(prefix),
        };
        let list = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(|e| engine_error("list", &format!("volumes {prefix}*"), e))?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter(|v| v.name.starts_with(prefix))
            .map(|v| VolumeSummary {
                name: v.name,
                labels: v.labels.into_iter().collect(),
            })
            .collect())
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails> {
        Ok(self.inspect_raw(id).await?.into_details())
    }

    async fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<String> {
        // Docker 20.10 would happily create a second network with this name.
        if let Some(existing) = self
            .list_networks(name)
            .await?
            .into_iter()
            .find(|n| n.name == name)
        {
            return Ok(existing.id);
        }
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".to_string()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        // Podman picks a free subnet by reading every host interface's addresses; a bridge of
        // another network going away at that moment fails the create with "route ip+net: no
        // such network interface". Nothing was created: ask again.
        let created = ask_again_on(
            "no such network interface",
            3,
            Duration::from_millis(100),
            || async {
                self.docker
                    .create_network(request.clone())
                    .await
                    .map_err(|e| engine_error("create", &format!("network {name}"), e))
            },
        )
        .await;
        match created {
            Ok(created) => Ok(created.id),
            // Docker answers 404 when its address pools are used up (about 31 bridge networks
            // with the defaults): not "the network does not exist", so say what it is.
            Err(RuntimeError::NotFound(_)) => Err(RuntimeError::Api {
                operation: format!("create network {name}"),
                status: Some(404),
                message: "the engine has no free address range left for another network (Docker's default pools hold about 31 bridge networks): remove unused networks (`docker network prune`) or give dockerd more with --default-address-pool / \"default-address-pools\" in daemon.json".into(),
            }),
            Err(e) => Err(e),
        }
    }

    async fn remove_network(&self, id: &str) -> Result<()> {
        let what = format!("network {id}");
        // Podman 4.3 checks "in use" against network names only: removing by ID would delete
        // a network under running containers. Remove by name there (names are unique on
        // Podman; on Docker they may not be, so Docker keeps the ID). The name is read
        // through libpod: Podman 4.3's compat network inspect writes into the network's own
        // option map, and a libpod network list encoding that map at the same moment crashes
        // the whole service ("concurrent map iteration and map write").
        let target = match &self.libpod {
            Some(libpod) => libpod.network_name(id).await?,
            None => id.to_string(),
        };
        self.docker
            .remove_network(&target)
            .await
            .map_err(|e| engine_error("remove", &what, e))
    }

    async fn connect_network(
        &self,
        network_id: &str,
        container: &str,
        aliases: &[String],
    ) -> Result<()> {
        let request = NetworkConnectRequest {
            container: container.to_string(),
            endpoint_config: Some(EndpointSettings {
                aliases: (!aliases.is_empty()).then(|| aliases.to_vec()),
                ..Default::default()
            }),
        };
        self.docker
            .connect_network(network_id, request)
            .await
            .map_err(|e| {
                engine_error(
                    "connect",
                    &format!("container {container} to network {network_id}"),
                    e,
                )
            })
    }

    async fn disconnect_network(&self, network_id: &str, container: &str) -> Result<()> {
        let request = NetworkDisconnectRequest {
            container: container.to_string(),
            force: Some(true),
        };
        self.docker
            .disconnect_network(network_id, request)
            .await
            .map_err(|e| {
                engine_error(
                    "disconnect",
                    &format!("container {container} from network {network_id}"),
                    e,
                )
            })
    }

    async fn rootless(&self) -> Result<bool> {
        match &self.libpod {
            Some(libpod) => libpod.rootless().await,
            None => Ok(false),
        }
    }

    async fn create_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<()> {
        let request = VolumeCreateRequest {
            name: Some(name.to_string()),
            labels: Some(labels.clone().into_iter().collect()),
            ..Default::default()
        };
        let what = format!("volume {name}");
        match self.docker.create_volume(request).await {
            Ok(_) => Ok(()),
            // Docker returns the existing volume; an engine that refuses instead is fine too,
            // as long as the volume is there.
            Err(e) => match self.docker.inspect_volume(name).await {
                Ok(_) => Ok(()),
                Err(_) => Err(engine_error("create", &what, e)),
            },
        }
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        self.docker
            .remove_volume(name, None::<RemoveVolumeOptions>)
            .await
            .map_err(|e| engine_error("remove", &format!("volume {name}"), e))
    }

    async fn image_present(&self, image: &str) -> Result<bool> {
        // On Podman a local image is `localhost/NAME:TAG`; inspecting `NAME:TAG` resolves it.
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(engine_error("inspect", &format!("image {image}"), e)),
        }
    }

    async fn pull_image(
        &self,
        image: &str,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<()> {
        let (from_image, tag) = split_reference(image);
        let options = CreateImageOptions {
            from_image: Some(from_image),
            tag,
            ..Default::default()
        };
        let mut stream = self.docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            // Docker: an HTTP error status. Podman: an `errorDetail` inside a 200 stream, which
            // bollard turns into `DockerStreamError`. Both are the engine's message.
            let info = item.map_err(|e| RuntimeError::Pull {
                image: image.to_string(),
                message: match e {
                    BollardError::DockerResponseServerError { message, .. } => message,
                    BollardError::DockerStreamError { error } => error,
                    other => other.to_string(),
                },
            })?;
            let current = info.progress_detail.as_ref().and_then(|p| {
                Some((
                    u64::try_from(p.current?).ok()?,
                    u64::try_from(p.total?).ok()?,
                ))
            });
            progress(PullProgress {
                image: image.to_string(),
                status: info.status.unwrap_or_default(),
                current,
            });
        }
        Ok(())
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        match self
            .docker
            .create_container(Some(options), create_body(spec))
            .await
        {
            Ok(created) => Ok(created.id),
            // 404 here is about what the container refers to, not about the container.
            Err(e) if status_of(&e) == Some(404) => {
                let message = e.to_string().to_ascii_lowercase();
                Err(RuntimeError::NotFound(if message.contains("network") {
                    format!(
                        "network {} (creating container {})",
                        spec.network, spec.name
                    )
                } else if message.contains("image") {
                    format!("image {} (creating container {})", spec.image, spec.name)
                } else {
                    format!("what container {} refers to ({e})", spec.name)
                }))
            }
            Err(e) => Err(engine_error(
                "create",
                &format!("container {}", spec.name),
                e,
            )),
        }
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|e| engine_error("start", &format!("container {id}"), e))
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()> {
        let seconds = i32::try_from(timeout.as_secs()).unwrap_or(i32::MAX);
        let options = StopContainerOptions {
            t: Some(seconds),
            signal: None,
        };
        // The engine answers only once the container is down: allow for the grace period.
        let docker = if timeout + Duration::from_secs(30) > self.docker.timeout() {
            self.docker
                .clone()
                .with_timeout(timeout + Duration::from_secs(30))
        } else {
            self.docker.clone()
        };
        let stop = docker.stop_container(id, Some(options));
        let stopped = match self.teardown_turn().await {
            None => stop.await,
            // One at a time, but a container that takes its grace period does not hold up the
            // others for all of it: after TEARDOWN_STAGGER the next one may begin (exits are
            // still spread apart, which is what the engine needs).
            Some(turn) => {
                tokio::pin!(stop);
                match tokio::time::timeout(TEARDOWN_STAGGER, &mut stop).await {
                    Ok(done) => done,
                    Err(_) => {
                        drop(turn);
                        stop.await
                    }
                }
            }
        };
        stopped.map_err(|e| engine_error("stop", &format!("container {id}"), e))
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<()> {
        let options = RemoveContainerOptions {
            force,
            v: false,
            link: false,
        };
        let _one_at_a_time = self.teardown_turn().await;
        // Podman refuses to remove a container others were created to depend on
        // (podman-compose's `depends_on` makes such containers): asked again once those
        // removed alongside are gone, it succeeds.
        ask_again_on(
            "has dependent containers",
            50,
            Duration::from_millis(200),
            || async {
                self.docker
                    .remove_container(id, Some(options.clone()))
                    .await
                    .map_err(|e| engine_error("remove", &format!("container {id}"), e))
            },
        )
        .await
    }

    async fn rename_container(&self, id: &str, new_name: &str) -> Result<()> {
        let options = RenameContainerOptions {
            name: new_name.to_string(),
        };
        self.docker
            .rename_container(id, options)
            .await
            .map_err(|e| engine_error("rename", &format!("container {id} to {new_name}"), e))
    }

    async fn check_health(&self, id: &str) -> Result<Health> {
        let details = self.inspect_raw(id).await?;
        let health = details.health();
        // Docker runs the checks itself; Podman does only under systemd.
        let Some(libpod) = &self.libpod else {
            return Ok(health);
        };
        if health == Health::None || !details.is_running() {
            return Ok(health);
        }
        match libpod.run_health_check(&details).await? {
            CheckRun::NotDue => Ok(health),
            CheckRun::Passed => Ok(Health::Healthy),
            CheckRun::ReadStored => Ok(self.inspect_raw(id).await?.health()),
        }
    }

    async fn wait_container(&self, id: &str) -> Result<i64> {
        super::attach::wait_container(&self.docker, id).await
    }

    async fn logs(&self, id: &str, options: &super::LogOptions) -> Result<super::OutputStream> {
        Ok(super::attach::logs(&self.docker, id, options))
    }

    async fn exec(&self, id: &str, cmd: &[String], tty: bool) -> Result<super::ExecSession> {
        super::attach::exec(&self.docker, id, cmd, tty).await
    }

    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>> {
        super::attach::exec_exit_code(&self.docker, exec_id).await
    }

    async fn resize_exec(&self, exec_id: &str, rows: u16, cols: u16) -> Result<()> {
        super::attach::resize_exec(&self.docker, exec_id, rows, cols).await
    }

    async fn copy_files(&self, id: &str, files: &[super::FileCopy]) -> Result<()> {
        let archive = tar_of(files).map_err(|e| RuntimeError::Api {
            operation: format!("copy files into container {id}"),
            status: None,
            message: e.to_string(),
        })?;
        let options = bollard::query_parameters::UploadToContainerOptions {
            path: "/".into(),
            ..Default::default()
        };
        self.docker
            .upload_to_container(id, Some(options), bollard::body_full(archive.into()))
            .await
            .map_err(|e| engine_error("copy files into", &format!("container {id}"), e))
    }

    async fn events(&self, label_filter: &str) -> Result<EventStream> {
        events::subscribe(&self.http, &self.info.api_version, label_filter).await
    }
}

/// A tar archive of `files`, paths relative to `/`, owned by root, with their modes.
fn tar_of(files: &[super::FileCopy]) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(f.content.len() as u64);
        header.set_mode(f.mode);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        builder.append_data(
            &mut header,
            f.path.trim_start_matches('/'),
            f.content.as_slice(),
        )?;
    }
    builder.into_inner()
}

/// Maps a bollard error of `"{verb} {what}"`: 404 is [`RuntimeError::NotFound`]`(what)`,
/// everything else [`RuntimeError::Api`].
pub(super) fn engine_error(verb: &str, what: &str, error: BollardError) -> RuntimeError {
    match error {
        BollardError::DockerResponseServerError {
            status_code: 404, ..
        } => RuntimeError::NotFound(what.to_string()),
        // Podman 4.3 answers 500 "...: no such container" for a container removed a moment
        // ago (seen when a router sync inspected one another process had just removed).
        BollardError::DockerResponseServerError { message, .. }
            if message.contains("no such container") =>
        {
            RuntimeError::NotFound(what.to_string())
        }
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => RuntimeError::Api {
            operation: format!("{verb} {what}"),
            status: Some(status_code),
            message,
        },
        other => RuntimeError::Api {
            operation: format!("{verb} {what}"),
            status: None,
            message: other.to_string(),
        },
    }
}

/// HTTP status of an engine error, if it was one.
fn status_of(error: &BollardError) -> Option<u16> {
    match error {
        BollardError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// `name[:tag]` → (`name`, tag), defaulting the tag to `latest` (without a tag the engine
/// would pull every tag). A digest reference is passed whole.
fn split_reference(image: &str) -> (String, Option<String>) {
    if image.contains('@') {
        return (image.to_string(), None);
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) => (
            image[..image.len() - tag.len() - 1].to_string(),
            Some(tag.to_string()),
        ),
        None => (image.to_string(), Some("latest".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_references() {
        let s = |r: &str| split_reference(r);
        assert_eq!(s("redis"), ("redis".into(), Some("latest".into())));
        assert_eq!(s("redis:7"), ("redis".into(), Some("7".into())));
        assert_eq!(
            s("localhost:5000/a/b"),
            ("localhost:5000/a/b".into(), Some("latest".into()))
        );
        assert_eq!(
            s("localhost:5000/a/b:1.2"),
            ("localhost:5000/a/b".into(), Some("1.2".into()))
        );
        assert_eq!(s("a/b@sha256:00"), ("a/b@sha256:00".into(), None));
    }
}

/*! Runtime backends behind one trait: Docker (bollard) and Podman (bollard on Podman's
Docker-compatible socket, plus its libpod API where compat falls short).

The types here are engine-neutral; nothing in this module knows about manifests. Listing is
by name prefix and label, in one engine call per object kind, never one inspect per object.

One file per concept:
- `mod.rs` (this file): the [`Runtime`] trait and its engine-neutral types.
- [`connect`]: finding an engine, identifying it (Docker or Podman) and negotiating the API.
- [`engine`]: [`engine::EngineRuntime`], the one implementation for both engines, and the
  engine differences it handles (see its module docs).
- `libpod.rs`: Podman's libpod API, the engine's optional delegate where the compat API falls
  short (health checks, network and container lists, network names).
- `wire.rs`: the lenient wire types containers are listed and inspected into, and the `name`
  filter.
- `events.rs`: the event subscriptions and the decoding of each event.
- `create_body.rs`: a [`ContainerSpec`] as the engine's container create body.
- `http.rs`: the plain HTTP client beside bollard.
*/

mod attach;
pub mod connect;
mod create_body;
pub mod engine;
mod events;
#[cfg(test)]
pub(crate) mod fake;
mod http;
mod libpod;
pub mod offline;
mod ssh;
mod wire;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use serde::Serialize;

/// Which engine answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    /// Docker (dockerd).
    Docker,
    /// Podman's Docker-compatible API service.
    Podman,
}

impl fmt::Display for EngineKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        })
    }
}

/// What we know about the connected engine.
#[derive(Clone, Debug, Serialize)]
pub struct EngineInfo {
    /// Docker or Podman.
    pub kind: EngineKind,
    /// Engine version, e.g. `20.10.24` or `4.3.1`.
    pub version: String,
    /// Negotiated API version, e.g. `1.41`.
    pub api_version: String,
    /// Where it was reached (`unix:///var/run/docker.sock`, `tcp://...`, `ssh://...`).
    pub endpoint: String,
    /// Reached over the network (`tcp://`, `ssh://`): it does not share this machine's file
    /// system, so config files are copied into containers instead of bind-mounted, and
    /// host paths relative to the manifests folder are refused.
    pub remote: bool,
}

impl EngineInfo {
    /// Whether this engine's network code can deadlock when two containers of one network go
    /// down at the same moment: Docker before 20.10.27. Its libnetwork takes the network and
    /// controller locks in opposite orders when one container leaves its network while
    /// another's endpoint is deleted (moby/moby#46661; fixed in 23.0, backported to 20.10.27).
    /// The daemon then hangs on every network call until it is restarted. Seen here with
    /// Debian 12's 20.10.24 when a 10-instance stack was recreated in parallel; on such an
    /// engine the runtime stops and removes containers one at a time.
    pub fn network_teardown_deadlocks(&self) -> bool {
        if self.kind != EngineKind::Docker {
            return false;
        }
        let mut parts = self
            .version
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().ok());
        match (
            parts.next().flatten(),
            parts.next().flatten(),
            parts.next().flatten(),
        ) {
            (Some(major), _, _) if major >= 23 => false,
            (Some(20), Some(10), Some(patch)) => patch < 27,
            // Older engines, and one that does not say: assume the worst (it only costs speed).
            _ => true,
        }
    }
}

/// Run state of a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerState {
    /// Created, never started.
    Created,
    /// Its process is up (`running`).
    Running,
    /// Frozen by `pause` (`paused`); not counted as running.
    Paused,
    /// Being restarted by its restart policy (`restarting`); counted as running.
    Restarting,
    /// Stopped or exited (Docker's `exited`, Podman's `stopped`).
    Exited,
    /// Being removed by the engine (`removing`).
    Removing,
    /// Left behind by a removal that failed half-way (`dead`); the engine will not start it.
    Dead,
    /// Anything else the engine reports.
    Other(String),
}

impl ContainerState {
    /// Parse the engine's state word.
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "created" | "configured" | "initialized" => ContainerState::Created,
            "running" => ContainerState::Running,
            "paused" => ContainerState::Paused,
            "restarting" => ContainerState::Restarting,
            "exited" | "stopped" => ContainerState::Exited,
            "removing" => ContainerState::Removing,
            "dead" => ContainerState::Dead,
            other => ContainerState::Other(other.to_string()),
        }
    }

    /// Whether the container's process is up.
    pub fn is_running(&self) -> bool {
        matches!(self, ContainerState::Running | ContainerState::Restarting)
    }
}

/// Health of a container with a health check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// No health check configured.
    None,
    /// Not decided yet (also the engine's empty status).
    Starting,
    /// Last checks passed.
    Healthy,
    /// Checks failed `retries` times.
    Unhealthy,
}

/// A container as listed (one list call returns all of them).
#[derive(Clone, Debug, Serialize)]
pub struct ContainerSummary {
    /// Engine ID (64 hex digits on both engines); plans address the container by it.
    pub id: String,
    /// Name, without the leading `/`.
    pub name: String,
    /// Image reference as created.
    pub image: String,
    /// Every label as created: the manifest's and devarch's `devarch.*` keys (read them
    /// through [`crate::identity::Labelled`]).
    pub labels: BTreeMap<String, String>,
    /// Run state, decoded from the engine's word by [`ContainerState::parse`].
    pub state: ContainerState,
    /// Names of the networks it is attached to.
    pub networks: Vec<String>,
    /// Host ports it publishes, while it runs (what a remote engine's free ports are judged
    /// by: see [`EngineInfo::remote`]).
    pub published: Vec<(u16, PortProtocol)>,
}

/// A network as listed.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkSummary {
    /// Engine ID (64 hex digits). Unique, unlike the name: Docker 20.10 can hold two networks
    /// of one name.
    pub id: String,
    /// Name (`devarch-{stack}-net` for devarch's).
    pub name: String,
    /// Labels as created (devarch's: managed-by, stack and owner).
    pub labels: BTreeMap<String, String>,
}

/// A volume as listed.
#[derive(Clone, Debug, Serialize)]
pub struct VolumeSummary {
    /// Name, also the volume's identity (volumes have no separate ID); devarch's are
    /// `devarch-{stack}-{instance}-{volume}`.
    pub name: String,
    /// Labels as created (devarch's: managed-by, stack, owner and instance).
    pub labels: BTreeMap<String, String>,
}

/// Details of one container (one inspect call).
#[derive(Clone, Debug, Serialize)]
pub struct ContainerDetails {
    /// The listing fields.
    pub summary: ContainerSummary,
    /// Health as the engine reports it (`Starting` for an empty status).
    pub health: Health,
    /// When the container last started (RFC 3339), if ever.
    pub started_at: Option<String>,
    /// Exit code of the last run, when stopped.
    pub exit_code: Option<i64>,
    /// IPv4 address on each attached network, by network name (networks without one left
    /// out, e.g. while the container is stopped).
    pub addresses: BTreeMap<String, String>,
}

/// Network protocol of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl fmt::Display for PortProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PortProtocol::Tcp => "tcp",
            PortProtocol::Udp => "udp",
        })
    }
}

/// A container port published on the host.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PortBinding {
    /// Port inside the container.
    pub container_port: u16,
    /// Protocol; with `container_port`, the `port/protocol` key the engine publishes
    /// under (`80/tcp`).
    pub protocol: PortProtocol,
    /// Host address (None: all).
    pub host_ip: Option<String>,
    /// Host port (always concrete: devarch picks `auto` ports itself).
    pub host_port: u16,
}

/// What is mounted.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase", tag = "type")]
pub enum MountSource {
    /// A named volume.
    Volume {
        /// Runtime name of the volume (devarch's: `devarch-{stack}-{instance}-{volume}`).
        name: String,
    },
    /// A host path.
    Bind {
        /// Absolute host path.
        path: String,
    },
}

/// A mount into a container.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Mount {
    /// What is mounted: a named volume or a host path.
    pub source: MountSource,
    /// Absolute path inside the container.
    pub target: String,
    /// Mounted read-only (`readOnly: true`; always for materialised config files).
    pub read_only: bool,
}

/// The interval of a health check that does not set one (Docker's default; Podman's too).
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(30);
/// The timeout of a health check that does not set one (Docker's default).
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
/// The retries of a health check that does not set them (Docker's default).
pub const DEFAULT_HEALTH_RETRIES: u32 = 3;

/// A container health check.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct HealthSpec {
    /// `[CMD, ...]` or `[CMD-SHELL, script]` (`[NONE]` disables the image's check).
    pub test: Vec<String>,
    /// Time between checks (None: left to the engine, whose default is 30 s).
    pub interval: Option<Duration>,
    /// How long one check may run before it counts as failed (None: the engine's 30 s).
    pub timeout: Option<Duration>,
    /// Failures before unhealthy.
    pub retries: Option<u32>,
    /// Grace period after the start in which failed checks do not count (None: the engine's
    /// 0 s).
    pub start_period: Option<Duration>,
}

/// Everything needed to create a container; engine-neutral.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ContainerSpec {
    /// Container name, `devarch-{stack}-{instance}` for devarch's (no leading `/`);
    /// sent as the create call's `name` query.
    pub name: String,
    /// Image reference as the manifest writes it (`postgres:16`); pulled before the
    /// create when absent.
    pub image: String,
    /// Command (None: the image's).
    pub command: Option<Vec<String>>,
    /// Entrypoint (None: the image's).
    pub entrypoint: Option<Vec<String>>,
    /// Environment, `(KEY, value)` in order. May hold secret values: never log it.
    #[serde(skip)]
    pub env: Vec<(String, String)>,
    /// Labels: the manifest's, then devarch's identity labels and config hashes over them
    /// ([`crate::identity`]).
    pub labels: BTreeMap<String, String>,
    /// Working directory inside the container (None: the image's).
    pub working_dir: Option<String>,
    /// User the process runs as: `name`, `uid` or `uid:gid` (None: the image's).
    pub user: Option<String>,
    /// Hostname inside the container.
    pub hostname: Option<String>,
    /// Published ports, each with a concrete host port (`host: auto` ones were picked
    /// beforehand); ports without a `host` are not in it.
    pub ports: Vec<PortBinding>,
    /// Named volumes and bind mounts in manifest order, then the read-only config files.
    pub mounts: Vec<Mount>,
    /// Network to attach at create time.
    pub network: String,
    /// DNS aliases on that network.
    pub aliases: Vec<String>,
    /// Health check (None: the image's own applies; a `[NONE]` test disables it).
    pub healthcheck: Option<HealthSpec>,
    /// CPU limit in billionths of a CPU.
    pub nano_cpus: Option<i64>,
    /// Memory limit in bytes.
    pub memory: Option<i64>,
    /// Most processes the container may run (absent from the spec's hashes when unset, so
    /// containers from before it existed keep theirs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
}

/// Progress of an image pull.
#[derive(Clone, Debug)]
pub struct PullProgress {
    /// Image being pulled.
    pub image: String,
    /// Engine's status line ("Downloading", "Pull complete"...).
    pub status: String,
    /// Bytes done / total of the current layer, when known.
    pub current: Option<(u64, u64)>,
}

/// What kind of object an [`EngineEvent`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// A container: the only kind whose events carry labels.
    Container,
    /// A network (Docker only: Podman sends no network events).
    Network,
    /// A named volume.
    Volume,
    /// Anything else the engine reports.
    Other,
}

/// One engine event, engine-neutral. A hint that an object changed, never the truth: the
/// labelled lists are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EngineEvent {
    /// What kind of object.
    pub kind: EventKind,
    /// What happened, as Docker spells it: `create`, `start`, `kill`, `die`, `stop`,
    /// `destroy` (Podman's `remove` is reported as `destroy`), `oom`, `rename`, `restart`,
    /// `pause`, `unpause`, `health_status: healthy` / `health_status: unhealthy` (Docker) or a
    /// bare `health_status` (Podman), `connect` / `disconnect` (networks), `mount` / `unmount`
    /// (volumes); Podman adds `init`, `cleanup` and `sync`. Any other action is passed through
    /// unchanged. `exec_*` actions are never reported (see [`Runtime::events`]).
    pub action: String,
    /// Engine ID of the object (for a volume: its name).
    pub id: String,
    /// Name of the object, when the engine says (containers without a leading `/`).
    pub name: Option<String>,
    /// Container labels as the engine reports them with the event (its own attributes such as
    /// `name`, `image`, `exitCode` left out). Always empty for networks and volumes: neither
    /// engine puts labels on their events.
    pub labels: BTreeMap<String, String>,
    /// When it happened, in nanoseconds since the Unix epoch (engine clock).
    pub time: i64,
}

/// A stream of engine events (see [`Runtime::events`]).
pub type EventStream = BoxStream<'static, Result<EngineEvent>>;

/// A runtime call failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No engine answered.
    #[error("no container engine answered; tried: {}", tried.join("; "))]
    Unavailable {
        /// What was tried, with the error of each.
        tried: Vec<String>,
    },
    /// The object does not exist (404 on both engines).
    #[error("{0} not found")]
    NotFound(String),
    /// An image could not be pulled.
    #[error("cannot pull image {image}: {message}")]
    Pull {
        /// The image reference as the spec names it (without a tag, `latest` was asked for).
        image: String,
        /// The engine's message.
        message: String,
    },
    /// Any other engine error.
    #[error("{operation}: {message}")]
    Api {
        /// What was being done ("create container devarch-blog-db").
        operation: String,
        /// HTTP status, when there was one.
        status: Option<u16>,
        /// The engine's message.
        message: String,
    },
}

impl RuntimeError {
    /// Whether this is a 404.
    pub fn is_not_found(&self) -> bool {
        matches!(self, RuntimeError::NotFound(_))
    }
}

/// Result of runtime calls.
pub type Result<T, E = RuntimeError> = std::result::Result<T, E>;

/// A file [`Runtime::copy_files`] writes into a container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileCopy {
    /// Absolute path in the container.
    pub path: String,
    /// Content.
    pub content: Vec<u8>,
    /// Unix permission bits.
    pub mode: u32,
}

/// Which of a container's output streams a chunk came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pipe {
    /// Standard output (and everything a TTY container prints).
    Stdout,
    /// Standard error.
    Stderr,
}

/// A piece of a container's output, as the engine sent it (not split into lines).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputChunk {
    /// Where it came from.
    pub pipe: Pipe,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A container's output as it arrives; ends when the engine closes it.
pub type OutputStream =
    std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<OutputChunk>> + Send>>;

/// What [`Runtime::logs`] asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Keep streaming new output until the container stops.
    pub follow: bool,
    /// Only the last this many lines (None: all).
    pub tail: Option<u64>,
    /// Only output since this Unix time, in seconds.
    pub since: Option<i64>,
    /// The engine prefixes each line with its RFC 3339 time.
    pub timestamps: bool,
}

/// A command running in a container ([`Runtime::exec`]).
pub struct ExecSession {
    /// The engine's ID of the exec, for [`Runtime::exec_exit_code`] and
    /// [`Runtime::resize_exec`].
    pub id: String,
    /// Its output (one [`Pipe::Stdout`] stream when it has a TTY).
    pub output: OutputStream,
    /// Its standard input; shut it down to send end-of-file.
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
}

/// A container engine.
///
/// # Guarantees
/// Names passed in and returned carry no leading `/`. Listing calls make one engine request
/// each, whatever the number of objects. Errors that mean "does not exist" are
/// [`RuntimeError::NotFound`] on both engines (decided by status 404 only).
#[async_trait]
pub trait Runtime: Send + Sync {
    /// The connected engine.
    fn engine(&self) -> &EngineInfo;

    /// Every container (running or not) whose name starts with `prefix`.
    async fn list_containers(&self, prefix: &str) -> Result<Vec<ContainerSummary>>;
    /// Every container whose name starts with `prefix` and that carries the label key
    /// `label` (whatever its value): one engine request with a label filter, so its cost
    /// follows the labelled containers, not the engine.
    async fn list_labelled_containers(
        &self,
        prefix: &str,
        label: &str,
    ) -> Result<Vec<ContainerSummary>> {
        let all = self.list_containers(prefix).await?;
        Ok(all
            .into_iter()
            .filter(|c| c.labels.contains_key(label))
            .collect())
    }
    /// Every network whose name starts with `prefix`.
    async fn list_networks(&self, prefix: &str) -> Result<Vec<NetworkSummary>>;
    /// Every volume whose name starts with `prefix`.
    async fn list_volumes(&self, prefix: &str) -> Result<Vec<VolumeSummary>>;
    /// Details of one container, by ID or name.
    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails>;

    /// Create a bridge network; returns its ID.
    async fn create_network(&self, name: &str, labels: &BTreeMap<String, String>)
    -> Result<String>;
    /// Remove a network by ID.
    async fn remove_network(&self, id: &str) -> Result<()>;
    /// Attach a container to a network with DNS aliases.
    async fn connect_network(
        &self,
        network_id: &str,
        container: &str,
        aliases: &[String],
    ) -> Result<()>;

    /// Detach a container from a network (`NotFound` when either is gone).
    async fn disconnect_network(&self, network_id: &str, container: &str) -> Result<()>;

    /// Whether the engine runs without root (rootless Podman): its containers' addresses are
    /// then out of reach of the host's network namespace. One engine call on Podman (about
    /// 0.3 s: ask it only when it matters); Docker answers `false` without a call.
    async fn rootless(&self) -> Result<bool>;

    /// Create a named volume (no error if it exists with the same name).
    async fn create_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<()>;
    /// Remove a named volume.
    async fn remove_volume(&self, name: &str) -> Result<()>;

    /// Whether an image is present locally.
    async fn image_present(&self, image: &str) -> Result<bool>;
    /// Pull an image, reporting progress.
    async fn pull_image(
        &self,
        image: &str,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<()>;

    /// Create a container; returns its ID.
    async fn create_container(&self, spec: &ContainerSpec) -> Result<String>;
    /// Start a container.
    async fn start_container(&self, id: &str) -> Result<()>;
    /// Stop a container, killing it after `timeout`.
    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<()>;
    /// Remove a container (`force` kills a running one).
    async fn remove_container(&self, id: &str, force: bool) -> Result<()>;
    /// Rename a container.
    async fn rename_container(&self, id: &str, new_name: &str) -> Result<()>;

    /// Current health. On Podman (whose checks do not run without systemd) this runs the
    /// container's check once through libpod and returns its result.
    async fn check_health(&self, id: &str) -> Result<Health>;

    /// Subscribes to engine events about devarch's objects, as hints for a watch loop: the
    /// labelled lists stay the truth, and an event only says "look again".
    ///
    /// Delivers events of containers carrying `label_filter` (`key=value` or `key`, as the
    /// engines' `label` filter takes it; empty: every container), and of networks and volumes
    /// whose name starts with `devarch-` ([`crate::identity::NAME_PREFIX`]): engines put no
    /// labels on network and volume events, so those are selected by name instead, and their
    /// [`EngineEvent::labels`] are empty.
    ///
    /// Returns once the engine has accepted the subscription (both answer in a few ms); list
    /// after that, not before, so that nothing falls between the list and the first event
    /// (measured: a change made right after this returns is reported on both engines).
    /// `exec_*` events are dropped: Docker sends three for every health check run.
    ///
    /// Events are hints: they may come twice, late, or (after a reconnect) not at all.
    ///
    /// # Engine differences (Docker 20.10, Podman 4.3)
    /// - Latency: Docker delivers an event by the time the call that caused it returns
    ///   (within 1 ms); Podman tails its event log file and delivers it up to about 250 ms
    ///   after.
    /// - Podman sends `remove` where Docker sends `destroy` (reported as `destroy` on both),
    ///   extra `init` (before `start`) and `cleanup` (after `die`), and `sync` when its CLI
    ///   touches a container. A stop is `kill`, `die`, `stop` on Docker; on Podman `die` and
    ///   only sometimes `stop`, so rely on `die`. A forced removal is `kill`, `die`, `destroy`
    ///   on Docker and `die`, `destroy` on Podman.
    /// - Podman sends **no network events at all**: a network removed behind devarch's back is
    ///   only seen by the periodic resync there.
    /// - Health: Docker sends `health_status: healthy` / `health_status: unhealthy` when the
    ///   status changes; Podman a bare `health_status` for every check run, including those
    ///   that [`Runtime::check_health`] runs itself, so a loop that checks health on Podman
    ///   must not re-enqueue on them or it feeds itself.
    /// - Podman 4.3 replays the newer half of its event log when the log file rotates (at
    ///   1 MB by default; containers/podman#17665, fixed upstream by #17771): a burst of old,
    ///   already-seen events.
    ///
    /// # Ending
    /// The stream never reconnects. When the engine goes away or closes the stream, it yields
    /// one `Err` and then ends (`None`); nothing follows an error. Reconnecting (with backoff)
    /// and resyncing afterwards (events in between are lost) is the caller's job. A remote
    /// engine that vanishes without closing the connection is not noticed (there is no
    /// heartbeat on the stream): the periodic resync covers that.
    ///
    /// The default implementation (for runtimes without events) never yields anything.
    async fn events(&self, _label_filter: &str) -> Result<EventStream> {
        Ok(Box::pin(futures_util::stream::pending()))
    }

    /// Waits until a container has stopped; its exit code.
    async fn wait_container(&self, id: &str) -> Result<i64> {
        Err(unsupported("wait for", id))
    }

    /// A container's output (both streams), as `docker logs` shows it.
    async fn logs(&self, id: &str, _options: &LogOptions) -> Result<OutputStream> {
        Err(unsupported("read the logs of", id))
    }

    /// Runs `cmd` in a running container, attached to its input and output, with a
    /// pseudo-terminal when `tty`.
    async fn exec(&self, id: &str, _cmd: &[String], _tty: bool) -> Result<ExecSession> {
        Err(unsupported("run a command in", id))
    }

    /// Writes files into a created container (a tar archive extracted at `/`; missing folders
    /// are made), for engines that cannot bind-mount files from this machine.
    async fn copy_files(&self, id: &str, _files: &[FileCopy]) -> Result<()> {
        Err(unsupported("copy files into", id))
    }

    /// The exit code of an exec, once its command has ended (`None` while it runs).
    async fn exec_exit_code(&self, exec_id: &str) -> Result<Option<i64>> {
        Err(unsupported("inspect exec", exec_id))
    }

    /// Tells an exec with a TTY its terminal's size.
    async fn resize_exec(&self, exec_id: &str, _rows: u16, _cols: u16) -> Result<()> {
        Err(unsupported("resize exec", exec_id))
    }
}

/// The error of a call a runtime does not implement.
/// The exit code of an exec whose output has ended: the engine may still report the command
/// as running for a moment after its output closed, so it is asked again (every 20 ms, for
/// up to 5 s). `None` when it never says.
///
/// # Errors
/// The engine's error.
pub async fn exec_exit_code_after_output(rt: &dyn Runtime, exec_id: &str) -> Result<Option<i64>> {
    for _ in 0..250 {
        if let Some(code) = rt.exec_exit_code(exec_id).await? {
            return Ok(Some(code));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(None)
}

fn unsupported(verb: &str, what: &str) -> RuntimeError {
    RuntimeError::Api {
        operation: format!("{verb} {what}"),
        status: None,
        message: "not supported by this runtime".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_docker_before_20_10_27_has_the_teardown_deadlock() {
        let info = |kind, version: &str| EngineInfo {
            remote: false,
            kind,
            version: version.to_string(),
            api_version: "1.41".into(),
            endpoint: "unix:///x".into(),
        };
        use EngineKind::{Docker, Podman};
        for (kind, version, serialized) in [
            (Docker, "20.10.24+dfsg1", true),
            (Docker, "20.10.26", true),
            (Docker, "20.10.27", false),
            (Docker, "19.03.15", true),
            (Docker, "23.0.0", false),
            (Docker, "28.2.2", false),
            (Docker, "", true),
            (Podman, "4.3.1", false),
        ] {
            assert_eq!(
                info(kind, version).network_teardown_deadlocks(),
                serialized,
                "{kind:?} {version}"
            );
        }
    }
}

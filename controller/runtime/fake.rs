/*! An in-memory engine for unit tests of planning, applying and reconciling: containers,
networks and volumes kept in maps, every call logged in order, and failures injected on
demand (the engine going away, a create refused).

It behaves like the real engines where devarch relies on them (404 is
[`RuntimeError::NotFound`], a name held is refused, names carry no leading `/`), never
delivers events, and reports every container as healthy (health check or not). It is no
substitute for the real-engine tests in `tests/`.
*/

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::{
    ContainerDetails, ContainerSpec, ContainerState, ContainerSummary, EngineInfo, EngineKind,
    Health, NetworkSummary, PullProgress, Result, Runtime, RuntimeError, VolumeSummary,
};

/// The engine's objects.
#[derive(Default)]
struct World {
    containers: BTreeMap<String, ContainerSummary>,
    networks: BTreeMap<String, NetworkSummary>,
    volumes: BTreeMap<String, VolumeSummary>,
    next_id: usize,
}

impl World {
    fn id(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("{kind}{}", self.next_id)
    }

    /// The name of a network given by ID or name.
    fn network_name(&self, id: &str) -> Result<String> {
        self.networks
            .values()
            .find(|n| n.id == id || n.name == id)
            .map(|n| n.name.clone())
            .ok_or_else(|| RuntimeError::NotFound(format!("network {id}")))
    }

    /// A container by ID or name.
    fn container(&mut self, id: &str) -> Result<&mut ContainerSummary> {
        let key = self
            .containers
            .values()
            .find(|c| c.id == id || c.name == id)
            .map(|c| c.id.clone())
            .ok_or_else(|| RuntimeError::NotFound(format!("container {id}")))?;
        Ok(self.containers.get_mut(&key).expect("found above"))
    }
}

/// An in-memory engine (see the module docs).
pub(crate) struct FakeRuntime {
    info: EngineInfo,
    world: Mutex<World>,
    log: Mutex<Vec<String>>,
    down: AtomicBool,
    mutations: AtomicUsize,
    fail_create: Mutex<Option<String>>,
}

impl FakeRuntime {
    /// An empty engine that answers.
    pub(crate) fn new() -> Self {
        FakeRuntime {
            info: EngineInfo {
                remote: false,
                kind: EngineKind::Docker,
                version: "fake".into(),
                api_version: "1.41".into(),
                endpoint: "fake://".into(),
            },
            world: Mutex::new(World::default()),
            log: Mutex::new(Vec::new()),
            down: AtomicBool::new(false),
            mutations: AtomicUsize::new(0),
            fail_create: Mutex::new(None),
        }
    }

    /// While `down`, every call fails as if the engine were unreachable.
    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Creating a container whose name ends with `suffix` fails with HTTP 500 "boom".
    pub(crate) fn fail_create(&self, suffix: &str) {
        *self.refusal() = Some(suffix.to_string());
    }

    fn refusal(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.fail_create.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every call so far, in order (`create devarch-s-db`, `start devarch-s-db`...; containers
    /// by their current name).
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// How many calls changed something.
    pub(crate) fn mutations(&self) -> usize {
        self.mutations.load(Ordering::SeqCst)
    }

    /// The containers, by name: (ID, running).
    pub(crate) fn containers(&self) -> BTreeMap<String, (String, bool)> {
        self.world()
            .containers
            .values()
            .map(|c| (c.name.clone(), (c.id.clone(), c.state.is_running())))
            .collect()
    }

    /// Puts a container there directly (a foreign one, or one created by hand).
    pub(crate) fn add_container(&self, name: &str, labels: BTreeMap<String, String>) -> String {
        let mut world = self.world();
        let id = world.id("c");
        world.containers.insert(
            id.clone(),
            ContainerSummary {
                id: id.clone(),
                name: name.to_string(),
                image: "foreign".into(),
                labels,
                state: ContainerState::Running,
                networks: Vec::new(),
                published: Vec::new(),
            },
        );
        id
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Logs a call; fails it when the engine is down.
    fn call(&self, entry: String, mutates: bool) -> Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(RuntimeError::Unavailable {
                tried: vec!["fake://: the engine is down".into()],
            });
        }
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry);
        if mutates {
            self.mutations.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// The current name of a container ID (the ID itself when there is none).
    fn name_of(&self, id: &str) -> String {
        self.world()
            .container(id)
            .map(|c| c.name.clone())
            .unwrap_or_else(|_| id.to_string())
    }
}

#[async_trait]
impl Runtime for FakeRuntime {
    fn engine(&self) -> &EngineInfo {
        &self.info
    }

    async fn list_containers(&self, prefix: &str) -> Result<Vec<ContainerSummary>> {
        self.call("list_containers".into(), false)?;
        let world = self.world();
        let all = world.containers.values();
        Ok(all
            .filter(|c| c.name.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn list_networks(&self, prefix: &str) -> Result<Vec<NetworkSummary>> {
        self.call("list_networks".into(), false)?;
        let world = self.world();
        let all = world.networks.values();
        Ok(all
            .filter(|n| n.name.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn list_volumes(&self, prefix: &str) -> Result<Vec<VolumeSummary>> {
        self.call("list_volumes".into(), false)?;
        let world = self.world();
        let all = world.volumes.values();
        Ok(all
            .filter(|v| v.name.starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn inspect_container(&self, id: &str) -> Result<ContainerDetails> {
        self.call(format!("inspect {id}"), false)?;
        let summary = self.world().container(id)?.clone();
        Ok(ContainerDetails {
            summary,
            health: Health::Healthy,
            started_at: None,
            exit_code: None,
            addresses: BTreeMap::new(),
        })
    }

    async fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<String> {
        self.call(format!("create_network {name}"), true)?;
        let mut world = self.world();
        if let Some(n) = world.networks.values().find(|n| n.name == name) {
            return Ok(n.id.clone());
        }
        let id = world.id("n");
        let network = NetworkSummary {
            id: id.clone(),
            name: name.to_string(),
            labels: labels.clone(),
        };
        world.networks.insert(id.clone(), network);
        Ok(id)
    }

    async fn remove_network(&self, id: &str) -> Result<()> {
        self.call(format!("remove_network {id}"), true)?;
        let mut world = self.world();
        let name = match world.networks.remove(id) {
            Some(n) => n.name,
            None => return Err(RuntimeError::NotFound(format!("network {id}"))),
        };
        for c in world.containers.values_mut() {
            c.networks.retain(|n| *n != name);
        }
        Ok(())
    }

    async fn connect_network(
        &self,
        network_id: &str,
        container: &str,
        _aliases: &[String],
    ) -> Result<()> {
        let name = self.name_of(container);
        self.call(format!("connect {name}"), true)?;
        let mut world = self.world();
        let network = world.network_name(network_id)?;
        world.container(container)?.networks.push(network);
        Ok(())
    }

    async fn rootless(&self) -> Result<bool> {
        Ok(false)
    }

    async fn disconnect_network(&self, network_id: &str, container: &str) -> Result<()> {
        let name = self.name_of(container);
        self.call(format!("disconnect {name}"), true)?;
        let mut world = self.world();
        let network = world.network_name(network_id)?;
        world
            .container(container)?
            .networks
            .retain(|n| *n != network);
        Ok(())
    }

    async fn create_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> Result<()> {
        self.call(format!("create_volume {name}"), true)?;
        let volume = VolumeSummary {
            name: name.to_string(),
            labels: labels.clone(),
        };
        self.world()
            .volumes
            .entry(name.to_string())
            .or_insert(volume);
        Ok(())
    }

    async fn remove_volume(&self, name: &str) -> Result<()> {
        self.call(format!("remove_volume {name}"), true)?;
        match self.world().volumes.remove(name) {
            Some(_) => Ok(()),
            None => Err(RuntimeError::NotFound(format!("volume {name}"))),
        }
    }

    async fn image_present(&self, _image: &str) -> Result<bool> {
        Ok(true)
    }

    async fn pull_image(
        &self,
        image: &str,
        _progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<()> {
        self.call(format!("pull {image}"), true)
    }

    async fn create_container(&self, spec: &ContainerSpec) -> Result<String> {
        let refuse = self.refusal().clone();
        if refuse.is_some_and(|suffix| spec.name.ends_with(&suffix)) {
            return Err(RuntimeError::Api {
                operation: format!("create container {}", spec.name),
                status: Some(500),
                message: "boom".into(),
            });
        }
        self.call(format!("create {}", spec.name), true)?;
        let mut world = self.world();
        if world.containers.values().any(|c| c.name == spec.name) {
            return Err(RuntimeError::Api {
                operation: format!("create container {}", spec.name),
                status: Some(409),
                message: "name in use".into(),
            });
        }
        let id = world.id("c");
        let container = ContainerSummary {
            id: id.clone(),
            name: spec.name.clone(),
            image: spec.image.clone(),
            labels: spec.labels.clone(),
            state: ContainerState::Created,
            networks: if spec.network.is_empty() {
                Vec::new()
            } else {
                vec![spec.network.clone()]
            },
            published: spec
                .ports
                .iter()
                .map(|p| (p.host_port, p.protocol))
                .collect(),
        };
        world.containers.insert(id.clone(), container);
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<()> {
        self.call(format!("start {}", self.name_of(id)), true)?;
        self.world().container(id)?.state = ContainerState::Running;
        Ok(())
    }

    async fn stop_container(&self, id: &str, _timeout: Duration) -> Result<()> {
        self.call(format!("stop {}", self.name_of(id)), true)?;
        self.world().container(id)?.state = ContainerState::Exited;
        Ok(())
    }

    async fn remove_container(&self, id: &str, force: bool) -> Result<()> {
        self.call(format!("remove {}", self.name_of(id)), true)?;
        let mut world = self.world();
        let c = world.container(id)?;
        if c.state.is_running() && !force {
            return Err(RuntimeError::Api {
                operation: format!("remove container {id}"),
                status: Some(409),
                message: "container is running".into(),
            });
        }
        let key = c.id.clone();
        world.containers.remove(&key);
        Ok(())
    }

    async fn rename_container(&self, id: &str, new_name: &str) -> Result<()> {
        self.call(format!("rename {} {new_name}", self.name_of(id)), true)?;
        self.world().container(id)?.name = new_name.to_string();
        Ok(())
    }

    async fn check_health(&self, id: &str) -> Result<Health> {
        self.call(format!("health {}", self.name_of(id)), false)?;
        self.world().container(id)?;
        Ok(Health::Healthy)
    }
}

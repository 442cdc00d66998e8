//! No engine at all: what the commands that only turn manifests into a file (`compose`, `kube`,
//! `import` of a devarch file) run against when no engine answers. Every list is empty (so
//! nothing on an engine is checked: the caller says so), and every change is refused.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;

use super::{
    ContainerDetails, ContainerSpec, ContainerSummary, EngineInfo, EngineKind, Health,
    NetworkSummary, PullProgress, Result, Runtime, RuntimeError, VolumeSummary,
};

/// The stand-in engine; `why` is the error connecting gave.
#[derive(Debug)]
pub struct Offline {
    info: EngineInfo,
    why: String,
}

impl Offline {
    /// A stand-in for the engine that could not be reached (`why`: the connection's error).
    pub fn new(why: impl Into<String>) -> Self {
        Offline {
            info: EngineInfo {
                kind: EngineKind::Docker,
                version: String::new(),
                api_version: String::new(),
                endpoint: "(no engine)".into(),
                remote: false,
            },
            why: why.into(),
        }
    }

    fn refuse<T>(&self, operation: &str) -> Result<T> {
        Err(RuntimeError::Api {
            operation: operation.into(),
            status: None,
            message: format!("no container engine is connected ({})", self.why),
        })
    }
}

#[async_trait]
impl Runtime for Offline {
    fn engine(&self) -> &EngineInfo {
        &self.info
    }
    async fn list_containers(&self, _prefix: &str) -> Result<Vec<ContainerSummary>> {
        Ok(Vec::new())
    }
    async fn list_networks(&self, _prefix: &str) -> Result<Vec<NetworkSummary>> {
        Ok(Vec::new())
    }
    async fn list_volumes(&self, _prefix: &str) -> Result<Vec<VolumeSummary>> {
        Ok(Vec::new())
    }
    async fn inspect_container(&self, _id: &str) -> Result<ContainerDetails> {
        self.refuse("inspect container")
    }
    async fn create_network(
        &self,
        _name: &str,
        _labels: &BTreeMap<String, String>,
    ) -> Result<String> {
        self.refuse("create network")
    }
    async fn remove_network(&self, _id: &str) -> Result<()> {
        self.refuse("remove network")
    }
    async fn connect_network(&self, _n: &str, _c: &str, _aliases: &[String]) -> Result<()> {
        self.refuse("connect network")
    }
    async fn disconnect_network(&self, _n: &str, _c: &str) -> Result<()> {
        self.refuse("disconnect network")
    }
    async fn rootless(&self) -> Result<bool> {
        Ok(false)
    }
    async fn create_volume(&self, _name: &str, _labels: &BTreeMap<String, String>) -> Result<()> {
        self.refuse("create volume")
    }
    async fn remove_volume(&self, _name: &str) -> Result<()> {
        self.refuse("remove volume")
    }
    async fn image_present(&self, _image: &str) -> Result<bool> {
        self.refuse("inspect image")
    }
    async fn pull_image(
        &self,
        _image: &str,
        _progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> Result<()> {
        self.refuse("pull image")
    }
    async fn create_container(&self, _spec: &ContainerSpec) -> Result<String> {
        self.refuse("create container")
    }
    async fn start_container(&self, _id: &str) -> Result<()> {
        self.refuse("start container")
    }
    async fn stop_container(&self, _id: &str, _timeout: Duration) -> Result<()> {
        self.refuse("stop container")
    }
    async fn remove_container(&self, _id: &str, _force: bool) -> Result<()> {
        self.refuse("remove container")
    }
    async fn rename_container(&self, _id: &str, _new_name: &str) -> Result<()> {
        self.refuse("rename container")
    }
    async fn check_health(&self, _id: &str) -> Result<Health> {
        self.refuse("check health")
    }
}

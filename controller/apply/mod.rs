/*! Apply: execute a stack's plan through a [`Runtime`], in order:
network → volumes → config files → images → containers in `dependsOn` order (independent
ones in parallel; `condition: healthy` waits for a fresh health result) → reattachments →
removals.

The executor makes no decisions: every engine call comes from an [`Action`] of the plan.
*/

pub mod lock;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use tokio::sync::watch;

use crate::manifests::types::Condition;
use crate::plan::{Action, NEXT_SUFFIX, Op, StackPlan};
use crate::resolve::desired::{DesiredContainer, DesiredStack, MaterializedFile};
use crate::runtime::{Health, PullProgress, Runtime, RuntimeError};

/// Reattachments and container removals run at most this many at a time (on Docker before
/// 20.10.27 the runtime itself lets only one stop or removal run at once).
const REMOVAL_PARALLELISM: usize = 8;

/// How an object's step went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Started working on it.
    Working,
    /// Waiting for a dependency.
    Waiting,
    /// Done.
    Done,
    /// Failed.
    Failed,
}

/// A progress event, for the CLI or the controller log.
#[derive(Clone, Debug)]
pub struct Event {
    /// Object kind and name, e.g. `container devarch-blog-db`.
    pub object: String,
    /// Status.
    pub status: Status,
    /// Short text ("Created", "Started", "Waiting for db to be healthy").
    pub message: String,
    /// Time spent, on Done/Failed.
    pub elapsed: Option<Duration>,
}

/// Where progress goes; kept apart from logs and errors.
pub trait Progress: Send + Sync {
    /// One event.
    fn event(&self, e: Event);
    /// Image pull progress.
    fn pull(&self, _p: PullProgress) {}
}

/// A sink that drops everything.
pub struct Quiet;
impl Progress for Quiet {
    fn event(&self, _e: Event) {}
}

/// Knobs of an apply.
#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions {
    /// Grace period before a stopped container is killed.
    pub stop_timeout: Duration,
    /// Longest wait for a dependency to become healthy (None: derived from its health check).
    pub health_timeout: Option<Duration>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            stop_timeout: Duration::from_secs(10),
            health_timeout: None,
        }
    }
}

/// One failed step.
#[derive(Debug, thiserror::Error)]
#[error("{object}: {message}")]
pub struct StepError {
    /// The object.
    pub object: String,
    /// What went wrong.
    pub message: String,
}

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Actions completed.
    pub done: usize,
    /// Steps that failed (the rest of the plan still ran where it did not depend on them).
    pub errors: Vec<StepError>,
}

fn step_err(object: &str, e: impl std::fmt::Display) -> StepError {
    StepError {
        object: object.to_string(),
        message: e.to_string(),
    }
}

/// Write a config file atomically with its mode.
fn materialize(f: &MaterializedFile) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = f.host_path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    if std::fs::read(&f.host_path).ok().as_deref() == Some(f.content.as_bytes())
        && std::fs::metadata(&f.host_path)
            .map(|m| m.permissions().mode() & 0o7777 == f.mode)
            .unwrap_or(false)
    {
        return Ok(());
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(f.content.as_bytes())?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(f.mode))?;
    tmp.persist(&f.host_path).map_err(|e| e.error)?;
    Ok(())
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
        return Duration::from_secs(60);
    };
    let interval = h.interval.unwrap_or(Duration::from_secs(30));
    let timeout = h.timeout.unwrap_or(Duration::from_secs(30));
    let tries = h.retries.unwrap_or(3).saturating_add(1);
    h.start_period
        .unwrap_or_default()
        .saturating_add(interval.saturating_add(timeout).saturating_mul(tries))
        .saturating_add(Duration::from_secs(30))
}

/// Poll until the container is healthy (a fresh result, via [`Runtime::check_health`]).
async fn wait_healthy(
    rt: &dyn Runtime,
    dep: &DesiredContainer,
    opts: &ApplyOptions,
) -> Result<Duration, String> {
    let start = Instant::now();
    let deadline = health_deadline(dep, opts);
    let poll = dep
        .spec
        .healthcheck
        .as_ref()
        .and_then(|h| h.interval)
        .unwrap_or(Duration::from_secs(1))
        .clamp(Duration::from_millis(200), Duration::from_secs(1));
    loop {
        match rt.check_health(&dep.spec.name).await {
            Ok(Health::Healthy) | Ok(Health::None) => return Ok(start.elapsed()),
            Ok(Health::Unhealthy)
                if start.elapsed() > Duration::from_secs(1) && !dep.has_healthcheck =>
            {
                return Err("unhealthy".into());
            }
            Ok(_) => {}
            Err(RuntimeError::NotFound(_)) => return Err("container is gone".into()),
            Err(_) if start.elapsed() < deadline => {}
            Err(e) => return Err(e.to_string()),
        }
        if start.elapsed() > deadline {
            return Err(format!("not healthy after {}s", deadline.as_secs()));
        }
        tokio::time::sleep(poll).await;
    }
}

/// Execute one stack's plan. `desired` is needed for anything that creates containers.
///
/// # Guarantees
/// Runs only the plan's actions. A failed container step fails the steps that depend on it
/// and nothing else; the report lists every failure.
pub async fn apply_stack(
    rt: &dyn Runtime,
    desired: Option<&DesiredStack>,
    plan: &StackPlan,
    progress: &dyn Progress,
    opts: ApplyOptions,
) -> ApplyReport {
    let mut report = ApplyReport::default();
    let stack = plan.stack.as_str();
    let emit = |object: &str, status: Status, message: &str, elapsed: Option<Duration>| {
        progress.event(Event {
            object: object.to_string(),
            status,
            message: message.to_string(),
            elapsed,
        });
    };

    // 1. Network and volumes.
    for a in &plan.actions {
        let (kind, name) = a.object(stack);
        let object = format!("{kind} {name}");
        let t = Instant::now();
        let r = match &a.op {
            Op::CreateNetwork { name } => {
                let labels = desired
                    .map(|d| d.network_labels.clone())
                    .unwrap_or_default();
                rt.create_network(name, &labels).await.map(|_| "Created")
            }
            Op::CreateVolume { name } => {
                let labels = desired
                    .and_then(|d| d.volumes.get(name).cloned())
                    .unwrap_or_default();
                rt.create_volume(name, &labels).await.map(|_| "Created")
            }
            _ => continue,
        };
        match r {
            Ok(m) => {
                report.done += 1;
                emit(&object, Status::Done, m, Some(t.elapsed()));
            }
            Err(e) => {
                emit(&object, Status::Failed, &e.to_string(), Some(t.elapsed()));
                report.errors.push(step_err(&object, e));
                // Without its network no container of the stack can be created.
                if matches!(a.op, Op::CreateNetwork { .. }) {
                    return report;
                }
            }
        }
    }

    // 2. Containers, in dependency order.
    if let Some(desired) = desired {
        let ops: BTreeMap<&str, &Action> = plan
            .actions
            .iter()
            .filter_map(|a| match &a.op {
                Op::CreateContainer { instance }
                | Op::RecreateContainer { instance, .. }
                | Op::StartContainer { instance, .. }
                | Op::StopContainer { instance, .. } => Some((instance.as_str(), a)),
                _ => None,
            })
            .collect();

        // Config files and images for what gets created.
        let creating: Vec<&DesiredContainer> = ops
            .iter()
            .filter(|(_, a)| {
                matches!(
                    a.op,
                    Op::CreateContainer { .. } | Op::RecreateContainer { .. }
                )
            })
            .filter_map(|(i, _)| desired.containers.get(*i))
            .collect();
        let mut failed: BTreeSet<String> = BTreeSet::new();
        for c in &creating {
            for f in &c.files {
                if let Err(e) = materialize(f) {
                    let object = format!("container {}", c.spec.name);
                    report.errors.push(step_err(
                        &object,
                        format!("writing config file {}: {e}", f.host_path.display()),
                    ));
                    failed.insert(c.instance.clone());
                }
            }
        }
        let images: BTreeSet<&str> = creating.iter().map(|c| c.spec.image.as_str()).collect();
        let pulls = images.into_iter().map(|image| async move {
            match rt.image_present(image).await {
                Ok(true) => Ok(()),
                Ok(false) | Err(_) => {
                    emit(&format!("image {image}"), Status::Working, "Pulling", None);
                    let t = Instant::now();
                    let r = rt.pull_image(image, &|p| progress.pull(p)).await;
                    match &r {
                        Ok(()) => emit(
                            &format!("image {image}"),
                            Status::Done,
                            "Pulled",
                            Some(t.elapsed()),
                        ),
                        Err(e) => emit(
                            &format!("image {image}"),
                            Status::Failed,
                            &e.to_string(),
                            Some(t.elapsed()),
                        ),
                    }
                    r.map_err(|e| (image, e))
                }
            }
        });
        let mut bad_images: BTreeMap<&str, String> = BTreeMap::new();
        for r in join_all(pulls).await {
            if let Err((image, e)) = r {
                bad_images.insert(image, e.to_string());
            }
        }
        for c in &creating {
            if let Some(e) = bad_images.get(c.spec.image.as_str()) {
                report.errors.push(step_err(
                    &format!("container {}", c.spec.name),
                    format!("image {}: {e}", c.spec.image),
                ));
                failed.insert(c.instance.clone());
            }
        }

        // One task per desired container; each waits for its dependencies' signals.
        let mut senders = BTreeMap::new();
        let mut receivers = BTreeMap::new();
        for name in desired.containers.keys() {
            let (tx, rx) = watch::channel(None::<bool>);
            senders.insert(name.as_str(), tx);
            receivers.insert(name.as_str(), rx);
        }
        let tasks = desired.containers.values().map(|c| {
            let tx = &senders[c.instance.as_str()];
            let receivers = &receivers;
            let failed = &failed;
            let action = ops.get(c.instance.as_str()).copied();
            async move {
                let object = format!("container {}", c.spec.name);
                let Some(action) = action else {
                    let _ = tx.send(Some(true));
                    return Ok(false);
                };
                if failed.contains(&c.instance) {
                    let _ = tx.send(Some(false));
                    return Err(None);
                }
                if !matches!(action.op, Op::StopContainer { .. }) {
                    for (dep, cond) in &c.depends_on {
                        let Some(mut rx) = receivers.get(dep.as_str()).cloned() else {
                            continue;
                        };
                        let ok = loop {
                            if let Some(v) = *rx.borrow_and_update() {
                                break v;
                            }
                            if rx.changed().await.is_err() {
                                break false;
                            }
                        };
                        if !ok {
                            let _ = tx.send(Some(false));
                            return Err(Some(step_err(
                                &object,
                                format!("not started: dependency {dep} failed"),
                            )));
                        }
                        if *cond == Condition::Healthy {
                            let d = &desired.containers[dep];
                            emit(
                                &object,
                                Status::Waiting,
                                &format!("Waiting for {dep} to be healthy"),
                                None,
                            );
                            if let Err(e) = wait_healthy(rt, d, &opts).await {
                                let _ = tx.send(Some(false));
                                return Err(Some(step_err(
                                    &object,
                                    format!("not started: dependency {dep} is {e}"),
                                )));
                            }
                        }
                    }
                }
                let t = Instant::now();
                emit(&object, Status::Working, verb_ing(&action.op), None);
                let r = run_container_op(rt, c, &action.op, &opts).await;
                match r {
                    Ok(m) => {
                        emit(&object, Status::Done, m, Some(t.elapsed()));
                        let _ = tx.send(Some(true));
                        Ok(true)
                    }
                    Err(e) => {
                        emit(&object, Status::Failed, &e, Some(t.elapsed()));
                        let _ = tx.send(Some(false));
                        Err(Some(step_err(&object, e)))
                    }
                }
            }
        });
        for r in join_all(tasks).await {
            match r {
                Ok(true) => report.done += 1,
                Ok(false) | Err(None) => {}
                Err(Some(e)) => report.errors.push(e),
            }
        }
    }

    // 3. Reattachments and removals, a few at a time (each removal waits for its container to
    // stop); reported in plan order.
    let mut steps = Vec::new();
    for a in &plan.actions {
        if matches!(a.op, Op::ConnectNetwork { .. } | Op::RemoveContainer { .. }) {
            steps.push(detach_step(rt, stack, a, &opts));
        }
    }
    let done: Vec<_> = futures_util::stream::iter(steps)
        .buffered(REMOVAL_PARALLELISM)
        .collect()
        .await;
    for (object, r, elapsed) in done {
        finish(&mut report, &emit, &object, r, elapsed);
    }
    for a in &plan.actions {
        let (kind, name) = a.object(stack);
        let object = format!("{kind} {name}");
        let t = Instant::now();
        let r: Result<&str, String> = match &a.op {
            Op::RemoveNetwork { id, .. } => match rt.remove_network(id).await {
                Ok(()) | Err(RuntimeError::NotFound(_)) => Ok("Removed"),
                Err(e) => Err(e.to_string()),
            },
            Op::RemoveVolume { name } => match rt.remove_volume(name).await {
                Ok(()) | Err(RuntimeError::NotFound(_)) => Ok("Removed"),
                Err(e) => Err(e.to_string()),
            },
            _ => continue,
        };
        finish(&mut report, &emit, &object, r, t.elapsed());
    }
    report
}

/// A reattachment or container removal: (object, outcome, time taken).
async fn detach_step(
    rt: &dyn Runtime,
    stack: &str,
    a: &Action,
    opts: &ApplyOptions,
) -> (String, Result<&'static str, String>, Duration) {
    let (kind, name) = a.object(stack);
    let t = Instant::now();
    let r = match &a.op {
        Op::ConnectNetwork { id, instance } => {
            let net = crate::identity::network_name(stack);
            rt.connect_network(&net, id, std::slice::from_ref(instance))
                .await
                .map(|_| "Connected")
                .map_err(|e| e.to_string())
        }
        Op::RemoveContainer { id, .. } => remove_container(rt, id, opts).await.map(|_| "Removed"),
        _ => Ok("Skipped"),
    };
    (format!("{kind} {name}"), r, t.elapsed())
}

fn finish(
    report: &mut ApplyReport,
    emit: &impl Fn(&str, Status, &str, Option<Duration>),
    object: &str,
    r: Result<&str, String>,
    elapsed: Duration,
) {
    match r {
        Ok(m) => {
            report.done += 1;
            emit(object, Status::Done, m, Some(elapsed));
        }
        Err(e) => {
            emit(object, Status::Failed, &e, Some(elapsed));
            report.errors.push(step_err(object, e));
        }
    }
}

fn verb_ing(op: &Op) -> &'static str {
    match op {
        Op::CreateContainer { .. } => "Creating",
        Op::RecreateContainer { .. } => "Recreating",
        Op::StartContainer { .. } => "Starting",
        Op::StopContainer { .. } => "Stopping",
        _ => "Working",
    }
}

async fn remove_container(rt: &dyn Runtime, id: &str, opts: &ApplyOptions) -> Result<(), String> {
    match rt.stop_container(id, opts.stop_timeout).await {
        Ok(()) | Err(RuntimeError::NotFound(_)) => {}
        Err(_) => {} // already stopped, or the engine refuses: the forced remove decides
    }
    match rt.remove_container(id, true).await {
        Ok(()) | Err(RuntimeError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

async fn run_container_op(
    rt: &dyn Runtime,
    c: &DesiredContainer,
    op: &Op,
    opts: &ApplyOptions,
) -> Result<&'static str, String> {
    match op {
        Op::CreateContainer { .. } => {
            let id = rt
                .create_container(&c.spec)
                .await
                .map_err(|e| e.to_string())?;
            rt.start_container(&id).await.map_err(|e| e.to_string())?;
            Ok("Started")
        }
        Op::RecreateContainer { old_id, .. } => {
            let mut next = c.spec.clone();
            next.name = format!("{}{NEXT_SUFFIX}", c.spec.name);
            // A leftover from an interrupted recreate would block the name.
            if let Ok(d) = rt.inspect_container(&next.name).await {
                rt.remove_container(&d.summary.id, true)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let new_id = rt
                .create_container(&next)
                .await
                .map_err(|e| e.to_string())?;
            if let Err(e) = remove_container(rt, old_id, opts).await {
                let _ = rt.remove_container(&new_id, true).await;
                return Err(format!("removing the old container: {e}"));
            }
            rt.rename_container(&new_id, &c.spec.name)
                .await
                .map_err(|e| e.to_string())?;
            rt.start_container(&new_id)
                .await
                .map_err(|e| e.to_string())?;
            Ok("Recreated")
        }
        Op::StartContainer { id, .. } => rt
            .start_container(id)
            .await
            .map(|_| "Started")
            .map_err(|e| e.to_string()),
        Op::StopContainer { id, .. } => rt
            .stop_container(id, opts.stop_timeout)
            .await
            .map(|_| "Stopped")
            .map_err(|e| e.to_string()),
        _ => Ok("Skipped"),
    }
}

#[cfg(test)]
mod tests {
    //! Ordering and failure paths with a recording fake engine (real engines: tests/engine_apply.rs).
    use super::*;
    use crate::plan::{Reason, StackPlan};
    use crate::runtime::{
        ContainerDetails, ContainerSpec, ContainerSummary, EngineInfo, EngineKind, NetworkSummary,
        VolumeSummary,
    };
    use async_trait::async_trait;
    use std::sync::Mutex;

    struct Fake {
        info: EngineInfo,
        log: Mutex<Vec<String>>,
        fail_create: &'static str,
    }

    impl Fake {
        fn new(fail_create: &'static str) -> Self {
            Fake {
                info: EngineInfo {
                    kind: EngineKind::Docker,
                    version: "fake".into(),
                    api_version: "1.41".into(),
                    endpoint: "fake".into(),
                },
                log: Mutex::new(vec![]),
                fail_create,
            }
        }
        fn push(&self, s: String) {
            self.log.lock().unwrap().push(s);
        }
        fn log(&self) -> Vec<String> {
            self.log.lock().unwrap().clone()
        }
    }

    #[async_trait]
    impl Runtime for Fake {
        fn engine(&self) -> &EngineInfo {
            &self.info
        }
        async fn list_containers(&self, _: &str) -> crate::runtime::Result<Vec<ContainerSummary>> {
            Ok(vec![])
        }
        async fn list_networks(&self, _: &str) -> crate::runtime::Result<Vec<NetworkSummary>> {
            Ok(vec![])
        }
        async fn list_volumes(&self, _: &str) -> crate::runtime::Result<Vec<VolumeSummary>> {
            Ok(vec![])
        }
        async fn inspect_container(&self, id: &str) -> crate::runtime::Result<ContainerDetails> {
            Err(RuntimeError::NotFound(id.into()))
        }
        async fn create_network(
            &self,
            name: &str,
            _: &BTreeMap<String, String>,
        ) -> crate::runtime::Result<String> {
            self.push(format!("create_network {name}"));
            Ok("net".into())
        }
        async fn remove_network(&self, id: &str) -> crate::runtime::Result<()> {
            self.push(format!("remove_network {id}"));
            Ok(())
        }
        async fn connect_network(
            &self,
            _: &str,
            c: &str,
            _: &[String],
        ) -> crate::runtime::Result<()> {
            self.push(format!("connect {c}"));
            Ok(())
        }
        async fn create_volume(
            &self,
            name: &str,
            _: &BTreeMap<String, String>,
        ) -> crate::runtime::Result<()> {
            self.push(format!("create_volume {name}"));
            Ok(())
        }
        async fn remove_volume(&self, name: &str) -> crate::runtime::Result<()> {
            self.push(format!("remove_volume {name}"));
            Ok(())
        }
        async fn image_present(&self, _: &str) -> crate::runtime::Result<bool> {
            Ok(true)
        }
        async fn pull_image(
            &self,
            _: &str,
            _: &(dyn Fn(PullProgress) + Send + Sync),
        ) -> crate::runtime::Result<()> {
            Ok(())
        }
        async fn create_container(&self, spec: &ContainerSpec) -> crate::runtime::Result<String> {
            if spec.name.ends_with(self.fail_create) {
                return Err(RuntimeError::Api {
                    operation: format!("create container {}", spec.name),
                    status: Some(500),
                    message: "boom".into(),
                });
            }
            self.push(format!("create {}", spec.name));
            Ok(spec.name.clone())
        }
        async fn start_container(&self, id: &str) -> crate::runtime::Result<()> {
            self.push(format!("start {id}"));
            Ok(())
        }
        async fn stop_container(&self, id: &str, _: Duration) -> crate::runtime::Result<()> {
            self.push(format!("stop {id}"));
            Ok(())
        }
        async fn remove_container(&self, id: &str, _: bool) -> crate::runtime::Result<()> {
            self.push(format!("remove {id}"));
            Ok(())
        }
        async fn rename_container(&self, id: &str, n: &str) -> crate::runtime::Result<()> {
            self.push(format!("rename {id} {n}"));
            Ok(())
        }
        async fn check_health(&self, id: &str) -> crate::runtime::Result<Health> {
            self.push(format!("health {id}"));
            Ok(Health::Healthy)
        }
    }

    fn container(instance: &str, deps: &[&str]) -> DesiredContainer {
        DesiredContainer {
            instance: instance.into(),
            spec: ContainerSpec {
                name: format!("devarch-s-{instance}"),
                image: "img".into(),
                ..Default::default()
            },
            config_hash: "h".into(),
            field_hashes: Default::default(),
            files: vec![],
            depends_on: deps
                .iter()
                .map(|d| (d.to_string(), Condition::Healthy))
                .collect(),
            has_healthcheck: true,
        }
    }

    fn fixture() -> (DesiredStack, StackPlan) {
        let desired = DesiredStack {
            name: "s".into(),
            enabled: true,
            network: "devarch-s-net".into(),
            network_labels: Default::default(),
            volumes: Default::default(),
            containers: [
                container("db", &[]),
                container("app", &["db"]),
                container("worker", &["app"]),
            ]
            .into_iter()
            .map(|c| (c.instance.clone(), c))
            .collect(),
            busy_ports: vec![],
        };
        let mut actions = vec![Action {
            op: Op::CreateNetwork {
                name: "devarch-s-net".into(),
            },
            reason: Reason::Missing,
            detail: String::new(),
        }];
        for i in ["app", "db", "worker"] {
            actions.push(Action {
                op: Op::CreateContainer { instance: i.into() },
                reason: Reason::Missing,
                detail: String::new(),
            });
        }
        actions.push(Action {
            op: Op::RemoveContainer {
                name: "devarch-s-old".into(),
                id: "old".into(),
            },
            reason: Reason::Orphan,
            detail: String::new(),
        });
        (
            desired,
            StackPlan {
                stack: "s".into(),
                actions,
                conflicts: vec![],
                fingerprint: String::new(),
            },
        )
    }

    fn pos(log: &[String], entry: &str) -> usize {
        log.iter()
            .position(|l| l == entry)
            .unwrap_or_else(|| panic!("{entry} not in {log:?}"))
    }

    #[tokio::test]
    async fn network_first_then_containers_in_dependency_order_then_removals() {
        let (desired, plan) = fixture();
        let rt = Fake::new("never");
        let report = apply_stack(&rt, Some(&desired), &plan, &Quiet, ApplyOptions::default()).await;
        assert!(report.errors.is_empty(), "{:?}", report.errors);
        let log = rt.log();
        assert_eq!(log[0], "create_network devarch-s-net");
        assert!(pos(&log, "start devarch-s-db") < pos(&log, "health devarch-s-db"));
        assert!(pos(&log, "health devarch-s-db") < pos(&log, "create devarch-s-app"));
        assert!(pos(&log, "health devarch-s-app") < pos(&log, "create devarch-s-worker"));
        assert_eq!(log.last().unwrap(), "remove old");
        assert_eq!(report.done, 5);
    }

    #[tokio::test]
    async fn a_failed_container_fails_its_dependents_and_nothing_else() {
        let (desired, plan) = fixture();
        let rt = Fake::new("-app");
        let report = apply_stack(&rt, Some(&desired), &plan, &Quiet, ApplyOptions::default()).await;
        let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains("devarch-s-app") && e.contains("boom")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.contains("devarch-s-worker") && e.contains("dependency app failed")),
            "{errors:?}"
        );
        let log = rt.log();
        assert!(log.contains(&"start devarch-s-db".to_string()));
        assert!(!log.iter().any(|l| l.contains("worker")), "{log:?}");
        assert!(
            log.contains(&"remove old".to_string()),
            "removals still run"
        );
    }
}

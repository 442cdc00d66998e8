/*! Apply: execute a stack's plan through a [`Runtime`], in order:
network → volumes → config files → images → containers in `dependsOn` order (independent
ones in parallel; `condition: healthy` waits for a fresh health result) → reattachments →
removals.

The executor makes no decisions: every engine call comes from an [`Action`] of the plan.

- [`progress`]: where progress goes;
- [`files`], [`images`]: what containers to be created need first;
- [`containers`]: container operations in dependency order; [`health`]: health waits;
- [`teardown`]: reattachments and removals;
- [`error`]: why a step failed; [`lock`]: one apply per stack at a time.
*/

pub mod containers;
pub mod error;
pub mod files;
pub mod health;
pub mod images;
pub mod lock;
pub mod progress;
pub mod restart;
pub mod teardown;
pub mod volume_copy;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

pub use error::{StepError, StepFailure};
pub use progress::{Event, Progress, StepStatus};

use crate::plan::{Action, Op, StackPlan};
use crate::resolve::desired::{DesiredContainer, DesiredStack};
use crate::runtime::Runtime;
use progress::Emitter;

/// Knobs of an apply.
#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions {
    /// Grace period a container gets to stop before it is killed (default 10 s).
    pub stop_timeout: Duration,
    /// Longest wait for a dependency to become healthy (None: derived from its health check,
    /// see [`health::health_deadline`]).
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

/// What an apply did.
#[derive(Debug, Default)]
pub struct ApplyReport {
    /// Plan actions that succeeded (creates, container operations, reattachments and removals).
    pub done: usize,
    /// Steps that failed (the rest of the plan still ran where it did not depend on them).
    pub errors: Vec<StepError>,
}

/// Executes one stack's plan. `desired` is needed for anything that creates containers
/// (`None` for a removal).
///
/// # Guarantees
/// Runs only the plan's actions. A failed container step fails the steps that depend on it
/// and nothing else; the report lists every failure. Without its network (a failed create)
/// nothing else of the stack runs.
pub async fn apply_stack(
    rt: &dyn Runtime,
    desired: Option<&DesiredStack>,
    plan: &StackPlan,
    progress: &dyn Progress,
    opts: ApplyOptions,
) -> ApplyReport {
    let mut report = ApplyReport::default();
    let out = Emitter {
        stack: &plan.stack,
        sink: progress,
    };
    if !create_network_and_volumes(rt, desired, plan, out, &mut report).await {
        return report;
    }
    if let Some(desired) = desired {
        let ops: BTreeMap<&str, &Action> = plan
            .actions
            .iter()
            .filter(|a| !matches!(a.op, Op::ConnectNetwork { .. }))
            .filter_map(|a| Some((a.op.instance()?, a)))
            .collect();
        let failed = prepare(rt, desired, &ops, out, &mut report).await;
        let (done, errors) = containers::run_in_order(rt, desired, &ops, &failed, &opts, out).await;
        report.done += done;
        report.errors.extend(errors);
    }
    teardown::reattach_and_remove(rt, plan, &opts, out, &mut report).await;
    report
}

/// Creates the network and volumes the plan asks for; false when the network could not be
/// created (then no container of the stack can be).
async fn create_network_and_volumes(
    rt: &dyn Runtime,
    desired: Option<&DesiredStack>,
    plan: &StackPlan,
    out: Emitter<'_>,
    report: &mut ApplyReport,
) -> bool {
    for a in &plan.actions {
        let t = Instant::now();
        let created = match &a.op {
            Op::CreateNetwork { name } => {
                let labels = desired
                    .map(|d| d.network_labels.clone())
                    .unwrap_or_default();
                rt.create_network(name, &labels).await.map(|_| ())
            }
            Op::CreateVolume { name } => {
                let labels = desired.and_then(|d| d.volumes.get(name).cloned());
                rt.create_volume(name, &labels.unwrap_or_default()).await
            }
            _ => continue,
        };
        let object = a.object_label(&plan.stack);
        match created {
            Ok(()) => {
                report.done += 1;
                out.emit(&object, StepStatus::Done, "Created", Some(t.elapsed()));
            }
            Err(e) => {
                out.emit(
                    &object,
                    StepStatus::Failed,
                    &e.to_string(),
                    Some(t.elapsed()),
                );
                let network = matches!(a.op, Op::CreateNetwork { .. });
                report.errors.push(StepError::new(object, e));
                if network {
                    return false;
                }
            }
        }
    }
    true
}

/// Writes the config files and makes sure the images of the containers to be created are
/// present; returns the instances whose preparation failed (their errors are in `report`).
async fn prepare(
    rt: &dyn Runtime,
    desired: &DesiredStack,
    ops: &BTreeMap<&str, &Action>,
    out: Emitter<'_>,
    report: &mut ApplyReport,
) -> BTreeSet<String> {
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
    let mut failed = BTreeSet::new();
    for c in &creating {
        for f in &c.files {
            if let Err(source) = files::materialize(f) {
                let failure = StepFailure::ConfigFile {
                    path: f.host_path.clone(),
                    source,
                };
                report.errors.push(StepError::new(
                    format!("container {}", c.spec.name),
                    failure,
                ));
                failed.insert(c.instance.clone());
            }
        }
    }
    let images = creating.iter().map(|c| c.spec.image.as_str()).collect();
    let missing = images::ensure_images(rt, images, out).await;
    for c in &creating {
        if let Some(e) = missing.get(c.spec.image.as_str()) {
            let failure = StepFailure::Image {
                image: c.spec.image.clone(),
                source: e.clone(),
            };
            report.errors.push(StepError::new(
                format!("container {}", c.spec.name),
                failure,
            ));
            failed.insert(c.instance.clone());
        }
    }
    failed
}

#[cfg(test)]
mod tests {
    //! Ordering and failure paths with the in-memory engine (real engines:
    //! tests/engine_apply.rs).
    use super::*;
    use crate::manifests::types::DependencyCondition;
    use crate::plan::{ActionReason, StackPlan};
    use crate::runtime::ContainerSpec;
    use crate::runtime::fake::FakeRuntime;

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
                .map(|d| (d.to_string(), DependencyCondition::Healthy))
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
        let mut actions = vec![Action::new(
            Op::CreateNetwork {
                name: "devarch-s-net".into(),
            },
            ActionReason::Missing,
        )];
        for i in ["app", "db", "worker"] {
            actions.push(Action::new(
                Op::CreateContainer { instance: i.into() },
                ActionReason::Missing,
            ));
        }
        actions.push(Action::new(
            Op::RemoveContainer {
                name: "devarch-s-old".into(),
                id: "old".into(),
            },
            ActionReason::Orphan,
        ));
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
        let rt = FakeRuntime::new();
        let report = apply_stack(
            &rt,
            Some(&desired),
            &plan,
            &crate::sink::Discard,
            ApplyOptions::default(),
        )
        .await;
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
        let rt = FakeRuntime::new();
        rt.fail_create("-app");
        let report = apply_stack(
            &rt,
            Some(&desired),
            &plan,
            &crate::sink::Discard,
            ApplyOptions::default(),
        )
        .await;
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

/*! Container operations, in dependency order.

One task per desired container: it waits for the containers it depends on to be done (and,
with `condition: healthy`, healthy), then runs its plan operation (create, recreate, start,
stop). Independent containers run in parallel; a failed container fails its dependents and
nothing else. */

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::watch;

use super::ApplyOptions;
use super::error::{StepError, StepFailure};
use super::health::wait_healthy;
use super::progress::{Emitter, StepStatus};
use crate::identity;
use crate::manifests::types::DependencyCondition;
use crate::plan::{Action, Op};
use crate::resolve::desired::{DesiredContainer, DesiredStack};
use crate::runtime::{FileCopy, Runtime, RuntimeError};

/// What one container's task came to: `Ok(true)` when its operation ran, `Ok(false)` when it
/// had none, `Err(None)` when it failed earlier (already reported), `Err(Some(_))` on failure.
type TaskResult = Result<bool, Option<StepError>>;

/// Each container's "done" signal: `None` while pending, then whether it succeeded.
type Signal = watch::Receiver<Option<bool>>;

/// Runs the container operations of `ops` (by instance) over `desired`, in dependency order;
/// `failed` are instances whose preparation (config files, image) already failed. Returns
/// how many operations completed and the failures.
pub(crate) async fn run_in_order(
    rt: &dyn Runtime,
    desired: &DesiredStack,
    ops: &BTreeMap<&str, &Action>,
    failed: &BTreeSet<String>,
    opts: &ApplyOptions,
    out: Emitter<'_>,
) -> (usize, Vec<StepError>) {
    let mut senders = BTreeMap::new();
    let mut signals: BTreeMap<&str, Signal> = BTreeMap::new();
    for name in desired.containers.keys() {
        let (tx, rx) = watch::channel(None::<bool>);
        senders.insert(name.as_str(), tx);
        signals.insert(name.as_str(), rx);
    }
    let tasks = desired.containers.values().map(|c| {
        let tx = &senders[c.instance.as_str()];
        let step = Step {
            rt,
            desired,
            c,
            signals: &signals,
            opts,
            out,
        };
        let action = ops.get(c.instance.as_str()).copied();
        let failed_before = failed.contains(&c.instance);
        async move {
            let result = step.run(action, failed_before).await;
            let _ = tx.send(Some(result.is_ok()));
            result
        }
    });
    let mut done = 0;
    let mut errors = Vec::new();
    for result in join_all(tasks).await {
        match result {
            Ok(true) => done += 1,
            Ok(false) | Err(None) => {}
            Err(Some(e)) => errors.push(e),
        }
    }
    (done, errors)
}

/// One container's task and what it needs.
#[derive(Clone, Copy)]
struct Step<'a> {
    rt: &'a dyn Runtime,
    desired: &'a DesiredStack,
    c: &'a DesiredContainer,
    signals: &'a BTreeMap<&'a str, Signal>,
    opts: &'a ApplyOptions,
    out: Emitter<'a>,
}

impl Step<'_> {
    async fn run(self, action: Option<&Action>, failed_before: bool) -> TaskResult {
        let Some(action) = action else {
            return Ok(false);
        };
        if failed_before {
            return Err(None);
        }
        let object = format!("container {}", self.c.spec.name);
        if !matches!(action.op, Op::StopContainer { .. }) {
            self.wait_dependencies(&object)
                .await
                .map_err(|failure| Some(StepError::new(&object, failure)))?;
        }
        let t = Instant::now();
        self.out
            .emit(&object, StepStatus::Working, verb_ing(&action.op), None);
        match run_container_op(self.rt, self.c, &action.op, self.opts).await {
            Ok(m) => {
                self.out
                    .emit(&object, StepStatus::Done, m, Some(t.elapsed()));
                Ok(true)
            }
            Err(e) => {
                let message = e.to_string();
                self.out
                    .emit(&object, StepStatus::Failed, &message, Some(t.elapsed()));
                Err(Some(StepError::new(object, e)))
            }
        }
    }

    /// Waits until every dependency is done (and healthy where asked).
    async fn wait_dependencies(&self, object: &str) -> Result<(), StepFailure> {
        for (dep, cond) in &self.c.depends_on {
            let Some(mut rx) = self.signals.get(dep.as_str()).cloned() else {
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
                return Err(StepFailure::DependencyFailed {
                    dependency: dep.clone(),
                });
            }
            if *cond == DependencyCondition::Healthy {
                let message = format!("Waiting for {dep} to be healthy");
                self.out.emit(object, StepStatus::Waiting, &message, None);
                let d = &self.desired.containers[dep];
                wait_healthy(self.rt, d, self.opts)
                    .await
                    .map_err(|source| StepFailure::DependencyNotHealthy {
                        dependency: dep.clone(),
                        source,
                    })?;
            }
        }
        Ok(())
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

/// Runs one container operation; returns the word progress shows when it is done.
async fn run_container_op(
    rt: &dyn Runtime,
    c: &DesiredContainer,
    op: &Op,
    opts: &ApplyOptions,
) -> Result<&'static str, StepFailure> {
    match op {
        Op::CreateContainer { .. } => {
            let id = rt.create_container(&c.spec).await?;
            copy_files(rt, c, &id).await?;
            rt.start_container(&id).await?;
            Ok("Started")
        }
        Op::RecreateContainer { old_id, .. } => recreate(rt, c, old_id, opts).await,
        Op::StartContainer { id, .. } => {
            rt.start_container(id).await?;
            Ok("Started")
        }
        Op::StopContainer { id, .. } => {
            rt.stop_container(id, opts.stop_timeout).await?;
            Ok("Stopped")
        }
        _ => Ok("Skipped"),
    }
}

/// On a remote engine, which cannot bind-mount files from this machine, writes the
/// container's config files into it before it starts.
async fn copy_files(rt: &dyn Runtime, c: &DesiredContainer, id: &str) -> Result<(), RuntimeError> {
    if !rt.engine().remote || c.files.is_empty() {
        return Ok(());
    }
    let files: Vec<FileCopy> = c
        .files
        .iter()
        .map(|f| FileCopy {
            path: f.target.clone(),
            content: f.content.clone().into_bytes(),
            mode: f.mode,
        })
        .collect();
    rt.copy_files(id, &files).await
}

/// Create `{name}_next`, stop and remove the old container, rename the new one, start it.
async fn recreate(
    rt: &dyn Runtime,
    c: &DesiredContainer,
    old_id: &str,
    opts: &ApplyOptions,
) -> Result<&'static str, StepFailure> {
    let mut next = c.spec.clone();
    next.name = identity::next_container_name(&c.spec.name);
    // A leftover from an interrupted recreate would block the name.
    if let Ok(d) = rt.inspect_container(&next.name).await {
        rt.remove_container(&d.summary.id, true).await?;
    }
    let new_id = rt.create_container(&next).await?;
    if let Err(e) = copy_files(rt, c, &new_id).await {
        let _ = rt.remove_container(&new_id, true).await;
        return Err(e.into());
    }
    if let Err(e) = remove_container(rt, old_id, opts.stop_timeout).await {
        let _ = rt.remove_container(&new_id, true).await;
        return Err(StepFailure::RemoveOld(e));
    }
    rt.rename_container(&new_id, &c.spec.name).await?;
    rt.start_container(&new_id).await?;
    Ok("Recreated")
}

/// Stops (with the grace period) and removes a container; one already gone counts as
/// removed.
///
/// # Errors
/// The engine's error when the forced removal fails.
pub(crate) async fn remove_container(
    rt: &dyn Runtime,
    id: &str,
    stop_timeout: Duration,
) -> Result<(), RuntimeError> {
    // Already stopped, gone, or refused: the forced remove decides.
    let _ = rt.stop_container(id, stop_timeout).await;
    match rt.remove_container(id, true).await {
        Ok(()) | Err(RuntimeError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

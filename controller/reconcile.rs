/*! Reconcile: the chain resolve → observe → plan → apply for a set of stacks, shared by the
CLI (`plan`, `apply`, `delete`) and, later, the controller.

# Guarantees
- Stacks are locked (in name order) before the engine is observed, so the plan that is
  applied is made from a snapshot no other devarch can change under us.
- A stack whose manifests are gone is removed only when no manifest in the folder is
  broken (a half-saved file must never tear anything down).
*/

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::apply::lock::{StackLock, acquire};
use crate::apply::{ApplyOptions, ApplyReport, Progress, apply_stack};
use crate::manifests::types::HostPort;
use crate::observe::{ObservedWorld, observe};
use crate::plan::{PlanOptions, StackPlan, plan_removal, plan_stack};
use crate::resolve::ResolvedStack;
use crate::resolve::desired::{DesiredContext, DesiredStack, build};
use crate::runtime::Runtime;
use crate::state::ports::{PortError, PortStore};
use crate::state::secrets::SecretStore;
use crate::workspace::Workspace;

/// Errors of a reconcile pass (per-step apply failures are in the [`ApplyReport`]).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A named stack is neither in the manifests nor on the engine.
    #[error("no stack {0:?} in the manifests folder or on the engine")]
    UnknownStack(String),
    /// The manifests have errors affecting the selected stacks.
    #[error("stack {0:?} has manifest errors; run `devarch validate`")]
    InvalidStack(String),
    /// Engine error while observing.
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    /// Lock held by someone else.
    #[error(transparent)]
    Lock(#[from] crate::apply::lock::LockError),
    /// Building desired state failed.
    #[error("stack {stack:?}: {source}")]
    Desired {
        /// Stack.
        stack: String,
        /// Cause.
        #[source]
        source: crate::resolve::desired::DesiredError,
    },
    /// The host port store failed.
    #[error(transparent)]
    Ports(#[from] PortError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// What every reconcile needs.
pub struct Context<'a> {
    /// The engine.
    pub runtime: &'a dyn Runtime,
    /// `--home`.
    pub home: PathBuf,
    /// Owner label value: the manifests folder, absolute.
    pub owner: String,
}

impl Context<'_> {
    /// The owner label value for a manifests folder.
    pub fn owner_of(dir: &Path) -> String {
        std::fs::canonicalize(dir)
            .unwrap_or_else(|_| std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()))
            .display()
            .to_string()
    }
}

/// Plans of a pass, with what they were made from.
pub struct Planned {
    /// One plan per stack considered, sorted by name.
    pub plans: Vec<StackPlan>,
    /// Desired state per stack (absent for removals).
    pub desired: BTreeMap<String, DesiredStack>,
    /// The snapshot.
    pub observed: ObservedWorld,
    /// Stacks left out (manifest errors), with the reason.
    pub skipped: Vec<(String, String)>,
    /// Whether removals of stacks without manifests were held back (broken manifests).
    pub deletions_suspended: bool,
}

/// Which stacks a pass covers.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Named stacks (empty: all).
    pub stacks: Vec<String>,
    /// Stacks to remove even though their manifests exist (`delete`).
    pub remove: BTreeSet<String>,
    /// Plan options.
    pub options: PlanOptions,
    /// The caller holds these stacks' locks and observed after taking them: a recorded `auto`
    /// host port that something else took meanwhile may be replaced. Without the locks the
    /// observation may be older than a container that another apply just started on that
    /// port, so the recorded port is kept (the apply that follows, under the lock, decides).
    pub locked: bool,
}

/// What the manifests say, as far as planning needs it.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    /// Desired state per stack: valid now, or (in watch mode) the last good one.
    pub stacks: BTreeMap<String, ResolvedStack>,
    /// Every stack named in the folder, valid or not.
    pub known: BTreeSet<String>,
    /// Whether every manifest in the folder is valid; removing a stack whose manifests are
    /// gone needs it (a half-saved file must never tear anything down).
    pub folder_valid: bool,
}

impl Manifests {
    /// The manifests of a loaded folder, as they are now.
    pub fn of(ws: &Workspace) -> Self {
        let mut known: BTreeSet<String> = ws.model.stacks.keys().cloned().collect();
        known.extend(
            ws.set
                .broken_names
                .iter()
                .filter(|(k, _)| *k == crate::manifests::schema::Kind::Stack)
                .map(|(_, n)| n.clone()),
        );
        known.extend(ws.set.incomplete_stacks.iter().cloned());
        Manifests {
            stacks: ws.stacks.clone(),
            known,
            folder_valid: ws.is_valid(),
        }
    }
}

/// The stacks a selection covers: named ones, or every stack in the manifests plus every
/// stack on the engine owned by this folder.
pub fn stacks_in_scope(
    ws: &Manifests,
    observed: &ObservedWorld,
    owner: &str,
    sel: &Selection,
) -> Result<Vec<String>, ReconcileError> {
    let owned = observed.owned_stacks(owner);
    if sel.stacks.is_empty() {
        let mut all: BTreeSet<String> = ws.known.clone();
        all.extend(owned);
        all.extend(sel.remove.iter().cloned());
        return Ok(all.into_iter().collect());
    }
    for s in &sel.stacks {
        if !ws.known.contains(s) && !owned.contains(s) {
            return Err(ReconcileError::UnknownStack(s.clone()));
        }
    }
    let mut v = sel.stacks.clone();
    v.sort();
    v.dedup();
    Ok(v)
}

/// Lock the given stacks, in name order.
pub fn lock_stacks(
    home: &Path,
    stacks: &[String],
    wait: Option<Duration>,
) -> Result<Vec<StackLock>, ReconcileError> {
    let mut sorted = stacks.to_vec();
    sorted.sort();
    sorted
        .iter()
        .map(|s| acquire(home, s, wait).map_err(ReconcileError::from))
        .collect()
}

/// Observe and plan the stacks of a selection (callers lock first when they will apply).
///
/// # Errors
/// [`ReconcileError`] for an unknown stack, an engine failure or a desired-state failure.
pub async fn plan(
    ctx: &Context<'_>,
    ws: &Manifests,
    sel: &Selection,
) -> Result<Planned, ReconcileError> {
    let observed = observe(ctx.runtime).await?;
    plan_with(ctx, ws, sel, observed)
}

/// Plan from an existing snapshot.
///
/// # Errors
/// See [`plan`].
pub fn plan_with(
    ctx: &Context<'_>,
    ws: &Manifests,
    sel: &Selection,
    observed: ObservedWorld,
) -> Result<Planned, ReconcileError> {
    let scope = stacks_in_scope(ws, &observed, &ctx.owner, sel)?;
    let secrets = SecretStore::open(&ctx.home).map_err(|e| ReconcileError::Other(e.to_string()))?;
    let fixed: HashSet<u16> = ws
        .stacks
        .values()
        .flat_map(|s| s.instances.values())
        .flat_map(|i| i.spec.ports.iter())
        .filter_map(|p| match p.host {
            Some(HostPort::Fixed(h)) => Some(h),
            _ => None,
        })
        .collect();
    let mut plans = Vec::new();
    let mut desired = BTreeMap::new();
    let mut skipped = Vec::new();
    let mut deletions_suspended = false;
    let dctx = DesiredContext {
        home: &ctx.home,
        owner: &ctx.owner,
        secrets: &secrets,
    };
    for name in scope {
        if sel.remove.contains(&name) {
            plans.push(plan_removal(&name, &observed, &ctx.owner, sel.options));
            continue;
        }
        match ws.stacks.get(&name) {
            Some(resolved) => {
                let existing: HashSet<String> = resolved
                    .instances
                    .values()
                    .filter(|i| observed.container_named(&i.container).is_some())
                    .map(|i| i.name.clone())
                    .collect();
                let d = PortStore::with_locked(&ctx.home, |ports| {
                    build(resolved, &dctx, ports, &fixed, &existing, sel.locked).map_err(|e| {
                        ReconcileError::Desired {
                            stack: name.clone(),
                            source: e,
                        }
                    })
                })?;
                plans.push(plan_stack(&d, &observed, &ctx.owner));
                desired.insert(name, d);
            }
            None if ws.known.contains(&name) => {
                skipped.push((name, "manifest errors; left as it is".into()));
            }
            None if !ws.folder_valid => {
                deletions_suspended = true;
                skipped.push((name, "manifests are gone, but removal is suspended while any manifest in the folder is broken".into()));
            }
            None => plans.push(plan_removal(&name, &observed, &ctx.owner, sel.options)),
        }
    }
    Ok(Planned {
        plans,
        desired,
        observed,
        skipped,
        deletions_suspended,
    })
}

/// Apply planned stacks (in parallel); returns a report per stack.
pub async fn apply(
    ctx: &Context<'_>,
    planned: &Planned,
    progress: &dyn Progress,
    opts: ApplyOptions,
) -> Vec<(String, ApplyReport)> {
    let tasks = planned
        .plans
        .iter()
        .filter(|p| !p.actions.is_empty() && p.conflicts.is_empty())
        .map(|p| async move {
            let report = apply_stack(
                ctx.runtime,
                planned.desired.get(&p.stack),
                p,
                progress,
                opts,
            )
            .await;
            if !planned.desired.contains_key(&p.stack) {
                // Removed stack: forget its host ports.
                let _ = PortStore::with_locked(&ctx.home, |ports| {
                    ports.release_stack(&p.stack);
                    Ok::<(), PortError>(())
                });
            }
            (p.stack.clone(), report)
        });
    futures_util::future::join_all(tasks).await
}

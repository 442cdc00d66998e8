/*! Reconcile: the chain allocate → build desired state → observe → plan → apply for a set of
stacks, shared by the CLI (`plan`, `apply`, `delete`) and the controller
([`crate::watch::reconciler`]).

# Guarantees
- Callers that apply lock the stacks (in name order, [`lock_stacks`]) before observing the
  engine, so the plan that is applied is made from a snapshot no other devarch changes.
- A stack whose manifests are gone is removed only when no manifest in the folder is
  broken (a half-saved file must never tear anything down).
- A removed stack's recorded host ports are released ([`release_ports`]) once it is
  removed, by [`apply`] here and by the controller's reconciler.
*/

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::allocate::{AllocateError, Allocation, allocate};
use crate::apply::lock::{LockError, StackLock, acquire};
use crate::apply::{ApplyOptions, ApplyReport, Progress, StepError, apply_stack};
use crate::manifests::types::{HostPort, Protocol};
use crate::observe::{ObservedWorld, observe_stacks};
use crate::plan::{PlanOptions, StackPlan, plan_removal, plan_stack};
use crate::resolve::ResolvedStack;
use crate::resolve::desired::{DesiredContext, DesiredError, DesiredStack, build};
use crate::router::RouterSettings;
use crate::runtime::{Runtime, RuntimeError};
use crate::state::ports::{PortError, PortStore};
use crate::state::secrets::{SecretError, SecretStore};
use crate::workspace::Workspace;

/// Why a reconcile pass failed.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A named stack is neither in the manifests nor on the engine.
    #[error("no stack {0:?} in the manifests folder or on the engine")]
    UnknownStack(String),
    /// The engine failed while being observed.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A stack's lock is held by someone else (another `apply`, or the controller).
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The secret store under `--home` could not be opened.
    #[error(transparent)]
    Secrets(#[from] SecretError),
    /// The host port store under `--home` could not be locked, read or written.
    #[error(transparent)]
    Ports(#[from] PortError),
    /// A stack's secrets or host ports could not be allocated.
    #[error("stack {stack:?}: {source}")]
    Allocate {
        /// Stack whose secrets or host ports could not be allocated.
        stack: String,
        /// A secret neither set nor generated, or a store's error.
        #[source]
        source: AllocateError,
    },
    /// A stack's desired state could not be built.
    #[error("stack {stack:?}: {source}")]
    Desired {
        /// Stack whose desired state could not be built.
        stack: String,
        /// The value that cannot become an engine setting, naming its instance.
        #[source]
        source: DesiredError,
    },
    /// Some steps of a stack's apply failed (the rest of its plan still ran).
    #[error("{} apply step(s) failed: {}", failed.len(), join(failed))]
    ApplyFailed {
        /// Stack whose apply had failed steps.
        stack: String,
        /// Every failed step, in the order they failed.
        failed: Vec<StepError>,
    },
    /// A blocking task (taking a lock, reading the folder) panicked or was cancelled.
    #[error("a background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

fn join(errors: &[StepError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What every reconcile needs.
pub struct Context<'a> {
    /// The engine each pass observes, plans against and applies to.
    pub runtime: &'a dyn Runtime,
    /// `--home`: secrets, host ports, locks, config files, status.
    pub home: PathBuf,
    /// Owner label value: the manifests folder, absolute ([`crate::identity::owner_of`]).
    pub owner: String,
    /// How the domain router runs ([`crate::router`]).
    pub router: RouterSettings,
}

/// Plans of a pass, with what they were made from.
pub struct Planned {
    /// One plan per stack considered, sorted by name.
    pub plans: Vec<StackPlan>,
    /// Desired state per stack that has manifests (absent for removals and skipped stacks).
    pub desired: BTreeMap<String, DesiredStack>,
    /// The engine snapshot the plans were made from.
    pub observed: ObservedWorld,
    /// Stacks left out, with why.
    pub skipped: Vec<(String, Skip)>,
}

/// Why a stack of the selection was left out of a pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// Its manifests have errors: it is left as it is.
    ManifestErrors,
    /// Its manifests are gone, but some manifest in the folder is broken: removal waits.
    RemovalSuspended,
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Skip::ManifestErrors => "manifest errors; left as it is",
            Skip::RemovalSuspended => {
                "manifests are gone, but removal is suspended while any manifest in the folder is broken"
            }
        })
    }
}

impl Planned {
    /// The plan of `stack`, if it was planned.
    pub fn plan_of(&self, stack: &str) -> Option<&StackPlan> {
        self.plans.iter().find(|p| p.stack == stack)
    }

    /// Why `stack` was left out, if it was.
    pub fn skip_of(&self, stack: &str) -> Option<Skip> {
        self.skipped
            .iter()
            .find(|(s, _)| s == stack)
            .map(|(_, why)| *why)
    }
}

/// Which stacks a pass covers.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Named stacks (empty: all).
    pub stacks: Vec<String>,
    /// Stacks to remove even though their manifests exist (`delete`).
    pub remove: BTreeSet<String>,
    /// Plan options: `--purge-volumes` for removals.
    pub options: PlanOptions,
    /// The caller holds these stacks' locks and observed after taking them: a recorded `auto`
    /// host port that something else took meanwhile may be replaced (see
    /// [`Allocation::repick_busy`]).
    pub locked: bool,
}

impl Selection {
    /// The stacks `names` (all when there are none), nothing else asked.
    pub fn only<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Selection {
        Selection {
            stacks: names.into_iter().map(Into::into).collect(),
            ..Selection::default()
        }
    }
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
/// stack on the engine owned by this folder (with containers or a network; one with only
/// volumes left counts when named for a purge).
///
/// # Errors
/// [`ReconcileError::UnknownStack`] for a named stack neither in the manifests nor on the
/// engine.
pub fn stacks_in_scope(
    ws: &Manifests,
    observed: &ObservedWorld,
    owner: &str,
    sel: &Selection,
) -> Result<Vec<String>, ReconcileError> {
    let mut owned = observed.owned_stacks(owner);
    if sel.options.purge_volumes {
        // A stack whose volumes are all that is left, named for a purge.
        owned.extend(
            observed
                .stacks_with_volumes(owner)
                .into_iter()
                .filter(|s| sel.stacks.contains(s)),
        );
    }
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

/// Locks the given stacks, in name order (so two passes over overlapping stacks never
/// deadlock); `wait` as in [`acquire`].
///
/// # Errors
/// [`ReconcileError::Lock`] naming the holder when a lock is taken.
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

/// Observes and plans the stacks of a selection (callers lock first when they will apply).
///
/// # Errors
/// [`ReconcileError`] for an unknown stack, an engine failure or a desired-state failure.
pub async fn plan(
    ctx: &Context<'_>,
    ws: &Manifests,
    sel: &Selection,
) -> Result<Planned, ReconcileError> {
    // Named stacks (`apply blog`): only what they can own or collide with.
    let observed = observe_stacks(ctx.runtime, &sel.stacks).await?;
    plan_with(ctx, ws, sel, observed)
}

/// Plans from an existing snapshot: allocates each stack's secrets and host ports (under the
/// port store's lock), builds its desired state and diffs it against `observed`.
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
    let secrets = SecretStore::open(&ctx.home, &ctx.owner)?;
    let fixed = fixed_host_ports(ws);
    let user_home = crate::state::default_home().parent().map(Path::to_path_buf);
    let dctx = DesiredContext {
        home: &ctx.home,
        owner: &ctx.owner,
        user_home: user_home.as_deref(),
        remote: ctx.runtime.engine().remote,
    };
    // A remote engine's free host ports are not this machine's: those its running
    // containers publish are the taken ones.
    let engine_ports: Option<HashSet<(u16, Protocol)>> = ctx.runtime.engine().remote.then(|| {
        observed
            .containers
            .iter()
            .filter(|c| c.state.is_running())
            .flat_map(|c| &c.published)
            .map(|&(port, proto)| {
                let proto = match proto {
                    crate::runtime::PortProtocol::Tcp => Protocol::Tcp,
                    crate::runtime::PortProtocol::Udp => Protocol::Udp,
                };
                (port, proto)
            })
            .collect()
    });
    let mut planned = Planned {
        plans: Vec::new(),
        desired: BTreeMap::new(),
        observed: ObservedWorld::default(),
        skipped: Vec::new(),
    };
    for name in scope {
        let resolved = ws.stacks.get(&name).filter(|_| !sel.remove.contains(&name));
        let Some(resolved) = resolved else {
            match removal_skip(ws, sel, &name) {
                Some(why) => planned.skipped.push((name, why)),
                None => planned
                    .plans
                    .push(plan_removal(&name, &observed, &ctx.owner, sel.options)),
            }
            continue;
        };
        let existing: HashSet<String> = resolved
            .instances
            .values()
            .filter(|i| observed.container_named(&i.container).is_some())
            .map(|i| i.name.clone())
            .collect();
        let bindings = PortStore::with_locked(&ctx.home, |ports| {
            let mut a = Allocation {
                owner: &ctx.owner,
                secrets: &secrets,
                ports,
                fixed_in_use: &fixed,
                existing: &existing,
                repick_busy: sel.locked,
                engine_ports: engine_ports.as_ref(),
            };
            allocate(resolved, &mut a).map_err(|source| ReconcileError::Allocate {
                stack: name.clone(),
                source,
            })
        })?;
        let desired =
            build(resolved, &dctx, &bindings).map_err(|source| ReconcileError::Desired {
                stack: name.clone(),
                source,
            })?;
        planned
            .plans
            .push(plan_stack(&desired, &observed, &ctx.owner));
        planned.desired.insert(name, desired);
    }
    planned.observed = observed;
    Ok(planned)
}

/// The fixed host ports of every stack in the folder (never picked for `host: auto`).
fn fixed_host_ports(ws: &Manifests) -> HashSet<u16> {
    ws.stacks
        .values()
        .flat_map(|s| s.instances.values())
        .flat_map(|i| i.spec.ports.iter())
        .filter_map(|p| match p.host {
            Some(HostPort::Fixed(h)) => Some(h),
            _ => None,
        })
        .collect()
}

/// Why a stack without (valid) desired state is not planned for removal, if it is not.
fn removal_skip(ws: &Manifests, sel: &Selection, name: &str) -> Option<Skip> {
    if sel.remove.contains(name) {
        None
    } else if ws.known.contains(name) {
        Some(Skip::ManifestErrors)
    } else if !ws.folder_valid {
        Some(Skip::RemovalSuspended)
    } else {
        None
    }
}

/// Applies one planned stack (its desired state, if any, from `planned`).
pub async fn apply_one(
    ctx: &Context<'_>,
    planned: &Planned,
    plan: &StackPlan,
    progress: &dyn Progress,
    opts: ApplyOptions,
) -> ApplyReport {
    let desired = planned.desired.get(&plan.stack);
    apply_stack(ctx.runtime, desired, plan, progress, opts).await
}

/// Forgets the recorded host ports of a removed stack of the folder `owner`; returns how many
/// were released.
///
/// # Errors
/// The port store's error (the records then only keep those ports from being picked).
pub fn release_ports(home: &Path, owner: &str, stack: &str) -> Result<usize, PortError> {
    PortStore::with_locked(home, |ports| {
        Ok::<_, PortError>(ports.release_stack(owner, stack))
    })
}

/// Releases the host ports of the instances no longer in `desired` (removed from the stack),
/// once an apply has removed their containers; returns how many.
///
/// # Errors
/// [`PortError`] when the port records cannot be read or written.
pub fn release_removed_instances_ports(
    home: &Path,
    owner: &str,
    desired: &DesiredStack,
) -> Result<usize, PortError> {
    let keep = desired.containers.keys().map(String::as_str).collect();
    PortStore::with_locked(home, |ports| {
        Ok::<_, PortError>(ports.release_instances_except(owner, &desired.name, &keep))
    })
}

/// Applies every planned stack that has actions and no conflicts, in parallel; a report
/// per stack. A removed stack's host ports are released once it is applied.
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
            let report = apply_one(ctx, planned, p, progress, opts).await;
            match planned.desired.get(&p.stack) {
                None => {
                    if let Err(e) = release_ports(&ctx.home, &ctx.owner, &p.stack) {
                        tracing::warn!(stack = %p.stack, "cannot release the removed stack's host ports: {e}");
                    }
                }
                Some(desired) if report.errors.is_empty() => {
                    if let Err(e) = release_removed_instances_ports(&ctx.home, &ctx.owner, desired) {
                        tracing::warn!(stack = %p.stack, "cannot release removed instances' host ports: {e}");
                    }
                }
                Some(_) => {}
            }
            (p.stack.clone(), report)
        });
    futures_util::future::join_all(tasks).await
}

/// File under `--home` marking that the last router sync of this home failed (a settings
/// conflict, a taken port): the next pass that routes names syncs again, even with nothing of
/// its own to apply.
const ROUTER_PENDING: &str = "router.pending";

/// Whether the router needs a sync after a pass ([`crate::router::sync`]): something was
/// applied and the pass's stacks route names or a router exists, or they route names and the
/// router is not running or the last sync from `home` failed. Most folders route nothing and
/// never pay for it.
pub fn router_due(planned: &Planned, applied: bool, home: &Path) -> bool {
    let routes = planned.desired.values().any(|d| {
        d.containers
            .values()
            .any(|c| c.spec.labels.contains_key(crate::identity::LABEL_DOMAINS))
    });
    let router = planned
        .observed
        .containers
        .iter()
        .find(|c| crate::router::is_router(c));
    if applied {
        routes || router.is_some()
    } else {
        let pending = || std::fs::symlink_metadata(home.join(ROUTER_PENDING)).is_ok();
        routes && (!router.is_some_and(|r| r.state.is_running()) || pending())
    }
}

/// Records (or clears) a failed router sync of `ctx`'s home ([`ROUTER_PENDING`]). Best
/// effort: the marker only makes a later pass sync again.
fn mark_router_pending(ctx: &Context<'_>, failed: bool) {
    let path = ctx.home.join(ROUTER_PENDING);
    let exists = std::fs::symlink_metadata(&path).is_ok();
    let result = match (failed, exists) {
        (true, false) => crate::safe_fs::write_atomic(&path, b"", crate::state::FileMode::Private),
        (false, true) => std::fs::remove_file(&path),
        _ => Ok(()),
    };
    if let Err(e) = result {
        tracing::debug!(path = %path.display(), "router marker: {e}");
    }
}

/// Syncs the router, reporting each change to `progress` as steps of `router devarch-router`.
///
/// # Errors
/// [`crate::router::RouterError`], also reported to `progress` as a failed step.
pub async fn sync_router(
    ctx: &Context<'_>,
    progress: &dyn Progress,
) -> Result<crate::router::RouterReport, crate::router::RouterError> {
    use crate::apply::{Event, StepStatus};
    use crate::router::RouterChange;
    let object = format!("router {}", crate::identity::ROUTER_NAME);
    let emit = |status, message: String, elapsed| {
        progress.event(&Event {
            stack: String::new(),
            object: object.clone(),
            status,
            message,
            elapsed,
        });
    };
    let t = std::time::Instant::now();
    match crate::router::sync(ctx.runtime, &ctx.router, &ctx.owner).await {
        Ok(report) => {
            mark_router_pending(ctx, false);
            for change in &report.changes {
                let message = match change {
                    RouterChange::Created => {
                        format!("Created (listening on {})", ctx.router.url("*.localhost"))
                    }
                    RouterChange::Recreated => "Recreated (image or port changed)".into(),
                    RouterChange::Started => "Started".into(),
                    RouterChange::Removed => "Removed (no names left to route)".into(),
                    RouterChange::Connected(n) => format!("Connected to {n}"),
                    RouterChange::Disconnected(n) => format!("Disconnected from {n}"),
                    RouterChange::Reloaded => {
                        format!("Reloaded ({} names routed)", report.routes.len())
                    }
                };
                emit(StepStatus::Done, message, Some(t.elapsed()));
            }
            Ok(report)
        }
        Err(e) => {
            mark_router_pending(ctx, true);
            emit(StepStatus::Failed, e.to_string(), Some(t.elapsed()));
            Err(e)
        }
    }
}

/// Host names a pass adds to and removes from the router, for the plan: what the pass's
/// stacks want (`devarch.domains` of their desired containers) against what their containers
/// on the engine carry now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteChanges {
    /// Names to be routed, each with `stack/instance`.
    pub added: Vec<(String, String)>,
    /// Names no longer routed, each with `stack/instance`.
    pub removed: Vec<(String, String)>,
}

impl RouteChanges {
    /// Of the plans in `planned`, for the folder `owner`.
    pub fn of(planned: &Planned, owner: &str) -> RouteChanges {
        use crate::identity::{LABEL_DOMAINS, Labelled, decode_domains};
        let stacks: BTreeSet<&str> = planned.plans.iter().map(|p| p.stack.as_str()).collect();
        let routes = |labels: &BTreeMap<String, String>, stack: &str, instance: &str| {
            let at = format!("{stack}/{instance}");
            labels
                .get(LABEL_DOMAINS)
                .map(|d| decode_domains(d))
                .unwrap_or_default()
                .into_iter()
                .map(move |d| (d, at.clone()))
        };
        let wanted: BTreeSet<(String, String)> = planned
            .desired
            .iter()
            .filter(|(s, _)| stacks.contains(s.as_str()))
            .flat_map(|(s, d)| {
                d.containers
                    .iter()
                    .flat_map(move |(i, c)| routes(&c.spec.labels, s, i))
            })
            .collect();
        let current: BTreeSet<(String, String)> = planned
            .observed
            .containers
            .iter()
            .filter(|c| c.is_ours(owner) && !crate::identity::is_next_container_name(&c.name))
            .filter_map(|c| Some((c.stack()?, c.instance()?, c)))
            .filter(|(s, _, _)| stacks.contains(s))
            .flat_map(|(s, i, c)| routes(&c.labels, s, i))
            .collect();
        RouteChanges {
            added: wanted.difference(&current).cloned().collect(),
            removed: current.difference(&wanted).cloned().collect(),
        }
    }

    /// Whether the pass changes no route.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

impl std::fmt::Display for RouteChanges {
    /// The plan's router section: `+ name  # stack/instance` and `- name  # stack/instance`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return Ok(());
        }
        writeln!(f, "Router {}:", crate::identity::ROUTER_NAME)?;
        for (mark, list) in [('+', &self.added), ('-', &self.removed)] {
            for (name, at) in list {
                writeln!(f, "  {mark} {name}  # {at}")?;
            }
        }
        Ok(())
    }
}

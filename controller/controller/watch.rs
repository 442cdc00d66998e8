/*! `devarch watch`: the controller.

Level-triggered. Three triggers only enqueue stack names into the [`scheduler`]: the
manifests folder (debounced file events → rescan → stacks whose generation changed), the
engine's event stream (filtered by devarch labels; reconnected with backoff, with a full
resync after every reconnect), and a periodic resync (re-reads the folder, observes the engine
once and plans every stack from that snapshot; the stacks whose plan is not empty are
enqueued). A reconcile re-reads desired and actual state and runs the same plan/apply path as
the CLI, under the same per-stack lock.

# Guarantees
- A manifest that fails to parse or validate never tears anything down: its stacks keep their
  last good desired state (or, when devarch started with it broken, are left alone), and
  removing a stack whose manifests are gone is suspended while any manifest is broken.
- Every plan with changes is printed, as `devarch plan` prints it, before it is applied;
  `--plan-only` prints and never mutates.
- A stack is never reconciled twice at once, and never at the same time as a CLI `apply` of it
  (the stack lock): the CLI is refused or waits, and the controller retries later.

# Policy: containers stopped by hand
A container of an enabled stack that is not running (stopped by hand, crashed, killed) is
started again; one of a disabled stack (`enabled: false`) is left stopped. Removed ones are
recreated, a removed stack network is recreated and the containers reattached.

[`scheduler`]: super::scheduler
*/

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::scheduler::{self, Action, Config, ExponentialBackoff, Handle, Reason, Scheduler};
use super::triggers::{Change, FolderWatcher};
use crate::apply::lock::{LockError, acquire};
use crate::apply::{ApplyOptions, Event, Progress, Status};
use crate::identity::{LABEL_MANAGED_BY, LABEL_OWNER, LABEL_STACK, MANAGED_BY_VALUE, NAME_PREFIX};
use crate::manifests::diagnostics::Diagnostic;
use crate::observe::{ObservedWorld, observe};
use crate::plan::{Summary, render};
use crate::reconcile::{Context, Manifests, ReconcileError, Selection, plan_with};
use crate::runtime::{EventKind, Runtime};
use crate::status::{ConditionType, StackStatus, StatusStore, generation};
use crate::workspace::Workspace;

/// Knobs of the controller.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// Manifests folder.
    pub dir: PathBuf,
    /// `--home`.
    pub home: PathBuf,
    /// Print plans, never mutate.
    pub plan_only: bool,
    /// Period of the full resync.
    pub resync: Duration,
    /// Stacks reconciled in parallel.
    pub concurrency: usize,
    /// Quiet time after a file event before the folder is re-read.
    pub debounce: Duration,
}

/// Why a stack was enqueued.
#[derive(Clone, Debug)]
pub enum Trigger {
    /// Controller start.
    Startup,
    /// Its manifests changed.
    Manifests,
    /// An engine event about one of its objects.
    Engine(String),
    /// The engine came back; everything is resynced.
    Reconnect,
    /// Periodic resync.
    Resync,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Startup => f.write_str("startup"),
            Trigger::Manifests => f.write_str("manifests changed"),
            Trigger::Engine(a) => write!(f, "engine event {a}"),
            Trigger::Reconnect => f.write_str("engine reconnected"),
            Trigger::Resync => f.write_str("periodic resync"),
        }
    }
}

/// Why a reconcile failed (the error policy retries with backoff).
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Planning failed.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// Someone else (a CLI apply) holds the stack.
    #[error(transparent)]
    Locked(#[from] LockError),
    /// Some apply steps failed.
    #[error("{0} apply step(s) failed: {1}")]
    Apply(usize, String),
    /// Names held by objects devarch does not own.
    #[error("conflicts: {0}")]
    Conflict(String),
    /// Setup failed.
    #[error("{0}")]
    Setup(String),
}

type Key = String;

struct Shared {
    opts: WatchOptions,
    owner: String,
    rt: Arc<dyn Runtime>,
    status: StatusStore,
    manifests: RwLock<Manifests>,
    generations: Mutex<BTreeMap<String, String>>,
    diagnostics: Mutex<Vec<Diagnostic>>,
}

impl Shared {
    fn context(&self) -> Context<'_> {
        Context {
            runtime: self.rt.as_ref(),
            home: self.opts.home.clone(),
            owner: self.owner.clone(),
        }
    }

    /// Re-read the folder; returns the stacks whose desired state changed (or that appeared or
    /// vanished). Stacks whose manifests are broken keep their last good desired state.
    fn rescan(&self) -> BTreeSet<String> {
        let ws = match Workspace::load(&self.opts.dir) {
            Ok(ws) => ws,
            Err(e) => {
                error!(error = %e, "cannot read the manifests folder; keeping the last good state");
                return BTreeSet::new();
            }
        };
        let fresh = Manifests::of(&ws);
        let mut current = self.manifests.write().expect("manifests lock");
        let mut next = fresh.clone();
        for (name, last_good) in current.stacks.iter() {
            if fresh.stacks.contains_key(name) {
                continue;
            }
            // Broken now (or in a file that no longer parses at all): keep the last good state.
            // A stack whose manifests are simply gone while another file is broken is kept too:
            // whole-stack removal waits until the folder is valid.
            if fresh.known.contains(name) || !fresh.folder_valid {
                next.stacks.insert(name.clone(), last_good.clone());
                next.known.insert(name.clone());
            }
        }
        // Report manifest problems when they change.
        {
            let mut diags = self.diagnostics.lock().expect("diagnostics lock");
            if *diags != ws.diagnostics {
                for d in &ws.diagnostics {
                    error!(target: "devarch::manifests", "{d}");
                }
                if ws.diagnostics.is_empty() && !diags.is_empty() {
                    info!("manifests are valid again");
                } else if !ws.diagnostics.is_empty() {
                    warn!(
                        "{} problem(s) in the manifests: affected stacks keep their last good state{}",
                        ws.diagnostics.len(),
                        if fresh.folder_valid {
                            ""
                        } else {
                            "; removal of stacks whose manifests are gone is suspended"
                        }
                    );
                }
                *diags = ws.diagnostics.clone();
            }
        }
        let mut gens = self.generations.lock().expect("generations lock");
        let mut changed = BTreeSet::new();
        let new_gens: BTreeMap<String, String> = next
            .stacks
            .iter()
            .map(|(n, s)| (n.clone(), generation(s)))
            .collect();
        for (n, g) in &new_gens {
            if gens.get(n) != Some(g) {
                changed.insert(n.clone());
            }
        }
        for n in gens.keys().chain(current.known.iter()) {
            if !new_gens.contains_key(n) {
                changed.insert(n.clone());
            }
        }
        // Broken stacks: mark them degraded (they are left as they are).
        for n in next.known.iter().filter(|n| !fresh.stacks.contains_key(*n)) {
            let mut st = self.status.read(n);
            let msg = ws
                .diagnostics
                .iter()
                .take(3)
                .map(|d| d.to_string().lines().next().unwrap_or("").to_string())
                .collect::<Vec<_>>()
                .join("; ");
            st.set(ConditionType::Degraded, true, "InvalidManifest", msg);
            let _ = self.status.write(&st);
        }
        *gens = new_gens;
        *current = next;
        changed
    }

    /// The stacks verified up to date, planned together from one observation: the startup
    /// and the periodic resync reconcile only the others (so a converged folder costs one
    /// observation, whatever the number of stacks). Empty when planning fails as a whole (then
    /// every stack is reconciled, each reporting its own error).
    fn in_sync(&self, observed: ObservedWorld) -> BTreeSet<String> {
        let manifests = self.manifests.read().expect("manifests lock").clone();
        let Ok(planned) = plan_with(&self.context(), &manifests, &Selection::default(), observed)
        else {
            return BTreeSet::new();
        };
        planned
            .plans
            .iter()
            .filter(|p| {
                planned.desired.contains_key(&p.stack)
                    && p.conflicts.is_empty()
                    && Summary::of(std::slice::from_ref(*p)).is_empty()
            })
            .map(|p| p.stack.clone())
            .collect()
    }

    /// Observe once; returns every stack and those of them verified up to date. With the
    /// engine unreachable, none is (each reconcile then fails and backs off).
    async fn snapshot(self: &Arc<Self>) -> (BTreeSet<String>, BTreeSet<String>) {
        match observe(self.rt.as_ref()).await {
            Ok(w) => {
                let all = self.all_stacks(&w.owned_stacks(&self.owner));
                let me = self.clone();
                let ok = tokio::task::spawn_blocking(move || me.in_sync(w))
                    .await
                    .unwrap_or_default();
                (all, ok)
            }
            Err(_) => (self.all_stacks(&BTreeSet::new()), BTreeSet::new()),
        }
    }

    /// Status of a stack found up to date without a reconcile.
    fn mark_up_to_date(&self, stack: &str, manifests: &Manifests) {
        let mut st = self.status.read(stack);
        st.last_reconcile_time = crate::status::now();
        let gen_now = manifests.stacks.get(stack).map(generation);
        st.observed_generation = gen_now.clone();
        self.write_up_to_date(st, gen_now);
    }

    /// Writes `st` (already read, times and observed generation set) as up to date.
    fn write_up_to_date(&self, mut st: StackStatus, gen_now: Option<String>) {
        st.set(ConditionType::Ready, true, "UpToDate", "");
        st.set(ConditionType::Progressing, false, "UpToDate", "");
        if st
            .condition(ConditionType::Degraded)
            .is_some_and(|c| c.status && c.reason != "InvalidManifest")
            || self
                .diagnostics
                .lock()
                .expect("diagnostics lock")
                .is_empty()
        {
            st.set(ConditionType::Degraded, false, "UpToDate", "");
        }
        if st.applied_generation.is_none() {
            st.applied_generation = gen_now;
        }
        let _ = self.status.write(&st);
    }

    fn all_stacks(&self, observed_owned: &BTreeSet<String>) -> BTreeSet<String> {
        let m = self.manifests.read().expect("manifests lock");
        let mut all: BTreeSet<String> = m.known.clone();
        all.extend(m.stacks.keys().cloned());
        all.extend(observed_owned.iter().cloned());
        all
    }
}

/// Progress of a controller apply, as log lines.
struct LogProgress {
    stack: String,
}

impl Progress for LogProgress {
    fn event(&self, e: Event) {
        let elapsed = e
            .elapsed
            .map(|d| format!(" {:.1}s", d.as_secs_f64()))
            .unwrap_or_default();
        match e.status {
            Status::Failed => warn!(stack = %self.stack, "{}: {}{elapsed}", e.object, e.message),
            Status::Done => info!(stack = %self.stack, "{}: {}{elapsed}", e.object, e.message),
            _ => {}
        }
    }
}

async fn reconcile(
    shared: Arc<Shared>,
    stack: String,
    reasons: Vec<Reason<Trigger>>,
) -> Result<Action, WatchError> {
    let why = reasons
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let manifests = shared.manifests.read().expect("manifests lock").clone();
    // The same lock as `devarch apply`: wait briefly, then retry later with backoff.
    let home = shared.opts.home.clone();
    let name = stack.clone();
    let _lock =
        tokio::task::spawn_blocking(move || acquire(&home, &name, Some(Duration::from_secs(2))))
            .await
            .map_err(|e| WatchError::Setup(e.to_string()))??;
    let ctx = shared.context();
    let observed = observe(shared.rt.as_ref())
        .await
        .map_err(ReconcileError::from)?;
    let sel = Selection {
        stacks: vec![stack.clone()],
        locked: true,
        ..Selection::default()
    };
    let planned = match plan_with(&ctx, &manifests, &sel, observed) {
        Ok(p) => p,
        Err(ReconcileError::UnknownStack(_)) => {
            // Gone from the manifests and from the engine: nothing left to do.
            shared.status.remove(&stack);
            return Ok(Action::await_change());
        }
        Err(e) => return Err(e.into()),
    };
    let mut st = shared.status.read(&stack);
    st.last_reconcile_time = crate::status::now();
    if let Some((_, why_skipped)) = planned.skipped.iter().find(|(s, _)| s == &stack) {
        st.set(
            ConditionType::Progressing,
            false,
            "Skipped",
            why_skipped.clone(),
        );
        let _ = shared.status.write(&st);
        info!(%stack, "skipped: {why_skipped}");
        return Ok(Action::await_change());
    }
    let Some(plan) = planned.plans.iter().find(|p| p.stack == stack) else {
        return Ok(Action::await_change());
    };
    let removal = !planned.desired.contains_key(&stack);
    let gen_now = manifests.stacks.get(&stack).map(generation);
    st.observed_generation = gen_now.clone();
    let summary = Summary::of(std::slice::from_ref(plan));
    if !plan.conflicts.is_empty() {
        let msg = plan
            .conflicts
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        print!("{}", render(std::slice::from_ref(plan)));
        st.set(ConditionType::Ready, false, "Conflict", msg.clone());
        st.set(ConditionType::Degraded, true, "Conflict", msg.clone());
        st.set(ConditionType::Progressing, false, "Conflict", "");
        let _ = shared.status.write(&st);
        return Err(WatchError::Conflict(msg));
    }
    if summary.is_empty() {
        // An engine event may arrive before the engine's own state shows it (Podman updates a
        // killed container's state a moment after its `die`): look once more shortly after.
        let from_event = reasons
            .iter()
            .any(|r| matches!(r, Reason::Requested(Trigger::Engine(_))));
        if from_event && !removal {
            st.set(ConditionType::Ready, true, "UpToDate", "");
            st.set(ConditionType::Progressing, false, "UpToDate", "");
            let _ = shared.status.write(&st);
            return Ok(Action::requeue(Duration::from_millis(750)));
        }
        if removal {
            shared.status.remove(&stack);
            return Ok(Action::await_change());
        }
        shared.write_up_to_date(st, gen_now);
        return Ok(Action::await_change());
    }
    println!("# stack {stack}: {why}");
    print!("{}", render(std::slice::from_ref(plan)));
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    if shared.opts.plan_only {
        st.set(
            ConditionType::Ready,
            false,
            "ChangesPending",
            summary.to_string(),
        );
        st.set(
            ConditionType::Progressing,
            false,
            "PlanOnly",
            "watch --plan-only: not applied",
        );
        let _ = shared.status.write(&st);
        return Ok(Action::await_change());
    }
    st.set(
        ConditionType::Progressing,
        true,
        "Applying",
        summary.to_string(),
    );
    let _ = shared.status.write(&st);
    let progress = LogProgress {
        stack: stack.clone(),
    };
    let report = crate::apply::apply_stack(
        ctx.runtime,
        planned.desired.get(&stack),
        plan,
        &progress,
        ApplyOptions::default(),
    )
    .await;
    if removal {
        let _ = crate::state::ports::PortStore::with_locked(&shared.opts.home, |p| {
            p.release_stack(&stack);
            Ok::<(), crate::state::ports::PortError>(())
        });
    }
    st.set(ConditionType::Progressing, false, "Applied", "");
    if !report.errors.is_empty() {
        let msg = report
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        st.set(ConditionType::Ready, false, "ApplyFailed", msg.clone());
        st.set(ConditionType::Degraded, true, "ApplyFailed", msg.clone());
        st.last_result = Some(format!("failed: {msg}"));
        let _ = shared.status.write(&st);
        return Err(WatchError::Apply(report.errors.len(), msg));
    }
    info!(%stack, "applied: {}", summary.to_string().trim_start_matches("Plan: "));
    if removal {
        shared.status.remove(&stack);
        return Ok(Action::await_change());
    }
    st.set(ConditionType::Ready, true, "Applied", summary.to_string());
    st.set(ConditionType::Degraded, false, "Applied", "");
    st.applied_generation = gen_now;
    st.last_result = Some(summary.to_string());
    let _ = shared.status.write(&st);
    Ok(Action::await_change())
}

/// The stack an engine event is about, if it is one of ours.
fn event_stack(ev: &crate::runtime::EngineEvent, owner: &str) -> Option<String> {
    match ev.kind {
        EventKind::Container => {
            if ev.labels.get(LABEL_MANAGED_BY).map(String::as_str) != Some(MANAGED_BY_VALUE)
                || ev.labels.get(LABEL_OWNER).map(String::as_str) != Some(owner)
            {
                return None;
            }
            ev.labels.get(LABEL_STACK).cloned()
        }
        // Network events carry no labels: `devarch-{stack}-net`.
        EventKind::Network => ev
            .name
            .as_deref()?
            .strip_prefix(&format!("{NAME_PREFIX}-"))?
            .strip_suffix("-net")
            .map(str::to_string),
        _ => None,
    }
}

/// Actions that may mean drift (ours are followed by a no-op reconcile, which is cheap).
fn is_drift(action: &str) -> bool {
    matches!(
        action,
        "die" | "destroy" | "oom" | "stop" | "kill" | "rename" | "disconnect"
    )
}

async fn watch_engine(shared: Arc<Shared>, handle: Handle<Key, Trigger>, token: CancellationToken) {
    let mut backoff = ExponentialBackoff::new(Duration::from_millis(500), Duration::from_secs(15));
    let mut first = true;
    loop {
        if token.is_cancelled() {
            return;
        }
        // Reachable again? Then resync everything: events in between were lost.
        match observe(shared.rt.as_ref()).await {
            Ok(w) => {
                if !first {
                    info!("engine is back; resyncing every stack");
                    for s in shared.all_stacks(&w.owned_stacks(&shared.owner)) {
                        let _ = handle.schedule_now(s, Trigger::Reconnect);
                    }
                }
            }
            Err(e) => {
                let delay = backoff.next().unwrap_or(Duration::from_secs(15));
                warn!(error = %e, "engine unreachable; retrying in {:.1}s", delay.as_secs_f64());
                tokio::select! { _ = token.cancelled() => return, _ = tokio::time::sleep(delay) => {} }
                first = false;
                continue;
            }
        }
        let stream = match shared
            .rt
            .events(&format!("{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}"))
            .await
        {
            Ok(s) => s,
            Err(e) => {
                let delay = backoff.next().unwrap_or(Duration::from_secs(15));
                warn!(error = %e, "cannot subscribe to engine events; retrying in {:.1}s", delay.as_secs_f64());
                tokio::select! { _ = token.cancelled() => return, _ = tokio::time::sleep(delay) => {} }
                first = false;
                continue;
            }
        };
        scheduler::Backoff::reset(&mut backoff);
        first = false;
        let mut stream = stream;
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                item = stream.next() => match item {
                    Some(Ok(ev)) => {
                        if is_drift(&ev.action) && let Some(stack) = event_stack(&ev, &shared.owner) {
                            let _ = handle.schedule_now(stack, Trigger::Engine(ev.action.clone()));
                        }
                    }
                    Some(Err(e)) => {
                        warn!(error = %e, "engine event stream ended; reconnecting");
                        break;
                    }
                    None => {
                        warn!("engine event stream closed; reconnecting");
                        break;
                    }
                }
            }
        }
        tokio::select! { _ = token.cancelled() => return, _ = tokio::time::sleep(Duration::from_millis(500)) => {} }
    }
}

/// Run the controller until SIGINT/SIGTERM (or `shutdown` is cancelled).
///
/// # Errors
/// [`WatchError::Setup`] when the folder cannot be watched.
pub async fn run(
    opts: WatchOptions,
    rt: Arc<dyn Runtime>,
    shutdown: CancellationToken,
) -> Result<(), WatchError> {
    let owner = Context::owner_of(&opts.dir);
    let shared = Arc::new(Shared {
        status: StatusStore::new(&opts.home, &owner),
        opts: opts.clone(),
        owner: owner.clone(),
        rt,
        manifests: RwLock::new(Manifests::default()),
        generations: Mutex::new(BTreeMap::new()),
        diagnostics: Mutex::new(Vec::new()),
    });
    let scheduler: Scheduler<Key, Trigger> = Scheduler::new();
    let handle = scheduler.handle();

    // Manifests folder: debounced events → rescan → changed stacks. Watched before the first
    // read, so a file written meanwhile is not missed until the next resync.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Change>();
    let _watcher = FolderWatcher::start(&opts.dir, opts.debounce, move |c| {
        let _ = tx.send(c);
    })
    .map_err(|e| WatchError::Setup(format!("cannot watch {}: {e}", opts.dir.display())))?;

    // Startup: everything in the folder and everything owned on the engine; the stacks found
    // up to date get their status, the others a reconcile.
    shared.rescan();
    let (all, ok) = shared.snapshot().await;
    let manifests = shared.manifests.read().expect("manifests lock").clone();
    for s in all {
        if ok.contains(&s) {
            shared.mark_up_to_date(&s, &manifests);
        } else {
            let _ = handle.schedule_now(s, Trigger::Startup);
        }
    }
    info!(dir = %opts.dir.display(), engine = %shared.rt.engine().kind, endpoint = %shared.rt.engine().endpoint, plan_only = opts.plan_only, "devarch watch started");
    {
        let shared = shared.clone();
        let handle = handle.clone();
        let token = shutdown.clone();
        tokio::spawn(async move {
            loop {
                let change = tokio::select! { _ = token.cancelled() => return, c = rx.recv() => c };
                let Some(Change::Rescan { .. }) = change else {
                    return;
                };
                while rx.try_recv().is_ok() {}
                let s2 = shared.clone();
                let changed = tokio::task::spawn_blocking(move || s2.rescan())
                    .await
                    .unwrap_or_default();
                for s in changed {
                    info!(stack = %s, "manifests changed");
                    let _ = handle.schedule_now(s, Trigger::Manifests);
                }
            }
        });
    }

    // Engine events, reconnected with backoff.
    tokio::spawn(watch_engine(
        shared.clone(),
        handle.clone(),
        shutdown.clone(),
    ));

    // Periodic resync.
    {
        let shared = shared.clone();
        let handle = handle.clone();
        let token = shutdown.clone();
        let period = opts.resync;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                tokio::select! { _ = token.cancelled() => return, _ = tick.tick() => {} }
                // Re-read the folder too, in case a file event was missed.
                let s2 = shared.clone();
                let changed = tokio::task::spawn_blocking(move || s2.rescan())
                    .await
                    .unwrap_or_default();
                // One observation for every stack; only those not up to date are reconciled.
                let (all, ok) = shared.snapshot().await;
                let all_count = all.len();
                let due: Vec<String> = all.into_iter().filter(|s| !ok.contains(s)).collect();
                let due_count = due.len();
                for s in changed.into_iter().chain(due) {
                    let _ = handle.schedule_now(s, Trigger::Resync);
                }
                tracing::debug!(target: "devarch::resync", stacks = all_count, due = due_count, "resync done");
            }
        });
    }

    let reconciler = shared.clone();
    scheduler::run(
        scheduler,
        Config { concurrency: opts.concurrency.max(1), backoff: ExponentialBackoff::default() },
        move |stack: Key, reasons, _token| reconcile(reconciler.clone(), stack, reasons),
        |stack: &Key, err: &scheduler::Error<WatchError>, delay: Option<Duration>| {
            let delay = delay.unwrap_or(ExponentialBackoff::DEFAULT_MAX);
            let cause = std::error::Error::source(err).map(ToString::to_string).unwrap_or_else(|| err.to_string());
            error!(%stack, "reconcile failed: {cause}; retrying in {:.1}s", delay.as_secs_f64());
            Action::requeue(delay)
        },
        |outcome: scheduler::Outcome<Key, WatchError>| {
            if outcome.result.is_ok() {
                tracing::debug!(stack = %outcome.key, elapsed_ms = outcome.elapsed.as_millis() as u64, "reconciled");
            }
        },
        shutdown,
    )
    .await;
    info!("devarch watch stopped");
    Ok(())
}

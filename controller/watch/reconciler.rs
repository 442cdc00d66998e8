/*! The controller's policy: reconciling one stack, what its outcome means for its status and
when it runs again, and the views the triggers need.

- [`Reconciler::reconcile`] is the one entry point per stack: it locks the stack (the same
  lock as `devarch apply`), observes the engine, plans from the valid or last good desired
  state ([`LastGood`]), hands the plan to the [`Sink`], applies it (unless `--plan-only`),
  records the status ([`StackStatus::record`]) and returns a typed [`Outcome`] or
  [`ReconcileError`].
- [`requeue`] and [`error_policy`] decide when a stack runs again.
- [`Reconciler::rescan`] re-reads the folder for the folder trigger and the resync;
  [`Reconciler::survey`] plans every stack from one observation, so the startup and the
  periodic resync reconcile only the stacks that are not up to date.

# Guarantees
- A manifest that fails to parse or validate never tears anything down (see [`LastGood`]).
- Every plan with changes or conflicts goes to the sink before anything is applied;
  `--plan-only` never mutates.
- A removed stack's status is dropped and its host ports released once.
- A status that cannot be written is logged (once until a write succeeds again), never
  silently ignored; it never fails the reconcile.

# Policy: containers stopped by hand
A container of an enabled stack that is not running (stopped by hand, crashed, killed) is
started again; one of a disabled stack (`enabled: false`) is left stopped. Removed ones are
recreated, a removed stack network is recreated and the containers reattached.
*/

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::last_good::LastGood;
use super::scheduler::{self, ExponentialBackoff, Requeue, ScheduleReason};
use crate::apply::ApplyOptions;
use crate::apply::lock::{StackLock, acquire};
use crate::identity;
use crate::observe::{ObservedWorld, observe, observe_stacks};
use crate::outcome::Outcome;
use crate::plan::{StackPlan, Summary};
use crate::reconcile::{
    Context, Manifests, Planned, ReconcileError, Selection, apply_one, plan_with, release_ports,
    release_removed_instances_ports, router_due, sync_router,
};
use crate::runtime::Runtime;
use crate::sink::Sink;
use crate::status::{StackStatus, StatusStore};
use crate::workspace::Workspace;

/// How long a reconcile waits for a stack's lock before it gives up and retries later.
pub const LOCK_WAIT: Duration = Duration::from_secs(2);

/// After an engine event finds the stack up to date, it is looked at once more this much
/// later: an engine's state can lag its events (Podman updates a killed container's state a
/// moment after its `die`).
pub const EVENT_RECHECK: Duration = Duration::from_millis(750);

/// Why a stack was enqueued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// The controller started.
    Startup,
    /// Its manifests changed.
    Manifests,
    /// An engine event about one of its objects (the event's action: `die`, `destroy`...).
    Engine(String),
    /// The engine came back after being unreachable; everything is resynced.
    Reconnect,
    /// The periodic resync found it out of sync.
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

/// What a [`Reconciler`] is set up with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The manifests folder.
    pub dir: PathBuf,
    /// `--home`.
    pub home: PathBuf,
    /// Show plans, never apply them.
    pub plan_only: bool,
    /// How long a reconcile waits for a stack's lock ([`LOCK_WAIT`] by default).
    pub lock_wait: Duration,
    /// How the domain router runs.
    pub router: crate::router::RouterSettings,
}

/// Every stack known, and those of them found up to date from one observation.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Survey {
    /// Every stack in the folder or owned by it on the engine.
    pub all: BTreeSet<String>,
    /// The stacks whose plan is empty and conflict-free.
    pub up_to_date: BTreeSet<String>,
}

/// The controller's reconciler; shared (behind an `Arc`) by the scheduler and the triggers.
pub struct Reconciler {
    runtime: Arc<dyn Runtime>,
    sink: Arc<dyn Sink>,
    settings: Settings,
    owner: String,
    status: StatusStore,
    last_good: RwLock<LastGood>,
    status_unwritable: AtomicBool,
    /// Wakes [`Reconciler::sync_router_when_due`].
    router_due: tokio::sync::Notify,
}

/// What a reconcile works from, taken at its start.
struct Snapshot {
    manifests: Manifests,
    generation: Option<String>,
    broken: bool,
}

impl Reconciler {
    /// A reconciler for the folder of `settings`, before the folder is first read (call
    /// [`Reconciler::rescan`]).
    pub fn new(runtime: Arc<dyn Runtime>, sink: Arc<dyn Sink>, settings: Settings) -> Self {
        let owner = identity::owner_of(&settings.dir);
        Reconciler {
            status: StatusStore::new(&settings.home, &owner),
            runtime,
            sink,
            settings,
            owner,
            last_good: RwLock::new(LastGood::default()),
            status_unwritable: AtomicBool::new(false),
            router_due: tokio::sync::Notify::new(),
        }
    }

    /// Asks for a router sync ([`Self::sync_router_when_due`]); requests made while one runs
    /// make one more, not one each.
    pub fn router_due(&self) {
        self.router_due.notify_one();
    }

    /// Syncs the router each time [`Self::router_due`] was called, one sync at a time and
    /// outside every stack's lock (a stack's reconcile only asks for it), until `token` is
    /// cancelled. Failures are reported through the sink; the next request tries again.
    pub async fn sync_router_when_due(self: Arc<Self>, token: CancellationToken) {
        loop {
            tokio::select! {
                () = token.cancelled() => return,
                () = self.router_due.notified() => {}
            }
            let _ = sync_router(&self.context(), self.sink.as_ref()).await;
        }
    }

    /// The owner label value of the folder (its absolute path).
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The engine it observes and changes (the engine-event trigger subscribes to it too).
    pub fn runtime(&self) -> &dyn Runtime {
        self.runtime.as_ref()
    }

    fn context(&self) -> Context<'_> {
        Context {
            runtime: self.runtime.as_ref(),
            home: self.settings.home.clone(),
            owner: self.owner.clone(),
            router: self.settings.router.clone(),
        }
    }

    fn last_good(&self) -> std::sync::RwLockReadGuard<'_, LastGood> {
        self.last_good.read().unwrap_or_else(|p| p.into_inner())
    }

    fn snapshot(&self, stack: &str) -> Snapshot {
        let last_good = self.last_good();
        Snapshot {
            manifests: last_good.manifests().clone(),
            generation: last_good.generation(stack),
            broken: last_good.is_broken(stack),
        }
    }

    /// Reconciles one stack and records its status; `why` says what enqueued it (for the
    /// plan's header).
    ///
    /// # Errors
    /// [`ReconcileError::Lock`] when someone else holds the stack, engine and state errors,
    /// and [`ReconcileError::ApplyFailed`] when some apply steps failed (its status then says
    /// `ApplyFailed`).
    pub async fn reconcile(&self, stack: &str, why: &str) -> Result<Outcome, ReconcileError> {
        let snapshot = self.snapshot(stack);
        let result = self.reconcile_locked(stack, why, &snapshot).await;
        match &result {
            Ok(Outcome::Removed(_)) => self.forget(stack),
            Ok(outcome) => self.update_status(stack, |st| {
                st.record(outcome, snapshot.generation.clone(), snapshot.broken);
            }),
            Err(ReconcileError::ApplyFailed { failed, .. }) => {
                self.update_status(stack, |st| st.record_failure(failed));
            }
            Err(_) => {}
        }
        result
    }

    /// [`Reconciler::reconcile`] for the scheduler: the outcome becomes a [`Requeue`].
    ///
    /// # Errors
    /// See [`Reconciler::reconcile`]; the scheduler retries with backoff ([`error_policy`]).
    pub async fn run(
        &self,
        stack: &str,
        reasons: &[ScheduleReason<Trigger>],
    ) -> Result<Requeue, ReconcileError> {
        let why = reasons
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let outcome = self.reconcile(stack, &why).await?;
        Ok(requeue(&outcome, reasons))
    }

    async fn reconcile_locked(
        &self,
        stack: &str,
        why: &str,
        snapshot: &Snapshot,
    ) -> Result<Outcome, ReconcileError> {
        let _lock = self.lock(stack).await?;
        let ctx = self.context();
        let observed = observe_stacks(ctx.runtime, &[stack.to_string()]).await?;
        let sel = Selection {
            locked: true,
            ..Selection::only([stack])
        };
        let planned = match plan_with(&ctx, &snapshot.manifests, &sel, observed) {
            // Gone from the manifests and from the engine: nothing left to do.
            Err(ReconcileError::UnknownStack(_)) => {
                return Ok(Outcome::Removed(Summary::default()));
            }
            planned => planned?,
        };
        if let Some(skip) = planned.skip_of(stack) {
            info!(%stack, "skipped: {skip}");
            return Ok(Outcome::Skipped(skip));
        }
        let Some(plan) = planned.plan_of(stack) else {
            return Ok(Outcome::UpToDate);
        };
        self.apply(&ctx, stack, why, &planned, plan, snapshot).await
    }

    /// The part of a reconcile after planning: show, apply, say what it came to.
    async fn apply(
        &self,
        ctx: &Context<'_>,
        stack: &str,
        why: &str,
        planned: &Planned,
        plan: &StackPlan,
        snapshot: &Snapshot,
    ) -> Result<Outcome, ReconcileError> {
        let removal = !planned.desired.contains_key(stack);
        let summary = Summary::of([plan]);
        if !plan.conflicts.is_empty() {
            self.sink.plan(stack, why, plan);
            warn!(%stack, "not applied: {} conflict(s)", plan.conflicts.len());
            return Ok(Outcome::Conflicts(plan.conflicts.clone()));
        }
        if summary.is_empty() {
            if !removal && router_due(planned, false, &self.settings.home) {
                self.router_due();
            }
            return Ok(if removal {
                Outcome::Removed(summary)
            } else {
                Outcome::UpToDate
            });
        }
        self.sink.plan(stack, why, plan);
        if self.settings.plan_only {
            return Ok(Outcome::PlanOnly(summary));
        }
        let generation = snapshot.generation.clone();
        self.update_status(stack, |st| st.record_applying(&summary, generation));
        let progress: &dyn crate::apply::Progress = self.sink.as_ref();
        let report = apply_one(ctx, planned, plan, progress, ApplyOptions::default()).await;
        if !report.errors.is_empty() {
            return Err(ReconcileError::ApplyFailed {
                stack: stack.to_string(),
                failed: report.errors,
            });
        }
        if let Some(desired) = planned.desired.get(stack)
            && let Err(e) = release_removed_instances_ports(&ctx.home, &ctx.owner, desired)
        {
            warn!(%stack, "cannot release removed instances' host ports: {e}");
        }
        if router_due(planned, true, &self.settings.home) {
            self.router_due();
        }
        info!(%stack, "applied: {}", summary.counts());
        Ok(if removal {
            Outcome::Removed(summary)
        } else {
            Outcome::Applied(summary)
        })
    }

    /// The stack's lock, waiting at most [`Settings::lock_wait`].
    async fn lock(&self, stack: &str) -> Result<StackLock, ReconcileError> {
        let home = self.settings.home.clone();
        let (name, wait) = (stack.to_string(), self.settings.lock_wait);
        let lock = tokio::task::spawn_blocking(move || acquire(&home, &name, Some(wait))).await?;
        Ok(lock?)
    }

    /// A removed stack: its status is dropped and its host ports released.
    fn forget(&self, stack: &str) {
        if let Err(e) = release_ports(&self.settings.home, &self.owner, stack) {
            warn!(%stack, "cannot release the removed stack's host ports: {e}");
        }
        let removed = self.status.remove(stack);
        self.status_written(stack, removed.map(|_| None));
    }

    /// Reads `stack`'s status, changes it, writes it back.
    fn update_status(&self, stack: &str, change: impl FnOnce(&mut StackStatus)) {
        let mut st = self.status.read(stack);
        change(&mut st);
        let written = self.status.write(&st);
        self.status_written(stack, written.map(|()| Some(&st)));
    }

    /// Tells the sink about a status written (or dropped); logs a failed write, once until a
    /// write succeeds again.
    fn status_written(&self, stack: &str, result: std::io::Result<Option<&StackStatus>>) {
        match result {
            Ok(status) => {
                if self.status_unwritable.swap(false, Ordering::Relaxed) {
                    info!("stack statuses can be written again");
                }
                self.sink.status(stack, status);
            }
            Err(e) => {
                if !self.status_unwritable.swap(true, Ordering::Relaxed) {
                    warn!(%stack, "cannot write the stack's status under {}: {e}; `devarch get stacks` shows stale statuses until a write succeeds (not logged again until then)", self.settings.home.display());
                }
            }
        }
    }

    /// Re-reads the manifests folder (blocking I/O); returns the stacks whose desired state
    /// changed (or that appeared or vanished). Stacks whose manifests are broken keep their
    /// last good desired state and are marked degraded; problems are logged when they change.
    pub fn rescan(&self) -> BTreeSet<String> {
        let ws = match Workspace::load(&self.settings.dir) {
            Ok(ws) => ws,
            Err(e) => {
                error!(error = %e, "cannot read the manifests folder; keeping the last good state");
                return BTreeSet::new();
            }
        };
        let (rescan, had_problems) = {
            let mut last_good = self.last_good.write().unwrap_or_else(|p| p.into_inner());
            let had_problems = !last_good.diagnostics().is_empty();
            (last_good.update(&ws), had_problems)
        };
        if let Some(diagnostics) = &rescan.new_diagnostics {
            for d in diagnostics {
                error!(target: "devarch::manifests", "{d}");
            }
            if diagnostics.is_empty() && had_problems {
                info!("manifests are valid again");
            } else if !diagnostics.is_empty() {
                warn!(
                    "{} problem(s) in the manifests: affected stacks keep their last good state; removal of stacks whose manifests are gone is suspended",
                    diagnostics.len()
                );
            }
        }
        let message = ws
            .diagnostics
            .iter()
            .take(3)
            .map(|d| d.to_string().lines().next().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join("; ");
        for stack in &rescan.broken {
            self.update_status(stack, |st| st.record_invalid_manifest(message.clone()));
        }
        rescan.changed
    }

    /// Every stack in the folder (valid or not), plus `owned` (the stacks the engine holds
    /// for this folder).
    pub fn all_stacks(&self, owned: &BTreeSet<String>) -> BTreeSet<String> {
        let last_good = self.last_good();
        let manifests = last_good.manifests();
        let mut all = manifests.known.clone();
        all.extend(manifests.stacks.keys().cloned());
        all.extend(owned.iter().cloned());
        all
    }

    /// Observes the engine once and plans every stack from that snapshot, without recording
    /// anything (see [`Reconciler::record_up_to_date`]). With the engine unreachable,
    /// none is up to date (each reconcile then fails and backs off).
    pub async fn survey(self: &Arc<Self>) -> Survey {
        let observed = match observe(self.runtime.as_ref()).await {
            Ok(w) => w,
            Err(_) => {
                return Survey {
                    all: self.all_stacks(&BTreeSet::new()),
                    up_to_date: BTreeSet::new(),
                };
            }
        };
        let all = self.all_stacks(&observed.owned_stacks(&self.owner));
        let me = self.clone();
        let up_to_date = tokio::task::spawn_blocking(move || me.in_sync(observed))
            .await
            .unwrap_or_default();
        Survey { all, up_to_date }
    }

    /// Records as up to date those of `stacks` (found up to date by a periodic survey) whose
    /// status does not say Ready yet: a stack brought up to date from outside the controller
    /// (`devarch apply`, the API) then shows Ready by the next resync. Ready ones are not
    /// written again.
    pub fn record_up_to_date_if_stale(&self, stacks: &BTreeSet<String>) {
        let stale: BTreeSet<String> = stacks
            .iter()
            .filter(|s| {
                let st = self.status.read(s);
                st.condition(crate::status::ConditionType::Ready)
                    .is_none_or(|c| !c.status)
            })
            .cloned()
            .collect();
        self.record_up_to_date(&stale);
    }

    /// Records `stacks`, found up to date by a [`Reconciler::survey`], as up to date.
    pub fn record_up_to_date(&self, stacks: &BTreeSet<String>) {
        for stack in stacks {
            let snapshot = self.snapshot(stack);
            self.update_status(stack, |st| {
                st.record(&Outcome::UpToDate, snapshot.generation, snapshot.broken);
            });
        }
    }

    /// The stacks whose plan from `observed` is empty and conflict-free; none when planning
    /// fails as a whole (then every stack is reconciled, each reporting its own error).
    fn in_sync(&self, observed: ObservedWorld) -> BTreeSet<String> {
        let manifests = self.last_good().manifests().clone();
        let Ok(planned) = plan_with(&self.context(), &manifests, &Selection::default(), observed)
        else {
            return BTreeSet::new();
        };
        planned
            .plans
            .iter()
            .filter(|p| planned.desired.contains_key(&p.stack) && p.is_up_to_date())
            .map(|p| p.stack.clone())
            .collect()
    }
}

/// When a stack runs again after a reconcile that did not fail: conflicts are retried on the
/// stack's backoff (only the world outside can clear them); a stack found up to date after an
/// engine event is looked at once more shortly after ([`EVENT_RECHECK`]); otherwise it waits
/// for a trigger.
pub fn requeue(outcome: &Outcome, reasons: &[ScheduleReason<Trigger>]) -> Requeue {
    let from_event = reasons
        .iter()
        .any(|r| matches!(r, ScheduleReason::Requested(Trigger::Engine(_))));
    match outcome {
        Outcome::Conflicts(_) => Requeue::backoff(),
        Outcome::UpToDate if from_event => Requeue::after(EVENT_RECHECK),
        _ => Requeue::await_change(),
    }
}

/// When a stack runs again after a failed reconcile: after its backoff delay (at most
/// [`ExponentialBackoff::DEFAULT_MAX`]); the failure is logged with its delay.
pub fn error_policy(
    stack: &String,
    err: &scheduler::Error<ReconcileError>,
    delay: Option<Duration>,
) -> Requeue {
    let delay = delay.unwrap_or(ExponentialBackoff::DEFAULT_MAX);
    let cause = match err {
        scheduler::Error::Reconcile(e) => crate::errors::chain(e),
        other => crate::errors::chain(other),
    };
    error!(%stack, "reconcile failed: {cause}; retrying in {:.1}s", delay.as_secs_f64());
    Requeue::after(delay)
}

#[cfg(test)]
mod tests {
    //! The reconciler against the in-memory engine, under paused time (real engines:
    //! tests/watch.rs).
    use std::path::Path;
    use std::sync::Mutex;

    use super::*;
    use crate::apply::{Event, Progress};
    use crate::manifests::types::Protocol;
    use crate::plan::ConflictKind;
    use crate::reconcile::Skip;
    use crate::runtime::fake::FakeRuntime;
    use crate::state::ports::PortStore;
    use crate::status::{ConditionReason, ConditionType};
    use crate::watch::scheduler::{Config, Scheduler};
    use tokio::time::Instant;
    use tokio_util::sync::CancellationToken;

    const TEMPLATE: &str = "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {name: bb}\nspec:\n  image: busybox:1\n  ports: [{container: 8080, host: auto}]\n  volumes: [{name: data, target: /data}]\n";

    fn stack(name: &str, instances: &[&str]) -> String {
        let list: String = instances
            .iter()
            .map(|i| format!("    {i}: {{template: bb}}\n"))
            .collect();
        format!(
            "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  instances:\n{list}"
        )
    }

    /// What the reconciler told its sink.
    #[derive(Default)]
    struct Recorder {
        plans: Mutex<Vec<String>>,
        statuses: Mutex<Vec<(String, Option<String>)>>,
    }

    impl Progress for Recorder {
        fn event(&self, _e: &Event) {}
    }

    impl Sink for Recorder {
        fn plan(&self, stack: &str, why: &str, plan: &StackPlan) {
            let text = format!("{stack} ({why}): {}", Summary::of([plan]));
            self.plans.lock().unwrap().push(text);
        }
        fn status(&self, stack: &str, status: Option<&StackStatus>) {
            let summary = status.map(|s| s.summary().to_string());
            self.statuses
                .lock()
                .unwrap()
                .push((stack.to_string(), summary));
        }
    }

    struct Fixture {
        dir: tempfile::TempDir,
        home: tempfile::TempDir,
        rt: Arc<FakeRuntime>,
        sink: Arc<Recorder>,
        reconciler: Arc<Reconciler>,
    }

    impl Fixture {
        fn new(plan_only: bool) -> Fixture {
            let (dir, home) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            std::fs::write(dir.path().join("t.yaml"), TEMPLATE).unwrap();
            let rt = Arc::new(FakeRuntime::new());
            let sink = Arc::new(Recorder::default());
            let settings = Settings {
                dir: dir.path().to_path_buf(),
                home: home.path().to_path_buf(),
                plan_only,
                lock_wait: LOCK_WAIT,
                router: crate::router::RouterSettings::default(),
            };
            let reconciler = Arc::new(Reconciler::new(rt.clone(), sink.clone(), settings));
            Fixture {
                dir,
                home,
                rt,
                sink,
                reconciler,
            }
        }

        fn write(&self, file: &str, text: &str) -> BTreeSet<String> {
            std::fs::write(self.dir.path().join(file), text).unwrap();
            self.reconciler.rescan()
        }

        fn remove(&self, file: &str) -> BTreeSet<String> {
            std::fs::remove_file(self.dir.path().join(file)).unwrap();
            self.reconciler.rescan()
        }

        async fn reconcile(&self, stack: &str) -> Result<Outcome, ReconcileError> {
            self.reconciler.reconcile(stack, "test").await
        }

        fn status(&self, stack: &str) -> StackStatus {
            self.reconciler.status.read(stack)
        }

        fn auto_port(&self, stack: &str, instance: &str) -> Option<u16> {
            let ports = PortStore::load(self.home.path()).unwrap();
            ports.assigned(
                self.reconciler.owner(),
                stack,
                instance,
                8080,
                Protocol::Tcp,
            )
        }

        fn names(&self) -> Vec<String> {
            self.rt.containers().into_keys().collect()
        }
    }

    fn added(n: usize) -> Summary {
        Summary {
            add: n,
            change: 0,
            destroy: 0,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_stack_is_applied_once_and_then_found_up_to_date() {
        let f = Fixture::new(false);
        let changed = f.write("s.yaml", &stack("blog", &["one", "two"]));
        assert_eq!(changed, BTreeSet::from(["blog".to_string()]));
        // Network, two volumes, two containers.
        assert_eq!(
            f.reconcile("blog").await.unwrap(),
            Outcome::Applied(added(5))
        );
        assert_eq!(f.names(), ["devarch-blog-one", "devarch-blog-two"]);
        assert!(f.rt.containers().values().all(|c| c.1), "running");
        assert_eq!(f.status("blog").summary(), "Ready");
        let mutations = f.rt.mutations();
        assert_eq!(f.reconcile("blog").await.unwrap(), Outcome::UpToDate);
        assert_eq!(f.rt.mutations(), mutations, "nothing touched");
        let plans = f.sink.plans.lock().unwrap().clone();
        assert_eq!(
            plans,
            ["blog (test): Plan: 5 to add, 0 to change, 0 to destroy."]
        );
        let ready = f.status("blog");
        let c = ready.condition(ConditionType::Ready).unwrap();
        assert_eq!((c.status, c.reason), (true, ConditionReason::UpToDate));
    }

    #[tokio::test(start_paused = true)]
    async fn an_engine_failure_is_retried_with_backoff_until_the_engine_is_back() {
        let f = Fixture::new(false);
        f.write("s.yaml", &stack("blog", &["one"]));
        f.rt.set_down(true);
        let scheduler: Scheduler<String, Trigger> = Scheduler::new();
        scheduler
            .handle()
            .schedule_now("blog".into(), Trigger::Manifests)
            .unwrap();
        let token = CancellationToken::new();
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let (t0, seen, r) = (Instant::now(), outcomes.clone(), f.reconciler.clone());
        let config = Config {
            concurrency: 1,
            backoff: ExponentialBackoff::default(),
        };
        let run = scheduler::run(
            scheduler,
            config,
            move |stack: String, reasons: Vec<_>, _| {
                let r = r.clone();
                async move { r.run(&stack, &reasons).await }
            },
            error_policy,
            move |o: scheduler::Completion<String, ReconcileError>| {
                seen.lock().unwrap().push((t0.elapsed(), o.result.is_ok()));
            },
            token.clone(),
        );
        let runner = tokio::spawn(run);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        f.rt.set_down(false);
        tokio::time::sleep(Duration::from_millis(2000)).await;
        token.cancel();
        runner.await.unwrap();

        let outcomes = outcomes.lock().unwrap().clone();
        let oks: Vec<bool> = outcomes.iter().map(|o| o.1).collect();
        assert_eq!(oks, [false, false, false, true], "{outcomes:?}");
        // Retried after about 200, 400 and 800 ms (±10 % jitter), then converged.
        for (pair, nominal) in outcomes.windows(2).zip([200u64, 400, 800]) {
            let gap = (pair[1].0 - pair[0].0).as_millis() as u64;
            assert!(
                gap * 10 >= nominal * 9 && gap * 10 <= nominal * 11 + 10,
                "{outcomes:?}"
            );
        }
        assert_eq!(f.names(), ["devarch-blog-one"]);
        assert_eq!(f.status("blog").summary(), "Ready");
    }

    #[tokio::test(start_paused = true)]
    async fn a_broken_manifest_keeps_the_last_good_state_and_suspends_removals() {
        let f = Fixture::new(false);
        f.write("s.yaml", &stack("blog", &["one"]));
        f.write("shop.yaml", &stack("shop", &["web"]));
        f.reconcile("blog").await.unwrap();
        f.reconcile("shop").await.unwrap();
        let before = f.rt.containers();

        // A half-written save: nothing changes in what blog should be.
        let half = "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {name: blog}\nspec:\n  instances: {one: {template";
        assert!(f.write("s.yaml", half).is_empty());
        assert_eq!(f.status("blog").summary(), "Degraded");
        assert_eq!(f.reconcile("blog").await.unwrap(), Outcome::UpToDate);
        assert_eq!(f.status("blog").summary(), "Degraded", "still broken");
        // Another stack's manifest deleted meanwhile: its removal waits.
        assert!(f.remove("shop.yaml").is_empty());
        assert_eq!(f.reconcile("shop").await.unwrap(), Outcome::UpToDate);
        assert_eq!(f.rt.containers(), before, "nothing removed or recreated");

        // Fixed: blog is valid again, shop's removal goes ahead.
        let changed = f.write("s.yaml", &stack("blog", &["one"]));
        assert_eq!(changed, BTreeSet::from(["shop".to_string()]));
        assert_eq!(f.reconcile("blog").await.unwrap(), Outcome::UpToDate);
        assert_eq!(f.status("blog").summary(), "Ready");
        let removed = f.reconcile("shop").await.unwrap();
        assert!(
            matches!(removed, Outcome::Removed(s) if s.destroy == 2),
            "container, network"
        );
        assert_eq!(f.names(), ["devarch-blog-one"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stack_broken_from_the_start_is_skipped() {
        let f = Fixture::new(false);
        f.write("s.yaml", &stack("blog", &["one"]).replace("bb", "missing"));
        let outcome = f.reconcile("blog").await.unwrap();
        assert_eq!(outcome, Outcome::Skipped(Skip::ManifestErrors));
        assert_eq!(f.rt.mutations(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_foreign_object_holding_a_name_is_a_conflict_retried_on_backoff() {
        let f = Fixture::new(false);
        f.rt.add_container("devarch-blog-one", std::collections::BTreeMap::new());
        f.write("s.yaml", &stack("blog", &["one"]));
        let mutations = f.rt.mutations();
        let outcome = f.reconcile("blog").await.unwrap();
        let Outcome::Conflicts(conflicts) = &outcome else {
            panic!("{outcome:?}");
        };
        assert_eq!(conflicts[0].kind, ConflictKind::Container);
        assert_eq!(requeue(&outcome, &[]), Requeue::backoff());
        assert_eq!(f.rt.mutations(), mutations, "nothing applied");
        assert_eq!(
            f.names(),
            ["devarch-blog-one"],
            "the foreign container stays"
        );
        let degraded = f.status("blog");
        let c = degraded.condition(ConditionType::Degraded).unwrap();
        assert_eq!((c.status, c.reason), (true, ConditionReason::Conflict));
        assert_eq!(f.sink.plans.lock().unwrap().len(), 1, "the plan is shown");
    }

    #[tokio::test(start_paused = true)]
    async fn plan_only_shows_the_plan_and_never_mutates() {
        let f = Fixture::new(true);
        f.write("s.yaml", &stack("blog", &["one"]));
        assert_eq!(
            f.reconcile("blog").await.unwrap(),
            Outcome::PlanOnly(added(3))
        );
        assert_eq!(f.rt.mutations(), 0);
        assert_eq!(f.sink.plans.lock().unwrap().len(), 1);
        let st = f.status("blog");
        let c = st.condition(ConditionType::Ready).unwrap();
        assert_eq!(
            (c.status, c.reason),
            (false, ConditionReason::ChangesPending)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_removed_stack_releases_its_host_ports_and_drops_its_status() {
        let f = Fixture::new(false);
        f.write("s.yaml", &stack("blog", &["one"]));
        f.write("shop.yaml", &stack("shop", &["web"]));
        f.reconcile("blog").await.unwrap();
        f.reconcile("shop").await.unwrap();
        assert!(f.auto_port("blog", "one").is_some());
        let shop_port = f.auto_port("shop", "web");

        assert_eq!(f.remove("s.yaml"), BTreeSet::from(["blog".to_string()]));
        let outcome = f.reconcile("blog").await.unwrap();
        assert!(
            matches!(outcome, Outcome::Removed(s) if s.destroy == 2),
            "{outcome:?}"
        );
        assert_eq!(f.auto_port("blog", "one"), None, "released");
        assert_eq!(f.auto_port("shop", "web"), shop_port, "others kept");
        assert!(!f.reconciler.status.exists("blog"));
        let dropped = f.sink.statuses.lock().unwrap().last().cloned();
        assert_eq!(dropped, Some(("blog".to_string(), None)));
        assert_eq!(f.names(), ["devarch-shop-web"]);
        assert!(f.rt.log().contains(&"list_volumes".to_string()));

        // Gone from the manifests and the engine: removed again, nothing left to release.
        let again = f.reconcile("blog").await.unwrap();
        assert_eq!(again, Outcome::Removed(Summary::default()));
        assert_eq!(
            release_ports(Path::new(f.home.path()), f.reconciler.owner(), "blog").unwrap(),
            0
        );
    }

    #[test]
    fn a_stack_found_up_to_date_after_an_engine_event_is_looked_at_again_shortly() {
        let event = [ScheduleReason::Requested(Trigger::Engine("die".into()))];
        let edit = [ScheduleReason::Requested(Trigger::Manifests)];
        assert_eq!(
            requeue(&Outcome::UpToDate, &event),
            Requeue::after(EVENT_RECHECK)
        );
        assert_eq!(requeue(&Outcome::UpToDate, &edit), Requeue::await_change());
        assert_eq!(
            requeue(&Outcome::Applied(added(1)), &event),
            Requeue::await_change()
        );
    }
}

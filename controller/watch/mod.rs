/*! Watch mode: the controller loop that keeps reconciling stacks as their manifests and the
engine change.

Level-triggered. Triggers only enqueue stack names into the [`scheduler`]; the
[`reconciler`] re-reads desired and actual state and runs the same plan/apply path as the
CLI, under the same per-stack lock. [`run`] only wires them together:

- [`scheduler`]: the generic mechanism (one pending slot per key, delays, per-key backoff, at
  most one reconcile per key at a time, a bound on parallel keys, graceful shutdown); it
  knows nothing of stacks;
- [`reconciler`]: the policy — one stack's reconcile, its status, when it runs again — with
  the last good desired state of each stack kept by [`last_good`];
- triggers, one per file: [`folder`] (debounced file events → rescan → changed stacks),
  [`engine_events`] (drift reported by the engine, reconnected with backoff, resync after a
  reconnect) and [`resync`] (the startup pass and the periodic resync).

Plans, progress and status changes go to the [`Sink`] the caller passes in.
*/

pub mod engine_events;
pub mod folder;
pub mod last_good;
pub mod reconciler;
pub mod resync;
pub mod scheduler;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::runtime::Runtime;
use crate::sink::Sink;
use folder::FolderWatchError;
use reconciler::{LOCK_WAIT, Reconciler, Settings, Trigger, error_policy};
use scheduler::{Config, ExponentialBackoff, Scheduler};

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    /// The manifests folder.
    pub dir: PathBuf,
    /// `--home`.
    pub home: PathBuf,
    /// Show plans, never apply them (`--plan-only`).
    pub plan_only: bool,
    /// Period of the full resync (`--resync`, default 60 s).
    pub resync: Duration,
    /// Stacks reconciled in parallel (`--concurrency`, default 4; 0 counts as 1).
    pub concurrency: usize,
    /// Quiet time after a file event before the folder is re-read (`--debounce`, default
    /// 300 ms).
    pub debounce: Duration,
    /// How the domain router runs.
    pub router: crate::router::RouterSettings,
}

/// Runs the controller until `shutdown` is cancelled; running reconciles finish first.
///
/// # Errors
/// [`FolderWatchError`] when the manifests folder cannot be watched.
pub async fn run(
    opts: WatchOptions,
    runtime: Arc<dyn Runtime>,
    sink: Arc<dyn Sink>,
    shutdown: CancellationToken,
) -> Result<(), FolderWatchError> {
    let settings = Settings {
        dir: opts.dir.clone(),
        home: opts.home.clone(),
        plan_only: opts.plan_only,
        lock_wait: LOCK_WAIT,
        router: opts.router.clone(),
    };
    let reconciler = Arc::new(Reconciler::new(runtime, sink, settings));
    let scheduler: Scheduler<String, Trigger> = Scheduler::new();
    let handle = scheduler.handle();

    // Watched before the first read, so a file written meanwhile is not missed until the
    // next resync.
    let _watcher = folder::start(
        &opts.dir,
        opts.debounce,
        reconciler.clone(),
        handle.clone(),
        shutdown.clone(),
    )?;
    resync::startup(&reconciler, &handle).await;
    let engine = reconciler.runtime().engine();
    info!(dir = %opts.dir.display(), engine = %engine.kind, endpoint = %engine.endpoint, plan_only = opts.plan_only, "devarch watch started");
    tokio::spawn(engine_events::run(
        reconciler.clone(),
        handle.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(reconciler.clone().sync_router_when_due(shutdown.clone()));
    tokio::spawn(resync::run(
        reconciler.clone(),
        handle.clone(),
        opts.resync,
        shutdown.clone(),
    ));

    let config = Config {
        concurrency: opts.concurrency.max(1),
        backoff: ExponentialBackoff::default(),
    };
    let reconcile = move |stack: String, reasons: Vec<_>, _token| {
        let reconciler = reconciler.clone();
        async move { reconciler.run(&stack, &reasons).await }
    };
    let on_outcome = |outcome: scheduler::Completion<String, _>| {
        if outcome.result.is_ok() {
            let elapsed_ms = u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX);
            tracing::debug!(stack = %outcome.key, elapsed_ms, "reconciled");
        }
    };
    scheduler::run(
        scheduler,
        config,
        reconcile,
        error_policy,
        on_outcome,
        shutdown,
    )
    .await;
    info!("devarch watch stopped");
    Ok(())
}

/*! Generic reconcile scheduler: one pending slot per key, delays, per-key backoff, at most
one reconcile per key at a time, a bound on parallel keys, graceful shutdown.

Nothing here knows about stacks, manifests or engines: a key is any [`Key`], a reason any `R`.
The split follows kube-runtime's mechanism vs policy:

- [`Scheduler`] is the pending set, `key → (earliest due time, reasons)`, ordered by due time
  then key, so equal due times start in a deterministic order.
- [`Handle`] is the cheap, cloneable way in from anywhere: a file-watcher thread, an engine
  event task, a resync timer.
- [`run`] drives it: it takes due keys, calls `reconcile`, asks `error_policy` on failure,
  requeues per the returned [`Requeue`] and reports each [`Completion`] to a callback.
- [`Backoff`] and [`ExponentialBackoff`] give per-key retry delays, reset on success.

```no_run
# use std::time::Duration;
# use devarch::watch::scheduler::*;
# use tokio_util::sync::CancellationToken;
# #[derive(Debug, thiserror::Error)] #[error("failed")] struct Failed;
# async fn example(shutdown: CancellationToken) {
let scheduler = Scheduler::<String, &'static str>::new();
let handle = scheduler.handle();
handle.schedule_now("web".to_owned(), "startup").ok();
run(
    scheduler,
    Config::default(),
    |key, reasons, _shutdown| async move {
        println!("reconciling {key} because {reasons:?}");
        Ok::<_, Failed>(Requeue::after(Duration::from_mins(5)))
    },
    default_error_policy,
    |outcome| println!("{:?} → {:?}", outcome.key, outcome.action),
    shutdown,
)
.await;
# }
```
*/

mod backoff;
mod queue;

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use tokio::task::{self, JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use backoff::{Backoff, ExponentialBackoff};
pub use queue::{Handle, Key, MAX_REASONS, ScheduleReason, Scheduler, Stopped};

/// What to do with a key after a reconcile: the only thing policy returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Requeue {
    next: Next,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Next {
    After(Duration),
    AwaitChange,
    Backoff,
}

impl Requeue {
    /// Run the key again after `after`, unless something schedules it earlier.
    #[must_use]
    pub const fn after(after: Duration) -> Self {
        Self {
            next: Next::After(after),
        }
    }

    /// Do not run the key again until something schedules it.
    #[must_use]
    pub const fn await_change() -> Self {
        Self {
            next: Next::AwaitChange,
        }
    }

    /// Run the key again after its next backoff delay, as after a failure, although the
    /// reconcile itself succeeded (its outcome is a state that only the world outside can
    /// change, such as a name held by someone else): consecutive backoffs walk the key's
    /// [`Backoff`], and any other answer resets it. When the backoff has given up, the key
    /// waits for a change.
    #[must_use]
    pub const fn backoff() -> Self {
        Self {
            next: Next::Backoff,
        }
    }

    /// The requeue delay of [`Requeue::after`]; `None` for the others.
    #[must_use]
    pub const fn requeue_after(&self) -> Option<Duration> {
        match self.next {
            Next::After(d) => Some(d),
            _ => None,
        }
    }

    /// Whether this is [`Requeue::backoff`].
    #[must_use]
    pub const fn is_backoff(&self) -> bool {
        matches!(self.next, Next::Backoff)
    }
}

/// How [`run`] runs: the bound on parallel keys and the backoff each failing key starts from.
#[derive(Clone, Debug)]
pub struct Config<B = ExponentialBackoff> {
    /// How many keys reconcile at once; 0 counts as 1.
    pub concurrency: usize,
    /// Cloned for each key on its first failure; the clone is dropped on success.
    pub backoff: B,
}

impl Default for Config {
    /// Four keys at once, [`ExponentialBackoff::default`].
    fn default() -> Self {
        Self {
            concurrency: 4,
            backoff: ExponentialBackoff::default(),
        }
    }
}

/// Why a reconcile produced no [`Requeue`], generic over the reconciler's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error<E> {
    /// `reconcile` returned an error.
    #[error("reconcile failed")]
    Reconcile(#[source] E),
    /// The reconcile task panicked (or the runtime aborted it while shutting down).
    #[error("reconcile task panicked or was aborted")]
    Task(#[source] JoinError),
}

/// One finished reconcile, for logs and status.
#[derive(Debug)]
#[non_exhaustive]
pub struct Completion<K, E> {
    /// The key that ran.
    pub key: K,
    /// What `reconcile` returned.
    pub result: Result<Requeue, Error<E>>,
    /// What the runner does next: the returned action, or the error policy's on failure.
    pub action: Requeue,
    /// Consecutive failures (or [`Requeue::backoff`] answers) of this key including this one;
    /// 0 after any other success.
    pub failures: u32,
    /// How long the reconcile took.
    pub elapsed: Duration,
}

/// The default error policy: retry after the key's backoff delay, or wait for a change once
/// the backoff has given up.
pub fn default_error_policy<K, E>(_key: &K, _error: &Error<E>, delay: Option<Duration>) -> Requeue {
    delay.map_or_else(Requeue::await_change, Requeue::after)
}

/// Run `reconcile` for due keys until `shutdown` is cancelled and the running ones finish.
///
/// - `reconcile(key, reasons, token)` gets the reasons the key was queued for (in arrival
///   order) and a child of `shutdown`, to stop between operations.
/// - `error_policy(key, error, delay)` decides what a failure leads to; `delay` is the key's
///   next backoff delay (`None` once its [`Backoff`] has ended). See [`default_error_policy`].
/// - `on_outcome` sees every finished reconcile, failures included, in completion order.
///
/// # Guarantees
///
/// - Never two reconciles of one key at once. A key scheduled while it reconciles stays
///   pending and runs once more after the current run, however many requests came in.
/// - At most `config.concurrency` reconciles at once; due keys start in order of due time,
///   then key, and a key that is running never holds up another one.
/// - [`Requeue::after`] (from `reconcile` or the error policy) schedules the key again,
///   merged with any pending request: the earlier due time wins.
/// - Consecutive failures of a key walk its own backoff; a success resets it.
/// - A failure, or a panic, of one key never stops the loop.
/// - Once `shutdown` is cancelled nothing new starts; running reconciles finish, their
///   outcomes are reported, then `run` returns. Pending entries are dropped, and handles
///   fail with [`Stopped`] from then on.
///
/// # Caveats
///
/// - Reconciles run as Tokio tasks, so `run` needs a Tokio runtime; dropping the `run` future
///   instead of cancelling `shutdown` aborts them.
/// - A request always wins over a pending retry with a later due time, so a key that keeps
///   being scheduled while it fails is retried sooner than its backoff says.
/// - `reconcile` is called (not awaited) on the runner's task, as are `error_policy` and
///   `on_outcome`: they must be quick, and a panic in them ends `run`.
pub async fn run<K, R, B, E, F, Fut, G, O>(
    mut scheduler: Scheduler<K, R>,
    config: Config<B>,
    mut reconcile: F,
    mut error_policy: G,
    mut on_outcome: O,
    shutdown: CancellationToken,
) where
    K: Key,
    R: Debug + Send + 'static,
    B: Backoff + Clone,
    E: Send + 'static,
    F: FnMut(K, Vec<ScheduleReason<R>>, CancellationToken) -> Fut,
    Fut: Future<Output = Result<Requeue, E>> + Send + 'static,
    G: FnMut(&K, &Error<E>, Option<Duration>) -> Requeue,
    O: FnMut(Completion<K, E>),
{
    let concurrency = config.concurrency.max(1);
    let mut tasks: JoinSet<Result<Requeue, E>> = JoinSet::new();
    let mut running: HashMap<task::Id, (K, Instant)> = HashMap::new();
    let mut running_keys: HashSet<K> = HashSet::new();
    let mut failing: HashMap<K, Failing<B>> = HashMap::new();
    let mut stopping = false;
    let mut sleep = pin!(tokio::time::sleep_until(Instant::now()));

    loop {
        stopping |= shutdown.is_cancelled();
        if stopping {
            if tasks.is_empty() {
                return;
            }
        } else {
            scheduler.drain_requests();
            let now = Instant::now();
            while running.len() < concurrency {
                let Some((key, reasons)) = scheduler.pop_due(now, |key| running_keys.contains(key))
                else {
                    break;
                };
                let span = tracing::info_span!("reconcile", key = ?key, reasons = ?reasons);
                let future = reconcile(key.clone(), reasons, shutdown.child_token());
                let id = tasks.spawn(future.instrument(span)).id();
                running.insert(id, (key.clone(), now));
                running_keys.insert(key);
            }
        }

        let wake = if stopping {
            None
        } else {
            scheduler.next_wake(Instant::now())
        };
        if let Some(at) = wake {
            sleep.as_mut().reset(at);
        }

        tokio::select! {
            biased;
            () = shutdown.cancelled(), if !stopping => stopping = true,
            Some(joined) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let (id, result) = match joined {
                    Ok((id, result)) => (id, result.map_err(Error::Reconcile)),
                    Err(error) => (error.id(), Err(Error::Task(error))),
                };
                let Some((key, started)) = running.remove(&id) else {
                    continue;
                };
                running_keys.remove(&key);
                let backed_off = matches!(&result, Ok(action) if action.is_backoff());
                let (action, failures) = match &result {
                    Ok(_) if backed_off => {
                        let (delay, failures) = walk_backoff(&mut failing, &key, &config.backoff);
                        (delay.map_or_else(Requeue::await_change, Requeue::after), failures)
                    }
                    Ok(action) => {
                        failing.remove(&key);
                        (*action, 0)
                    }
                    Err(error) => {
                        let (delay, failures) = walk_backoff(&mut failing, &key, &config.backoff);
                        (error_policy(&key, error, delay), failures)
                    }
                };
                if let Some(after) = action.requeue_after() {
                    let reason = if result.is_ok() && !backed_off {
                        ScheduleReason::Requeue(after)
                    } else {
                        ScheduleReason::Retry(after)
                    };
                    // A delay too large to represent never comes due.
                    if let Some(run_at) = Instant::now().checked_add(after) {
                        scheduler.push(key.clone(), reason, run_at);
                    }
                }
                on_outcome(Completion {
                    key,
                    result,
                    action,
                    failures,
                    elapsed: started.elapsed(),
                });
            }
            Some(request) = scheduler.rx.recv(), if !stopping => scheduler.accept(request),
            () = &mut sleep, if wake.is_some() => {}
        }
    }
}

/// Backoff state of a key whose last reconcile failed (or asked for [`Requeue::backoff`]).
struct Failing<B> {
    backoff: B,
    failures: u32,
}

/// Counts one more consecutive failure of `key` and takes its next backoff delay (`None`
/// once the backoff has given up); returns the delay and the count.
fn walk_backoff<K: Key, B: Backoff + Clone>(
    failing: &mut HashMap<K, Failing<B>>,
    key: &K,
    initial: &B,
) -> (Option<Duration>, u32) {
    let state = failing.entry(key.clone()).or_insert_with(|| Failing {
        backoff: initial.clone(),
        failures: 0,
    });
    state.failures = state.failures.saturating_add(1);
    (state.backoff.next(), state.failures)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use tokio::task::JoinHandle;

    use super::*;

    type TestKey = &'static str;

    #[derive(Debug, thiserror::Error)]
    #[error("boom")]
    struct Boom;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// Let every ready task run until none is left.
    async fn settle() {
        for _ in 0..32 {
            task::yield_now().await;
        }
    }

    /// Move the paused clock forward 1 ms at a time, letting tasks react at each step.
    async fn advance(by: Duration) {
        settle().await;
        let mut left = by;
        while !left.is_zero() {
            let step = left.min(ms(1));
            tokio::time::advance(step).await;
            left -= step;
            settle().await;
        }
    }

    /// One reconcile as the test sees it.
    #[derive(Clone, Debug)]
    struct Start {
        key: TestKey,
        at: Duration,
        reasons: Vec<ScheduleReason<TestKey>>,
    }

    /// What the reconciler saw: starts, and how many ran at once (overall and per key).
    #[derive(Default)]
    struct Probe {
        starts: Mutex<Vec<Start>>,
        outcomes: Mutex<Vec<(TestKey, bool, Requeue, u32)>>,
        per_key: Mutex<HashMap<TestKey, usize>>,
        max_per_key: AtomicUsize,
        running: AtomicUsize,
        max_running: AtomicUsize,
        cancelled_tokens: AtomicUsize,
    }

    impl Probe {
        fn starts(&self) -> Vec<Start> {
            self.starts.lock().unwrap().clone()
        }

        fn start_times(&self, key: TestKey) -> Vec<Duration> {
            self.starts()
                .into_iter()
                .filter(|start| start.key == key)
                .map(|start| start.at)
                .collect()
        }

        fn enter(&self, start: Start) {
            let key = start.key;
            self.starts.lock().unwrap().push(start);
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_running.fetch_max(now, Ordering::SeqCst);
            let mut per_key = self.per_key.lock().unwrap();
            let count = per_key.entry(key).or_default();
            *count += 1;
            self.max_per_key.fetch_max(*count, Ordering::SeqCst);
        }

        fn exit(&self, key: TestKey) {
            self.running.fetch_sub(1, Ordering::SeqCst);
            *self.per_key.lock().unwrap().get_mut(key).unwrap() -= 1;
        }
    }

    struct Harness {
        handle: Handle<TestKey, TestKey>,
        probe: Arc<Probe>,
        shutdown: CancellationToken,
        runner: JoinHandle<()>,
    }

    /// Start a runner whose reconcile takes `work` and then answers `script(key, nth call)`.
    fn start(
        concurrency: usize,
        work: Duration,
        script: impl Fn(TestKey, usize) -> Result<Requeue, Boom> + Send + Sync + 'static,
    ) -> Harness {
        start_with(Scheduler::new(), concurrency, work, script)
    }

    fn start_with(
        scheduler: Scheduler<TestKey, TestKey>,
        concurrency: usize,
        work: Duration,
        script: impl Fn(TestKey, usize) -> Result<Requeue, Boom> + Send + Sync + 'static,
    ) -> Harness {
        let t0 = Instant::now();
        let probe = Arc::new(Probe::default());
        let script = Arc::new(script);
        let shutdown = CancellationToken::new();
        let handle = scheduler.handle();
        let config = Config {
            concurrency,
            backoff: ExponentialBackoff::default(),
        };
        let (reconcile_probe, outcome_probe) = (probe.clone(), probe.clone());
        let reconcile = move |key: TestKey, reasons, token: CancellationToken| {
            let (probe, script) = (reconcile_probe.clone(), script.clone());
            async move {
                let nth = probe.start_times(key).len();
                probe.enter(Start {
                    key,
                    at: t0.elapsed(),
                    reasons,
                });
                tokio::time::sleep(work).await;
                if token.is_cancelled() {
                    probe.cancelled_tokens.fetch_add(1, Ordering::SeqCst);
                }
                probe.exit(key);
                script(key, nth)
            }
        };
        let on_outcome = move |outcome: Completion<TestKey, Boom>| {
            outcome_probe.outcomes.lock().unwrap().push((
                outcome.key,
                outcome.result.is_ok(),
                outcome.action,
                outcome.failures,
            ));
        };
        let runner = tokio::spawn(run(
            scheduler,
            config,
            reconcile,
            default_error_policy,
            on_outcome,
            shutdown.clone(),
        ));
        Harness {
            handle,
            probe,
            shutdown,
            runner,
        }
    }

    #[allow(clippy::unnecessary_wraps, reason = "matches the script signature")]
    fn idle(_: TestKey, _: usize) -> Result<Requeue, Boom> {
        Ok(Requeue::await_change())
    }
    #[tokio::test(start_paused = true)]
    async fn many_schedules_of_one_key_make_one_run_at_the_earliest_due_time() {
        let harness = start(4, ms(10), idle);
        let now = Instant::now();
        for (reason, delay) in [("slow", 300), ("fast", 50), ("medium", 100)] {
            harness
                .handle
                .schedule("a", reason, now + ms(delay))
                .unwrap();
        }
        harness
            .handle
            .schedule_after("a", "later", ms(500))
            .unwrap();

        advance(ms(1000)).await;

        let starts = harness.probe.starts();
        assert_eq!(starts.len(), 1, "{starts:?}");
        assert_eq!(starts[0].at, ms(50));
        assert_eq!(
            starts[0].reasons,
            ["slow", "fast", "medium", "later"]
                .map(ScheduleReason::Requested)
                .to_vec()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_scheduled_during_its_own_reconcile_runs_exactly_once_more_afterwards() {
        let harness = start(4, ms(100), idle);
        harness.handle.schedule_now("a", "first").unwrap();
        advance(ms(10)).await;
        for _ in 0..5 {
            harness.handle.schedule_now("a", "during").unwrap();
            advance(ms(10)).await;
        }

        advance(ms(1000)).await;

        let starts = harness.probe.starts();
        assert_eq!(harness.probe.start_times("a"), [ms(0), ms(100)]);
        assert_eq!(
            starts[1].reasons,
            vec![ScheduleReason::Requested("during"); 5]
        );
        assert_eq!(harness.probe.max_per_key.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn one_key_never_reconciles_twice_at_once_under_a_stream_of_requests() {
        let harness = start(4, ms(30), idle);
        for _ in 0..200 {
            harness.handle.schedule_now("a", "spam").unwrap();
            harness.handle.schedule_now("b", "spam").unwrap();
            advance(ms(1)).await;
        }
        advance(ms(100)).await;

        assert_eq!(harness.probe.max_per_key.load(Ordering::SeqCst), 1);
        // Back to back, 30 ms each, over about 230 ms: 7 or 8 runs, never 200.
        let runs = harness.probe.start_times("a").len();
        assert!((7..=8).contains(&runs), "{runs} runs");
    }

    #[tokio::test(start_paused = true)]
    async fn different_keys_run_in_parallel_up_to_the_bound_and_not_beyond() {
        let harness = start(2, ms(100), idle);
        for key in ["e", "d", "c", "b", "a"] {
            harness.handle.schedule_now(key, "go").unwrap();
        }

        advance(ms(1000)).await;

        let starts: Vec<_> = harness
            .probe
            .starts()
            .into_iter()
            .map(|start| (start.key, start.at))
            .collect();
        assert_eq!(
            starts,
            [
                ("a", ms(0)),
                ("b", ms(0)),
                ("c", ms(100)),
                ("d", ms(100)),
                ("e", ms(200)),
            ]
        );
        assert_eq!(harness.probe.max_running.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_running_key_does_not_hold_up_other_due_keys() {
        let harness = start(2, ms(100), idle);
        harness.handle.schedule_now("a", "go").unwrap();
        advance(ms(10)).await;
        harness.handle.schedule_now("a", "again").unwrap();
        harness.handle.schedule_now("b", "go").unwrap();

        advance(ms(300)).await;

        assert_eq!(harness.probe.start_times("a"), [ms(0), ms(100)]);
        assert_eq!(harness.probe.start_times("b"), [ms(10)]);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_on_repeated_failure_and_resets_after_a_success() {
        // Calls 0..4 fail, call 4 succeeds, call 5 fails, call 6 succeeds.
        let harness = start(1, Duration::ZERO, |_, nth| match nth {
            4 | 6 => Ok(Requeue::await_change()),
            _ => Err(Boom),
        });
        harness.handle.schedule_now("a", "go").unwrap();
        advance(ms(4000)).await;
        harness.handle.schedule_now("a", "again").unwrap();
        advance(ms(1000)).await;

        let times = harness.probe.start_times("a");
        assert_eq!(times.len(), 7, "{times:?}");
        let gaps: Vec<_> = times
            .windows(2)
            .map(|pair| pair[1].saturating_sub(pair[0]))
            .collect();
        for (gap, nominal) in [gaps[0], gaps[1], gaps[2], gaps[3], gaps[5]]
            .into_iter()
            .zip([200, 400, 800, 1600, 200])
        {
            let (low, high) = (nominal * 9 / 10, nominal * 11 / 10);
            assert!(
                ms(low) <= gap && gap <= ms(high + 1),
                "gap {gap:?} outside {low}..={high} ms; all gaps {gaps:?}"
            );
        }
        let failures: Vec<_> = harness
            .probe
            .outcomes
            .lock()
            .unwrap()
            .iter()
            .map(|outcome| outcome.3)
            .collect();
        assert_eq!(failures, [1, 2, 3, 4, 0, 1, 0]);
        let starts = harness.probe.starts();
        assert!(matches!(starts[1].reasons[..], [ScheduleReason::Retry(_)]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_backoff_answer_walks_the_backoff_like_a_failure_and_any_other_answer_resets_it() {
        // Calls 0..3 answer backoff (successes), call 3 settles, call 4 backs off again.
        let harness = start(1, Duration::ZERO, |_, nth| match nth {
            3 | 5 => Ok(Requeue::await_change()),
            _ => Ok(Requeue::backoff()),
        });
        harness.handle.schedule_now("a", "go").unwrap();
        advance(ms(2000)).await;
        harness.handle.schedule_now("a", "again").unwrap();
        advance(ms(1000)).await;

        let times = harness.probe.start_times("a");
        assert_eq!(times.len(), 6, "{times:?}");
        let gaps: Vec<_> = times
            .windows(2)
            .map(|pair| pair[1].saturating_sub(pair[0]))
            .collect();
        for (gap, nominal) in [gaps[0], gaps[1], gaps[4]].into_iter().zip([200, 400, 200]) {
            let (low, high) = (nominal * 9 / 10, nominal * 11 / 10);
            assert!(
                ms(low) <= gap && gap <= ms(high + 1),
                "gap {gap:?} outside {low}..={high} ms; all gaps {gaps:?}"
            );
        }
        let outcomes = harness.probe.outcomes.lock().unwrap().clone();
        let counts: Vec<_> = outcomes.iter().map(|outcome| outcome.3).collect();
        assert_eq!(counts, [1, 2, 3, 0, 1, 0]);
        assert!(
            outcomes.iter().all(|outcome| outcome.1),
            "all were successes"
        );
        assert!(
            outcomes[0].2.requeue_after().is_some(),
            "the outcome reports the delay taken"
        );
        let starts = harness.probe.starts();
        assert!(matches!(starts[1].reasons[..], [ScheduleReason::Retry(_)]));
    }

    #[tokio::test(start_paused = true)]
    async fn requeue_reschedules_the_key_after_the_delay() {
        let harness = start(1, ms(10), |_, _| Ok(Requeue::after(ms(1000))));
        harness.handle.schedule_now("a", "go").unwrap();

        advance(ms(3500)).await;

        let starts = harness.probe.starts();
        let times: Vec<_> = starts.iter().map(|start| start.at).collect();
        assert_eq!(times, [ms(0), ms(1010), ms(2020), ms(3030)]);
        assert_eq!(starts[1].reasons, [ScheduleReason::Requeue(ms(1000))]);
    }

    #[tokio::test(start_paused = true)]
    async fn await_change_leaves_the_key_alone_until_it_is_scheduled() {
        let harness = start(1, ms(10), idle);
        harness.handle.schedule_now("a", "go").unwrap();
        advance(ms(2000)).await;
        assert_eq!(harness.probe.start_times("a"), [ms(0)]);

        harness.handle.schedule_now("a", "change").unwrap();
        advance(ms(100)).await;
        assert_eq!(harness.probe.start_times("a"), [ms(0), ms(2000)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_reconcile_is_reported_and_retried_with_backoff() {
        let harness = start(1, Duration::ZERO, |_, nth| {
            assert!(nth > 0, "first call panics");
            Ok(Requeue::await_change())
        });
        harness.handle.schedule_now("a", "go").unwrap();

        advance(ms(1000)).await;

        let times = harness.probe.start_times("a");
        assert_eq!(times.len(), 2, "{times:?}");
        assert!(ms(180) <= times[1] && times[1] <= ms(221), "{times:?}");
        let outcomes = harness.probe.outcomes.lock().unwrap().clone();
        assert!(!outcomes[0].1, "the panic is reported as a failure");
        assert!(outcomes[1].1);
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_waits_for_the_in_flight_reconcile_then_returns_and_starts_nothing_new() {
        let mut scheduler = Scheduler::new();
        scheduler.schedule("b", "due later", Instant::now() + ms(200));
        let harness = start_with(scheduler, 4, ms(1000), idle);
        harness.handle.schedule_now("a", "go").unwrap();
        advance(ms(100)).await;

        harness.shutdown.cancel();
        harness.handle.schedule_now("c", "after cancel").unwrap();
        advance(ms(500)).await;
        assert!(!harness.runner.is_finished(), "a is still reconciling");

        advance(ms(500)).await;
        assert!(harness.runner.is_finished());
        let starts = harness.probe.starts();
        assert_eq!(starts.len(), 1, "{starts:?}");
        assert_eq!(starts[0].key, "a");
        assert_eq!(harness.probe.outcomes.lock().unwrap().len(), 1);
        assert_eq!(harness.probe.cancelled_tokens.load(Ordering::SeqCst), 1);
        assert_eq!(harness.handle.schedule_now("d", "late"), Err(Stopped));
    }
}

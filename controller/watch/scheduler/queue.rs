/*! The pending set of the scheduler ([`Scheduler`]): at most one entry per key, due at the
earliest time asked for, with the reasons it was asked for; and the [`Handle`] through which
anything schedules keys. */

use std::collections::{BTreeSet, HashMap};
use std::fmt::{self, Debug};
use std::hash::Hash;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// What a scheduler key must be: cheap to clone, comparable, hashable, ordered (to break ties
/// between equal due times deterministically), shareable across tasks and printable in logs.
///
/// Implemented for every type with those properties; there is nothing to implement by hand.
pub trait Key: Clone + Eq + Hash + Ord + Send + Sync + Debug + 'static {}

impl<T: Clone + Eq + Hash + Ord + Send + Sync + Debug + 'static> Key for T {}

/// How many reasons one pending entry keeps; later requests still count for the due time.
pub const MAX_REASONS: usize = 32;

/// Why a key was queued. Recorded for logs and handed to `reconcile`; never part of the key's
/// identity, so it never creates a second pending entry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScheduleReason<R> {
    /// Asked for through [`Scheduler::schedule`] or a [`Handle`].
    Requested(R),
    /// The previous reconcile succeeded and returned [`Requeue::after`](super::Requeue::after)
    /// with this delay.
    Requeue(Duration),
    /// The previous reconcile failed and the error policy asked for a retry after this delay.
    Retry(Duration),
}

impl<R: fmt::Display> fmt::Display for ScheduleReason<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Requested(reason) => reason.fmt(f),
            Self::Requeue(after) => write!(f, "requeued after {:.1}s", after.as_secs_f64()),
            Self::Retry(after) => write!(f, "retry after {:.1}s", after.as_secs_f64()),
        }
    }
}

/// The scheduler has stopped ([`run`](super::run) returned or the [`Scheduler`] was dropped);
/// the request was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the scheduler has stopped; the request was dropped")]
pub struct Stopped;

pub(super) struct Request<K, R> {
    key: K,
    reason: R,
    run_at: Instant,
}

/// A cheap, cloneable way to schedule keys from anywhere: async tasks, plain threads, timers.
///
/// # Guarantees
///
/// - Never blocks and never waits for the runner; callable outside a Tokio runtime.
/// - A request is merged into the pending set before the runner next starts a reconcile, so
///   requests sent together coalesce into one run.
///
/// # Caveats
///
/// The channel behind it is unbounded. That is harmless while [`run`](super::run) is running
/// (it drains the channel on every turn and keeps one entry per key), but requests sent before
/// `run` starts, or after shutdown begins, pile up until the scheduler is dropped.
pub struct Handle<K, R> {
    tx: mpsc::UnboundedSender<Request<K, R>>,
}

impl<K, R> Clone for Handle<K, R> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<K, R> Debug for Handle<K, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("stopped", &self.tx.is_closed())
            .finish()
    }
}

impl<K, R> Handle<K, R> {
    /// Queue `key` to run at `run_at`, or earlier if it is already queued earlier.
    ///
    /// # Errors
    ///
    /// [`Stopped`] when the scheduler is gone.
    pub fn schedule(&self, key: K, reason: R, run_at: Instant) -> Result<(), Stopped> {
        self.tx
            .send(Request {
                key,
                reason,
                run_at,
            })
            .map_err(|_| Stopped)
    }

    /// Queue `key` to run as soon as possible.
    ///
    /// # Errors
    ///
    /// [`Stopped`] when the scheduler is gone.
    pub fn schedule_now(&self, key: K, reason: R) -> Result<(), Stopped> {
        self.schedule(key, reason, Instant::now())
    }

    /// Queue `key` to run after `delay`, or earlier if it is already queued earlier. A delay
    /// too large to represent never comes due.
    ///
    /// # Errors
    ///
    /// [`Stopped`] when the scheduler is gone.
    pub fn schedule_after(&self, key: K, reason: R, delay: Duration) -> Result<(), Stopped> {
        match Instant::now().checked_add(delay) {
            Some(run_at) => self.schedule(key, reason, run_at),
            None if self.tx.is_closed() => Err(Stopped),
            None => Ok(()),
        }
    }

    /// Whether the scheduler is gone, so every request would fail.
    #[must_use]
    pub fn is_stopped(&self) -> bool {
        self.tx.is_closed()
    }
}

struct Entry<R> {
    run_at: Instant,
    reasons: Vec<ScheduleReason<R>>,
}

/// The pending set: at most one entry per key, due at the earliest time asked for.
///
/// # Guarantees
///
/// - One entry per key. Scheduling a pending key again keeps the earlier due time and adds
///   the reason to the entry (up to [`MAX_REASONS`]).
/// - [`Scheduler::pop_due`] hands out due entries in order of due time, then key.
///
/// # Caveats
///
/// Requests sent through a [`Handle`] reach the pending set only while [`run`](super::run)
/// drives the scheduler; [`Scheduler::schedule`] inserts directly.
pub struct Scheduler<K, R> {
    entries: HashMap<K, Entry<R>>,
    queue: BTreeSet<(Instant, K)>,
    tx: mpsc::UnboundedSender<Request<K, R>>,
    pub(super) rx: mpsc::UnboundedReceiver<Request<K, R>>,
}

impl<K: Key, R> Default for Scheduler<K, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Key, R> Scheduler<K, R> {
    /// An empty scheduler.
    #[must_use]
    pub fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            entries: HashMap::new(),
            queue: BTreeSet::new(),
            tx,
            rx,
        }
    }

    /// A handle that schedules into this scheduler; it fails with [`Stopped`] once the
    /// scheduler is dropped.
    #[must_use]
    pub fn handle(&self) -> Handle<K, R> {
        Handle {
            tx: self.tx.clone(),
        }
    }

    /// Queue `key` to run at `run_at`; if it is already pending, keep the earlier due time
    /// and record `reason` on the existing entry.
    pub fn schedule(&mut self, key: K, reason: R, run_at: Instant) {
        self.push(key, ScheduleReason::Requested(reason), run_at);
    }

    /// How many keys are pending.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is pending.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// When `key` is due, if it is pending.
    #[must_use]
    pub fn due_at(&self, key: &K) -> Option<Instant> {
        self.entries.get(key).map(|entry| entry.run_at)
    }

    /// Remove and return the first entry due at `now` whose key `hold` does not hold back,
    /// with its reasons in arrival order. Held entries stay pending, with their due time.
    pub fn pop_due(
        &mut self,
        now: Instant,
        mut hold: impl FnMut(&K) -> bool,
    ) -> Option<(K, Vec<ScheduleReason<R>>)> {
        let slot = self
            .queue
            .iter()
            .take_while(|(run_at, _)| *run_at <= now)
            .find(|(_, key)| !hold(key))
            .cloned()?;
        self.queue.remove(&slot);
        let (_, key) = slot;
        let entry = self.entries.remove(&key)?;
        Some((key, entry.reasons))
    }

    pub(super) fn push(&mut self, key: K, reason: ScheduleReason<R>, run_at: Instant) {
        let Some(entry) = self.entries.get_mut(&key) else {
            self.queue.insert((run_at, key.clone()));
            self.entries.insert(
                key,
                Entry {
                    run_at,
                    reasons: vec![reason],
                },
            );
            return;
        };
        if entry.reasons.len() < MAX_REASONS {
            entry.reasons.push(reason);
        }
        if run_at < entry.run_at {
            self.queue.remove(&(entry.run_at, key.clone()));
            self.queue.insert((run_at, key));
            entry.run_at = run_at;
        }
    }

    /// Merge every request waiting in the channel.
    pub(super) fn drain_requests(&mut self) {
        while let Ok(request) = self.rx.try_recv() {
            self.accept(request);
        }
    }

    pub(super) fn accept(&mut self, request: Request<K, R>) {
        self.push(
            request.key,
            ScheduleReason::Requested(request.reason),
            request.run_at,
        );
    }

    /// The first due time after `now`: entries due already wait for a free slot instead.
    pub(super) fn next_wake(&self, now: Instant) -> Option<Instant> {
        self.queue
            .iter()
            .map(|(run_at, _)| *run_at)
            .find(|run_at| *run_at > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestKey = &'static str;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn the_earliest_due_time_wins_and_every_reason_is_kept_on_one_entry() {
        let t0 = Instant::now();
        let mut scheduler = Scheduler::<TestKey, TestKey>::new();
        scheduler.schedule("a", "late", t0 + ms(300));
        scheduler.schedule("a", "early", t0 + ms(100));
        scheduler.schedule("a", "middle", t0 + ms(200));
        scheduler.schedule("b", "other", t0 + ms(100));

        assert_eq!(scheduler.len(), 2);
        assert_eq!(scheduler.due_at(&"a"), Some(t0 + ms(100)));
        assert_eq!(scheduler.pop_due(t0 + ms(99), |_| false), None);
        let (key, reasons) = scheduler.pop_due(t0 + ms(100), |_| false).unwrap();
        assert_eq!(key, "a", "equal due times start in key order");
        assert_eq!(
            reasons,
            ["late", "early", "middle"]
                .map(ScheduleReason::Requested)
                .to_vec()
        );
        assert_eq!(scheduler.len(), 1);
    }

    #[test]
    fn a_held_key_stays_pending_and_does_not_block_the_next_one() {
        let t0 = Instant::now();
        let mut scheduler = Scheduler::<TestKey, TestKey>::new();
        scheduler.schedule("a", "first", t0);
        scheduler.schedule("b", "second", t0 + ms(1));

        let (key, _) = scheduler.pop_due(t0 + ms(1), |key| *key == "a").unwrap();
        assert_eq!(key, "b");
        assert_eq!(scheduler.due_at(&"a"), Some(t0));
        assert_eq!(scheduler.pop_due(t0 + ms(1), |_| false).unwrap().0, "a");
        assert!(scheduler.is_empty());
    }

    #[test]
    fn reasons_beyond_the_cap_are_dropped_but_still_move_the_due_time() {
        let t0 = Instant::now();
        let mut scheduler = Scheduler::<TestKey, TestKey>::new();
        for _ in 0..MAX_REASONS {
            scheduler.schedule("a", "noise", t0 + ms(10));
        }
        scheduler.schedule("a", "urgent", t0);
        assert_eq!(scheduler.due_at(&"a"), Some(t0));
        let (_, reasons) = scheduler.pop_due(t0, |_| false).unwrap();
        assert_eq!(reasons.len(), MAX_REASONS);
    }
}

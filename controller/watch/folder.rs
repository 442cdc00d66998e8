/*! The folder trigger of watch mode: a debounced "something under the manifests folder
changed, rescan" signal ([`FolderWatcher`]), and [`start`], which turns each signal into a
rescan by the reconciler and schedules the stacks that changed.

[`FolderWatcher::start`] watches a folder recursively (directories, not files: editors save
by writing a temporary file and renaming it over the original, which a watch on the file
itself would lose) and calls `on_change` with one [`Change::Rescan`] per burst of filesystem
activity that touched a manifest or a directory. It is only a trigger: the controller is
level-triggered and re-reads the whole folder; the reported paths are a hint (for logs and
for deciding which stacks to enqueue first), never the source of truth.

How events become calls:

1. The platform backend (inotify on Linux) reports raw events to
   [`notify_debouncer_full`], which holds every event until it is `debounce / 2` old
   (stitching renames together and dropping a file created and removed within the window,
   such as vim's `4913` write probe), then hands over what is due on its next tick (every
   `debounce / 8`).
2. The debouncer's batches are classified here: reads (open, close without writing) are
   dropped, since the controller reading the folder must not trigger itself; paths with an
   ignored component ([`is_ignored_name`]: dotfiles, `*.swp`, `*~`, `*.tmp`, `4913`) are
   dropped; what remains counts if it is a manifest ([`is_manifest_path`]) or a directory.
3. Relevant batches are coalesced: `on_change` is called once no further relevant batch has
   arrived for `debounce / 2` (four debouncer ticks, so one burst straddling a tick boundary
   is still one call), or at the latest `10 × debounce` after the first, so a file rewritten
   without pause cannot starve the controller.

So `debounce` is the quiet time: `on_change` runs between about `1 × debounce` and
`1.15 × debounce` after the last event of a burst, and a burst with no relevant path (only
`.x.swp`, `notes.txt`, reads) never calls it.

If the folder itself is deleted or moved away, the watch on it is dropped and the folder is
polled (every `debounce`, at least 250 ms) until a directory exists at that path again; it is
then watched anew and `on_change` receives a [`Change::Rescan`] with `full` set, since
whatever happened while it was unwatched was not seen. Moving or deleting a *parent* of the
folder is noticed on the next event from inside it, or not at all if none comes: the periodic
resync of the controller covers that case.
*/

use std::collections::BTreeSet;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::reconciler::{Reconciler, Trigger};
use super::scheduler::Handle;
use crate::manifests::load::{is_ignored_name, is_manifest_path, manifest_files};

/// Starts the folder trigger: a [`FolderWatcher`] on the reconciler's folder; each change is
/// rescanned by the reconciler (off the async threads) and every stack whose desired state
/// changed is scheduled with [`Trigger::Manifests`]. Changes that arrive during a rescan are
/// folded into one more rescan. Runs until `token` is cancelled; dropping the returned watcher
/// stops the watch.
///
/// # Errors
/// See [`FolderWatcher::start`].
pub fn start(
    dir: &Path,
    debounce: Duration,
    reconciler: Arc<Reconciler>,
    handle: Handle<String, Trigger>,
    token: CancellationToken,
) -> Result<FolderWatcher, FolderWatchError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Change>();
    let watcher = FolderWatcher::start(dir, debounce, move |c| {
        // Fails only once the task below has ended (shutdown): nothing to tell then.
        let _ = tx.send(c);
    })?;
    tokio::spawn(async move {
        loop {
            let change = tokio::select! { _ = token.cancelled() => return, c = rx.recv() => c };
            let Some(Change::Rescan { .. }) = change else {
                return;
            };
            while rx.try_recv().is_ok() {}
            let r = reconciler.clone();
            let changed = tokio::task::spawn_blocking(move || r.rescan())
                .await
                .unwrap_or_default();
            for stack in changed {
                tracing::info!(stack = %stack, "manifests changed");
                if handle.schedule_now(stack, Trigger::Manifests).is_err() {
                    return;
                }
            }
        }
    });
    Ok(watcher)
}

/// `watch --debounce` by default: long enough that every event of one editor save (in place,
/// temp + rename, vim's backup-rename) falls in one burst, short enough that the edit loop is
/// mostly the engine's own work.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(80);

/// The shortest debounce [`FolderWatcher::start`] uses; shorter values are raised to it (a
/// zero debounce would make the debouncer thread spin).
pub const MIN_DEBOUNCE: Duration = Duration::from_millis(10);

/// The shortest interval at which a deleted folder is polled for its return.
const MIN_REWATCH_POLL: Duration = Duration::from_millis(250);

/// What the watcher reports to `on_change`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Something under the folder changed: re-read it.
    Rescan {
        /// The relevant paths of the burst, sorted and deduplicated, spelled under the `dir`
        /// given to [`FolderWatcher::start`]: manifests that were written, created, renamed
        /// or removed; directories that appeared, disappeared or changed (the folder itself
        /// included), each existing one followed by the manifests now under it (files
        /// created in a new directory before its watch was in place raise no event of their
        /// own); and a path renamed or removed without the backend saying whether it was a
        /// file, since it may have been a directory full of manifests. May be empty when
        /// `full` is set.
        paths: Vec<PathBuf>,
        /// The watcher may have missed events, so `paths` is not the whole story: the backend
        /// reported an error or an event-queue overflow, or the folder was watched anew after
        /// being deleted or moved away. Everything under the folder must be re-read.
        full: bool,
    },
}

/// Why [`FolderWatcher::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum FolderWatchError {
    /// The folder does not exist or is not a directory.
    #[error("manifests folder {0} does not exist or is not a directory")]
    NotADirectory(PathBuf),
    /// The platform watcher could not be created or could not watch the folder (for
    /// instance the inotify watch limit was reached).
    #[error("cannot watch manifests folder {dir}: {source}")]
    Notify {
        /// The folder, as given to [`FolderWatcher::start`].
        dir: PathBuf,
        /// The backend's error.
        #[source]
        source: notify::Error,
    },
    /// The watcher's thread could not be started.
    #[error("cannot start the file watcher thread: {0}")]
    Thread(#[source] io::Error),
}

/// A running recursive watch on a manifests folder; see the [module documentation](self) for
/// what triggers `on_change` and when.
///
/// Dropping it stops the watch: the drop waits for a call to `on_change` in progress (and for
/// the debouncer's thread, at most one tick of `debounce / 8`), and `on_change` is never
/// called after the drop returns. Dropping it from inside `on_change` does not wait.
#[derive(Debug)]
pub struct FolderWatcher {
    dir: PathBuf,
    control: mpsc::Sender<Msg>,
    worker: Option<JoinHandle<()>>,
}

impl FolderWatcher {
    /// Start watching `dir` and everything below it.
    ///
    /// `on_change` runs on the watcher's own thread, one call at a time; it should be quick
    /// (enqueue work, do not reconcile inline) since events are held while it runs. A panic
    /// in it stops the watcher. `debounce` below [`MIN_DEBOUNCE`] is raised to it; the
    /// brief asks for 250–500 ms.
    ///
    /// Every directory present below `dir` is watched when this returns, so a change made
    /// afterwards is reported; nothing is reported for the folder's initial contents.
    ///
    /// # Errors
    /// [`FolderWatchError::NotADirectory`] when `dir` is not an existing directory,
    /// [`FolderWatchError::Notify`] when the backend cannot watch it, [`FolderWatchError::Thread`] when the
    /// watcher thread cannot be spawned.
    pub fn start(
        dir: &Path,
        debounce: Duration,
        on_change: impl Fn(Change) + Send + 'static,
    ) -> Result<FolderWatcher, FolderWatchError> {
        let debounce = debounce.max(MIN_DEBOUNCE);
        if !dir.is_dir() {
            return Err(FolderWatchError::NotADirectory(dir.to_path_buf()));
        }
        // The backend reports paths under the path it was given; watching the canonical
        // path keeps them comparable on every platform (macOS reports /private/var for
        // /var) and they are spelled back under `dir` for the caller.
        let root = dir
            .canonicalize()
            .map_err(|_| FolderWatchError::NotADirectory(dir.to_path_buf()))?;
        let notify_error = |source| FolderWatchError::Notify {
            dir: dir.to_path_buf(),
            source,
        };

        let (tx, rx) = mpsc::channel();
        let events = tx.clone();
        // Half the quiet time in the debouncer, half in `grace` (see the module docs).
        let mut debouncer =
            new_debouncer(debounce / 2, None, move |result: DebounceEventResult| {
                // Fails only once the worker has exited, when nothing is listening any more.
                let _ = events.send(match result {
                    Ok(events) => Msg::Events(events.into_iter().map(|e| e.event).collect()),
                    Err(errors) => Msg::Errors(errors),
                });
            })
            .map_err(notify_error)?;
        debouncer
            .watch(&root, RecursiveMode::Recursive)
            .map_err(notify_error)?;

        let worker = Worker {
            shown: dir.to_path_buf(),
            root,
            debouncer: Some(debouncer),
            rx,
            grace: debounce / 2,
            max_delay: debounce * 10,
            rewatch_poll: debounce.max(MIN_REWATCH_POLL),
            on_change,
            pending: None,
            missing_polled_at: None,
        };
        let worker = thread::Builder::new()
            .name("devarch-watch".to_owned())
            .spawn(move || worker.run())
            .map_err(FolderWatchError::Thread)?;
        Ok(FolderWatcher {
            dir: dir.to_path_buf(),
            control: tx,
            worker: Some(worker),
        })
    }

    /// The folder being watched, as given to [`FolderWatcher::start`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for FolderWatcher {
    fn drop(&mut self) {
        // Fails only if the worker is already gone (on_change panicked).
        let _ = self.control.send(Msg::Stop);
        if let Some(worker) = self.worker.take()
            && worker.thread().id() != thread::current().id()
        {
            // A panic in on_change was already reported by the panic hook.
            let _ = worker.join();
        }
    }
}

/// What reaches the worker thread.
enum Msg {
    /// A debounced batch of events.
    Events(Vec<Event>),
    /// Errors the backend reported.
    Errors(Vec<notify::Error>),
    /// The [`FolderWatcher`] was dropped.
    Stop,
}

/// What one debounced batch means.
#[derive(Debug, Default, PartialEq, Eq)]
struct Batch {
    /// Relevant paths, relative to the folder (empty for the folder itself).
    paths: BTreeSet<PathBuf>,
    /// The backend asked for a rescan (event-queue overflow).
    full: bool,
    /// The folder itself was removed or renamed.
    root_gone: bool,
}

impl Batch {
    fn is_relevant(&self) -> bool {
        self.full || !self.paths.is_empty()
    }
}

/// Classify a debounced batch of events on the folder at `root` (the path the backend was
/// given, so every event path is under it).
fn classify<'a>(root: &Path, events: impl IntoIterator<Item = &'a Event>) -> Batch {
    let mut batch = Batch::default();
    for event in events {
        if event.need_rescan() {
            batch.full = true;
            continue;
        }
        match event.kind {
            // Reads, including the controller's own, and meta events never count; closing a
            // file opened for writing does (some writers are seen only through it).
            EventKind::Access(AccessKind::Close(AccessMode::Write)) => {}
            EventKind::Access(_) | EventKind::Other => continue,
            _ => {}
        }
        for path in &event.paths {
            let Ok(rel) = path.strip_prefix(root) else {
                continue;
            };
            if rel.as_os_str().is_empty() {
                batch.root_gone |= matches!(
                    event.kind,
                    EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
                );
                batch.paths.insert(PathBuf::new());
            } else if is_relevant(path, rel, &event.kind) {
                batch.paths.insert(rel.to_path_buf());
            }
        }
    }
    batch
}

/// Whether an event of `kind` on `path` (`rel` under the folder, not empty) may have changed
/// what the folder's manifests say.
fn is_relevant(path: &Path, rel: &Path, kind: &EventKind) -> bool {
    let ignored = rel.components().any(|c| match c {
        // As the loader does: a name that is not UTF-8 is not an ignored one.
        Component::Normal(name) => name.to_str().is_some_and(is_ignored_name),
        _ => true,
    });
    if ignored {
        return false;
    }
    if is_manifest_path(path) || path.is_dir() {
        return true;
    }
    if path.symlink_metadata().is_ok() {
        // Exists and is not a directory: a file that is not a manifest.
        return false;
    }
    // Gone: relevant if it was (or may have been) a directory. inotify says which on create
    // and delete but not on rename, and some backends never say.
    matches!(
        kind,
        EventKind::Create(CreateKind::Folder | CreateKind::Any | CreateKind::Other)
            | EventKind::Remove(RemoveKind::Folder | RemoveKind::Any | RemoveKind::Other)
            | EventKind::Modify(ModifyKind::Name(_))
            | EventKind::Any
    )
}

/// Relevant batches waiting for the burst to end.
struct Pending {
    paths: BTreeSet<PathBuf>,
    full: bool,
    first: Instant,
    last: Instant,
}

/// The watcher thread: owns the debouncer, coalesces its batches, calls `on_change`.
struct Worker<F> {
    /// The folder as the caller spelled it (reported paths are under it).
    shown: PathBuf,
    /// The folder as watched (canonical).
    root: PathBuf,
    /// `None` only while being stopped.
    debouncer: Option<Debouncer<RecommendedWatcher, RecommendedCache>>,
    rx: mpsc::Receiver<Msg>,
    grace: Duration,
    max_delay: Duration,
    rewatch_poll: Duration,
    on_change: F,
    pending: Option<Pending>,
    /// Set while the folder is gone: when it was last looked for.
    missing_polled_at: Option<Instant>,
}

impl<F: Fn(Change)> Worker<F> {
    fn run(mut self) {
        loop {
            let msg = match self.next_wake() {
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => self
                    .rx
                    .recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match msg {
                Ok(Msg::Events(events)) => {
                    let batch = classify(&self.root, &events);
                    if batch.root_gone || (self.missing_polled_at.is_none() && !self.root.is_dir())
                    {
                        self.rewatch();
                    }
                    if batch.is_relevant() {
                        tracing::debug!(paths = ?batch.paths, full = batch.full, "manifests folder changed");
                        self.add(batch.paths, batch.full);
                    }
                }
                Ok(Msg::Errors(errors)) => {
                    for error in &errors {
                        tracing::warn!(dir = %self.shown.display(), %error, "file watcher error; rescanning the whole folder");
                    }
                    self.add(BTreeSet::new(), true);
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if self
                .missing_polled_at
                .is_some_and(|at| now >= at + self.rewatch_poll)
            {
                self.rewatch();
            }
            if self
                .pending
                .as_ref()
                .is_some_and(|p| now >= p.last + self.grace || now >= p.first + self.max_delay)
            {
                self.fire();
            }
        }
        if let Some(debouncer) = self.debouncer.take() {
            debouncer.stop();
        }
    }

    /// When the loop must wake up even without a message.
    fn next_wake(&self) -> Option<Instant> {
        let fire = self
            .pending
            .as_ref()
            .map(|p| (p.last + self.grace).min(p.first + self.max_delay));
        let poll = self.missing_polled_at.map(|at| at + self.rewatch_poll);
        match (fire, poll) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn add(&mut self, paths: BTreeSet<PathBuf>, full: bool) {
        let now = Instant::now();
        let pending = self.pending.get_or_insert_with(|| Pending {
            paths: BTreeSet::new(),
            full: false,
            first: now,
            last: now,
        });
        pending.paths.extend(paths);
        pending.full |= full;
        pending.last = now;
    }

    /// Drop the watch on the folder and watch it again if it exists; else poll for it.
    fn rewatch(&mut self) {
        let Some(debouncer) = self.debouncer.as_mut() else {
            return;
        };
        // Fails when the backend already dropped the watch (inotify does on delete).
        let _ = debouncer.unwatch(&self.root);
        if !self.root.is_dir() {
            if self.missing_polled_at.is_none() {
                tracing::warn!(dir = %self.shown.display(), "manifests folder is gone; waiting for it to come back");
            }
            self.missing_polled_at = Some(Instant::now());
            return;
        }
        match debouncer.watch(&self.root, RecursiveMode::Recursive) {
            Ok(()) => {
                tracing::info!(dir = %self.shown.display(), "manifests folder is back; watching it again");
                self.missing_polled_at = None;
                self.add(BTreeSet::new(), true);
            }
            Err(error) => {
                tracing::warn!(dir = %self.shown.display(), %error, "cannot watch the manifests folder again; retrying");
                self.missing_polled_at = Some(Instant::now());
            }
        }
    }

    fn fire(&mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        let mut paths = BTreeSet::new();
        for rel in pending.paths {
            let path = self.root.join(&rel);
            if !rel.as_os_str().is_empty() && path.is_dir() {
                // Unreadable or vanished meanwhile: the directory itself is reported anyway.
                for file in manifest_files(&path).unwrap_or_default() {
                    if let Ok(file_rel) = file.strip_prefix(&self.root) {
                        paths.insert(self.shown.join(file_rel));
                    }
                }
            }
            paths.insert(if rel.as_os_str().is_empty() {
                self.shown.clone()
            } else {
                self.shown.join(rel)
            });
        }
        (self.on_change)(Change::Rescan {
            paths: paths.into_iter().collect(),
            full: pending.full,
        });
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::sync::{Arc, Condvar, Mutex};

    use notify::event::{DataChange, RenameMode};

    use super::*;

    const DEBOUNCE: Duration = Duration::from_millis(300);
    const DEADLINE: Duration = Duration::from_millis(1500);
    const QUIET: Duration = Duration::from_millis(700);

    /// One call to `on_change` and when it happened.
    type Call = (Instant, Change);

    /// Every call to `on_change`.
    #[derive(Clone, Default)]
    struct Recorder(Arc<(Mutex<Vec<Call>>, Condvar)>);

    impl Recorder {
        fn callback(&self) -> impl Fn(Change) + Send + 'static {
            let this = self.clone();
            move |change| {
                let (calls, cv) = &*this.0;
                calls.lock().unwrap().push((Instant::now(), change));
                cv.notify_all();
            }
        }

        /// Wait until at least `n` calls were recorded or `timeout` passed; the calls so far.
        fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Call> {
            let (calls, cv) = &*self.0;
            let guard = calls.lock().unwrap();
            let (guard, _) = cv
                .wait_timeout_while(guard, timeout, |c| c.len() < n)
                .unwrap();
            guard.clone()
        }

        fn calls(&self) -> Vec<Call> {
            self.0.0.lock().unwrap().clone()
        }
    }

    fn start(dir: &Path) -> (FolderWatcher, Recorder) {
        let recorder = Recorder::default();
        let watcher = FolderWatcher::start(dir, DEBOUNCE, recorder.callback()).unwrap();
        (watcher, recorder)
    }

    /// Exactly one call within [`DEADLINE`] of `done`, none more for [`QUIET`]; its paths
    /// and the latency from `done`.
    fn expect_one(recorder: &Recorder, done: Instant, style: &str) -> (Vec<PathBuf>, bool) {
        let calls = recorder.wait_for(1, DEADLINE.saturating_sub(done.elapsed()));
        assert_eq!(calls.len(), 1, "{style}: expected one call, got {calls:?}");
        let latency = calls[0].0.duration_since(done);
        eprintln!(
            "{style}: on_change {} ms after the save",
            latency.as_millis()
        );
        assert!(latency <= DEADLINE, "{style}: too late ({latency:?})");
        thread::sleep(QUIET);
        let calls = recorder.calls();
        assert_eq!(
            calls.len(),
            1,
            "{style}: expected no further call, got {calls:?}"
        );
        let Change::Rescan { paths, full } = calls[0].1.clone();
        (paths, full)
    }

    fn folder_with_stack() -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let stack = tmp.path().join("stack.yaml");
        fs::write(&stack, "kind: Stack\n").unwrap();
        (tmp, stack)
    }

    #[test]
    fn in_place_write_triggers_once() {
        let (tmp, stack) = folder_with_stack();
        let (_watcher, recorder) = start(tmp.path());
        fs::write(&stack, "kind: Stack\nname: web\n").unwrap();
        let (paths, full) = expect_one(&recorder, Instant::now(), "in-place write");
        assert_eq!(paths, vec![stack]);
        assert!(!full);
    }

    #[test]
    fn write_temp_then_rename_triggers_once() {
        let (tmp, stack) = folder_with_stack();
        let (_watcher, recorder) = start(tmp.path());
        let temp = tmp.path().join(".stack.yaml.tmp");
        fs::write(&temp, "kind: Stack\nname: web\n").unwrap();
        fs::rename(&temp, &stack).unwrap();
        let (paths, full) = expect_one(&recorder, Instant::now(), "write temp + rename");
        assert_eq!(paths, vec![stack]);
        assert!(!full);
    }

    #[test]
    fn vim_style_save_triggers_once() {
        let (tmp, stack) = folder_with_stack();
        let (_watcher, recorder) = start(tmp.path());
        let probe = tmp.path().join("4913");
        fs::write(&probe, "").unwrap();
        fs::remove_file(&probe).unwrap();
        let backup = tmp.path().join("stack.yaml~");
        fs::rename(&stack, &backup).unwrap();
        fs::write(&stack, "kind: Stack\nname: web\n").unwrap();
        fs::remove_file(&backup).unwrap();
        let (paths, full) = expect_one(&recorder, Instant::now(), "vim style");
        assert_eq!(paths, vec![stack]);
        assert!(!full);
    }

    #[test]
    fn new_file_in_new_subdirectory_triggers_once() {
        let tmp = tempfile::tempdir().unwrap();
        let (_watcher, recorder) = start(tmp.path());
        let sub = tmp.path().join("shop");
        fs::create_dir(&sub).unwrap();
        let file = sub.join("stack.yml");
        fs::write(&file, "kind: Stack\n").unwrap();
        let (paths, full) = expect_one(&recorder, Instant::now(), "new file in new subdirectory");
        assert_eq!(paths, vec![sub, file]);
        assert!(!full);
    }

    #[test]
    fn deleting_a_file_triggers_once() {
        let (tmp, stack) = folder_with_stack();
        let (_watcher, recorder) = start(tmp.path());
        fs::remove_file(&stack).unwrap();
        let (paths, full) = expect_one(&recorder, Instant::now(), "delete");
        assert_eq!(paths, vec![stack]);
        assert!(!full);
    }

    #[test]
    fn ignored_and_foreign_files_trigger_nothing() {
        let (tmp, stack) = folder_with_stack();
        let (_watcher, recorder) = start(tmp.path());
        fs::write(tmp.path().join(".x.swp"), "swap").unwrap();
        fs::write(tmp.path().join("notes.txt"), "notes").unwrap();
        fs::create_dir(tmp.path().join(".git")).unwrap();
        fs::write(tmp.path().join(".git").join("config.yaml"), "x").unwrap();
        // Reading the folder, as the controller does after each call, is not a change.
        assert_eq!(manifest_files(tmp.path()).unwrap(), vec![stack.clone()]);
        fs::read_to_string(&stack).unwrap();
        let calls = recorder.wait_for(1, Duration::from_secs(1));
        assert!(calls.is_empty(), "unexpected calls: {calls:?}");
    }

    #[test]
    fn folder_deleted_and_recreated_is_watched_again() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("manifests");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("stack.yaml"), "kind: Stack\n").unwrap();
        let (_watcher, recorder) = start(&dir);

        fs::remove_dir_all(&dir).unwrap();
        let calls = recorder.wait_for(1, DEADLINE);
        assert_eq!(calls.len(), 1, "{calls:?}");
        let Change::Rescan { paths, .. } = &calls[0].1;
        assert!(paths.contains(&dir), "{paths:?}");

        fs::create_dir(&dir).unwrap();
        let calls = recorder.wait_for(2, DEADLINE);
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(matches!(calls[1].1, Change::Rescan { full: true, .. }));

        // The new folder is watched like the old one.
        let stack = dir.join("stack.yaml");
        fs::write(&stack, "kind: Stack\n").unwrap();
        let calls = recorder.wait_for(3, DEADLINE);
        assert_eq!(calls.len(), 3, "{calls:?}");
        let Change::Rescan { paths, full } = &calls[2].1;
        assert_eq!(paths, &vec![stack]);
        assert!(!full);
    }

    #[test]
    fn folder_moved_away_is_unwatched_and_its_successor_watched() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("manifests");
        fs::create_dir(&dir).unwrap();
        let (_watcher, recorder) = start(&dir);

        let moved = tmp.path().join("manifests.old");
        fs::rename(&dir, &moved).unwrap();
        let calls = recorder.wait_for(1, DEADLINE);
        assert_eq!(calls.len(), 1, "{calls:?}");
        let Change::Rescan { paths, .. } = &calls[0].1;
        assert_eq!(paths, &vec![dir.clone()]);

        // Changes in the old folder are no longer ours.
        fs::write(moved.join("stack.yaml"), "kind: Stack\n").unwrap();
        fs::create_dir(&dir).unwrap();
        let calls = recorder.wait_for(2, DEADLINE);
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert!(matches!(calls[1].1, Change::Rescan { full: true, .. }));
        thread::sleep(QUIET);
        assert_eq!(recorder.calls().len(), 2);
    }

    #[test]
    fn dropping_the_watcher_stops_it() {
        let (tmp, stack) = folder_with_stack();
        let (watcher, recorder) = start(tmp.path());
        drop(watcher);
        fs::write(&stack, "kind: Stack\nname: web\n").unwrap();
        let calls = recorder.wait_for(1, Duration::from_secs(1));
        assert!(calls.is_empty(), "unexpected calls: {calls:?}");
    }

    #[test]
    fn the_watcher_can_be_moved_and_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<FolderWatcher>();
    }

    #[test]
    fn start_fails_on_a_missing_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("nope");
        let err = FolderWatcher::start(&missing, DEBOUNCE, |_| {}).unwrap_err();
        assert!(matches!(err, FolderWatchError::NotADirectory(p) if p == missing));
    }

    /// A worker without a backend, fed batches by hand through the returned sender.
    fn bare_worker(root: &Path) -> (mpsc::Sender<Msg>, JoinHandle<()>, Recorder) {
        let (tx, rx) = mpsc::channel();
        let recorder = Recorder::default();
        let worker = Worker {
            shown: root.to_path_buf(),
            root: root.to_path_buf(),
            debouncer: None,
            rx,
            grace: DEBOUNCE / 2,
            max_delay: DEBOUNCE * 10,
            rewatch_poll: DEBOUNCE,
            on_change: recorder.callback(),
            pending: None,
            missing_polled_at: None,
        };
        (tx, thread::spawn(move || worker.run()), recorder)
    }

    #[test]
    fn batches_one_tick_apart_make_one_call() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let (tx, worker, recorder) = bare_worker(root);
        let modify = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let (a, b) = (root.join("a.yaml"), root.join("b.yaml"));
        tx.send(Msg::Events(vec![event(modify, &[&a])])).unwrap();
        thread::sleep(DEBOUNCE / 4);
        // A batch with nothing relevant neither fires nor delays.
        tx.send(Msg::Events(vec![event(modify, &[&root.join("x.txt")])]))
            .unwrap();
        tx.send(Msg::Events(vec![event(modify, &[&b])])).unwrap();
        let (paths, full) = expect_one(&recorder, Instant::now(), "two batches");
        assert_eq!(paths, vec![a, b]);
        assert!(!full);
        tx.send(Msg::Stop).unwrap();
        worker.join().unwrap();
    }

    #[test]
    fn backend_errors_ask_for_a_full_rescan() {
        let tmp = tempfile::tempdir().unwrap();
        let (tx, worker, recorder) = bare_worker(tmp.path());
        let error = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
        tx.send(Msg::Errors(vec![error])).unwrap();
        let (paths, full) = expect_one(&recorder, Instant::now(), "backend error");
        assert!(paths.is_empty() && full);
        drop(tx);
        worker.join().unwrap();
    }

    fn event(kind: EventKind, paths: &[&Path]) -> Event {
        paths
            .iter()
            .fold(Event::new(kind), |e, p| e.add_path(p.to_path_buf()))
    }

    #[test]
    fn classify_keeps_manifests_and_directories_only() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::create_dir(root.join("sub")).unwrap();
        fs::write(root.join("notes.txt"), "").unwrap();
        let modify = EventKind::Modify(ModifyKind::Data(DataChange::Any));
        let rename_from = EventKind::Modify(ModifyKind::Name(RenameMode::From));
        let events = [
            event(modify, &[&root.join("a.yaml")]),
            event(modify, &[&root.join("sub/b.yml")]),
            event(modify, &[&root.join("notes.txt")]),
            event(modify, &[&root.join("c.yaml.swp")]),
            event(modify, &[&root.join(".git/d.yaml")]),
            event(modify, &[&root.join("old~/e.yaml")]),
            event(
                EventKind::Remove(RemoveKind::File),
                &[&root.join("gone.txt")],
            ),
            event(
                EventKind::Remove(RemoveKind::Folder),
                &[&root.join("gone-dir")],
            ),
            // A rename away of something gone: may have been a directory.
            event(rename_from, &[&root.join("moved-away")]),
            event(
                EventKind::Access(AccessKind::Open(AccessMode::Any)),
                &[&root.join("f.yaml")],
            ),
            event(
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                &[root],
            ),
            event(
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                &[&root.join("g.yaml")],
            ),
            event(EventKind::Create(CreateKind::Folder), &[&root.join("sub")]),
            event(modify, &[Path::new("/elsewhere/h.yaml")]),
        ];
        let batch = classify(root, &events);
        let expected: BTreeSet<PathBuf> = [
            "a.yaml",
            "sub/b.yml",
            "gone-dir",
            "moved-away",
            "g.yaml",
            "sub",
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(
            batch,
            Batch {
                paths: expected,
                full: false,
                root_gone: false
            }
        );
    }

    #[test]
    fn classify_flags_overflow_and_the_folder_going_away() {
        let root = Path::new("/watched");
        let overflow = Event::new(EventKind::Other).set_flag(notify::event::Flag::Rescan);
        let batch = classify(root, [&overflow]);
        assert!(batch.full && batch.paths.is_empty() && batch.is_relevant());

        let gone = event(EventKind::Remove(RemoveKind::Folder), &[root]);
        let batch = classify(root, [&gone]);
        assert!(batch.root_gone);
        assert_eq!(batch.paths, BTreeSet::from([PathBuf::new()]));

        let reads = event(
            EventKind::Access(AccessKind::Open(AccessMode::Any)),
            &[root],
        );
        assert!(!classify(root, [&reads]).is_relevant());
    }
}

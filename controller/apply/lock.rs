/*! One apply per stack at a time: an advisory lock file under `{home}/locks/`.

Uses `std::fs::File::try_lock` (flock semantics): the lock is released when the file is
closed, so also when the process crashes. The lock file is opened in the checked
`{home}/locks/` folder without following links ([`crate::state::home`]) and never written;
the holder writes who it is to `locks/{stack}.holder` (mode 0600, through
[`crate::safe_fs::write_atomic`]) so a second applier can say who holds it.
*/

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::safe_fs::{FileMode, write_atomic};
use crate::state::{Home, HomeError, home};

/// Who holds a lock.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Holder {
    /// Process ID of the holder, on this machine.
    pub pid: u32,
    /// Its command line, arguments joined by spaces (`devarch watch`).
    pub command: String,
    /// Unix time (seconds) the lock was taken.
    pub since: u64,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        write!(
            f,
            "pid {} ({}), for {}s",
            self.pid,
            self.command,
            now.saturating_sub(self.since)
        )
    }
}

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Someone else holds it.
    #[error("stack {stack:?} is being applied by another devarch ({}); lock file {}{}", holder.as_ref().map(|h| h.to_string()).unwrap_or_else(|| "holder unknown".into()), path.display(), if *waited { " (waited for --lock-timeout)" } else { "; wait with --lock-timeout DURATION" })]
    Held {
        /// Stack whose lock is held.
        stack: String,
        /// Who, if readable.
        holder: Option<Holder>,
        /// Lock file, `{home}/locks/{stack}.lock`.
        path: PathBuf,
        /// Whether we waited before giving up.
        waited: bool,
    },
    /// The home, `locks/` or the lock file failed its checks (link, owner, mode), or an I/O
    /// error on them (the error names the path).
    #[error(transparent)]
    Home(#[from] HomeError),
    /// I/O error on the lock file.
    #[error("lock file {}: {source}", path.display())]
    Io {
        /// Lock file, `{home}/locks/{stack}.lock`, or its holder file.
        path: PathBuf,
        /// The I/O error: locking the file or writing the holder.
        #[source]
        source: std::io::Error,
    },
}

/// A held stack lock; released on drop.
#[derive(Debug)]
pub struct StackLock {
    _file: File,
    path: PathBuf,
}

impl StackLock {
    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Folder of the lock files under `--home`.
const LOCKS_DIR: &str = "locks";

/// Path of a stack's lock file.
pub fn lock_path(home: &Path, stack: &str) -> PathBuf {
    home.join(LOCKS_DIR).join(format!("{stack}.lock"))
}

/// Path of the file naming who holds (or last held) a stack's lock.
pub fn holder_path(home: &Path, stack: &str) -> PathBuf {
    home.join(LOCKS_DIR).join(format!("{stack}.holder"))
}

/// Read who holds a stack's lock (whether or not it is held right now), from its holder
/// file (never through a link).
pub fn read_holder(path: &Path) -> Option<Holder> {
    let bytes = home::read_file(path, 64 * 1024).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Take the lock of `stack`, failing at once, or retrying until `wait` has passed.
///
/// # Errors
/// [`LockError::Held`] naming the holder, or an I/O error.
pub fn acquire(home: &Path, stack: &str, wait: Option<Duration>) -> Result<StackLock, LockError> {
    Home::open(home)?.dir(&[LOCKS_DIR])?;
    let path = lock_path(home, stack);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LockError::Io { path, source }
    };
    let file = home::open_lock_file(&path)?;
    // A wait too long for the clock to represent (`--lock-timeout` is bounded, callers in
    // code may not be) means waiting as long as it takes.
    let deadline = wait.map(|w| Instant::now().checked_add(w));
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) => {
                if deadline.is_some_and(|d| d.is_none_or(|d| Instant::now() < d)) {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                return Err(LockError::Held {
                    stack: stack.to_string(),
                    holder: read_holder(&holder_path(home, stack)),
                    path,
                    waited: wait.is_some(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
    }
    let holder = Holder {
        pid: std::process::id(),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        since: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    let holder_file = holder_path(home, stack);
    let json = serde_json::to_vec(&holder).expect("holder serializes");
    write_atomic(&holder_file, &json, FileMode::Private).map_err(io(&holder_file))?;
    Ok(StackLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_locker_is_refused_with_the_holder_named_and_lock_is_released_on_drop() {
        let home = tempfile::tempdir().unwrap();
        let first = acquire(home.path(), "blog", None).unwrap();
        let err = acquire(home.path(), "blog", None).unwrap_err();
        match &err {
            LockError::Held {
                holder: Some(h), ..
            } => assert_eq!(h.pid, std::process::id()),
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("pid"), "{err}");
        // Another stack is independent.
        let _other = acquire(home.path(), "shop", None).unwrap();
        drop(first);
        acquire(home.path(), "blog", None).unwrap();
    }

    #[test]
    fn waiting_locker_gets_the_lock_once_released() {
        let home = tempfile::tempdir().unwrap();
        let first = acquire(home.path(), "blog", None).unwrap();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        let t = Instant::now();
        acquire(home.path(), "blog", Some(Duration::from_secs(5))).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(250));
        h.join().unwrap();
        let e = acquire(home.path(), "blog2", None).map(|_| ());
        assert!(e.is_ok());
    }

    #[test]
    fn a_wait_longer_than_the_clock_reaches_never_overflows() {
        let home = tempfile::tempdir().unwrap();
        let first = acquire(home.path(), "blog", Some(Duration::MAX)).unwrap();
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            drop(first);
        });
        // Waits (as long as it takes) instead of panicking on `Instant + Duration::MAX`.
        acquire(home.path(), "blog", Some(Duration::MAX)).unwrap();
        h.join().unwrap();
    }
}

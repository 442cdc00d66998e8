/*! One apply per stack at a time: an advisory lock file under `{home}/locks/`.

Uses `std::fs::File::try_lock` (flock semantics): the lock is released when the file is
closed, so also when the process crashes. The holder writes who it is into the file so a
second applier can say who holds it.
*/

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

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
    /// I/O error on the lock file.
    #[error("lock file {path}: {source}")]
    Io {
        /// Lock file, `{home}/locks/{stack}.lock` (also when creating its folder failed).
        path: PathBuf,
        /// The I/O error: creating the folder, opening, locking or writing the file.
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

/// Path of a stack's lock file.
pub fn lock_path(home: &Path, stack: &str) -> PathBuf {
    home.join("locks").join(format!("{stack}.lock"))
}

/// Read who holds a stack's lock (whether or not it is held right now).
pub fn read_holder(path: &Path) -> Option<Holder> {
    let mut s = String::new();
    File::open(path).ok()?.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

/// Take the lock of `stack`, failing at once, or retrying until `wait` has passed.
///
/// # Errors
/// [`LockError::Held`] naming the holder, or an I/O error.
pub fn acquire(home: &Path, stack: &str, wait: Option<Duration>) -> Result<StackLock, LockError> {
    let path = lock_path(home, stack);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
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
                    holder: read_holder(&path),
                    path,
                    waited: wait.is_some(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
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
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(
        serde_json::to_string(&holder)
            .expect("holder serializes")
            .as_bytes(),
    )
    .map_err(io)?;
    file.flush().map_err(io)?;
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

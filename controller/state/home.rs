/*! The checked `--home`: the one way state code reaches a folder or opens a file under it.

What ssh does for `~/.ssh`: [`Home::open`] creates the home with mode 0700 when it is missing
and refuses it — with a message saying how to fix it — when it is a symbolic link, not a
folder, not owned by the current user, or writable by group or others. [`Home::dir`] does the
same for every folder below it (`secrets/`, `locks/`, `status/…`, `stacks/…`), component by
component, creating missing ones with mode 0700. Files are opened with `O_NOFOLLOW`
([`open_lock_file`], [`read_file`]) and refused unless they are regular files owned by the
current user with a single link; files are written only by [`crate::safe_fs::write_atomic`]
(mode 0600 for state).

Why this is enough: every folder on the way from the home to a file is owned by the user and
writable by nobody else, so no other local user can add, rename or swap an entry after the
check; what an earlier, looser home may still hold (a planted link, a hard link to a victim
file) is refused when it is opened.
*/

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// Something under `--home` cannot be used safely, or a file-system operation on it failed.
/// Every message names the path and, for a refusal, how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    /// The folder or file belongs to another user.
    #[error(
        "{} is owned by uid {owner}, not by you (uid {uid}): another user could read or plant devarch state there; refusing to use it (use a --home of your own, or take it over: chown -R {uid} {})",
        path.display(),
        path.display()
    )]
    NotOwned {
        /// The folder or file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// The current (effective) user.
        uid: u32,
    },
    /// The folder is writable by group or others.
    #[error(
        "{} has mode {mode:03o}: it is writable by group or others, so another user could plant files in it; refusing to use it (fix: chmod go-w {})",
        path.display(),
        path.display()
    )]
    Writable {
        /// The folder.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A symbolic link where a folder or file of devarch's state must be.
    #[error(
        "{} is a symbolic link; devarch does not follow links under --home (remove it, or pass the real folder as --home)",
        path.display()
    )]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// Something other than a folder where a folder must be.
    #[error("{} is not a folder", path.display())]
    NotAFolder {
        /// The path.
        path: PathBuf,
    },
    /// Something other than a regular file (or a file with several hard links) where a
    /// state file must be.
    #[error("{} {what}; refusing to use it (remove it)", path.display())]
    NotAPlainFile {
        /// The path.
        path: PathBuf,
        /// What it is instead ("is a FIFO", "has 2 hard links", ...).
        what: String,
    },
    /// A file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("create folder", "open", ...).
        action: &'static str,
        /// The folder or file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl HomeError {
    fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> HomeError {
        move |source| HomeError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result of home operations.
pub type Result<T, E = HomeError> = std::result::Result<T, E>;

/// The current effective user ID.
pub(crate) fn current_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// A `--home` that passed the checks of [`Home::open`].
#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Check `root` (creating it, and missing parents, with mode 0700 first).
    ///
    /// # Errors
    /// [`HomeError`] when it is a link, not a folder, another user's or writable by group or
    /// others, or cannot be created.
    pub fn open(root: &Path) -> Result<Home> {
        match DirBuilder::new().recursive(true).mode(0o700).create(root) {
            Ok(()) => {}
            // A dangling link or a file: reported by the check below.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(HomeError::io("create folder", root)(e)),
        }
        check_dir(root)?;
        Ok(Home {
            root: root.to_path_buf(),
        })
    }

    /// The home folder.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// The folder `parts` below the home (`["stacks", key, "blog"]`), each component created
    /// with mode 0700 when missing and checked like the home itself.
    ///
    /// # Errors
    /// [`HomeError`] for a component that fails a check or cannot be created; a component
    /// that is not a plain name (empty, `.`, `..`, holding `/`) is refused.
    pub fn dir<S: AsRef<str>>(&self, parts: &[S]) -> Result<PathBuf> {
        let mut path = self.root.clone();
        for part in parts {
            let part = part.as_ref();
            path.push(part);
            if part.is_empty() || part == "." || part == ".." || part.contains('/') {
                return Err(HomeError::io("use folder", &path)(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "not a plain folder name",
                )));
            }
            match DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(HomeError::io("create folder", &path)(e)),
            }
            check_dir(&path)?;
        }
        Ok(path)
    }

    /// The folder holding `path` (a path below the home, as [`crate::state::config_file_path`]
    /// gives), created and checked as by [`Home::dir`].
    ///
    /// # Errors
    /// As [`Home::dir`]; a path outside the home is refused.
    pub fn parent_dir_of(&self, path: &Path) -> Result<PathBuf> {
        let outside = || {
            HomeError::io("use", path)(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not below --home",
            ))
        };
        let rel = path
            .parent()
            .and_then(|p| p.strip_prefix(&self.root).ok())
            .ok_or_else(outside)?;
        let parts = rel
            .components()
            .map(|c| match c {
                Component::Normal(s) => s.to_str().ok_or_else(outside),
                _ => Err(outside()),
            })
            .collect::<Result<Vec<&str>>>()?;
        self.dir(&parts)
    }
}

/// `lstat` checks of one folder: not a link, a folder, ours, not writable by group/others.
fn check_dir(path: &Path) -> Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(HomeError::io("inspect", path))?;
    if meta.file_type().is_symlink() {
        return Err(HomeError::Symlink {
            path: path.to_path_buf(),
        });
    }
    if !meta.is_dir() {
        return Err(HomeError::NotAFolder {
            path: path.to_path_buf(),
        });
    }
    check_owner(path, &meta)?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(HomeError::Writable {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Refuses a folder or file not owned by the current user.
///
/// # Errors
/// [`HomeError::NotOwned`].
pub(crate) fn check_owner(path: &Path, meta: &std::fs::Metadata) -> Result<()> {
    let uid = current_uid();
    if meta.uid() != uid {
        return Err(HomeError::NotOwned {
            path: path.to_path_buf(),
            owner: meta.uid(),
            uid,
        });
    }
    Ok(())
}

/// Checks of an opened state file: a regular file, ours, with one link (a hard link to
/// some other file is never used).
fn check_file(path: &Path, file: &File) -> Result<std::fs::Metadata> {
    let meta = file.metadata().map_err(HomeError::io("inspect", path))?;
    let not_plain = |what: String| HomeError::NotAPlainFile {
        path: path.to_path_buf(),
        what,
    };
    if !meta.is_file() {
        return Err(not_plain("is not a regular file".into()));
    }
    check_owner(path, &meta)?;
    if meta.nlink() != 1 {
        return Err(not_plain(format!(
            "has {} hard links (another name could be a victim file)",
            meta.nlink()
        )));
    }
    Ok(meta)
}

/// A link at `path` makes an `O_NOFOLLOW` open fail with `ELOOP`: say so clearly.
fn nofollow_error(action: &'static str, path: &Path, e: io::Error) -> HomeError {
    if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        HomeError::Symlink {
            path: path.to_path_buf(),
        }
    } else {
        HomeError::io(action, path)(e)
    }
}

fn nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Open (creating with mode 0600) the lock file `path` in a checked folder, never through a
/// link, and take an exclusive advisory lock on it, blocking until it is free. Nothing is
/// ever written to it. The lock is released when the file closes (also when the process
/// dies).
///
/// # Errors
/// [`HomeError`] for a link, a file that is not a plain file of ours, or an I/O error.
pub(crate) fn lock_exclusive(path: &Path) -> Result<File> {
    let file = open_lock_file(path)?;
    file.lock().map_err(HomeError::io("lock", path))?;
    Ok(file)
}

/// As [`lock_exclusive`], but a shared lock: readers take it so that a writer holding the
/// exclusive lock (a key rotation) is never seen half-way.
///
/// # Errors
/// As [`lock_exclusive`].
pub(crate) fn lock_shared(path: &Path) -> Result<File> {
    let file = open_lock_file(path)?;
    file.lock_shared().map_err(HomeError::io("lock", path))?;
    Ok(file)
}

/// Open (creating with mode 0600) the lock file `path`, never through a link, checked as a
/// state file; the caller locks it.
///
/// # Errors
/// As [`lock_exclusive`].
pub(crate) fn open_lock_file(path: &Path) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(nofollow())
        .open(path)
        .map_err(|e| nofollow_error("open", path, e))?;
    check_file(path, &file)?;
    Ok(file)
}

/// Open the state file `path` for reading, never through a link, checked as a state file;
/// `None` when it does not exist.
///
/// # Errors
/// [`HomeError`] for a link, a file that is not a plain file of ours, or an I/O error.
pub(crate) fn open_file(path: &Path) -> Result<Option<(File, std::fs::Metadata)>> {
    let Some(file) = open_nofollow(path)? else {
        return Ok(None);
    };
    let meta = check_file(path, &file)?;
    Ok(Some((file, meta)))
}

/// Open `path` for reading, never through a link (no other check); `None` when it does not
/// exist.
///
/// # Errors
/// [`HomeError::Symlink`] for a link; the I/O error otherwise.
pub(crate) fn open_nofollow(path: &Path) -> Result<Option<File>> {
    match OpenOptions::new()
        .read(true)
        .custom_flags(nofollow())
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(nofollow_error("open", path, e)),
    }
}

/// The content of the state file `path` as by [`open_file`], at most `limit` bytes (a
/// longer file is an error); `None` when it does not exist.
///
/// # Errors
/// As [`open_file`]; `InvalidData` when the file is longer than `limit`.
pub(crate) fn read_file(path: &Path, limit: u64) -> Result<Option<Vec<u8>>> {
    let Some((file, _)) = open_file(path)? else {
        return Ok(None);
    };
    let bytes = crate::safe_fs::read_bounded(file, limit as usize)
        .map_err(HomeError::io("read", path))?
        .ok_or_else(|| {
            HomeError::io("read", path)(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("larger than {limit} bytes"),
            ))
        })?;
    Ok(Some(bytes))
}

/// Upper bound of a state file devarch reads back (secrets, ports, status, lock holders).
pub(crate) const STATE_FILE_LIMIT: u64 = 16 * 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{PermissionsExt, symlink};

    fn mode_of(p: &Path) -> u32 {
        fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[test]
    fn creates_missing_folders_0700_and_accepts_them() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("a/home");
        let home = Home::open(&root).unwrap();
        assert_eq!(mode_of(&root), 0o700);
        assert_eq!(mode_of(&tmp.path().join("a")), 0o700);
        let d = home.dir(&["stacks", "k", "blog"]).unwrap();
        assert_eq!(d, root.join("stacks/k/blog"));
        for p in ["stacks", "stacks/k", "stacks/k/blog"] {
            assert_eq!(mode_of(&root.join(p)), 0o700, "{p}");
        }
        let f = root.join("stacks/k/blog/web/files/x");
        assert_eq!(
            home.parent_dir_of(&f).unwrap(),
            root.join("stacks/k/blog/web/files")
        );
        assert!(home.parent_dir_of(Path::new("/etc/passwd")).is_err());
        assert!(home.dir(&[".."]).is_err());
        assert!(home.dir(&["a/b"]).is_err());
    }

    #[test]
    fn refuses_group_writable_linked_and_non_folder_components() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("home");
        let home = Home::open(&root).unwrap();

        fs::set_permissions(&root, fs::Permissions::from_mode(0o777)).unwrap();
        let err = Home::open(&root).unwrap_err();
        assert!(
            matches!(err, HomeError::Writable { mode: 0o777, .. }),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("chmod go-w {}", root.display())),
            "{msg}"
        );
        fs::set_permissions(&root, fs::Permissions::from_mode(0o700)).unwrap();

        let victim = tmp.path().join("victim");
        fs::create_dir(&victim).unwrap();
        fs::create_dir(root.join("stacks")).unwrap();
        symlink(&victim, root.join("stacks/blog")).unwrap();
        let err = home.dir(&["stacks", "blog", "web"]).unwrap_err();
        assert!(matches!(err, HomeError::Symlink { .. }), "{err:?}");
        assert!(err.to_string().contains("stacks/blog"), "{err}");
        assert_eq!(fs::read_dir(&victim).unwrap().count(), 0);

        fs::write(root.join("locks"), "").unwrap();
        let err = home.dir(&["locks"]).unwrap_err();
        assert!(matches!(err, HomeError::NotAFolder { .. }), "{err:?}");

        let link_home = tmp.path().join("linked-home");
        symlink(&root, &link_home).unwrap();
        assert!(matches!(
            Home::open(&link_home).unwrap_err(),
            HomeError::Symlink { .. }
        ));
    }

    #[test]
    fn state_files_are_never_opened_through_links_or_hard_links() {
        let tmp = tempfile::tempdir().unwrap();
        let home = Home::open(&tmp.path().join("home")).unwrap();
        let victim = tmp.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let lock = home.path().join("ports.lock");
        symlink(&victim, &lock).unwrap();
        let err = lock_exclusive(&lock).unwrap_err();
        assert!(matches!(err, HomeError::Symlink { .. }), "{err:?}");
        assert!(read_file(&lock, 100).is_err());
        fs::remove_file(&lock).unwrap();
        fs::hard_link(&victim, &lock).unwrap();
        let err = open_lock_file(&lock).unwrap_err();
        assert!(err.to_string().contains("hard links"), "{err}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        fs::remove_file(&lock).unwrap();

        let _held = lock_exclusive(&lock).unwrap();
        assert_eq!(mode_of(&lock), 0o600);
        assert_eq!(read_file(&lock, 100).unwrap(), Some(Vec::new()));
        assert_eq!(read_file(&home.path().join("none"), 100).unwrap(), None);
        fs::write(home.path().join("big"), [0u8; 101]).unwrap();
        assert!(read_file(&home.path().join("big"), 100).is_err());
    }
}

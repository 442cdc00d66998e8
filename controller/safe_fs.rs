/*! The one way devarch writes a file: [`write_atomic`] (or [`write_new`], which never replaces;
or [`write_new_within`], which also makes the folders on the way inside a root).

Every file devarch writes — manifests it edits, state and status under `--home`, config
files, saved plans — goes through here, so none can be redirected by something planted next
to it: the content goes to a fresh temporary file with a random name created with `O_EXCL`
(never an existing file, never through a symlink), is synced, gets its mode with `fchmod`
(so the umask does not matter), and is renamed over the target. The rename replaces the
directory entry itself: a symlink planted at the target is refused before anything is
written, and a reader sees the old content or the new, never half of it.
*/

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The mode a file written by [`write_atomic`] gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileMode {
    /// 0600: state, status, saved plans — readable by the user only.
    Private,
    /// The mode of the file being replaced (permission bits only), or `default` for a new
    /// file: manifests devarch edits keep the mode their owner gave them.
    Keep {
        /// The mode of a new file.
        default: u32,
    },
    /// Exactly this mode (permission bits only): config files, whose mode the manifest sets.
    Exact(u32),
}

/// Write `bytes` to `path` atomically (see the module header), creating the file or
/// replacing it.
///
/// # Errors
/// The I/O error of any step; `InvalidInput` when `path` is a symlink or not a regular
/// file, or has no parent folder. Nothing is left behind on error.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: FileMode) -> io::Result<()> {
    let existing = match fs::symlink_metadata(path) {
        Ok(m) => Some(m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if let Some(m) = &existing {
        let kind = m.file_type();
        if kind.is_symlink() {
            return Err(refused(
                "is a symbolic link; devarch does not write through links",
            ));
        }
        if !kind.is_file() {
            return Err(refused(&format!(
                "is {}; devarch only replaces regular files",
                describe_kind(&kind)
            )));
        }
    }
    let bits = match mode {
        FileMode::Private => 0o600,
        FileMode::Keep { default } => existing
            .as_ref()
            .map_or(default, |m| m.permissions().mode()),
        FileMode::Exact(bits) => bits,
    } & 0o777;
    let (dir, tmp) = written_temp(path, bytes, bits)?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// Create `path` with `bytes` and exactly `mode` (permission bits), atomically, only if
/// nothing exists there yet: the complete file appears under its name or nothing does.
///
/// # Errors
/// `AlreadyExists` when anything (a file, a link, a folder) has the name; the I/O error of
/// any step. Nothing is left behind on error.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let (dir, tmp) = written_temp(path, bytes, mode & 0o777)?;
    tmp.persist_noclobber(path).map_err(|e| e.error)?;
    sync_dir(dir);
    Ok(())
}

/// Create `root/rel` like [`write_new`], first making the folders of `rel` that are missing
/// (see [`dirs_within`]): nothing on the way from `root` is followed if it is a symbolic
/// link, so a planted `.vscode -> /elsewhere` cannot send the file out of `root`. Returns the
/// path written.
///
/// # Errors
/// As [`dirs_within`] and [`write_new`].
pub fn write_new_within(root: &Path, rel: &Path, bytes: &[u8], mode: u32) -> io::Result<PathBuf> {
    let name = rel.file_name().ok_or_else(|| refused("has no file name"))?;
    let dir = dirs_within(root, rel.parent().unwrap_or(Path::new("")))?;
    let path = dir.join(name);
    write_new(&path, bytes, mode)?;
    Ok(path)
}

/// Check that the folders of `rel` under `root` that exist are folders and not symbolic
/// links, without creating anything: what [`dirs_within`] would refuse, said before anything
/// is written. `rel` must be relative and plain (no `..`).
///
/// # Errors
/// `InvalidInput` naming the first link or non-folder on the way (the message says
/// why), or an I/O error inspecting one.
pub fn check_within(root: &Path, rel_dir: &Path) -> io::Result<()> {
    walk_within(root, rel_dir, false).map(|_| ())
}

/// The folder `root/rel_dir`, creating the missing folders on the way, one component at a
/// time; a component that is a symbolic link (even to a folder inside `root`) or not a
/// folder is refused. `root` itself is the caller's choice and may be a link.
///
/// # Errors
/// As [`check_within`]; the I/O error of creating a folder.
pub fn dirs_within(root: &Path, rel_dir: &Path) -> io::Result<PathBuf> {
    walk_within(root, rel_dir, true)
}

fn walk_within(root: &Path, rel_dir: &Path, create: bool) -> io::Result<PathBuf> {
    let mut at = root.to_path_buf();
    for part in rel_dir.components() {
        let std::path::Component::Normal(part) = part else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is not a plain path inside {}",
                    rel_dir.display(),
                    root.display()
                ),
            ));
        };
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is a symbolic link; devarch does not write through links (it could lead out of {})",
                        at.display(),
                        root.display()
                    ),
                ));
            }
            Ok(m) if m.is_dir() => {}
            Ok(m) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "{} is {}, where a folder is needed",
                        at.display(),
                        describe_kind(&m.file_type())
                    ),
                ));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && !create => return Ok(at),
            // `mkdir` never follows a link at its last component: one planted meanwhile
            // makes it fail with `AlreadyExists`.
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&at)?,
            Err(e) => return Err(e),
        }
    }
    Ok(at)
}

/// A synced temporary file holding `bytes` with mode `bits`, in `path`'s folder.
fn written_temp<'p>(
    path: &'p Path,
    bytes: &[u8],
    bits: u32,
) -> io::Result<(&'p Path, tempfile::NamedTempFile)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        Some(_) => Path::new("."),
        None => return Err(refused("has no parent folder")),
    };
    let name = path
        .file_name()
        .ok_or_else(|| refused("has no file name"))?
        .to_string_lossy();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .rand_bytes(10)
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(bits))?;
    tmp.as_file().sync_all()?;
    Ok((dir, tmp))
}

/// Make a rename in `dir` durable; a folder that cannot be opened for syncing (some file
/// systems) does not make the write fail.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Why [`read_limited`] refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Opening or reading failed (a link at the last component: "too many levels of
    /// symbolic links").
    #[error("cannot read file: {0}")]
    Io(#[from] io::Error),
    /// Not a regular file (checked on the opened file, so nothing blocks on a FIFO).
    #[error("is {0}, not a regular file")]
    NotRegular(&'static str),
    /// Over the limit.
    #[error("file is {}over the {limit} byte limit", size.map(|s| format!("{s} bytes, ")).unwrap_or_default())]
    TooBig {
        /// Its size, when the file system says (files under `/proc` claim none).
        size: Option<u64>,
        /// The limit.
        limit: usize,
    },
    /// Not UTF-8 (for readers that need text).
    #[error("file is not valid UTF-8")]
    NotUtf8,
}

/// Read at most `limit` bytes of the regular file `path`, the one way devarch reads a file
/// it did not write: opened with `O_NOFOLLOW` (a link at the last component is refused) and
/// `O_NONBLOCK` (a FIFO or device cannot make it hang), checked to be a regular file on the
/// opened descriptor, and read up to `limit + 1` bytes whatever size it claims.
///
/// # Errors
/// [`ReadError`].
pub fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>, ReadError> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(ReadError::NotRegular(describe_kind(&meta.file_type())));
    }
    read_bounded(file, limit)?.ok_or_else(|| ReadError::TooBig {
        size: (meta.len() > limit as u64).then_some(meta.len()),
        limit,
    })
}

/// All of `source` if it holds at most `limit` bytes, reading at most one byte more
/// whatever it claims; `None` when it holds more.
///
/// # Errors
/// The read's I/O error.
pub(crate) fn read_bounded(source: impl io::Read, limit: usize) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    source.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() <= limit).then_some(bytes))
}

/// "a FIFO", "a socket", "a device", "a folder", for messages.
pub fn describe_kind(kind: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "a FIFO"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_block_device() || kind.is_char_device() {
        "a device"
    } else if kind.is_dir() {
        "a folder"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

fn refused(why: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, why.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode_of(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        write_atomic(&path, b"one", FileMode::Private).unwrap();
        write_atomic(&path, b"two", FileMode::Private).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(mode_of(&path), 0o600);
    }

    #[test]
    fn modes_ignore_the_umask_and_keep_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let kept = dir.path().join("m.yaml");
        fs::write(&kept, "a").unwrap();
        fs::set_permissions(&kept, fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&kept, b"b", FileMode::Keep { default: 0o644 }).unwrap();
        assert_eq!(mode_of(&kept), 0o640);
        let new = dir.path().join("n.yaml");
        write_atomic(&new, b"b", FileMode::Keep { default: 0o644 }).unwrap();
        assert_eq!(mode_of(&new), 0o644);
        let exact = dir.path().join("e");
        write_atomic(&exact, b"b", FileMode::Exact(0o4755)).unwrap();
        assert_eq!(mode_of(&exact), 0o755, "no setuid bit, ever");
    }

    #[test]
    fn refuses_a_symlink_at_the_target_and_leaves_its_victim_alone() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("s.yaml");
        symlink(&victim, &link).unwrap();
        let err = write_atomic(&link, b"evil", FileMode::Private).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("symbolic link"), "{err}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "no temp left");
    }

    #[test]
    fn predictable_temp_names_planted_as_links_are_never_used() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        for planted in ["s.yaml.devarch-tmp", ".s.yaml.tmp", "s.devarch-tmp"] {
            symlink(&victim, dir.path().join(planted)).unwrap();
        }
        let path = dir.path().join("s.yaml");
        write_atomic(&path, b"new", FileMode::Keep { default: 0o644 }).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
    }

    #[test]
    fn write_new_never_replaces_anything() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.yaml");
        write_new(&path, b"first", 0o644).unwrap();
        assert_eq!(mode_of(&path), 0o644);
        let err = write_new(&path, b"second", 0o644).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&path).unwrap(), b"first");
        let link = dir.path().join("l.yaml");
        symlink(dir.path().join("missing"), &link).unwrap();
        assert!(
            write_new(&link, b"x", 0o644).is_err(),
            "not even a dangling link"
        );
        assert!(!dir.path().join("missing").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2, "no temp left");
    }

    #[test]
    fn write_new_within_makes_folders_but_never_follows_a_link_on_the_way() {
        let root = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let written = write_new_within(root.path(), Path::new("a/b/c.json"), b"x", 0o644).unwrap();
        assert_eq!(written, root.path().join("a/b/c.json"));
        assert_eq!(fs::read(&written).unwrap(), b"x");
        symlink(elsewhere.path(), root.path().join(".vscode")).unwrap();
        let rel = Path::new(".vscode/settings.json");
        for err in [
            check_within(root.path(), rel.parent().unwrap()).unwrap_err(),
            write_new_within(root.path(), rel, b"x", 0o644).unwrap_err(),
        ] {
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            let text = err.to_string();
            assert!(
                text.contains(&format!(
                    "{}/.vscode is a symbolic link",
                    root.path().display()
                )),
                "{text}"
            );
        }
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        // A link to a folder inside the root is refused too, and `..` never walks out.
        symlink(root.path().join("a"), root.path().join("in")).unwrap();
        assert!(write_new_within(root.path(), Path::new("in/b/d"), b"x", 0o644).is_err());
        assert!(write_new_within(root.path(), Path::new("a/../../x"), b"x", 0o644).is_err());
        fs::write(root.path().join("file"), "").unwrap();
        let err = write_new_within(root.path(), Path::new("file/x"), b"x", 0o644).unwrap_err();
        assert!(
            err.to_string().contains("where a folder is needed"),
            "{err}"
        );
    }

    #[test]
    fn refuses_fifos_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("d");
        fs::create_dir(&sub).unwrap();
        assert!(write_atomic(&sub, b"x", FileMode::Private).is_err());
        assert!(sub.is_dir());
    }
}

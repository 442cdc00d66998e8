/*! State kept under `--home` (default `~/.devarch`), outside the manifests folder:

- `secret.key` — the 32-byte AES-256-GCM key, created on first use with mode 0600;
- `secrets/{stack}.json` — each stack's secrets, encrypted at rest ([`secrets`]);
- `ports.json` — host ports picked for `host: auto`, kept across re-plans and
  restarts ([`ports`]);
- `stacks/{stack}/{instance}/files/` — materialised config files ([`config_file_path`]);
- `secrets.lock`, `ports.lock` — advisory locks, so several devarch processes can
  share one home.

Every file this module writes is written atomically (a temporary file in the same folder,
then a rename) with mode 0600; its folders are created with mode 0700.

Other modules keep files under `--home` too, with their own modes: the config files are
written by [`crate::apply::files`] (with the manifest's mode, 0644 by default), the per-stack
apply locks `locks/{stack}.lock` by [`crate::apply::lock`], and the controller's statuses
`status/{folder hash}/{stack}.json` by [`crate::status::StatusStore`].
*/

pub mod ports;
pub mod secrets;

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The default `--home`: `$HOME/.devarch`, or `/root/.devarch` when `HOME` is unset.
pub fn default_home() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home).join(".devarch"),
        _ => PathBuf::from("/root/.devarch"),
    }
}

/// Host path of a config file materialised for `instance` of `stack`:
/// `{home}/stacks/{stack}/{instance}/files/{target with '/' spelled '__'}`.
pub fn config_file_path(home: &Path, stack: &str, instance: &str, target: &str) -> PathBuf {
    let encoded = target.trim_start_matches('/').replace('/', "__");
    home.join("stacks")
        .join(stack)
        .join(instance)
        .join("files")
        .join(encoded)
}

/// Create `dir` (and its parents) with mode 0700 when missing.
pub(crate) fn ensure_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// A name for a temporary file next to `path`, unique within this machine's processes.
pub(crate) fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{file}.{}.{n}.tmp", std::process::id()))
}

/// Write `bytes` to `path` atomically with mode 0600: write and sync a temporary
/// file in the same folder, then rename it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Open (creating with mode 0600) `path` and take an exclusive advisory lock on it,
/// blocking until it is free. The lock is released when the returned file closes
/// (also when the process dies).
pub(crate) fn lock_exclusive(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(path)?;
    file.lock()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

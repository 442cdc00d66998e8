/*! State kept under `--home` (default `~/.devarch`), outside the manifests folder:

- `secret.key` — the 32-byte AES-256-GCM key, created on first use with mode 0600;
- `secrets/{stack}.json` — each stack's secrets, encrypted at rest ([`secrets`]);
- `ports.json` — host ports picked for `host: auto`, kept across re-plans and
  restarts ([`ports`]);
- `stacks/{stack}/{instance}/files/` — materialised config files ([`config_file_path`]);
- `secrets.lock`, `ports.lock` — advisory locks, so several devarch processes can
  share one home.

Every file this module writes goes through [`crate::safe_fs::write_atomic`] with mode 0600;
its folders are created with mode 0700.

Other modules keep files under `--home` too, with their own modes: the config files are
written by [`crate::apply::files`] (with the manifest's mode, 0644 by default), the per-stack
apply locks `locks/{stack}.lock` by [`crate::apply::lock`], and the controller's statuses
`status/{folder hash}/{stack}.json` by [`crate::status::StatusStore`].
*/

pub mod ports;
pub mod secrets;

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub(crate) use crate::safe_fs::{FileMode, write_atomic};

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

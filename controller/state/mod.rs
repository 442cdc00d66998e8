/*! State kept under `--home` (default `~/.devarch`), outside the manifests folder.

Everything that is about one manifests folder's stack is keyed by the folder (its owner label,
spelled as [`owner_key`]) and the stack, so the same stack name applied from two folders with
one home shares nothing:

- `secret.key` — the 32-byte AES-256-GCM key, created on first use with mode 0600;
- `secrets/{owner key}/{stack}.json` — each stack's secrets, encrypted at rest ([`secrets`]);
- `ports.json` — host ports picked for `host: auto`, per folder, stack and instance, kept
  across re-plans and restarts ([`ports`]);
- `stacks/{owner key}/{stack}/{instance}/files/` — materialised config files
  ([`config_file_path`]);
- `secrets.lock`, `ports.lock` — advisory locks, so several devarch processes can
  share one home.

Every folder and file is reached through [`home::Home`], which refuses a home (or a folder in
it) that is a link, another user's, or writable by group or others, and creates what is
missing with mode 0700; files are opened with `O_NOFOLLOW` and written only through
[`crate::safe_fs::write_atomic`] (mode 0600).

Other modules keep files under `--home` too: the config files are written by
[`crate::apply::files`] (with the manifest's mode, 0644 by default), the per-stack apply locks
`locks/{stack}.lock` by [`crate::apply::lock`], and the controller's statuses
`status/{owner key}/{stack}.json` by [`crate::status::StatusStore`].
*/

pub mod home;
pub mod ports;
pub mod secrets;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub(crate) use crate::safe_fs::{FileMode, write_atomic};
pub use home::{Home, HomeError};
pub(crate) use home::{lock_exclusive, lock_shared};

/// The default `--home`: `$HOME/.devarch`, or `/root/.devarch` when `HOME` is unset.
pub fn default_home() -> PathBuf {
    match std::env::var_os("HOME") {
        Some(home) if !home.is_empty() => PathBuf::from(home).join(".devarch"),
        _ => PathBuf::from("/root/.devarch"),
    }
}

/// This user's folder for locks that every `--home` of theirs must share (the router's):
/// `$XDG_RUNTIME_DIR/devarch` when that is set, else `locks` under the default home
/// ([`default_home`]). Created with mode 0700 and checked like a home (the user's own, not a
/// link, not writable by others), so no other local user can create a lock there first.
///
/// # Errors
/// [`HomeError`] when the folder fails its checks or cannot be created.
pub fn user_lock_dir() -> Result<PathBuf, HomeError> {
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(run) if run.is_absolute() => {
            Ok(Home::open(&run.join("devarch"))?.path().to_path_buf())
        }
        _ => Home::open(&default_home())?.dir(&["locks"]),
    }
}

/// The folder name of a manifests folder's state under `--home` (`secrets/{key}`,
/// `stacks/{key}`, `status/{key}`): 16 hex digits of the SHA-256 of its owner label
/// ([`crate::identity::owner_of`]).
pub fn owner_key(owner: &str) -> String {
    let digest = Sha256::digest(owner.as_bytes());
    hex::encode(&digest[..8])
}

/// Host path of a config file materialised for `instance` of `stack` of the manifests folder
/// `owner`: `{home}/stacks/{owner key}/{stack}/{instance}/files/{encoded target}`.
///
/// The target's leading `/` is dropped and the rest percent-encoded (`%` as `%25`, `/` as
/// `%2F`, a leading `.` as `%2E`), so distinct targets never share a host file and the name
/// is never `.` or `..`.
pub fn config_file_path(
    home: &Path,
    owner: &str,
    stack: &str,
    instance: &str,
    target: &str,
) -> PathBuf {
    config_files_dir(home, owner, stack)
        .join(instance)
        .join("files")
        .join(encode_target(target))
}

/// Whether `path` is where a config file with container path `target` is materialised under
/// `home` ([`config_file_path`]) for some manifests folder, stack and instance (which
/// [`config_file_path`] with the expected ones then confirms).
pub fn is_config_file_path(home: &Path, path: &Path, target: &str) -> bool {
    let Ok(rest) = path.strip_prefix(home.join("stacks")) else {
        return false;
    };
    let parts: Vec<&str> = rest.iter().filter_map(|c| c.to_str()).collect();
    matches!(parts.as_slice(), [key, _, _, "files", file]
        if key.len() == 16 && key.bytes().all(|b| b.is_ascii_hexdigit()) && *file == encode_target(target))
}

/// The folder of every config file of `stack` of the manifests folder `owner`.
pub fn config_files_dir(home: &Path, owner: &str, stack: &str) -> PathBuf {
    home.join("stacks").join(owner_key(owner)).join(stack)
}

fn encode_target(target: &str) -> String {
    let rest = target.strip_prefix('/').unwrap_or(target);
    let mut out = String::with_capacity(rest.len() + 4);
    for (i, c) in rest.char_indices() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '.' if i == 0 => out.push_str("%2E"),
            c => out.push(c),
        }
    }
    if out.is_empty() {
        // The target `/`: a name no other target encodes to.
        out.push('%');
    }
    out
}

/// Removes the config files of `stack` of the manifests folder `owner` (`delete
/// --purge-volumes`); `true` when there were any. Links inside are removed, never followed.
///
/// # Errors
/// [`home::HomeError`] when the home fails its checks or a file cannot be removed.
pub fn purge_config_files(home: &Path, owner: &str, stack: &str) -> Result<bool, home::HomeError> {
    let checked = home::Home::open(home)?;
    let key = owner_key(owner);
    checked.dir(&["stacks", key.as_str()])?;
    let dir = config_files_dir(home, owner, stack);
    match std::fs::symlink_metadata(&dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(home::HomeError::Io {
                action: "inspect",
                path: dir,
                source: e,
            });
        }
        Ok(_) => {}
    }
    // Folders of a stack are plain names; `remove_dir_all` unlinks links without following.
    std::fs::remove_dir_all(&dir).map_err(|source| home::HomeError::Io {
        action: "remove",
        path: dir.clone(),
        source,
    })?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn config_file_paths_are_recognised_only_as_written() {
        let home = Path::new("/h");
        let path = config_file_path(home, "/m", "s", "web", "/www/index.html");
        assert!(is_config_file_path(home, &path, "/www/index.html"));
        assert!(!is_config_file_path(home, &path, "/www/other.html"));
        assert!(!is_config_file_path(
            Path::new("/other"),
            &path,
            "/www/index.html"
        ));
        assert!(!is_config_file_path(
            home,
            Path::new("/h/stacks/x/s/web/files/www%2Findex.html"),
            "/www/index.html"
        ));
    }

    #[test]
    fn config_file_paths_are_spelled_plainly() {
        let home = Path::new("/h");
        let p = config_file_path(home, "/m", "blog", "web", "/etc/nginx/nginx.conf");
        let key = owner_key("/m");
        assert_eq!(key.len(), 16);
        assert_eq!(
            p,
            PathBuf::from(format!(
                "/h/stacks/{key}/blog/web/files/etc%2Fnginx%2Fnginx.conf"
            ))
        );
        assert_ne!(
            config_file_path(home, "/m", "blog", "web", "/etc/a/b"),
            config_file_path(home, "/m", "blog", "web", "/etc/a__b")
        );
        assert_ne!(
            config_file_path(home, "/m", "blog", "web", "/x"),
            config_file_path(home, "/other", "blog", "web", "/x")
        );
        for t in ["/..", "/.", "/", ""] {
            let name = encode_target(t);
            assert!(
                name != "." && name != ".." && !name.is_empty(),
                "{t}: {name}"
            );
            assert!(!name.contains('/'));
        }
    }

    proptest! {
        #[test]
        fn distinct_targets_get_distinct_host_files(
            a in "/[a-z./%_]{0,12}",
            b in "/[a-z./%_]{0,12}",
        ) {
            let home = Path::new("/h");
            let pa = config_file_path(home, "/m", "s", "i", &a);
            let pb = config_file_path(home, "/m", "s", "i", &b);
            prop_assert_eq!(a == b, pa == pb, "{} {}", a, b);
            let name = pa.file_name().unwrap().to_str().unwrap();
            prop_assert!(name != "." && name != ".." && !name.contains('/'));
        }
    }
}

//! The key files under `--home`: `secret.key`, and `secret.key.next` while a rotation is under
//! way ([`super::rotate`]).
//!
//! A key file is opened without following a link and checked on the opened file: a regular
//! file, owned by the current user (a key another user wrote, whatever its mode, is known to
//! them), mode 0600 or stricter, exactly 32 bytes. A new key is written complete to a random
//! `O_EXCL` temporary file and published with `hard_link`, which never replaces an existing
//! key, so a reader never sees a half-written one.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ring::aead::{AES_256_GCM, LessSafeKey, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::{Result, SecretError, io_err};
use crate::state::home;

/// File name of the key under `--home`.
pub const KEY_FILE: &str = "secret.key";
/// File name of the key a rotation re-encrypts to; renamed over [`KEY_FILE`] when it is done.
pub const NEXT_KEY_FILE: &str = "secret.key.next";
/// File name of the key that makes hashes over secret values (in the config hash labels)
/// keyed: a hash in a shared output (compose, kube) cannot be checked against guesses
/// without it. Apart from [`KEY_FILE`] so that a key rotation does not recreate containers.
pub const HASH_KEY_FILE: &str = "hash.key";
/// Length of the AES-256 key in bytes.
pub(super) const KEY_LEN: usize = 32;

/// The keys in use: every value decrypts under `current` or, after an interrupted rotation,
/// under `next`. New values are sealed under `current`.
pub(super) struct Keys {
    pub(super) current: LessSafeKey,
    pub(super) next: Option<LessSafeKey>,
}

impl Keys {
    /// The keys of `home`: `None` when there is no `secret.key` yet.
    pub(super) fn read(home: &Path) -> Result<Option<Keys>> {
        let Some(current) = read_key(&home.join(KEY_FILE))? else {
            return Ok(None);
        };
        let next = read_key(&home.join(NEXT_KEY_FILE))?;
        Ok(Some(Keys { current, next }))
    }

    /// Both keys, the one sealing new values first.
    pub(super) fn all(&self) -> impl Iterator<Item = &LessSafeKey> {
        std::iter::once(&self.current).chain(self.next.as_ref())
    }
}

/// The key at `path`, or `None` when the file does not exist.
pub(super) fn read_key(path: &Path) -> Result<Option<LessSafeKey>> {
    let Some(mut bytes) = read_key_bytes(path)? else {
        return Ok(None);
    };
    let key = UnboundKey::new(&AES_256_GCM, &bytes).ok();
    bytes.fill(0);
    match key {
        Some(key) => Ok(Some(LessSafeKey::new(key))),
        None => Err(SecretError::KeyWrongSize {
            path: path.to_path_buf(),
            len: KEY_LEN as u64,
        }),
    }
}

/// The 32 bytes of the key file at `path` (checked as the module docs say), or `None` when
/// the file does not exist.
pub(super) fn read_key_bytes(path: &Path) -> Result<Option<[u8; KEY_LEN]>> {
    let Some(mut file) = home::open_nofollow(path)? else {
        return Ok(None);
    };
    let meta = file.metadata().map_err(io_err("inspect", path))?;
    if !meta.is_file() {
        return Err(SecretError::KeyNotAFile {
            path: path.to_path_buf(),
        });
    }
    home::check_owner(path, &meta)?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::KeyPermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(SecretError::KeyWrongSize {
            path: path.to_path_buf(),
            len: meta.len(),
        });
    }
    let mut buf = Vec::with_capacity(KEY_LEN + 1);
    (&mut file)
        .take(KEY_LEN as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io_err("read", path))?;
    let key: Option<[u8; KEY_LEN]> = buf.as_slice().try_into().ok();
    let len = buf.len() as u64;
    buf.fill(0);
    match key {
        Some(key) => Ok(Some(key)),
        None => Err(SecretError::KeyWrongSize {
            path: path.to_path_buf(),
            len,
        }),
    }
}

/// Creates a key at `path` unless one exists (another process may win the race; its key is
/// then the one used), and returns the key now at `path`.
pub(super) fn create_key(path: &Path, rng: &SystemRandom) -> Result<LessSafeKey> {
    create_key_file(path, rng)?;
    read_key(path)?.ok_or_else(|| vanished(path))
}

/// The key bytes at `path`, created first when there are none (see [`create_key`]).
pub(super) fn key_bytes_or_create(path: &Path, rng: &SystemRandom) -> Result<[u8; KEY_LEN]> {
    if let Some(bytes) = read_key_bytes(path)? {
        return Ok(bytes);
    }
    create_key_file(path, rng)?;
    read_key_bytes(path)?.ok_or_else(|| vanished(path))
}

fn vanished(path: &Path) -> SecretError {
    io_err("read", path)(io::Error::new(
        io::ErrorKind::NotFound,
        "key vanished right after creation",
    ))
}

/// Writes a new random key file at `path` unless one exists.
fn create_key_file(path: &Path, rng: &SystemRandom) -> Result<()> {
    let mut key = [0u8; KEY_LEN];
    rng.fill(&mut key).map_err(|_| SecretError::Random {
        path: path.to_path_buf(),
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let prefix = format!(
        ".{}.",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("key")
    );
    let written = (|| {
        let mut file = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .permissions(fs::Permissions::from_mode(0o600))
            .tempfile_in(dir)?;
        file.write_all(&key)?;
        file.as_file().sync_all()?;
        Ok::<_, io::Error>(file)
    })();
    key.fill(0);
    let tmp = written.map_err(io_err("create", path))?;
    let linked = fs::hard_link(tmp.path(), path);
    drop(tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err("create", path)(e)),
    }
    Ok(())
}

//! Secrets, encrypted at rest under `--home`.
//!
//! The key is `{home}/secret.key`: 32 random bytes, created on first use with mode
//! 0600 and refused when it is a link, owned by another user, has the wrong size or any
//! group/other permission bit.
//! A store belongs to one manifests folder (its owner label): each of its stacks' secrets
//! live in `{home}/secrets/{owner key}/{stack}.json` ([`crate::state::owner_key`]), a JSON
//! object mapping `instance/name` to `base64(nonce || ciphertext || tag)`: AES-256-GCM with a
//! fresh random 96-bit nonce per value, and the owner, stack, instance and name in the
//! associated data, so a value copied to another folder, stack or name no longer decrypts.
//!
//! Secrets stored before they were kept per folder (`{home}/secrets/{stack}.json`, without
//! the owner in the associated data) are moved on first use: the first folder that needs such
//! a value takes it (re-encrypted as its own) and removes it from the old file, so a value is
//! never shared again; another folder with that stack name then gets a fresh one.
//!
//! Values come out as [`Secret`], which never prints its content; errors carry file
//! paths and secret names, never values or key bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

use super::home::{self, STATE_FILE_LIMIT};
use super::{FileMode, Home, HomeError, lock_exclusive, owner_key, write_atomic};

/// File name of the key under `--home`.
pub const KEY_FILE: &str = "secret.key";
/// Folder of the per-stack secret files under `--home`.
pub const SECRETS_DIR: &str = "secrets";
/// Lock file under `--home` serializing read-modify-write of secret files.
const LOCK_FILE: &str = "secrets.lock";
/// Length of the AES-256 key in bytes.
const KEY_LEN: usize = 32;
/// Length of generated secret values.
const GENERATED_LEN: usize = 32;
/// Domain separator at the start of the associated data.
const AAD_DOMAIN: &[u8] = b"devarch-secret-v2";
/// Domain separator of the secrets stored before they were kept per folder.
const LEGACY_AAD_DOMAIN: &[u8] = b"devarch-secret-v1";

/// Errors of the secret store. Every message names the file involved; none holds a
/// secret value or key material.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// A file-system operation failed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", ...).
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The key file is accessible by group or others.
    #[error(
        "secret key {} has mode {mode:03o}: it must not be accessible by group or others; refusing to use it (chmod 600 it if it is yours)",
        path.display()
    )]
    KeyPermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold exactly 32 bytes.
    #[error(
        "secret key {} is {len} bytes, expected 32; refusing to use it (truncated or replaced?)",
        path.display()
    )]
    KeyWrongSize {
        /// The key file.
        path: PathBuf,
        /// Its size in bytes.
        len: u64,
    },
    /// The key path exists but is not a regular file.
    #[error("secret key {} is not a regular file", path.display())]
    KeyNotAFile {
        /// The key path.
        path: PathBuf,
    },
    /// The home, a folder in it or a state file failed its checks (link, owner, mode).
    #[error(transparent)]
    Home(#[from] HomeError),
    /// The system random generator failed.
    #[error("the system random generator failed while preparing {}", path.display())]
    Random {
        /// The file being prepared.
        path: PathBuf,
    },
    /// A stack, instance or secret name cannot be used.
    #[error("invalid {what} name {name:?} for secrets in {}: {reason}", path.display())]
    InvalidName {
        /// "stack", "instance" or "secret".
        what: &'static str,
        /// The offending name.
        name: String,
        /// Why it was refused.
        reason: &'static str,
        /// The secrets folder.
        path: PathBuf,
    },
    /// A secrets file is not a JSON object of strings.
    #[error("secrets file {} is not valid: {detail}", path.display())]
    Corrupt {
        /// The secrets file.
        path: PathBuf,
        /// What is wrong (position only, never content).
        detail: String,
    },
    /// A stored value is not `base64(nonce || ciphertext)`.
    #[error(
        "secret {key:?} in {} is malformed (expected base64 of nonce and ciphertext)",
        path.display()
    )]
    Malformed {
        /// The secrets file.
        path: PathBuf,
        /// The entry, `instance/name`.
        key: String,
    },
    /// A stored value failed authentication.
    #[error(
        "cannot decrypt secret {key:?} in {}: it was encrypted with another secret.key, edited, or copied from another stack or name",
        path.display()
    )]
    Decrypt {
        /// The secrets file.
        path: PathBuf,
        /// The entry, `instance/name`.
        key: String,
    },
}

/// Result of secret store operations.
pub type Result<T, E = SecretError> = std::result::Result<T, E>;

fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SecretError {
    move |source| SecretError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A secret value. `Debug` and `Display` print `<redacted>`; the content is reachable
/// only through [`Secret::expose`]. It is deliberately not `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The plaintext value. Call only where it must leave the process (container env).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The encrypted secret store under one `--home`.
///
/// Reads see the files as they are on disk (no caching), so several processes may
/// share one home; writes take `{home}/secrets.lock` around read-modify-write.
pub struct SecretStore {
    home: PathBuf,
    owner: String,
    key: LessSafeKey,
    rng: SystemRandom,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("home", &self.home)
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

impl SecretStore {
    /// Open the store of the manifests folder `owner` (its owner label) under `home`,
    /// creating `home` and the key on first use.
    ///
    /// # Errors
    /// [`SecretError::Home`] when the home fails its checks; the key's errors.
    pub fn open(home: &Path, owner: &str) -> Result<Self> {
        Home::open(home)?;
        let rng = SystemRandom::new();
        let key_path = home.join(KEY_FILE);
        let mut bytes = match read_key(&key_path)? {
            Some(bytes) => bytes,
            None => create_key(&key_path, &rng)?,
        };
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes);
        bytes.fill(0);
        // A 32-byte key is always accepted for AES-256-GCM.
        let unbound = unbound.map_err(|_| SecretError::KeyWrongSize {
            path: key_path.clone(),
            len: KEY_LEN as u64,
        })?;
        Ok(SecretStore {
            home: home.to_path_buf(),
            owner: owner.to_string(),
            key: LessSafeKey::new(unbound),
            rng,
        })
    }

    /// The `--home` folder this store lives in.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Path of the file holding `stack`'s secrets (of this store's folder).
    pub fn stack_file(&self, stack: &str) -> PathBuf {
        self.dir().join(format!("{stack}.json"))
    }

    /// The secret `name` of `instance` in `stack`, if set (a value stored before secrets
    /// were kept per folder is moved to this folder's file first).
    pub fn get(&self, stack: &str, instance: &str, name: &str) -> Result<Option<Secret>> {
        self.check(stack, instance, name)?;
        let path = self.stack_file(stack);
        let map = read_map(&path)?;
        let key = entry_key(instance, name);
        match map.get(&key) {
            Some(encoded) => self
                .decrypt(&path, stack, instance, name, encoded)
                .map(Some),
            None => self.claim_legacy(stack, instance, name),
        }
    }

    /// Moves the value of a secret stored before secrets were kept per folder
    /// (`secrets/{stack}.json`) into this folder's file, re-encrypted; `None` when there is
    /// none.
    fn claim_legacy(&self, stack: &str, instance: &str, name: &str) -> Result<Option<Secret>> {
        let legacy = self.legacy_file(stack);
        if read_map(&legacy)?.is_empty() {
            return Ok(None);
        }
        let path = self.stack_file(stack);
        self.checked_dir()?;
        let _lock = self.lock()?;
        let key = entry_key(instance, name);
        let mut map = read_map(&path)?;
        if let Some(encoded) = map.get(&key) {
            return self
                .decrypt(&path, stack, instance, name, encoded)
                .map(Some);
        }
        let mut old = read_map(&legacy)?;
        let Some(encoded) = old.remove(&key) else {
            return Ok(None);
        };
        let value = self.open_value(&legacy, &key, &legacy_aad(stack, instance, name), &encoded)?;
        let sealed = self.encrypt(&path, stack, instance, name, value.expose())?;
        map.insert(key, sealed);
        // This folder's copy first: a failure in between leaves the value in both files.
        write_map(&path, &map)?;
        write_map(&legacy, &old)?;
        Ok(Some(value))
    }

    /// Store `value` as the secret `name` of `instance` in `stack`, replacing any.
    pub fn set(&self, stack: &str, instance: &str, name: &str, value: &str) -> Result<()> {
        self.check(stack, instance, name)?;
        self.update(stack, |path, map| {
            let encoded = self.encrypt(path, stack, instance, name, value)?;
            map.insert(entry_key(instance, name), encoded);
            Ok(((), true))
        })
    }

    /// Delete the secret; `true` when it existed.
    pub fn remove(&self, stack: &str, instance: &str, name: &str) -> Result<bool> {
        self.check(stack, instance, name)?;
        self.update(stack, |_, map| {
            let existed = map.remove(&entry_key(instance, name)).is_some();
            Ok((existed, existed))
        })
    }

    /// The `(instance, name)` of every secret of `stack`, sorted; never values.
    pub fn list(&self, stack: &str) -> Result<Vec<(String, String)>> {
        self.check_stack(stack)?;
        let map = read_map(&self.stack_file(stack))?;
        Ok(map
            .keys()
            .filter_map(|k| k.split_once('/'))
            .map(|(i, n)| (i.to_string(), n.to_string()))
            .collect())
    }

    /// The secret, generating and storing a random 32-character alphanumeric value
    /// when it is not set yet. Stable across calls, reopen and concurrent processes.
    pub fn get_or_generate(&self, stack: &str, instance: &str, name: &str) -> Result<Secret> {
        if let Some(secret) = self.get(stack, instance, name)? {
            return Ok(secret);
        }
        self.update(stack, |path, map| {
            let key = entry_key(instance, name);
            // Another process may have generated it since the unlocked read.
            if let Some(encoded) = map.get(&key) {
                return Ok((self.decrypt(path, stack, instance, name, encoded)?, false));
            }
            let value = self.generate(path)?;
            let encoded = self.encrypt(path, stack, instance, name, value.expose())?;
            map.insert(key, encoded);
            Ok((value, true))
        })
    }

    /// Delete every secret of `stack` (of this store's folder); `true` when there was any.
    pub fn purge_stack(&self, stack: &str) -> Result<bool> {
        self.check_stack(stack)?;
        let path = self.stack_file(stack);
        self.checked_dir()?;
        let _lock = self.lock()?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_err("remove", &path)(e)),
        }
    }

    /// `secrets/{owner key}`.
    fn dir(&self) -> PathBuf {
        self.home.join(SECRETS_DIR).join(owner_key(&self.owner))
    }

    /// [`SecretStore::dir`], created and checked.
    fn checked_dir(&self) -> Result<PathBuf> {
        let key = owner_key(&self.owner);
        Ok(Home::open(&self.home)?.dir(&[SECRETS_DIR, key.as_str()])?)
    }

    /// Where `stack`'s secrets were kept before they were kept per folder.
    fn legacy_file(&self, stack: &str) -> PathBuf {
        self.home.join(SECRETS_DIR).join(format!("{stack}.json"))
    }

    fn lock(&self) -> Result<File> {
        Ok(lock_exclusive(&self.home.join(LOCK_FILE))?)
    }

    /// Read-modify-write `stack`'s file under the lock. `f` returns its result and
    /// whether the map changed; an empty map removes the file.
    fn update<T>(
        &self,
        stack: &str,
        f: impl FnOnce(&Path, &mut BTreeMap<String, String>) -> Result<(T, bool)>,
    ) -> Result<T> {
        self.checked_dir()?;
        let path = self.stack_file(stack);
        let _lock = self.lock()?;
        let mut map = read_map(&path)?;
        let (out, changed) = f(&path, &mut map)?;
        if changed {
            write_map(&path, &map)?;
        }
        Ok(out)
    }

    fn encrypt(
        &self,
        path: &Path,
        stack: &str,
        instance: &str,
        name: &str,
        value: &str,
    ) -> Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SecretError::Random {
            path: path.to_path_buf(),
        })?;
        let mut in_out = value.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad(stack, instance, name)),
                &mut in_out,
            )
            .map_err(|_| SecretError::Random {
                path: path.to_path_buf(),
            })?;
        let mut out = Vec::with_capacity(NONCE_LEN + in_out.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&in_out);
        Ok(BASE64.encode(out))
    }

    fn decrypt(
        &self,
        path: &Path,
        stack: &str,
        instance: &str,
        name: &str,
        encoded: &str,
    ) -> Result<Secret> {
        let key = entry_key(instance, name);
        self.open_value(path, &key, &self.aad(stack, instance, name), encoded)
    }

    /// Decrypts the entry `key` of `path` sealed with associated data `aad`.
    fn open_value(&self, path: &Path, key: &str, aad: &[u8], encoded: &str) -> Result<Secret> {
        let key = key.to_string();
        let malformed = || SecretError::Malformed {
            path: path.to_path_buf(),
            key: key.clone(),
        };
        let mut bytes = BASE64.decode(encoded).map_err(|_| malformed())?;
        if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
            return Err(malformed());
        }
        let nonce =
            Nonce::try_assume_unique_for_key(&bytes[..NONCE_LEN]).map_err(|_| malformed())?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut bytes[NONCE_LEN..])
            .map_err(|_| SecretError::Decrypt {
                path: path.to_path_buf(),
                key: key.clone(),
            })?;
        let value = String::from_utf8(plain.to_vec()).map_err(|_| malformed())?;
        bytes.fill(0);
        Ok(Secret(value))
    }

    /// A random alphanumeric value, by rejection sampling (no modulo bias).
    fn generate(&self, path: &Path) -> Result<Secret> {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8; // 248
        let mut value = String::with_capacity(GENERATED_LEN);
        let mut buf = [0u8; 64];
        while value.len() < GENERATED_LEN {
            self.rng.fill(&mut buf).map_err(|_| SecretError::Random {
                path: path.to_path_buf(),
            })?;
            for &b in buf.iter().filter(|&&b| b < limit) {
                if value.len() == GENERATED_LEN {
                    break;
                }
                value.push(ALPHABET[usize::from(b) % ALPHABET.len()] as char);
            }
        }
        buf.fill(0);
        Ok(Secret(value))
    }

    fn check_stack(&self, stack: &str) -> Result<()> {
        let reason = if stack.is_empty() {
            Some("it is empty")
        } else if stack.len() > 128 {
            Some("it is longer than 128 characters")
        } else if stack.starts_with('.') {
            Some("it starts with '.'")
        } else if !stack
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            Some("use letters, digits, '-', '_' and '.'")
        } else {
            None
        };
        match reason {
            None => Ok(()),
            Some(reason) => Err(SecretError::InvalidName {
                what: "stack",
                name: stack.to_string(),
                reason,
                path: self.dir(),
            }),
        }
    }

    fn check(&self, stack: &str, instance: &str, name: &str) -> Result<()> {
        self.check_stack(stack)?;
        for (what, value, allow_slash) in [("instance", instance, false), ("secret", name, true)] {
            let reason = if value.is_empty() {
                Some("it is empty")
            } else if !allow_slash && value.contains('/') {
                Some("it contains '/'")
            } else if value.chars().any(char::is_control) {
                Some("it contains control characters")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(SecretError::InvalidName {
                    what,
                    name: value.to_string(),
                    reason,
                    path: self.dir(),
                });
            }
        }
        Ok(())
    }
}

/// The entry of a secret in its stack file.
fn entry_key(instance: &str, name: &str) -> String {
    format!("{instance}/{name}")
}

impl SecretStore {
    /// Associated data binding a ciphertext to its folder, stack, instance and name.
    fn aad(&self, stack: &str, instance: &str, name: &str) -> Vec<u8> {
        length_prefixed(AAD_DOMAIN, &[&self.owner, stack, instance, name])
    }
}

/// Associated data of a secret stored before secrets were kept per folder.
fn legacy_aad(stack: &str, instance: &str, name: &str) -> Vec<u8> {
    length_prefixed(LEGACY_AAD_DOMAIN, &[stack, instance, name])
}

/// `domain` then each part length-prefixed, so no two identities share an encoding.
fn length_prefixed(domain: &[u8], parts: &[&str]) -> Vec<u8> {
    let mut out = domain.to_vec();
    for part in parts {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// Writes a stack file (mode 0600), or removes it when `map` is empty.
fn write_map(path: &Path, map: &BTreeMap<String, String>) -> Result<()> {
    if map.is_empty() {
        return match fs::remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("remove", path)(e)),
        };
    }
    let mut json = serde_json::to_vec_pretty(map).map_err(|_| SecretError::Corrupt {
        path: path.to_path_buf(),
        detail: "cannot serialize".into(),
    })?;
    json.push(b'\n');
    write_atomic(path, &json, FileMode::Private).map_err(io_err("write", path))
}

/// The stack file's entries; empty when the file does not exist. Never read through a link.
fn read_map(path: &Path) -> Result<BTreeMap<String, String>> {
    let Some(bytes) = home::read_file(path, STATE_FILE_LIMIT)? else {
        return Ok(BTreeMap::new());
    };
    // Report only the position: serde_json messages may quote file content.
    serde_json::from_slice(&bytes).map_err(|e| SecretError::Corrupt {
        path: path.to_path_buf(),
        detail: format!(
            "expected a JSON object of strings ({:?} error at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        ),
    })
}

/// Read the key, or `None` when the file does not exist. It is opened without following a
/// link, and checked on the opened file (a swap between check and read is not possible):
/// a regular file, owned by the current user (a key another user wrote, whatever its mode,
/// is known to them), mode 0600 or stricter, 32 bytes.
fn read_key(path: &Path) -> Result<Option<[u8; KEY_LEN]>> {
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
    if buf.len() != KEY_LEN {
        let len = buf.len() as u64;
        buf.fill(0);
        return Err(SecretError::KeyWrongSize {
            path: path.to_path_buf(),
            len,
        });
    }
    let mut key = [0u8; KEY_LEN];
    key.copy_from_slice(&buf);
    buf.fill(0);
    Ok(Some(key))
}

/// Create the key: write it complete to a fresh temporary file (`create_new`, mode
/// 0600), then publish it with `hard_link`, which fails rather than replace an
/// existing key. When another process wins the race, its key is read and used; a
/// reader never sees a half-written key.
fn create_key(path: &Path, rng: &SystemRandom) -> Result<[u8; KEY_LEN]> {
    let mut key = [0u8; KEY_LEN];
    rng.fill(&mut key).map_err(|_| SecretError::Random {
        path: path.to_path_buf(),
    })?;
    // A random O_EXCL name next to the key: nothing planted there can be written through.
    let dir = path.parent().unwrap_or(Path::new("."));
    let written = (|| {
        let mut file = tempfile::Builder::new()
            .prefix(".secret.key.")
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
    read_key(path)?.ok_or_else(|| {
        io_err("read", path)(io::Error::new(
            io::ErrorKind::NotFound,
            "key vanished right after creation",
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STACK: &str = "blog";
    const OWNER: &str = "/work/manifests";
    const PLAIN: &str = "hunter2-very-distinctive-plaintext";

    fn store(home: &Path) -> SecretStore {
        SecretStore::open(home, OWNER).unwrap()
    }

    fn read_json(path: &Path) -> BTreeMap<String, String> {
        serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
    }

    fn write_json(path: &Path, map: &BTreeMap<String, String>) {
        fs::write(path, serde_json::to_vec(map).unwrap()).unwrap();
    }

    #[test]
    fn round_trip_list_remove_purge() {
        let home = tempfile::tempdir().unwrap();
        let s = store(home.path());
        assert!(s.get(STACK, "db", "password").unwrap().is_none());
        s.set(STACK, "db", "password", PLAIN).unwrap();
        s.set(STACK, "db", "root_password", "r00t").unwrap();
        s.set(STACK, "app", "key", "k").unwrap();
        assert_eq!(
            s.get(STACK, "db", "password").unwrap().unwrap().expose(),
            PLAIN
        );
        assert_eq!(
            s.list(STACK).unwrap(),
            vec![
                ("app".to_string(), "key".to_string()),
                ("db".to_string(), "password".to_string()),
                ("db".to_string(), "root_password".to_string()),
            ]
        );
        assert!(s.list("other").unwrap().is_empty());
        assert!(s.remove(STACK, "app", "key").unwrap());
        assert!(!s.remove(STACK, "app", "key").unwrap());
        assert!(s.get(STACK, "app", "key").unwrap().is_none());
        assert!(s.purge_stack(STACK).unwrap());
        assert!(!s.purge_stack(STACK).unwrap());
        assert!(s.list(STACK).unwrap().is_empty());
    }

    #[test]
    fn file_holds_no_plaintext_and_is_0600() {
        let home = tempfile::tempdir().unwrap();
        let s = store(home.path());
        s.set(STACK, "db", "password", PLAIN).unwrap();
        let path = s.stack_file(STACK);
        let bytes = fs::read(&path).unwrap();
        let needle = PLAIN.as_bytes();
        assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        assert!(String::from_utf8_lossy(&bytes).contains("db/password"));
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn same_value_encrypts_differently_each_time() {
        let home = tempfile::tempdir().unwrap();
        let s = store(home.path());
        s.set(STACK, "db", "a", PLAIN).unwrap();
        s.set(STACK, "db", "b", PLAIN).unwrap();
        let map = read_json(&s.stack_file(STACK));
        assert_ne!(map["db/a"], map["db/b"]);
    }

    #[test]
    fn key_created_0600_and_reused() {
        let home = tempfile::tempdir().unwrap();
        let s = store(home.path());
        let key_path = home.path().join(KEY_FILE);
        let meta = fs::metadata(&key_path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        let before = fs::read(&key_path).unwrap();
        s.set(STACK, "db", "password", PLAIN).unwrap();
        drop(s);
        let s = store(home.path());
        assert_eq!(fs::read(&key_path).unwrap(), before);
        assert_eq!(
            s.get(STACK, "db", "password").unwrap().unwrap().expose(),
            PLAIN
        );
        // No temporary files left next to the key.
        let names: Vec<String> = fs::read_dir(home.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn racing_opens_share_one_key() {
        let home = tempfile::tempdir().unwrap();
        let stores: Vec<SecretStore> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| SecretStore::open(home.path(), OWNER).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        stores[0].set(STACK, "db", "password", PLAIN).unwrap();
        for s in &stores {
            assert_eq!(
                s.get(STACK, "db", "password").unwrap().unwrap().expose(),
                PLAIN
            );
        }
    }

    #[test]
    fn refuses_loose_permissions_and_wrong_size() {
        let home = tempfile::tempdir().unwrap();
        drop(store(home.path()));
        let key_path = home.path().join(KEY_FILE);
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = SecretStore::open(home.path(), OWNER).unwrap_err();
        assert!(matches!(
            err,
            SecretError::KeyPermissions { mode: 0o644, .. }
        ));
        let msg = err.to_string();
        assert!(msg.contains(&key_path.display().to_string()), "{msg}");
        assert!(msg.contains("644"), "{msg}");

        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();
        fs::write(&key_path, [7u8; 16]).unwrap();
        let err = SecretStore::open(home.path(), OWNER).unwrap_err();
        assert!(matches!(err, SecretError::KeyWrongSize { len: 16, .. }));
        assert!(err.to_string().contains(&key_path.display().to_string()));
    }

    #[test]
    fn wrong_key_fails_clearly() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let sa = store(a.path());
        let sb = store(b.path());
        sa.set(STACK, "db", "password", PLAIN).unwrap();
        fs::create_dir_all(sb.stack_file(STACK).parent().unwrap()).unwrap();
        fs::copy(sa.stack_file(STACK), sb.stack_file(STACK)).unwrap();
        let err = sb.get(STACK, "db", "password").unwrap_err();
        assert!(matches!(err, SecretError::Decrypt { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&sb.stack_file(STACK).display().to_string()));
        assert!(msg.contains("db/password"));
        assert!(msg.contains("secret.key"));
        assert!(!msg.contains(PLAIN));
        assert!(!format!("{err:?}").contains(PLAIN));
    }

    #[test]
    fn ciphertext_is_bound_to_stack_and_name() {
        let home = tempfile::tempdir().unwrap();
        let s = store(home.path());
        s.set(STACK, "db", "password", PLAIN).unwrap();
        let path = s.stack_file(STACK);
        let mut map = read_json(&path);
        let ct = map["db/password"].clone();

        // Another name in the same stack.
        map.insert("db/other".into(), ct.clone());
        map.insert("web/password".into(), ct.clone());
        write_json(&path, &map);
        for (instance, name) in [("db", "other"), ("web", "password")] {
            let err = s.get(STACK, instance, name).unwrap_err();
            assert!(matches!(err, SecretError::Decrypt { .. }), "{err:?}");
        }
        // The original still decrypts.
        assert_eq!(
            s.get(STACK, "db", "password").unwrap().unwrap().expose(),
            PLAIN
        );

        // The same name in another stack.
        fs::copy(&path, s.stack_file("shop")).unwrap();
        let err = s.get("shop", "db", "password").unwrap_err();
        assert!(matches!(err, SecretError::Decrypt { .. }), "{err:?}");

        // Tampering and garbage.
        let mut bytes = BASE64.decode(&ct).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        map.insert("db/password".into(), BASE64.encode(&bytes));
        map.insert("db/short".into(), BASE64.encode([1u8; 5]));
        map.insert("db/junk".into(), "%%% not base64".into());
        write_json(&path, &map);
        assert!(matches!(
            s.get(STACK, "db", "password").unwrap_err(),
            SecretError::Decrypt { .. }
        ));
        assert!(matches!(
            s.get(STACK, "db", "short").unwrap_err(),
            SecretError::Malformed { .. }
        ));
        assert!(matches!(
            s.get(STACK, "db", "junk").unwrap_err(),
            SecretError::Malformed { .. }
        ));
    }

    #[test]
    fn get_or_generate_is_stable_across_reopen() {
        let home = tempfile::tempdir().unwrap();
        let s = store(home.path());
        let first = s.get_or_generate(STACK, "db", "password").unwrap();
        assert_eq!(first.expose().len(), 32);
        assert!(first.expose().bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(s.get_or_generate(STACK, "db", "password").unwrap(), first);
        let other = s.get_or_generate("shop", "db", "password").unwrap();
        assert_ne!(other, first);
        drop(s);
        let s = store(home.path());
        assert_eq!(s.get_or_generate(STACK, "db", "password").unwrap(), first);
        assert_eq!(s.get(STACK, "db", "password").unwrap().unwrap(), first);
    }

    #[test]
    fn concurrent_get_or_generate_agrees() {
        let home = tempfile::tempdir().unwrap();
        let values: Vec<Secret> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..6)
                .map(|_| {
                    scope.spawn(|| {
                        let s = SecretStore::open(home.path(), OWNER).unwrap();
                        s.get_or_generate(STACK, "db", "password").unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(values.iter().all(|v| *v == values[0]));
    }

    #[test]
    fn secret_debug_and_display_redact() {
        let secret = Secret::new(PLAIN);
        assert_eq!(format!("{secret}"), "<redacted>");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(<redacted>)");
        assert_eq!(secret.expose(), PLAIN);
        let home = tempfile::tempdir().unwrap();
        let s = store(home.path());
        assert!(!format!("{s:?}").contains("key:"));
    }

    #[test]
    fn corrupt_file_and_bad_names_are_reported_without_content() {
        let home = tempfile::tempdir().unwrap();
        let s = store(home.path());
        s.set(STACK, "db", "password", PLAIN).unwrap();
        let path = s.stack_file(STACK);
        fs::write(&path, format!("{{\"db/password\": 5, \"x\": \"{PLAIN}\"}}")).unwrap();
        let err = s.get(STACK, "db", "password").unwrap_err();
        assert!(matches!(err, SecretError::Corrupt { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&path.display().to_string()));
        assert!(!msg.contains(PLAIN));

        for (stack, instance, name) in [
            ("../etc", "db", "p"),
            ("", "db", "p"),
            (".hidden", "db", "p"),
            ("blog", "a/b", "p"),
            ("blog", "", "p"),
            ("blog", "db", ""),
        ] {
            let err = s.set(stack, instance, name, "v").unwrap_err();
            assert!(matches!(err, SecretError::InvalidName { .. }), "{err:?}");
            assert!(err.to_string().contains(SECRETS_DIR));
        }
    }

    #[test]
    fn two_folders_with_one_home_share_nothing() {
        let home = tempfile::tempdir().unwrap();
        let a = SecretStore::open(home.path(), "/work/a").unwrap();
        let b = SecretStore::open(home.path(), "/work/b").unwrap();
        let va = a.get_or_generate(STACK, "db", "password").unwrap();
        let vb = b.get_or_generate(STACK, "db", "password").unwrap();
        assert_ne!(va, vb, "same stack name, two folders: two passwords");
        assert_ne!(a.stack_file(STACK), b.stack_file(STACK));
        assert_eq!(a.get(STACK, "db", "password").unwrap().unwrap(), va);
        // A's ciphertext planted in B's file does not decrypt: the folder is bound in.
        fs::copy(a.stack_file(STACK), b.stack_file(STACK)).unwrap();
        let err = b.get(STACK, "db", "password").unwrap_err();
        assert!(matches!(err, SecretError::Decrypt { .. }), "{err:?}");
        // Purging B's stack leaves A's alone.
        assert!(b.purge_stack(STACK).unwrap());
        assert_eq!(a.get(STACK, "db", "password").unwrap().unwrap(), va);
    }

    #[test]
    fn secrets_stored_before_per_folder_keys_move_to_the_first_folder_that_uses_them() {
        let home = tempfile::tempdir().unwrap();
        let a = SecretStore::open(home.path(), "/work/a").unwrap();
        // A value as the previous version stored it: `secrets/{stack}.json`, no owner bound.
        let legacy = a.legacy_file(STACK);
        Home::open(home.path())
            .unwrap()
            .dir(&[SECRETS_DIR])
            .unwrap();
        let mut nonce = [0u8; NONCE_LEN];
        a.rng.fill(&mut nonce).unwrap();
        let mut sealed = PLAIN.as_bytes().to_vec();
        a.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(legacy_aad(STACK, "db", "password")),
                &mut sealed,
            )
            .unwrap();
        let value = BASE64.encode([nonce.as_slice(), &sealed].concat());
        write_map(
            &legacy,
            &BTreeMap::from([("db/password".to_string(), value)]),
        )
        .unwrap();

        assert_eq!(
            a.get_or_generate(STACK, "db", "password").unwrap().expose(),
            PLAIN
        );
        assert!(!legacy.exists(), "the old file is emptied, so removed");
        assert_eq!(
            a.get(STACK, "db", "password").unwrap().unwrap().expose(),
            PLAIN
        );
        let b = SecretStore::open(home.path(), "/work/b").unwrap();
        assert_ne!(
            b.get_or_generate(STACK, "db", "password").unwrap().expose(),
            PLAIN
        );
    }

    #[test]
    fn a_key_of_another_user_or_behind_a_link_is_refused() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let home = tempfile::tempdir().unwrap();
        let key_path = home.path().join(KEY_FILE);
        // Known bytes, mode 0600, but owned by nobody.
        fs::write(&key_path, [7u8; KEY_LEN]).unwrap();
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::chown(&key_path, Some(65534), Some(65534)).unwrap();
        let err = SecretStore::open(home.path(), OWNER).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains(&key_path.display().to_string()), "{msg}");
        assert!(msg.contains("owned by uid 65534"), "{msg}");
        assert!(!home.path().join(SECRETS_DIR).exists());

        fs::remove_file(&key_path).unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let known = elsewhere.path().join("known.key");
        fs::write(&known, [7u8; KEY_LEN]).unwrap();
        fs::set_permissions(&known, fs::Permissions::from_mode(0o600)).unwrap();
        symlink(&known, &key_path).unwrap();
        let err = SecretStore::open(home.path(), OWNER).unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
    }
}

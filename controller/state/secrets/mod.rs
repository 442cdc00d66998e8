//! Secrets, encrypted at rest under `--home`.
//!
//! The key is `{home}/secret.key` ([`key`]): 32 random bytes, created on first use with mode
//! 0600 and refused when it is a link, owned by another user, has the wrong size or any
//! group/other permission bit. `devarch secret rotate-key` replaces it ([`rotate`]).
//!
//! A store belongs to one manifests folder (its owner label): each of its stacks' secrets
//! live in `{home}/secrets/{owner key}/{stack}.json` ([`crate::state::owner_key`], format in
//! [`file`]), mapping `instance/name` to `base64(nonce || ciphertext || tag)`: AES-256-GCM
//! with a fresh random 96-bit nonce per value, and the owner, stack, instance and name in the
//! associated data, so a value copied to another folder, stack or name no longer decrypts.
//!
//! Secrets stored before they were kept per folder (`{home}/secrets/{stack}.json`, without
//! the owner in the associated data) are moved on first use: the first folder that needs such
//! a value takes it (re-encrypted as its own) and removes it from the old file, so a value is
//! never shared again; another folder with that stack name then gets a fresh one.
//!
//! Writers take `{home}/secrets.lock` exclusively around read-modify-write, readers take it
//! shared, and the key files are read on every operation: a long-running `devarch watch`
//! keeps working across a rotation.
//!
//! Values come out as [`Secret`], which never prints its content; errors carry file
//! paths and secret names, never values or key bytes.

pub mod file;
pub mod key;
pub mod rotate;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};

use super::{Home, HomeError, lock_exclusive, lock_shared, owner_key};
pub use file::Origin;
use file::{Entry, StackFile};
use key::{KEY_FILE, Keys};

/// Folder of the per-stack secret files under `--home`.
pub const SECRETS_DIR: &str = "secrets";
/// Lock file under `--home` serializing read-modify-write of secret files.
const LOCK_FILE: &str = "secrets.lock";
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
    /// A secrets file is not in a known format.
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
    /// A file the key rotation must re-encrypt does not say which folder it belongs to.
    #[error(
        "cannot rotate the key: {} was written by an earlier devarch and does not record its manifests folder; run `devarch secret list` with that folder as --dir first (it rewrites the file), or remove the file if that folder is gone. Nothing was changed",
        path.display()
    )]
    UnknownOwner {
        /// The secrets file.
        path: PathBuf,
    },
}

/// Result of secret store operations.
pub type Result<T, E = SecretError> = std::result::Result<T, E>;

pub(crate) fn io_err(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> SecretError {
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

/// What `secret list` shows of one stored secret: never its value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SecretInfo {
    /// The instance owning it.
    pub instance: String,
    /// Its name, as the `secret:` reference writes it.
    pub name: String,
    /// Generated or set; `None` for values stored by an earlier devarch.
    pub origin: Option<Origin>,
    /// Unix seconds of the last change, when known.
    pub changed: Option<u64>,
}

/// The encrypted secret store under one `--home`.
///
/// Reads see the files as they are on disk (no caching, the key included), so several
/// processes may share one home.
pub struct SecretStore {
    home: PathBuf,
    owner: String,
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

/// The HMAC key of hashes over secret values ([`SecretStore::hash_key`]).
#[derive(Clone)]
pub struct HashKey(ring::hmac::Key);

impl HashKey {
    /// A key from given bytes (tests; the fake engine's callers).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        HashKey(ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes))
    }

    /// HMAC-SHA256 of `data`, in hex.
    pub fn sign_hex(&self, data: &[u8]) -> String {
        hex::encode(ring::hmac::sign(&self.0, data).as_ref())
    }
}

impl fmt::Debug for HashKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HashKey(<redacted>)")
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
        if Keys::read(home)?.is_none() {
            key::create_key(&home.join(KEY_FILE), &rng)?;
        }
        Ok(SecretStore {
            home: home.to_path_buf(),
            owner: owner.to_string(),
            rng,
        })
    }

    /// The key of hashes over secret values ([`key::HASH_KEY_FILE`]), created on first use.
    ///
    /// # Errors
    /// The key file's checks, or a key that cannot be written.
    pub fn hash_key(&self) -> Result<HashKey> {
        let bytes = key::key_bytes_or_create(&self.home.join(key::HASH_KEY_FILE), &self.rng)?;
        Ok(HashKey(ring::hmac::Key::new(
            ring::hmac::HMAC_SHA256,
            &bytes,
        )))
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
        {
            let _shared = self.lock_shared()?;
            let file = file::read(&path)?;
            if let Some(entry) = file.entries.get(&entry_key(instance, name)) {
                let keys = self.keys()?;
                return self
                    .decrypt(&keys, &path, stack, instance, name, &entry.sealed)
                    .map(Some);
            }
        }
        self.claim_legacy(stack, instance, name)
    }

    /// Moves the value of a secret stored before secrets were kept per folder
    /// (`secrets/{stack}.json`) into this folder's file, re-encrypted; `None` when there is
    /// none.
    fn claim_legacy(&self, stack: &str, instance: &str, name: &str) -> Result<Option<Secret>> {
        let legacy = self.legacy_file(stack);
        if file::read(&legacy)?.entries.is_empty() {
            return Ok(None);
        }
        let path = self.stack_file(stack);
        self.checked_dir()?;
        let _lock = self.lock()?;
        let keys = self.keys()?;
        let key = entry_key(instance, name);
        let mut mine = file::read(&path)?;
        if let Some(entry) = mine.entries.get(&key) {
            return self
                .decrypt(&keys, &path, stack, instance, name, &entry.sealed)
                .map(Some);
        }
        let mut old = file::read(&legacy)?;
        let Some(entry) = old.entries.remove(&key) else {
            return Ok(None);
        };
        let aad = legacy_aad(stack, instance, name);
        let value = open_value(&keys, &legacy, &key, &aad, &entry.sealed)?;
        let sealed = self.encrypt(&keys, &path, stack, instance, name, value.expose())?;
        mine.entries.insert(
            key,
            Entry {
                sealed,
                origin: None,
                changed: None,
            },
        );
        // This folder's copy first: a failure in between leaves the value in both files.
        file::write(&path, &self.owner, stack, &mine.entries)?;
        file::write_flat(&legacy, &old.entries)?;
        Ok(Some(value))
    }

    /// Store `value` as the secret `name` of `instance` in `stack`, replacing any.
    pub fn set(&self, stack: &str, instance: &str, name: &str, value: &str) -> Result<()> {
        self.check(stack, instance, name)?;
        self.update(stack, |keys, path, map| {
            let sealed = self.encrypt(keys, path, stack, instance, name, value)?;
            map.insert(entry_key(instance, name), Entry::new(sealed, Origin::Set));
            Ok(((), true))
        })
    }

    /// Delete the secret; `true` when it existed.
    pub fn remove(&self, stack: &str, instance: &str, name: &str) -> Result<bool> {
        self.check(stack, instance, name)?;
        self.update(stack, |_, _, map| {
            let existed = map.remove(&entry_key(instance, name)).is_some();
            Ok((existed, existed))
        })
    }

    /// Every secret of `stack`, sorted by instance and name; never values.
    pub fn list(&self, stack: &str) -> Result<Vec<SecretInfo>> {
        self.check_stack(stack)?;
        let _shared = self.lock_shared()?;
        let file = file::read(&self.stack_file(stack))?;
        Ok(file
            .entries
            .into_iter()
            .filter_map(|(k, e)| {
                let (instance, name) = k.split_once('/')?;
                Some(SecretInfo {
                    instance: instance.to_string(),
                    name: name.to_string(),
                    origin: e.origin,
                    changed: e.changed,
                })
            })
            .collect())
    }

    /// The stacks of this store's folder that have secrets, sorted.
    pub fn stacks(&self) -> Result<Vec<String>> {
        let dir = self.dir();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list", &dir)(e)),
        };
        let mut stacks = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("list", &dir))?;
            let name = entry.file_name();
            let Some(stack) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if self.check_stack(stack).is_ok() {
                stacks.push(stack.to_string());
            }
        }
        stacks.sort();
        Ok(stacks)
    }

    /// The secret, generating and storing a random 32-character alphanumeric value
    /// when it is not set yet. Stable across calls, reopen and concurrent processes.
    pub fn get_or_generate(&self, stack: &str, instance: &str, name: &str) -> Result<Secret> {
        if let Some(secret) = self.get(stack, instance, name)? {
            return Ok(secret);
        }
        self.update(stack, |keys, path, map| {
            let key = entry_key(instance, name);
            // Another process may have generated it since the unlocked read.
            if let Some(entry) = map.get(&key) {
                let value = self.decrypt(keys, path, stack, instance, name, &entry.sealed)?;
                return Ok((value, false));
            }
            let value = self.generate(path)?;
            let sealed = self.encrypt(keys, path, stack, instance, name, value.expose())?;
            map.insert(key, Entry::new(sealed, Origin::Generated));
            Ok((value, true))
        })
    }

    /// Copies every secret of stack `from` to stack `to` (of this store's folder), re-encrypted
    /// for `to`, keeping origin and change time; values `to` has already are replaced. Returns
    /// how many were copied.
    pub fn copy_stack(&self, from: &str, to: &str) -> Result<usize> {
        self.check_stack(from)?;
        self.check_stack(to)?;
        let source = self.stack_file(from);
        self.update(to, |keys, path, map| {
            let entries = file::read(&source)?.entries;
            for (key, entry) in &entries {
                let (instance, name) = key.split_once('/').unwrap_or((key, ""));
                let value = self.decrypt(keys, &source, from, instance, name, &entry.sealed)?;
                let sealed = self.encrypt(keys, path, to, instance, name, value.expose())?;
                map.insert(
                    key.clone(),
                    Entry {
                        sealed,
                        ..entry.clone()
                    },
                );
            }
            Ok((entries.len(), !entries.is_empty()))
        })
    }

    /// Delete every secret of `stack` (of this store's folder); `true` when there was any.
    pub fn purge_stack(&self, stack: &str) -> Result<bool> {
        self.check_stack(stack)?;
        let path = self.stack_file(stack);
        self.checked_dir()?;
        let _lock = self.lock()?;
        file::remove(&path)
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

    fn lock_shared(&self) -> Result<File> {
        Ok(lock_shared(&self.home.join(LOCK_FILE))?)
    }

    /// The keys as they are on disk now (the store was opened, so the key exists unless
    /// someone removed it).
    fn keys(&self) -> Result<Keys> {
        Keys::read(&self.home)?.ok_or_else(|| {
            let path = self.home.join(KEY_FILE);
            io_err("read", &path)(io::Error::new(
                io::ErrorKind::NotFound,
                "the secret key was removed while devarch was running",
            ))
        })
    }

    /// Read-modify-write `stack`'s file under the lock. `f` returns its result and
    /// whether the map changed; an empty map removes the file.
    fn update<T>(
        &self,
        stack: &str,
        f: impl FnOnce(&Keys, &Path, &mut BTreeMap<String, Entry>) -> Result<(T, bool)>,
    ) -> Result<T> {
        self.checked_dir()?;
        let path = self.stack_file(stack);
        let _lock = self.lock()?;
        let keys = self.keys()?;
        let mut file: StackFile = file::read(&path)?;
        let (out, changed) = f(&keys, &path, &mut file.entries)?;
        if changed {
            file::write(&path, &self.owner, stack, &file.entries)?;
        }
        Ok(out)
    }

    fn encrypt(
        &self,
        keys: &Keys,
        path: &Path,
        stack: &str,
        instance: &str,
        name: &str,
        value: &str,
    ) -> Result<String> {
        seal(
            &keys.current,
            &self.rng,
            path,
            &self.aad(stack, instance, name),
            value,
        )
    }

    fn decrypt(
        &self,
        keys: &Keys,
        path: &Path,
        stack: &str,
        instance: &str,
        name: &str,
        sealed: &str,
    ) -> Result<Secret> {
        let key = entry_key(instance, name);
        open_value(keys, path, &key, &self.aad(stack, instance, name), sealed)
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
        check_stack_name(stack).map_err(|reason| SecretError::InvalidName {
            what: "stack",
            name: stack.to_string(),
            reason,
            path: self.dir(),
        })
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

    /// Associated data binding a ciphertext to its folder, stack, instance and name.
    fn aad(&self, stack: &str, instance: &str, name: &str) -> Vec<u8> {
        aad(&self.owner, stack, instance, name)
    }
}

/// Why `stack` cannot name a secrets file, if it cannot.
fn check_stack_name(stack: &str) -> std::result::Result<(), &'static str> {
    if stack.is_empty() {
        Err("it is empty")
    } else if stack.len() > 128 {
        Err("it is longer than 128 characters")
    } else if stack.starts_with('.') {
        Err("it starts with '.'")
    } else if !stack
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
    {
        Err("use letters, digits, '-', '_' and '.'")
    } else {
        Ok(())
    }
}

/// The entry of a secret in its stack file.
fn entry_key(instance: &str, name: &str) -> String {
    format!("{instance}/{name}")
}

/// Associated data of a value of `owner`'s `stack`.
fn aad(owner: &str, stack: &str, instance: &str, name: &str) -> Vec<u8> {
    length_prefixed(AAD_DOMAIN, &[owner, stack, instance, name])
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

/// Seals `value` under `key` with associated data `aad`: `base64(nonce || ciphertext || tag)`.
fn seal(
    key: &LessSafeKey,
    rng: &SystemRandom,
    path: &Path,
    aad: &[u8],
    value: &str,
) -> Result<String> {
    let random = || SecretError::Random {
        path: path.to_path_buf(),
    };
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| random())?;
    let mut in_out = value.as_bytes().to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut in_out,
    )
    .map_err(|_| random())?;
    let mut out = Vec::with_capacity(NONCE_LEN + in_out.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&in_out);
    Ok(BASE64.encode(out))
}

/// Decrypts the entry `key` of `path` sealed with associated data `aad`, under whichever of
/// `keys` sealed it.
fn open_value(keys: &Keys, path: &Path, key: &str, aad: &[u8], sealed: &str) -> Result<Secret> {
    let malformed = || SecretError::Malformed {
        path: path.to_path_buf(),
        key: key.to_string(),
    };
    let bytes = BASE64.decode(sealed).map_err(|_| malformed())?;
    if bytes.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(malformed());
    }
    for k in keys.all() {
        let mut buf = bytes.clone();
        let nonce = Nonce::try_assume_unique_for_key(&buf[..NONCE_LEN]).map_err(|_| malformed())?;
        let opened = k
            .open_in_place(nonce, Aad::from(aad), &mut buf[NONCE_LEN..])
            .map(|plain| String::from_utf8(plain.to_vec()));
        buf.fill(0);
        match opened {
            Ok(Ok(value)) => return Ok(Secret(value)),
            Ok(Err(_)) => return Err(malformed()),
            Err(_) => continue,
        }
    }
    Err(SecretError::Decrypt {
        path: path.to_path_buf(),
        key: key.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use key::KEY_LEN;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    const STACK: &str = "blog";
    const OWNER: &str = "/work/manifests";
    const PLAIN: &str = "hunter2-very-distinctive-plaintext";

    fn store(home: &Path) -> SecretStore {
        SecretStore::open(home, OWNER).unwrap()
    }

    /// The sealed values of a stack file.
    fn read_json(path: &Path) -> BTreeMap<String, String> {
        let file = file::read(path).unwrap();
        file.entries
            .into_iter()
            .map(|(k, e)| (k, e.sealed))
            .collect()
    }

    /// Writes sealed values in the flat form (as an earlier devarch did).
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
        let listed: Vec<(String, String)> = s
            .list(STACK)
            .unwrap()
            .into_iter()
            .map(|i| (i.instance, i.name))
            .collect();
        assert_eq!(
            listed,
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
        let keys = a.keys().unwrap();
        let aad = legacy_aad(STACK, "db", "password");
        let value = seal(&keys.current, &a.rng, &legacy, &aad, PLAIN).unwrap();
        write_json(
            &legacy,
            &BTreeMap::from([("db/password".to_string(), value)]),
        );

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

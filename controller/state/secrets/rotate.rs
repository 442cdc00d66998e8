//! `devarch secret rotate-key`: re-encrypt every secret under `--home` with a new key.
//!
//! Under the exclusive secrets lock:
//!
//! 1. every value of every file (every manifests folder's, and those from before secrets were
//!    kept per folder) is decrypted; any failure stops here, with nothing changed;
//! 2. the new key is written to `secret.key.next` (or, when an earlier rotation was
//!    interrupted, the one already there is used);
//! 3. each file is rewritten, atomically, with its values sealed under the new key;
//! 4. `secret.key.next` is renamed over `secret.key`.
//!
//! A crash before step 4 leaves both keys on disk, and every reader tries both
//! ([`super::key::Keys`]), so the old key and every value stay usable; running the rotation
//! again finishes it. A crash after step 4 leaves the rotation done.

use std::fs;
use std::path::{Path, PathBuf};

use ring::rand::SystemRandom;

use super::file::{self, Entry};
use super::key::{self, KEY_FILE, Keys, NEXT_KEY_FILE};
use super::{
    LOCK_FILE, Result, SECRETS_DIR, Secret, SecretError, aad, io_err, legacy_aad, open_value, seal,
};
use crate::state::{Home, lock_exclusive, owner_key};

/// What a rotation did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Secrets files rewritten.
    pub files: usize,
    /// Values re-encrypted.
    pub secrets: usize,
    /// An interrupted rotation was finished (its new key kept).
    pub resumed: bool,
    /// There was no key yet, so nothing to rotate.
    pub no_key: bool,
}

/// One secrets file and its values, decrypted.
struct Opened {
    path: PathBuf,
    /// `Some(owner)` for a folder's file, `None` for one from before secrets were kept per
    /// folder.
    owner: Option<String>,
    stack: String,
    values: Vec<(String, Entry, Secret)>,
}

/// Re-encrypts every secret under `home` with a new key. `this_owner` is the manifests
/// folder of the caller: its files written before the folder was recorded in them can be
/// rotated too.
///
/// # Errors
/// A value that does not decrypt, a file of an unknown folder
/// ([`SecretError::UnknownOwner`]), or a file-system error; before step 3 nothing is changed.
pub fn rotate_key(home: &Path, this_owner: &str) -> Result<Rotation> {
    rotate(home, this_owner, usize::MAX)
}

/// [`rotate_key`], stopping (as a crash would) after rewriting `stop_after` files.
fn rotate(home: &Path, this_owner: &str, stop_after: usize) -> Result<Rotation> {
    let checked = Home::open(home)?;
    let _lock = lock_exclusive(&home.join(LOCK_FILE))?;
    let Some(keys) = Keys::read(home)? else {
        return Ok(Rotation {
            no_key: true,
            ..Rotation::default()
        });
    };
    let secrets_dir = checked.dir(&[SECRETS_DIR])?;
    let mut opened = Vec::new();
    for path in files_in(&secrets_dir)? {
        opened.push(open_file(&keys, path, None)?);
    }
    for dir in dirs_in(&secrets_dir)? {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let dir = checked.dir(&[SECRETS_DIR, name])?;
        for path in files_in(&dir)? {
            let owner = (name == owner_key(this_owner)).then_some(this_owner);
            opened.push(open_file(&keys, path, Some((name, owner)))?);
        }
    }
    let rng = SystemRandom::new();
    let resumed = keys.next.is_some();
    let next = match keys.next {
        Some(next) => next,
        None => key::create_key(&home.join(NEXT_KEY_FILE), &rng)?,
    };
    let mut done = Rotation {
        resumed,
        ..Rotation::default()
    };
    for f in &opened {
        if done.files == stop_after {
            return Ok(done);
        }
        let mut entries = std::collections::BTreeMap::new();
        for (k, entry, value) in &f.values {
            let data = entry_aad(f.owner.as_deref(), &f.stack, k);
            let sealed = seal(&next, &rng, &f.path, &data, value.expose())?;
            entries.insert(
                k.clone(),
                Entry {
                    sealed,
                    ..entry.clone()
                },
            );
        }
        match &f.owner {
            Some(owner) => file::write(&f.path, owner, &f.stack, &entries)?,
            None => file::write_flat(&f.path, &entries)?,
        }
        done.files += 1;
        done.secrets += entries.len();
    }
    let (from, to) = (home.join(NEXT_KEY_FILE), home.join(KEY_FILE));
    fs::rename(&from, &to).map_err(io_err("rename", &from))?;
    fs::File::open(home)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync", home))?;
    Ok(done)
}

/// Reads and decrypts one file. `folder` is `(owner key, owner if known)` for a folder's file,
/// `None` for one from before secrets were kept per folder.
fn open_file(keys: &Keys, path: PathBuf, folder: Option<(&str, Option<&str>)>) -> Result<Opened> {
    let stack = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_string();
    let content = file::read(&path)?;
    let owner = match folder {
        None => None,
        Some((dir_key, known)) => {
            let owner = match (content.owner, known) {
                (Some(owner), _) => owner,
                (None, Some(known)) => known.to_string(),
                (None, None) => return Err(SecretError::UnknownOwner { path }),
            };
            if owner_key(&owner) != dir_key {
                return Err(SecretError::Corrupt {
                    path,
                    detail: "the folder it records is not the folder it is kept under".into(),
                });
            }
            Some(owner)
        }
    };
    let mut values = Vec::new();
    for (k, entry) in content.entries {
        let data = entry_aad(owner.as_deref(), &stack, &k);
        let value = open_value(keys, &path, &k, &data, &entry.sealed)?;
        values.push((k, entry, value));
    }
    Ok(Opened {
        path,
        owner,
        stack,
        values,
    })
}

/// The associated data of entry `key` (`instance/name`) of a file of `owner`'s `stack`, or of
/// a file from before secrets were kept per folder (`owner` `None`).
fn entry_aad(owner: Option<&str>, stack: &str, key: &str) -> Vec<u8> {
    let (instance, name) = key.split_once('/').unwrap_or((key, ""));
    match owner {
        Some(owner) => aad(owner, stack, instance, name),
        None => legacy_aad(stack, instance, name),
    }
}

/// The `*.json` files directly in `dir` (not links, not hidden), sorted.
fn files_in(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|(p, t)| t.is_file() && p.extension().is_some_and(|e| e == "json"))
        .map(|(p, _)| p)
        .collect())
}

/// The folders directly in `dir` (not hidden), sorted; links among them are refused later by
/// [`Home::dir`].
fn dirs_in(dir: &Path) -> Result<Vec<PathBuf>> {
    Ok(entries(dir)?
        .into_iter()
        .filter(|(_, t)| !t.is_file())
        .map(|(p, _)| p)
        .collect())
}

fn entries(dir: &Path) -> Result<Vec<(PathBuf, fs::FileType)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
        let entry = entry.map_err(io_err("list", dir))?;
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        let kind = entry
            .file_type()
            .map_err(io_err("inspect", &entry.path()))?;
        if !hidden {
            out.push((entry.path(), kind));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::SecretStore;
    use super::*;

    const PLAIN: &str = "rotation-canary-value";

    fn key_bytes(home: &Path) -> Vec<u8> {
        fs::read(home.join(KEY_FILE)).unwrap()
    }

    #[test]
    fn rotation_re_encrypts_every_folder_and_keeps_every_value() {
        let home = tempfile::tempdir().unwrap();
        let a = SecretStore::open(home.path(), "/work/a").unwrap();
        let b = SecretStore::open(home.path(), "/work/b").unwrap();
        a.set("blog", "db", "password", PLAIN).unwrap();
        let generated = a.get_or_generate("shop", "db", "password").unwrap();
        b.set("blog", "db", "password", "bee").unwrap();
        let before = key_bytes(home.path());
        let sealed_before = fs::read(a.stack_file("blog")).unwrap();

        let done = rotate_key(home.path(), "/work/a").unwrap();
        assert_eq!((done.files, done.secrets, done.resumed), (3, 3, false));
        assert_ne!(key_bytes(home.path()), before);
        assert!(!home.path().join(NEXT_KEY_FILE).exists());
        assert_ne!(fs::read(a.stack_file("blog")).unwrap(), sealed_before);
        assert_eq!(
            a.get("blog", "db", "password").unwrap().unwrap().expose(),
            PLAIN
        );
        assert_eq!(a.get("shop", "db", "password").unwrap().unwrap(), generated);
        assert_eq!(
            b.get("blog", "db", "password").unwrap().unwrap().expose(),
            "bee"
        );
        // Origins survive.
        let listed = a.list("shop").unwrap();
        assert_eq!(listed[0].origin, Some(super::super::Origin::Generated));
        // The old key no longer opens anything: put it back and reads fail.
        fs::write(home.path().join(KEY_FILE), &before).unwrap();
        assert!(matches!(
            a.get("blog", "db", "password").unwrap_err(),
            SecretError::Decrypt { .. }
        ));
    }

    #[test]
    fn an_interrupted_rotation_leaves_everything_usable_and_finishes_when_run_again() {
        let home = tempfile::tempdir().unwrap();
        let s = SecretStore::open(home.path(), "/work/a").unwrap();
        s.set("one", "db", "password", PLAIN).unwrap();
        s.set("two", "db", "password", "second").unwrap();
        let before = key_bytes(home.path());

        let partial = rotate(home.path(), "/work/a", 1).unwrap();
        assert_eq!(partial.files, 1);
        // The crash: the old key is still the key, the new one waits beside it.
        assert_eq!(key_bytes(home.path()), before);
        assert!(home.path().join(NEXT_KEY_FILE).exists());
        let next = fs::read(home.path().join(NEXT_KEY_FILE)).unwrap();
        let reopened = SecretStore::open(home.path(), "/work/a").unwrap();
        assert_eq!(
            reopened
                .get("one", "db", "password")
                .unwrap()
                .unwrap()
                .expose(),
            PLAIN
        );
        assert_eq!(
            reopened
                .get("two", "db", "password")
                .unwrap()
                .unwrap()
                .expose(),
            "second"
        );
        // Writes meanwhile still work (sealed under the old key).
        reopened.set("three", "db", "password", "third").unwrap();

        let done = rotate_key(home.path(), "/work/a").unwrap();
        assert!(done.resumed);
        assert_eq!((done.files, done.secrets), (3, 3));
        assert_eq!(
            key_bytes(home.path()),
            next,
            "the interrupted rotation's key is kept"
        );
        assert!(!home.path().join(NEXT_KEY_FILE).exists());
        for (stack, value) in [("one", PLAIN), ("two", "second"), ("three", "third")] {
            assert_eq!(
                s.get(stack, "db", "password").unwrap().unwrap().expose(),
                value
            );
        }
    }

    #[test]
    fn a_value_that_does_not_decrypt_stops_the_rotation_before_anything_changes() {
        let home = tempfile::tempdir().unwrap();
        let s = SecretStore::open(home.path(), "/work/a").unwrap();
        s.set("blog", "db", "password", PLAIN).unwrap();
        let path = s.stack_file("blog");
        let text = fs::read_to_string(&path).unwrap();
        let tampered = text.replacen("\"sealed\": \"", "\"sealed\": \"AAAA", 1);
        fs::write(&path, &tampered).unwrap();
        let before = key_bytes(home.path());
        let err = rotate_key(home.path(), "/work/a").unwrap_err();
        assert!(err.to_string().contains("db/password"), "{err}");
        assert_eq!(key_bytes(home.path()), before);
        assert!(!home.path().join(NEXT_KEY_FILE).exists());
        assert_eq!(fs::read_to_string(&path).unwrap(), tampered);
    }

    #[test]
    fn a_file_of_an_unknown_folder_from_an_earlier_devarch_is_named() {
        let home = tempfile::tempdir().unwrap();
        let s = SecretStore::open(home.path(), "/work/a").unwrap();
        s.set("blog", "db", "password", PLAIN).unwrap();
        // The flat form an earlier devarch wrote, without the folder.
        let path = s.stack_file("blog");
        let content = file::read(&path).unwrap();
        file::write_flat(&path, &content.entries).unwrap();
        let err = rotate_key(home.path(), "/work/other").unwrap_err();
        assert!(matches!(err, SecretError::UnknownOwner { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()));
        // From its own folder it rotates, and comes out in the current format.
        rotate_key(home.path(), "/work/a").unwrap();
        assert_eq!(file::read(&path).unwrap().owner.as_deref(), Some("/work/a"));
        assert_eq!(
            s.get("blog", "db", "password").unwrap().unwrap().expose(),
            PLAIN
        );
    }
}

/*! Status: per-stack conditions (Ready / Progressing / Degraded) with reason, message and
last transition time, plus the manifest generation last observed and applied.

Persisted under `{home}/status/{owner}/{stack}.json` (owner = hash of the manifests folder),
so `devarch get stacks` / `describe stack` show it from another terminal while `watch` runs.
*/

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Condition types, as in Kubernetes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConditionType {
    /// The stack matches its manifests.
    Ready,
    /// A reconcile is running.
    Progressing,
    /// Something is wrong (invalid manifest, failed apply, conflict).
    Degraded,
}

/// One condition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Which condition.
    #[serde(rename = "type")]
    pub kind: ConditionType,
    /// True or false.
    pub status: bool,
    /// CamelCase reason (`UpToDate`, `Applied`, `ApplyFailed`, `InvalidManifest`, `Conflict`...).
    pub reason: String,
    /// Human message (never holds secret values).
    pub message: String,
    /// Unix seconds of the last change of `status`.
    pub last_transition_time: u64,
}

/// The status of one stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackStatus {
    /// Stack name.
    pub stack: String,
    /// Manifests folder.
    pub owner: String,
    /// Conditions, one per type.
    pub conditions: Vec<Condition>,
    /// Generation (content hash of the resolved manifests) last seen valid.
    pub observed_generation: Option<String>,
    /// Generation last applied successfully.
    pub applied_generation: Option<String>,
    /// Unix seconds of the last reconcile.
    pub last_reconcile_time: u64,
    /// Summary of the last apply (`Plan: 1 to add, ...`).
    pub last_result: Option<String>,
}

/// Now, in Unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl StackStatus {
    /// An empty status for a stack.
    pub fn new(stack: &str, owner: &str) -> Self {
        StackStatus {
            stack: stack.to_string(),
            owner: owner.to_string(),
            ..Default::default()
        }
    }

    /// A condition, if set.
    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// Set a condition; the transition time changes only when `status` flips.
    pub fn set(
        &mut self,
        kind: ConditionType,
        status: bool,
        reason: &str,
        message: impl Into<String>,
    ) {
        let message = message.into();
        let now = now();
        match self.conditions.iter_mut().find(|c| c.kind == kind) {
            Some(c) => {
                if c.status != status {
                    c.last_transition_time = now;
                }
                c.status = status;
                c.reason = reason.to_string();
                c.message = message;
            }
            None => self.conditions.push(Condition {
                kind,
                status,
                reason: reason.to_string(),
                message,
                last_transition_time: now,
            }),
        }
        self.conditions.sort_by_key(|c| c.kind as u8);
    }

    /// One word for listings: `Ready`, `Progressing`, `Degraded` or `Unknown`.
    pub fn summary(&self) -> &'static str {
        let is = |k| self.condition(k).is_some_and(|c| c.status);
        if is(ConditionType::Degraded) {
            "Degraded"
        } else if is(ConditionType::Progressing) {
            "Progressing"
        } else if is(ConditionType::Ready) {
            "Ready"
        } else {
            "Unknown"
        }
    }
}

/// Where the statuses of one manifests folder live.
#[derive(Clone, Debug)]
pub struct StatusStore {
    dir: PathBuf,
    owner: String,
}

impl StatusStore {
    /// The store of `owner` (the manifests folder) under `home`.
    pub fn new(home: &Path, owner: &str) -> Self {
        let h = hex::encode(Sha256::digest(owner.as_bytes()));
        StatusStore {
            dir: home.join("status").join(&h[..16]),
            owner: owner.to_string(),
        }
    }

    fn path(&self, stack: &str) -> PathBuf {
        self.dir.join(format!("{stack}.json"))
    }

    /// Read a stack's status (a fresh one when none is stored or it is unreadable).
    pub fn read(&self, stack: &str) -> StackStatus {
        std::fs::read(self.path(stack))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| StackStatus::new(stack, &self.owner))
    }

    /// Whether a status is stored for `stack`.
    pub fn exists(&self, stack: &str) -> bool {
        self.path(stack).exists()
    }

    /// Store a stack's status atomically.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, status: &StackStatus) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::io::Write::write_all(
            &mut tmp,
            serde_json::to_string_pretty(status)
                .expect("status serializes")
                .as_bytes(),
        )?;
        tmp.persist(self.path(&status.stack)).map_err(|e| e.error)?;
        Ok(())
    }

    /// Forget a stack's status.
    pub fn remove(&self, stack: &str) {
        let _ = std::fs::remove_file(self.path(stack));
    }
}

/// Content hash of a resolved stack: changes when anything that shapes it changes
/// (its manifests, the templates it uses, wiring).
pub fn generation(stack: &crate::resolve::ResolvedStack) -> String {
    let v = serde_json::to_vec(stack).expect("resolved stack serializes");
    hex::encode(Sha256::digest(&v))[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_the_status_flips_and_the_store_round_trips() {
        let home = tempfile::tempdir().unwrap();
        let store = StatusStore::new(home.path(), "/m");
        let mut s = store.read("blog");
        assert_eq!(s.summary(), "Unknown");
        s.set(ConditionType::Ready, true, "UpToDate", "");
        let t = s
            .condition(ConditionType::Ready)
            .unwrap()
            .last_transition_time;
        s.conditions[0].last_transition_time = t - 100;
        s.set(ConditionType::Ready, true, "Applied", "1 to add");
        assert_eq!(
            s.condition(ConditionType::Ready)
                .unwrap()
                .last_transition_time,
            t - 100
        );
        s.set(ConditionType::Degraded, true, "ApplyFailed", "boom");
        assert_eq!(s.summary(), "Degraded");
        store.write(&s).unwrap();
        assert_eq!(store.read("blog"), s);
        assert!(store.exists("blog"));
        store.remove("blog");
        assert!(!store.exists("blog"));
    }
}

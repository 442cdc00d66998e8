/*! Status: per-stack conditions (Ready / Progressing / Degraded) with reason, message and
last transition time, plus the manifest generation last observed and applied.

This module owns the step from what a reconcile came to ([`Outcome`], or its failure) to
conditions: [`StackStatus::record`], [`StackStatus::record_failure`] and the few transient
states in between. Persisted under `{home}/status/{hash}/{stack}.json` ([`StatusStore`]; hash:
16 hex digits of the SHA-256 of the manifests folder's owner label), so `devarch get stacks` /
`describe stack` show it from another terminal while `watch` runs.
*/

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::apply::StepError;
use crate::outcome::Outcome;
use crate::plan::Summary;
use crate::timestamp::Timestamp;

/// Condition types, as in Kubernetes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ConditionType {
    /// The stack matches its manifests.
    Ready,
    /// A reconcile is applying changes.
    Progressing,
    /// Something is wrong (invalid manifest, failed apply, conflict).
    Degraded,
}

/// Why a condition is what it is: CamelCase words, as users see them in `get stacks`,
/// `describe stack` and the status files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ConditionReason {
    /// The engine matched the manifests; nothing was done.
    UpToDate,
    /// Changes are being applied.
    Applying,
    /// Changes were applied.
    Applied,
    /// Some apply steps failed.
    ApplyFailed,
    /// The stack's manifests have errors; it keeps its last good state.
    InvalidManifest,
    /// A name the stack needs is held by an object devarch does not own.
    Conflict,
    /// The stack was left as it is (manifest errors, or removal suspended).
    Skipped,
    /// `--plan-only` found changes it did not apply.
    ChangesPending,
    /// `--plan-only`: plans are shown, never applied.
    PlanOnly,
}

impl ConditionReason {
    /// The word users see (`UpToDate`, `ApplyFailed`...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UpToDate => "UpToDate",
            Self::Applying => "Applying",
            Self::Applied => "Applied",
            Self::ApplyFailed => "ApplyFailed",
            Self::InvalidManifest => "InvalidManifest",
            Self::Conflict => "Conflict",
            Self::Skipped => "Skipped",
            Self::ChangesPending => "ChangesPending",
            Self::PlanOnly => "PlanOnly",
        }
    }
}

impl fmt::Display for ConditionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One condition of a stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StatusCondition {
    /// Which condition (`type` in JSON); at most one of each per stack.
    #[serde(rename = "type")]
    pub kind: ConditionType,
    /// Whether it holds.
    pub status: bool,
    /// Why, as one CamelCase word ([`ConditionReason`]), shown by `describe stack`.
    pub reason: ConditionReason,
    /// Detail for people (a plan summary, error messages); never holds secret values.
    pub message: String,
    /// When `status` last changed (RFC 3339 in JSON).
    #[schema(value_type = String, format = DateTime)]
    pub last_transition_time: Timestamp,
}

/// The status of one stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StackStatus {
    /// Stack name; the status file is `{stack}.json`.
    pub stack: String,
    /// The manifests folder it belongs to (absolute).
    pub owner: String,
    /// Conditions, at most one per type, in type order.
    pub conditions: Vec<StatusCondition>,
    /// Generation (a content hash of the resolved stack) last seen valid.
    pub observed_generation: Option<String>,
    /// Generation last applied successfully (or found up to date).
    pub applied_generation: Option<String>,
    /// When the last reconcile ran (RFC 3339 in JSON).
    #[schema(value_type = String, format = DateTime)]
    pub last_reconcile_time: Timestamp,
    /// Summary of the last apply (`Plan: 1 to add, ...`, or `failed: ...`).
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
    pub fn condition(&self, kind: ConditionType) -> Option<&StatusCondition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// Sets a condition; its transition time changes only when `status` flips.
    pub fn set(
        &mut self,
        kind: ConditionType,
        status: bool,
        reason: ConditionReason,
        message: impl Into<String>,
    ) {
        let message = message.into();
        let now = Timestamp::now();
        match self.conditions.iter_mut().find(|c| c.kind == kind) {
            Some(c) => {
                if c.status != status {
                    c.last_transition_time = now;
                }
                c.status = status;
                c.reason = reason;
                c.message = message;
            }
            None => self.conditions.push(StatusCondition {
                kind,
                status,
                reason,
                message,
                last_transition_time: now,
            }),
        }
        self.conditions.sort_by_key(|c| c.kind as u8);
    }

    /// One word for listings: `Degraded`, `Progressing`, `Ready` or `Unknown`, in that
    /// order of precedence.
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

    /// Records what a reconcile came to. `generation` is the generation of the desired state
    /// it worked from; `manifest_broken` says the stack's manifests are broken right now (it
    /// ran from the last good state), so an `InvalidManifest` degradation stays.
    ///
    /// A removed stack's status is normally dropped by the caller; recorded, it reads as up
    /// to date.
    pub fn record(&mut self, outcome: &Outcome, generation: Option<String>, manifest_broken: bool) {
        use ConditionReason as R;
        use ConditionType::{Degraded, Progressing, Ready};
        self.last_reconcile_time = Timestamp::now();
        if !matches!(outcome, Outcome::Skipped(_)) {
            self.observed_generation = generation.clone();
        }
        match outcome {
            Outcome::UpToDate | Outcome::Removed(_) => {
                self.set(Ready, true, R::UpToDate, "");
                self.set(Progressing, false, R::UpToDate, "");
                let invalid = self
                    .condition(Degraded)
                    .is_some_and(|c| c.status && c.reason == R::InvalidManifest);
                if !(invalid && manifest_broken) {
                    self.set(Degraded, false, R::UpToDate, "");
                }
                if self.applied_generation.is_none() {
                    self.applied_generation = generation;
                }
            }
            Outcome::Applied(summary) => {
                self.set(Progressing, false, R::Applied, "");
                self.set(Ready, true, R::Applied, summary.to_string());
                self.set(Degraded, false, R::Applied, "");
                self.applied_generation = generation;
                self.last_result = Some(summary.to_string());
            }
            Outcome::Conflicts(conflicts) => {
                let message = conflicts
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ");
                self.set(Ready, false, R::Conflict, message.clone());
                self.set(Degraded, true, R::Conflict, message);
                self.set(Progressing, false, R::Conflict, "");
            }
            Outcome::Skipped(why) => self.set(Progressing, false, R::Skipped, why.to_string()),
            Outcome::PlanOnly(summary) => {
                self.set(Ready, false, R::ChangesPending, summary.to_string());
                let message = "watch --plan-only: not applied";
                self.set(Progressing, false, R::PlanOnly, message);
            }
        }
    }

    /// Records that a plan with `summary` is being applied.
    pub fn record_applying(&mut self, summary: &Summary, generation: Option<String>) {
        self.last_reconcile_time = Timestamp::now();
        self.observed_generation = generation;
        let message = summary.to_string();
        self.set(
            ConditionType::Progressing,
            true,
            ConditionReason::Applying,
            message,
        );
    }

    /// Records an apply whose steps `failed` (the rest of its plan ran).
    pub fn record_failure(&mut self, failed: &[StepError]) {
        use ConditionReason::ApplyFailed;
        let message = failed
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        self.set(
            ConditionType::Progressing,
            false,
            ConditionReason::Applied,
            "",
        );
        self.set(ConditionType::Ready, false, ApplyFailed, message.clone());
        self.set(ConditionType::Degraded, true, ApplyFailed, message.clone());
        self.last_result = Some(format!("failed: {message}"));
    }

    /// Records that the stack's manifests are broken (it keeps its last good state).
    pub fn record_invalid_manifest(&mut self, message: impl Into<String>) {
        let reason = ConditionReason::InvalidManifest;
        self.set(ConditionType::Degraded, true, reason, message);
    }
}

/// Where the statuses of one manifests folder live.
#[derive(Clone, Debug)]
pub struct StatusStore {
    home: PathBuf,
    key: String,
    owner: String,
}

impl StatusStore {
    /// The store of `owner` (the manifests folder) under `home`.
    pub fn new(home: &Path, owner: &str) -> Self {
        StatusStore {
            home: home.to_path_buf(),
            key: crate::state::owner_key(owner),
            owner: owner.to_string(),
        }
    }

    fn path(&self, stack: &str) -> PathBuf {
        self.home
            .join(STATUS_DIR)
            .join(&self.key)
            .join(format!("{stack}.json"))
    }

    /// Reads a stack's status (a fresh one when none is stored or it is unreadable, a link
    /// or not the user's).
    pub fn read(&self, stack: &str) -> StackStatus {
        crate::state::home::read_file(&self.path(stack), crate::state::home::STATE_FILE_LIMIT)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_else(|| StackStatus::new(stack, &self.owner))
    }

    /// Whether a status is stored for `stack`.
    pub fn exists(&self, stack: &str) -> bool {
        self.path(stack).exists()
    }

    /// Stores a stack's status atomically.
    ///
    /// # Errors
    /// The home or its `status/` folders failed their checks (wrapped, with its message), or
    /// the I/O error of writing or renaming.
    pub fn write(&self, status: &StackStatus) -> std::io::Result<()> {
        crate::state::Home::open(&self.home)
            .and_then(|h| h.dir(&[STATUS_DIR, self.key.as_str()]))
            .map_err(std::io::Error::other)?;
        crate::safe_fs::write_atomic(
            &self.path(&status.stack),
            serde_json::to_string_pretty(status)
                .expect("status serializes")
                .as_bytes(),
            crate::safe_fs::FileMode::Private,
        )?;
        Ok(())
    }

    /// Forgets a stack's status: removes `{stack}.json` of this folder's status folder, and
    /// nothing else; `true` when there was one. The folders on the way are checked as the home
    /// checks them (never a link; none is created), and the file itself is unlinked, never
    /// followed.
    ///
    /// # Errors
    /// A stack name that is not a DNS label (it could name another path), a folder that fails
    /// the home's checks (wrapped, with its message), or the I/O error of removing the file
    /// (none when there is no file).
    pub fn remove(&self, stack: &str) -> std::io::Result<bool> {
        crate::identity::check_name(crate::identity::NameKind::Stack, stack).map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("status of {e}"))
        })?;
        let dir = self.home.join(STATUS_DIR).join(&self.key);
        match std::fs::symlink_metadata(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
            Ok(_) => {}
        }
        crate::state::Home::open(&self.home)
            .and_then(|h| h.dir(&[STATUS_DIR, self.key.as_str()]))
            .map_err(std::io::Error::other)?;
        match std::fs::remove_file(self.path(stack)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// Folder of the statuses under `--home`.
const STATUS_DIR: &str = "status";

/// Content hash of a resolved stack (16 hex characters): changes when anything that shapes it
/// changes (its manifests, the templates it uses, wiring).
pub fn generation(stack: &crate::resolve::ResolvedStack) -> String {
    let v = serde_json::to_vec(stack).expect("resolved stack serializes");
    hex::encode(Sha256::digest(&v))[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Conflict, ConflictKind};

    #[test]
    fn transition_time_moves_only_when_the_status_flips_and_the_store_round_trips() {
        let home = tempfile::tempdir().unwrap();
        let store = StatusStore::new(home.path(), "/m");
        let mut s = store.read("blog");
        assert_eq!(s.summary(), "Unknown");
        s.set(ConditionType::Ready, true, ConditionReason::UpToDate, "");
        let t = s
            .condition(ConditionType::Ready)
            .unwrap()
            .last_transition_time;
        let earlier = Timestamp::from_unix(t.unix() - 100);
        s.conditions[0].last_transition_time = earlier;
        s.set(
            ConditionType::Ready,
            true,
            ConditionReason::Applied,
            "1 to add",
        );
        assert_eq!(
            s.condition(ConditionType::Ready)
                .unwrap()
                .last_transition_time,
            earlier
        );
        s.set(
            ConditionType::Degraded,
            true,
            ConditionReason::ApplyFailed,
            "boom",
        );
        assert_eq!(s.summary(), "Degraded");
        store.write(&s).unwrap();
        assert_eq!(store.read("blog"), s);
        assert!(store.exists("blog"));
        store.remove("blog").unwrap();
        assert!(!store.exists("blog"));
        store.remove("blog").unwrap();
    }

    #[test]
    fn remove_takes_only_the_stacks_file_and_never_follows_a_link() {
        use std::os::unix::fs::{PermissionsExt, symlink};
        let home = tempfile::tempdir().unwrap();
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let mine = StatusStore::new(home.path(), "/m");
        let other = StatusStore::new(home.path(), "/other");
        assert!(!mine.remove("blog").unwrap(), "nothing stored yet");
        assert!(
            !home.path().join(STATUS_DIR).exists(),
            "removing creates no folder"
        );
        for (store, stack) in [(&mine, "blog"), (&mine, "shop"), (&other, "blog")] {
            store.write(&StackStatus::new(stack, "x")).unwrap();
        }
        assert!(mine.remove("blog").unwrap());
        assert!(!mine.exists("blog"));
        assert!(mine.exists("shop") && other.exists("blog"), "others kept");
        assert!(mine.remove("../other/blog").is_err(), "not a stack name");
        assert!(other.exists("blog"));

        // A status folder that is a link: refused, its target left alone.
        let victim = tempfile::tempdir().unwrap();
        std::fs::write(victim.path().join("shop.json"), "precious").unwrap();
        let dir = home.path().join(STATUS_DIR).join(&mine.key);
        std::fs::remove_dir_all(&dir).unwrap();
        symlink(victim.path(), &dir).unwrap();
        assert!(mine.remove("shop").is_err());
        assert_eq!(
            std::fs::read_to_string(victim.path().join("shop.json")).unwrap(),
            "precious"
        );
    }

    #[test]
    fn times_are_rfc_3339_in_status_files_and_older_files_still_read() {
        let home = tempfile::tempdir().unwrap();
        let store = StatusStore::new(home.path(), "/m");
        let mut s = StackStatus::new("blog", "/m");
        s.record_invalid_manifest("blog.yaml:3:1: error");
        s.last_reconcile_time = Timestamp::from_unix(1_796_533_200);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["lastReconcileTime"], "2026-12-06T05:00:00Z");
        let t = json["conditions"][0]["lastTransitionTime"]
            .as_str()
            .unwrap();
        assert_eq!(
            Timestamp::parse(t).unwrap(),
            s.conditions[0].last_transition_time
        );
        // A status file of an earlier devarch: Unix seconds.
        let mut old = json.clone();
        old["lastReconcileTime"] = 1_796_533_200u64.into();
        old["conditions"][0]["lastTransitionTime"] = 1_796_533_100u64.into();
        let read: StackStatus = serde_json::from_value(old).unwrap();
        assert_eq!(read.last_reconcile_time, s.last_reconcile_time);
        assert_eq!(
            read.conditions[0].last_transition_time.unix(),
            1_796_533_100
        );
        store.write(&s).unwrap();
        assert_eq!(store.read("blog"), s);
    }

    #[test]
    fn reasons_are_stored_as_the_words_users_see() {
        let mut s = StackStatus::new("blog", "/m");
        s.record_invalid_manifest("blog.yaml:3:1: error");
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["conditions"][0]["reason"], "InvalidManifest");
        assert_eq!(
            ConditionReason::ChangesPending.to_string(),
            "ChangesPending"
        );
    }

    #[test]
    fn outcomes_become_conditions() {
        let mut s = StackStatus::new("blog", "/m");
        let summary = Summary {
            add: 1,
            change: 0,
            destroy: 0,
        };
        s.record_applying(&summary, Some("g1".into()));
        assert_eq!(s.summary(), "Progressing");
        s.record(&Outcome::Applied(summary), Some("g1".into()), false);
        assert_eq!(
            (s.summary(), s.applied_generation.as_deref()),
            ("Ready", Some("g1"))
        );
        let conflict = Conflict {
            kind: ConflictKind::Container,
            name: "devarch-blog-db".into(),
            holder: "not created by devarch".into(),
        };
        s.record(
            &Outcome::Conflicts(vec![conflict]),
            Some("g2".into()),
            false,
        );
        assert_eq!(s.summary(), "Degraded");
        let ready = s.condition(ConditionType::Ready).unwrap();
        assert_eq!(ready.reason, ConditionReason::Conflict);
        assert!(
            ready.message.contains("devarch-blog-db"),
            "{}",
            ready.message
        );
        s.record(&Outcome::UpToDate, Some("g2".into()), false);
        assert_eq!(s.summary(), "Ready");
        assert_eq!(
            s.applied_generation.as_deref(),
            Some("g1"),
            "kept when up to date"
        );

        // A broken manifest keeps its degradation while the stack runs on its last good state.
        s.record_invalid_manifest("blog.yaml:3:1: error");
        s.record(&Outcome::UpToDate, Some("g2".into()), true);
        assert_eq!(s.summary(), "Degraded");
        s.record(&Outcome::UpToDate, Some("g2".into()), false);
        assert_eq!(s.summary(), "Ready");

        s.record(&Outcome::PlanOnly(summary), Some("g3".into()), false);
        let ready = s.condition(ConditionType::Ready).unwrap();
        assert_eq!(
            (ready.status, ready.reason),
            (false, ConditionReason::ChangesPending)
        );
    }
}

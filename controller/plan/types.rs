/*! What a plan is made of: operations ([`Op`]), each with a typed reason ([`ActionReason`]),
the names held by objects devarch does not own ([`Conflict`]), and the per-stack plan
([`StackPlan`]) with the counts of its summary line ([`Summary`]). */

use std::fmt;

use serde::{Deserialize, Serialize};

use super::access::HostAccess;
use crate::identity;

/// Why an action is needed. Shown after `#` in the plan and kept in its JSON form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ActionReason {
    /// The object does not exist.
    Missing,
    /// The container's config hash differs from the desired one.
    ConfigChanged {
        /// The fields whose per-field hashes differ (`image`, `env`, `ports`...), sorted;
        /// empty when the container carries no per-field hashes to compare.
        fields: Vec<String>,
        /// Old and new values of the changed fields whose values may be shown (limits).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        changes: Vec<ValueChange>,
    },
    /// The container exists but its process is not up.
    NotRunning {
        /// Its state as the engine spells it (`exited`, `created`...).
        state: String,
    },
    /// The stack has `enabled: false`: its containers are stopped, nothing is deleted.
    StackDisabled,
    /// The container's instance is no longer in the manifests.
    Orphan,
    /// The stack's manifests are gone (or `devarch delete` asked for its removal).
    StackRemoved,
    /// A temporary `_next` container left by an interrupted recreate.
    Leftover,
    /// The container is not attached to its stack network (e.g. the network was recreated).
    Detached,
    /// `--purge-volumes` asked for the stack's named volumes to go too.
    Purge,
}

impl fmt::Display for ActionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("does not exist"),
            Self::ConfigChanged { fields, changes } => {
                let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
                let others: Vec<&str> = fields
                    .iter()
                    .map(String::as_str)
                    .filter(|f| changes.is_empty() || !LIMIT_FIELDS.contains(f))
                    .collect();
                match (shown.is_empty(), others.is_empty()) {
                    (true, true) => f.write_str("config changed"),
                    (true, false) => write!(f, "{} changed", others.join(", ")),
                    (false, true) => f.write_str(&shown.join(", ")),
                    (false, false) => {
                        write!(f, "{}; {} changed", shown.join(", "), others.join(", "))
                    }
                }
            }
            Self::NotRunning { state } => write!(f, "is {state}"),
            Self::StackDisabled => f.write_str("stack is disabled"),
            Self::Orphan => f.write_str("instance is no longer in the manifests"),
            Self::StackRemoved => f.write_str("stack is no longer in the manifests"),
            Self::Leftover => f.write_str("leftover of an interrupted recreate"),
            Self::Detached => f.write_str("not attached to the stack network"),
            Self::Purge => f.write_str("--purge-volumes"),
        }
    }
}

/// The container spec fields (as the per-field hashes name them) that [`ValueChange`]s of
/// limits stand for in a plan.
pub const LIMIT_FIELDS: &[&str] = &["nano_cpus", "memory", "pids_limit"];

/// A changed value a plan shows: `cpus 1 → 2`, `memory none → 512Mi`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueChange {
    /// What changed (`cpus`, `memory`, `pids`).
    pub name: String,
    /// Before; `None`: unset.
    pub old: Option<String>,
    /// After; `None`: unset.
    pub new: Option<String>,
}

impl fmt::Display for ValueChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
        write!(f, "{} {} → {}", self.name, show(&self.old), show(&self.new))
    }
}

/// One engine operation of a plan. The executor runs exactly these and decides nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Op {
    /// Create the stack network.
    CreateNetwork {
        /// Network name (`devarch-{stack}-net`).
        name: String,
    },
    /// Create a named volume.
    CreateVolume {
        /// Volume name (`devarch-{stack}-{instance}-{volume}`).
        name: String,
    },
    /// Create and start an instance's container.
    CreateContainer {
        /// Instance name; its container's name and spec come from the desired state.
        instance: String,
    },
    /// Replace an instance's container: create `{name}_next`, stop and remove the old one,
    /// rename the new one, start it.
    RecreateContainer {
        /// Instance whose container is replaced.
        instance: String,
        /// Engine ID of the container being replaced.
        old_id: String,
    },
    /// Start an existing, stopped container.
    StartContainer {
        /// Instance whose container is started.
        instance: String,
        /// Engine ID of its container.
        id: String,
    },
    /// Stop a running container (disabled stack).
    StopContainer {
        /// Instance whose container is stopped.
        instance: String,
        /// Engine ID of its container.
        id: String,
    },
    /// Attach a container to its stack network again, with its instance alias.
    ConnectNetwork {
        /// Instance whose container is reattached (the instance name is its alias).
        instance: String,
        /// Engine ID of its container.
        id: String,
    },
    /// Stop and remove a container.
    RemoveContainer {
        /// Container name (orphans and leftovers have no instance of the manifests).
        name: String,
        /// Engine ID: what the removal goes by.
        id: String,
    },
    /// Remove the stack network.
    RemoveNetwork {
        /// Network name, for display: the removal goes by `id`.
        name: String,
        /// Engine ID (Docker 20.10 may hold two networks of one name).
        id: String,
    },
    /// Remove a named volume (only with `--purge-volumes`).
    RemoveVolume {
        /// Volume name: a volume's only identity, and what the removal goes by.
        name: String,
    },
}

/// How an operation counts in the summary line, and its Terraform-style symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// `+`: an object is created.
    Add,
    /// `~`: an object is changed in place (started, stopped, reattached).
    Change,
    /// `-/+`: an object is replaced (counts as one add and one destroy).
    Replace,
    /// `-`: an object is removed.
    Destroy,
}

impl ChangeKind {
    /// The symbol shown in front of a plan line.
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::Change => "~",
            Self::Replace => "-/+",
            Self::Destroy => "-",
        }
    }
}

impl Op {
    /// How this operation counts in the summary.
    pub fn change_kind(&self) -> ChangeKind {
        match self {
            Op::CreateNetwork { .. } | Op::CreateVolume { .. } | Op::CreateContainer { .. } => {
                ChangeKind::Add
            }
            Op::RecreateContainer { .. } => ChangeKind::Replace,
            Op::StartContainer { .. } | Op::StopContainer { .. } | Op::ConnectNetwork { .. } => {
                ChangeKind::Change
            }
            Op::RemoveContainer { .. } | Op::RemoveNetwork { .. } | Op::RemoveVolume { .. } => {
                ChangeKind::Destroy
            }
        }
    }

    /// The verb shown after `#` in a plan line (`create`, `recreate`, `start`...).
    pub fn verb(&self) -> &'static str {
        match self {
            Op::CreateNetwork { .. } | Op::CreateVolume { .. } | Op::CreateContainer { .. } => {
                "create"
            }
            Op::RecreateContainer { .. } => "recreate",
            Op::StartContainer { .. } => "start",
            Op::StopContainer { .. } => "stop",
            Op::ConnectNetwork { .. } => "connect",
            Op::RemoveContainer { .. } | Op::RemoveNetwork { .. } | Op::RemoveVolume { .. } => {
                "remove"
            }
        }
    }

    /// The instance a container operation is about (`None` for networks, volumes and
    /// removals of containers by name).
    pub fn instance(&self) -> Option<&str> {
        match self {
            Op::CreateContainer { instance }
            | Op::RecreateContainer { instance, .. }
            | Op::StartContainer { instance, .. }
            | Op::StopContainer { instance, .. }
            | Op::ConnectNetwork { instance, .. } => Some(instance),
            _ => None,
        }
    }
}

/// An operation and why it is needed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// The engine operation.
    #[serde(flatten)]
    pub op: Op,
    /// Why it is needed.
    pub reason: ActionReason,
    /// Extra detail for people (a container's image and host ports); never holds secrets.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// For a container to be created or recreated: its host binds and user, with warnings
    /// for the dangerous ones (engine socket, host root, outside the folder, root).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostAccess>,
}

impl Action {
    /// An action without extra detail.
    pub fn new(op: Op, reason: ActionReason) -> Self {
        Action {
            op,
            reason,
            detail: String::new(),
            host: None,
        }
    }

    /// Terraform-style symbol: `+`, `~`, `-/+` or `-`.
    pub fn symbol(&self) -> &'static str {
        self.op.change_kind().symbol()
    }

    /// The object acted on as (kind, runtime name), e.g. `("container", "devarch-blog-db")`.
    pub fn object(&self, stack: &str) -> (&'static str, String) {
        match &self.op {
            Op::CreateNetwork { name } | Op::RemoveNetwork { name, .. } => {
                ("network", name.clone())
            }
            Op::CreateVolume { name } | Op::RemoveVolume { name } => ("volume", name.clone()),
            Op::RemoveContainer { name, .. } => ("container", name.clone()),
            op => (
                "container",
                identity::container_name(stack, op.instance().unwrap_or_default()),
            ),
        }
    }

    /// [`Self::object`] as one string (`container devarch-blog-db`), as progress shows it.
    pub fn object_label(&self, stack: &str) -> String {
        let (kind, name) = self.object(stack);
        format!("{kind} {name}")
    }
}

/// What kind of thing blocks a stack from being applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ConflictKind {
    /// A container that devarch does not own holds a container name the stack needs.
    Container,
    /// A network that devarch does not own holds the stack network's name.
    Network,
    /// A volume that is not the instance's (another folder's or stack's, or a user's own)
    /// holds the name of one of its named volumes: it is never mounted.
    Volume,
    /// A fixed host port a container to be created needs is held by something else.
    HostPort,
    /// A host name an instance claims is served by another folder's container: the router
    /// never hands it over.
    Domain,
}

/// A name (or host port) the stack needs is held by something that is not ours: the stack
/// cannot be applied, and the holder is never deleted or adopted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// What is held.
    pub kind: ConflictKind,
    /// The object name, or `port/protocol` for a host port.
    pub name: String,
    /// Who holds it, for people ("not created by devarch", "another process on this
    /// machine (needed by instance web)"...).
    pub holder: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ConflictKind::HostPort => {
                return write!(
                    f,
                    "host port {} is in use by {}; free it, or use another port (`host: auto` picks a free one)",
                    self.name, self.holder
                );
            }
            ConflictKind::Volume => {
                return write!(
                    f,
                    "volume {} already exists and is not this stack's ({}); devarch never mounts, deletes or adopts it: rename the stack, instance or volume in the manifests, or remove the volume yourself if its data is not needed",
                    self.name, self.holder
                );
            }
            ConflictKind::Domain => {
                return write!(
                    f,
                    "host name {} is already claimed by {}; devarch never takes it over: choose another name in `domains` (or `defaultDomains: false`), or remove it from the other folder first",
                    self.name, self.holder
                );
            }
            ConflictKind::Container => "container",
            ConflictKind::Network => "network",
        };
        write!(
            f,
            "{kind} {} already exists and is not this stack's ({}); devarch never deletes or adopts it: remove or rename it yourself",
            self.name, self.holder
        )
    }
}

/// The plan of one stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackPlan {
    /// Stack name; a [`PlanFile`] holds its plans sorted by it.
    pub stack: String,
    /// Actions in display order (networks, volumes, containers by name, then removals); the
    /// executor orders them itself.
    pub actions: Vec<Action>,
    /// Names held by foreign objects: a stack with conflicts is not applied at all.
    pub conflicts: Vec<Conflict>,
    /// Fingerprint of the desired and observed state the plan was made from (hex, 32
    /// characters); `apply --plan` refuses a saved plan whose fingerprint no longer matches.
    pub fingerprint: String,
}

impl StackPlan {
    /// Whether applying it would change nothing (and nothing blocks it).
    pub fn is_up_to_date(&self) -> bool {
        self.actions.is_empty() && self.conflicts.is_empty()
    }
}

/// What a plan is asked to do beyond convergence.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlanOptions {
    /// When removing a stack, remove its named volumes too (`--purge-volumes`).
    pub purge_volumes: bool,
}

/// The counts of the `Plan: N to add, N to change, N to destroy.` line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Objects created (a recreate counts once here and once in `destroy`).
    pub add: usize,
    /// Objects changed in place.
    pub change: usize,
    /// Objects removed (a recreate counts once here and once in `add`).
    pub destroy: usize,
}

impl Summary {
    /// Counts the actions of some plans by their [`ChangeKind`].
    pub fn of<'a>(plans: impl IntoIterator<Item = &'a StackPlan>) -> Summary {
        let mut s = Summary::default();
        for a in plans.into_iter().flat_map(|p| &p.actions) {
            match a.op.change_kind() {
                ChangeKind::Add => s.add += 1,
                ChangeKind::Replace => {
                    s.add += 1;
                    s.destroy += 1;
                }
                ChangeKind::Change => s.change += 1,
                ChangeKind::Destroy => s.destroy += 1,
            }
        }
        s
    }

    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.add + self.change + self.destroy == 0
    }

    /// The counts without the leading `Plan: ` (`1 to add, 0 to change, 0 to destroy.`), as
    /// `Apply complete.` and the controller's log show them.
    pub fn counts(&self) -> String {
        format!(
            "{} to add, {} to change, {} to destroy.",
            self.add, self.change, self.destroy
        )
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Plan: {}", self.counts())
    }
}

/// The JSON form of a set of plans: `devarch plan -o json` and the `--out` file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanFile {
    /// Format version (1).
    pub version: u32,
    /// The manifests folder the plan was made for (absolute); applying it elsewhere is
    /// refused.
    pub owner: String,
    /// One plan per stack, by stack name.
    pub stacks: Vec<StackPlan>,
}

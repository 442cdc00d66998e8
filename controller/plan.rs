/*! Plan: a pure diff of desired against observed state, each action with a typed reason.

`plan_stack` decides everything from one snapshot; the executor (`apply`) carries no
decision logic. Output is deterministic (sorted by kind, then name) so a plan can be
compared as text.
*/

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::identity;
use crate::observe::{Labelled, ObservedWorld};
use crate::resolve::desired::DesiredStack;
use crate::runtime::ContainerState;

/// Suffix of the temporary container made during a recreate (`_` never appears in names).
pub const NEXT_SUFFIX: &str = "_next";

/// Why an action is needed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Reason {
    /// The object does not exist.
    Missing,
    /// The container's config hash differs; these fields changed.
    ConfigChanged {
        /// Changed fields (`image`, `env`, `ports`...); empty when unknown.
        fields: Vec<String>,
    },
    /// The container exists but is not running.
    NotRunning {
        /// Its state.
        state: String,
    },
    /// The stack is disabled.
    StackDisabled,
    /// The instance is no longer in the manifests.
    Orphan,
    /// The stack's manifests are gone (or `delete` was asked).
    StackRemoved,
    /// A temporary container left by an interrupted recreate.
    Leftover,
    /// The container is not attached to its stack network.
    Detached,
    /// `--purge-volumes`.
    Purge,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Missing => f.write_str("does not exist"),
            Reason::ConfigChanged { fields } if fields.is_empty() => f.write_str("config changed"),
            Reason::ConfigChanged { fields } => write!(f, "{} changed", fields.join(", ")),
            Reason::NotRunning { state } => write!(f, "is {state}"),
            Reason::StackDisabled => f.write_str("stack is disabled"),
            Reason::Orphan => f.write_str("instance is no longer in the manifests"),
            Reason::StackRemoved => f.write_str("stack is no longer in the manifests"),
            Reason::Leftover => f.write_str("leftover of an interrupted recreate"),
            Reason::Detached => f.write_str("not attached to the stack network"),
            Reason::Purge => f.write_str("--purge-volumes"),
        }
    }
}

/// One engine operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase")]
pub enum Op {
    /// Create the stack network.
    CreateNetwork {
        /// Name.
        name: String,
    },
    /// Create a named volume.
    CreateVolume {
        /// Name.
        name: String,
    },
    /// Create and start an instance's container.
    CreateContainer {
        /// Instance.
        instance: String,
    },
    /// Replace an instance's container (create next, remove old, rename, start).
    RecreateContainer {
        /// Instance.
        instance: String,
        /// ID of the current container.
        old_id: String,
    },
    /// Start a stopped container.
    StartContainer {
        /// Instance.
        instance: String,
        /// Container ID.
        id: String,
    },
    /// Stop a running container.
    StopContainer {
        /// Instance.
        instance: String,
        /// Container ID.
        id: String,
    },
    /// Attach a container to the stack network.
    ConnectNetwork {
        /// Instance.
        instance: String,
        /// Container ID.
        id: String,
    },
    /// Remove a container.
    RemoveContainer {
        /// Container name.
        name: String,
        /// Container ID.
        id: String,
    },
    /// Remove the stack network.
    RemoveNetwork {
        /// Name.
        name: String,
        /// ID.
        id: String,
    },
    /// Remove a named volume.
    RemoveVolume {
        /// Name.
        name: String,
    },
}

/// An operation and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// What.
    #[serde(flatten)]
    pub op: Op,
    /// Why.
    pub reason: Reason,
    /// Extra detail for humans (image, host ports).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

impl Action {
    /// Terraform-style symbol.
    pub fn symbol(&self) -> &'static str {
        match self.op {
            Op::CreateNetwork { .. } | Op::CreateVolume { .. } | Op::CreateContainer { .. } => "+",
            Op::RecreateContainer { .. } => "-/+",
            Op::StartContainer { .. } | Op::StopContainer { .. } | Op::ConnectNetwork { .. } => "~",
            Op::RemoveContainer { .. } | Op::RemoveNetwork { .. } | Op::RemoveVolume { .. } => "-",
        }
    }

    /// (kind, object name) for display.
    pub fn object(&self, stack: &str) -> (&'static str, String) {
        match &self.op {
            Op::CreateNetwork { name } | Op::RemoveNetwork { name, .. } => {
                ("network", name.clone())
            }
            Op::CreateVolume { name } | Op::RemoveVolume { name } => ("volume", name.clone()),
            Op::CreateContainer { instance }
            | Op::RecreateContainer { instance, .. }
            | Op::StartContainer { instance, .. }
            | Op::StopContainer { instance, .. }
            | Op::ConnectNetwork { instance, .. } => {
                ("container", identity::container_name(stack, instance))
            }
            Op::RemoveContainer { name, .. } => ("container", name.clone()),
        }
    }

    fn verb(&self) -> &'static str {
        match self.op {
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
}

/// A name the stack needs is held by something that is not ours.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// `container` or `network`.
    pub kind: String,
    /// The name.
    pub name: String,
    /// Who holds it.
    pub holder: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == "host port" {
            return write!(
                f,
                "host port {} is in use by {}; free it, or use another port (`host: auto` picks a free one)",
                self.name, self.holder
            );
        }
        write!(
            f,
            "{} {} already exists and is not managed by this manifests folder ({}); devarch never deletes or adopts it: remove or rename it yourself",
            self.kind, self.name, self.holder
        )
    }
}

/// The plan of one stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackPlan {
    /// Stack name.
    pub stack: String,
    /// Actions, in execution-independent display order.
    pub actions: Vec<Action>,
    /// Names held by foreign objects: the stack cannot be applied.
    pub conflicts: Vec<Conflict>,
    /// Fingerprint of the desired and observed state this plan was made from.
    pub fingerprint: String,
}

/// What a plan is asked to do beyond convergence.
#[derive(Clone, Copy, Debug, Default)]
pub struct PlanOptions {
    /// Remove the stack's named volumes when removing the stack.
    pub purge_volumes: bool,
}

fn describe_holder(c: &impl Labelled, owner: &str) -> String {
    match (c.is_managed(), c.owner()) {
        (false, _) => "not created by devarch".into(),
        (true, Some(o)) if o != owner => format!("owned by the devarch folder {o}"),
        (true, _) => format!("labelled for stack {:?}", c.stack().unwrap_or("?")),
    }
}

/// Plan one stack that has manifests.
pub fn plan_stack(desired: &DesiredStack, observed: &ObservedWorld, owner: &str) -> StackPlan {
    let stack = &desired.name;
    let mut actions = Vec::new();
    let mut conflicts = Vec::new();

    // Network.
    let nets: Vec<_> = observed.networks_named(&desired.network).collect();
    let ours = nets
        .iter()
        .find(|n| n.is_ours(owner) && n.stack() == Some(stack.as_str()));
    if ours.is_none() {
        if let Some(foreign) = nets.first() {
            conflicts.push(Conflict {
                kind: "network".into(),
                name: desired.network.clone(),
                holder: describe_holder(*foreign, owner),
            });
        } else {
            actions.push(Action {
                op: Op::CreateNetwork {
                    name: desired.network.clone(),
                },
                reason: Reason::Missing,
                detail: String::new(),
            });
        }
    }

    // Volumes.
    for name in desired.volumes.keys() {
        match observed.volume_named(name) {
            None => actions.push(Action {
                op: Op::CreateVolume { name: name.clone() },
                reason: Reason::Missing,
                detail: String::new(),
            }),
            Some(v) if !v.is_ours(owner) => {
                // An existing volume is used as is (data is never touched); note who made it.
                let _ = v;
            }
            Some(_) => {}
        }
    }

    // Containers.
    for (instance, want) in &desired.containers {
        let name = &want.spec.name;
        let detail = container_detail(want);
        match observed.container_named(name) {
            Some(c)
                if !(c.is_ours(owner)
                    && c.stack() == Some(stack.as_str())
                    && c.instance() == Some(instance.as_str())) =>
            {
                conflicts.push(Conflict {
                    kind: "container".into(),
                    name: name.clone(),
                    holder: describe_holder(c, owner),
                });
            }
            None => {
                if desired.enabled {
                    actions.push(Action {
                        op: Op::CreateContainer {
                            instance: instance.clone(),
                        },
                        reason: Reason::Missing,
                        detail,
                    });
                }
            }
            Some(c) => {
                if c.config_hash() != Some(want.config_hash.as_str()) {
                    if desired.enabled {
                        let old = c.config_fields();
                        let mut fields: Vec<String> = want
                            .field_hashes
                            .iter()
                            .filter(|(k, v)| old.get(*k) != Some(*v))
                            .map(|(k, _)| k.clone())
                            .collect();
                        fields.extend(
                            old.keys()
                                .filter(|k| !want.field_hashes.contains_key(*k))
                                .cloned(),
                        );
                        fields.sort();
                        fields.dedup();
                        actions.push(Action {
                            op: Op::RecreateContainer {
                                instance: instance.clone(),
                                old_id: c.id.clone(),
                            },
                            reason: Reason::ConfigChanged { fields },
                            detail,
                        });
                    } else if c.state.is_running() {
                        actions.push(Action {
                            op: Op::StopContainer {
                                instance: instance.clone(),
                                id: c.id.clone(),
                            },
                            reason: Reason::StackDisabled,
                            detail: String::new(),
                        });
                    }
                    continue;
                }
                let running = c.state.is_running();
                if desired.enabled && !running {
                    actions.push(Action {
                        op: Op::StartContainer {
                            instance: instance.clone(),
                            id: c.id.clone(),
                        },
                        reason: Reason::NotRunning {
                            state: state_word(&c.state),
                        },
                        detail: String::new(),
                    });
                } else if !desired.enabled && running {
                    actions.push(Action {
                        op: Op::StopContainer {
                            instance: instance.clone(),
                            id: c.id.clone(),
                        },
                        reason: Reason::StackDisabled,
                        detail: String::new(),
                    });
                }
                if !c.networks.iter().any(|n| n == &desired.network) {
                    // Detached (e.g. the network was removed and is being recreated).
                    actions.push(Action {
                        op: Op::ConnectNetwork {
                            instance: instance.clone(),
                            id: c.id.clone(),
                        },
                        reason: Reason::Detached,
                        detail: String::new(),
                    });
                }
            }
        }
    }

    // Our containers of this stack that are not wanted: orphans and leftovers.
    for c in observed.stack_containers(stack, owner) {
        let wanted = c
            .instance()
            .and_then(|i| desired.containers.get(i))
            .is_some_and(|w| w.spec.name == c.name);
        if wanted {
            continue;
        }
        let reason = if c.name.ends_with(NEXT_SUFFIX) {
            Reason::Leftover
        } else {
            Reason::Orphan
        };
        actions.push(Action {
            op: Op::RemoveContainer {
                name: c.name.clone(),
                id: c.id.clone(),
            },
            reason,
            detail: String::new(),
        });
    }

    for (instance, port, holder) in &desired.busy_ports {
        conflicts.push(Conflict {
            kind: "host port".into(),
            name: port.clone(),
            holder: format!("{holder} (needed by instance {instance})"),
        });
    }

    actions.sort_by_key(|a| sort_key(a, stack));
    let fingerprint = fingerprint(desired, observed, owner);
    StackPlan {
        stack: stack.clone(),
        actions,
        conflicts,
        fingerprint,
    }
}

/// Plan the removal of a stack whose manifests are gone (or that `delete` removes).
pub fn plan_removal(
    stack: &str,
    observed: &ObservedWorld,
    owner: &str,
    opts: PlanOptions,
) -> StackPlan {
    let mut actions = Vec::new();
    for c in observed.stack_containers(stack, owner) {
        actions.push(Action {
            op: Op::RemoveContainer {
                name: c.name.clone(),
                id: c.id.clone(),
            },
            reason: Reason::StackRemoved,
            detail: String::new(),
        });
    }
    for n in observed
        .networks_named(&identity::network_name(stack))
        .filter(|n| n.is_ours(owner))
    {
        actions.push(Action {
            op: Op::RemoveNetwork {
                name: n.name.clone(),
                id: n.id.clone(),
            },
            reason: Reason::StackRemoved,
            detail: String::new(),
        });
    }
    if opts.purge_volumes {
        for v in observed
            .volumes
            .iter()
            .filter(|v| v.is_ours(owner) && v.stack() == Some(stack))
        {
            actions.push(Action {
                op: Op::RemoveVolume {
                    name: v.name.clone(),
                },
                reason: Reason::Purge,
                detail: String::new(),
            });
        }
    }
    actions.sort_by_key(|a| sort_key(a, stack));
    let mut h = Sha256::new();
    h.update(b"removal");
    h.update(stack.as_bytes());
    hash_observed(&mut h, observed, stack, owner);
    StackPlan {
        stack: stack.to_string(),
        actions,
        conflicts: Vec::new(),
        fingerprint: hex::encode(h.finalize())[..32].to_string(),
    }
}

fn state_word(s: &ContainerState) -> String {
    match s {
        ContainerState::Other(o) => o.clone(),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
    }
}

fn container_detail(want: &crate::resolve::desired::DesiredContainer) -> String {
    let mut d = want.spec.image.clone();
    if !want.spec.ports.is_empty() {
        let ports: Vec<String> = want
            .spec
            .ports
            .iter()
            .map(|p| {
                format!(
                    "{}{}->{}/{}",
                    p.host_ip
                        .as_deref()
                        .map(|ip| format!("{ip}:"))
                        .unwrap_or_default(),
                    p.host_port,
                    p.container_port,
                    p.protocol
                )
            })
            .collect();
        d.push_str(&format!(", ports {}", ports.join(" ")));
    }
    d
}

fn sort_key(a: &Action, stack: &str) -> (u8, String) {
    let rank = match a.op {
        Op::CreateNetwork { .. } => 0,
        Op::CreateVolume { .. } => 1,
        Op::RemoveContainer { .. } => 4,
        Op::RemoveNetwork { .. } => 5,
        Op::RemoveVolume { .. } => 6,
        _ => 2,
    };
    (rank, a.object(stack).1)
}

fn hash_observed(h: &mut Sha256, observed: &ObservedWorld, stack: &str, owner: &str) {
    let net = identity::network_name(stack);
    let prefix = format!("{}-{stack}-", identity::NAME_PREFIX);
    for c in observed
        .containers
        .iter()
        .filter(|c| c.name.starts_with(&prefix) || c.stack() == Some(stack))
    {
        h.update(
            format!(
                "c|{}|{}|{:?}|{}|{}|{:?}\n",
                c.name,
                c.id,
                c.state,
                c.config_hash().unwrap_or(""),
                c.is_ours(owner),
                c.networks
            )
            .as_bytes(),
        );
    }
    for n in observed.networks.iter().filter(|n| n.name == net) {
        h.update(format!("n|{}|{}|{}\n", n.name, n.id, n.is_ours(owner)).as_bytes());
    }
    for v in observed
        .volumes
        .iter()
        .filter(|v| v.name.starts_with(&prefix))
    {
        h.update(format!("v|{}\n", v.name).as_bytes());
    }
}

/// Fingerprint of desired + observed state relevant to a stack.
pub fn fingerprint(desired: &DesiredStack, observed: &ObservedWorld, owner: &str) -> String {
    let mut h = Sha256::new();
    h.update(
        format!(
            "stack|{}|{}|{}\n",
            desired.name, desired.enabled, desired.network
        )
        .as_bytes(),
    );
    for v in desired.volumes.keys() {
        h.update(format!("dv|{v}\n").as_bytes());
    }
    for (i, c) in &desired.containers {
        h.update(format!("dc|{i}|{}\n", c.config_hash).as_bytes());
    }
    hash_observed(&mut h, observed, &desired.name, owner);
    hex::encode(h.finalize())[..32].to_string()
}

/// Counts for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Objects created (a recreate counts once here and once in `destroy`).
    pub add: usize,
    /// Objects changed in place.
    pub change: usize,
    /// Objects removed.
    pub destroy: usize,
}

impl Summary {
    /// Count the actions of some plans.
    pub fn of<'a>(plans: impl IntoIterator<Item = &'a StackPlan>) -> Summary {
        let mut s = Summary::default();
        for a in plans.into_iter().flat_map(|p| &p.actions) {
            match a.symbol() {
                "+" => s.add += 1,
                "-/+" => {
                    s.add += 1;
                    s.destroy += 1;
                }
                "~" => s.change += 1,
                _ => s.destroy += 1,
            }
        }
        s
    }

    /// Whether nothing would change.
    pub fn is_empty(&self) -> bool {
        self.add + self.change + self.destroy == 0
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Plan: {} to add, {} to change, {} to destroy.",
            self.add, self.change, self.destroy
        )
    }
}

/// Render plans as Terraform-like text.
pub fn render(plans: &[StackPlan]) -> String {
    let mut out = String::new();
    for p in plans {
        if p.actions.is_empty() && p.conflicts.is_empty() {
            out.push_str(&format!("stack {}: up to date\n", p.stack));
            continue;
        }
        out.push_str(&format!("stack {}:\n", p.stack));
        let rows: Vec<(String, String, String)> = p
            .actions
            .iter()
            .map(|a| {
                let (kind, name) = a.object(&p.stack);
                let detail = if a.detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", a.detail)
                };
                (
                    format!("{:>3} {kind} {name}", a.symbol()),
                    format!("{}: {}", a.verb(), a.reason),
                    detail,
                )
            })
            .collect();
        let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
        for (left, why, detail) in rows {
            out.push_str(&format!("  {left:<w$}   # {why}{detail}\n"));
        }
        for c in &p.conflicts {
            out.push_str(&format!("  error: {c}\n"));
        }
    }
    out.push_str(&format!("\n{}\n", Summary::of(plans)));
    out
}

/// JSON form of a set of plans (also the `--out` file format).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlanFile {
    /// Format version.
    pub version: u32,
    /// Manifests folder the plan was made for.
    pub owner: String,
    /// Plans per stack.
    pub stacks: Vec<StackPlan>,
}

/// Group actions by stack for lookups.
pub fn by_stack(plans: &[StackPlan]) -> BTreeMap<&str, &StackPlan> {
    plans.iter().map(|p| (p.stack.as_str(), p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{
        LABEL_CONFIG_FIELDS, LABEL_CONFIG_HASH, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_OWNER,
        LABEL_STACK,
    };
    use crate::resolve::desired::{DesiredContainer, encode_fields};
    use crate::runtime::{ContainerSpec, ContainerSummary, NetworkSummary, VolumeSummary};

    const OWNER: &str = "/work/manifests";

    fn want(stack: &str, instance: &str, hash: &str, fields: &[(&str, &str)]) -> DesiredContainer {
        DesiredContainer {
            instance: instance.into(),
            spec: ContainerSpec {
                name: identity::container_name(stack, instance),
                image: "busybox:1".into(),
                network: identity::network_name(stack),
                ..Default::default()
            },
            config_hash: hash.into(),
            field_hashes: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            files: vec![],
            depends_on: vec![],
            has_healthcheck: false,
        }
    }

    fn desired(stack: &str, enabled: bool, containers: Vec<DesiredContainer>) -> DesiredStack {
        DesiredStack {
            name: stack.into(),
            enabled,
            network: identity::network_name(stack),
            network_labels: Default::default(),
            volumes: [(
                identity::volume_name(stack, "db", "data"),
                Default::default(),
            )]
            .into(),
            containers: containers
                .into_iter()
                .map(|c| (c.instance.clone(), c))
                .collect(),
            busy_ports: vec![],
        }
    }

    fn labels(
        stack: &str,
        instance: &str,
        hash: &str,
        fields: &[(&str, &str)],
        owner: &str,
    ) -> std::collections::BTreeMap<String, String> {
        let f: std::collections::BTreeMap<String, String> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        [
            (LABEL_MANAGED_BY, "devarch".to_string()),
            (LABEL_OWNER, owner.to_string()),
            (LABEL_STACK, stack.to_string()),
            (LABEL_INSTANCE, instance.to_string()),
            (LABEL_CONFIG_HASH, hash.to_string()),
            (LABEL_CONFIG_FIELDS, encode_fields(&f)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn container(
        name: &str,
        labels: std::collections::BTreeMap<String, String>,
        state: ContainerState,
        networks: &[&str],
    ) -> ContainerSummary {
        ContainerSummary {
            id: format!("id-{name}"),
            name: name.into(),
            image: "busybox:1".into(),
            labels,
            state,
            networks: networks.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn network(stack: &str, owner: &str) -> NetworkSummary {
        let mut l = std::collections::BTreeMap::new();
        l.insert(LABEL_MANAGED_BY.to_string(), "devarch".to_string());
        l.insert(LABEL_OWNER.to_string(), owner.to_string());
        l.insert(LABEL_STACK.to_string(), stack.to_string());
        NetworkSummary {
            id: format!("net-{stack}"),
            name: identity::network_name(stack),
            labels: l,
        }
    }

    fn volume(stack: &str) -> VolumeSummary {
        VolumeSummary {
            name: identity::volume_name(stack, "db", "data"),
            labels: Default::default(),
        }
    }

    #[test]
    fn everything_missing_is_created() {
        let d = desired(
            "blog",
            true,
            vec![
                want("blog", "db", "h1", &[]),
                want("blog", "web", "h2", &[]),
            ],
        );
        let p = plan_stack(&d, &ObservedWorld::default(), OWNER);
        assert_eq!(
            render(&[p]),
            "stack blog:\n    \
               + network devarch-blog-net      # create: does not exist\n    \
               + volume devarch-blog-db-data   # create: does not exist\n    \
               + container devarch-blog-db     # create: does not exist (busybox:1)\n    \
               + container devarch-blog-web    # create: does not exist (busybox:1)\n\
             \nPlan: 4 to add, 0 to change, 0 to destroy.\n"
        );
    }

    #[test]
    fn converged_stack_has_no_actions_and_a_stable_fingerprint() {
        let d = desired("blog", true, vec![want("blog", "db", "h1", &[])]);
        let w = ObservedWorld {
            containers: vec![container(
                "devarch-blog-db",
                labels("blog", "db", "h1", &[], OWNER),
                ContainerState::Running,
                &["devarch-blog-net"],
            )],
            networks: vec![network("blog", OWNER)],
            volumes: vec![volume("blog")],
        };
        let p = plan_stack(&d, &w, OWNER);
        assert!(p.actions.is_empty(), "{:?}", p.actions);
        assert_eq!(
            render(std::slice::from_ref(&p)),
            "stack blog: up to date\n\nPlan: 0 to add, 0 to change, 0 to destroy.\n"
        );
        assert_eq!(p.fingerprint, plan_stack(&d, &w, OWNER).fingerprint);
        let mut w2 = w.clone();
        w2.containers[0].state = ContainerState::Exited;
        assert_ne!(p.fingerprint, plan_stack(&d, &w2, OWNER).fingerprint);
    }

    #[test]
    fn changed_hash_recreates_naming_the_changed_fields_and_stopped_ones_start() {
        let d = desired(
            "blog",
            true,
            vec![
                want("blog", "db", "new", &[("env", "b"), ("image", "x")]),
                want("blog", "web", "h2", &[]),
            ],
        );
        let w = ObservedWorld {
            containers: vec![
                container(
                    "devarch-blog-db",
                    labels("blog", "db", "old", &[("env", "a"), ("image", "x")], OWNER),
                    ContainerState::Running,
                    &["devarch-blog-net"],
                ),
                container(
                    "devarch-blog-web",
                    labels("blog", "web", "h2", &[], OWNER),
                    ContainerState::Exited,
                    &["devarch-blog-net"],
                ),
                container(
                    "devarch-blog-old",
                    labels("blog", "old", "h9", &[], OWNER),
                    ContainerState::Running,
                    &["devarch-blog-net"],
                ),
                container(
                    "devarch-blog-db_next",
                    labels("blog", "db", "new", &[], OWNER),
                    ContainerState::Created,
                    &["devarch-blog-net"],
                ),
            ],
            networks: vec![network("blog", OWNER)],
            volumes: vec![volume("blog")],
        };
        let p = plan_stack(&d, &w, OWNER);
        assert_eq!(
            render(&[p]),
            "stack blog:\n  \
             -/+ container devarch-blog-db        # recreate: env changed (busybox:1)\n    \
               ~ container devarch-blog-web       # start: is exited\n    \
               - container devarch-blog-db_next   # remove: leftover of an interrupted recreate\n    \
               - container devarch-blog-old       # remove: instance is no longer in the manifests\n\
             \nPlan: 1 to add, 1 to change, 3 to destroy.\n"
        );
    }

    #[test]
    fn foreign_objects_holding_our_names_are_conflicts_never_actions() {
        let d = desired("blog", true, vec![want("blog", "db", "h1", &[])]);
        let mut foreign_net = network("blog", "/somewhere/else");
        foreign_net.id = "other".into();
        let w = ObservedWorld {
            containers: vec![container(
                "devarch-blog-db",
                Default::default(),
                ContainerState::Running,
                &[],
            )],
            networks: vec![foreign_net],
            volumes: vec![volume("blog")],
        };
        let p = plan_stack(&d, &w, OWNER);
        assert!(
            p.actions.iter().all(|a| !matches!(
                a.op,
                Op::RemoveContainer { .. } | Op::RemoveNetwork { .. } | Op::CreateNetwork { .. }
            )),
            "{:?}",
            p.actions
        );
        assert_eq!(p.conflicts.len(), 2);
        assert!(
            p.conflicts[0]
                .to_string()
                .contains("owned by the devarch folder /somewhere/else"),
            "{}",
            p.conflicts[0]
        );
        assert!(
            p.conflicts[1]
                .to_string()
                .contains("not created by devarch"),
            "{}",
            p.conflicts[1]
        );
        // A removal plan of the stack never touches foreign objects either.
        let r = plan_removal(
            "blog",
            &w,
            OWNER,
            PlanOptions {
                purge_volumes: true,
            },
        );
        assert!(r.actions.is_empty(), "{:?}", r.actions);
    }

    #[test]
    fn disabled_stack_stops_and_deletes_nothing() {
        let d = desired(
            "blog",
            false,
            vec![
                want("blog", "db", "h1", &[]),
                want("blog", "web", "h2", &[]),
            ],
        );
        let w = ObservedWorld {
            containers: vec![container(
                "devarch-blog-db",
                labels("blog", "db", "h1", &[], OWNER),
                ContainerState::Running,
                &["devarch-blog-net"],
            )],
            networks: vec![network("blog", OWNER)],
            volumes: vec![volume("blog")],
        };
        let p = plan_stack(&d, &w, OWNER);
        assert_eq!(p.actions.len(), 1);
        assert_eq!(p.actions[0].reason, Reason::StackDisabled);
        assert!(matches!(p.actions[0].op, Op::StopContainer { .. }));
    }

    #[test]
    fn removal_keeps_volumes_unless_purged_and_detached_containers_are_reattached() {
        let mut vol = volume("blog");
        vol.labels = labels("blog", "db", "", &[], OWNER);
        let w = ObservedWorld {
            containers: vec![container(
                "devarch-blog-db",
                labels("blog", "db", "h1", &[], OWNER),
                ContainerState::Running,
                &[],
            )],
            networks: vec![network("blog", OWNER)],
            volumes: vec![vol],
        };
        let keep = plan_removal("blog", &w, OWNER, PlanOptions::default());
        assert_eq!(
            Summary::of(std::slice::from_ref(&keep)).to_string(),
            "Plan: 0 to add, 0 to change, 2 to destroy."
        );
        let purge = plan_removal(
            "blog",
            &w,
            OWNER,
            PlanOptions {
                purge_volumes: true,
            },
        );
        assert!(
            purge
                .actions
                .iter()
                .any(|a| matches!(a.op, Op::RemoveVolume { .. }))
        );
        let d = desired("blog", true, vec![want("blog", "db", "h1", &[])]);
        let p = plan_stack(&d, &w, OWNER);
        assert_eq!(p.actions.len(), 1);
        assert_eq!(p.actions[0].reason, Reason::Detached);
    }
}

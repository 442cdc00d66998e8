/*! The diff: desired state against one engine snapshot, for a stack that has manifests
([`plan_stack`]) and for one that is being removed ([`plan_removal`]).

Pure and synchronous: everything is decided from the snapshot, nothing is asked of the
engine. Objects that are not ours (another folder's, or not devarch's at all) are never
acted on; when they hold a name the stack needs they become [`Conflict`]s.
*/

use crate::identity::{self, Labelled, Limits};
use crate::observe::ObservedWorld;
use crate::resolve::desired::{DesiredContainer, DesiredStack};
use crate::runtime::{ContainerState, ContainerSummary};

use super::fingerprint::{fingerprint, removal_fingerprint};
use super::render::container_detail;
use super::types::ValueChange;
use super::{Action, ActionReason, Conflict, ConflictKind, HostAccess, Op, PlanOptions, StackPlan};

/// Plans one stack that has manifests: network, volumes, containers, then the stack's
/// containers that are no longer wanted.
///
/// # Guarantees
/// Deterministic: actions are sorted by kind, then object name. A container, network or
/// volume that holds a needed name but is not ours (labels and owner) is a [`Conflict`], never
/// an action.
pub fn plan_stack(desired: &DesiredStack, observed: &ObservedWorld, owner: &str) -> StackPlan {
    let stack = desired.name.as_str();
    let mut plan = StackPlan {
        stack: stack.to_string(),
        ..StackPlan::default()
    };
    plan_network(desired, observed, owner, &mut plan);
    plan_volumes(desired, observed, owner, &mut plan);
    for (instance, want) in &desired.containers {
        plan_container(desired, instance, want, observed, owner, &mut plan);
    }
    plan_unwanted(desired, observed, owner, &mut plan);
    plan_domains(desired, observed, owner, &mut plan);
    for busy in &desired.busy_ports {
        plan.conflicts.push(Conflict {
            kind: ConflictKind::HostPort,
            name: busy.port.clone(),
            holder: format!("{} (needed by instance {})", busy.holder, busy.instance),
        });
    }
    sort(&mut plan.actions, stack);
    plan.fingerprint = fingerprint(desired, observed, owner);
    plan
}

/// Plans the removal of a stack whose manifests are gone (or that `delete` removes): its
/// containers and network, and its volumes with `purge_volumes`.
pub fn plan_removal(
    stack: &str,
    observed: &ObservedWorld,
    owner: &str,
    opts: PlanOptions,
) -> StackPlan {
    let mut actions = Vec::new();
    for c in observed.stack_containers(stack, owner) {
        let op = Op::RemoveContainer {
            name: c.name.clone(),
            id: c.id.clone(),
        };
        actions.push(Action::new(op, ActionReason::StackRemoved));
    }
    let network = identity::network_name(stack);
    for n in observed
        .networks_named(&network)
        .filter(|n| n.is_ours(owner))
    {
        let op = Op::RemoveNetwork {
            name: n.name.clone(),
            id: n.id.clone(),
        };
        actions.push(Action::new(op, ActionReason::StackRemoved));
    }
    if opts.purge_volumes {
        let volumes = observed.volumes.iter();
        for v in volumes.filter(|v| v.is_ours(owner) && v.stack() == Some(stack)) {
            let op = Op::RemoveVolume {
                name: v.name.clone(),
            };
            actions.push(Action::new(op, ActionReason::Purge));
        }
    }
    sort(&mut actions, stack);
    StackPlan {
        stack: stack.to_string(),
        actions,
        conflicts: Vec::new(),
        fingerprint: removal_fingerprint(stack, observed, owner),
    }
}

/// Host names the stack's instances claim that a container of another folder claims already
/// (names are engine-wide: one router serves every folder). The holder keeps the name,
/// whatever the order of applies; within one folder validation keeps names unique.
fn plan_domains(
    desired: &DesiredStack,
    observed: &ObservedWorld,
    owner: &str,
    plan: &mut StackPlan,
) {
    let mut seen = std::collections::BTreeSet::new();
    for want in desired.containers.values() {
        let Some(names) = want.spec.labels.get(identity::LABEL_DOMAINS) else {
            continue;
        };
        for name in identity::decode_domains(names) {
            let holder = observed.routed.iter().find(|c| {
                c.is_managed()
                    && c.owner() != Some(owner)
                    && !identity::is_next_container_name(&c.name)
                    && c.labels
                        .get(identity::LABEL_DOMAINS)
                        .is_some_and(|d| identity::decode_domains(d).contains(&name))
            });
            if let Some(c) = holder
                && seen.insert(name.clone())
            {
                plan.conflicts.push(Conflict {
                    kind: ConflictKind::Domain,
                    holder: format!("container {} ({})", c.name, describe_holder(c, owner)),
                    name,
                });
            }
        }
    }
}

/// The stack network: ours exists, or it is created, or a foreign one holds its name.
fn plan_network(
    desired: &DesiredStack,
    observed: &ObservedWorld,
    owner: &str,
    plan: &mut StackPlan,
) {
    let mut named = observed.networks_named(&desired.network).peekable();
    let foreign = named.peek().copied();
    if named.any(|n| n.is_ours(owner) && n.stack() == Some(desired.name.as_str())) {
        return;
    }
    match foreign {
        Some(holder) => plan.conflicts.push(Conflict {
            kind: ConflictKind::Network,
            name: desired.network.clone(),
            holder: describe_holder(holder, owner),
        }),
        None => {
            let op = Op::CreateNetwork {
                name: desired.network.clone(),
            };
            plan.actions.push(Action::new(op, ActionReason::Missing));
        }
    }
}

/// The stack's named volumes: ours exist and are used as they are (data is never touched),
/// missing ones are created, and one that holds the name but is not this instance's (another
/// folder's or stack's, or not devarch's at all: a user's own) is a conflict, never mounted.
fn plan_volumes(
    desired: &DesiredStack,
    observed: &ObservedWorld,
    owner: &str,
    plan: &mut StackPlan,
) {
    for (name, labels) in &desired.volumes {
        let Some(v) = observed.volume_named(name) else {
            let op = Op::CreateVolume { name: name.clone() };
            plan.actions.push(Action::new(op, ActionReason::Missing));
            continue;
        };
        let ours = v.is_ours(owner)
            && v.stack() == Some(desired.name.as_str())
            && v.instance() == labels.instance();
        if !ours {
            plan.conflicts.push(Conflict {
                kind: ConflictKind::Volume,
                name: name.clone(),
                holder: describe_holder(v, owner),
            });
        }
    }
}

/// One desired container against what holds its name.
fn plan_container(
    desired: &DesiredStack,
    instance: &str,
    want: &DesiredContainer,
    observed: &ObservedWorld,
    owner: &str,
    plan: &mut StackPlan,
) {
    let name = &want.spec.name;
    let Some(c) = observed.container_named(name) else {
        if desired.enabled {
            let op = Op::CreateContainer {
                instance: instance.to_string(),
            };
            plan.actions.push(Action {
                op,
                reason: ActionReason::Missing,
                detail: container_detail(want),
                host: HostAccess::of(want, owner),
            });
        }
        return;
    };
    let ours = c.is_ours(owner)
        && c.stack() == Some(desired.name.as_str())
        && c.instance() == Some(instance);
    if !ours {
        plan.conflicts.push(Conflict {
            kind: ConflictKind::Container,
            name: name.clone(),
            holder: describe_holder(c, owner),
        });
        return;
    }
    if c.config_hash() != Some(want.config_hash.as_str()) {
        plan.actions
            .extend(changed_container(desired.enabled, instance, want, c, owner));
        return;
    }
    plan.actions.extend(run_state(desired.enabled, instance, c));
    if !c.networks.iter().any(|n| n == &desired.network) {
        // Detached (e.g. the network was removed and is being recreated).
        let op = Op::ConnectNetwork {
            instance: instance.to_string(),
            id: c.id.clone(),
        };
        plan.actions.push(Action::new(op, ActionReason::Detached));
    }
}

/// A container whose config hash changed: recreated when the stack is enabled (naming the
/// changed fields), only stopped when it is disabled.
fn changed_container(
    enabled: bool,
    instance: &str,
    want: &DesiredContainer,
    c: &ContainerSummary,
    owner: &str,
) -> Option<Action> {
    if !enabled {
        return c.state.is_running().then(|| stop(instance, c));
    }
    let old = c.config_fields();
    let mut fields: Vec<String> = want
        .field_hashes
        .iter()
        .filter(|(k, v)| old.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(
            old.keys()
                .filter(|k| !want.field_hashes.contains_key(*k))
                .cloned(),
        )
        .collect();
    fields.sort();
    fields.dedup();
    let op = Op::RecreateContainer {
        instance: instance.to_string(),
        old_id: c.id.clone(),
    };
    // Values are shown only where the old ones are on record (the limits label).
    let changes = c
        .limits()
        .map(|was| {
            Limits::of(&want.spec)
                .changes_from(&was)
                .into_iter()
                .map(|(name, old, new)| ValueChange {
                    name: name.into(),
                    old,
                    new,
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Action {
        op,
        reason: ActionReason::ConfigChanged { fields, changes },
        detail: container_detail(want),
        host: HostAccess::of(want, owner),
    })
}

/// Start an up-to-date container of an enabled stack that is down; stop one of a disabled
/// stack that runs.
fn run_state(enabled: bool, instance: &str, c: &ContainerSummary) -> Option<Action> {
    let running = c.state.is_running();
    if enabled && !running {
        let op = Op::StartContainer {
            instance: instance.to_string(),
            id: c.id.clone(),
        };
        let state = state_word(&c.state);
        return Some(Action::new(op, ActionReason::NotRunning { state }));
    }
    (!enabled && running).then(|| stop(instance, c))
}

fn stop(instance: &str, c: &ContainerSummary) -> Action {
    let op = Op::StopContainer {
        instance: instance.to_string(),
        id: c.id.clone(),
    };
    Action::new(op, ActionReason::StackDisabled)
}

/// Our containers of the stack that no desired container accounts for: orphans (instance
/// gone from the manifests) and leftovers of an interrupted recreate.
fn plan_unwanted(
    desired: &DesiredStack,
    observed: &ObservedWorld,
    owner: &str,
    plan: &mut StackPlan,
) {
    for c in observed.stack_containers(&desired.name, owner) {
        let wanted = c
            .instance()
            .and_then(|i| desired.containers.get(i))
            .is_some_and(|w| w.spec.name == c.name);
        if wanted {
            continue;
        }
        let reason = if identity::is_next_container_name(&c.name) {
            ActionReason::Leftover
        } else {
            ActionReason::Orphan
        };
        let op = Op::RemoveContainer {
            name: c.name.clone(),
            id: c.id.clone(),
        };
        plan.actions.push(Action::new(op, reason));
    }
}

/// Who holds a name we need, for the conflict message.
fn describe_holder(holder: &impl Labelled, owner: &str) -> String {
    match (holder.is_managed(), holder.owner()) {
        (false, _) => "not created by devarch".into(),
        (true, Some(o)) if o != owner => format!("owned by the devarch folder {o}"),
        (true, _) => match (holder.stack(), holder.instance()) {
            (Some(s), Some(i)) => format!("labelled for {s}/{i} of this manifests folder"),
            (s, _) => format!(
                "labelled for stack {} of this manifests folder",
                s.unwrap_or("?")
            ),
        },
    }
}

/// A container state as the engine spells it (`exited`, or whatever unknown word it used).
fn state_word(s: &ContainerState) -> String {
    match s {
        ContainerState::Other(o) => o.clone(),
        other => serde_json::to_value(other)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
    }
}

/// Display order: network, volumes, containers (by name), container removals, network
/// removal, volume removals.
fn sort(actions: &mut [Action], stack: &str) {
    actions.sort_by_key(|a| {
        let rank = match a.op {
            Op::CreateNetwork { .. } => 0,
            Op::CreateVolume { .. } => 1,
            Op::RemoveContainer { .. } => 4,
            Op::RemoveNetwork { .. } => 5,
            Op::RemoveVolume { .. } => 6,
            _ => 2,
        };
        (rank, a.object(stack).1)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{
        LABEL_CONFIG_FIELDS, LABEL_CONFIG_HASH, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_OWNER,
        LABEL_STACK, encode_config_fields,
    };
    use crate::plan::{Summary, render};
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
                volume_labels(stack, OWNER),
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
            (LABEL_CONFIG_FIELDS, encode_config_fields(&f)),
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
            published: Vec::new(),
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

    /// The labels of volume `data` of instance `db`, as devarch creates it.
    fn volume_labels(stack: &str, owner: &str) -> std::collections::BTreeMap<String, String> {
        let mut l = identity::stack_labels(stack, owner);
        l.insert(LABEL_INSTANCE.into(), "db".into());
        l
    }

    /// Volume `data` of instance `db`, ours.
    fn volume(stack: &str) -> VolumeSummary {
        VolumeSummary {
            name: identity::volume_name(stack, "db", "data"),
            labels: volume_labels(stack, OWNER),
        }
    }

    /// The plan of stack blog (instance db wanting volume `devarch-blog-db-data`) when the
    /// engine holds that volume with `labels`.
    fn plan_with_volume(labels: std::collections::BTreeMap<String, String>) -> StackPlan {
        let d = desired("blog", true, vec![want("blog", "db", "h1", &[])]);
        let mut vol = volume("blog");
        vol.labels = labels;
        let w = ObservedWorld {
            networks: vec![network("blog", OWNER)],
            volumes: vec![vol],
            ..Default::default()
        };
        plan_stack(&d, &w, OWNER)
    }

    #[test]
    fn our_volume_is_used_as_it_is() {
        let p = plan_with_volume(volume_labels("blog", OWNER));
        assert!(p.conflicts.is_empty(), "{:?}", p.conflicts);
        assert_creates_no_volume(&p);
    }

    fn assert_creates_no_volume(p: &StackPlan) {
        assert!(
            !p.actions
                .iter()
                .any(|a| matches!(a.op, Op::CreateVolume { .. })),
            "{:?}",
            p.actions
        );
    }

    #[test]
    fn a_volume_of_another_folder_holding_our_volume_name_is_a_conflict_never_mounted() {
        let p = plan_with_volume(volume_labels("blog", "/somewhere/else"));
        assert_eq!(
            render(std::slice::from_ref(&p)),
            "stack blog:\n    \
               + container devarch-blog-db   # create: does not exist (busybox:1)\n  \
             error: volume devarch-blog-db-data already exists and is not this stack's \
             (owned by the devarch folder /somewhere/else); devarch never mounts, deletes or \
             adopts it: rename the stack, instance or volume in the manifests, or remove the \
             volume yourself if its data is not needed\n\
             \nPlan: 1 to add, 0 to change, 0 to destroy.\n"
        );
        assert_eq!(p.conflicts[0].kind, ConflictKind::Volume);
        assert!(!p.is_up_to_date(), "a stack with a conflict is not applied");
        let ours = plan_with_volume(volume_labels("blog", OWNER));
        assert_ne!(p.fingerprint, ours.fingerprint, "a saved plan goes stale");
    }

    #[test]
    fn a_users_own_volume_or_one_of_another_stack_or_instance_is_a_conflict() {
        let mut other_stack = volume_labels("blog", OWNER);
        other_stack.insert(LABEL_STACK.into(), "blo".into());
        let mut other_instance = volume_labels("blog", OWNER);
        other_instance.insert(LABEL_INSTANCE.into(), "db-data".into());
        let mut unmanaged = volume_labels("blog", OWNER);
        unmanaged.remove(LABEL_MANAGED_BY);
        for (labels, holder) in [
            (Default::default(), "not created by devarch"),
            (unmanaged, "not created by devarch"),
            (other_stack, "labelled for blo/db of this manifests folder"),
            (
                other_instance,
                "labelled for blog/db-data of this manifests folder",
            ),
        ] {
            let p = plan_with_volume(labels);
            assert_eq!(
                p.conflicts,
                [Conflict {
                    kind: ConflictKind::Volume,
                    name: "devarch-blog-db-data".into(),
                    holder: holder.into(),
                }]
            );
            assert_creates_no_volume(&p);
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
            routed: Vec::new(),
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
    fn changed_limits_show_old_and_new_values() {
        let mut db = want(
            "blog",
            "db",
            "new",
            &[("env", "b"), ("memory", "m2"), ("nano_cpus", "c2")],
        );
        db.spec.nano_cpus = Some(2_000_000_000);
        db.spec.memory = Some(512 << 20);
        let d = desired("blog", true, vec![db]);
        let mut was = labels(
            "blog",
            "db",
            "old",
            &[("env", "a"), ("memory", "m1"), ("nano_cpus", "c1")],
            OWNER,
        );
        was.insert(identity::LABEL_LIMITS.into(), "cpus=0.5".into());
        let container_was = |labels| ObservedWorld {
            containers: vec![container(
                "devarch-blog-db",
                labels,
                ContainerState::Running,
                &["devarch-blog-net"],
            )],
            networks: vec![network("blog", OWNER)],
            volumes: vec![volume("blog")],
            routed: Vec::new(),
        };
        let p = plan_stack(&d, &container_was(was.clone()), OWNER);
        let reason = p.actions[0].reason.to_string();
        assert_eq!(
            reason, "cpus 0.5 → 2, memory none → 512Mi; env changed",
            "{p:?}"
        );
        let json = serde_json::to_value(&p.actions[0].reason).unwrap();
        assert_eq!(json["changes"][0]["old"], "0.5");
        assert_eq!(json["changes"][1]["new"], "512Mi");
        // A container without the label (an earlier devarch's): field names only.
        was.remove(identity::LABEL_LIMITS);
        let p = plan_stack(&d, &container_was(was), OWNER);
        assert_eq!(
            p.actions[0].reason.to_string(),
            "env, memory, nano_cpus changed"
        );
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
            routed: Vec::new(),
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
            volumes: vec![VolumeSummary {
                labels: Default::default(),
                ..volume("blog")
            }],
            routed: Vec::new(),
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
        assert_eq!(p.conflicts.len(), 3);
        assert!(
            p.conflicts[0]
                .to_string()
                .contains("owned by the devarch folder /somewhere/else"),
            "{}",
            p.conflicts[0]
        );
        for c in &p.conflicts[1..] {
            assert!(c.to_string().contains("not created by devarch"), "{c}");
        }
        let kinds: Vec<ConflictKind> = p.conflicts.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                ConflictKind::Network,
                ConflictKind::Volume,
                ConflictKind::Container
            ]
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
            routed: Vec::new(),
        };
        let p = plan_stack(&d, &w, OWNER);
        assert_eq!(p.actions.len(), 1);
        assert_eq!(p.actions[0].reason, ActionReason::StackDisabled);
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
            routed: Vec::new(),
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
        assert_eq!(p.actions[0].reason, ActionReason::Detached);
    }

    #[test]
    fn a_host_name_another_folder_serves_is_a_conflict_naming_the_holder() {
        let mut web = want("blog", "web", "h1", &[]);
        web.spec
            .labels
            .insert(identity::LABEL_DOMAINS.into(), "app.localhost".into());
        let d = desired("blog", true, vec![web]);
        let mut theirs = labels("shop", "web", "h9", &[], "/their/folder");
        theirs.insert(
            identity::LABEL_DOMAINS.into(),
            "app.localhost,x.localhost".into(),
        );
        let holder = container(
            "devarch-shop-web",
            theirs,
            ContainerState::Running,
            &["devarch-shop-net"],
        );
        let mut w = ObservedWorld {
            routed: vec![holder.clone()],
            ..ObservedWorld::default()
        };
        let p = plan_stack(&d, &w, OWNER);
        assert_eq!(p.conflicts.len(), 1, "{:?}", p.conflicts);
        assert_eq!(p.conflicts[0].kind, ConflictKind::Domain);
        assert_eq!(p.conflicts[0].name, "app.localhost");
        let text = p.conflicts[0].to_string();
        assert!(
            text.contains("devarch-shop-web") && text.contains("/their/folder"),
            "{text}"
        );
        assert!(!p.is_up_to_date());

        // The same name on a container of this folder (another stack, being renamed or
        // removed in the same pass) is not a conflict: validation keeps names unique here.
        let mut ours = holder;
        ours.labels.insert(LABEL_OWNER.into(), OWNER.into());
        w.routed = vec![ours];
        assert!(plan_stack(&d, &w, OWNER).conflicts.is_empty());
    }
}

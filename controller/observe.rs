/*! Observe: one snapshot of the engine (three list calls, whatever the number of objects),
or of the few stacks a pass is about ([`observe_stacks`]), then per-stack views keyed like the
desired state. No decisions here. */

use std::collections::BTreeMap;

use crate::identity::{self, Labelled, OBJECT_PREFIX, ROUTER_NAME};
use crate::runtime::{ContainerSummary, NetworkSummary, Result, Runtime, VolumeSummary};

/// Everything named `devarch-*` on the engine.
#[derive(Clone, Debug, Default)]
pub struct ObservedWorld {
    /// Containers, sorted by name.
    pub containers: Vec<ContainerSummary>,
    /// Networks, sorted by name then ID.
    pub networks: Vec<NetworkSummary>,
    /// Volumes, sorted by name.
    pub volumes: Vec<VolumeSummary>,
    /// Every container on the engine that claims host names for the router
    /// ([`identity::LABEL_DOMAINS`]), whatever its stack or folder: a name is engine-wide.
    pub routed: Vec<ContainerSummary>,
}

/// Longest wait for the three list calls of a snapshot.
pub const OBSERVE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Take a snapshot: exactly three engine calls.
///
/// # Errors
/// The engine's error.
pub async fn observe(rt: &dyn Runtime) -> Result<ObservedWorld> {
    // On a remote engine every container is listed, devarch's or not: the host ports they
    // publish are the taken ones there (this machine's kernel knows nothing of them).
    let containers = if rt.engine().remote {
        ""
    } else {
        OBJECT_PREFIX
    };
    let lists = async {
        tokio::try_join!(
            rt.list_containers(containers),
            rt.list_networks(OBJECT_PREFIX),
            rt.list_volumes(OBJECT_PREFIX)
        )
    };
    // A wedged engine (seen: Docker 20.10's network list under heavy churn) must not hang
    // every command: give up with a clear error instead.
    let (containers, networks, volumes) = tokio::time::timeout(OBSERVE_TIMEOUT, lists)
        .await
        .map_err(|_| timed_out(rt))??;
    let routed = containers
        .iter()
        .filter(|c| c.labels.contains_key(identity::LABEL_DOMAINS))
        .cloned()
        .collect();
    let mut w = ObservedWorld {
        containers,
        networks,
        volumes,
        routed,
    };
    w.containers.sort_by(|a, b| a.name.cmp(&b.name));
    w.networks
        .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    w.volumes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(w)
}

/// Most stacks [`observe_stacks`] lists by name; more are cheaper in one [`observe`].
pub const MAX_SCOPED_STACKS: usize = 3;

/// A snapshot of what `stacks` can own or collide with: every object named
/// `devarch-{stack}-…` (the names devarch gives a stack's objects, whoever holds them now), and
/// the router. Its cost follows the stacks, not the engine: in a 100-stack folder (500
/// containers) one stack's is 5 small lists (its containers, networks and volumes, the router, and the
/// containers that claim host names anywhere) where [`observe`] reads all 500 containers (206 ms
/// on Podman). Everything else on the engine is left out, so it serves a pass over these
/// stacks only. Falls back to [`observe`] for more than [`MAX_SCOPED_STACKS`] stacks, none,
/// or a remote engine (whose every published port matters).
///
/// # Errors
/// As [`observe`].
pub async fn observe_stacks(rt: &dyn Runtime, stacks: &[String]) -> Result<ObservedWorld> {
    if stacks.is_empty() || stacks.len() > MAX_SCOPED_STACKS || rt.engine().remote {
        return observe(rt).await;
    }
    let prefixes: Vec<String> = stacks.iter().map(|s| identity::stack_prefix(s)).collect();
    let lists = async {
        let per_stack = prefixes.iter().map(|p| async move {
            tokio::try_join!(
                rt.list_containers(p),
                rt.list_networks(p),
                rt.list_volumes(p)
            )
        });
        tokio::try_join!(
            futures_util::future::try_join_all(per_stack),
            rt.list_containers(ROUTER_NAME),
            rt.list_labelled_containers(OBJECT_PREFIX, identity::LABEL_DOMAINS)
        )
    };
    let (per_stack, router, routed) = tokio::time::timeout(OBSERVE_TIMEOUT, lists)
        .await
        .map_err(|_| timed_out(rt))??;
    let mut w = ObservedWorld {
        routed,
        ..ObservedWorld::default()
    };
    for (containers, networks, volumes) in per_stack {
        w.containers.extend(containers);
        w.networks.extend(networks);
        w.volumes.extend(volumes);
    }
    w.containers
        .extend(router.into_iter().filter(|c| c.name == ROUTER_NAME));
    // One stack's name may start with another's (`blog`, `blog-x`): the same object twice.
    w.containers
        .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    w.containers.dedup_by(|a, b| a.id == b.id);
    w.networks
        .sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    w.networks.dedup_by(|a, b| a.id == b.id);
    w.volumes.sort_by(|a, b| a.name.cmp(&b.name));
    w.volumes.dedup_by(|a, b| a.name == b.name);
    w.routed.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(w)
}

/// The error of a snapshot that took longer than [`OBSERVE_TIMEOUT`].
fn timed_out(rt: &dyn Runtime) -> crate::runtime::RuntimeError {
    crate::runtime::RuntimeError::Api {
        operation: format!(
            "listing containers, networks and volumes on {}",
            rt.engine().endpoint
        ),
        status: None,
        message: format!(
            "the engine did not answer within {}s",
            OBSERVE_TIMEOUT.as_secs()
        ),
    }
}

impl Labelled for ContainerSummary {
    fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
}
impl Labelled for NetworkSummary {
    fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
}
impl Labelled for VolumeSummary {
    fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }
}

impl ObservedWorld {
    /// The container with exactly this name.
    pub fn container_named(&self, name: &str) -> Option<&ContainerSummary> {
        self.containers.iter().find(|c| c.name == name)
    }

    /// Our containers of a stack (any name, including leftovers).
    pub fn stack_containers<'a>(
        &'a self,
        stack: &'a str,
        owner: &'a str,
    ) -> impl Iterator<Item = &'a ContainerSummary> + 'a {
        self.containers
            .iter()
            .filter(move |c| c.is_ours(owner) && c.stack() == Some(stack))
    }

    /// Networks with exactly this name (Docker 20.10 may hold several).
    pub fn networks_named<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a NetworkSummary> + 'a {
        self.networks.iter().filter(move |n| n.name == name)
    }

    /// The volume with exactly this name.
    pub fn volume_named(&self, name: &str) -> Option<&VolumeSummary> {
        self.volumes.iter().find(|v| v.name == name)
    }

    /// Names of the stacks that have objects owned by `owner`.
    pub fn owned_stacks(&self, owner: &str) -> std::collections::BTreeSet<String> {
        let c = self
            .containers
            .iter()
            .filter(|c| c.is_ours(owner))
            .filter_map(|c| c.stack());
        let n = self
            .networks
            .iter()
            .filter(|n| n.is_ours(owner))
            .filter_map(|n| n.stack());
        c.chain(n).map(str::to_string).collect()
    }

    /// The stacks (of the manifests folder `owner`) that have named volumes: kept after the
    /// rest of a stack is gone, so they count only for a purge.
    pub fn stacks_with_volumes(&self, owner: &str) -> std::collections::BTreeSet<String> {
        self.volumes
            .iter()
            .filter(|v| v.is_ours(owner))
            .filter_map(|v| v.stack())
            .map(str::to_string)
            .collect()
    }
}

/// Why [`select_containers`] found nothing to act on.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// The stack has no containers.
    #[error(
        "stack {stack:?} has no containers on {engine} (apply it first: `devarch apply {stack}`)"
    )]
    NoContainers {
        /// The stack.
        stack: String,
        /// The engine's kind.
        engine: String,
    },
    /// An instance named has no container.
    #[error("stack {stack:?} has no container for instance {instance:?} (instances with containers: {})", .have.join(", "))]
    NoInstance {
        /// The stack.
        stack: String,
        /// The instance.
        instance: String,
        /// Instances that have one.
        have: Vec<String>,
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] crate::runtime::RuntimeError),
}

/// The containers of `stack` on the engine that `ctx`'s folder owns, by instance (temporary
/// `_next` containers of a recreate left out).
///
/// # Errors
/// The engine's error.
pub async fn instance_containers(
    ctx: &crate::reconcile::Context<'_>,
    stack: &str,
) -> Result<BTreeMap<String, ContainerSummary>> {
    let prefix = format!("{OBJECT_PREFIX}{stack}-");
    let listed = ctx.runtime.list_containers(&prefix).await?;
    Ok(listed
        .into_iter()
        .filter(|c| c.is_ours(&ctx.owner) && c.stack() == Some(stack))
        .filter_map(|c| {
            let instance = c.instance()?.to_string();
            (c.name == crate::identity::container_name(stack, &instance)).then_some((instance, c))
        })
        .collect())
}

/// The containers of `instances` (all when empty) of `stack`, by instance (what logs, exec
/// and restart act on).
///
/// # Errors
/// [`SelectError`]: no containers, or an instance without one, naming what there is.
pub async fn select_containers(
    ctx: &crate::reconcile::Context<'_>,
    stack: &str,
    instances: &[String],
) -> std::result::Result<Vec<(String, ContainerSummary)>, SelectError> {
    let mut all = instance_containers(ctx, stack).await?;
    if all.is_empty() {
        return Err(SelectError::NoContainers {
            stack: stack.to_string(),
            engine: ctx.runtime.engine().kind.to_string(),
        });
    }
    if instances.is_empty() {
        return Ok(all.into_iter().collect());
    }
    let have: Vec<String> = all.keys().cloned().collect();
    let mut out = Vec::new();
    for name in instances {
        match all.remove(name) {
            Some(c) => out.push((name.clone(), c)),
            None if out.iter().any(|(n, _)| n == name) => {}
            None => {
                return Err(SelectError::NoInstance {
                    stack: stack.to_string(),
                    instance: name.clone(),
                    have,
                });
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::ContainerSpec;
    use crate::runtime::fake::FakeRuntime;

    #[tokio::test]
    async fn a_scoped_snapshot_holds_the_stacks_names_and_the_router_only() {
        let rt = FakeRuntime::new();
        for (stack, instance) in [("blog", "web"), ("blog-x", "web"), ("shop", "web")] {
            let net = identity::network_name(stack);
            rt.create_network(&net, &BTreeMap::new()).await.unwrap();
            let spec = ContainerSpec {
                name: identity::container_name(stack, instance),
                network: net,
                ..ContainerSpec::default()
            };
            rt.create_container(&spec).await.unwrap();
            rt.create_volume(
                &identity::volume_name(stack, instance, "data"),
                &BTreeMap::new(),
            )
            .await
            .unwrap();
        }
        let router = ContainerSpec {
            name: ROUTER_NAME.into(),
            ..ContainerSpec::default()
        };
        rt.create_container(&router).await.unwrap();

        let w = observe_stacks(&rt, &["blog".to_string()]).await.unwrap();
        let names = |v: Vec<&str>| v.join(" ");
        // `blog-x` shares the prefix `devarch-blog-`: listed, once; `shop` is not.
        assert_eq!(
            names(w.containers.iter().map(|c| c.name.as_str()).collect()),
            "devarch-blog-web devarch-blog-x-web devarch-router"
        );
        assert_eq!(
            names(w.networks.iter().map(|n| n.name.as_str()).collect()),
            "devarch-blog-net devarch-blog-x-net"
        );
        assert_eq!(w.volumes.len(), 2, "{:?}", w.volumes);

        // Four stacks are more than a scoped snapshot serves: the whole engine.
        let many: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let all = observe_stacks(&rt, &many).await.unwrap();
        assert_eq!(all.containers.len(), 4);
    }
}

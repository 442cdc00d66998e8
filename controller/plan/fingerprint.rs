/*! Fingerprints: a hash of the desired and observed state a plan was made from, per stack.

`plan --out` saves it; `apply --plan` re-plans under the stack's lock and refuses the saved
plan when the fingerprint differs ("plan is stale"). Only state that can change the plan goes
in: the stack's desired network, volumes and container hashes, and the engine's objects named
for the stack or labelled with it.
*/

use sha2::{Digest, Sha256};

use crate::identity::{self, Labelled};
use crate::observe::ObservedWorld;
use crate::resolve::desired::DesiredStack;

/// Fingerprint of a stack that has manifests: its desired state and what the engine holds
/// for it (32 hex characters).
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

/// Fingerprint of a stack being removed: what the engine holds for it.
pub fn removal_fingerprint(stack: &str, observed: &ObservedWorld, owner: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"removal");
    h.update(stack.as_bytes());
    hash_observed(&mut h, observed, stack, owner);
    hex::encode(h.finalize())[..32].to_string()
}

/// Feeds the engine objects relevant to `stack` into `h`: containers and volumes named
/// `devarch-{stack}-…` or labelled for the stack (volumes with their ownership, which decides
/// conflicts), and the stack network by name.
fn hash_observed(h: &mut Sha256, observed: &ObservedWorld, stack: &str, owner: &str) {
    let net = identity::network_name(stack);
    let prefix = identity::stack_prefix(stack);
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
        h.update(
            format!(
                "v|{}|{}|{:?}|{:?}\n",
                v.name,
                v.is_ours(owner),
                v.stack(),
                v.instance()
            )
            .as_bytes(),
        );
    }
}

/*! Allocate: the one planning stage that reads and writes state under `--home`.

It decides, for a resolved stack, the values that do not come from the manifests:

- secret values ([`SecretStore`]): read, or generated and stored on first use when the
  reference says `generate: true`;
- host ports ([`PortStore`], whose lock the caller holds): the recorded port of each
  `host: auto` port, or a new free one; and whether a fixed port that a container still to be
  created needs is held by something else (a plan conflict, not an error).

What it decides comes out as [`Bindings`], which the pure desired-state build
([`crate::resolve::desired::build`]) takes.
*/

use std::collections::{BTreeMap, HashSet};

use crate::manifests::types::{EnvValue, HostPort, PortSpec, Protocol};
use crate::resolve::desired::{Bindings, BusyPort};
use crate::resolve::{EffectiveInstance, EnvPart, ResolvedStack};
use crate::state::ports::{PortError, PortStore};
use crate::state::secrets::{SecretError, SecretStore};

/// Allocating a stack's secrets or host ports failed.
#[derive(Debug, thiserror::Error)]
pub enum AllocateError {
    /// A referenced secret has no value and may not be generated.
    #[error(
        "secret {name:?} of instance {instance:?} in stack {stack:?} is not set; set it with `devarch secret set {stack} {instance}/{name}` (value on stdin)"
    )]
    MissingSecret {
        /// Stack the instance belongs to.
        stack: String,
        /// Instance owning the secret.
        instance: String,
        /// Secret name, as the `secret:` reference writes it.
        name: String,
    },
    /// The secret store failed (its error names the file).
    #[error(transparent)]
    Secrets(#[from] SecretError),
    /// The host port store failed (its error names the file).
    #[error(transparent)]
    Ports(#[from] PortError),
}

/// What allocation needs besides the stack.
pub struct Allocation<'a> {
    /// The manifests folder (owner label) the stack belongs to: host ports are recorded per
    /// folder and stack.
    pub owner: &'a str,
    /// The secret store of `--home`, of the folder `owner`.
    pub secrets: &'a SecretStore,
    /// The host port records, loaded under their lock.
    pub ports: &'a mut PortStore,
    /// Fixed host ports of every stack in the folder: never picked for `host: auto`.
    pub fixed_in_use: &'a HashSet<u16>,
    /// Instances whose containers exist on the engine: their host ports are theirs already.
    pub existing: &'a HashSet<String>,
    /// The caller holds the stack's lock and observed the engine after taking it, so a
    /// recorded `auto` port that something else took meanwhile may be replaced. Without the
    /// lock the observation may be older than a container another apply just started on
    /// that port, so the recorded port is kept (the apply that follows decides).
    pub repick_busy: bool,
    /// `None`: the engine publishes on this machine, whose kernel says which ports are free.
    /// A remote engine's ports are not this machine's: then the host ports its running
    /// containers publish (from the observation) are the ones taken.
    pub engine_ports: Option<&'a HashSet<(u16, Protocol)>>,
}

impl Allocation<'_> {
    /// Whether host port `port` is free where the engine publishes.
    fn is_free(&self, port: u16, proto: Protocol) -> bool {
        port_free(self.engine_ports, port, proto)
    }
}

/// Whether `port` is free: in this machine's kernel, or, for a remote engine, not among the
/// host ports its containers publish ([`Allocation::engine_ports`]).
fn port_free(engine_ports: Option<&HashSet<(u16, Protocol)>>, port: u16, proto: Protocol) -> bool {
    match engine_ports {
        None => PortStore::is_free_on_host(port, proto),
        Some(taken) => !taken.contains(&(port, proto)),
    }
}

/// Decides the secret values and host ports of `stack`.
///
/// # Errors
/// [`AllocateError::MissingSecret`] for a secret that is neither set nor generated; the
/// stores' errors otherwise.
pub fn allocate(stack: &ResolvedStack, a: &mut Allocation<'_>) -> Result<Bindings, AllocateError> {
    let mut bindings = Bindings::default();
    for ((instance, name), generate) in referenced_secrets(stack) {
        let value = if generate {
            Some(a.secrets.get_or_generate(&stack.name, &instance, &name)?)
        } else {
            a.secrets.get(&stack.name, &instance, &name)?
        };
        let value = value.ok_or_else(|| AllocateError::MissingSecret {
            stack: stack.name.clone(),
            instance: instance.clone(),
            name: name.clone(),
        })?;
        bindings.secrets.insert((instance, name), value);
        if bindings.hash_key.is_none() {
            bindings.hash_key = Some(a.secrets.hash_key()?);
        }
    }
    for inst in stack.instances.values() {
        for p in &inst.spec.ports {
            if let Some(host) = host_port(stack, inst, p, a, &mut bindings.busy_ports)? {
                let key = (inst.name.clone(), p.container, p.protocol);
                bindings.host_ports.insert(key, host);
            }
        }
    }
    Ok(bindings)
}

/// Every `(owning instance, secret name)` the stack's environments refer to, sorted, and
/// whether its owner declares it `generate: true` (else the user must set it).
pub fn referenced_secrets(stack: &ResolvedStack) -> BTreeMap<(String, String), bool> {
    stack
        .instances
        .values()
        .flat_map(|i| i.env.values())
        .flat_map(|v| &v.0)
        .filter_map(|part| match part {
            EnvPart::Secret { instance, name } => Some((instance.clone(), name.clone())),
            EnvPart::Lit(_) => None,
        })
        .map(|(instance, name)| {
            let generate = stack
                .instances
                .get(&instance)
                .is_some_and(|o| generated_secrets(o).contains(&name));
            ((instance, name), generate)
        })
        .collect()
}

/// Secrets an instance declares with `generate: true` (in its env or its exports).
fn generated_secrets(inst: &EffectiveInstance) -> HashSet<String> {
    inst.spec
        .env
        .values()
        .chain(inst.spec.exports.iter().flat_map(|e| e.attributes.values()))
        .filter_map(|v| match v {
            Some(EnvValue::Secret(r)) if r.generate => Some(r.secret.clone()),
            _ => None,
        })
        .collect()
}

/// The host port of one port spec (None when it is not published); a busy fixed port of a
/// container still to be created is recorded in `busy`.
fn host_port(
    stack: &ResolvedStack,
    inst: &EffectiveInstance,
    p: &PortSpec,
    a: &mut Allocation<'_>,
    busy: &mut Vec<BusyPort>,
) -> Result<Option<u16>, AllocateError> {
    let new = !a.existing.contains(&inst.name);
    match p.host {
        None => Ok(None),
        Some(HostPort::Fixed(h)) => {
            if new && !a.is_free(h, p.protocol) {
                let holder = match a.ports.holder(h, p.protocol) {
                    Some(held)
                        if held.owner.as_deref() != Some(a.owner)
                            || held.stack != stack.name
                            || held.instance != inst.name =>
                    {
                        let folder = match held.owner {
                            Some(o) if o != a.owner => format!(" of folder {o}"),
                            _ => String::new(),
                        };
                        format!(
                            "devarch stack {}, instance {}{folder}",
                            held.stack, held.instance
                        )
                    }
                    _ if a.engine_ports.is_some() => {
                        "another container on the (remote) engine".to_string()
                    }
                    _ => "another process on this machine".to_string(),
                };
                busy.push(BusyPort {
                    instance: inst.name.clone(),
                    port: format!("{h}/{}", p.protocol),
                    holder,
                });
            }
            Ok(Some(h))
        }
        Some(HostPort::Auto) => {
            let recorded =
                a.ports
                    .assigned(a.owner, &stack.name, &inst.name, p.container, p.protocol);
            if new && a.repick_busy && recorded.is_some_and(|h| !a.is_free(h, p.protocol)) {
                // Taken by someone else since it was picked: pick another.
                a.ports.release_instance(a.owner, &stack.name, &inst.name);
            }
            let engine_ports = a.engine_ports;
            let is_free = move |port, proto| port_free(engine_ports, port, proto);
            let host = a.ports.assign_auto_where(
                (a.owner, &stack.name, &inst.name, p.container, p.protocol),
                a.fixed_in_use,
                &is_free,
            )?;
            Ok(Some(host))
        }
    }
}

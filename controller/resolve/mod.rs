/*! Resolve: templates + instance overrides + wiring → the desired state of every stack.

Pure: no I/O, no runtime. Problems that need the whole stack (imports without a provider,
ambiguous providers, `dependsOn` cycles, host ports claimed twice, runtime names two objects
would share) come back as diagnostics, and the stacks they touch are left out of the result.
*/

mod dependencies;
pub mod desired;
pub mod domains;
pub mod hash;
pub mod merge;
mod names;
mod wiring;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use indexmap::IndexMap;
use serde::Serialize;

use crate::identity;
use crate::manifests::diagnostics::Diagnostic;
use crate::manifests::types::{DependencyCondition, HostPort, Protocol, ServiceSpec};
use crate::manifests::validate::{InstanceModel, Model, StackModel};

/// One piece of an environment value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EnvPart {
    /// Literal text, passed to the engine as is (wiring filled any placeholders before).
    Lit(String),
    /// The value of secret `name` of `instance` (in the same stack).
    Secret {
        /// Instance owning the secret.
        instance: String,
        /// Secret name as the reference writes it (`password`); stored as
        /// `{instance}/{name}` in the stack's secrets file.
        name: String,
    },
}

/// An environment value that may embed secrets; `Display` redacts them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct EnvTemplate(pub Vec<EnvPart>);

impl EnvTemplate {
    /// A literal value.
    pub fn lit(s: impl Into<String>) -> Self {
        EnvTemplate(vec![EnvPart::Lit(s.into())])
    }

    /// Whether any part is a secret.
    pub fn has_secret(&self) -> bool {
        self.0.iter().any(|p| matches!(p, EnvPart::Secret { .. }))
    }
}

impl fmt::Display for EnvTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match p {
                EnvPart::Lit(s) => f.write_str(s)?,
                EnvPart::Secret { instance, name } => write!(f, "${{secret:{instance}/{name}}}")?,
            }
        }
        Ok(())
    }
}

impl Serialize for EnvTemplate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An import connected to a provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Wire {
    /// Import name of the consumer.
    pub import: String,
    /// Provider instance: the only one of the stack exporting the type, or the
    /// one a `wires` entry names.
    pub provider: String,
    /// Export of the provider.
    pub export: String,
    /// Contract type that import and export match on (`postgres`, `redis`...);
    /// `type` in JSON.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it was chosen by an explicit `wires` entry.
    pub explicit: bool,
}

/// A resolved start-order dependency on another instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DependencyEdge {
    /// The instance depended on.
    pub instance: String,
    /// When it counts as ready.
    pub condition: DependencyCondition,
}

/// The desired state of one instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveInstance {
    /// Stack the instance belongs to (its `spec.stack`, or the Stack holding it inline).
    pub stack: String,
    /// Instance name, unique within its stack.
    pub name: String,
    /// Template it is built from (`spec.template`): the folder's, else the built-in.
    pub template: String,
    /// Container name, `devarch-{stack}-{instance}`
    /// ([`crate::identity::container_name`]).
    pub container: String,
    /// The stack network, `devarch-{stack}-net`; the instance name is its alias there.
    pub network: String,
    /// Template ⊕ overrides (its `env` is without wiring; see `env`).
    pub spec: ServiceSpec,
    /// Final environment: template env ⊕ wired env ⊕ override env.
    pub env: IndexMap<String, EnvTemplate>,
    /// Wired imports, in the order the spec declares them (optional imports without
    /// a provider left out).
    pub wires: Vec<Wire>,
    /// Dependencies on other instances.
    pub depends_on: Vec<DependencyEdge>,
    /// Host names the router serves for it, if any ([`domains`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domains: Option<domains::Domains>,
    /// Folder of the manifest defining the instance (bind-mount sources are relative to it).
    #[serde(skip)]
    pub base_dir: std::path::PathBuf,
}

/// The desired state of one stack.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedStack {
    /// Stack name (`metadata.name` of the Stack).
    pub name: String,
    /// `spec.description`, shown by `describe stack`.
    pub description: Option<String>,
    /// Whether the containers should run.
    pub enabled: bool,
    /// Network name, `devarch-{stack}-net`.
    pub network: String,
    /// Instances by name.
    pub instances: BTreeMap<String, EffectiveInstance>,
}

/// Resolve every stack of the model.
pub fn resolve(model: &Model) -> (BTreeMap<String, ResolvedStack>, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut out = BTreeMap::new();
    for stack in model.stacks.values().filter(|s| !s.incomplete) {
        let before = diags.len();
        let resolved = resolve_stack(model, stack, &mut diags);
        if diags.len() == before {
            out.insert(stack.name.clone(), resolved);
        }
    }
    // Stacks with problems of their own, whole otherwise: their wiring is checked too, so
    // one mistake does not hide another; they are never resolved into a desired state.
    let incomplete = model.stacks.values().chain(model.checked_only.values());
    for stack in incomplete.filter(|s| s.incomplete && !s.missing_instances) {
        resolve_stack(model, stack, &mut diags);
    }
    check_host_ports(model, &mut out, &mut diags);
    domains::check_unique(model, &mut out, &mut diags);
    names::check_runtime_names(model, &mut out, &mut diags);
    (out, diags)
}

pub use wiring::ImportChoice;

/// An instance's merged configuration as `effective-config` prints it (and the API answers):
/// its names, the merged spec, the built env (secrets as references), wires and resolved
/// dependencies.
///
/// # Errors
/// Serialization (never, for these types).
pub fn effective_config(i: &EffectiveInstance) -> serde_json::Result<serde_json::Value> {
    let mut spec = serde_json::to_value(&i.spec)?;
    spec["env"] = serde_json::to_value(&i.env)?;
    if i.env.is_empty() {
        spec.as_object_mut().map(|o| o.remove("env"));
    }
    let mut doc = serde_json::json!({
        "stack": i.stack,
        "instance": i.name,
        "template": i.template,
        "container": i.container,
        "network": i.network,
    });
    let obj = doc.as_object_mut().expect("object");
    if let Some(o) = spec.as_object() {
        obj.extend(o.clone());
    }
    obj.remove("dependsOn");
    if !i.wires.is_empty() {
        obj.insert("wires".into(), serde_json::to_value(&i.wires)?);
    }
    if !i.depends_on.is_empty() {
        obj.insert("dependsOn".into(), serde_json::to_value(&i.depends_on)?);
    }
    Ok(doc)
}

/// Every import of every instance of `stack` with the instances that could provide it (what
/// the dashboard's wiring picker shows; works on a stack that does not resolve, e.g. because
/// an import is ambiguous).
pub fn import_choices(model: &Model, stack: &StackModel) -> Vec<ImportChoice> {
    let specs: wiring::Specs<'_> = stack
        .instances
        .values()
        .map(|i| (i.name.as_str(), merged_spec(model, i)))
        .collect();
    wiring::import_choices(stack, &specs)
}

fn merged_spec(model: &Model, inst: &InstanceModel) -> ServiceSpec {
    let template = &model.templates[&inst.body.template].template.spec.service;
    merge::merge(template, &inst.body.overrides)
}

fn resolve_stack(model: &Model, stack: &StackModel, diags: &mut Vec<Diagnostic>) -> ResolvedStack {
    let specs: BTreeMap<&str, ServiceSpec> = stack
        .instances
        .values()
        .map(|i| (i.name.as_str(), merged_spec(model, i)))
        .collect();
    let mut instances = BTreeMap::new();
    for inst in stack.instances.values() {
        let spec = specs[inst.name.as_str()].clone();
        let wires = wiring::wire_instance(stack, inst, &spec, &specs, diags);
        let env = wiring::build_env(model, &stack.name, inst, &spec, &wires, &specs, diags);
        let depends_on = dependencies::resolve(stack, inst, &spec, &wires, diags);
        let domains = domains::of_instance(stack, inst, &spec, diags);
        instances.insert(
            inst.name.clone(),
            EffectiveInstance {
                stack: stack.name.clone(),
                name: inst.name.clone(),
                template: inst.body.template.clone(),
                container: identity::container_name(&stack.name, &inst.name),
                network: identity::network_name(&stack.name),
                spec,
                env,
                wires,
                depends_on,
                domains,
                base_dir: inst
                    .origin
                    .file
                    .parent()
                    .map(std::path::Path::to_path_buf)
                    .unwrap_or_default(),
            },
        );
    }
    dependencies::check_cycles(stack, &instances, diags);
    ResolvedStack {
        name: stack.name.clone(),
        description: stack.spec.description.clone(),
        enabled: stack.spec.enabled,
        network: identity::network_name(&stack.name),
        instances,
    }
}

/// Who claims a host port: (stack, instance, host IP).
type PortClaim = (String, String, Option<String>);

fn check_host_ports(
    model: &Model,
    out: &mut BTreeMap<String, ResolvedStack>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut claims: BTreeMap<(u16, Protocol), Vec<PortClaim>> = BTreeMap::new();
    for s in out.values() {
        for i in s.instances.values() {
            for p in &i.spec.ports {
                if let Some(HostPort::Fixed(h)) = p.host {
                    claims.entry((h, p.protocol)).or_default().push((
                        s.name.clone(),
                        i.name.clone(),
                        p.host_ip.clone(),
                    ));
                }
            }
        }
    }
    let mut broken = BTreeSet::new();
    for ((port, proto), holders) in claims {
        for (idx, (s, i, ip)) in holders.iter().enumerate().skip(1) {
            let Some((ps, pi, _)) = holders[..idx]
                .iter()
                .find(|(_, _, pip)| pip.is_none() || ip.is_none() || pip == ip)
            else {
                continue;
            };
            let inst = &model.stacks[s].instances[i];
            let prev = &model.stacks[ps].instances[pi];
            diags.push(
                Diagnostic::new(
                    &inst.origin.file,
                    Some(inst.at("")),
                    format!("host port {port}/{proto} of {s}/{i} is already claimed by {ps}/{pi}"),
                )
                .with_related(
                    &prev.origin.file,
                    prev.at(""),
                    format!("{ps}/{pi} claims it here"),
                )
                .with_help("use `host: auto` or another port"),
            );
            broken.insert(s.clone());
        }
    }
    for s in broken {
        out.remove(&s);
    }
}

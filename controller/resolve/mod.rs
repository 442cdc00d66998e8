/*! Resolve: templates + instance overrides + wiring → the desired state of every stack.

Pure: no I/O, no runtime. Problems that need the whole stack (imports without a provider,
ambiguous providers, `dependsOn` cycles, host ports claimed twice) come back as
diagnostics, and the stacks they touch are left out of the result.
*/

pub mod desired;
pub mod hash;
pub mod merge;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use indexmap::IndexMap;
use serde::Serialize;

use crate::identity;
use crate::manifests::diagnostics::Diagnostic;
use crate::manifests::types::{DependencyCondition, EnvValue, HostPort, Protocol, ServiceSpec};
use crate::manifests::validate::{InstanceModel, Model, StackModel};

/// One piece of an environment value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum EnvPart {
    /// Literal text.
    Lit(String),
    /// The value of secret `name` of `instance` (in the same stack).
    Secret {
        /// Instance owning the secret.
        instance: String,
        /// Secret name.
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
    /// Provider instance.
    pub provider: String,
    /// Export of the provider.
    pub export: String,
    /// Contract type.
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
    /// Stack name.
    pub stack: String,
    /// Instance name.
    pub name: String,
    /// Template name.
    pub template: String,
    /// Container name.
    pub container: String,
    /// Network name.
    pub network: String,
    /// Template ⊕ overrides (its `env` is without wiring; see `env`).
    pub spec: ServiceSpec,
    /// Final environment: template env ⊕ wired env ⊕ override env.
    pub env: IndexMap<String, EnvTemplate>,
    /// Wired imports.
    pub wires: Vec<Wire>,
    /// Dependencies on other instances.
    pub depends_on: Vec<DependencyEdge>,
    /// Folder of the manifest defining the instance (bind-mount sources are relative to it).
    #[serde(skip)]
    pub base_dir: std::path::PathBuf,
}

/// The desired state of one stack.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResolvedStack {
    /// Stack name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Whether the containers should run.
    pub enabled: bool,
    /// Network name.
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
    check_host_ports(model, &mut out, &mut diags);
    (out, diags)
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
        let wires = wire_instance(stack, inst, &spec, &specs, diags);
        let env = build_env(model, &stack.name, inst, &spec, &wires, &specs, diags);
        let depends_on = resolve_dependencies(stack, inst, &spec, &wires, diags);
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
                base_dir: inst
                    .origin
                    .file
                    .parent()
                    .map(std::path::Path::to_path_buf)
                    .unwrap_or_default(),
            },
        );
    }
    check_cycles(stack, &instances, diags);
    ResolvedStack {
        name: stack.name.clone(),
        description: stack.spec.description.clone(),
        enabled: stack.spec.enabled,
        network: identity::network_name(&stack.name),
        instances,
    }
}

fn explicit_wire<'a>(
    stack: &'a StackModel,
    inst: &'a InstanceModel,
    import: &str,
) -> Option<(&'a String, bool)> {
    inst.body.wires.get(import).map(|p| (p, true)).or_else(|| {
        stack
            .spec
            .wires
            .get(&inst.name)
            .and_then(|w| w.get(import))
            .map(|p| (p, false))
    })
}

fn wire_instance(
    stack: &StackModel,
    inst: &InstanceModel,
    spec: &ServiceSpec,
    specs: &BTreeMap<&str, ServiceSpec>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Wire> {
    let file = &inst.origin.file;
    let mut wires = Vec::new();
    for key in inst.body.wires.keys() {
        if !spec.imports.iter().any(|i| &i.name == key) {
            let names: Vec<&str> = spec.imports.iter().map(|i| i.name.as_str()).collect();
            diags.push(
                Diagnostic::new(
                    file,
                    Some(inst.at(&format!("wires/{key}"))),
                    format!("instance {:?} has no import named {key:?}", inst.name),
                )
                .with_help(if names.is_empty() {
                    "its template declares no imports".to_string()
                } else {
                    format!("imports: {}", names.join(", "))
                }),
            );
        }
    }
    for import in &spec.imports {
        let providers = |kind: &str| -> Vec<(&str, &str)> {
            specs
                .iter()
                .filter(|(n, _)| **n != inst.name)
                .filter_map(|(n, s)| {
                    s.exports
                        .iter()
                        .find(|e| e.kind == kind)
                        .map(|e| (*n, e.name.as_str()))
                })
                .collect()
        };
        let candidates = providers(&import.kind);
        if let Some((provider, on_instance)) = explicit_wire(stack, inst, &import.name) {
            let pos = if on_instance {
                inst.at(&format!("wires/{}", import.name))
            } else {
                stack
                    .origin
                    .at(&format!("/spec/wires/{}/{}", inst.name, import.name))
            };
            let pfile = if on_instance {
                file
            } else {
                &stack.origin.file
            };
            match specs.get(provider.as_str()) {
                None => diags.push(Diagnostic::new(
                    pfile,
                    Some(pos),
                    format!(
                        "wire {}: provider {provider:?} is not an instance of stack {:?}",
                        import.name, stack.name
                    ),
                )),
                Some(ps) => match ps.exports.iter().find(|e| e.kind == import.kind) {
                    None => diags.push(Diagnostic::new(
                        pfile,
                        Some(pos),
                        format!(
                            "wire {}: instance {provider:?} exports no endpoint of type {:?}",
                            import.name, import.kind
                        ),
                    )),
                    Some(e) => wires.push(Wire {
                        import: import.name.clone(),
                        provider: provider.clone(),
                        export: e.name.clone(),
                        kind: import.kind.clone(),
                        explicit: true,
                    }),
                },
            }
            continue;
        }
        match candidates.as_slice() {
            [(p, e)] => wires.push(Wire {
                import: import.name.clone(),
                provider: (*p).to_string(),
                export: (*e).to_string(),
                kind: import.kind.clone(),
                explicit: false,
            }),
            [] if !import.required => {}
            [] => diags.push(
                Diagnostic::new(
                    file,
                    Some(inst.at("")),
                    format!(
                        "instance {:?} needs import {:?} (type {}), but no instance of stack {:?} exports it",
                        inst.name, import.name, import.kind, stack.name
                    ),
                )
                .with_help(format!("add an instance whose template exports type {:?}, or mark the import `required: false`", import.kind)),
            ),
            many => diags.push(
                Diagnostic::new(
                    file,
                    Some(inst.at("")),
                    format!(
                        "import {:?} (type {}) of instance {:?} is ambiguous: candidates {}",
                        import.name,
                        import.kind,
                        inst.name,
                        many.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ")
                    ),
                )
                .with_help(format!("choose one with `wires: {{{}: {}}}` on the instance", import.name, many[0].0)),
            ),
        }
    }
    wires
}

/// Split `"a{{host}}b"` into literal and placeholder parts.
fn parse_placeholders(s: &str) -> Result<Vec<(bool, &str)>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push((false, &rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed `{{{{` in {s:?}"))?;
        out.push((true, after[..end].trim()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push((false, rest));
    }
    Ok(out)
}

fn value_parts(owner: &str, v: &EnvValue) -> Vec<EnvPart> {
    match v {
        EnvValue::Text(t) => vec![EnvPart::Lit(t.clone())],
        EnvValue::Secret(r) => vec![EnvPart::Secret {
            instance: owner.to_string(),
            name: r.secret.clone(),
        }],
    }
}

fn build_env(
    model: &Model,
    stack: &str,
    inst: &InstanceModel,
    spec: &ServiceSpec,
    wires: &[Wire],
    specs: &BTreeMap<&str, ServiceSpec>,
    diags: &mut Vec<Diagnostic>,
) -> IndexMap<String, EnvTemplate> {
    let template = &model.templates[&inst.body.template].template.spec.service;
    let mut env: IndexMap<String, EnvTemplate> = template
        .env
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .map(|v| (k.clone(), EnvTemplate(value_parts(&inst.name, v))))
        })
        .collect();
    for wire in wires {
        let Some(import) = spec.imports.iter().find(|i| i.name == wire.import) else {
            continue;
        };
        let export = specs[wire.provider.as_str()]
            .exports
            .iter()
            .find(|e| e.name == wire.export)
            .expect("wired export exists");
        for (var, tmpl) in &import.env {
            let parts = match parse_placeholders(tmpl) {
                Ok(p) => p,
                Err(m) => {
                    diags.push(Diagnostic::new(
                        &inst.origin.file,
                        Some(inst.at("")),
                        format!("import {:?}, env {var}: {m}", import.name),
                    ));
                    continue;
                }
            };
            let mut value = Vec::new();
            for (is_ph, text) in parts {
                if !is_ph {
                    value.push(EnvPart::Lit(text.to_string()));
                    continue;
                }
                match text {
                    "host" => value.push(EnvPart::Lit(identity::container_name(stack, &wire.provider))),
                    "port" => value.push(EnvPart::Lit(export.port.to_string())),
                    "protocol" => value.push(EnvPart::Lit(export.protocol.to_string())),
                    "instance" => value.push(EnvPart::Lit(wire.provider.clone())),
                    other => match export.attributes.get(other).and_then(Option::as_ref) {
                        Some(v) => value.extend(value_parts(&wire.provider, v)),
                        None => diags.push(
                            Diagnostic::new(
                                &inst.origin.file,
                                Some(inst.at("")),
                                format!(
                                    "import {:?}, env {var}: placeholder {{{{{other}}}}} is not offered by {}'s export {:?}",
                                    import.name, wire.provider, export.name
                                ),
                            )
                            .with_help(format!(
                                "available: host, port, protocol, instance{}",
                                export.attributes.keys().map(|k| format!(", {k}")).collect::<String>()
                            )),
                        ),
                    },
                }
            }
            env.insert(var.clone(), EnvTemplate(value));
        }
    }
    for (k, v) in &inst.body.overrides.env {
        match v {
            None => {
                env.shift_remove(k);
            }
            Some(v) => {
                env.insert(k.clone(), EnvTemplate(value_parts(&inst.name, v)));
            }
        }
    }
    env
}

fn resolve_dependencies(
    stack: &StackModel,
    inst: &InstanceModel,
    spec: &ServiceSpec,
    wires: &[Wire],
    diags: &mut Vec<Diagnostic>,
) -> Vec<DependencyEdge> {
    let mut out: Vec<DependencyEdge> = Vec::new();
    for dep in &spec.depends_on {
        let target = if stack.instances.contains_key(&dep.name) {
            Some(dep.name.clone())
        } else if let Some(w) = wires.iter().find(|w| w.import == dep.name) {
            Some(w.provider.clone())
        } else if spec.imports.iter().any(|i| i.name == dep.name) {
            None // an optional import left unwired: nothing to wait for
        } else {
            diags.push(
                Diagnostic::new(
                    &inst.origin.file,
                    Some(inst.at("")),
                    format!("instance {:?} depends on {:?}, which is neither an instance of stack {:?} nor one of its imports", inst.name, dep.name, stack.name),
                ),
            );
            None
        };
        if let Some(t) = target {
            if t == inst.name {
                diags.push(Diagnostic::new(
                    &inst.origin.file,
                    Some(inst.at("")),
                    format!("instance {:?} depends on itself", inst.name),
                ));
                continue;
            }
            match out.iter_mut().find(|e| e.instance == t) {
                Some(e) if dep.condition == DependencyCondition::Healthy => {
                    e.condition = DependencyCondition::Healthy
                }
                Some(_) => {}
                None => out.push(DependencyEdge {
                    instance: t,
                    condition: dep.condition,
                }),
            }
        }
    }
    out
}

fn check_cycles(
    stack: &StackModel,
    instances: &BTreeMap<String, EffectiveInstance>,
    diags: &mut Vec<Diagnostic>,
) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit<'a>(
        n: &'a str,
        instances: &'a BTreeMap<String, EffectiveInstance>,
        marks: &mut HashMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
        cycles: &mut Vec<Vec<String>>,
    ) {
        match marks.get(n).copied().unwrap_or(Mark::New) {
            Mark::Done => return,
            Mark::Active => {
                let start = path.iter().position(|p| *p == n).unwrap_or(0);
                let mut c: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                c.push(n.to_string());
                cycles.push(c);
                return;
            }
            Mark::New => {}
        }
        marks.insert(n, Mark::Active);
        path.push(n);
        if let Some(i) = instances.get(n) {
            for d in &i.depends_on {
                visit(&d.instance, instances, marks, path, cycles);
            }
        }
        path.pop();
        marks.insert(n, Mark::Done);
    }
    let mut marks = HashMap::new();
    let mut cycles = Vec::new();
    for n in instances.keys() {
        visit(n, instances, &mut marks, &mut Vec::new(), &mut cycles);
    }
    for c in cycles {
        let first = &stack.instances[&c[0]];
        diags.push(
            Diagnostic::new(
                &first.origin.file,
                Some(first.at("")),
                format!(
                    "dependsOn cycle in stack {:?}: {}",
                    stack.name,
                    c.join(" -> ")
                ),
            )
            .with_help("remove one of these dependencies"),
        );
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
            let Some((ps, pi, pip)) = holders[..idx]
                .iter()
                .find(|(_, _, pip)| pip.is_none() || ip.is_none() || pip == ip)
            else {
                continue;
            };
            let _ = pip;
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

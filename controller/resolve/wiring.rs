/*! Wiring: each import of an instance connected to the instance of its stack that exports its
type (the only candidate, or the one an explicit `wires` entry names), and the consumer's
environment built from the templates of its imports: `template env ⊕ wired env ⊕ instance
env`. Placeholders (`{{host}}`, `{{port}}`, `{{protocol}}`, `{{instance}}` and the export's
attributes) are filled from the provider; secret attributes stay references. An attribute may
itself take a value from the provider's effective env, `user: "{{env.POSTGRES_USER}}"`, so a
provider whose env is overridden exports what it really runs with. */

use std::collections::BTreeMap;

use indexmap::IndexMap;

use super::{EnvPart, EnvTemplate, Wire};
use crate::identity;
use crate::manifests::diagnostics::Diagnostic;
use crate::manifests::types::{EnvValue, Export, Import, ServiceSpec};
use crate::manifests::validate::{InstanceModel, Model, StackModel};

/// The stack's merged specs by instance name.
pub(super) type Specs<'a> = BTreeMap<&'a str, ServiceSpec>;

/// The wires of one instance's imports; problems (unknown wire keys, a missing or ambiguous
/// provider, an explicit wire to something that does not export the type) go to `diags`.
pub(super) fn wire_instance(
    stack: &StackModel,
    inst: &InstanceModel,
    spec: &ServiceSpec,
    specs: &Specs<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Wire> {
    check_wire_keys(inst, spec, diags);
    let mut wires = Vec::new();
    for import in &spec.imports {
        let wire = match explicit_wire(stack, inst, &import.name) {
            Some(explicit) => wire_explicit(stack, inst, import, explicit, specs, diags),
            None => wire_auto(stack, inst, import, specs, diags),
        };
        wires.extend(wire);
    }
    wires
}

/// Every `wires` key of the instance must name one of its imports.
fn check_wire_keys(inst: &InstanceModel, spec: &ServiceSpec, diags: &mut Vec<Diagnostic>) {
    for key in inst.body.wires.keys() {
        if spec.imports.iter().any(|i| &i.name == key) {
            continue;
        }
        let names: Vec<&str> = spec.imports.iter().map(|i| i.name.as_str()).collect();
        let help = if names.is_empty() {
            "its template declares no imports".to_string()
        } else {
            format!("imports: {}", names.join(", "))
        };
        let at = Some(inst.at(&format!("wires/{key}")));
        let message = format!("instance {:?} has no import named {key:?}", inst.name);
        diags.push(Diagnostic::new(&inst.origin.file, at, message).with_help(help));
    }
}

/// An explicit wire for `import`: (provider, whether it is on the instance rather than in
/// the stack's `spec.wires`).
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

/// The wire an explicit `wires` entry asks for, if its provider exports the import's type.
fn wire_explicit(
    stack: &StackModel,
    inst: &InstanceModel,
    import: &Import,
    (provider, on_instance): (&String, bool),
    specs: &Specs<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Wire> {
    let (file, at) = if on_instance {
        let at = inst.at(&format!("wires/{}", import.name));
        (&inst.origin.file, at)
    } else {
        let at = (stack.origin).at(&format!("/spec/wires/{}/{}", inst.name, import.name));
        (&stack.origin.file, at)
    };
    let Some(provider_spec) = specs.get(provider.as_str()) else {
        let message = format!(
            "wire {}: provider {provider:?} is not an instance of stack {:?}",
            import.name, stack.name
        );
        diags.push(Diagnostic::new(file, Some(at), message));
        return None;
    };
    let Some(export) = provider_spec.exports.iter().find(|e| e.kind == import.kind) else {
        let message = format!(
            "wire {}: instance {provider:?} exports no endpoint of type {:?}",
            import.name, import.kind
        );
        diags.push(Diagnostic::new(file, Some(at), message));
        return None;
    };
    Some(Wire {
        import: import.name.clone(),
        provider: provider.clone(),
        export: export.name.clone(),
        kind: import.kind.clone(),
        explicit: true,
    })
}

/// The instances of the stack other than `consumer` that export `kind`, with the export.
fn candidates<'a>(specs: &'a Specs<'_>, consumer: &str, kind: &str) -> Vec<(&'a str, &'a str)> {
    specs
        .iter()
        .filter(|(n, _)| **n != consumer)
        .filter_map(|(n, s)| {
            let export = s.exports.iter().find(|e| e.kind == kind)?;
            Some((*n, export.name.as_str()))
        })
        .collect()
}

/// One import of an instance and who could provide it: what a wiring picker shows.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ImportChoice {
    /// The consuming instance.
    pub instance: String,
    /// The import's name.
    pub import: String,
    /// The contract type (`postgres`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether the instance needs it.
    pub required: bool,
    /// Instances of the stack exporting the type.
    pub candidates: Vec<String>,
    /// The provider an explicit `wires` entry names, if any.
    pub explicit: Option<String>,
    /// Whether that entry is in the Stack's `spec.wires` (else on the instance).
    pub explicit_in_stack: bool,
    /// Several candidates and no explicit choice: the stack cannot be wired until one is
    /// chosen.
    pub ambiguous: bool,
}

/// Every import of every instance of `stack`, with its candidates and explicit choice.
pub(super) fn import_choices(stack: &StackModel, specs: &Specs<'_>) -> Vec<ImportChoice> {
    let mut out = Vec::new();
    for inst in stack.instances.values() {
        let Some(spec) = specs.get(inst.name.as_str()) else {
            continue;
        };
        for import in &spec.imports {
            let candidates: Vec<String> = candidates(specs, &inst.name, &import.kind)
                .into_iter()
                .map(|(n, _)| n.to_string())
                .collect();
            let explicit = explicit_wire(stack, inst, &import.name);
            out.push(ImportChoice {
                instance: inst.name.clone(),
                import: import.name.clone(),
                kind: import.kind.clone(),
                required: import.required,
                ambiguous: explicit.is_none() && candidates.len() > 1,
                candidates,
                explicit: explicit.map(|(p, _)| p.clone()),
                explicit_in_stack: explicit.is_some_and(|(_, on_instance)| !on_instance),
            });
        }
    }
    out
}

/// The wire to the only instance of the stack that exports the import's type; none for an
/// optional import without a provider; a diagnostic when a required one has none or there
/// are several.
fn wire_auto(
    stack: &StackModel,
    inst: &InstanceModel,
    import: &Import,
    specs: &Specs<'_>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Wire> {
    let candidates = candidates(specs, &inst.name, &import.kind);
    let (file, at) = (&inst.origin.file, Some(inst.at("")));
    match candidates.as_slice() {
        [(provider, export)] => Some(Wire {
            import: import.name.clone(),
            provider: (*provider).to_string(),
            export: (*export).to_string(),
            kind: import.kind.clone(),
            explicit: false,
        }),
        [] if !import.required => None,
        [] => {
            let message = format!(
                "instance {:?} needs import {:?} (type {}), but no instance of stack {:?} exports it",
                inst.name, import.name, import.kind, stack.name
            );
            let help = format!(
                "add an instance whose template exports type {:?}, or mark the import `required: false`",
                import.kind
            );
            diags.push(Diagnostic::new(file, at, message).with_help(help));
            None
        }
        many => {
            let names: Vec<&str> = many.iter().map(|(p, _)| *p).collect();
            let message = format!(
                "import {:?} (type {}) of instance {:?} is ambiguous: candidates {}",
                import.name,
                import.kind,
                inst.name,
                names.join(", ")
            );
            let help = format!(
                "choose one with `wires: {{{}: {}}}` on the instance",
                import.name, names[0]
            );
            diags.push(Diagnostic::new(file, at, message).with_help(help));
            None
        }
    }
}

/// How an export attribute names one of its provider's env variables: `{{env.NAME}}`.
pub const ATTRIBUTE_ENV_PREFIX: &str = "env.";

/// Splits `"a{{host}}b"` into literal and placeholder parts (`true` for a placeholder).
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

/// An env value of instance `owner` as parts (a secret reference belongs to `owner`).
fn value_parts(owner: &str, v: &EnvValue) -> Vec<EnvPart> {
    match v {
        EnvValue::Text(t) => vec![EnvPart::Lit(t.clone())],
        EnvValue::Secret(r) => vec![EnvPart::Secret {
            instance: owner.to_string(),
            name: r.secret.clone(),
        }],
    }
}

/// The instance's final environment: its template's env, then the wired env of its imports,
/// then its own env overrides (`null` deletes).
pub(super) fn build_env(
    model: &Model,
    stack: &str,
    inst: &InstanceModel,
    spec: &ServiceSpec,
    wires: &[Wire],
    specs: &Specs<'_>,
    diags: &mut Vec<Diagnostic>,
) -> IndexMap<String, EnvTemplate> {
    let template = &model.templates[&inst.body.template].template.spec.service;
    let mut env: IndexMap<String, EnvTemplate> = template
        .env
        .iter()
        .filter_map(|(k, v)| {
            let v = v.as_ref()?;
            Some((k.clone(), EnvTemplate(value_parts(&inst.name, v))))
        })
        .collect();
    for wire in wires {
        let Some(import) = spec.imports.iter().find(|i| i.name == wire.import) else {
            continue;
        };
        let provider = &specs[wire.provider.as_str()];
        let export = provider
            .exports
            .iter()
            .find(|e| e.name == wire.export)
            .expect("a wire names an export of its provider");
        for (var, tmpl) in &import.env {
            let wired = Wired {
                stack,
                inst,
                import,
                wire,
                export,
                provider,
            };
            if let Some(value) = wired.value(var, tmpl, diags) {
                env.insert(var.clone(), value);
            }
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

/// One wired import of a consumer, for filling its env templates.
struct Wired<'a> {
    stack: &'a str,
    inst: &'a InstanceModel,
    import: &'a Import,
    wire: &'a Wire,
    export: &'a Export,
    /// The provider's effective spec (template ⊕ its overrides), whose env attributes may
    /// name (`{{env.NAME}}`).
    provider: &'a ServiceSpec,
}

impl Wired<'_> {
    /// The value of env var `var` from template `tmpl`; None (with a diagnostic) when the
    /// template is malformed. An unknown placeholder is reported and left out.
    fn value(&self, var: &str, tmpl: &str, diags: &mut Vec<Diagnostic>) -> Option<EnvTemplate> {
        let (file, at) = (&self.inst.origin.file, Some(self.inst.at("")));
        let parts = match parse_placeholders(tmpl) {
            Ok(p) => p,
            Err(m) => {
                let message = format!("import {:?}, env {var}: {m}", self.import.name);
                diags.push(Diagnostic::new(file, at, message));
                return None;
            }
        };
        let mut value = Vec::new();
        for (is_placeholder, text) in parts {
            if !is_placeholder {
                value.push(EnvPart::Lit(text.to_string()));
                continue;
            }
            match self.placeholder(text) {
                Some(parts) => value.extend(parts),
                None if self.export.attributes.contains_key(text) => {
                    diags.push(self.unresolved_attribute(var, text))
                }
                None => diags.push(self.unknown_placeholder(var, text)),
            }
        }
        Some(EnvTemplate(value))
    }

    /// What a placeholder stands for, if the provider offers it.
    fn placeholder(&self, name: &str) -> Option<Vec<EnvPart>> {
        let (provider, export) = (&self.wire.provider, self.export);
        let lit = |s: String| Some(vec![EnvPart::Lit(s)]);
        match name {
            "host" => lit(identity::container_name(self.stack, provider)),
            "port" => lit(export.port.to_string()),
            "protocol" => lit(export.protocol.to_string()),
            "instance" => lit(provider.clone()),
            other => {
                let v = export.attributes.get(other).and_then(Option::as_ref)?;
                match v {
                    EnvValue::Text(t) => self.attribute_text(t),
                    EnvValue::Secret(_) => Some(value_parts(provider, v)),
                }
            }
        }
    }

    /// An export attribute's text with its `{{env.NAME}}` placeholders filled from the
    /// provider's effective env (a secret stays a reference to the provider's secret), so a
    /// provider whose `POSTGRES_USER` is overridden exports that user. None when the text
    /// names a variable the provider does not set, or another placeholder.
    fn attribute_text(&self, text: &str) -> Option<Vec<EnvPart>> {
        let provider = &self.wire.provider;
        let mut out = Vec::new();
        for (is_placeholder, part) in parse_placeholders(text).ok()? {
            if !is_placeholder {
                out.push(EnvPart::Lit(part.to_string()));
                continue;
            }
            let name = part.strip_prefix(ATTRIBUTE_ENV_PREFIX)?;
            let value = self.provider.env.get(name)?.as_ref()?;
            out.extend(value_parts(provider, value));
        }
        Some(out)
    }

    /// An attribute whose `{{env.NAME}}` the provider does not set (or that uses another
    /// placeholder, which attributes cannot).
    fn unresolved_attribute(&self, var: &str, name: &str) -> Diagnostic {
        let written = match self.export.attributes.get(name).and_then(Option::as_ref) {
            Some(EnvValue::Text(t)) => t.clone(),
            _ => String::new(),
        };
        let message = format!(
            "import {:?}, env {var}: attribute {name} of {}'s export {:?} is {written:?}, which names a variable {} does not set",
            self.import.name, self.wire.provider, self.export.name, self.wire.provider
        );
        Diagnostic::new(&self.inst.origin.file, Some(self.inst.at("")), message).with_help(
            "an attribute may use {{env.NAME}} for a variable of the provider's env; set it there",
        )
    }

    fn unknown_placeholder(&self, var: &str, name: &str) -> Diagnostic {
        let message = format!(
            "import {:?}, env {var}: placeholder {{{{{name}}}}} is not offered by {}'s export {:?}",
            self.import.name, self.wire.provider, self.export.name
        );
        let attributes: String = self
            .export
            .attributes
            .keys()
            .map(|k| format!(", {k}"))
            .collect();
        let help = format!("available: host, port, protocol, instance{attributes}");
        Diagnostic::new(&self.inst.origin.file, Some(self.inst.at("")), message).with_help(help)
    }
}

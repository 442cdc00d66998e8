/*! Semantic checks that need the whole folder: names, duplicates, references between
resources, and per-service rules the schema cannot express. Builds the [`Model`] that the
resolve stage turns into desired state.
*/

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use super::diagnostics::Diagnostic;
use super::load::{Loaded, ManifestSet, Origin};
use super::schema::Kind;
use super::types::{InstanceBody, ServiceSpec, StackSpec, Template};
use super::values::{check_container_path, check_env, check_resources};
use super::yaml::Pos;
use crate::identity::{NameKind, check_name};

/// A template available to instances, built in or from the folder.
#[derive(Clone, Debug)]
pub struct TemplateEntry {
    /// The Template as loaded (the folder's, when it replaces a built-in one).
    pub template: Template,
    /// Where it is defined.
    pub origin: Origin,
    /// Whether it ships inside the binary (and was not replaced by the folder).
    pub builtin: bool,
}

/// An instance of a stack, inline or from its own document.
#[derive(Clone, Debug)]
pub struct InstanceModel {
    /// Instance name: its key under `spec.instances`, or the Instance's `metadata.name`.
    pub name: String,
    /// Template reference, wires and overrides.
    pub body: InstanceBody,
    /// Where it is defined.
    pub origin: Origin,
    /// JSON pointer of the instance body in its document (`/spec` or `/spec/instances/NAME`).
    pub pointer: String,
}

impl InstanceModel {
    /// Position of a field of the instance body (`""` for the instance itself).
    pub fn at(&self, field: &str) -> Pos {
        if field.is_empty() {
            if self.pointer == "/spec" {
                return self.origin.at("/metadata/name");
            }
            return self.origin.key_at(&self.pointer);
        }
        self.origin.at(&format!("{}/{field}", self.pointer))
    }
}

/// A stack with its instances.
#[derive(Clone, Debug)]
pub struct StackModel {
    /// Stack name (`metadata.name`), unique in the folder.
    pub name: String,
    /// Description, enabled flag and stack-level wires (instances moved to `instances`).
    pub spec: StackSpec,
    /// Labels of the stack.
    pub labels: indexmap::IndexMap<String, String>,
    /// Where it is defined.
    pub origin: Origin,
    /// Instances by name.
    pub instances: BTreeMap<String, InstanceModel>,
    /// Some instance of the stack is broken (already reported): the stack cannot be
    /// resolved until it is fixed, and must be left as it is.
    pub incomplete: bool,
    /// An instance of the stack was left out (broken, or its document unreadable): checks
    /// that need all of them (wiring) would report mistakes that are not there.
    pub missing_instances: bool,
}

/// The validated content of a manifests folder plus the built-in catalog.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// Templates by name.
    pub templates: BTreeMap<String, TemplateEntry>,
    /// Stacks by name.
    pub stacks: BTreeMap<String, StackModel>,
    /// Stacks whose own document has problems (already reported), with every instance in
    /// it: never resolved into a desired state, but checked for their other mistakes
    /// (wiring), so every mistake in a folder shows at once.
    pub checked_only: BTreeMap<String, StackModel>,
}

fn first_here(o: &Origin, pos: Pos) -> (PathBuf, Pos) {
    (o.file.clone(), pos)
}

/// Build the model from the folder's manifests and the built-in templates, reporting
/// every semantic problem. Resources with problems are left out of the model.
pub fn build_model(set: &ManifestSet, builtin: &[Loaded<Template>]) -> (Model, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let mut model = Model::default();

    for t in builtin {
        model.templates.insert(
            t.resource.metadata.name.clone(),
            TemplateEntry {
                template: t.resource.clone(),
                origin: t.origin.clone(),
                builtin: true,
            },
        );
    }
    let mut seen_templates: HashMap<String, (PathBuf, Pos)> = HashMap::new();
    // Names whose definitions are broken: references to them are not reported again.
    let mut broken = set.broken_names.clone();
    // Documents with problems (already reported) are checked for their other mistakes,
    // but never enter the model nor count as first definitions.
    let templates = set.templates.iter().map(|t| (t, false));
    for (t, partial) in templates.chain(set.partial.templates.iter().map(|t| (t, true))) {
        let name = &t.resource.metadata.name;
        let pos = t.origin.at("/metadata/name");
        // A bad name leaves the template out, but its fields are still checked.
        let bad_name = check_name(NameKind::Template, name)
            .map_err(|m| diags.push(Diagnostic::new(&t.origin.file, Some(pos), m)))
            .is_err();
        if partial || bad_name {
            check_service(&t.resource.spec.service, &t.origin, "/spec", &mut diags);
            continue;
        }
        if let Some((f, p)) = seen_templates.get(name) {
            diags.push(
                Diagnostic::new(
                    &t.origin.file,
                    Some(pos),
                    format!("duplicate template {name:?}"),
                )
                .with_related(f, *p, "first defined here"),
            );
            continue;
        }
        seen_templates.insert(name.clone(), first_here(&t.origin, pos));
        let before = diags.len();
        check_service(&t.resource.spec.service, &t.origin, "/spec", &mut diags);
        if diags.len() == before {
            model.templates.insert(
                name.clone(),
                TemplateEntry {
                    template: t.resource.clone(),
                    origin: t.origin.clone(),
                    builtin: false,
                },
            );
        } else {
            model.templates.remove(name);
            broken.insert((Kind::Template, name.clone()));
        }
    }

    // Stacks read from broken documents, to check their instances; dropped at the end.
    let mut scratch: BTreeMap<String, StackModel> = BTreeMap::new();
    let stacks = set.stacks.iter().map(|s| (s, false));
    for (s, partial) in stacks.chain(set.partial.stacks.iter().map(|s| (s, true))) {
        let name = &s.resource.metadata.name;
        let pos = s.origin.at("/metadata/name");
        // A bad name leaves the stack out, but its instances are still checked.
        let bad_name = check_name(NameKind::Stack, name)
            .map_err(|m| diags.push(Diagnostic::new(&s.origin.file, Some(pos), m)))
            .is_err();
        let partial = partial || bad_name;
        if let Some(prev) = model.stacks.get(name).filter(|_| !partial) {
            diags.push(
                Diagnostic::new(
                    &s.origin.file,
                    Some(pos),
                    format!("duplicate stack {name:?}"),
                )
                .with_related(
                    &prev.origin.file,
                    prev.origin.at("/metadata/name"),
                    "first defined here",
                ),
            );
            continue;
        }
        let mut spec = s.resource.spec.clone();
        let inline = std::mem::take(&mut spec.instances);
        let mut stack = StackModel {
            name: name.clone(),
            spec,
            labels: s.resource.metadata.labels.clone(),
            origin: s.origin.clone(),
            instances: BTreeMap::new(),
            incomplete: partial || set.incomplete_stacks.contains(name),
            missing_instances: set.incomplete_stacks.contains(name),
        };
        for (iname, body) in inline {
            let inst = InstanceModel {
                name: iname.clone(),
                body,
                origin: s.origin.clone(),
                pointer: format!("/spec/instances/{}", super::yaml::escape_segment(&iname)),
            };
            if !add_instance(&mut stack, inst, &model.templates, &broken, &mut diags) {
                stack.incomplete = true;
                stack.missing_instances = true;
            }
        }
        if partial {
            scratch.entry(name.clone()).or_insert(stack);
        } else {
            model.stacks.insert(name.clone(), stack);
        }
    }

    let instances = set.instances.iter().map(|i| (i, false));
    for (i, partial) in instances.chain(set.partial.instances.iter().map(|i| (i, true))) {
        let name = &i.resource.metadata.name;
        let stack_name = &i.resource.spec.stack;
        let inst = InstanceModel {
            name: name.clone(),
            body: i.resource.spec.body.clone(),
            origin: i.origin.clone(),
            pointer: "/spec".into(),
        };
        let stack = match model.stacks.get_mut(stack_name) {
            Some(stack) => Some(stack),
            None => scratch.get_mut(stack_name),
        };
        let Some(stack) = stack else {
            if broken.contains(&(Kind::Stack, stack_name.clone()))
                || set
                    .stacks
                    .iter()
                    .any(|s| &s.resource.metadata.name == stack_name)
            {
                continue; // the stack's own document is broken and already reported
            }
            let mut d = Diagnostic::new(
                &i.origin.file,
                Some(i.origin.at("/spec/stack")),
                format!("instance {name:?} belongs to stack {stack_name:?}, which does not exist"),
            );
            let stacks: Vec<&str> = set
                .stacks
                .iter()
                .map(|s| s.resource.metadata.name.as_str())
                .collect();
            if !stacks.is_empty() {
                d = d.with_help(format!("defined stacks: {}", stacks.join(", ")));
            }
            diags.push(d);
            continue;
        };
        if !add_instance(stack, inst, &model.templates, &broken, &mut diags) {
            stack.incomplete = true;
            stack.missing_instances = true;
        } else if partial {
            // Checked, but its document is broken: it stays out of the stack.
            stack.instances.remove(name);
            stack.incomplete = true;
            stack.missing_instances = true;
        }
    }

    // Stack-level wires must name instances of the stack.
    for stack in model.stacks.values().chain(scratch.values()) {
        for consumer in stack.spec.wires.keys() {
            if !stack.instances.contains_key(consumer) {
                diags.push(Diagnostic::new(
                    &stack.origin.file,
                    Some(stack.origin.key_at(&format!(
                        "/spec/wires/{}",
                        super::yaml::escape_segment(consumer)
                    ))),
                    format!(
                        "wires name instance {consumer:?}, which is not in stack {:?}",
                        stack.name
                    ),
                ));
            }
        }
    }
    model.checked_only = scratch;
    (model, diags)
}

fn add_instance(
    stack: &mut StackModel,
    inst: InstanceModel,
    templates: &BTreeMap<String, TemplateEntry>,
    broken: &std::collections::BTreeSet<(Kind, String)>,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    // Every check runs, so independent mistakes show at once; any one leaves it out.
    let file = inst.origin.file.clone();
    let before = diags.len();
    let mut ok = true;
    if let Err(m) = check_name(NameKind::Instance, &inst.name) {
        diags.push(Diagnostic::new(&file, Some(inst.at("")), m));
    } else if let Some(prev) = stack.instances.get(&inst.name) {
        diags.push(
            Diagnostic::new(
                &file,
                Some(inst.at("")),
                format!(
                    "duplicate instance {:?} in stack {:?}",
                    inst.name, stack.name
                ),
            )
            .with_related(&prev.origin.file, prev.at(""), "first defined here"),
        );
    }
    match templates.get(&inst.body.template) {
        Some(t)
            if inst.body.overrides.image.is_none() && t.template.spec.service.image.is_none() =>
        {
            diags.push(no_image(&inst, t));
        }
        Some(_) => {}
        None => {
            // When the template's own document is broken, it is already reported.
            ok = false;
            if !broken.contains(&(Kind::Template, inst.body.template.clone())) {
                diags.push(unknown_template(&inst, templates));
            }
        }
    }
    check_service(&inst.body.overrides, &inst.origin, &inst.pointer, diags);
    if !ok || diags.len() != before {
        return false;
    }
    stack.instances.insert(inst.name.clone(), inst);
    true
}

/// Neither the instance nor its template names an image: nothing could be started.
fn no_image(inst: &InstanceModel, template: &TemplateEntry) -> Diagnostic {
    let name = &template.template.metadata.name;
    let d = Diagnostic::new(
        &inst.origin.file,
        Some(inst.at("template")),
        format!(
            "instance {:?} has no image: neither it nor its template {name:?} sets `image`",
            inst.name
        ),
    )
    .with_help(format!(
        "set `image` (e.g. image: nginx:1.27) in the instance or in template {name:?}"
    ));
    if template.builtin {
        return d;
    }
    d.with_related(
        &template.origin.file,
        template.origin.at("/metadata/name"),
        format!("template {name:?} is defined here, without an image"),
    )
}

fn unknown_template(
    inst: &InstanceModel,
    templates: &BTreeMap<String, TemplateEntry>,
) -> Diagnostic {
    let d = Diagnostic::new(
        &inst.origin.file,
        Some(inst.at("template")),
        format!(
            "instance {:?} uses unknown template {:?}",
            inst.name, inst.body.template
        ),
    );
    match templates
        .keys()
        .map(|k| (strsim::jaro_winkler(k, &inst.body.template), k))
        .filter(|(s, _)| *s > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
    {
        Some((_, best)) => d.with_help(format!(
            "did you mean {best:?}? (`devarch get templates` lists them)"
        )),
        None => d.with_help("`devarch get templates` lists the available templates"),
    }
}

/// Rules on one service's fields (a template spec or an instance's overrides).
pub fn check_service(spec: &ServiceSpec, origin: &Origin, base: &str, diags: &mut Vec<Diagnostic>) {
    let file = &origin.file;
    let at = |p: String| Some(origin.at(&format!("{base}/{p}")));

    let mut ports: HashMap<(u16, super::types::Protocol), usize> = HashMap::new();
    for (i, p) in spec.ports.iter().enumerate() {
        if let Some(prev) = ports.insert((p.container, p.protocol), i) {
            diags.push(
                Diagnostic::new(
                    file,
                    at(format!("ports/{i}")),
                    format!(
                        "container port {}/{} is listed twice",
                        p.container, p.protocol
                    ),
                )
                .with_related(
                    file,
                    origin.at(&format!("{base}/ports/{prev}")),
                    "first listed here",
                ),
            );
        }
    }

    let mut targets: HashMap<&str, String> = HashMap::new();
    for (i, v) in spec.volumes.iter().enumerate() {
        let ptr = format!("volumes/{i}");
        match (&v.name, &v.source) {
            (Some(_), Some(_)) => diags.push(Diagnostic::new(
                file,
                at(ptr.clone()),
                "a volume has either `name` (named volume) or `source` (bind mount), not both",
            )),
            (None, None) => diags.push(Diagnostic::new(
                file,
                at(ptr.clone()),
                "a volume needs `name` (named volume) or `source` (bind mount)",
            )),
            (Some(n), None) => {
                if let Err(m) = check_name(NameKind::Volume, n) {
                    diags.push(Diagnostic::new(file, at(format!("{ptr}/name")), m));
                }
            }
            (None, Some(_)) => {}
        }
        if let Err(why) = check_container_path(&v.target) {
            diags.push(Diagnostic::new(
                file,
                at(format!("{ptr}/target")),
                format!("volume target {:?} {why}", v.target),
            ));
        }
        if let Some(prev) = targets.insert(v.target.as_str(), ptr) {
            diags.push(
                Diagnostic::new(
                    file,
                    at(format!("volumes/{i}")),
                    format!("target path {} is mounted twice", v.target),
                )
                .with_related(
                    file,
                    origin.at(&format!("{base}/{prev}")),
                    "first mounted here",
                ),
            );
        }
    }
    for (i, c) in spec.config_files.iter().enumerate() {
        let ptr = format!("configFiles/{i}");
        if let Err(why) = check_container_path(&c.path) {
            diags.push(
                Diagnostic::new(
                    file,
                    at(format!("{ptr}/path")),
                    format!("config file path {:?} {why}", c.path),
                )
                .with_help("use the full path inside the container, e.g. /etc/app/app.conf"),
            );
        }
        if let Some(prev) = targets.insert(c.path.as_str(), ptr) {
            diags.push(
                Diagnostic::new(
                    file,
                    at(format!("configFiles/{i}")),
                    format!("target path {} is mounted twice", c.path),
                )
                .with_related(
                    file,
                    origin.at(&format!("{base}/{prev}")),
                    "first mounted here",
                ),
            );
        }
    }
    check_env(spec, origin, base, diags);
    check_resources(spec, origin, base, diags);
    let mut deps: HashMap<&str, usize> = HashMap::new();
    for (i, d) in spec.depends_on.iter().enumerate() {
        if let Some(prev) = deps.insert(d.name.as_str(), i) {
            diags.push(
                Diagnostic::new(
                    file,
                    at(format!("dependsOn/{i}")),
                    format!("dependency {:?} is listed twice", d.name),
                )
                .with_related(
                    file,
                    origin.at(&format!("{base}/dependsOn/{prev}")),
                    "first listed here",
                ),
            );
        }
    }
    if let Some(hc) = &spec.healthcheck
        && let Some(test) = &hc.test
        && !matches!(
            test.first().map(String::as_str),
            Some("CMD" | "CMD-SHELL" | "NONE")
        )
    {
        diags.push(
            Diagnostic::new(
                file,
                at("healthcheck/test".into()),
                "healthcheck test must start with CMD, CMD-SHELL or NONE",
            )
            .with_help("e.g. [CMD-SHELL, \"pg_isready\"] or a plain string"),
        );
    }
    for (list, names) in [
        (
            "exports",
            spec.exports
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>(),
        ),
        (
            "imports",
            spec.imports
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>(),
        ),
    ] {
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, n) in names.iter().enumerate() {
            if let Some(prev) = seen.insert(n, i) {
                diags.push(
                    Diagnostic::new(
                        file,
                        at(format!("{list}/{i}")),
                        format!("{} name {n:?} is used twice", &list[..list.len() - 1]),
                    )
                    .with_related(
                        file,
                        origin.at(&format!("{base}/{list}/{prev}")),
                        "first used here",
                    ),
                );
            }
        }
    }
}

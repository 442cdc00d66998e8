/*! `devarch export`: one stack as a single self-contained `devarch.yml`.

The file holds the Stack with its instances inline (each as its manifests write it: the
template and only what differs from it), every wire pinned as an explicit `wires` entry (so
the import wires the same way whatever else its folder holds), and, as further documents,
the Templates from the folder that the instances use (built-in ones ship with devarch and
are named, not copied). Secrets stay references (`{secret: NAME}`); values never leave
`--home`. A bind source relative to the manifests folder (`./src`) is written as the absolute
path it means here ([`absolute_binds`]): imported into another folder, `./src` would be that
folder's.

The text is a function of the model only — key order fixed, instances and templates sorted
by name — so exporting what an import of it wrote gives the same bytes.
*/

use indexmap::IndexMap;

use crate::manifests::types::{ObjectMeta, Stack, StackSpec, Template};
use crate::workspace::Workspace;

/// The first line of an exported file; `import` recognises files it wrote by it.
pub const HEADER: &str = "# devarch export";

/// Exporting failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The stack is not (validly) in the folder.
    #[error("no valid stack {0:?} in the folder")]
    NoStack(String),
}

/// The exported text of `stack`.
///
/// # Errors
/// [`ExportError::NoStack`] when the folder has no valid stack of that name.
pub fn export(ws: &Workspace, stack: &str) -> Result<String, ExportError> {
    export_noting(ws, stack).map(|(text, _)| text)
}

/// A relative bind source the export wrote as the absolute path it means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbsoluteBind {
    /// Where it is: `instance web`, `template app (used by instance web)`.
    pub place: String,
    /// As the manifest writes it.
    pub relative: String,
    /// As the export writes it.
    pub absolute: String,
}

/// The exported text of `stack` and each relative bind source it wrote as an absolute path.
///
/// # Errors
/// As [`export`].
pub fn export_noting(
    ws: &Workspace,
    stack: &str,
) -> Result<(String, Vec<AbsoluteBind>), ExportError> {
    let mut notes = Vec::new();
    let (Some(model), Some(resolved)) = (ws.model.stacks.get(stack), ws.stacks.get(stack)) else {
        return Err(ExportError::NoStack(stack.to_string()));
    };
    let mut instances = IndexMap::new();
    let mut templates: std::collections::BTreeMap<String, Template> = Default::default();
    for (name, inst) in &model.instances {
        let mut body = inst.body.clone();
        body.wires = IndexMap::new();
        if let Some(effective) = resolved.instances.get(name) {
            let mut wires: Vec<_> = effective.wires.iter().collect();
            wires.sort_by(|a, b| a.import.cmp(&b.import));
            for w in wires {
                body.wires.insert(w.import.clone(), w.provider.clone());
            }
        }
        let base = resolved.instances.get(name).map(|i| i.base_dir.as_path());
        if let Some(base) = base {
            absolute_binds(
                &mut body.overrides.volumes,
                base,
                &format!("instance {name}"),
                &mut notes,
            );
        }
        if let Some(t) = ws.model.templates.get(&body.template)
            && !t.builtin
            && !templates.contains_key(&body.template)
        {
            let mut t = t.template.clone();
            if let Some(base) = base {
                absolute_binds(
                    &mut t.spec.service.volumes,
                    base,
                    &format!("template {} (used by instance {name})", body.template),
                    &mut notes,
                );
            }
            templates.insert(body.template.clone(), t);
        }
        instances.insert(name.clone(), body);
    }
    let doc = Stack {
        api_version: Default::default(),
        kind: Default::default(),
        metadata: ObjectMeta {
            name: stack.to_string(),
            labels: model.labels.clone(),
            annotations: IndexMap::new(),
        },
        spec: StackSpec {
            description: model.spec.description.clone(),
            enabled: model.spec.enabled,
            instances,
            wires: IndexMap::new(),
            default_domains: model.spec.default_domains,
        },
    };
    Ok((render(&doc, templates.values()), notes))
}

/// Relative bind sources of `volumes` (neither absolute nor `~/…`) replaced by the absolute
/// path they mean from `base` (the folder of the manifest defining the instance, as apply
/// reads them), each pushed to `notes`.
fn absolute_binds(
    volumes: &mut [crate::manifests::ports::VolumeSpec],
    base: &std::path::Path,
    what: &str,
    notes: &mut Vec<AbsoluteBind>,
) {
    for v in volumes {
        let Some(src) = v.source.as_mut() else {
            continue;
        };
        if src.starts_with('/') || src.starts_with("~/") || src == "~" {
            continue;
        }
        let abs = crate::manifests::values::bind_host_path(src, base, None)
            .display()
            .to_string();
        notes.push(AbsoluteBind {
            place: what.to_string(),
            relative: src.clone(),
            absolute: abs.clone(),
        });
        *src = abs;
    }
}

/// The exported text of a Stack document (instances inline) and templates.
pub fn render<'a>(stack: &Stack, templates: impl IntoIterator<Item = &'a Template>) -> String {
    let name = &stack.metadata.name;
    let mut out = format!(
        "{HEADER} of stack {name}: the stack, its instances (wires pinned) and the folder's templates they use.\n# Import it with `devarch import FILE`. Secrets are references; set their values where it is imported.\n"
    );
    out.push_str("---\n");
    out.push_str(&to_yaml(stack));
    for t in templates {
        out.push_str("---\n");
        out.push_str(&to_yaml(t));
    }
    out
}

/// One exported document as YAML. The resource types always serialize (strings, numbers,
/// maps and lists only).
fn to_yaml(doc: &impl serde::Serialize) -> String {
    serde_saphyr::to_string(doc).expect("a manifest resource serializes")
}

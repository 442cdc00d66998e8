//! `devarch init [DIR] [--template NAME,...]`: a new manifests folder that validates, with the
//! JSON Schemas beside the manifests and editor settings applying them to every document.
//!
//! Layout (every path relative to DIR):
//! - `stack.yaml`: a Stack, then one Instance document per template, each headed by its own
//!   yaml-language-server modeline (the server reads a modeline per document);
//! - `schemas/*.schema.json`: the schemas `devarch schema` generates, as this binary knows them;
//! - `.vscode/settings.json`: a `yaml.schemas` mapping of the combined schema to every YAML
//!   file of the folder, for VS Code and any editor driving yaml-language-server.
//!
//! Nothing is overwritten: when any of these exists, or DIR already holds manifests, nothing
//! is written. Every file goes through [`write_new_within`]: a folder on the way that is a
//! symbolic link (say `.vscode` pointing elsewhere) is refused, naming it, before anything
//! is written. The documents are validated in memory before anything is written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde_json::json;

use super::{exit, output};
use crate::catalog;
use crate::manifests::load::{ManifestSet, list_manifests, load_text};
use crate::manifests::schema;
use crate::safe_fs::{check_within, write_new_within};
use crate::workspace::Workspace;

/// Name of the starter stack.
pub const STARTER_STACK: &str = "starter";

/// The manifest file `init` writes.
pub const STACK_FILE: &str = "stack.yaml";

/// Where `init` writes the editor settings.
pub const SETTINGS_FILE: &str = ".vscode/settings.json";

/// The schemas folder under DIR, as written in modelines and settings.
const SCHEMAS_DIR: &str = "schemas";

pub(crate) fn init(dir: &Path, templates: &[String]) -> Result<u8> {
    check_templates(templates)?;
    let files = files(templates);
    refuse_existing(dir, &files)?;
    check_valid(dir, &files)?;
    if dir.symlink_metadata().is_err() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating folder {}", dir.display()))?;
    }
    for (rel, content) in &files {
        let path = write_new_within(dir, rel, content.as_bytes(), 0o644)
            .with_context(|| format!("writing {}", dir.join(rel).display()))?;
        outln!("wrote {}", path.display())?;
    }
    outln!(
        "{}: stack {STARTER_STACK:?} with {}; next: `devarch --dir {} plan`",
        dir.display(),
        templates.join(", "),
        dir.display()
    )?;
    Ok(exit::OK)
}

/// Every template named once, and each a built-in one.
fn check_templates(templates: &[String]) -> Result<()> {
    let builtin: Vec<&str> = catalog::SOURCES.iter().map(|(n, _)| *n).collect();
    if templates.is_empty() {
        bail!(
            "--template needs at least one name (built-in: {})",
            builtin.join(", ")
        );
    }
    for (i, t) in templates.iter().enumerate() {
        if !builtin.contains(&t.as_str()) {
            bail!(
                "no built-in template {t:?} (built-in: {})",
                builtin.join(", ")
            );
        }
        if templates[..i].contains(t) {
            bail!("template {t:?} is given twice; each becomes one instance named after it");
        }
    }
    Ok(())
}

/// The files to write: path relative to DIR, content.
fn files(templates: &[String]) -> Vec<(PathBuf, String)> {
    let mut files = vec![(PathBuf::from(STACK_FILE), stack_yaml(templates))];
    files.extend(
        schema::generated_files()
            .into_iter()
            .filter(|(rel, _)| rel.starts_with(SCHEMAS_DIR)),
    );
    files.push((PathBuf::from(SETTINGS_FILE), settings_json()));
    files
}

/// The Stack document, then one Instance document per template, each with its modeline.
fn stack_yaml(templates: &[String]) -> String {
    let modeline = schema::modeline(&format!("{SCHEMAS_DIR}/{}", schema::COMBINED_FILE));
    let mut out = format!(
        "{modeline}
# Stack {STARTER_STACK:?}, made by `devarch init`. Add an instance as another document below
# (after `---`), or inline under spec.instances; `devarch get templates` lists the built-in
# templates.
apiVersion: devarch.io/v1alpha1
kind: Stack
metadata:
  name: {STARTER_STACK}
spec:
  description: Made by devarch init
  enabled: true
"
    );
    for t in templates {
        out.push_str(&format!(
            "---
{modeline}
# Instance {t:?} of stack {STARTER_STACK:?}, from the built-in template {t:?}.
apiVersion: devarch.io/v1alpha1
kind: Instance
metadata:
  name: {t}
spec:
  stack: {STARTER_STACK}
  template: {t}
"
        ));
    }
    out
}

/// `.vscode/settings.json`: the combined schema for every YAML file of the folder.
fn settings_json() -> String {
    let schema_path = format!("./{SCHEMAS_DIR}/{}", schema::COMBINED_FILE);
    let v = json!({"yaml.schemas": {schema_path: ["**/*.yaml", "**/*.yml"]}});
    serde_json::to_string_pretty(&v).expect("settings serialize") + "\n"
}

/// Refuse when any file to write exists (whatever it is), a folder on its way is a symbolic
/// link or not a folder, or DIR already holds manifests.
fn refuse_existing(dir: &Path, files: &[(PathBuf, String)]) -> Result<()> {
    for (rel, _) in files {
        if let Some(parent) = rel.parent() {
            check_within(dir, parent).map_err(|e| anyhow::anyhow!("{e}; nothing was written"))?;
        }
        let path = dir.join(rel);
        if path.symlink_metadata().is_ok() {
            bail!(
                "{} already exists; init writes only new files, so nothing was written",
                path.display()
            );
        }
    }
    if dir.symlink_metadata().is_ok() {
        if !dir.is_dir() {
            bail!(
                "{} already exists and is not a folder; nothing was written",
                dir.display()
            );
        }
        let existing = list_manifests(dir)?;
        if let Some(first) = existing.first() {
            bail!(
                "{} already holds manifests ({}); init starts a new folder, so nothing was written",
                dir.display(),
                first.path.display()
            );
        }
    }
    Ok(())
}

/// The manifests, loaded and validated as the folder will hold them.
fn check_valid(dir: &Path, files: &[(PathBuf, String)]) -> Result<()> {
    let mut set = ManifestSet::default();
    let mut diags = Vec::new();
    for (rel, content) in files {
        if rel.extension().is_some_and(|e| e == "yaml") {
            let path = dir.join(rel);
            set.files.push(path.clone());
            load_text(&mut set, &mut diags, path, Arc::from(content.as_str()));
        }
    }
    let ws = Workspace::from_set(set, diags, dir);
    if !ws.is_valid() {
        output::print_diagnostics(&ws.diagnostics, &super::sources(&ws));
        bail!(
            "the starter stack would not validate ({}); nothing was written",
            output::summary(&ws.diagnostics)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_document_carries_the_modeline() {
        let text = stack_yaml(&["postgres".into(), "redis".into()]);
        let docs: Vec<&str> = text.split("---\n").collect();
        assert_eq!(docs.len(), 3);
        for d in docs {
            assert!(
                d.starts_with("# yaml-language-server: $schema=schemas/devarch.schema.json\n"),
                "{d}"
            );
        }
    }
}

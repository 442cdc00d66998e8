/*! A manifests folder read, validated and resolved in one call: what every command starts from. */

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use crate::catalog;
use crate::manifests::danger;
use crate::manifests::diagnostics::{Diagnostic, sort_and_dedup};
use crate::manifests::load::{
    LoadError, ManifestSet, list_manifests, load_dir, load_text, read_manifest,
};
use crate::manifests::validate::{Model, build_model};
use crate::resolve::{ResolvedStack, resolve};

/// The state of a manifests folder.
#[derive(Debug)]
pub struct Workspace {
    /// Every document as loaded, with the files read and their texts (for snippets).
    pub set: ManifestSet,
    /// Validated model (resources with problems left out).
    pub model: Model,
    /// Desired state of every stack that resolved cleanly.
    pub stacks: BTreeMap<String, ResolvedStack>,
    /// Every problem found, sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// Risky host access of the valid resources (binds of the engine socket, of the host's
    /// root, of folders outside the folder; root users), sorted: shown, never blocking.
    pub warnings: Vec<Diagnostic>,
}

impl Workspace {
    /// Load, validate and resolve `dir`.
    ///
    /// # Errors
    /// [`LoadError`] when the folder itself cannot be read.
    pub fn load(dir: &Path) -> Result<Workspace, LoadError> {
        let (set, diagnostics) = load_dir(dir)?;
        Ok(Workspace::from_set(set, diagnostics, dir))
    }

    /// Validate and resolve documents already loaded (with the problems found loading them)
    /// as the folder `dir` would hold them: what `init` checks before writing anything.
    pub fn from_set(set: ManifestSet, mut diagnostics: Vec<Diagnostic>, dir: &Path) -> Workspace {
        let (model, more) = build_model(&set, catalog::templates());
        diagnostics.extend(more);
        let (stacks, more) = resolve(&model);
        diagnostics.extend(more);
        sort_and_dedup(&mut diagnostics);
        let user_home = crate::state::default_home().parent().map(Path::to_path_buf);
        let mut warnings = danger::check_model(&model, dir, user_home.as_deref());
        sort_and_dedup(&mut warnings);
        Workspace {
            set,
            model,
            stacks,
            diagnostics,
            warnings,
        }
    }

    /// The folder `dir` as it would be with `file` holding `text` (a new file, or one of the
    /// folder's replaced): what every edit is checked against before it is written.
    ///
    /// # Errors
    /// The folder, or one of its other files, cannot be read.
    pub fn with_file(dir: &Path, file: &Path, text: &str) -> anyhow::Result<Workspace> {
        let mut set = ManifestSet::default();
        let mut diags = Vec::new();
        for entry in list_manifests(dir)? {
            if entry.path == file {
                continue;
            }
            set.files.push(entry.path.clone());
            match entry.source.map(|from| read_manifest(&from)) {
                Ok(Ok(text)) => load_text(&mut set, &mut diags, entry.path, Arc::from(text)),
                _ => anyhow::bail!(
                    "{} cannot be read; fix the folder first; nothing was changed",
                    entry.path.display()
                ),
            }
        }
        set.files.push(file.to_path_buf());
        load_text(&mut set, &mut diags, file.to_path_buf(), Arc::from(text));
        Ok(Workspace::from_set(set, diags, dir))
    }

    /// The built-in catalog alone, as if the folder were empty: what commands that can answer
    /// without a folder (`get templates`) start from when there is none.
    pub fn catalog_only() -> Workspace {
        let set = ManifestSet::default();
        let (model, diagnostics) = build_model(&set, catalog::templates());
        Workspace {
            set,
            model,
            stacks: BTreeMap::new(),
            diagnostics,
            warnings: Vec::new(),
        }
    }

    /// Whether nothing is wrong.
    pub fn is_valid(&self) -> bool {
        self.diagnostics.is_empty()
    }
}

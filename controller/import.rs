/*! Importing one stack's file (what `devarch export` or the Compose import writes) into a
manifests folder: the file must be valid on its own and hold exactly one Stack; templates the
folder has already (the same) are not written twice; a stack the folder has already is updated
only when devarch's import wrote its one file. Everything is checked before anything is
written; [`prepare`] writes nothing, [`foreign_owners`] asks the engine whether another
folder's objects hold the stack's names. `devarch import` and the API's import share it. */

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::export::{HEADER, render};
use crate::identity::Labelled;
use crate::manifests::edit::{EditError, remove_documents};
use crate::manifests::load::{ManifestSet, load_text};
use crate::manifests::validate::StackModel;
use crate::runtime::Runtime;
use crate::workspace::Workspace;

/// Why a file was not imported; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportRefused {
    /// The file has manifest errors on its own.
    #[error("{} in {}; nothing was imported", crate::manifests::diagnostics::summary(&.checked.diagnostics), .file.display())]
    InvalidFile {
        /// The file.
        file: PathBuf,
        /// The file, checked alone (its diagnostics).
        checked: Box<Workspace>,
    },
    /// The file does not hold exactly one Stack.
    #[error("{} must hold exactly one Stack (it holds {count}); nothing was imported", .file.display())]
    NotOneStack {
        /// The file.
        file: PathBuf,
        /// How many it holds.
        count: usize,
    },
    /// The file holds an instance of another stack.
    #[error("{} holds instance {instance:?} of another stack ({stack}); nothing was imported", .file.display())]
    ForeignInstance {
        /// The file.
        file: PathBuf,
        /// The instance.
        instance: String,
        /// Its stack.
        stack: String,
    },
    /// The folder has errors.
    #[error("{} has errors; fix them before importing", .dir.display())]
    InvalidFolder {
        /// The folder.
        dir: PathBuf,
        /// The folder (its diagnostics).
        here: Box<Workspace>,
    },
    /// A template of the file differs from the folder's of the same name.
    #[error("template {name:?} in {} differs from the folder's ({}); rename one of them; nothing was imported", .file.display(), .mine.display())]
    TemplateDiffers {
        /// The template.
        name: String,
        /// The file.
        file: PathBuf,
        /// The folder's file defining it.
        mine: PathBuf,
    },
    /// The target file exists and is not the stack's.
    #[error("{} exists and does not hold stack {stack}; nothing was imported", .target.display())]
    TargetTaken {
        /// The file.
        target: PathBuf,
        /// The stack.
        stack: String,
    },
    /// The folder's stack of that name is not one import wrote.
    #[error("the folder has a stack {stack:?} already ({}); import updates only a stack it wrote itself: merge by hand, or delete the stack first; nothing was imported", .file.display())]
    NotOurs {
        /// The stack.
        stack: String,
        /// Where the folder defines it.
        file: PathBuf,
    },
    /// The folder would not be valid with the import.
    #[error("the folder would not be valid with the import; nothing was imported")]
    InvalidAfter {
        /// The folder as it would be.
        after: Box<Workspace>,
    },
    /// The name to import the stack under is not a stack name.
    #[error("{0}; nothing was imported")]
    InvalidName(String),
    /// Cutting templates out of the file, or renaming its stack, failed.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// Reading the folder failed.
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

impl ImportRefused {
    /// The workspace whose diagnostics explain the refusal, when there is one.
    pub fn diagnosed(&self) -> Option<&Workspace> {
        match self {
            ImportRefused::InvalidFile { checked: ws, .. }
            | ImportRefused::InvalidFolder { here: ws, .. }
            | ImportRefused::InvalidAfter { after: ws } => Some(ws),
            _ => None,
        }
    }
}

/// An import checked and ready to write.
#[derive(Debug)]
pub struct Prepared {
    /// The stack.
    pub stack: String,
    /// The file to write: `{dir}/{stack}.yaml`.
    pub target: PathBuf,
    /// Its new text.
    pub text: String,
    /// The file exists (devarch's import wrote it) and is replaced.
    pub replacing: bool,
    /// The folder as it will be.
    pub after: Workspace,
}

/// Checks importing `text` (read from `file`) into `dir`; with `prune`, instances the folder's
/// copy of the stack has and the file has not are dropped; with `rename`, the file's stack is
/// imported under that name ([`renamed`]).
///
/// # Errors
/// [`ImportRefused`], naming why.
pub fn prepare(
    dir: &Path,
    file: &Path,
    text: &str,
    prune: bool,
    rename: Option<&str>,
) -> Result<Prepared, ImportRefused> {
    // The file on its own: valid, one stack, nothing else's instances.
    let mut alone = ManifestSet::default();
    let mut diags = Vec::new();
    alone.files.push(file.to_path_buf());
    load_text(&mut alone, &mut diags, file.to_path_buf(), Arc::from(text));
    let stacks: Vec<String> = alone
        .stacks
        .iter()
        .map(|s| s.resource.metadata.name.clone())
        .collect();
    let checked = Workspace::from_set(alone, diags, file.parent().unwrap_or(Path::new(".")));
    if !checked.is_valid() {
        return Err(ImportRefused::InvalidFile {
            file: file.to_path_buf(),
            checked: Box::new(checked),
        });
    }
    let [stack] = stacks.as_slice() else {
        return Err(ImportRefused::NotOneStack {
            file: file.to_path_buf(),
            count: stacks.len(),
        });
    };
    if let Some(i) = checked
        .set
        .instances
        .iter()
        .find(|i| &i.resource.spec.stack != stack)
    {
        return Err(ImportRefused::ForeignInstance {
            file: file.to_path_buf(),
            instance: i.resource.metadata.name.clone(),
            stack: i.resource.spec.stack.clone(),
        });
    }
    if let Some(new) = rename.filter(|new| *new != stack) {
        let text = renamed(&checked, file, text, stack, new)?;
        return prepare(dir, file, &text, prune, None);
    }

    let here = Workspace::load(dir).map_err(|e| anyhow::anyhow!(e))?;
    if !here.is_valid() {
        return Err(ImportRefused::InvalidFolder {
            dir: dir.to_path_buf(),
            here: Box::new(here),
        });
    }
    let target = dir.join(format!("{stack}.yaml"));
    // Templates the folder has already: the same ones are not written twice.
    let mut drop = BTreeSet::new();
    for t in &checked.set.templates {
        let name = &t.resource.metadata.name;
        if let Some(mine) = here.model.templates.get(name).filter(|m| !m.builtin)
            && mine.origin.file != target
        {
            if mine.template != t.resource {
                return Err(ImportRefused::TemplateDiffers {
                    name: name.clone(),
                    file: file.to_path_buf(),
                    mine: mine.origin.file.clone(),
                });
            }
            drop.insert(t.origin.document);
        }
    }
    let (new_text, replacing) = match here.model.stacks.get(stack) {
        None => {
            if std::fs::symlink_metadata(&target).is_ok() {
                return Err(ImportRefused::TargetTaken {
                    target,
                    stack: stack.clone(),
                });
            }
            let kept = if drop.is_empty() {
                text.to_string()
            } else {
                remove_documents(text, &drop)?.unwrap_or_default()
            };
            (kept, false)
        }
        Some(existing) => (
            merged(&here, &checked, stack, (&target, &drop), prune, existing)?,
            true,
        ),
    };

    let after = Workspace::with_file(dir, &target, &new_text)?;
    if !after.is_valid() || !after.stacks.contains_key(stack) {
        return Err(ImportRefused::InvalidAfter {
            after: Box::new(after),
        });
    }
    Ok(Prepared {
        stack: stack.clone(),
        target,
        text: new_text,
        replacing,
        after,
    })
}

/// `text` (the file `checked` read) with its stack `old` named `new`: the Stack's name, the
/// Instance documents' `spec.stack`, the first line of an export (which names the stack), and
/// host names under `*.{old}.localhost` moved to `*.{new}.localhost` as `stack clone` moves
/// them ([`crate::folder_edit::rehomed_domains`]). Other host names stay; one the folder
/// routes already is then refused by the folder's check.
///
/// # Errors
/// [`ImportRefused::InvalidName`] for a name that is not a stack name;
/// [`ImportRefused::Edit`] when the file cannot be edited.
fn renamed(
    checked: &Workspace,
    file: &Path,
    text: &str,
    old: &str,
    new: &str,
) -> Result<String, ImportRefused> {
    use crate::manifests::splice::{Change, set_values};
    use serde_json::json;
    crate::identity::check_name(crate::identity::NameKind::Stack, new)
        .map_err(ImportRefused::InvalidName)?;
    let mut changes = Vec::new();
    for (in_file, docs) in crate::folder_edit::stack_documents(checked, old) {
        if in_file == file {
            for (doc, pointer) in docs {
                changes.push(Change::set(doc, pointer, json!(new)));
            }
        }
    }
    let (domains, _) = crate::folder_edit::rehomed_domains(checked, old, new);
    for m in domains.into_iter().filter(|m| m.file == file) {
        changes.push(Change::set(
            m.doc,
            format!("{}/domains", m.body),
            json!(m.names),
        ));
    }
    let mut text = set_values(text, &changes)?;
    let first = format!("{HEADER} of stack {old}:");
    if text.starts_with(&first) {
        text.replace_range(..first.len(), &format!("{HEADER} of stack {new}:"));
    }
    Ok(text)
}

/// The new text of `target` when the folder has `stack` already: only when every document of
/// the stack is in `target` and devarch's import wrote it. Instances of the file replace the
/// folder's of the same name; the folder's others stay unless `prune`. The file's templates
/// are written but those of documents `drop` (the folder has them elsewhere).
fn merged(
    here: &Workspace,
    file: &Workspace,
    stack: &str,
    (target, drop): (&PathBuf, &BTreeSet<usize>),
    prune: bool,
    existing: &StackModel,
) -> Result<String, ImportRefused> {
    let elsewhere: Vec<PathBuf> = crate::folder_edit::stack_documents(here, stack)
        .into_keys()
        .filter(|f| f != target)
        .collect();
    let ours = here
        .set
        .sources
        .get(target)
        .is_some_and(|t| t.starts_with(HEADER));
    if !elsewhere.is_empty() || !ours {
        return Err(ImportRefused::NotOurs {
            stack: stack.to_string(),
            file: existing.origin.file.clone(),
        });
    }
    let incoming = &file.model.stacks[stack];
    let mut stack_doc = file
        .set
        .stacks
        .iter()
        .find(|s| s.resource.metadata.name == stack)
        .map(|s| s.resource.clone())
        .ok_or_else(|| anyhow::anyhow!("the file's Stack"))?;
    let mut instances = indexmap::IndexMap::new();
    if !prune {
        for (name, inst) in &existing.instances {
            if !incoming.instances.contains_key(name) {
                instances.insert(name.clone(), inst.body.clone());
            }
        }
    }
    for (name, inst) in &incoming.instances {
        instances.insert(name.clone(), inst.body.clone());
    }
    instances.sort_keys();
    stack_doc.spec.instances = instances;
    stack_doc.spec.wires = Default::default();
    let templates: Vec<_> = file
        .set
        .templates
        .iter()
        .filter(|t| !drop.contains(&t.origin.document))
        .map(|t| &t.resource)
        .collect();
    Ok(render(&stack_doc, templates))
}

/// Owners other than `owner` of containers or networks named as `stack`'s on the engine: a
/// stack of that name from another folder, whose names the import would collide with.
///
/// # Errors
/// The engine's error.
pub async fn foreign_owners(
    rt: &dyn Runtime,
    owner: &str,
    stack: &str,
) -> anyhow::Result<BTreeSet<String>> {
    let prefix = format!("{}{stack}-", crate::identity::OBJECT_PREFIX);
    let containers = rt.list_containers(&prefix).await?;
    let networks = rt.list_networks(&prefix).await?;
    Ok(containers
        .iter()
        .filter_map(|c| c.owner().filter(|o| *o != owner).map(str::to_string))
        .chain(
            networks
                .iter()
                .filter_map(|n| n.owner().filter(|o| *o != owner).map(str::to_string)),
        )
        .collect())
}

/// Writes a prepared import.
///
/// # Errors
/// The write failed.
pub fn write(p: &Prepared) -> Result<(), crate::folder_edit::EditRefused> {
    crate::folder_edit::write(&p.target, &p.text, !p.replacing)
}

/// Stores `secrets` (`(instance, name, value)`, what the Compose import moved out of the
/// manifests) for the prepared stack; answers the `instance/name` of secrets its manifests
/// refer to that still have no value (and are not generated).
///
/// # Errors
/// The secret store's error.
pub fn store_secrets(
    store: &crate::state::secrets::SecretStore,
    p: &Prepared,
    secrets: &[(String, String, crate::state::secrets::Secret)],
) -> anyhow::Result<Vec<String>> {
    for (instance, name, value) in secrets {
        store.set(&p.stack, instance, name, value.expose())?;
    }
    let mut missing = Vec::new();
    for ((instance, name), generate) in
        crate::allocate::referenced_secrets(&p.after.stacks[&p.stack])
    {
        if !generate && store.get(&p.stack, &instance, &name)?.is_none() {
            missing.push(format!("{instance}/{name}"));
        }
    }
    Ok(missing)
}

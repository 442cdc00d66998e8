/*! Changing the manifests folder: what the stack verbs and the API write. Every edit is made
on the text devarch read (refused when the file changed since), checked with the whole folder
(refused when it adds a manifest error the folder did not have, so a broken edit never reaches
the controller), and only then written through [`crate::safe_fs`]. */

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::manifests::diagnostics::{Diagnostic, Severity};
use crate::manifests::edit::{EditError, document_text, remove_documents};
use crate::manifests::load::read_manifest;
use crate::manifests::splice::{Change, set_values};
use crate::workspace::Workspace;

/// Why an edit was not written.
#[derive(Debug, thiserror::Error)]
pub enum EditRefused {
    /// The file changed on disk since it was read.
    #[error("{} changed while devarch was editing it; nothing was changed, try again", .0.display())]
    Changed(PathBuf),
    /// A new file's path is taken.
    #[error("{} exists; nothing was written", .0.display())]
    Exists(PathBuf),
    /// A new stack's name is taken.
    #[error("the folder has a stack {0:?} already; nothing was written")]
    StackExists(String),
    /// A clone would claim host names its source claims (a name is routed to one instance
    /// only); only names under the source's own `*.{src}.localhost` are rewritten.
    #[error(
        "stack {src} routes host names a clone cannot also claim ({}); only names under *.{src}.localhost are rewritten (to *.{dst}.localhost): edit those instances' domains (or drop them), then clone; nothing was written",
        .names.join(", ")
    )]
    DomainsTaken {
        /// The stack cloned.
        src: String,
        /// The clone's name.
        dst: String,
        /// `instance: host name` of each name that cannot be rewritten.
        names: Vec<String>,
    },
    /// The change cannot be spliced into the file.
    #[error("editing {}: {source}", file.display())]
    Splice {
        /// The file.
        file: PathBuf,
        /// Why.
        source: EditError,
    },
    /// The folder would have new manifest errors.
    #[error("the change would not validate: {}; nothing was written", messages(.new))]
    Invalid {
        /// The folder as it would be.
        after: Box<Workspace>,
        /// The errors it would add.
        new: Vec<Diagnostic>,
    },
    /// Reading the folder or writing the file failed.
    #[error(transparent)]
    Io(#[from] anyhow::Error),
}

fn messages(diags: &[Diagnostic]) -> String {
    let all: Vec<String> = diags
        .iter()
        .map(|d| crate::printable::line(&d.message).to_string())
        .collect();
    all.join("; ")
}

/// Where a stack's documents are: per file, `(document, pointer of the stack's name in it)`.
pub fn stack_documents(
    ws: &Workspace,
    stack: &str,
) -> BTreeMap<PathBuf, Vec<(usize, &'static str)>> {
    let mut per_file: BTreeMap<PathBuf, Vec<(usize, &'static str)>> = BTreeMap::new();
    for s in ws
        .set
        .stacks
        .iter()
        .filter(|s| s.resource.metadata.name == stack)
    {
        per_file
            .entry(s.origin.file.clone())
            .or_default()
            .push((s.origin.document, "/metadata/name"));
    }
    for i in ws
        .set
        .instances
        .iter()
        .filter(|i| i.resource.spec.stack == stack)
    {
        per_file
            .entry(i.origin.file.clone())
            .or_default()
            .push((i.origin.document, "/spec/stack"));
    }
    per_file
}

/// Removes the documents of `stack` from their files (a file left without documents is
/// removed; every other document stays byte for byte); returns the files changed. Every file
/// is checked unchanged and cut before any is written.
///
/// # Errors
/// A file changed since it was read, cannot be cut, or cannot be written.
pub fn remove_stack(ws: &Workspace, stack: &str) -> Result<Vec<PathBuf>, EditRefused> {
    let mut cut = Vec::new();
    for (file, docs) in stack_documents(ws, stack) {
        let text = unchanged_text(ws, &file)?;
        let docs: std::collections::BTreeSet<usize> = docs.into_iter().map(|(d, _)| d).collect();
        let kept = remove_documents(text, &docs).map_err(|source| EditRefused::Splice {
            file: file.clone(),
            source,
        })?;
        cut.push((file, kept));
    }
    let mut changed = Vec::new();
    for (file, kept) in cut {
        match kept {
            None => std::fs::remove_file(&file)
                .map_err(|e| anyhow::anyhow!("removing {}: {e}", file.display()))?,
            Some(kept) => write(&file, &kept, false)?,
        }
        changed.push(file);
    }
    Ok(changed)
}

/// The text `ws` read from `file`, refused when the file changed since.
///
/// # Errors
/// [`EditRefused::Changed`], or the file cannot be read.
pub fn unchanged_text<'a>(ws: &'a Workspace, file: &Path) -> Result<&'a str, EditRefused> {
    let text = ws
        .set
        .sources
        .get(file)
        .ok_or_else(|| EditRefused::Changed(file.to_path_buf()))?;
    let now =
        read_manifest(file).map_err(|e| anyhow::anyhow!("reading {}: {e}", file.display()))?;
    if now.as_bytes() != text.as_bytes() {
        return Err(EditRefused::Changed(file.to_path_buf()));
    }
    Ok(text)
}

/// `changes` spliced into the text `ws` read from `file`.
///
/// # Errors
/// [`EditRefused::Changed`] or [`EditRefused::Splice`].
pub fn spliced(ws: &Workspace, file: &Path, changes: &[Change]) -> Result<String, EditRefused> {
    let text = unchanged_text(ws, file)?;
    set_values(text, changes).map_err(|source| EditRefused::Splice {
        file: file.to_path_buf(),
        source,
    })
}

/// The errors of `after` that `before` did not have (compared by file and message, since
/// positions move with the edit).
pub fn new_errors(before: &Workspace, after: &Workspace) -> Vec<Diagnostic> {
    let old: HashSet<(&Path, &str)> = before
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| (d.file.as_path(), d.message.as_str()))
        .collect();
    after
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .filter(|d| !old.contains(&(d.file.as_path(), d.message.as_str())))
        .cloned()
        .collect()
}

/// The folder with `file` holding `text`, refused when that adds an error.
///
/// # Errors
/// [`EditRefused::Invalid`], or the folder cannot be read.
pub fn check(
    before: &Workspace,
    dir: &Path,
    file: &Path,
    text: &str,
) -> Result<Workspace, EditRefused> {
    let after = Workspace::with_file(dir, file, text)?;
    let new = new_errors(before, &after);
    if !new.is_empty() {
        return Err(EditRefused::Invalid {
            after: Box::new(after),
            new,
        });
    }
    Ok(after)
}

/// `changes` spliced into `file` and checked with the folder: the new text and the folder as
/// it would be.
///
/// # Errors
/// As [`spliced`] and [`check`].
pub fn splice_checked(
    ws: &Workspace,
    dir: &Path,
    file: &Path,
    changes: &[Change],
) -> Result<(String, Workspace), EditRefused> {
    let text = spliced(ws, file, changes)?;
    let after = check(ws, dir, file, &text)?;
    Ok((text, after))
}

/// The file a new stack `name` gets, `{dir}/{name}.yaml`, when neither the name nor the file
/// is taken.
///
/// # Errors
/// [`EditRefused::StackExists`] or [`EditRefused::Exists`].
pub fn new_stack_file(ws: &Workspace, dir: &Path, name: &str) -> Result<PathBuf, EditRefused> {
    if ws.model.stacks.contains_key(name) {
        return Err(EditRefused::StackExists(name.to_string()));
    }
    let target = dir.join(format!("{name}.yaml"));
    if std::fs::symlink_metadata(&target).is_ok() {
        return Err(EditRefused::Exists(target));
    }
    Ok(target)
}

/// Writes `text` to `file`: a new file (never replacing one), or the existing one replaced
/// atomically with its mode kept.
///
/// # Errors
/// The write failed.
pub fn write(file: &Path, text: &str, new: bool) -> Result<(), EditRefused> {
    if new {
        crate::safe_fs::write_new(file, text.as_bytes(), 0o644)
    } else {
        crate::safe_fs::write_atomic(
            file,
            text.as_bytes(),
            crate::safe_fs::FileMode::Keep { default: 0o644 },
        )
    }
    .map_err(|e| anyhow::anyhow!("writing {}: {e}", file.display()))?;
    Ok(())
}

/// One instance's `domains` moved to another stack ([`rehomed_domains`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovedDomains {
    /// The file of the instance's body.
    pub file: PathBuf,
    /// Its document there.
    pub doc: usize,
    /// JSON pointer of the body in the document (`/spec/instances/web`, `/spec`).
    pub body: String,
    /// The whole `domains` list, its names under the old stack's space rewritten.
    pub names: Vec<String>,
}

/// Host names of `stack`'s instances moved to stack `to`: each instance that declares
/// `domains` (itself or through its template) with a name under `stack`'s default space
/// (`*.{stack}.localhost`, [`crate::identity::rehome_domain`]), with its list rewritten. Also
/// answers `instance: name` of each declared name that cannot be rewritten.
pub fn rehomed_domains(ws: &Workspace, stack: &str, to: &str) -> (Vec<MovedDomains>, Vec<String>) {
    let (mut changes, mut stuck) = (Vec::new(), Vec::new());
    let (Some(model), Some(resolved)) = (ws.model.stacks.get(stack), ws.stacks.get(stack)) else {
        return (changes, stuck);
    };
    for (name, inst) in &model.instances {
        let Some(declared) = resolved
            .instances
            .get(name)
            .and_then(|i| i.spec.domains.as_ref())
        else {
            continue;
        };
        let mut moved = false;
        let mut names = Vec::new();
        for d in declared {
            match crate::identity::rehome_domain(d, stack, to) {
                Some(new) => {
                    moved = true;
                    names.push(new);
                }
                None => {
                    stuck.push(format!("{name}: {}", d.to_ascii_lowercase()));
                    names.push(d.clone());
                }
            }
        }
        if moved {
            changes.push(MovedDomains {
                file: inst.origin.file.clone(),
                doc: inst.origin.document,
                body: inst.pointer.clone(),
                names,
            });
        }
    }
    (changes, stuck)
}

/// A new stack file of `dst`: `src`'s Stack and Instance documents, renamed, with host names
/// under `*.{src}.localhost` moved to `*.{dst}.localhost` ([`rehomed_domains`]); checked with
/// the folder. Returns the file, its text and the folder as it would be.
///
/// # Errors
/// The name or file is taken, an instance routes a host name that cannot be rewritten
/// ([`EditRefused::DomainsTaken`]), a document cannot be copied, or the folder would not be
/// valid.
pub fn clone_stack(
    ws: &Workspace,
    dir: &Path,
    src: &str,
    dst: &str,
) -> Result<(PathBuf, String, Workspace), EditRefused> {
    let target = new_stack_file(ws, dir, dst)?;
    let (domains, stuck) = rehomed_domains(ws, src, dst);
    if !stuck.is_empty() {
        return Err(EditRefused::DomainsTaken {
            src: src.to_string(),
            dst: dst.to_string(),
            names: stuck,
        });
    }
    let mut text = format!(
        "# yaml-language-server: $schema=schemas/devarch.schema.json\n# Stack {dst}: a clone of stack {src} (`devarch stack clone {src} {dst}`).\n"
    );
    let mut changes = Vec::new();
    let mut doc = 0;
    for (file, docs) in stack_documents(ws, src) {
        let source = unchanged_text(ws, &file)?;
        let mut docs = docs;
        docs.sort();
        for (d, pointer) in docs {
            let copied = document_text(source, d).map_err(|source| EditRefused::Splice {
                file: file.clone(),
                source,
            })?;
            text.push_str(&copied);
            changes.push(Change::set(doc, pointer, json!(dst)));
            for m in domains.iter().filter(|m| m.file == file && m.doc == d) {
                changes.push(Change::set(
                    doc,
                    format!("{}/domains", m.body),
                    json!(m.names),
                ));
            }
            doc += 1;
        }
    }
    let text = set_values(&text, &changes).map_err(|source| EditRefused::Splice {
        file: target.clone(),
        source,
    })?;
    let after = check(ws, dir, &target, &text)?;
    Ok((target, text, after))
}

//! `devarch export STACK [-o FILE]` and `devarch import FILE [--prune]`: a stack as one
//! self-contained file ([`crate::export`]), and back into a folder.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};

use super::args::Cli;
use super::context::{engine_context, home, runtime, tokio_rt};
use super::{exit, output};
use crate::export::{HEADER, export, render};
use crate::identity::Labelled;
use crate::manifests::edit::remove_documents;
use crate::manifests::load::{ManifestSet, load_text};
use crate::manifests::yaml::MAX_FILE_BYTES;
use crate::reconcile::{self, Selection};
use crate::workspace::Workspace;

/// `devarch export`.
pub fn export_stack(cli: &Cli, stack: &str, out: Option<&Path>) -> Result<u8> {
    let ws = super::context::load_valid(cli)?;
    let text = export(&ws, stack)?;
    match out {
        None => print!("{text}"),
        Some(path) => {
            crate::safe_fs::write_atomic(
                path,
                text.as_bytes(),
                crate::safe_fs::FileMode::Keep { default: 0o644 },
            )
            .with_context(|| format!("writing {}", path.display()))?;
            eprintln!("Wrote stack {stack} to {}.", path.display());
        }
    }
    Ok(exit::OK)
}

/// The text of a file to import, bounded.
fn read_input(file: &Path) -> Result<String> {
    let opened =
        std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let bytes = crate::safe_fs::read_bounded(opened, MAX_FILE_BYTES)
        .with_context(|| format!("cannot read {}", file.display()))?
        .with_context(|| {
            format!(
                "{} is larger than {} KiB; nothing was imported",
                file.display(),
                MAX_FILE_BYTES / 1024
            )
        })?;
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{} is not UTF-8 text; nothing was imported", file.display()))
}

/// `devarch import FILE [--prune]`.
pub fn import(cli: &Cli, file: &Path, prune: bool) -> Result<u8> {
    let text = read_input(file)?;
    import_text(cli, file, &text, prune, &[])
}

/// `devarch import --from compose FILE [--stack NAME] [--as-template]`.
pub fn import_compose(
    cli: &Cli,
    file: &Path,
    stack: Option<&str>,
    as_template: bool,
    prune: bool,
) -> Result<u8> {
    use crate::compose_import::{Options, import};
    let text = read_input(file)?;
    let default_name = || {
        let from_file = crate::manifests::yaml::parse_documents(&text)
            .ok()
            .and_then(|d| d.first()?.value.get("name")?.as_str().map(str::to_string));
        let folder = std::path::absolute(file)
            .ok()
            .and_then(|p| p.parent()?.file_name()?.to_str().map(str::to_string));
        let raw = from_file.or(folder).unwrap_or_else(|| "imported".into());
        raw.to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .trim_matches('-')
            .to_string()
    };
    let name = stack.map_or_else(default_name, str::to_string);
    crate::identity::check_name(crate::identity::NameKind::Stack, &name)
        .map_err(|e| anyhow::anyhow!("{e} (choose one with --stack); nothing was imported"))?;
    let options = Options {
        stack: name.clone(),
        as_template,
        dir: cli.dir.clone(),
    };
    let env = |var: &str| std::env::var(var).ok();
    let imported = import(&text, file, &env, &options)?;
    for n in &imported.notes {
        eprintln!(
            "note: {}:{}: {}: {}",
            file.display(),
            n.line,
            crate::printable::line(&n.key),
            crate::printable::line(&n.message)
        );
    }
    if !imported.notes.is_empty() {
        eprintln!(
            "{} note{} above: what was not carried over as it was.",
            imported.notes.len(),
            super::plural(imported.notes.len())
        );
    }
    if as_template {
        return write_template(cli, &imported.text);
    }
    import_text(cli, file, &imported.text, prune, &imported.secrets)
}

/// `--as-template`: the single Template of `text` into `NAME.yaml`, the folder checked first.
fn write_template(cli: &Cli, text: &str) -> Result<u8> {
    let docs = crate::manifests::yaml::parse_documents(text)
        .map_err(|e| anyhow::anyhow!("the imported template does not parse: {}", e.message))?;
    let name = docs
        .first()
        .and_then(|d| {
            d.value
                .pointer("/metadata/name")?
                .as_str()
                .map(str::to_string)
        })
        .context("the imported template has no name")?;
    let target = cli.dir.join(format!("{name}.yaml"));
    if std::fs::symlink_metadata(&target).is_ok() {
        bail!("{} exists; nothing was imported", target.display());
    }
    let after = crate::workspace::Workspace::with_file(&cli.dir, &target, text)?;
    if !after.is_valid() || after.model.templates.get(&name).is_none_or(|t| t.builtin) {
        output::print_diagnostics(&after.diagnostics, &super::sources(&after));
        bail!("the folder would not be valid with template {name}; nothing was imported");
    }
    crate::safe_fs::write_new(&target, text.as_bytes(), 0o644)
        .with_context(|| format!("writing {}", target.display()))?;
    println!("Wrote template {name} to {}.", target.display());
    Ok(exit::OK)
}

/// Imports `text` (read from `file`): see [`import`]. `secrets` (`(instance, name, value)`)
/// are stored for the stack once its manifests are written.
fn import_text(
    cli: &Cli,
    file: &Path,
    text: &str,
    prune: bool,
    secrets: &[(String, String, crate::state::secrets::Secret)],
) -> Result<u8> {
    let text = text.to_string();

    // The file on its own: valid, one stack, nothing else's instances.
    let (alone, diags) = {
        let mut set = ManifestSet::default();
        let mut diags = Vec::new();
        set.files.push(file.to_path_buf());
        load_text(
            &mut set,
            &mut diags,
            file.to_path_buf(),
            Arc::from(text.as_str()),
        );
        (set, diags)
    };
    let stacks: Vec<String> = alone
        .stacks
        .iter()
        .map(|s| s.resource.metadata.name.clone())
        .collect();
    let checked = Workspace::from_set(alone, diags, file.parent().unwrap_or(Path::new(".")));
    if !checked.is_valid() {
        output::print_diagnostics(&checked.diagnostics, &super::sources(&checked));
        bail!(
            "{} in {}; nothing was imported",
            output::summary(&checked.diagnostics),
            file.display()
        );
    }
    let [stack] = stacks.as_slice() else {
        bail!(
            "{} must hold exactly one Stack (it holds {}); nothing was imported",
            file.display(),
            stacks.len()
        );
    };
    if let Some(i) = checked
        .set
        .instances
        .iter()
        .find(|i| &i.resource.spec.stack != stack)
    {
        bail!(
            "{} holds instance {:?} of another stack ({}); nothing was imported",
            file.display(),
            i.resource.metadata.name,
            i.resource.spec.stack
        );
    }

    let here = Workspace::load(&cli.dir)?;
    if !here.is_valid() {
        output::print_diagnostics(&here.diagnostics, &super::sources(&here));
        bail!(
            "{} has errors; fix them before importing",
            cli.dir.display()
        );
    }
    let target = cli.dir.join(format!("{stack}.yaml"));
    // Templates the folder has already: the same ones are not written twice.
    let mut drop = BTreeSet::new();
    for t in &checked.set.templates {
        let name = &t.resource.metadata.name;
        if let Some(mine) = here.model.templates.get(name).filter(|m| !m.builtin)
            && mine.origin.file != target
        {
            if mine.template != t.resource {
                bail!(
                    "template {name:?} in {} differs from the folder's ({}); rename one of them; nothing was imported",
                    file.display(),
                    mine.origin.file.display()
                );
            }
            drop.insert(t.origin.document);
        }
    }
    let (new_text, replacing) = match here.model.stacks.get(stack) {
        None => {
            if std::fs::symlink_metadata(&target).is_ok() {
                bail!(
                    "{} exists and does not hold stack {stack}; nothing was imported",
                    target.display()
                );
            }
            let kept = if drop.is_empty() {
                text.clone()
            } else {
                remove_documents(&text, &drop)?.unwrap_or_default()
            };
            (kept, false)
        }
        Some(existing) => (
            merged(&here, &checked, stack, &target, prune, existing)?,
            true,
        ),
    };

    let after = crate::workspace::Workspace::with_file(&cli.dir, &target, &new_text)?;
    if !after.is_valid() || !after.stacks.contains_key(stack) {
        output::print_diagnostics(&after.diagnostics, &super::sources(&after));
        bail!("the folder would not be valid with the import; nothing was imported");
    }
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = engine_context(cli, rt.as_ref());
        let prefix = format!("{}{stack}-", crate::identity::OBJECT_PREFIX);
        let foreign: BTreeSet<String> = rt
            .list_containers(&prefix)
            .await?
            .iter()
            .filter_map(|c| c.owner().filter(|o| *o != ctx.owner).map(str::to_string))
            .chain(
                rt.list_networks(&prefix)
                    .await?
                    .iter()
                    .filter_map(|n| n.owner().filter(|o| *o != ctx.owner).map(str::to_string)),
            )
            .collect();
        if !foreign.is_empty() {
            bail!(
                "stack {stack}'s names are in use on {} by another devarch folder ({}); import it under another name; nothing was imported",
                rt.engine().kind,
                foreign.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        if replacing {
            crate::safe_fs::write_atomic(
                &target,
                new_text.as_bytes(),
                crate::safe_fs::FileMode::Keep { default: 0o644 },
            )
        } else {
            crate::safe_fs::write_new(&target, new_text.as_bytes(), 0o644)
        }
        .with_context(|| format!("writing {}", target.display()))?;
        let instances = after.stacks[stack].instances.len();
        println!(
            "{} stack {stack} in {} ({instances} instance{}).",
            if replacing { "Updated" } else { "Wrote" },
            target.display(),
            super::plural(instances)
        );
        let sel = Selection::only([stack]);
        let store = crate::state::secrets::SecretStore::open(&home(cli), &ctx.owner)?;
        for (instance, secret, value) in secrets {
            store.set(stack, instance, secret, value.expose())?;
            println!(
                "Stored the value of {instance}/{secret} as a devarch secret (the manifests refer to it, the value is not in them)."
            );
        }
        for ((instance, name), generate) in crate::allocate::referenced_secrets(&after.stacks[stack]) {
            if !generate && store.get(stack, &instance, &name)?.is_none() {
                println!(
                    "Secret {instance}/{name} is not set: devarch secret set {stack} {instance}/{name}"
                );
            }
        }
        match reconcile::plan(&ctx, &reconcile::Manifests::of(&after), &sel).await {
            Ok(planned) => print!("{}", crate::plan::render(&planned.plans)),
            Err(e) => eprintln!("warning: the plan cannot be made yet: {e}"),
        }
        Ok(exit::OK)
    })
}

/// The new text of `target` when the folder has `stack` already: only when every document of
/// the stack is in `target` and devarch's import wrote it. Instances of the file replace the
/// folder's of the same name; the folder's others stay unless `prune`.
fn merged(
    here: &Workspace,
    file: &Workspace,
    stack: &str,
    target: &PathBuf,
    prune: bool,
    existing: &crate::manifests::validate::StackModel,
) -> Result<String> {
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
        bail!(
            "the folder has a stack {stack:?} already ({}); import updates only a stack it wrote itself: merge by hand, or delete the stack first; nothing was imported",
            existing.origin.file.display()
        );
    }
    let incoming = &file.model.stacks[stack];
    let mut stack_doc = file
        .set
        .stacks
        .iter()
        .find(|s| s.resource.metadata.name == stack)
        .map(|s| s.resource.clone())
        .context("the file's Stack")?;
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
    let templates: Vec<_> = file.set.templates.iter().map(|t| &t.resource).collect();
    Ok(render(&stack_doc, templates))
}

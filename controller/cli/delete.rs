//! `devarch delete STACK`: shows the removal plan, removes the stack's documents from the
//! manifests folder, then its containers and network (volumes kept unless purged; purging also
//! removes this folder's secrets and config files of the stack under `--home`).

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::args::Cli;
use super::context::{engine_context, home, runtime, tokio_rt};
use super::plan::apply_and_report;
use super::{exit, output};
use crate::plan::render;
use crate::reconcile::{self, Selection, lock_stacks};
use crate::workspace::Workspace;

/// Remove the documents of `stack` from the manifests folder; returns the files changed.
fn remove_stack_documents(ws: &Workspace, stack: &str) -> Result<Vec<std::path::PathBuf>> {
    use std::collections::{BTreeMap, BTreeSet};
    let mut per_file: BTreeMap<&Path, BTreeSet<usize>> = BTreeMap::new();
    for s in ws
        .set
        .stacks
        .iter()
        .filter(|s| s.resource.metadata.name == stack)
    {
        per_file
            .entry(s.origin.file.as_path())
            .or_default()
            .insert(s.origin.document);
    }
    for i in ws
        .set
        .instances
        .iter()
        .filter(|i| i.resource.spec.stack == stack)
    {
        per_file
            .entry(i.origin.file.as_path())
            .or_default()
            .insert(i.origin.document);
    }
    let mut changed = Vec::new();
    for (file, docs) in per_file {
        // Edit the text the documents were numbered in, and only if the file still holds it.
        let text = ws
            .set
            .sources
            .get(file)
            .with_context(|| format!("{} was not read", file.display()))?;
        let now = crate::manifests::load::read_manifest(file)
            .with_context(|| format!("reading {}", file.display()))?;
        if now.as_bytes() != text.as_bytes() {
            bail!(
                "{} changed while deleting stack {stack}; nothing was removed, run delete again",
                file.display()
            );
        }
        let edited = crate::manifests::edit::remove_documents(text, &docs)
            .with_context(|| format!("removing stack {stack} from {}", file.display()))?;
        match edited {
            None => std::fs::remove_file(file)
                .with_context(|| format!("removing {}", file.display()))?,
            Some(kept) => crate::safe_fs::write_atomic(
                file,
                kept.as_bytes(),
                crate::safe_fs::FileMode::Keep { default: 0o644 },
            )
            .with_context(|| format!("rewriting {}", file.display()))?,
        }
        changed.push(file.to_path_buf());
    }
    Ok(changed)
}

/// `devarch delete STACK`.
pub fn delete(
    cli: &Cli,
    stack: &str,
    purge_volumes: bool,
    lock_timeout: Option<Duration>,
) -> Result<u8> {
    let ws = Workspace::load(&cli.dir)?;
    if ws.set.broken_names.iter().any(|(_, n)| n == stack)
        || (ws.model.stacks.contains_key(stack) && !ws.stacks.contains_key(stack))
    {
        output::print_diagnostics(&ws.diagnostics, &super::sources(&ws));
        bail!(
            "stack {stack:?} has manifest errors; fix them (or remove its files by hand) before deleting it"
        );
    }
    if !ws.is_valid() && !ws.model.stacks.contains_key(stack) {
        // It may be defined in a file that cannot be read: deleting it from the engine
        // would tear down what the folder still holds.
        output::print_diagnostics(&ws.diagnostics, &super::sources(&ws));
        bail!(
            "stack {stack:?} is not among the folder's valid manifests, and the folder has errors (above) that may hide it; fix them before deleting it"
        );
    }
    let home = home(cli);
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = engine_context(cli, rt.as_ref());
        let sel = Selection {
            stacks: vec![stack.to_string()],
            remove: [stack.to_string()].into(),
            options: crate::plan::PlanOptions { purge_volumes },
            locked: true,
        };
        let _locks = lock_stacks(&home, &sel.stacks, lock_timeout)?;
        let planned = reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &sel).await?;
        print!("{}", render(&planned.plans));
        std::io::stdout().flush()?;
        for f in remove_stack_documents(&ws, stack)? {
            eprintln!("removed stack {stack} from {}", f.display());
        }
        let errors = apply_and_report(&ctx, &planned).await;
        if errors > 0 {
            bail!("delete finished with {errors} failed step(s)");
        }
        if purge_volumes {
            // This folder's state of the stack; another folder's stack of the same name keeps
            // its own.
            let secrets = crate::state::secrets::SecretStore::open(&home, &ctx.owner)?;
            if secrets.purge_stack(stack)? {
                println!("Removed the secrets of stack {stack}.");
            }
            if crate::state::purge_config_files(&home, &ctx.owner, stack)? {
                println!("Removed the config files of stack {stack}.");
            }
        }
        if !purge_volumes {
            let kept: Vec<&str> = planned
                .observed
                .volumes
                .iter()
                .filter(|v| {
                    use crate::identity::Labelled;
                    v.is_ours(&ctx.owner) && v.stack() == Some(stack)
                })
                .map(|v| v.name.as_str())
                .collect();
            if !kept.is_empty() {
                println!(
                    "Kept volumes (remove with --purge-volumes): {}",
                    kept.join(", ")
                );
            }
        }
        println!("Stack {stack} deleted.");
        Ok(exit::OK)
    })
}

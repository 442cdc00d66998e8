//! `devarch delete STACK`: shows the removal plan, removes the stack's documents from the
//! manifests folder, then its containers and network. Like `docker compose down`, it keeps
//! what holds data — named volumes, and under `--home` the stack's secrets and materialised
//! config files — and says so; `--purge-volumes` removes the volumes, `--purge` all of it.

use std::io::Write;
use std::time::Duration;

use anyhow::{Result, bail};

use super::args::Cli;
use super::context::{engine_context, home, runtime, tokio_rt};
use super::plan::apply_and_report;
use super::{exit, output};
use crate::plan::render;
use crate::reconcile::{self, Selection, lock_stacks};
use crate::workspace::Workspace;

/// What `delete` removes besides the containers and the network.
#[derive(Clone, Copy, Debug, Default)]
pub struct Purge {
    /// The stack's named volumes.
    pub volumes: bool,
    /// The stack's secrets and config files under `--home`.
    pub state: bool,
}

/// `devarch delete STACK`.
pub fn delete(cli: &Cli, stack: &str, purge: Purge, lock_timeout: Option<Duration>) -> Result<u8> {
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
            options: crate::plan::PlanOptions {
                purge_volumes: purge.volumes,
            },
            locked: true,
        };
        let _locks = lock_stacks(&home, &sel.stacks, lock_timeout)?;
        let planned = match reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &sel).await {
            Ok(planned) => Some(planned),
            // Gone from the folder and the engine: `--purge` still removes what it left
            // under --home.
            Err(reconcile::ReconcileError::UnknownStack(_)) if purge.state => None,
            Err(e) => return Err(e.into()),
        };
        if let Some(planned) = &planned {
            out!("{}", render(&planned.plans))?;
            super::output::stdout().flush()?;
            for f in crate::folder_edit::remove_stack(&ws, stack)? {
                errln!("removed stack {stack} from {}", f.display());
            }
            let errors = apply_and_report(&ctx, planned).await;
            if errors > 0 {
                bail!("delete finished with {errors} failed step(s)");
            }
        }
        // The stack is gone: its status (what `watch` last recorded) goes with it.
        crate::status::StatusStore::new(&home, &ctx.owner)
            .remove(stack)
            .map_err(|e| anyhow::anyhow!("removing the status of stack {stack}: {e}"))?;
        // This folder's state of the stack; another folder's stack of the same name keeps
        // its own.
        let secrets = crate::state::secrets::SecretStore::open(&home, &ctx.owner)?;
        if purge.state {
            if secrets.purge_stack(stack)? {
                outln!("Removed the secrets of stack {stack}.")?;
            }
            if crate::state::purge_config_files(&home, &ctx.owner, stack)? {
                outln!("Removed the config files of stack {stack}.")?;
            }
        } else {
            let kept: Vec<String> = secrets
                .list(stack)?
                .into_iter()
                .map(|i| format!("{}/{}", i.instance, i.name))
                .collect();
            if !kept.is_empty() {
                outln!(
                    "Kept secrets (remove with --purge, or one by one with `devarch secret rm {stack} NAME`): {}",
                    kept.join(", ")
                )?;
            }
            let files = crate::state::config_files_dir(&home, &ctx.owner, stack);
            if files.is_dir() {
                outln!(
                    "Kept config files (remove with --purge): {}",
                    files.display()
                )?;
            }
        }
        if let Some(planned) = planned.as_ref().filter(|_| !purge.volumes) {
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
                outln!(
                    "Kept volumes (remove with --purge-volumes or --purge): {}",
                    kept.join(", ")
                )?;
            }
        }
        outln!("Stack {stack} deleted.")?;
        Ok(exit::OK)
    })
}

//! `devarch plan` and `devarch apply`, and `apply_and_report`, the apply-with-progress step
//! that `delete` reuses.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::args::Cli;
use super::context::{CHANGES, engine_context, home, load_valid, runtime, tokio_rt};
use super::exit;
use crate::apply::ApplyOptions;
use crate::plan::{PlanFile, Summary, render};
use crate::printable;
use crate::reconcile::{self, Context, Selection, lock_stacks};

fn print_skipped(planned: &reconcile::Planned) {
    for (s, why) in &planned.skipped {
        errln!("warning: stack {s}: {}", printable::block(&why.to_string()));
    }
}

/// The router lines of the plan: names the pass adds or removes (escaped: they are checked
/// host names, but the labels they are read back from are anyone's).
fn print_routes(planned: &reconcile::Planned, owner: &str) -> std::io::Result<()> {
    let routes = reconcile::RouteChanges::of(planned, owner);
    if !routes.is_empty() {
        out!("{}", printable::block(&routes.to_string()))?;
    }
    Ok(())
}

/// Apply planned stacks with progress lines; print each failed step; return how many failed.
pub(crate) async fn apply_and_report(ctx: &Context<'_>, planned: &reconcile::Planned) -> usize {
    let progress = super::progress::Lines::new();
    let reports = reconcile::apply(ctx, planned, &progress, ApplyOptions::default()).await;
    for (stack, r) in &reports {
        for e in &r.errors {
            errln!("error: stack {stack}: {}", printable::block(&e.to_string()));
        }
    }
    let failed: usize = reports.iter().map(|(_, r)| r.errors.len()).sum();
    failed + sync_router(ctx, planned, !reports.is_empty(), &progress).await
}

/// Syncs the router when the pass calls for it ([`reconcile::router_due`]); 1 if that failed
/// (the error printed), else 0.
async fn sync_router(
    ctx: &Context<'_>,
    planned: &reconcile::Planned,
    applied: bool,
    progress: &dyn crate::apply::Progress,
) -> usize {
    if !reconcile::router_due(planned, applied, &ctx.home) {
        return 0;
    }
    match reconcile::sync_router(ctx, progress).await {
        Ok(_) => 0,
        Err(e) => {
            errln!("error: {}", printable::block(&e.to_string()));
            1
        }
    }
}

/// `devarch plan`: exit 0 without changes, 2 ([`CHANGES`]) with changes, 1 on conflicts or
/// errors. The plan is printed (text or JSON) and, with `--out`, saved as a [`PlanFile`].
pub fn plan(cli: &Cli, stacks: &[String], json: bool, out: Option<&Path>) -> Result<u8> {
    let ws = load_valid(cli)?;
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = engine_context(cli, rt.as_ref());
        let sel = Selection::only(stacks);
        let planned = reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &sel).await?;
        print_skipped(&planned);
        let file = PlanFile {
            version: 1,
            owner: ctx.owner.clone(),
            stacks: planned.plans.clone(),
        };
        if json {
            outln!("{}", serde_json::to_string_pretty(&file)?)?;
        } else {
            out!("{}", render(&planned.plans))?;
            print_routes(&planned, &ctx.owner)?;
        }
        if let Some(path) = out {
            crate::safe_fs::write_atomic(
                path,
                serde_json::to_string_pretty(&file)?.as_bytes(),
                crate::safe_fs::FileMode::Private,
            )
            .with_context(|| format!("writing plan to {}", path.display()))?;
            errln!(
                "Saved the plan to {}; apply it with `devarch apply --plan {}`.",
                path.display(),
                path.display()
            );
        }
        if planned.plans.iter().any(|p| !p.conflicts.is_empty()) {
            return Ok(exit::ERROR);
        }
        Ok(if Summary::of(&planned.plans).is_empty() {
            exit::OK
        } else {
            CHANGES
        })
    })
}

/// Largest saved plan `apply --plan` reads.
const MAX_PLAN_BYTES: usize = 64 * 1024 * 1024;

/// `devarch apply`: locks the stacks, observes once under the locks, plans and applies;
/// with a saved plan, refuses it when a stack's fingerprint changed ("plan is stale"). Exit 1
/// when a stack has conflicts or a step failed.
pub fn apply(
    cli: &Cli,
    sel: Selection,
    saved: Option<&Path>,
    lock_timeout: Option<Duration>,
) -> Result<u8> {
    let ws = load_valid(cli)?;
    let saved: Option<PlanFile> = match saved {
        None => None,
        Some(p) => Some(
            serde_json::from_slice(
                &std::fs::canonicalize(p)
                    .map_err(crate::safe_fs::ReadError::from)
                    .and_then(|p| crate::safe_fs::read_limited(&p, MAX_PLAN_BYTES))
                    .with_context(|| format!("reading plan {}", p.display()))?,
            )
            .with_context(|| format!("{} is not a devarch plan", p.display()))?,
        ),
    };
    let home = home(cli);
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = engine_context(cli, rt.as_ref());
        let mut sel = sel;
        if let Some(f) = &saved {
            if f.owner != ctx.owner {
                bail!("plan is stale: it was made for the manifests folder {}, not {}", f.owner, ctx.owner);
            }
            if sel.stacks.is_empty() {
                sel.stacks = f.stacks.iter().map(|p| p.stack.clone()).collect();
            }
        }
        // Lock first, then observe: the plan we apply is made from a snapshot nobody else changes.
        let manifests = reconcile::Manifests::of(&ws);
        // Lock what the manifests name, then observe once under the locks: that snapshot is
        // the truth we plan and apply from. Only when the engine holds stacks of this folder
        // that the manifests no longer name are those locked too, and the engine read again.
        let first: Vec<String> = if sel.stacks.is_empty() {
            manifests.known.iter().cloned().collect()
        } else {
            sel.stacks.iter().filter(|s| manifests.known.contains(*s)).cloned().collect()
        };
        let mut locks = lock_stacks(&home, &first, lock_timeout)?;
        // Named stacks: only what they can own or collide with is read.
        let observe = || crate::observe::observe_stacks(ctx.runtime, &sel.stacks);
        let mut observed = observe().await?;
        let scope = reconcile::stacks_in_scope(&manifests, &observed, &ctx.owner, &sel)?;
        let more: Vec<String> = scope.iter().filter(|s| !first.contains(*s)).cloned().collect();
        if !more.is_empty() {
            locks.extend(lock_stacks(&home, &more, lock_timeout)?);
            observed = observe().await?;
        }
        let _locks = locks;
        sel.locked = true;
        let planned = reconcile::plan_with(&ctx, &manifests, &sel, observed)?;
        print_skipped(&planned);
        if let Some(f) = &saved {
            for p in &planned.plans {
                match f.stacks.iter().find(|s| s.stack == p.stack) {
                    Some(s) if s.fingerprint == p.fingerprint => {}
                    Some(_) => bail!("plan is stale: stack {:?} changed (manifests or engine state) since the plan was made; run `devarch plan` again", p.stack),
                    None => bail!("plan is stale: stack {:?} was not in the saved plan", p.stack),
                }
            }
        }
        let summary = Summary::of(&planned.plans);
        let conflicts = planned.plans.iter().any(|p| !p.conflicts.is_empty());
        if summary.is_empty() && !conflicts {
            outln!("No changes. {} up to date.", if planned.plans.len() == 1 { "Stack is" } else { "Stacks are" })?;
            let progress = super::progress::Lines::new();
            if sync_router(&ctx, &planned, false, &progress).await > 0 {
                return Ok(exit::ERROR);
            }
            return Ok(exit::OK);
        }
        out!("{}", render(&planned.plans))?;
        print_routes(&planned, &ctx.owner)?;
        super::output::stdout().flush()?;
        let errors = apply_and_report(&ctx, &planned).await;
        if conflicts {
            errln!("error: some stacks were not applied because of conflicts (see the plan above)");
            return Ok(exit::ERROR);
        }
        if errors > 0 {
            errln!("error: apply finished with {errors} failed step(s)");
            return Ok(exit::ERROR);
        }
        outln!("Apply complete. {}", summary.to_string().trim_start_matches("Plan: "))?;
        Ok(exit::OK)
    })
}

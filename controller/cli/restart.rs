//! `devarch restart STACK [INSTANCE...]`: restart running containers without recreating them,
//! under the stack's lock, waiting for health like `apply` (Compose users reach for `restart`
//! after a code change when the process does not reload).

use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::args::Cli;
use super::context::{engine_context, home, load_valid, runtime, tokio_rt};
use super::exit;
use crate::apply::restart::{Restarted, restart as restart_containers};
use crate::observe::select_containers;
use crate::reconcile::{self, Selection, lock_stacks};

/// `devarch restart`.
pub fn restart(
    cli: &Cli,
    stack: &str,
    instances: &[String],
    lock_timeout: Option<Duration>,
) -> Result<u8> {
    let ws = load_valid(cli)?;
    if !ws.stacks.contains_key(stack) {
        bail!("no stack {stack:?} in {}", cli.dir.display());
    }
    let home = home(cli);
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = engine_context(cli, rt.as_ref());
        let _lock = lock_stacks(&home, &[stack.to_string()], lock_timeout)?;
        let containers = select_containers(&ctx, stack, instances).await?;
        let sel = Selection {
            locked: true,
            ..Selection::only([stack])
        };
        let planned = reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &sel).await?;
        let desired = planned
            .desired
            .get(stack)
            .context("the stack has no desired state")?;
        let progress = super::progress::Lines::new();
        let results = restart_containers(rt.as_ref(), desired, &containers, &progress).await;
        let mut failed = 0;
        for (instance, r) in &results {
            match r {
                Restarted::Done => {}
                Restarted::NotRunning => {
                    errln!("note: {instance} is not running; `devarch apply {stack}` starts it")
                }
                Restarted::Failed(e) => {
                    failed += 1;
                    errln!("error: {instance}: {}", crate::printable::line(e));
                }
            }
        }
        if failed > 0 {
            bail!("{failed} instance(s) failed to restart");
        }
        let done = results
            .iter()
            .filter(|(_, r)| *r == Restarted::Done)
            .count();
        outln!(
            "Restarted {done} container{} of stack {stack}.",
            super::plural(done)
        )?;
        Ok(exit::OK)
    })
}

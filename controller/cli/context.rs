//! What every command that talks to the engine starts from: the home, the engine, a Tokio
//! runtime, and a folder that must be valid.

use anyhow::{Result, bail};

use super::args::{Cli, RuntimeChoice};
use super::output;
use crate::runtime::Runtime;
use crate::runtime::connect::{self, Choice};
use crate::workspace::Workspace;

/// Exit code of `plan` when there are changes.
pub const CHANGES: u8 = 2;

pub(crate) fn home(cli: &Cli) -> std::path::PathBuf {
    cli.home.clone().unwrap_or_else(crate::state::default_home)
}

pub(crate) async fn runtime(cli: &Cli) -> Result<Box<dyn Runtime>> {
    let choice = match cli.runtime {
        RuntimeChoice::Auto => Choice::Auto,
        RuntimeChoice::Docker => Choice::Docker,
        RuntimeChoice::Podman => Choice::Podman,
    };
    Ok(connect::connect(choice).await?)
}

pub(crate) fn tokio_rt() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Loads the folder; refuses to go on when it has errors.
pub(crate) fn load_valid(cli: &Cli) -> Result<Workspace> {
    let ws = Workspace::load(&cli.dir)?;
    if !ws.is_valid() {
        output::print_diagnostics(&ws.diagnostics, &super::sources(&ws));
        bail!(
            "{} in {}; nothing was planned or changed",
            output::summary(&ws.diagnostics),
            cli.dir.display()
        );
    }
    Ok(ws)
}

/// The reconcile context of this invocation: the engine, `--home` and the folder's owner label.
pub(crate) fn engine_context<'a>(
    cli: &Cli,
    runtime: &'a dyn Runtime,
) -> crate::reconcile::Context<'a> {
    crate::reconcile::Context {
        runtime,
        home: home(cli),
        owner: crate::identity::owner_of(&cli.dir),
    }
}

/// The containers of `stack` on the engine that this folder owns, by instance (temporary
/// `_next` containers of a recreate left out).
pub(crate) async fn stack_containers(
    ctx: &crate::reconcile::Context<'_>,
    stack: &str,
) -> Result<std::collections::BTreeMap<String, crate::runtime::ContainerSummary>> {
    use crate::identity::Labelled;
    let prefix = format!("{}{stack}-", crate::identity::OBJECT_PREFIX);
    let listed = ctx.runtime.list_containers(&prefix).await?;
    Ok(listed
        .into_iter()
        .filter(|c| c.is_ours(&ctx.owner) && c.stack() == Some(stack))
        .filter_map(|c| {
            let instance = c.instance()?.to_string();
            (c.name == crate::identity::container_name(stack, &instance)).then_some((instance, c))
        })
        .collect())
}

/// The containers of `instances` (all when empty) of `stack`; an unknown instance or a stack
/// without containers is an error listing what there is.
pub(crate) async fn select_containers(
    ctx: &crate::reconcile::Context<'_>,
    stack: &str,
    instances: &[String],
) -> Result<Vec<(String, crate::runtime::ContainerSummary)>> {
    let mut all = stack_containers(ctx, stack).await?;
    if all.is_empty() {
        bail!(
            "stack {stack:?} has no containers on {} (apply it first: `devarch apply {stack}`)",
            ctx.runtime.engine().kind
        );
    }
    if instances.is_empty() {
        return Ok(all.into_iter().collect());
    }
    let mut out = Vec::new();
    for name in instances {
        match all.remove(name) {
            Some(c) => out.push((name.clone(), c)),
            None if out.iter().any(|(n, _)| n == name) => {}
            None => bail!(
                "stack {stack:?} has no container for instance {name:?} (instances with containers: {})",
                stack_containers(ctx, stack)
                    .await?
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
    Ok(out)
}

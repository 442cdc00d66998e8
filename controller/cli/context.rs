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
    let choice = match &cli.runtime {
        RuntimeChoice::Auto => Choice::Auto,
        RuntimeChoice::Docker => Choice::Docker,
        RuntimeChoice::Podman => Choice::Podman,
        RuntimeChoice::Endpoint(e) => return Ok(Box::new(connect::connect_endpoint(e).await?)),
    };
    Ok(connect::connect(choice).await?)
}

/// The engine, or, when none answers, the [`crate::runtime::offline::Offline`] stand-in with
/// a note on stderr: for the commands that only write a file from the manifests and use the
/// engine only to see which names are taken there.
pub(crate) async fn runtime_or_offline(cli: &Cli) -> Box<dyn Runtime> {
    match runtime(cli).await {
        Ok(rt) => rt,
        Err(e) => {
            let why = format!("{e:#}");
            eprintln!(
                "note: {}; going on without one: names and host ports in use on an engine were not checked",
                crate::printable::line(&why)
            );
            Box::new(crate::runtime::offline::Offline::new(why))
        }
    }
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
        router: router_settings(cli),
    }
}

/// The router settings of `--router-image` and `--router-port`.
pub(crate) fn router_settings(cli: &Cli) -> crate::router::RouterSettings {
    crate::router::RouterSettings {
        image: cli.router_image.clone(),
        port: cli.router_port,
    }
}

//! `devarch compose STACK [--instance NAME] [--env-file FILE]`: the stack as a Compose file on
//! stdout ([`crate::compose`]); secrets as placeholders, their values only in the env file.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use super::args::{Cli, ComposeTarget};
use super::context::{engine_context, home, runtime_or_offline, tokio_rt};
use super::{exit, output};
use crate::compose::{env_file, render};
use crate::reconcile::{self, Selection};
use crate::state::secrets::SecretStore;
use crate::workspace::Workspace;

/// `devarch compose`.
pub fn compose(
    cli: &Cli,
    stack: &str,
    instance: Option<&str>,
    env_out: Option<&Path>,
    target: ComposeTarget,
) -> Result<u8> {
    let ws = Workspace::load(&cli.dir)?;
    let resolved = resolved_stack(cli, &ws, stack)?;
    if let Some(i) = instance
        && !resolved.instances.contains_key(i)
    {
        bail!(
            "stack {stack:?} has no instance {i:?} (instances: {})",
            resolved
                .instances
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(path) = env_out
        && std::fs::symlink_metadata(path).is_ok()
    {
        bail!(
            "{} exists; --env-file writes a new file (remove it first, or name another)",
            path.display()
        );
    }
    tokio_rt()?.block_on(async {
        let rt = runtime_or_offline(cli).await;
        let ctx = engine_context(cli, rt.as_ref());
        let sel = Selection::only([stack]);
        let planned = reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &sel).await?;
        let desired = planned
            .desired
            .get(stack)
            .with_context(|| format!("stack {stack:?} has no desired state"))?;
        let mut file = render(resolved, desired, instance).map_err(anyhow::Error::msg)?;
        if target == ComposeTarget::Swarm {
            file.document = crate::swarm::reshape(file.document, desired);
        }
        // The bind sources of config files must exist before `docker-compose up`.
        for (name, c) in &desired.containers {
            if instance.is_none_or(|i| i == name) {
                for f in &c.files {
                    crate::apply::files::materialize(f)?;
                }
            }
        }
        // docker-compose reads YAML 1.1, where `on`, `no` or `1:30` are not strings.
        let mut options = serde_saphyr::SerializerOptions::default();
        options.quote_all = true;
        let yaml = serde_saphyr::to_string_with_options(&file.document, options)?;
        // The env file's text first: a value it cannot carry is refused before any output.
        let env_text = match env_out {
            None => None,
            Some(_) => Some(secret_values(cli, &ctx.owner, stack, &file.secrets)?),
        };
        match target {
            ComposeTarget::Compose => out!("# Written by `devarch compose {stack}`; run it with: docker-compose -p devarch-{stack} -f FILE up -d\n{yaml}")?,
            ComposeTarget::Swarm => out!("# Written by `devarch compose {stack} --target swarm`; deploy it with: docker stack deploy -c FILE devarch-{stack}\n{yaml}")?,
        }
        if let (Some(path), Some(text)) = (env_out, env_text) {
            crate::safe_fs::write_new(path, text.as_bytes(), 0o600)
                .with_context(|| format!("writing {}", path.display()))?;
            errln!(
                "Wrote the values of {} secret{} to {} (mode 0600); pass it with --env-file.",
                file.secrets.len(),
                super::plural(file.secrets.len()),
                path.display()
            );
        } else if !file.secrets.is_empty() {
            errln!(
                "The file refers to {} secret{} as ${{DEVARCH_SECRET_...}}; --env-file FILE writes their values for docker-compose --env-file.",
                file.secrets.len(),
                super::plural(file.secrets.len())
            );
        }
        Ok(exit::OK)
    })
}

/// `stack`'s resolved state in `ws`, or why there is none (its manifest errors printed).
pub(crate) fn resolved_stack<'a>(
    cli: &Cli,
    ws: &'a Workspace,
    stack: &str,
) -> Result<&'a crate::resolve::ResolvedStack> {
    let Some(resolved) = ws.stacks.get(stack) else {
        if ws.model.stacks.contains_key(stack) {
            output::print_diagnostics(&ws.diagnostics, &super::sources(ws));
            bail!("stack {stack:?} has manifest errors; fix them first");
        }
        bail!("no stack {stack:?} in {}", cli.dir.display());
    };
    Ok(resolved)
}

/// The env file's text for `secrets` (variable, instance, secret) of `stack`.
///
/// # Errors
/// A secret not set, the store unreadable, or a value an env file cannot carry unchanged.
fn secret_values(
    cli: &Cli,
    owner: &str,
    stack: &str,
    secrets: &[(String, String, String)],
) -> Result<String> {
    let store = SecretStore::open(&home(cli), owner)?;
    let mut values = Vec::new();
    for (var, inst, name) in secrets {
        let value = store
            .get(stack, inst, name)?
            .with_context(|| format!("secret {inst}/{name} of stack {stack} is not set"))?;
        values.push((
            var.clone(),
            format!("{inst}/{name}"),
            value.expose().to_string(),
        ));
    }
    env_file(&values).map_err(anyhow::Error::msg)
}

//! `devarch export STACK [-o FILE]` and `devarch import FILE [--prune]`: a stack as one
//! self-contained file ([`crate::export`]), and back into a folder.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use super::args::Cli;
use super::context::{engine_context, home, runtime_or_offline, tokio_rt};
use super::{exit, output};
use crate::manifests::yaml::MAX_FILE_BYTES;
use crate::reconcile::{self, Selection};

/// `devarch export`.
pub fn export_stack(cli: &Cli, stack: &str, out: Option<&Path>) -> Result<u8> {
    let ws = super::context::load_valid(cli)?;
    let (text, binds) = crate::export::export_noting(&ws, stack)?;
    for b in &binds {
        errln!(
            "note: {}: bind source {} is relative to this folder; written as {} so it means the same place wherever the file is imported",
            crate::printable::line(&b.place),
            crate::printable::line(&b.relative),
            crate::printable::line(&b.absolute)
        );
    }
    match out {
        None => out!("{text}")?,
        Some(path) => {
            crate::safe_fs::write_atomic(
                path,
                text.as_bytes(),
                crate::safe_fs::FileMode::Keep { default: 0o644 },
            )
            .with_context(|| format!("writing {}", path.display()))?;
            errln!("Wrote stack {stack} to {}.", path.display());
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

/// `devarch import FILE [--stack NAME] [--prune]`: with `--stack`, the file's stack is
/// imported under that name.
pub fn import(cli: &Cli, file: &Path, stack: Option<&str>, prune: bool) -> Result<u8> {
    let text = read_input(file)?;
    if let Some(name) = stack {
        crate::identity::check_name(crate::identity::NameKind::Stack, name)
            .map_err(|e| anyhow::anyhow!("--stack: {e}; nothing was imported"))?;
    }
    import_text(cli, file, &text, (prune, stack), &[])
}

/// The switches of `devarch import --from compose`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ComposeFlags {
    /// `--as-template`.
    pub as_template: bool,
    /// `--env-from-shell`.
    pub env_from_shell: bool,
    /// `--prune`.
    pub prune: bool,
}

/// `devarch import --from compose FILE [--stack NAME] [--as-template] [--env-from-shell]`.
pub fn import_compose(
    cli: &Cli,
    file: &Path,
    stack: Option<&str>,
    flags: ComposeFlags,
) -> Result<u8> {
    let ComposeFlags {
        as_template,
        env_from_shell,
        prune,
    } = flags;
    use crate::compose_import::{Options, import};
    let text = read_input(file)?;
    let default_name = || {
        let folder = std::path::absolute(file)
            .ok()
            .and_then(|p| p.parent()?.file_name()?.to_str().map(str::to_string));
        crate::compose_import::default_stack_name(&text, folder.as_deref())
    };
    let name = stack.map_or_else(default_name, str::to_string);
    crate::identity::check_name(crate::identity::NameKind::Stack, &name)
        .map_err(|e| anyhow::anyhow!("{e} (choose one with --stack); nothing was imported"))?;
    let options = Options {
        stack: name.clone(),
        as_template,
        dir: cli.dir.clone(),
        env_from_shell,
        home: Some(home(cli)),
        secret_values: stored_secret_values(cli, &name),
    };
    let shell = |var: &str| std::env::var(var).ok();
    let imported = import(&text, file, &shell, &options)?;
    for n in &imported.notes {
        errln!(
            "note: {}:{}: {}: {}",
            file.display(),
            n.line,
            crate::printable::line(&n.key),
            crate::printable::line(&n.message)
        );
    }
    if !imported.notes.is_empty() {
        errln!(
            "{} note{} above: what was not carried over as it was.",
            imported.notes.len(),
            super::plural(imported.notes.len())
        );
    }
    if as_template {
        return write_template(cli, &imported.text);
    }
    import_text(cli, file, &imported.text, (prune, None), &imported.secrets)
}

/// The values this folder's secret store holds for `stack`, by the Compose variable `devarch
/// compose` writes for each; none when the store cannot be read (the import then notes the
/// placeholders it cannot resolve).
fn stored_secret_values(
    cli: &Cli,
    stack: &str,
) -> std::collections::BTreeMap<String, crate::state::secrets::Secret> {
    let owner = crate::identity::owner_of(&cli.dir);
    let Ok(store) = crate::state::secrets::SecretStore::open(&home(cli), &owner) else {
        return Default::default();
    };
    let Ok(list) = store.list(stack) else {
        return Default::default();
    };
    list.into_iter()
        .filter_map(|info| {
            let value = store.get(stack, &info.instance, &info.name).ok()??;
            Some((
                crate::compose::secret_variable(&info.instance, &info.name),
                value,
            ))
        })
        .collect()
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
    outln!("Wrote template {name} to {}.", target.display())?;
    Ok(exit::OK)
}

/// Imports `text` (read from `file`): see [`crate::import`]; `(prune, rename)` as
/// [`crate::import::prepare`] takes them. `secrets` (`(instance, name, value)`) are stored for
/// the stack once its manifests are written.
fn import_text(
    cli: &Cli,
    file: &Path,
    text: &str,
    (prune, rename): (bool, Option<&str>),
    secrets: &[(String, String, crate::state::secrets::Secret)],
) -> Result<u8> {
    let p = match crate::import::prepare(&cli.dir, file, text, prune, rename) {
        Ok(p) => p,
        Err(e) => {
            if let Some(ws) = e.diagnosed() {
                output::print_diagnostics(&ws.diagnostics, &super::sources(ws));
            }
            return Err(e.into());
        }
    };
    let stack = &p.stack;
    tokio_rt()?.block_on(async {
        let rt = runtime_or_offline(cli).await;
        let ctx = engine_context(cli, rt.as_ref());
        let foreign = crate::import::foreign_owners(rt.as_ref(), &ctx.owner, stack).await?;
        if !foreign.is_empty() {
            bail!(
                "stack {stack}'s names are in use on {} by another devarch folder ({}); import it under another name; nothing was imported",
                rt.engine().kind,
                foreign.into_iter().collect::<Vec<_>>().join(", ")
            );
        }
        crate::import::write(&p)?;
        let instances = p.after.stacks[stack].instances.len();
        outln!(
            "{} stack {stack} in {} ({instances} instance{}).",
            if p.replacing { "Updated" } else { "Wrote" },
            p.target.display(),
            super::plural(instances)
        )?;
        let store = crate::state::secrets::SecretStore::open(&home(cli), &ctx.owner)?;
        let missing = crate::import::store_secrets(&store, &p, secrets)?;
        for (instance, secret, _) in secrets {
            outln!(
                "Stored the value of {instance}/{secret} as a devarch secret (the manifests refer to it, the value is not in them)."
            )?;
        }
        for secret in missing {
            outln!("Secret {secret} is not set: devarch secret set {stack} {secret}")?;
        }
        let sel = Selection::only([stack]);
        match reconcile::plan(&ctx, &reconcile::Manifests::of(&p.after), &sel).await {
            Ok(planned) => out!("{}", crate::plan::render(&planned.plans))?,
            Err(e) => errln!("warning: the plan cannot be made yet: {e}"),
        }
        Ok(exit::OK)
    })
}

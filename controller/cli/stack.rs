//! `devarch stack clone|rename|enable|disable`: verbs that edit manifests. Values are spliced
//! into the user's files ([`crate::manifests::splice`]), so comments and formatting elsewhere
//! survive; each verb prints the plan its edit leads to (`rename` also carries the data over
//! and applies, see [`super::rename`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use serde_json::json;

use super::args::Cli;
use super::context::{engine_context, home, load_valid, runtime, tokio_rt};
use super::{exit, output};
use crate::folder_edit::{EditRefused, spliced, stack_documents};
use crate::manifests::splice::Change;
use crate::plan::render;
use crate::reconcile::{self, Selection};
use crate::state::secrets::SecretStore;
use crate::workspace::Workspace;

/// The folder, valid, with `stack` in it.
fn load_with(cli: &Cli, stack: &str) -> Result<Workspace> {
    let ws = load_valid(cli)?;
    if !ws.stacks.contains_key(stack) {
        let known: Vec<&str> = ws.stacks.keys().map(String::as_str).collect();
        bail!(
            "no stack {stack:?} in {} (stacks: {})",
            cli.dir.display(),
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        );
    }
    Ok(ws)
}

/// Splices `changes` into each file (all checked before any is written).
pub(crate) fn edit_files(
    ws: &Workspace,
    edits: &BTreeMap<PathBuf, Vec<Change>>,
) -> Result<Vec<PathBuf>> {
    let mut new_texts = Vec::new();
    for (file, changes) in edits {
        new_texts.push((file.clone(), spliced(ws, file, changes)?));
    }
    let mut written = Vec::new();
    for (file, text) in new_texts {
        crate::safe_fs::write_atomic(
            &file,
            text.as_bytes(),
            crate::safe_fs::FileMode::Keep { default: 0o644 },
        )
        .with_context(|| format!("writing {}", file.display()))?;
        written.push(file);
    }
    Ok(written)
}

/// Prints the plan of `stacks` for the folder as it is now on disk.
fn print_plan(cli: &Cli, stacks: &[String]) -> Result<u8> {
    let ws = load_valid(cli)?;
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = engine_context(cli, rt.as_ref());
        let sel = Selection::only(stacks);
        let planned = reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &sel).await?;
        out!("{}", render(&planned.plans))?;
        outln!(
            "Run `devarch apply {}` to carry it out (a running `devarch watch` does so by itself).",
            stacks.join(" ")
        )?;
        Ok(exit::OK)
    })
}

/// `devarch stack enable|disable NAME`.
pub fn set_enabled(cli: &Cli, stack: &str, enabled: bool) -> Result<u8> {
    let ws = load_with(cli, stack)?;
    if ws.stacks[stack].enabled == enabled {
        outln!(
            "Stack {stack} is already {}.",
            if enabled { "enabled" } else { "disabled" }
        )?;
        return Ok(exit::OK);
    }
    let s = ws
        .set
        .stacks
        .iter()
        .find(|s| s.resource.metadata.name == stack)
        .context("the stack's document")?;
    let change = Change::set(s.origin.document, "/spec/enabled", json!(enabled));
    let edits = BTreeMap::from([(s.origin.file.clone(), vec![change])]);
    for f in edit_files(&ws, &edits)? {
        outln!(
            "{} stack {stack} in {}",
            if enabled { "Enabled" } else { "Disabled" },
            f.display()
        )?;
    }
    print_plan(cli, &[stack.to_string()])
}

/// `devarch stack clone SRC DST [--with-secrets]`: a new file `DST.yaml` in the folder with
/// the source's Stack and Instance documents, renamed; templates are shared.
pub fn clone(cli: &Cli, src: &str, dst: &str, with_secrets: bool) -> Result<u8> {
    let ws = load_with(cli, src)?;
    crate::identity::check_name(crate::identity::NameKind::Stack, dst)
        .map_err(anyhow::Error::msg)?;
    if ws.model.stacks.contains_key(dst) {
        bail!("the folder has a stack {dst:?} already; nothing was written");
    }
    let (target, text) = match crate::folder_edit::clone_stack(&ws, &cli.dir, src, dst) {
        Ok((target, text, _)) => (target, text),
        Err(EditRefused::Invalid { after, .. }) => {
            output::print_diagnostics(&after.diagnostics, &super::sources(&after));
            bail!("the clone would not validate; nothing was written");
        }
        Err(e) => return Err(e.into()),
    };
    crate::folder_edit::write(&target, &text, true)?;
    outln!(
        "Wrote stack {dst} to {} (a clone of {src}).",
        target.display()
    )?;
    let store = SecretStore::open(&home(cli), &crate::identity::owner_of(&cli.dir))?;
    if with_secrets {
        let n = store.copy_stack(src, dst)?;
        outln!("Copied {n} secret{} from {src}.", super::plural(n))?;
    } else if !store.list(src)?.is_empty() {
        outln!("Secrets were not copied (--with-secrets copies them): {dst} generates its own.")?;
    }
    print_plan(cli, &[dst.to_string()])
}

/// `devarch stack rename OLD NEW`: under both stacks' locks, stops OLD's containers, copies
/// each named volume's data to NEW's volume, moves the secrets, renames the stack in its
/// manifests and applies both (OLD's containers and network go, NEW's are created on the
/// copied volumes). OLD's volumes are kept until purged (`devarch delete OLD --purge-volumes`).
pub fn rename(
    cli: &Cli,
    old: &str,
    new: &str,
    lock_timeout: Option<std::time::Duration>,
) -> Result<u8> {
    use crate::identity::{self, Labelled};
    let ws = load_with(cli, old)?;
    identity::check_name(identity::NameKind::Stack, new).map_err(anyhow::Error::msg)?;
    if ws.model.stacks.contains_key(new) {
        bail!("the folder has a stack {new:?} already; nothing was changed");
    }
    let home = home(cli);
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = engine_context(cli, rt.as_ref());
        let names = [old.to_string(), new.to_string()];
        let _locks = reconcile::lock_stacks(&home, &names, lock_timeout)?;
        let new_prefix = format!("{}{new}-", identity::OBJECT_PREFIX);
        let taken: Vec<String> = rt
            .list_containers(&new_prefix)
            .await?
            .into_iter()
            .map(|c| c.name)
            .chain(rt.list_volumes(&new_prefix).await?.into_iter().map(|v| v.name))
            .chain(rt.list_networks(&new_prefix).await?.into_iter().map(|n| n.name))
            .filter(|n| n.starts_with(&new_prefix))
            .collect();
        if !taken.is_empty() {
            bail!(
                "the engine has objects named for stack {new} already ({}); nothing was changed",
                taken.join(", ")
            );
        }
        let resolved = &ws.stacks[old];
        let containers = crate::observe::instance_containers(&ctx, old).await?;
        let old_prefix = format!("{}{old}-", identity::OBJECT_PREFIX);
        let volumes: Vec<_> = rt
            .list_volumes(&old_prefix)
            .await?
            .into_iter()
            .filter(|v| v.is_ours(&ctx.owner) && v.stack() == Some(old))
            .collect();
        // Stop what writes to the volumes, so the copies are consistent.
        let mut stopped = Vec::new();
        for c in containers.values().filter(|c| c.state.is_running()) {
            rt.stop_container(&c.id, std::time::Duration::from_secs(10)).await?;
            stopped.push(c.id.clone());
        }
        let copied = copy_volumes(&ctx, resolved, old, new, &volumes).await;
        let copied = match copied {
            Ok(copied) => copied,
            Err(e) => {
                for id in &stopped {
                    let _ = rt.start_container(id).await;
                }
                return Err(e.context("nothing was renamed; the stack's containers were started again"));
            }
        };
        let store = SecretStore::open(&home, &ctx.owner)?;
        let moved = store.copy_stack(old, new)?;
        let mut edits: BTreeMap<PathBuf, Vec<Change>> = BTreeMap::new();
        for (file, docs) in stack_documents(&ws, old) {
            for (doc, pointer) in docs {
                edits.entry(file.clone()).or_default().push(Change::set(doc, pointer, json!(new)));
            }
        }
        for f in edit_files(&ws, &edits)? {
            outln!("Renamed stack {old} to {new} in {}", f.display())?;
        }
        let ws = load_valid(cli)?;
        let sel = Selection {
            remove: [old.to_string()].into(),
            locked: true,
            ..Selection::only(names)
        };
        let planned = reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &sel).await?;
        out!("{}", render(&planned.plans))?;
        let errors = super::plan::apply_and_report(&ctx, &planned).await;
        if errors > 0 {
            bail!("the rename's apply finished with {errors} failed step(s); run `devarch apply {new}`");
        }
        store.purge_stack(old)?;
        crate::state::purge_config_files(&home, &ctx.owner, old)?;
        if moved > 0 {
            outln!("Moved {moved} secret{} to {new}.", super::plural(moved))?;
        }
        if !copied.is_empty() {
            outln!(
                "Copied the data of {} to {}; the old volumes are kept (remove them with `devarch delete {old} --purge-volumes`).",
                copied.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>().join(", "),
                copied.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>().join(", ")
            )?;
        }
        outln!("Stack {old} is now {new}.")?;
        Ok(exit::OK)
    })
}

/// Copies each of `old`'s volumes to the volume of the same instance and name under `new`;
/// the `(from, to)` pairs. On failure the volumes made so far are removed again.
async fn copy_volumes(
    ctx: &reconcile::Context<'_>,
    resolved: &crate::resolve::ResolvedStack,
    old: &str,
    new: &str,
    volumes: &[crate::runtime::VolumeSummary],
) -> Result<Vec<(String, String)>> {
    use crate::identity::{self, Labelled};
    let mut copied: Vec<(String, String)> = Vec::new();
    for v in volumes {
        let Some(inst) = v.instance() else { continue };
        let Some(suffix) = v
            .name
            .strip_prefix(&format!("{}{old}-{inst}-", identity::OBJECT_PREFIX))
        else {
            continue;
        };
        let to = identity::volume_name(new, inst, suffix);
        let image = resolved
            .instances
            .get(inst)
            .and_then(|i| i.spec.image.clone())
            .with_context(|| format!("volume {} belongs to instance {inst}, which the stack no longer has; remove it or copy it by hand", v.name))?;
        let mut labels = identity::stack_labels(new, &ctx.owner);
        labels.insert(identity::LABEL_INSTANCE.into(), inst.to_string());
        let helper = format!(
            "{}{}_copy",
            identity::OBJECT_PREFIX,
            &to[identity::OBJECT_PREFIX.len()..]
        );
        errln!("copying volume {} to {to}", v.name);
        let done = crate::apply::volume_copy::copy_volume(
            ctx.runtime,
            &v.name,
            &to,
            &labels,
            &image,
            &helper,
        )
        .await;
        if let Err(e) = done {
            let _ = ctx.runtime.remove_volume(&to).await;
            for (_, made) in &copied {
                let _ = ctx.runtime.remove_volume(made).await;
            }
            return Err(e.into());
        }
        copied.push((v.name.clone(), to));
    }
    Ok(copied)
}

//! Commands that talk to the engine: plan, apply, delete, describe, and the running counts of `get stacks`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};

use super::args::{Cli, ListFormat, RuntimeChoice};
use super::{exit, output};
use crate::apply::{ApplyOptions, Event, Progress, Status};
use crate::plan::{PlanFile, Summary, render};
use crate::reconcile::{self, Context, Selection, lock_stacks};
use crate::runtime::connect::{self, Choice};
use crate::runtime::{PullProgress, Runtime};
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

fn tokio_rt() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Loads the folder; refuses to go on when it has errors.
fn load_valid(cli: &Cli) -> Result<Workspace> {
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

/// Prints progress lines like `docker compose`; on a terminal, image pulls get a live spinner
/// with their byte counts.
struct Lines {
    tty: bool,
    pulls: Mutex<std::collections::HashMap<String, indicatif::ProgressBar>>,
}

impl Lines {
    fn new() -> Self {
        Lines {
            tty: std::io::stderr().is_terminal(),
            pulls: Mutex::new(Default::default()),
        }
    }
}

impl Progress for Lines {
    fn event(&self, e: Event) {
        if let Some(image) = e.object.strip_prefix("image ")
            && let Some(bar) = self.pulls.lock().expect("lock").remove(image)
        {
            bar.finish_and_clear();
        }
        let mark = match e.status {
            Status::Working => "…",
            Status::Waiting => "⏳",
            Status::Done => "✔",
            Status::Failed => "✘",
        };
        let t = e
            .elapsed
            .map(|d| format!(" {:.1}s", d.as_secs_f64()))
            .unwrap_or_default();
        eprintln!(" {mark} {:<48} {}{t}", e.object, e.message);
    }
    fn pull(&self, p: PullProgress) {
        if !self.tty {
            return;
        }
        let mut pulls = self.pulls.lock().expect("lock");
        let bar = pulls.entry(p.image.clone()).or_insert_with(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template(" {spinner} image {prefix}: {msg}")
                    .expect("template"),
            );
            b.set_prefix(p.image.clone());
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        let cur = p
            .current
            .map(|(a, b)| format!(" {:.1}/{:.1} MB", a as f64 / 1e6, b as f64 / 1e6))
            .unwrap_or_default();
        bar.set_message(format!("{}{cur}", p.status));
    }
}

fn print_skipped(planned: &reconcile::Planned) {
    for (s, why) in &planned.skipped {
        eprintln!("warning: stack {s}: {why}");
    }
}

/// Apply planned stacks with progress lines; print each failed step; return how many failed.
async fn apply_and_report(ctx: &Context<'_>, planned: &reconcile::Planned) -> usize {
    let progress = Lines::new();
    let reports = reconcile::apply(ctx, planned, &progress, ApplyOptions::default()).await;
    for (stack, r) in &reports {
        for e in &r.errors {
            eprintln!("error: stack {stack}: {e}");
        }
    }
    reports.iter().map(|(_, r)| r.errors.len()).sum()
}

/// `devarch plan`.
pub fn plan(cli: &Cli, stacks: &[String], json: bool, out: Option<&Path>) -> Result<u8> {
    let ws = load_valid(cli)?;
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = Context {
            runtime: rt.as_ref(),
            home: home(cli),
            owner: Context::owner_of(&cli.dir),
        };
        let sel = Selection {
            stacks: stacks.to_vec(),
            ..Selection::default()
        };
        let planned = reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &sel).await?;
        print_skipped(&planned);
        let file = PlanFile {
            version: 1,
            owner: ctx.owner.clone(),
            stacks: planned.plans.clone(),
        };
        if json {
            println!("{}", serde_json::to_string_pretty(&file)?);
        } else {
            print!("{}", render(&planned.plans));
        }
        if let Some(path) = out {
            std::fs::write(path, serde_json::to_string_pretty(&file)?)
                .with_context(|| format!("writing plan to {}", path.display()))?;
            eprintln!(
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

/// `devarch apply` (and the removal half of `delete`).
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
            serde_json::from_str(
                &std::fs::read_to_string(p)
                    .with_context(|| format!("reading plan {}", p.display()))?,
            )
            .with_context(|| format!("{} is not a devarch plan", p.display()))?,
        ),
    };
    let home = home(cli);
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = Context { runtime: rt.as_ref(), home: home.clone(), owner: Context::owner_of(&cli.dir) };
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
        let mut observed = crate::observe::observe(ctx.runtime).await?;
        let scope = reconcile::stacks_in_scope(&manifests, &observed, &ctx.owner, &sel)?;
        let more: Vec<String> = scope.iter().filter(|s| !first.contains(*s)).cloned().collect();
        if !more.is_empty() {
            locks.extend(lock_stacks(&home, &more, lock_timeout)?);
            observed = crate::observe::observe(ctx.runtime).await?;
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
            println!("No changes. {} up to date.", if planned.plans.len() == 1 { "Stack is" } else { "Stacks are" });
            return Ok(exit::OK);
        }
        print!("{}", render(&planned.plans));
        std::io::stdout().flush()?;
        let errors = apply_and_report(&ctx, &planned).await;
        if conflicts {
            eprintln!("error: some stacks were not applied because of conflicts (see the plan above)");
            return Ok(exit::ERROR);
        }
        if errors > 0 {
            eprintln!("error: apply finished with {errors} failed step(s)");
            return Ok(exit::ERROR);
        }
        println!("Apply complete. {}", summary.to_string().trim_start_matches("Plan: "));
        Ok(exit::OK)
    })
}

/// Running containers per stack, for `get stacks` (None when no engine answers).
pub fn running_counts(cli: &Cli) -> Option<std::collections::BTreeMap<String, (usize, usize)>> {
    let rt = tokio_rt().ok()?;
    rt.block_on(async {
        let engine = tokio::time::timeout(Duration::from_secs(5), runtime(cli))
            .await
            .ok()?
            .ok()?;
        let w = crate::observe::observe(engine.as_ref()).await.ok()?;
        let owner = Context::owner_of(&cli.dir);
        let mut out = std::collections::BTreeMap::new();
        use crate::observe::Labelled;
        for c in w.containers.iter().filter(|c| c.is_ours(&owner)) {
            if let Some(s) = c.stack() {
                let e: &mut (usize, usize) = out.entry(s.to_string()).or_default();
                e.0 += 1;
                if c.state.is_running() {
                    e.1 += 1;
                }
            }
        }
        Some(out)
    })
}

/// `devarch describe stack NAME`.
pub fn describe_stack(cli: &Cli, name: &str, format: ListFormat) -> Result<u8> {
    let ws = Workspace::load(&cli.dir)?;
    let Some(stack) = ws.stacks.get(name) else {
        if ws.model.stacks.contains_key(name) {
            output::print_diagnostics(&ws.diagnostics, &super::sources(&ws));
            bail!("stack {name:?} has manifest errors");
        }
        bail!("no stack {name:?} in {}", cli.dir.display());
    };
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = Context { runtime: rt.as_ref(), home: home(cli), owner: Context::owner_of(&cli.dir) };
        let sel = Selection { stacks: vec![name.to_string()], ..Selection::default() };
        let planned = reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &sel).await?;
        let desired = planned.desired.get(name).context("stack has no desired state")?;
        let plan = &planned.plans[0];
        use crate::observe::Labelled;
        let mut instances = Vec::new();
        for (iname, inst) in &stack.instances {
            let d = &desired.containers[iname];
            let observed = planned.observed.container_named(&d.spec.name).filter(|c| c.is_ours(&ctx.owner));
            let health = match observed {
                Some(c) if c.state.is_running() && d.has_healthcheck => rt.inspect_container(&c.id).await.ok().map(|i| format!("{:?}", i.health).to_lowercase()),
                _ => None,
            };
            instances.push(serde_json::json!({
                "name": iname,
                "template": inst.template,
                "container": d.spec.name,
                "image": d.spec.image,
                "state": observed.map(|c| serde_json::to_value(&c.state).unwrap_or_default()).unwrap_or(serde_json::json!("absent")),
                "health": health,
                "ports": d.spec.ports.iter().map(|p| format!("{}{}->{}/{}", p.host_ip.as_deref().map(|i| format!("{i}:")).unwrap_or_default(), p.host_port, p.container_port, p.protocol)).collect::<Vec<_>>(),
                "wires": inst.wires.iter().map(|w| format!("{} -> {} ({})", w.import, w.provider, w.kind)).collect::<Vec<_>>(),
                "dependsOn": inst.depends_on.iter().map(|d| format!("{} ({})", d.instance, serde_json::to_value(d.condition).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())).collect::<Vec<_>>(),
                "upToDate": observed.is_some_and(|c| c.config_hash() == Some(d.config_hash.as_str())),
            }));
        }
        let net = planned.observed.networks_named(&stack.network).find(|n| n.is_ours(&ctx.owner));
        let pending = Summary::of(std::slice::from_ref(plan));
        let controller_status = {
            let store = crate::status::StatusStore::new(&ctx.home, &ctx.owner);
            store.exists(name).then(|| store.read(name))
        };
        let doc = serde_json::json!({
            "name": name,
            "description": stack.description,
            "enabled": stack.enabled,
            "engine": rt.engine(),
            "network": {"name": stack.network, "id": net.map(|n| n.id.clone())},
            "instances": instances,
            "conflicts": plan.conflicts.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
            "conditions": {
                "Ready": pending.is_empty() && plan.conflicts.is_empty(),
                "pendingChanges": pending.to_string(),
            },
            "controllerStatus": controller_status,
        });
        if format == ListFormat::Json {
            println!("{}", serde_json::to_string_pretty(&doc)?);
            return Ok(exit::OK);
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "Name:         {name}")?;
        writeln!(out, "Description:  {}", stack.description.as_deref().unwrap_or(""))?;
        writeln!(out, "Enabled:      {}", stack.enabled)?;
        writeln!(out, "Engine:       {} {} at {}", rt.engine().kind, rt.engine().version, rt.engine().endpoint)?;
        writeln!(out, "Network:      {} ({})", stack.network, net.map(|n| n.id.chars().take(12).collect::<String>()).unwrap_or_else(|| "absent".into()))?;
        writeln!(out, "Ready:        {}", if pending.is_empty() && plan.conflicts.is_empty() { "True".to_string() } else { format!("False ({})", pending) })?;
        writeln!(out, "Instances:")?;
        let rows: Vec<Vec<String>> = instances
            .iter()
            .map(|i| {
                let s = |k: &str| i[k].as_str().map(str::to_string).unwrap_or_default();
                let j = |k: &str| i[k].as_array().map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default();
                let state = match (s("state"), i["health"].as_str()) {
                    (st, Some(h)) => format!("{st} ({h})"),
                    (st, None) => st,
                };
                vec![s("name"), s("container"), s("image"), state, j("ports"), j("wires"), j("dependsOn")]
            })
            .collect();
        output::table(&mut out, &["  NAME", "CONTAINER", "IMAGE", "STATE", "PORTS", "WIRES", "DEPENDS ON"], &rows.into_iter().map(|mut r| {
            r[0] = format!("  {}", r[0]);
            r
        }).collect::<Vec<_>>())?;
        for c in &plan.conflicts {
            writeln!(out, "Conflict:     {c}")?;
        }
        let store = crate::status::StatusStore::new(&ctx.home, &ctx.owner);
        if store.exists(name) {
            let st = store.read(name);
            writeln!(out, "Controller status (devarch watch):")?;
            for c in &st.conditions {
                writeln!(
                    out,
                    "  {:<12} {:<5} {:<16} {}s ago  {}",
                    format!("{:?}", c.kind),
                    c.status,
                    c.reason,
                    crate::status::now().saturating_sub(c.last_transition_time),
                    c.message
                )?;
            }
            if let Some(g) = &st.observed_generation {
                writeln!(out, "  observed generation {g}, applied {}", st.applied_generation.as_deref().unwrap_or("-"))?;
            }
        }
        Ok(exit::OK)
    })
}

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
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        // Split at document markers, keep every segment that is not one of the stack's documents.
        let mut segments: Vec<String> = vec![String::new()];
        for line in text.split_inclusive('\n') {
            if line.trim_end() == "---" || line.starts_with("--- ") {
                segments.push(String::new());
            }
            segments.last_mut().expect("one segment").push_str(line);
        }
        let mut doc_index = 0usize;
        let mut kept = String::new();
        let mut kept_docs = 0usize;
        for seg in segments {
            let body = seg.strip_prefix("---").unwrap_or(&seg);
            let is_doc = crate::manifests::yaml::parse_documents(body)
                .map(|d| !d.is_empty())
                .unwrap_or(true);
            if is_doc {
                let drop = docs.contains(&doc_index);
                doc_index += 1;
                if drop {
                    continue;
                }
                kept_docs += 1;
            }
            kept.push_str(&seg);
        }
        if kept_docs == 0 {
            std::fs::remove_file(file).with_context(|| format!("removing {}", file.display()))?;
        } else {
            let kept = kept
                .strip_prefix("---\n")
                .map(str::to_string)
                .unwrap_or(kept);
            let tmp = file.with_extension("devarch-tmp");
            std::fs::write(&tmp, kept)
                .and_then(|_| std::fs::rename(&tmp, file))
                .with_context(|| format!("rewriting {}", file.display()))?;
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
    let home = home(cli);
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = Context {
            runtime: rt.as_ref(),
            home: home.clone(),
            owner: Context::owner_of(&cli.dir),
        };
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
        if !purge_volumes {
            let kept: Vec<&str> = planned
                .observed
                .volumes
                .iter()
                .filter(|v| {
                    use crate::observe::Labelled;
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

/// `devarch watch`.
pub fn watch(
    cli: &Cli,
    plan_only: bool,
    resync: Duration,
    concurrency: usize,
    debounce: Duration,
    log_format: super::args::LogFormat,
) -> Result<u8> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEVARCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    match log_format {
        super::args::LogFormat::Json => builder.json().init(),
        super::args::LogFormat::Text => builder.init(),
    }
    if !cli.dir.is_dir() {
        bail!(
            "manifests folder {} does not exist (set --dir or DEVARCH_DIR)",
            cli.dir.display()
        );
    }
    let opts = crate::controller::watch::WatchOptions {
        dir: cli.dir.clone(),
        home: home(cli),
        plan_only,
        resync,
        concurrency,
        debounce,
    };
    tokio_rt()?.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        {
            let token = shutdown.clone();
            tokio::spawn(async move {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
                tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
                tracing::info!("shutting down: letting running reconciles finish");
                token.cancel();
            });
        }
        // Wait for an engine: the controller may start before it.
        let rt: std::sync::Arc<dyn Runtime> = loop {
            match runtime(cli).await {
                Ok(rt) => break std::sync::Arc::from(rt),
                Err(e) => {
                    tracing::warn!("{e:#}; retrying in 2s");
                    tokio::select! { _ = shutdown.cancelled() => return Ok(exit::OK), _ = tokio::time::sleep(Duration::from_secs(2)) => {} }
                }
            }
        };
        crate::controller::watch::run(opts, rt, shutdown).await?;
        Ok(exit::OK)
    })
}

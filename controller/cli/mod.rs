/*! The command-line layer: parse arguments, run one command, map the outcome to an exit code.
The only module that uses `anyhow`. */

pub mod args;
pub mod engine;
pub mod output;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, Parser};
use serde::Serialize;
use serde_json::json;

use crate::catalog;
use crate::manifests::diagnostics::SourceMap;
use crate::manifests::types::{HostPort, ServiceSpec};
use crate::workspace::Workspace;
use args::{Cli, Command, DocFormat, GetWhat, ListFormat};

/// Exit codes.
pub mod exit {
    /// Success (for `plan`: no changes).
    pub const OK: u8 = 0;
    /// Error.
    pub const ERROR: u8 = 1;
}

/// Parse the process arguments and run.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(exit::ERROR)
        }
    }
}

fn load(cli: &Cli) -> Result<Workspace> {
    Ok(Workspace::load(&cli.dir)?)
}

pub(crate) fn sources(ws: &Workspace) -> SourceMap {
    let mut s = ws.set.sources.clone();
    for (name, text) in catalog::SOURCES {
        s.insert(
            PathBuf::from(format!("{}/{name}.yaml", catalog::BUILTIN_PREFIX)),
            (*text).into(),
        );
    }
    s
}

/// Print problems to stderr as a warning (commands that can still answer).
fn warn_if_invalid(ws: &Workspace) {
    if !ws.is_valid() {
        eprintln!(
            "warning: {} in {} (run `devarch validate` for details); affected resources are left out",
            output::summary(&ws.diagnostics),
            ws.set
                .files
                .first()
                .and_then(|f| f.parent())
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
}

/// Run one parsed command; returns the exit code.
///
/// # Errors
/// Any failure, printed by [`main`] as `error: ...` with exit code 1.
pub fn run(cli: Cli) -> Result<u8> {
    match &cli.command {
        Command::Validate => validate(&cli),
        Command::Get { what, output } => get(&cli, *what, *output),
        Command::EffectiveConfig {
            stack,
            instance,
            output,
        } => effective_config(&cli, stack, instance, *output),
        Command::Schema { check, root } => schema(root, *check),
        Command::Plan {
            stacks,
            output,
            out,
        } => engine::plan(&cli, stacks, *output == ListFormat::Json, out.as_deref()),
        Command::Apply {
            stacks,
            plan,
            lock_timeout,
        } => {
            let sel = crate::reconcile::Selection {
                stacks: stacks.clone(),
                ..Default::default()
            };
            engine::apply(&cli, sel, plan.as_deref(), *lock_timeout)
        }
        Command::Describe {
            what: args::DescribeWhat::Stack,
            name,
            output,
        } => engine::describe_stack(&cli, name, *output),
        Command::Watch {
            plan_only,
            resync,
            concurrency,
            debounce,
            log_format,
        } => engine::watch(
            &cli,
            *plan_only,
            *resync,
            *concurrency,
            *debounce,
            *log_format,
        ),
        Command::Delete {
            stack,
            purge_volumes,
            lock_timeout,
        } => engine::delete(&cli, stack, *purge_volumes, *lock_timeout),
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "devarch",
                &mut std::io::stdout(),
            );
            Ok(exit::OK)
        }
    }
}

fn validate(cli: &Cli) -> Result<u8> {
    let ws = load(cli)?;
    if !ws.is_valid() {
        output::print_diagnostics(&ws.diagnostics, &sources(&ws));
        eprintln!("error: {}", output::summary(&ws.diagnostics));
        return Ok(exit::ERROR);
    }
    let instances: usize = ws.stacks.values().map(|s| s.instances.len()).sum();
    let local_templates = ws.model.templates.values().filter(|t| !t.builtin).count();
    println!(
        "{}: valid ({} file{}, {} stack{}, {} instance{}, {} template{} from the folder)",
        cli.dir.display(),
        ws.set.files.len(),
        plural(ws.set.files.len()),
        ws.stacks.len(),
        plural(ws.stacks.len()),
        instances,
        plural(instances),
        local_templates,
        plural(local_templates)
    );
    Ok(exit::OK)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn ports_text(spec: &ServiceSpec) -> String {
    spec.ports
        .iter()
        .map(|p| match p.host {
            Some(HostPort::Fixed(h)) => format!("{h}->{}/{}", p.container, p.protocol),
            Some(HostPort::Auto) => format!("auto->{}/{}", p.container, p.protocol),
            None => format!("{}/{}", p.container, p.protocol),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn print_json(v: &impl Serialize) -> Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, v)?;
    writeln!(out)?;
    Ok(())
}

fn get(cli: &Cli, what: GetWhat, format: ListFormat) -> Result<u8> {
    let ws = load(cli)?;
    warn_if_invalid(&ws);
    let mut out = std::io::stdout().lock();
    match what {
        GetWhat::Stacks => {
            let running = engine::running_counts(cli);
            let statuses = crate::status::StatusStore::new(
                &engine::home(cli),
                &crate::reconcile::Context::owner_of(&cli.dir),
            );
            if running.is_none() {
                eprintln!("warning: no container engine answered; RUNNING is unknown");
            }
            let rows: Vec<serde_json::Value> = ws
                .model
                .stacks
                .values()
                .map(|s| {
                    json!({
                        "name": s.name,
                        "description": s.spec.description,
                        "enabled": s.spec.enabled,
                        "instances": s.instances.len(),
                        "running": running.as_ref().map(|r| r.get(&s.name).map(|c| c.1).unwrap_or(0)),
                        "valid": ws.stacks.contains_key(&s.name),
                        "network": crate::identity::network_name(&s.name),
                        "file": s.origin.file,
                        "status": statuses.exists(&s.name).then(|| statuses.read(&s.name)),
                    })
                })
                .collect();
            if format == ListFormat::Json {
                return print_json(&rows).map(|_| exit::OK);
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r["name"].as_str().unwrap_or_default().to_string(),
                        r["instances"].to_string(),
                        r["running"]
                            .as_u64()
                            .map(|n| n.to_string())
                            .unwrap_or_else(|| "?".into()),
                        if r["enabled"] == json!(true) {
                            "yes"
                        } else {
                            "no"
                        }
                        .to_string(),
                        if r["valid"] == json!(true) {
                            "valid"
                        } else {
                            "invalid"
                        }
                        .to_string(),
                        r["status"]
                            .get("conditions")
                            .map(|_| {
                                serde_json::from_value::<crate::status::StackStatus>(
                                    r["status"].clone(),
                                )
                                .map(|s| s.summary().to_string())
                                .unwrap_or_default()
                            })
                            .unwrap_or_else(|| "-".into()),
                        r["description"].as_str().unwrap_or("").to_string(),
                    ]
                })
                .collect();
            output::table(
                &mut out,
                &[
                    "NAME",
                    "INSTANCES",
                    "RUNNING",
                    "ENABLED",
                    "MANIFESTS",
                    "STATUS",
                    "DESCRIPTION",
                ],
                &table,
            )?;
        }
        GetWhat::Instances => {
            let mut rows = Vec::new();
            for s in ws.stacks.values() {
                for i in s.instances.values() {
                    rows.push(json!({
                        "stack": s.name,
                        "name": i.name,
                        "template": i.template,
                        "image": i.spec.image,
                        "container": i.container,
                        "ports": ports_text(&i.spec),
                        "dependsOn": i.depends_on.iter().map(|d| &d.instance).collect::<Vec<_>>(),
                    }));
                }
            }
            if format == ListFormat::Json {
                return print_json(&rows).map(|_| exit::OK);
            }
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                    let deps = r["dependsOn"]
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(|d| d.as_str())
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default();
                    vec![
                        s("stack"),
                        s("name"),
                        s("template"),
                        s("image"),
                        s("ports"),
                        deps,
                    ]
                })
                .collect();
            output::table(
                &mut out,
                &["STACK", "NAME", "TEMPLATE", "IMAGE", "PORTS", "DEPENDS ON"],
                &table,
            )?;
        }
        GetWhat::Templates => {
            let rows: Vec<serde_json::Value> = ws
                .model
                .templates
                .values()
                .map(|t| {
                    let spec = &t.template.spec;
                    json!({
                        "name": t.template.metadata.name,
                        "source": if t.builtin { "builtin".to_string() } else { t.origin.file.display().to_string() },
                        "image": spec.service.image,
                        "category": t.template.metadata.labels.get("category"),
                        "exports": spec.service.exports.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
                        "imports": spec.service.imports.iter().map(|e| e.kind.clone()).collect::<Vec<_>>(),
                        "description": spec.description,
                    })
                })
                .collect();
            if format == ListFormat::Json {
                return print_json(&rows).map(|_| exit::OK);
            }
            let join = |v: &serde_json::Value| {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|d| d.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default()
            };
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                    vec![
                        s("name"),
                        s("source"),
                        s("image"),
                        s("category"),
                        join(&r["exports"]),
                        join(&r["imports"]),
                        s("description"),
                    ]
                })
                .collect();
            output::table(
                &mut out,
                &[
                    "NAME",
                    "SOURCE",
                    "IMAGE",
                    "CATEGORY",
                    "EXPORTS",
                    "IMPORTS",
                    "DESCRIPTION",
                ],
                &table,
            )?;
        }
    }
    Ok(exit::OK)
}

fn effective_config(cli: &Cli, stack: &str, instance: &str, format: DocFormat) -> Result<u8> {
    let ws = load(cli)?;
    let Some(s) = ws.stacks.get(stack) else {
        if ws.model.stacks.contains_key(stack) {
            output::print_diagnostics(&ws.diagnostics, &sources(&ws));
            bail!(
                "stack {stack:?} has manifest errors ({}); fix them first",
                output::summary(&ws.diagnostics)
            );
        }
        let known: Vec<&str> = ws.model.stacks.keys().map(String::as_str).collect();
        bail!(
            "no stack {stack:?} in {} (stacks: {})",
            cli.dir.display(),
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        );
    };
    let i = s.instances.get(instance).with_context(|| {
        format!(
            "stack {stack:?} has no instance {instance:?} (instances: {})",
            s.instances.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    let mut spec = serde_json::to_value(&i.spec)?;
    spec["env"] = serde_json::to_value(&i.env)?;
    if i.env.is_empty() {
        spec.as_object_mut().map(|o| o.remove("env"));
    }
    let mut doc = json!({
        "stack": i.stack,
        "instance": i.name,
        "template": i.template,
        "container": i.container,
        "network": i.network,
    });
    let obj = doc.as_object_mut().expect("object");
    if let Some(o) = spec.as_object() {
        obj.extend(o.clone());
    }
    obj.remove("dependsOn");
    if !i.wires.is_empty() {
        obj.insert("wires".into(), serde_json::to_value(&i.wires)?);
    }
    if !i.depends_on.is_empty() {
        obj.insert("dependsOn".into(), serde_json::to_value(&i.depends_on)?);
    }
    match format {
        DocFormat::Json => print_json(&doc)?,
        DocFormat::Yaml => print!("{}", serde_saphyr::to_string(&doc)?),
    }
    Ok(exit::OK)
}

fn schema(root: &std::path::Path, check: bool) -> Result<u8> {
    let stale = crate::manifests::schema::write_or_check(root, check)
        .with_context(|| format!("writing schemas under {}", root.display()))?;
    if check {
        if stale.is_empty() {
            println!("schemas/ and crds/ are up to date");
            return Ok(exit::OK);
        }
        for f in &stale {
            eprintln!("out of date: {}", f.display());
        }
        eprintln!(
            "error: {} generated file(s) out of date; run `devarch schema`",
            stale.len()
        );
        return Ok(exit::ERROR);
    }
    for f in &stale {
        println!("wrote {}", f.display());
    }
    if stale.is_empty() {
        println!("schemas/ and crds/ already up to date");
    }
    Ok(exit::OK)
}

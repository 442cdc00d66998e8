//! `devarch get stacks|instances|templates`: tables (or JSON) of what the folder holds, with
//! running counts from the engine and the controller's status.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;

use super::args::{Cli, GetWhat, ListFormat};
use super::context::{runtime, tokio_rt};
use super::{exit, output};
use crate::manifests::load::LoadError;
use crate::manifests::types::{HostPort, ServiceSpec};
use crate::workspace::Workspace;

pub(crate) fn get(cli: &Cli, what: GetWhat, format: ListFormat) -> Result<u8> {
    let ws = match Workspace::load(&cli.dir) {
        // The catalog answers `get templates` before the folder exists (a newcomer's first command).
        Err(LoadError::NotFound(dir)) if what == GetWhat::Templates => {
            errln!(
                "note: no manifests folder {}; listing the built-in templates (create one with `devarch init`)",
                dir.display()
            );
            Workspace::catalog_only()
        }
        loaded => loaded?,
    };
    super::warn_if_invalid(&ws);
    match what {
        GetWhat::Stacks => stacks(cli, &ws, format),
        GetWhat::Instances => instances(&ws, format),
        GetWhat::Templates => templates(&ws, format),
    }
}

/// `get stacks`: instance and running counts, validity, the controller's status.
fn stacks(cli: &Cli, ws: &Workspace, format: ListFormat) -> Result<u8> {
    let mut out = super::output::stdout();

    let running = running_counts(cli);
    let statuses = crate::status::StatusStore::new(
        &super::context::home(cli),
        &crate::identity::owner_of(&cli.dir),
    );
    if running.is_none() {
        errln!("warning: no container engine answered; RUNNING is unknown");
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
        return super::print_json(&rows).map(|_| exit::OK);
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
                        serde_json::from_value::<crate::status::StackStatus>(r["status"].clone())
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
    Ok(exit::OK)
}

/// `get instances`: every instance of every valid stack with its template, image and ports.
fn instances(ws: &Workspace, format: ListFormat) -> Result<u8> {
    let mut out = super::output::stdout();

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
        return super::print_json(&rows).map(|_| exit::OK);
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
    Ok(exit::OK)
}

/// `get templates`: the catalog and the folder's templates.
fn templates(ws: &Workspace, format: ListFormat) -> Result<u8> {
    let mut out = super::output::stdout();

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
        return super::print_json(&rows).map(|_| exit::OK);
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
    Ok(exit::OK)
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

/// Running containers per stack, for `get stacks` (None when no engine answers).
pub fn running_counts(cli: &Cli) -> Option<std::collections::BTreeMap<String, (usize, usize)>> {
    let rt = tokio_rt().ok()?;
    rt.block_on(async {
        let engine = tokio::time::timeout(Duration::from_secs(5), runtime(cli))
            .await
            .ok()?
            .ok()?;
        let w = crate::observe::observe(engine.as_ref()).await.ok()?;
        let owner = crate::identity::owner_of(&cli.dir);
        let mut out = std::collections::BTreeMap::new();
        use crate::identity::Labelled;
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

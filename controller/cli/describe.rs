//! `devarch describe stack NAME`: instances with their state and health, ports, wires,
//! network, pending changes and the controller's status.

use std::io::Write;

use anyhow::Result;

use super::args::{Cli, ListFormat};
use super::context::{engine_context, runtime, tokio_rt};
use super::{exit, output};
use serde_json::{Value, json};

use crate::printable;
use crate::reconcile::{self, Context, Selection};
use crate::resolve::ResolvedStack;
use crate::status::{StackStatus, StatusStore};
use crate::workspace::Workspace;

/// `devarch describe stack NAME`.
pub fn describe_stack(cli: &Cli, name: &str, format: ListFormat) -> Result<u8> {
    let ws = Workspace::load(&cli.dir)?;
    let stack = super::compose::resolved_stack(cli, &ws, name)?;
    tokio_rt()?.block_on(async {
        let rt = runtime(cli).await?;
        let ctx = engine_context(cli, rt.as_ref());
        let sel = Selection::only([name]);
        let planned = reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &sel).await?;
        let doc = crate::describe::document(&ctx, stack, &planned).await?;
        if format == ListFormat::Json {
            outln!("{}", serde_json::to_string_pretty(&doc)?)?;
        } else {
            print_text(&ctx, stack, &doc)?;
        }
        Ok(exit::OK)
    })
}

/// The text form of [`crate::describe::document`].
fn print_text(ctx: &Context<'_>, stack: &ResolvedStack, doc: &Value) -> Result<()> {
    let engine = ctx.runtime.engine();
    let mut out = super::output::stdout();
    let network_id = doc["network"]["id"]
        .as_str()
        .map(|id| id.chars().take(12).collect());
    let pending = doc["conditions"]["pendingChanges"]
        .as_str()
        .unwrap_or_default();
    writeln!(out, "Name:         {}", stack.name)?;
    writeln!(
        out,
        "Description:  {}",
        printable::line(stack.description.as_deref().unwrap_or(""))
    )?;
    writeln!(out, "Enabled:      {}", stack.enabled)?;
    writeln!(
        out,
        "Engine:       {} {} at {}",
        engine.kind, engine.version, engine.endpoint
    )?;
    let network_id: String = network_id.unwrap_or_else(|| "absent".into());
    writeln!(out, "Network:      {} ({network_id})", stack.network)?;
    let ready = if doc["conditions"]["Ready"] == json!(true) {
        "True".to_string()
    } else {
        format!("False ({pending})")
    };
    writeln!(out, "Ready:        {ready}")?;
    writeln!(out, "Instances:")?;
    let rows: Vec<Vec<String>> = doc["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .map(instance_row)
        .collect();
    let header = [
        "  NAME",
        "CONTAINER",
        "IMAGE",
        "STATE",
        "LIMITS",
        "PORTS",
        "WIRES",
        "DEPENDS ON",
    ];
    output::table(&mut out, &header, &rows)?;
    let urls: Vec<String> = doc["instances"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|i| {
            let name = i["name"].as_str().unwrap_or_default().to_string();
            i["urls"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|u| u.as_str())
                .map(move |u| format!("  {}  {}", printable::line(&name), printable::line(u)))
                .collect::<Vec<_>>()
        })
        .collect();
    if !urls.is_empty() {
        writeln!(out, "URLs (through the router):")?;
        for u in urls {
            writeln!(out, "{u}")?;
        }
    }
    for c in doc["conflicts"].as_array().into_iter().flatten() {
        let c = printable::line(c.as_str().unwrap_or_default());
        writeln!(out, "Conflict:     {c}")?;
    }
    let store = StatusStore::new(&ctx.home, &ctx.owner);
    if store.exists(&stack.name) {
        print_status(&mut out, &store.read(&stack.name))?;
    }
    Ok(())
}

/// One row of the instances table.
fn instance_row(i: &Value) -> Vec<String> {
    let s = |k: &str| i[k].as_str().map(str::to_string).unwrap_or_default();
    let j = |k: &str| {
        let items = i[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|x| x.as_str());
        items.collect::<Vec<_>>().join(", ")
    };
    let state = match (s("state"), i["health"].as_str()) {
        (st, Some(h)) => format!("{st} ({h})"),
        (st, None) => st,
    };
    let name = format!("  {}", s("name"));
    vec![
        name,
        s("container"),
        s("image"),
        state,
        limits_cell(&i["limits"]),
        j("ports"),
        j("wires"),
        j("dependsOn"),
    ]
}

/// `cpus 1.5, memory 512Mi, pids 256` from an instance's `limits`, `-` for none.
fn limits_cell(limits: &Value) -> String {
    let parts: Vec<String> = ["cpus", "memory", "pids"]
        .iter()
        .filter_map(|k| limits[*k].as_str().map(|v| format!("{k} {v}")))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

/// The controller's conditions and generations.
fn print_status(out: &mut impl Write, st: &StackStatus) -> Result<()> {
    writeln!(out, "Controller status (devarch watch):")?;
    for c in &st.conditions {
        let ago = crate::status::now().saturating_sub(c.last_transition_time.unix());
        let kind = format!("{:?}", c.kind);
        writeln!(
            out,
            "  {kind:<12} {:<5} {:<16} {ago}s ago  {}",
            c.status,
            c.reason,
            printable::line(&c.message)
        )?;
    }
    if let Some(g) = &st.observed_generation {
        let applied = st.applied_generation.as_deref().unwrap_or("-");
        writeln!(out, "  observed generation {g}, applied {applied}")?;
    }
    Ok(())
}

//! `devarch describe stack NAME`: instances with their state and health, ports, wires,
//! network, pending changes and the controller's status.

use std::io::Write;

use anyhow::{Context as _, Result, bail};

use super::args::{Cli, ListFormat};
use super::context::{home, runtime, tokio_rt};
use super::{exit, output};
use crate::plan::Summary;
use crate::reconcile::{self, Context, Selection};
use crate::workspace::Workspace;

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
        let ctx = Context { runtime: rt.as_ref(), home: home(cli), owner: crate::identity::owner_of(&cli.dir) };
        let sel = Selection { stacks: vec![name.to_string()], ..Selection::default() };
        let planned = reconcile::plan(&ctx, &reconcile::Manifests::of(&ws), &sel).await?;
        let desired = planned.desired.get(name).context("stack has no desired state")?;
        let plan = &planned.plans[0];
        use crate::identity::Labelled;
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

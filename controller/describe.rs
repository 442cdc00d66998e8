/*! What `devarch describe stack` and the API's stack page show: a stack's instances as the
engine has them, next to what the manifests ask. */

use anyhow::{Context as _, Result};
use serde_json::{Value, json};

use crate::identity::{Labelled, Limits};
use crate::plan::Summary;
use crate::reconcile::{Context, Planned};
use crate::resolve::desired::DesiredContainer;
use crate::resolve::{EffectiveInstance, ResolvedStack};
use crate::status::StatusStore;

/// The description of `stack` as JSON: each instance's container state and health (asked of
/// the engine), ports, limits, wires, dependencies and whether it is up to date, with the
/// plan's summary and the controller's status.
///
/// # Errors
/// The stack was not planned in `planned`.
pub async fn document(
    ctx: &Context<'_>,
    stack: &ResolvedStack,
    planned: &Planned,
) -> Result<Value> {
    let name = stack.name.as_str();
    let desired = planned
        .desired
        .get(name)
        .context("stack has no desired state")?;
    let plan = planned.plan_of(name).context("stack was not planned")?;
    let mut instances = Vec::new();
    for (iname, inst) in &stack.instances {
        let d = &desired.containers[iname];
        instances.push(instance(ctx, inst, d, planned).await);
    }
    let net = planned
        .observed
        .networks_named(&stack.network)
        .find(|n| n.is_ours(&ctx.owner));
    let pending = Summary::of([plan]);
    let store = StatusStore::new(&ctx.home, &ctx.owner);
    let controller_status = store.exists(name).then(|| store.read(name));
    Ok(json!({
        "name": name,
        "description": stack.description,
        "enabled": stack.enabled,
        "engine": ctx.runtime.engine(),
        "network": {"name": stack.network, "id": net.map(|n| n.id.clone())},
        "instances": instances,
        "conflicts": plan.conflicts.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "conditions": {
            "Ready": pending.is_empty() && plan.conflicts.is_empty(),
            "pendingChanges": pending.to_string(),
        },
        "controllerStatus": controller_status,
    }))
}

/// One instance: its container's state (and health, asked of the engine), ports, wires.
async fn instance(
    ctx: &Context<'_>,
    inst: &EffectiveInstance,
    d: &DesiredContainer,
    planned: &Planned,
) -> Value {
    let observed = planned
        .observed
        .container_named(&d.spec.name)
        .filter(|c| c.is_ours(&ctx.owner));
    let health = match observed {
        Some(c) if c.state.is_running() && d.has_healthcheck => {
            let details = ctx.runtime.inspect_container(&c.id).await.ok();
            details.map(|i| format!("{:?}", i.health).to_lowercase())
        }
        _ => None,
    };
    let state = observed.map(|c| serde_json::to_value(&c.state).unwrap_or_default());
    let ports: Vec<String> = d
        .spec
        .ports
        .iter()
        .map(|p| {
            let ip = p.host_ip.as_deref().map(|i| format!("{i}:"));
            let ip = ip.unwrap_or_default();
            format!("{ip}{}->{}/{}", p.host_port, p.container_port, p.protocol)
        })
        .collect();
    let wires: Vec<String> = inst
        .wires
        .iter()
        .map(|w| format!("{} -> {} ({})", w.import, w.provider, w.kind))
        .collect();
    let depends_on: Vec<String> = inst
        .depends_on
        .iter()
        .map(|dep| {
            let condition = serde_json::to_value(dep.condition).unwrap_or_default();
            format!(
                "{} ({})",
                dep.instance,
                condition.as_str().unwrap_or_default()
            )
        })
        .collect();
    let urls: Vec<String> = inst
        .domains
        .iter()
        .flat_map(|d| &d.names)
        .map(|n| ctx.router.url(n))
        .collect();
    json!({
        "name": inst.name,
        "template": inst.template,
        "urls": urls,
        "container": d.spec.name,
        "image": d.spec.image,
        "state": state.unwrap_or(json!("absent")),
        "health": health,
        "ports": ports,
        "limits": Limits::of(&d.spec),
        "wires": wires,
        "dependsOn": depends_on,
        "upToDate": observed.is_some_and(|c| c.config_hash() == Some(d.config_hash.as_str())),
    })
}

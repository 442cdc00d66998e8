//! Reading: the stacks, one stack, the template catalog, an instance's effective config.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{AppState, Path, valid_stack};
use crate::api::problem::Problem;
use crate::identity::Labelled;

/// One stack in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct StackRow {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// `enabled` in the manifests.
    pub enabled: bool,
    /// Instances in the manifests.
    pub instances: usize,
    /// Running containers on the engine.
    pub running: usize,
    /// The manifests are valid.
    pub valid: bool,
    /// The controller's status (conditions, generations, times in RFC 3339), when it has one.
    pub status: Option<crate::status::StackStatus>,
}

/// The stacks of the folder, with instance and running counts and the controller's status.
#[utoipa::path(get, path = "/api/v1/stacks", responses((status = 200, body = [StackRow]), (status = 401, body = Problem)))]
pub async fn stacks(State(state): State<AppState>) -> Result<Json<Vec<StackRow>>, Problem> {
    let ws = state.load()?;
    let containers = state
        .runtime
        .list_containers(crate::identity::OBJECT_PREFIX)
        .await
        .map_err(Problem::internal)?;
    let mut running: BTreeMap<String, usize> = BTreeMap::new();
    for c in containers
        .iter()
        .filter(|c| c.is_ours(&state.owner) && c.state.is_running())
    {
        if let Some(s) = c.stack() {
            *running.entry(s.to_string()).or_default() += 1;
        }
    }
    let statuses = crate::status::StatusStore::new(&state.home, &state.owner);
    let rows = ws
        .model
        .stacks
        .values()
        .map(|s| StackRow {
            name: s.name.clone(),
            description: s.spec.description.clone(),
            enabled: s.spec.enabled,
            instances: s.instances.len(),
            running: running.get(&s.name).copied().unwrap_or(0),
            valid: ws.stacks.contains_key(&s.name),
            status: statuses.exists(&s.name).then(|| statuses.read(&s.name)),
        })
        .collect();
    Ok(Json(rows))
}

/// One stack: instances with state, health, limits, ports, wires; network; conditions.
#[utoipa::path(get, path = "/api/v1/stacks/{stack}", params(("stack" = String, Path)), responses((status = 200, body = Object), (status = 404, body = Problem)))]
pub async fn stack(
    State(state): State<AppState>,
    Path(stack): Path<String>,
) -> Result<Json<Value>, Problem> {
    let ws = state.load()?;
    let resolved = valid_stack(&ws, &stack)?;
    let (_, planned) = state.plan_stack(&ws, &stack, false).await?;
    let ctx = state.context();
    let doc = crate::describe::document(&ctx, resolved, &planned).await?;
    Ok(Json(doc))
}

/// A template of the catalog or the folder.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemplateRow {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Image.
    pub image: Option<String>,
    /// Ships with devarch (else from the folder).
    pub builtin: bool,
}

/// The template catalog: built-in templates and the folder's.
#[utoipa::path(get, path = "/api/v1/templates", responses((status = 200, body = [TemplateRow])))]
pub async fn templates(State(state): State<AppState>) -> Result<Json<Vec<TemplateRow>>, Problem> {
    let ws = state.load()?;
    Ok(Json(
        ws.model
            .templates
            .values()
            .map(|t| TemplateRow {
                name: t.template.metadata.name.clone(),
                description: t.template.spec.description.clone(),
                image: t.template.spec.service.image.clone(),
                builtin: t.builtin,
            })
            .collect(),
    ))
}

/// An instance's merged configuration, secrets redacted.
#[utoipa::path(get, path = "/api/v1/stacks/{stack}/instances/{instance}/config", params(("stack" = String, Path), ("instance" = String, Path)), responses((status = 200, body = Object), (status = 404, body = Problem)))]
pub async fn effective_config(
    State(state): State<AppState>,
    Path((stack, instance)): Path<(String, String)>,
) -> Result<Json<Value>, Problem> {
    let ws = state.load()?;
    let i = valid_stack(&ws, &stack)?
        .instances
        .get(&instance)
        .ok_or_else(|| {
            Problem::not_found(format!("stack {stack:?} has no instance {instance:?}"))
        })?;
    let doc = crate::resolve::effective_config(i).map_err(Problem::internal)?;
    Ok(Json(doc))
}

//! Acting on the engine: a stack's plan, applying it (with its fingerprint), restarting.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{AppState, Body, Path, valid_stack};
use crate::api::problem::Problem;
use crate::plan::Summary;
use crate::reconcile;

/// A stack's plan and the fingerprint `apply` takes.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanResponse {
    /// Stack.
    pub stack: String,
    /// Pass this to apply; a plan made from other state is refused.
    pub fingerprint: String,
    /// `Plan: N to add, N to change, N to destroy.`
    pub summary: String,
    /// Whether applying would change anything (or conflicts block it).
    pub changes: bool,
    /// The plan, as `devarch plan -o json` writes one stack's.
    #[schema(value_type = Object)]
    pub plan: Value,
}

/// What apply would do to a stack.
#[utoipa::path(get, path = "/api/v1/stacks/{stack}/plan", params(("stack" = String, Path)), responses((status = 200, body = PlanResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn plan(
    State(state): State<AppState>,
    Path(stack): Path<String>,
) -> Result<Json<PlanResponse>, Problem> {
    let ws = state.load()?;
    valid_stack(&ws, &stack)?;
    let (_, planned) = state.plan_stack(&ws, &stack, false).await?;
    let p = planned
        .plan_of(&stack)
        .ok_or_else(|| Problem::not_found(format!("no plan for {stack:?}")))?;
    Ok(Json(PlanResponse {
        stack: stack.clone(),
        fingerprint: p.fingerprint.clone(),
        summary: Summary::of([p]).to_string(),
        changes: !p.is_up_to_date(),
        plan: serde_json::to_value(p).map_err(Problem::internal)?,
    }))
}

/// The plan to apply, by its fingerprint.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ApplyRequest {
    /// The fingerprint `GET .../plan` returned.
    pub fingerprint: String,
}

/// What an apply did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApplyResponse {
    /// Stack.
    pub stack: String,
    /// The summary of the plan applied.
    pub summary: String,
    /// Failed steps, if any.
    pub errors: Vec<String>,
}

/// Applies a stack's plan, if it is still the one the fingerprint names (else 409).
#[utoipa::path(post, path = "/api/v1/stacks/{stack}/apply", params(("stack" = String, Path)), request_body = ApplyRequest, responses((status = 200, body = ApplyResponse), (status = 409, body = Problem), (status = 404, body = Problem)))]
pub async fn apply(
    State(state): State<AppState>,
    Path(stack): Path<String>,
    Body(req): Body<ApplyRequest>,
) -> Result<Json<ApplyResponse>, Problem> {
    let ws = state.load()?;
    valid_stack(&ws, &stack)?;
    let (_lock, planned) = state.plan_stack(&ws, &stack, true).await?;
    let ctx = state.context();
    let p = planned
        .plan_of(&stack)
        .ok_or_else(|| Problem::not_found(format!("no plan for {stack:?}")))?;
    if p.fingerprint != req.fingerprint {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "stale-plan",
            "the plan is stale: the manifests or the engine changed since it was made; get the plan again",
        ));
    }
    let summary = Summary::of([p]).to_string();
    let reports = reconcile::apply(
        &ctx,
        &planned,
        &state.events,
        crate::apply::ApplyOptions::default(),
    )
    .await;
    let mut errors: Vec<String> = reports
        .iter()
        .flat_map(|(_, r)| r.errors.iter().map(ToString::to_string))
        .collect();
    if reconcile::router_due(&planned, !reports.is_empty(), &ctx.home)
        && let Err(e) = reconcile::sync_router(&ctx, &state.events).await
    {
        errors.push(e.to_string());
    }
    Ok(Json(ApplyResponse {
        stack,
        summary,
        errors,
    }))
}

/// Which instances to restart.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RestartRequest {
    /// Instance names; empty or absent: all.
    #[serde(default)]
    pub instances: Vec<String>,
}

/// What a restart did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestartResponse {
    /// Restarted (and healthy where checked).
    pub restarted: Vec<String>,
    /// Not running: left alone.
    pub not_running: Vec<String>,
    /// `instance: error` of those that failed.
    pub failed: Vec<String>,
}

/// Restarts running containers in place (not recreated), waiting for health.
#[utoipa::path(post, path = "/api/v1/stacks/{stack}/restart", params(("stack" = String, Path)), request_body = RestartRequest, responses((status = 200, body = RestartResponse), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn restart(
    State(state): State<AppState>,
    Path(stack): Path<String>,
    Body(req): Body<RestartRequest>,
) -> Result<Json<RestartResponse>, Problem> {
    use crate::apply::restart::{Restarted, restart};
    let ws = state.load()?;
    valid_stack(&ws, &stack)?;
    let (_lock, planned) = state.plan_stack(&ws, &stack, true).await?;
    let ctx = state.context();
    let containers = crate::observe::select_containers(&ctx, &stack, &req.instances)
        .await
        .map_err(|e| Problem::new(StatusCode::NOT_FOUND, "not-found", e.to_string()))?;
    let desired = planned
        .desired
        .get(&stack)
        .ok_or_else(|| Problem::not_found(format!("no desired state for {stack:?}")))?;
    let results = restart(state.runtime.as_ref(), desired, &containers, &state.events).await;
    let mut out = RestartResponse {
        restarted: Vec::new(),
        not_running: Vec::new(),
        failed: Vec::new(),
    };
    for (instance, r) in results {
        match r {
            Restarted::Done => out.restarted.push(instance),
            Restarted::NotRunning => out.not_running.push(instance),
            Restarted::Failed(e) => out.failed.push(format!("{instance}: {e}")),
        }
    }
    Ok(Json(out))
}

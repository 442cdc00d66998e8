//! The API's routes: thin wrappers over what the CLI does, returning JSON.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::AppState;
use super::problem::Problem;
use crate::identity::Labelled;
use crate::plan::Summary;
use crate::reconcile::{self, Context, Selection};
use crate::state::secrets::{Origin, SecretStore};
use crate::workspace::Workspace;

/// A JSON body whose rejections (too large, not JSON, wrong shape) are problem documents.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(rejection) => {
                let status = rejection.status();
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                    "too-large"
                } else {
                    "bad-request"
                };
                Err(Problem::new(status, code, rejection.body_text()))
            }
        }
    }
}

impl AppState {
    fn load(&self) -> Result<Workspace, Problem> {
        Workspace::load(&self.dir).map_err(Problem::internal)
    }

    /// `stack`'s plan; with `lock`, made under the stack's lock, which the returned guard holds
    /// (what apply and restart act on).
    async fn plan_stack(
        &self,
        ws: &Workspace,
        stack: &str,
        lock: bool,
    ) -> Result<(Vec<crate::apply::lock::StackLock>, reconcile::Planned), Problem> {
        let guard = if lock {
            reconcile::lock_stacks(
                &self.home,
                &[stack.to_string()],
                Some(Duration::from_secs(30)),
            )
            .map_err(|e| Problem::new(StatusCode::CONFLICT, "locked", e.to_string()))?
        } else {
            Vec::new()
        };
        let sel = Selection {
            stacks: vec![stack.to_string()],
            locked: lock,
            ..Selection::default()
        };
        let planned = reconcile::plan(&self.context(), &reconcile::Manifests::of(ws), &sel)
            .await
            .map_err(Problem::internal)?;
        Ok((guard, planned))
    }

    fn context(&self) -> Context<'_> {
        Context {
            runtime: self.runtime.as_ref(),
            home: self.home.clone(),
            owner: self.owner.clone(),
        }
    }
}

/// The file, manifest document number and file text of `stack`'s Stack document: where the
/// splice editor changes it.
fn stack_document<'a>(
    ws: &'a Workspace,
    stack: &str,
) -> Result<(std::path::PathBuf, usize, &'a str), Problem> {
    let doc = ws
        .set
        .stacks
        .iter()
        .find(|s| s.resource.metadata.name == stack)
        .ok_or_else(|| Problem::not_found(format!("no Stack document of {stack:?}")))?;
    let file = doc.origin.file.clone();
    let text = ws
        .set
        .sources
        .get(&file)
        .ok_or_else(|| Problem::internal("the stack's file was not read"))?;
    Ok((file, doc.origin.document, text))
}

/// The stack's resolved state, or why there is none.
fn valid_stack<'a>(
    ws: &'a Workspace,
    stack: &str,
) -> Result<&'a crate::resolve::ResolvedStack, Problem> {
    ws.stacks.get(stack).ok_or_else(|| {
        if ws.model.stacks.contains_key(stack) {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-manifests",
                format!(
                    "stack {stack:?} has manifest errors: {}",
                    crate::cli::output::summary(&ws.diagnostics)
                ),
            )
        } else {
            Problem::not_found(format!("no stack {stack:?}"))
        }
    })
}

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
    /// The controller's status (conditions, generations), when it has one.
    #[schema(value_type = Option<Object>)]
    pub status: Option<Value>,
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
            status: statuses
                .exists(&s.name)
                .then(|| serde_json::to_value(statuses.read(&s.name)).unwrap_or_default()),
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
    let doc = crate::cli::describe::document(&ctx, resolved, &planned).await?;
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
    valid_stack(&ws, &stack)?;
    if !ws.stacks[&stack].instances.contains_key(&instance) {
        return Err(Problem::not_found(format!(
            "stack {stack:?} has no instance {instance:?}"
        )));
    }
    let doc = crate::cli::effective_config_doc(&ws, &state.dir, &stack, &instance)?;
    Ok(Json(doc))
}

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
    let errors = reports
        .iter()
        .flat_map(|(_, r)| r.errors.iter().map(ToString::to_string))
        .collect();
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
    let containers = crate::cli::context::select_containers(&ctx, &stack, &req.instances)
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

/// A new stack: written to `{dir}/{name}.yaml`, then reconciled like any editor save.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateStack {
    /// Stack name (a DNS label).
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Instances by name, as a Stack's `spec.instances` writes them (`{template: redis}`).
    #[schema(value_type = Object)]
    pub instances: serde_json::Map<String, Value>,
}

/// Where a new stack was written.
#[derive(Debug, Serialize, ToSchema)]
pub struct Created {
    /// Stack.
    pub stack: String,
    /// The manifest file written.
    pub file: String,
}

/// Creates a stack: a new manifest file in the folder, checked with the folder first.
#[utoipa::path(post, path = "/api/v1/stacks", request_body = CreateStack, responses((status = 201, body = Created), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create_stack(
    State(state): State<AppState>,
    Body(req): Body<CreateStack>,
) -> Result<Response, Problem> {
    crate::identity::check_name(crate::identity::NameKind::Stack, &req.name)
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-name", e))?;
    let ws = state.load()?;
    if ws.model.stacks.contains_key(&req.name) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "exists",
            format!("the folder has a stack {:?} already", req.name),
        ));
    }
    let target = state.dir.join(format!("{}.yaml", req.name));
    if std::fs::symlink_metadata(&target).is_ok() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "exists",
            format!("{} exists", target.display()),
        ));
    }
    let mut spec = serde_json::Map::new();
    if let Some(d) = &req.description {
        spec.insert("description".into(), json!(d));
    }
    spec.insert("instances".into(), Value::Object(req.instances.clone()));
    let doc = json!({
        "apiVersion": crate::manifests::types::API_VERSION,
        "kind": "Stack",
        "metadata": {"name": req.name},
        "spec": spec,
    });
    let text = format!(
        "# yaml-language-server: $schema=schemas/devarch.schema.json\n# Created through devarch's API.\n{}",
        serde_saphyr::to_string(&doc).map_err(Problem::internal)?
    );
    let after = crate::cli::transfer::folder_with(&state.dir, None, (&target, &text))
        .map_err(Problem::from)?;
    if !after.is_valid() || !after.stacks.contains_key(&req.name) {
        let messages: Vec<String> = after
            .diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect();
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-manifests",
            format!("the stack would not validate: {}", messages.join("; ")),
        ));
    }
    crate::safe_fs::write_new(&target, text.as_bytes(), 0o644).map_err(Problem::internal)?;
    let body = Created {
        stack: req.name.clone(),
        file: target.display().to_string(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// A new instance of a stack.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddInstance {
    /// Instance name (a DNS label).
    pub name: String,
    /// Template to build it from (`GET /api/v1/templates`).
    pub template: String,
    /// Overrides of template fields, as a Stack's instance writes them (`{env: {A: "1"}}`).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub overrides: serde_json::Map<String, Value>,
}

/// Adds an instance to a stack: spliced into the Stack's manifest (comments and formatting
/// elsewhere kept), checked with the folder first; the controller then reconciles it.
#[utoipa::path(post, path = "/api/v1/stacks/{stack}/instances", params(("stack" = String, Path)), request_body = AddInstance, responses((status = 201, body = Created), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn add_instance(
    State(state): State<AppState>,
    Path(stack): Path<String>,
    Body(req): Body<AddInstance>,
) -> Result<Response, Problem> {
    use crate::manifests::splice::{Change, set_values};
    crate::identity::check_name(crate::identity::NameKind::Instance, &req.name)
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-name", e))?;
    let ws = state.load()?;
    let resolved = valid_stack(&ws, &stack)?;
    if resolved.instances.contains_key(&req.name) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "exists",
            format!("stack {stack:?} has an instance {:?} already", req.name),
        ));
    }
    let (file, doc, text) = stack_document(&ws, &stack)?;
    let mut body = serde_json::Map::new();
    body.insert("template".into(), json!(req.template));
    body.extend(req.overrides.clone());
    let pointer = format!("/spec/instances/{}", req.name);
    let change = Change::set(doc, pointer, Value::Object(body));
    let edited = set_values(text, &[change]).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cannot-edit",
            e.to_string(),
        )
    })?;
    let after = crate::cli::transfer::folder_with(&state.dir, Some(&file), (&file, &edited))
        .map_err(Problem::from)?;
    if !after.is_valid()
        || !after
            .stacks
            .get(&stack)
            .is_some_and(|s| s.instances.contains_key(&req.name))
    {
        let messages: Vec<String> = after
            .diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect();
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-manifests",
            format!("the instance would not validate: {}", messages.join("; ")),
        ));
    }
    crate::safe_fs::write_atomic(
        &file,
        edited.as_bytes(),
        crate::safe_fs::FileMode::Keep { default: 0o644 },
    )
    .map_err(Problem::internal)?;
    let body = Created {
        stack,
        file: file.display().to_string(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// How much of an instance's output to show.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct LogsQuery {
    /// Last lines (default 200, at most 5000).
    pub tail: Option<u64>,
}

/// The last lines of an instance's output (stdout and stderr), as text.
#[utoipa::path(get, path = "/api/v1/stacks/{stack}/instances/{instance}/logs", params(("stack" = String, Path), ("instance" = String, Path), LogsQuery), responses((status = 200, description = "text/plain output", content_type = "text/plain", body = String), (status = 404, body = Problem)))]
pub async fn logs(
    State(state): State<AppState>,
    Path((stack, instance)): Path<(String, String)>,
    axum::extract::Query(q): axum::extract::Query<LogsQuery>,
) -> Result<Response, Problem> {
    use futures_util::StreamExt;
    let ctx = state.context();
    let containers =
        crate::cli::context::select_containers(&ctx, &stack, std::slice::from_ref(&instance))
            .await
            .map_err(|e| Problem::new(StatusCode::NOT_FOUND, "not-found", e.to_string()))?;
    let (_, c) = &containers[0];
    let options = crate::runtime::LogOptions {
        tail: Some(q.tail.unwrap_or(200).min(5000)),
        ..Default::default()
    };
    let mut stream = state
        .runtime
        .logs(&c.id, &options)
        .await
        .map_err(Problem::internal)?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.map_err(Problem::internal)?.bytes);
    }
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        out,
    )
        .into_response())
}

/// Sets a stack's `enabled` in its manifest (spliced in); the controller then stops or starts
/// its containers.
async fn set_enabled(state: &AppState, stack: &str, enabled: bool) -> Result<StatusCode, Problem> {
    use crate::manifests::splice::{Change, set_values};
    let ws = state.load()?;
    let resolved = valid_stack(&ws, stack)?;
    if resolved.enabled == enabled {
        return Ok(StatusCode::NO_CONTENT);
    }
    let (file, doc, text) = stack_document(&ws, stack)?;
    let change = Change::set(doc, "/spec/enabled", json!(enabled));
    let edited = set_values(text, &[change]).map_err(|e| {
        Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cannot-edit",
            e.to_string(),
        )
    })?;
    crate::safe_fs::write_atomic(
        &file,
        edited.as_bytes(),
        crate::safe_fs::FileMode::Keep { default: 0o644 },
    )
    .map_err(Problem::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets `enabled: true`: the controller starts the stack's containers again.
#[utoipa::path(post, path = "/api/v1/stacks/{stack}/enable", params(("stack" = String, Path)), responses((status = 204), (status = 404, body = Problem)))]
pub async fn enable(
    State(state): State<AppState>,
    Path(stack): Path<String>,
) -> Result<StatusCode, Problem> {
    set_enabled(&state, &stack, true).await
}

/// Sets `enabled: false`: the controller stops the stack's containers; nothing is removed.
#[utoipa::path(post, path = "/api/v1/stacks/{stack}/disable", params(("stack" = String, Path)), responses((status = 204), (status = 404, body = Problem)))]
pub async fn disable(
    State(state): State<AppState>,
    Path(stack): Path<String>,
) -> Result<StatusCode, Problem> {
    set_enabled(&state, &stack, false).await
}

/// Deletes a stack's manifests (documents cut out of their files, others kept); the controller
/// then removes its containers and network. Volumes and secrets are kept.
#[utoipa::path(delete, path = "/api/v1/stacks/{stack}", params(("stack" = String, Path)), responses((status = 204), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn delete_stack(
    State(state): State<AppState>,
    Path(stack): Path<String>,
) -> Result<StatusCode, Problem> {
    let ws = state.load()?;
    valid_stack(&ws, &stack)?;
    if !ws.is_valid() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-manifests",
            "the folder has errors that may hide the stack; fix them before deleting it",
        ));
    }
    crate::cli::delete::remove_stack_documents(&ws, &stack).map_err(Problem::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The stack as one self-contained file (`devarch export`).
#[utoipa::path(get, path = "/api/v1/stacks/{stack}/export", params(("stack" = String, Path)), responses((status = 200, description = "the devarch.yml", content_type = "text/plain", body = String), (status = 404, body = Problem)))]
pub async fn export(
    State(state): State<AppState>,
    Path(stack): Path<String>,
) -> Result<Response, Problem> {
    let ws = state.load()?;
    valid_stack(&ws, &stack)?;
    let text = crate::export::export(&ws, &stack).map_err(Problem::internal)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// The stack as a Compose file (`devarch compose`; secrets as placeholders).
#[utoipa::path(get, path = "/api/v1/stacks/{stack}/compose", params(("stack" = String, Path)), responses((status = 200, description = "the Compose file", content_type = "text/plain", body = String), (status = 404, body = Problem)))]
pub async fn compose(
    State(state): State<AppState>,
    Path(stack): Path<String>,
) -> Result<Response, Problem> {
    let ws = state.load()?;
    let resolved = valid_stack(&ws, &stack)?;
    let (_, planned) = state.plan_stack(&ws, &stack, false).await?;
    let desired = planned
        .desired
        .get(&stack)
        .ok_or_else(|| Problem::not_found(format!("no desired state for {stack:?}")))?;
    let file = crate::compose::render(resolved, desired, None)
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "cannot-render", e))?;
    for c in desired.containers.values() {
        for f in &c.files {
            crate::apply::files::materialize(f).map_err(Problem::internal)?;
        }
    }
    let mut options = serde_saphyr::SerializerOptions::default();
    options.quote_all = true;
    let yaml =
        serde_saphyr::to_string_with_options(&file.document, options).map_err(Problem::internal)?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        yaml,
    )
        .into_response())
}

/// A secret of a stack: never its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretRow {
    /// `instance/name`.
    pub secret: String,
    /// `generated`, `set`, `unknown`, `missing` or `pending`.
    pub state: String,
    /// Unix seconds of the last change.
    pub changed: Option<u64>,
}

/// A stack's secrets: names and states, never values.
#[utoipa::path(get, path = "/api/v1/stacks/{stack}/secrets", params(("stack" = String, Path)), responses((status = 200, body = [SecretRow])))]
pub async fn secrets(
    State(state): State<AppState>,
    Path(stack): Path<String>,
) -> Result<Json<Vec<SecretRow>>, Problem> {
    let ws = state.load()?;
    let resolved = valid_stack(&ws, &stack)?;
    let store = SecretStore::open(&state.home, &state.owner).map_err(Problem::internal)?;
    let stored = store.list(&stack).map_err(Problem::internal)?;
    let mut rows: Vec<SecretRow> = stored
        .iter()
        .map(|i| SecretRow {
            secret: format!("{}/{}", i.instance, i.name),
            state: match i.origin {
                Some(Origin::Generated) => "generated",
                Some(Origin::Set) => "set",
                None => "unknown",
            }
            .into(),
            changed: i.changed,
        })
        .collect();
    for ((instance, name), generate) in crate::allocate::referenced_secrets(resolved) {
        let secret = format!("{instance}/{name}");
        if !rows.iter().any(|r| r.secret == secret) {
            rows.push(SecretRow {
                secret,
                state: if generate { "pending" } else { "missing" }.into(),
                changed: None,
            });
        }
    }
    rows.sort_by(|a, b| a.secret.cmp(&b.secret));
    Ok(Json(rows))
}

/// A secret's new value.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SetSecret {
    /// The value; never echoed or logged.
    pub value: String,
}

/// Sets a secret (the answer never holds the value).
#[utoipa::path(put, path = "/api/v1/stacks/{stack}/secrets/{instance}/{name}", params(("stack" = String, Path), ("instance" = String, Path), ("name" = String, Path)), request_body = SetSecret, responses((status = 204), (status = 422, body = Problem)))]
pub async fn set_secret(
    State(state): State<AppState>,
    Path((stack, instance, name)): Path<(String, String, String)>,
    Body(req): Body<SetSecret>,
) -> Result<StatusCode, Problem> {
    if req.value.is_empty() || req.value.contains('\0') {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-value",
            "the value must be non-empty and hold no NUL byte",
        ));
    }
    let store = SecretStore::open(&state.home, &state.owner).map_err(Problem::internal)?;
    store
        .set(&stack, &instance, &name, &req.value)
        .map_err(|e| {
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-secret",
                e.to_string(),
            )
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// Server-sent events: `status`, `plan` and `progress`, as the terminal shows them.
#[utoipa::path(get, path = "/api/v1/events", responses((status = 200, description = "text/event-stream of {type, data} JSON events")))]
pub async fn events(State(state): State<AppState>) -> impl IntoResponse {
    let receiver = state.events.subscribe();
    let stream = futures_util::stream::unfold(receiver, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(text) => {
                    return Some((
                        Ok::<_, std::convert::Infallible>(SseEvent::default().data(text)),
                        rx,
                    ));
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// The OpenAPI document of this API.
pub async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
}

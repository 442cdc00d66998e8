//! Writing manifests: new stacks and instances, enable/disable, delete — each spliced into
//! the folder's files (comments and formatting kept) after the folder is checked with it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{AppState, Body, Path, stack_document, valid_stack};
use crate::api::problem::{FieldError, Problem};
use crate::folder_edit::{self, EditRefused};
use crate::manifests::splice::Change;

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
    let target =
        folder_edit::new_stack_file(&ws, &state.dir, &req.name).map_err(|e| refused(e, None))?;
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
    folder_edit::check(&ws, &state.dir, &target, &text).map_err(|e| refused(e, None))?;
    folder_edit::write(&target, &text, true).map_err(|e| refused(e, None))?;
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
    let (file, doc) = stack_document(&ws, &stack)?;
    let mut body = serde_json::Map::new();
    body.insert("template".into(), json!(req.template));
    body.extend(req.overrides.clone());
    let pointer = format!("/spec/instances/{}", req.name);
    let prefix = pointer.clone();
    let change = Change::set(doc, pointer, Value::Object(body));
    let fail = |e| refused(e, Some(&prefix));
    let (edited, _) =
        folder_edit::splice_checked(&ws, &state.dir, &file, &[change]).map_err(fail)?;
    folder_edit::write(&file, &edited, false).map_err(fail)?;
    let body = Created {
        stack,
        file: file.display().to_string(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// Sets a stack's `enabled` in its manifest (spliced in); the controller then stops or starts
/// its containers.
async fn set_enabled(state: &AppState, stack: &str, enabled: bool) -> Result<StatusCode, Problem> {
    let ws = state.load()?;
    let resolved = valid_stack(&ws, stack)?;
    if resolved.enabled == enabled {
        return Ok(StatusCode::NO_CONTENT);
    }
    let (file, doc) = stack_document(&ws, stack)?;
    let change = Change::set(doc, "/spec/enabled", json!(enabled));
    let edited = folder_edit::spliced(&ws, &file, &[change]).map_err(|e| refused(e, None))?;
    folder_edit::write(&file, &edited, false).map_err(|e| refused(e, None))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets `enabled: true`: the controller starts the stack's containers again.
#[utoipa::path(post, path = "/api/v1/stacks/{stack}/enable", params(("stack" = String, Path)), responses((status = 204), (status = 404, body = Problem), (status = 409, description = "the file changed while it was edited (`changed`)", body = Problem), (status = 422, body = Problem)))]
pub async fn enable(
    State(state): State<AppState>,
    Path(stack): Path<String>,
) -> Result<StatusCode, Problem> {
    set_enabled(&state, &stack, true).await
}

/// Sets `enabled: false`: the controller stops the stack's containers; nothing is removed.
#[utoipa::path(post, path = "/api/v1/stacks/{stack}/disable", params(("stack" = String, Path)), responses((status = 204), (status = 404, body = Problem), (status = 409, description = "the file changed while it was edited (`changed`)", body = Problem), (status = 422, body = Problem)))]
pub async fn disable(
    State(state): State<AppState>,
    Path(stack): Path<String>,
) -> Result<StatusCode, Problem> {
    set_enabled(&state, &stack, false).await
}

/// Deletes a stack's manifests (documents cut out of their files, others kept); the controller
/// then removes its containers and network. Volumes and secrets are kept.
#[utoipa::path(delete, path = "/api/v1/stacks/{stack}", params(("stack" = String, Path)), responses((status = 204), (status = 404, body = Problem), (status = 409, description = "a file changed while it was edited (`changed`)", body = Problem), (status = 422, body = Problem)))]
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
    folder_edit::remove_stack(&ws, &stack).map_err(|e| refused(e, None))?;
    Ok(StatusCode::NO_CONTENT)
}

/// A clone's name.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CloneStack {
    /// The new stack's name (a DNS label).
    pub name: String,
    /// Copy the secrets too (else the clone generates its own).
    #[serde(default)]
    pub with_secrets: bool,
}

/// Clones a stack (`devarch stack clone`): a new file `{name}.yaml` with the stack's
/// documents renamed; templates shared; own ports, volumes and (unless asked) secrets.
#[utoipa::path(post, path = "/api/v1/stacks/{stack}/clone", params(("stack" = String, Path)), request_body = CloneStack, responses((status = 201, body = Created), (status = 404, body = Problem), (status = 409, description = "the name is taken, or the stack routes host names outside its own `*.{stack}.localhost` that a clone would claim twice (`domains-taken`)", body = Problem), (status = 422, body = Problem)))]
pub async fn clone_stack(
    State(state): State<AppState>,
    Path(stack): Path<String>,
    Body(req): Body<CloneStack>,
) -> Result<Response, Problem> {
    crate::identity::check_name(crate::identity::NameKind::Stack, &req.name)
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-name", e))?;
    let ws = state.load()?;
    valid_stack(&ws, &stack)?;
    let (target, text, _) = folder_edit::clone_stack(&ws, &state.dir, &stack, &req.name)
        .map_err(|e| refused(e, None))?;
    folder_edit::write(&target, &text, true).map_err(|e| refused(e, None))?;
    if req.with_secrets {
        let store = crate::state::secrets::SecretStore::open(&state.home, &state.owner)
            .map_err(Problem::internal)?;
        store
            .copy_stack(&stack, &req.name)
            .map_err(Problem::internal)?;
    }
    let body = Created {
        stack: req.name,
        file: target.display().to_string(),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// An edit that was not written, as a problem: `409` when something is in the way, `422`
/// with each new manifest error at its place (and field, under `prefix`, an instance body's
/// pointer in the edited file).
pub(super) fn refused(e: EditRefused, prefix: Option<&str>) -> Problem {
    match e {
        EditRefused::Changed(_) | EditRefused::Exists(_) | EditRefused::StackExists(_) => {
            let code = if matches!(e, EditRefused::Changed(_)) {
                "changed"
            } else {
                "exists"
            };
            Problem::new(StatusCode::CONFLICT, code, e.to_string())
        }
        EditRefused::DomainsTaken { .. } => {
            Problem::new(StatusCode::CONFLICT, "domains-taken", e.to_string())
        }
        EditRefused::Splice { .. } => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "cannot-edit",
            e.to_string(),
        ),
        EditRefused::Invalid { ref after, ref new } => {
            let errors = field_errors(after, new, prefix);
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-manifests",
                e.to_string(),
            )
            .with_errors(errors)
        }
        EditRefused::Io(e) => Problem::from(e),
    }
}

/// `diags` as field errors, their pointers found in the texts `ws` holds.
pub(super) fn field_errors(
    ws: &crate::workspace::Workspace,
    diags: &[crate::manifests::diagnostics::Diagnostic],
    prefix: Option<&str>,
) -> Vec<FieldError> {
    let mut parsed: std::collections::BTreeMap<&std::path::Path, Vec<_>> = Default::default();
    diags
        .iter()
        .map(|d| {
            let docs = parsed.entry(d.file.as_path()).or_insert_with(|| {
                ws.set
                    .sources
                    .get(&d.file)
                    .and_then(|t| crate::manifests::yaml::parse_documents(t).ok())
                    .unwrap_or_default()
            });
            FieldError::of(d, docs, prefix)
        })
        .collect()
}

//! The stack in other shapes: one self-contained file, a Compose file; and back (import).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::edit::field_errors;
use super::{AppState, Body, Path, valid_stack};
use crate::api::problem::Problem;
use crate::import::ImportRefused;

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

/// What the file to import is.
#[derive(Debug, Default, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    /// A `devarch export` file (one Stack, its Instances and Templates).
    #[default]
    Devarch,
    /// A Compose file (`devarch import --from compose`).
    Compose,
}

/// A file to import.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportStack {
    /// The file's text.
    pub content: String,
    /// `devarch` (default) or `compose`.
    #[serde(default)]
    pub format: ImportFormat,
    /// The stack's name: an export's stack is imported under this name (host names under
    /// `*.OLD.localhost` move to `*.NAME.localhost`); a Compose file's (default: the file's
    /// `name`, else `imported`).
    #[serde(default)]
    pub stack: Option<String>,
    /// Drop instances the folder's copy of the stack has and the file has not.
    #[serde(default)]
    pub prune: bool,
}

/// Something a Compose import did not carry over as it was.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportNote {
    /// 1-based line in the file (0: not located).
    pub line: u32,
    /// The key, dotted (`services.web.build`).
    pub key: String,
    /// What happened and what to do instead.
    pub message: String,
}

/// What an import wrote.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportedStack {
    /// The stack.
    pub stack: String,
    /// The manifest file written.
    pub file: String,
    /// The stack was there (written by an earlier import) and was updated.
    pub replaced: bool,
    /// Its instances.
    pub instances: usize,
    /// What a Compose import did not carry over as it was.
    pub notes: Vec<ImportNote>,
    /// `instance/name` of values moved out of the Compose file into devarch secrets.
    pub stored_secrets: Vec<String>,
    /// `instance/name` of secrets the manifests refer to that have no value yet (set them with
    /// `PUT /api/v1/stacks/{stack}/secrets/{instance}/{name}`).
    pub missing_secrets: Vec<String>,
}

/// Imports a stack (`devarch import`, `--from compose`): checked alone and with the folder, the
/// stack's names checked free on the engine, then written as `{stack}.yaml` (201; 200 when an
/// earlier import's file is updated). A Compose file's variables are not interpolated from the
/// controller's environment.
#[utoipa::path(post, path = "/api/v1/import", request_body = ImportStack, responses((status = 201, body = ImportedStack), (status = 200, body = ImportedStack), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn import(
    State(state): State<AppState>,
    Body(req): Body<ImportStack>,
) -> Result<Response, Problem> {
    let file = state.dir.join("import-request.yaml");
    let (text, notes, secrets) = match req.format {
        ImportFormat::Devarch => (req.content, Vec::new(), Vec::new()),
        ImportFormat::Compose => {
            use crate::compose_import::{Options, default_stack_name, import};
            let stack = req
                .stack
                .clone()
                .unwrap_or_else(|| default_stack_name(&req.content, None));
            crate::identity::check_name(crate::identity::NameKind::Stack, &stack)
                .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-name", e))?;
            let options = Options {
                stack,
                as_template: false,
                dir: state.dir.clone(),
                env_from_shell: false,
                home: Some(state.home.clone()),
                secret_values: Default::default(),
            };
            let imported = import(&req.content, &file, &|_| None, &options).map_err(|e| {
                Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-compose",
                    e.to_string(),
                )
            })?;
            let notes = imported
                .notes
                .into_iter()
                .map(|n| ImportNote {
                    line: n.line,
                    key: n.key,
                    message: n.message,
                })
                .collect();
            (imported.text, notes, imported.secrets)
        }
    };
    let rename = match req.format {
        ImportFormat::Devarch => req.stack.as_deref(),
        ImportFormat::Compose => None,
    };
    let p = crate::import::prepare(&state.dir, &file, &text, req.prune, rename).map_err(refused)?;
    let foreign = crate::import::foreign_owners(state.runtime.as_ref(), &state.owner, &p.stack)
        .await
        .map_err(Problem::internal)?;
    if !foreign.is_empty() {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "names-in-use",
            format!(
                "stack {}'s names are in use on the engine by another devarch folder ({}); import it under another name; nothing was imported",
                p.stack,
                foreign.into_iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    }
    crate::import::write(&p).map_err(|e| super::edit::refused(e, None))?;
    let store = crate::state::secrets::SecretStore::open(&state.home, &state.owner)
        .map_err(Problem::internal)?;
    let missing = crate::import::store_secrets(&store, &p, &secrets).map_err(Problem::internal)?;
    let body = ImportedStack {
        instances: p.after.stacks[&p.stack].instances.len(),
        stack: p.stack,
        file: p.target.display().to_string(),
        replaced: p.replacing,
        notes,
        stored_secrets: secrets.iter().map(|(i, n, _)| format!("{i}/{n}")).collect(),
        missing_secrets: missing,
    };
    let status = if body.replaced {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(body)).into_response())
}

/// An import that was not written, as a problem: `422` with the manifest problems behind it,
/// `409` when the folder holds something in the way.
fn refused(e: ImportRefused) -> Problem {
    let status = match e {
        ImportRefused::TemplateDiffers { .. }
        | ImportRefused::TargetTaken { .. }
        | ImportRefused::NotOurs { .. } => StatusCode::CONFLICT,
        ImportRefused::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let code = match status {
        StatusCode::CONFLICT => "exists",
        StatusCode::INTERNAL_SERVER_ERROR => "internal",
        _ => "invalid-manifests",
    };
    let errors = e.diagnosed().map_or_else(Vec::new, |ws| {
        let errors: Vec<_> = ws
            .diagnostics
            .iter()
            .filter(|d| d.severity == crate::manifests::diagnostics::Severity::Error)
            .cloned()
            .collect();
        field_errors(ws, &errors, None)
    });
    Problem::new(status, code, e.to_string()).with_errors(errors)
}

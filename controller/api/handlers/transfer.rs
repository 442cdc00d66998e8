//! The stack in other shapes: one self-contained file, a Compose file.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{AppState, valid_stack};
use crate::api::problem::Problem;

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

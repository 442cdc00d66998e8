//! A stack's secrets: names and states; setting a value (never echoed).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AppState, Body, Path, valid_stack};
use crate::api::problem::Problem;
use crate::state::secrets::{Origin, SecretStore};
use crate::timestamp::Timestamp;

/// A secret of a stack: never its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct SecretRow {
    /// `instance/name`.
    pub secret: String,
    /// `generated`, `set`, `unknown`, `missing` or `pending`.
    pub state: String,
    /// When the value last changed (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub changed: Option<Timestamp>,
}

/// A stack's secrets: names and states, never values.
#[utoipa::path(get, path = "/api/v1/stacks/{stack}/secrets", params(("stack" = String, Path)), responses((status = 200, body = [SecretRow]), (status = 404, body = Problem), (status = 422, body = Problem)))]
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
            changed: i.changed.map(Timestamp::from_unix),
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
    /// The value: not empty, no NUL; never echoed or logged.
    #[schema(min_length = 1, pattern = "^[^\\u0000]+$")]
    pub value: String,
}

/// Sets a secret (the answer never holds the value).
#[utoipa::path(put, path = "/api/v1/stacks/{stack}/secrets/{instance}/{name}", params(("stack" = String, Path), ("instance" = String, Path), ("name" = String, Path, description = "the secret's name: not empty, no control characters", pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")), request_body = SetSecret, responses((status = 204), (status = 422, body = Problem)))]
pub async fn set_secret(
    State(state): State<AppState>,
    Path((stack, instance, name)): Path<(String, String, String)>,
    Body(req): Body<SetSecret>,
) -> Result<StatusCode, Problem> {
    use crate::identity::{NameKind, check_name};
    check_name(NameKind::Stack, &stack)
        .and_then(|()| check_name(NameKind::Instance, &instance))
        .map_err(|e| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-name", e))?;
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

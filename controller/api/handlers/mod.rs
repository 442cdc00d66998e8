//! The API's routes: thin wrappers over what the CLI does, returning JSON; one file per
//! kind of work.

mod edit;
mod instance;
mod plan;
mod read;
mod secrets;
mod streams;
mod transfer;

pub use edit::*;
pub use instance::*;
pub use plan::*;
pub use read::*;
pub use secrets::*;
pub use streams::*;
pub use transfer::*;

use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::AppState;
use super::problem::Problem;
use crate::reconcile::{self, Context, Selection};
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

/// Query parameters whose rejection (a value that cannot be read) is a problem document.
pub struct Query<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Query(v))
            .map_err(|r| Problem::new(r.status(), "bad-request", r.body_text()))
    }
}

/// Path segments whose rejection (not UTF-8 once percent-decoded) is a problem document.
pub struct Path<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|r| {
                let status = r.status();
                let code = if status.is_client_error() {
                    "bad-request"
                } else {
                    "internal"
                };
                Problem::new(status, code, r.body_text())
            })
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
            locked: lock,
            ..Selection::only([stack])
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
            router: self.router.clone(),
        }
    }
}

/// The file and manifest document number of `stack`'s Stack document: where the splice
/// editor changes it.
fn stack_document(ws: &Workspace, stack: &str) -> Result<(std::path::PathBuf, usize), Problem> {
    let doc = ws
        .set
        .stacks
        .iter()
        .find(|s| s.resource.metadata.name == stack)
        .ok_or_else(|| Problem::not_found(format!("no Stack document of {stack:?}")))?;
    Ok((doc.origin.file.clone(), doc.origin.document))
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
                    crate::manifests::diagnostics::summary(&ws.diagnostics)
                ),
            )
        } else {
            Problem::not_found(format!("no stack {stack:?}"))
        }
    })
}

/// The OpenAPI document of this API.
pub async fn openapi() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
}

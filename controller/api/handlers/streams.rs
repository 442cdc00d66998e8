//! Streams: an instance's output and the controller's events.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{AppState, Path, Query};
use crate::api::problem::Problem;
use crate::runtime::RuntimeError;

/// Most lines of output `tail` may ask for.
pub const MAX_TAIL: u32 = 5000;

/// How much of an instance's output to show (query parameters).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogsQuery {
    /// Last lines (default 200, at most 5000).
    #[param(minimum = 0, maximum = 5000)]
    pub tail: Option<u32>,
    /// Keep the response open and stream new output as it comes, until the container stops
    /// or the client goes away.
    pub follow: Option<bool>,
}

/// The last lines of an instance's output (stdout and stderr), as text.
#[utoipa::path(get, path = "/api/v1/stacks/{stack}/instances/{instance}/logs", params(("stack" = String, Path), ("instance" = String, Path), LogsQuery), responses((status = 200, description = "text/plain output", content_type = "text/plain", body = String), (status = 400, description = "`tail` over 5000, or a parameter that cannot be read", body = Problem), (status = 404, body = Problem), (status = 409, description = "the container is being removed, or is dead (`container-state`)", body = Problem)))]
pub async fn logs(
    State(state): State<AppState>,
    Path((stack, instance)): Path<(String, String)>,
    Query(q): Query<LogsQuery>,
) -> Result<Response, Problem> {
    use futures_util::StreamExt;
    let tail = q.tail.unwrap_or(200);
    if tail > MAX_TAIL {
        return Err(Problem::bad_request(format!(
            "tail is {tail}, over the {MAX_TAIL} lines allowed"
        )));
    }
    let ctx = state.context();
    let containers =
        crate::observe::select_containers(&ctx, &stack, std::slice::from_ref(&instance))
            .await
            .map_err(|e| Problem::new(StatusCode::NOT_FOUND, "not-found", e.to_string()))?;
    let (_, c) = &containers[0];
    let options = crate::runtime::LogOptions {
        tail: Some(u64::from(tail)),
        follow: q.follow.unwrap_or(false),
        ..Default::default()
    };
    let gone = |e| output_failed(&stack, &instance, e);
    let mut stream = state.runtime.logs(&c.id, &options).await.map_err(gone)?;
    let text_plain = [(
        axum::http::header::CONTENT_TYPE,
        "text/plain; charset=utf-8",
    )];
    if options.follow {
        let body = stream.map(|chunk| chunk.map(|c| c.bytes));
        return Ok((text_plain, axum::body::Body::from_stream(body)).into_response());
    }
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.map_err(gone)?.bytes);
    }
    Ok((text_plain, out).into_response())
}

/// Reading an instance's output failed: a container gone since it was found (removed, or
/// recreated by the controller) is a `404`, one the engine is removing (or failed to remove)
/// a `409`; anything else is the engine's failure.
fn output_failed(stack: &str, instance: &str, e: RuntimeError) -> Problem {
    match e {
        RuntimeError::NotFound(_) => Problem::not_found(format!(
            "the container of {stack}/{instance} went away while its output was read ({e}); try again"
        )),
        RuntimeError::Api {
            status: Some(409), ..
        } => Problem::new(
            StatusCode::CONFLICT,
            "container-state",
            format!(
                "the container of {stack}/{instance} is being removed or is dead ({e}); try again"
            ),
        ),
        e => Problem::internal(e),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_gone_while_its_output_is_read_is_not_found() {
        let gone = output_failed("s", "app", RuntimeError::NotFound("container 3846".into()));
        assert_eq!((gone.status, gone.code), (404, "not-found"));
        assert!(gone.detail.contains("s/app"), "{}", gone.detail);
        let removing = output_failed(
            "s",
            "app",
            RuntimeError::Api {
                operation: "read the logs of container 3846".into(),
                status: Some(409),
                message: "can not get logs from container which is dead or marked for removal"
                    .into(),
            },
        );
        assert_eq!((removing.status, removing.code), (409, "container-state"));
        let other = output_failed(
            "s",
            "app",
            RuntimeError::Api {
                operation: "read the logs of 3846".into(),
                status: Some(500),
                message: "boom".into(),
            },
        );
        assert_eq!((other.status, other.code), (500, "internal"));
    }
}

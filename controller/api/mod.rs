/*! The local HTTP API and dashboard, served by `devarch watch --listen ADDR` (axum).

The manifests folder stays the single source of truth: writes through the API are manifest
files written atomically into `--dir` (or secrets under `--home`), which the controller then
reconciles like any editor save. Every route is behind [`auth::guard`]: a loopback Host, the
token of `{home}/api.token`, and same-origin writes. Bodies are capped at [`MAX_BODY`];
errors are problem documents ([`problem`]); the events of the controller's sink are streamed
at `/api/v1/events` ([`events`]). The routes are in [`handlers`], the OpenAPI document in
[`openapi`].
*/

pub mod auth;
pub mod events;
pub mod handlers;
pub mod openapi;
pub mod problem;
pub mod server;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio_util::sync::CancellationToken;

use crate::runtime::Runtime;
use events::EventHub;

/// Largest request body: 256 KiB.
pub const MAX_BODY: usize = 256 * 1024;

/// What every handler reaches.
#[derive(Clone)]
pub struct AppState {
    /// The manifests folder.
    pub dir: PathBuf,
    /// `--home`.
    pub home: PathBuf,
    /// The folder's owner label.
    pub owner: String,
    /// How the domain router runs.
    pub router: crate::router::RouterSettings,
    /// The engine.
    pub runtime: Arc<dyn Runtime>,
    /// The controller's outputs, for `/api/v1/events` (and apply progress).
    pub events: EventHub,
    /// The token requests must carry.
    pub token: String,
    /// Host headers accepted besides loopback names (the listen address, when it is not
    /// loopback and that was allowed).
    pub extra_hosts: Arc<Vec<String>>,
}

/// The dashboard page (plain HTML, CSS and an ES module; no build step, no CDN).
const DASHBOARD: &str = include_str!("dashboard.html");

/// The router: API under `/api/v1`, the dashboard at `/`, the login link at `/login`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(dashboard))
        .route("/login", get(login))
        .route("/api/v1/openapi.json", get(handlers::openapi))
        .route(
            "/api/v1/stacks",
            get(handlers::stacks).post(handlers::create_stack),
        )
        .route(
            "/api/v1/stacks/{stack}",
            get(handlers::stack).delete(handlers::delete_stack),
        )
        .route("/api/v1/import", post(handlers::import))
        .route("/api/v1/stacks/{stack}/enable", post(handlers::enable))
        .route("/api/v1/stacks/{stack}/clone", post(handlers::clone_stack))
        .route("/api/v1/stacks/{stack}/wiring", get(handlers::wiring))
        .route(
            "/api/v1/stacks/{stack}/instances/{instance}",
            get(handlers::get_instance).patch(handlers::patch_instance),
        )
        .route("/api/v1/stacks/{stack}/disable", post(handlers::disable))
        .route("/api/v1/stacks/{stack}/export", get(handlers::export))
        .route("/api/v1/stacks/{stack}/compose", get(handlers::compose))
        .route("/api/v1/stacks/{stack}/plan", get(handlers::plan))
        .route("/api/v1/stacks/{stack}/apply", post(handlers::apply))
        .route("/api/v1/stacks/{stack}/restart", post(handlers::restart))
        .route("/api/v1/stacks/{stack}/secrets", get(handlers::secrets))
        .route(
            "/api/v1/stacks/{stack}/instances",
            post(handlers::add_instance),
        )
        .route(
            "/api/v1/stacks/{stack}/instances/{instance}/logs",
            get(handlers::logs),
        )
        .route(
            "/api/v1/stacks/{stack}/secrets/{instance}/{name}",
            put(handlers::set_secret),
        )
        .route(
            "/api/v1/stacks/{stack}/instances/{instance}/config",
            get(handlers::effective_config),
        )
        .route("/api/v1/templates", get(handlers::templates))
        .route("/api/v1/events", get(handlers::events))
        .fallback(|| async { problem::Problem::not_found("no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::guard,
        ))
        .with_state(state)
}

async fn dashboard() -> Html<&'static str> {
    Html(DASHBOARD)
}

/// `/login?token=...`: the one-time link `watch` prints; sets the cookie, goes to `/`.
async fn login(
    axum::extract::State(state): axum::extract::State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if q.get("token").is_none_or(|t| t != &state.token) {
        return problem::Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the login link's token is not this controller's",
        )
        .into_response();
    }
    let cookie = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/",
        auth::COOKIE,
        state.token
    );
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, "/".to_string()),
        ],
    )
        .into_response()
}

/// Binding the listen address failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr} ({source}); choose another address with --listen ADDR")]
pub struct ListenError {
    /// The address.
    pub addr: SocketAddr,
    /// Why.
    pub source: std::io::Error,
}

/// Binds `addr` (so a taken port is reported before anything else starts).
///
/// # Errors
/// [`ListenError`] naming the flag.
pub async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, ListenError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ListenError { addr, source })
}

/// Serves until `shutdown`, within `limits` (see [`server`]).
///
/// # Errors
/// The server's I/O error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    limits: server::Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    server::serve(listener, router(state), limits, shutdown).await
}

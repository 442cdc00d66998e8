/*! The local HTTP API and dashboard, served by `devarch watch --listen ADDR` (axum).

The manifests folder stays the single source of truth: writes through the API are manifest
files written atomically into `--dir` (or secrets under `--home`), which the controller then
reconciles like any editor save. Every route is behind [`auth::guard`]: a loopback Host, the
token of `{home}/api.token` as a bearer header (never a cookie: see [`auth`]), and
same-origin writes. Every response says it may not be framed ([`security_headers`]); the
dashboard page's Content-Security-Policy lets only its own inline script and style run. Bodies are capped at [`MAX_BODY`];
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
use axum::extract::DefaultBodyLimit;
use axum::http::header;
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

/// The router: API under `/api/v1`, the dashboard at `/` (the login link is
/// `/#token=TOKEN`: the fragment never reaches the server).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(dashboard))
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
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// The Content-Security-Policy of every response but the dashboard page: nothing may load,
/// nothing may frame it.
const CSP_DATA: &str = "default-src 'none'; frame-ancestors 'none'";

/// The dashboard page's Content-Security-Policy: its own inline module and stylesheet (by
/// hash), requests to its own origin, nothing else; never framed.
fn dashboard_csp() -> &'static str {
    static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "default-src 'none'; script-src '{}'; style-src '{}'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            inline_hash(DASHBOARD, "<script type=\"module\">", "</script>"),
            inline_hash(DASHBOARD, "<style>", "</style>"),
        )
    });
    &CSP
}

/// `sha256-BASE64` of the text between `open` and the next `close` in `page` (the form a
/// CSP source expression takes).
fn inline_hash(page: &str, open: &str, close: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let start = page.find(open).expect("the dashboard has the element") + open.len();
    let len = page[start..].find(close).expect("the element is closed");
    let digest = sha2::Sha256::digest(&page.as_bytes()[start..start + len]);
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

async fn dashboard() -> Response {
    (
        [(header::CONTENT_SECURITY_POLICY, dashboard_csp())],
        Html(DASHBOARD),
    )
        .into_response()
}

/// On every response (problems and the guard's refusals too): no framing (clickjacking), no
/// MIME sniffing, no referrer; a Content-Security-Policy that allows nothing unless the
/// handler set its own.
async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::HeaderValue;
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(CSP_DATA));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
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

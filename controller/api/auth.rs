//! Who may talk to the API: requests must name a loopback host (against DNS rebinding), carry
//! the token as `Authorization: Bearer`, and writes must not come from another origin. The
//! token is generated on first start into `{home}/api.token` (mode 0600).
//!
//! There is no cookie: a browser sends a cookie of `127.0.0.1` to every port of it (each
//! container published there, the router on :80), so it would hand them the token. The
//! login link carries the token in its fragment (`http://ADDR/#token=...`), which browsers
//! never send to a server; the dashboard keeps it in `sessionStorage` (one origin: scheme,
//! host and port) and sends it as a bearer header. Only the dashboard page itself, which
//! holds no data, is served without it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ring::rand::{SecureRandom, SystemRandom};

use super::AppState;
use super::problem::Problem;
use crate::state::{FileMode, Home};

/// File name of the token under `--home`.
pub const TOKEN_FILE: &str = "api.token";

/// The API token: read from `{home}/api.token`, or generated there (32 random bytes, hex).
///
/// # Errors
/// The home's checks, or a token file that cannot be read or written.
pub fn load_or_create_token(home: &Path) -> anyhow::Result<String> {
    Home::open(home)?;
    let path: PathBuf = home.join(TOKEN_FILE);
    if let Some(bytes) = crate::state::home::read_file(&path, 1024)? {
        let token = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("{} is not a token", path.display()))?
            .trim()
            .to_string();
        if token.len() >= 32 && token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(token);
        }
        anyhow::bail!(
            "{} does not hold a token (64 hex digits); remove it and devarch makes a new one",
            path.display()
        );
    }
    let mut raw = [0u8; 32];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| anyhow::anyhow!("the system random generator failed"))?;
    let token = hex::encode(raw);
    crate::safe_fs::write_atomic(&path, format!("{token}\n").as_bytes(), FileMode::Private)?;
    Ok(token)
}

/// Whether `host` (a Host header: name or address, optional port) names this machine's
/// loopback: `localhost`, `*.localhost`, `127.0.0.0/8`, `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        host.rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(name, _)| name)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Constant-time equality of two tokens.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The token a request carries: `Authorization: Bearer ...` (and nothing else: no cookie,
/// no query parameter).
fn presented(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The guard in front of every route: Host, then the token (not for the dashboard page,
/// which holds no data), then Origin for writes.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let host_ok = is_loopback_host(host) || state.extra_hosts.iter().any(|h| h == host);
    if !host_ok {
        return Problem::new(
            StatusCode::MISDIRECTED_REQUEST,
            "foreign-host",
            "the Host header must name this machine (localhost or a loopback address)",
        )
        .into_response();
    }
    let page =
        request.uri().path() == "/" && matches!(*request.method(), Method::GET | Method::HEAD);
    if !page && !presented(headers).is_some_and(|t| same(t, &state.token)) {
        return Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid token is needed: `Authorization: Bearer TOKEN` (TOKEN in {home}/api.token), or open the login link `devarch watch` printed",
        )
        .into_response();
    }
    let write = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if write {
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
        let cross_site = headers
            .get("sec-fetch-site")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|s| s != "same-origin" && s != "none");
        let foreign_origin =
            origin.is_some_and(|o| o != format!("http://{host}") && o != format!("https://{host}"));
        if cross_site || foreign_origin {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "cross-origin",
                "changes are accepted only from the dashboard's own origin",
            )
            .into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_hosts_pass() {
        for ok in [
            "localhost",
            "localhost:7420",
            "127.0.0.1:7420",
            "127.1.2.3",
            "[::1]:7420",
            "web.blog.localhost",
            "LOCALHOST.",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.com",
            "evil.com:7420",
            "localhost.evil.com",
            "10.0.0.1:7420",
            "[2001:db8::1]:80",
            "127.0.0.1.nip.io",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd") && !same("abc", "ab") && !same("", "a"));
    }
}

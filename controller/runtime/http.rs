/*! [`RawClient`]: plain HTTP `GET`s to the engine's socket, beside bollard.

bollard covers most calls, but not all of them fit: its strict enums refuse states such as
Podman's `stopped` (so containers are listed and inspected here, into the lenient types of
[`super::wire`]), it offers no libpod calls (see [`super::libpod`]), its event stream does not
say when the subscription is live (see [`super::events`]), and the connection handshake wants
`/_ping`'s headers (see [`super::connect`]). This file holds the transport for those calls and
the small helpers they share: percent-encoding, reading an engine error body, and an error's
source chain as text.

Transport failures are plain text here ([`RawClient::open`], [`RawClient::fetch`]); the calls
made for an operation ([`RawClient::get`], [`RawClient::get_json`]) turn them into
[`RuntimeError::Api`].
*/

use std::path::PathBuf;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper::{HeaderMap, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use hyperlocal::UnixConnector;

use super::{Result, RuntimeError};

/// Timeout of the plain requests made for an operation (bollard's default).
pub(super) const RAW_TIMEOUT: Duration = Duration::from_secs(120);

/// Plain HTTP `GET`s to the engine, for what bollard cannot decode or does not offer.
///
/// Built from the same endpoint as the bollard client ([`super::connect`]); cloning shares the
/// underlying client. No connection is kept idle between requests.
#[derive(Clone)]
pub(crate) enum RawClient {
    /// `unix://` endpoints.
    Unix {
        /// The hyper client over the socket.
        client: Client<UnixConnector, Empty<Bytes>>,
        /// Path of the engine's socket.
        socket: PathBuf,
    },
    /// `tcp://` and `http://` endpoints.
    Http {
        /// The hyper client over TCP.
        client: Client<HttpConnector, Empty<Bytes>>,
        /// `http://host:port`, without a trailing `/`.
        base: String,
    },
}

impl RawClient {
    /// A client for `unix:///path`, `tcp://host:port` or `http://host:port`.
    pub(crate) fn new(endpoint: &str) -> Self {
        let mut builder = Client::builder(TokioExecutor::new());
        // Like bollard: no idle connections kept (the engine may close them under us).
        builder.pool_max_idle_per_host(0);
        match endpoint.strip_prefix("unix://") {
            Some(path) => RawClient::Unix {
                client: builder.build(UnixConnector),
                socket: path.into(),
            },
            None => {
                let rest = endpoint
                    .split_once("://")
                    .map_or(endpoint, |(_, rest)| rest);
                RawClient::Http {
                    client: builder.build(HttpConnector::new()),
                    base: format!("http://{}", rest.trim_end_matches('/')),
                }
            }
        }
    }

    /// Where this client connects (for messages).
    fn address(&self) -> String {
        match self {
            RawClient::Unix { socket, .. } => format!("unix://{}", socket.display()),
            RawClient::Http { base, .. } => base.clone(),
        }
    }

    /// `GET path_and_query`, once the response head arrived within `timeout`; the body is
    /// left to the caller. Only transport failures are errors.
    pub(crate) async fn open(
        &self,
        path_and_query: &str,
        timeout: Duration,
    ) -> std::result::Result<Response<Incoming>, String> {
        let request = async {
            match self {
                RawClient::Unix { client, socket } => {
                    client
                        .get(hyperlocal::Uri::new(socket, path_and_query).into())
                        .await
                }
                RawClient::Http { client, base } => {
                    let uri = format!("{base}{path_and_query}")
                        .parse()
                        .map_err(|e| format!("{e}"))?;
                    client.get(uri).await
                }
            }
            .map_err(|e| {
                if e.is_connect() {
                    format!(
                        "cannot connect to the engine at {}: {} (is it running?)",
                        self.address(),
                        crate::errors::chain(&e)
                    )
                } else {
                    crate::errors::chain(&e)
                }
            })
        };
        tokio::time::timeout(timeout, request)
            .await
            .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
    }

    /// `GET path_and_query` within `timeout`: status, headers and body. Only transport
    /// failures are errors.
    pub(crate) async fn fetch(
        &self,
        path_and_query: &str,
        timeout: Duration,
    ) -> std::result::Result<(u16, HeaderMap, Bytes), String> {
        let request = async {
            let response = self.open(path_and_query, timeout).await?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            Ok((status, headers, body.to_bytes()))
        };
        tokio::time::timeout(timeout, request)
            .await
            .map_err(|_| format!("no answer within {}s", timeout.as_secs()))?
    }

    /// [`Self::fetch`] for an operation: status and body.
    ///
    /// # Errors
    /// Transport failures (no connection, no answer within `timeout`) are
    /// [`RuntimeError::Api`] for `operation`, without a status; any HTTP status is the
    /// caller's to judge.
    pub(super) async fn get(
        &self,
        path_and_query: &str,
        timeout: Duration,
        operation: &str,
    ) -> Result<(u16, Bytes)> {
        match self.fetch(path_and_query, timeout).await {
            Ok((status, _, body)) => Ok((status, body)),
            Err(message) => Err(RuntimeError::Api {
                operation: operation.to_string(),
                status: None,
                message,
            }),
        }
    }

    /// `GET` of a full path (with its version prefix, `/v1.41/...` or `/v4.3.1/libpod/...`)
    /// within [`RAW_TIMEOUT`], read as JSON. `verb` and `what` name the operation for errors
    /// (`"list"`, `"containers devarch-*"`).
    ///
    /// # Errors
    /// - 404: [`RuntimeError::NotFound`]`(what)`, the only status decided on.
    /// - Any other status: [`RuntimeError::Api`] with the engine's message.
    /// - A 200 body that does not decode as `T`: [`RuntimeError::Api`] "unexpected answer".
    /// - Transport failures: as [`Self::get`].
    pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        verb: &str,
        what: &str,
    ) -> Result<T> {
        let operation = format!("{verb} {what}");
        let (status, body) = self.get(path, RAW_TIMEOUT, &operation).await?;
        match status {
            200 => serde_json::from_slice(&body).map_err(|e| RuntimeError::Api {
                operation,
                status: Some(status),
                message: format!("unexpected answer: {e}"),
            }),
            404 => Err(RuntimeError::NotFound(what.to_string())),
            _ => Err(RuntimeError::Api {
                operation,
                status: Some(status),
                message: body_message(&body),
            }),
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters, for a path segment (an ID
/// or name) or a query value (a JSON filter).
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `message` of an engine error body (both engines answer `{"message": ...}`), or the
/// whole body, trimmed, when it is not that.
pub(super) fn body_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_query_values() {
        assert_eq!(
            encode(r#"{"name":["a-b"]}"#),
            "%7B%22name%22%3A%5B%22a-b%22%5D%7D"
        );
    }
}

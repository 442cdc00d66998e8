//! The API's HTTP/1 server: an accept loop over hyper with bounds that `axum::serve` does not
//! set. A connection must send a request's headers within [`Limits::header_read_timeout`]
//! (from its start, and again after each response: an idle keep-alive connection is closed
//! too); at most [`Limits::max_connections`] are served at once, and beyond that new ones
//! wait in the kernel's listen queue, holding none of this process's files, until one ends.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// The server's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// How long a connection may take to send a request's headers, from its start or from
    /// the end of the previous response; then it is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 256,
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, within `limits`: then stops accepting and
/// asks every open connection to finish its response and close.
///
/// # Errors
/// None yet: a failed accept (out of files, say) is logged and retried after a pause.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let slot = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let stream = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let mut conn = pin!(conn);
            tokio::select! {
                // A timed-out or broken connection is the client's business, not an error.
                _ = conn.as_mut() => return,
                () = stop.cancelled() => {}
            }
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        });
    }
}

/// After a failed accept: a connection that went away before it was accepted is nothing;
/// anything else (out of file descriptors) is logged and waited out, as axum does.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!("the API cannot accept a connection: {e}; retrying in 1s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

//! `devarch watch`: sets up logging and signals, waits for an engine, runs the controller.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Result, bail};

use super::args::Cli;
use super::context::{home, runtime, tokio_rt};
use super::exit;
use crate::runtime::Runtime;

/// The flags of `devarch watch`.
#[derive(Clone, Copy, Debug)]
pub struct Flags {
    /// `--plan-only`.
    pub plan_only: bool,
    /// `--resync`.
    pub resync: Duration,
    /// `--concurrency`.
    pub concurrency: usize,
    /// `--debounce`.
    pub debounce: Duration,
    /// `--log-format`.
    pub log_format: super::args::LogFormat,
    /// `--listen`.
    pub listen: Option<std::net::SocketAddr>,
    /// `--listen-beyond-loopback`.
    pub listen_beyond_loopback: bool,
    /// `--api-header-timeout`, `--api-max-connections`.
    pub api_limits: crate::api::server::Limits,
}

/// `devarch watch`.
pub fn watch(cli: &Cli, flags: Flags) -> Result<u8> {
    let Flags {
        plan_only,
        resync,
        concurrency,
        debounce,
        log_format,
        listen,
        listen_beyond_loopback,
        api_limits,
    } = flags;
    if let Some(addr) = listen
        && !addr.ip().is_loopback()
        && !listen_beyond_loopback
    {
        bail!(
            "--listen {addr} is not a loopback address; the API changes your stacks, so serving it beyond this machine needs --listen-beyond-loopback"
        );
    }
    let filter = tracing_subscriber::EnvFilter::try_from_env("DEVARCH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    match log_format {
        super::args::LogFormat::Json => builder.json().init(),
        super::args::LogFormat::Text => builder.init(),
    }
    if !cli.dir.is_dir() {
        bail!(
            "manifests folder {} does not exist (set --dir or DEVARCH_DIR)",
            cli.dir.display()
        );
    }
    let opts = crate::watch::WatchOptions {
        dir: cli.dir.clone(),
        home: home(cli),
        plan_only,
        resync,
        concurrency,
        debounce,
        router: super::context::router_settings(cli),
    };
    tokio_rt()?.block_on(async {
        let shutdown = tokio_util::sync::CancellationToken::new();
        {
            let token = shutdown.clone();
            tokio::spawn(async move {
                let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
                tokio::select! { _ = tokio::signal::ctrl_c() => {}, _ = term.recv() => {} }
                tracing::info!("shutting down: letting running reconciles finish");
                token.cancel();
            });
        }
        // Wait for an engine: the controller may start before it.
        let rt: std::sync::Arc<dyn Runtime> = loop {
            match runtime(cli).await {
                Ok(rt) => break std::sync::Arc::from(rt),
                Err(e) => {
                    tracing::warn!("{e:#}; retrying in 2s");
                    tokio::select! { _ = shutdown.cancelled() => return Ok(exit::OK), _ = tokio::time::sleep(Duration::from_secs(2)) => {} }
                }
            }
        };
        let hub = crate::api::events::EventHub::new(std::sync::Arc::new(super::progress::WatchSink));
        if let Some(addr) = listen {
            let home = home(cli);
            let token = crate::api::auth::load_or_create_token(&home)?;
            let listener = crate::api::bind(addr).await?;
            let local = listener.local_addr()?;
            if !addr.ip().is_loopback() {
                tracing::warn!("the API listens on {local}, beyond this machine's loopback: anyone who reaches it with the token can change your stacks");
            }
            let state = crate::api::AppState {
                dir: cli.dir.clone(),
                home: home.clone(),
                owner: crate::identity::owner_of(&cli.dir),
                router: super::context::router_settings(cli),
                runtime: rt.clone(),
                events: hub.clone(),
                token: token.clone(),
                extra_hosts: std::sync::Arc::new(if addr.ip().is_loopback() { vec![] } else { vec![local.to_string()] }),
            };
            errln!("API and dashboard on http://{local}/ — log in with http://{local}/#token={token} (the token is in {}; API clients send it as `Authorization: Bearer TOKEN`)", home.join(crate::api::auth::TOKEN_FILE).display());
            let stop = shutdown.clone();
            tokio::spawn(async move {
                if let Err(e) = crate::api::serve(listener, state, api_limits, stop).await {
                    tracing::error!("the API server stopped: {e}");
                }
            });
        }
        let sink: std::sync::Arc<dyn crate::sink::Sink> = std::sync::Arc::new(hub);
        crate::watch::run(opts, rt, sink, shutdown).await?;
        Ok(exit::OK)
    })
}

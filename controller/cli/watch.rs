//! `devarch watch`: sets up logging and signals, waits for an engine, runs the controller.

use std::io::IsTerminal;
use std::time::Duration;

use anyhow::{Result, bail};

use super::args::Cli;
use super::context::{home, runtime, tokio_rt};
use super::exit;
use crate::runtime::Runtime;

/// `devarch watch`.
pub fn watch(
    cli: &Cli,
    plan_only: bool,
    resync: Duration,
    concurrency: usize,
    debounce: Duration,
    log_format: super::args::LogFormat,
) -> Result<u8> {
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
        let sink: std::sync::Arc<dyn crate::sink::Sink> = std::sync::Arc::new(super::progress::WatchSink);
        crate::watch::run(opts, rt, sink, shutdown).await?;
        Ok(exit::OK)
    })
}

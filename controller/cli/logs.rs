//! `devarch logs STACK [INSTANCE...]`: the containers' output, interleaved line by line with a
//! coloured `instance |` prefix, as `docker compose logs` shows it.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use anyhow::Result;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::args::Cli;
use super::context::{engine_context, runtime, tokio_rt};
use super::exit;
use crate::observe::select_containers;
use crate::runtime::LogOptions;

/// What `devarch logs` was asked for.
#[derive(Clone, Debug, Default)]
pub struct LogsRequest {
    /// Instances (all when empty).
    pub instances: Vec<String>,
    /// Keep streaming.
    pub follow: bool,
    /// Last lines per container.
    pub tail: Option<u64>,
    /// Only output younger than this.
    pub since: Option<Duration>,
    /// Engine timestamps on each line.
    pub timestamps: bool,
    /// Never colour the prefixes.
    pub no_color: bool,
}

/// Prefix colours, in the order Compose hands them out.
const COLOURS: &[&str] = &["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"];

/// One line (without its newline) of container `index`, or the end of its output (with the
/// error that ended it, if any).
enum Event {
    Line(usize, Vec<u8>),
    End(usize, Option<String>),
}

/// `devarch logs`.
pub fn logs(cli: &Cli, stack: &str, req: &LogsRequest) -> Result<u8> {
    let rt = tokio_rt()?;
    let code = rt.block_on(async {
        let engine = runtime(cli).await?;
        let ctx = engine_context(cli, engine.as_ref());
        let containers = select_containers(&ctx, stack, &req.instances).await?;
        let options = LogOptions {
            follow: req.follow,
            tail: req.tail,
            since: req.since.map(|d| {
                i64::try_from(crate::status::now().saturating_sub(d.as_secs())).unwrap_or(0)
            }),
            timestamps: req.timestamps,
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut streams = Vec::new();
        for (index, (_, c)) in containers.iter().enumerate() {
            let stream = ctx.runtime.logs(&c.id, &options).await?;
            streams.push((index, stream));
        }
        for (index, mut stream) in streams {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut pending: Vec<u8> = Vec::new();
                let mut error = None;
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(chunk) => {
                            pending.extend_from_slice(&chunk.bytes);
                            while let Some(at) = pending.iter().position(|&b| b == b'\n') {
                                let mut line: Vec<u8> = pending.drain(..=at).collect();
                                line.pop();
                                let _ = tx.send(Event::Line(index, line));
                            }
                        }
                        Err(e) => {
                            error = Some(e.to_string());
                            break;
                        }
                    }
                }
                if !pending.is_empty() {
                    let _ = tx.send(Event::Line(index, pending));
                }
                let _ = tx.send(Event::End(index, error));
            });
        }
        drop(tx);
        let colour = !req.no_color
            && std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        let width = containers.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
        let prefixes: Vec<Vec<u8>> = containers
            .iter()
            .enumerate()
            .map(|(i, (name, _))| {
                let plain = format!("{name:<width$} | ");
                let text = if colour {
                    format!("\x1b[{}m{plain}\x1b[0m", COLOURS[i % COLOURS.len()])
                } else {
                    plain
                };
                text.into_bytes()
            })
            .collect();
        let mut failed = 0;
        while let Some(event) = rx.recv().await {
            match event {
                Event::Line(index, line) => {
                    let mut out = super::output::stdout();
                    out.write_all(&prefixes[index])?;
                    out.write_all(&line)?;
                    out.write_all(b"\n")?;
                    out.flush()?;
                }
                Event::End(index, Some(error)) => {
                    failed += 1;
                    errln!(
                        "error: the output of {} ended: {}",
                        containers[index].0,
                        crate::printable::line(&error)
                    );
                }
                Event::End(_, None) => {}
            }
        }
        Ok::<u8, anyhow::Error>(if failed > 0 { exit::ERROR } else { exit::OK })
    });
    rt.shutdown_background();
    code
}

//! `devarch exec STACK INSTANCE [--] CMD...`: run a command in an instance's container, with a
//! TTY when stdin and stdout are terminals, and exit with its code (like `docker compose
//! exec`).

use std::io::{IsTerminal, Write};

use anyhow::{Result, bail};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::args::Cli;
use super::context::{engine_context, runtime, tokio_rt};
use crate::observe::select_containers;
use crate::runtime::Pipe;

/// `devarch exec`.
pub fn exec(
    cli: &Cli,
    stack: &str,
    instance: &str,
    command: &[String],
    no_tty: bool,
) -> Result<u8> {
    let tty = !no_tty && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let rt = tokio_rt()?;
    let code = rt.block_on(async {
        let engine = runtime(cli).await?;
        let ctx = engine_context(cli, engine.as_ref());
        let containers = select_containers(&ctx, stack, &[instance.to_string()]).await?;
        let (_, c) = &containers[0];
        if !c.state.is_running() {
            bail!(
                "instance {instance:?} of stack {stack:?} is not running ({}); start it with `devarch apply {stack}`",
                serde_json::to_value(&c.state)?.as_str().unwrap_or("stopped")
            );
        }
        let session = ctx.runtime.exec(&c.id, command, tty).await?;
        let _raw = if tty { Some(RawTerminal::enter()?) } else { None };
        if let Some((rows, cols)) = terminal_size().filter(|_| tty) {
            ctx.runtime.resize_exec(&session.id, rows, cols).await.ok();
        }
        let mut input = session.input;
        // Standard input, until it ends; a blocking read, so this task is never awaited.
        tokio::spawn(async move {
            let mut stdin = tokio::io::stdin();
            if tokio::io::copy(&mut stdin, &mut input).await.is_ok() {
                let _ = input.shutdown().await;
            }
        });
        let mut output = session.output;
        let mut winch = if tty {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok()
        } else {
            None
        };
        loop {
            tokio::select! {
                item = output.next() => match item {
                    Some(Ok(chunk)) => {
                        match chunk.pipe {
                            Pipe::Stdout => {
                                let mut out = super::output::stdout();
                                out.write_all(&chunk.bytes)?;
                                out.flush()?;
                            }
                            Pipe::Stderr => {
                                let mut err = std::io::stderr().lock();
                                err.write_all(&chunk.bytes)?;
                                err.flush()?;
                            }
                        }
                    }
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                },
                Some(()) = next_resize(winch.as_mut()) => {
                    if let Some((rows, cols)) = terminal_size() {
                        ctx.runtime.resize_exec(&session.id, rows, cols).await.ok();
                    }
                }
            }
        }
        match crate::runtime::exec_exit_code_after_output(ctx.runtime, &session.id).await? {
            Some(code) => Ok(u8::try_from(code.rem_euclid(256)).unwrap_or(1)),
            None => bail!("the command's output ended but the engine did not report its exit code"),
        }
    });
    rt.shutdown_background();
    code
}

/// The next SIGWINCH, or never without a handler.
async fn next_resize(signal: Option<&mut tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Rows and columns of the terminal on stdout.
fn terminal_size() -> Option<(u16, u16)> {
    let size = rustix::termios::tcgetwinsize(std::io::stdout()).ok()?;
    (size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
}

/// The terminal on stdin in raw mode (keys go to the container as typed) until dropped.
struct RawTerminal {
    saved: rustix::termios::Termios,
}

impl RawTerminal {
    fn enter() -> Result<RawTerminal> {
        use rustix::termios::{OptionalActions, tcgetattr, tcsetattr};
        let stdin = std::io::stdin();
        let saved = tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(&stdin, OptionalActions::Now, &raw)?;
        Ok(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        use rustix::termios::{OptionalActions, tcsetattr};
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

//! Rendering helpers: aligned tables and diagnostics, and the one way the CLI writes to its
//! standard streams.
//!
//! Standard output goes through [`stdout`] (and the [`out!`]/[`outln!`] macros, which return
//! the write's error instead of panicking as `println!` does): when its reader goes away
//! (`devarch ... | head -1`), the write fails with [`StdoutClosed`] inside, and
//! [`super::main`] stops quietly with exit status 0, as ripgrep does. Standard error goes
//! through [`errln!`]/[`err!`], which ignore a closed stderr.

use std::fmt;
use std::io::{self, IsTerminal, Write};

use crate::manifests::diagnostics::{Diagnostic, SourceMap};
use crate::printable;

/// Print rows as aligned columns under a header.
///
/// Every cell is shown through [`printable::line`]: cells hold input (descriptions, images,
/// file names) that must not reach the terminal with its control characters.
pub fn table(out: &mut impl Write, header: &[&str], rows: &[Vec<String>]) -> std::io::Result<()> {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| printable::line(c).into_owned()).collect())
        .collect();
    let rows = &rows;
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{:<w$}   ", c, w = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for r in rows {
        writeln!(out, "{}", line(r.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Whether diagnostics get source snippets: on a terminal, or with `DEVARCH_DIAGNOSTICS=fancy`.
fn fancy() -> bool {
    match std::env::var("DEVARCH_DIAGNOSTICS").as_deref() {
        Ok("fancy") => true,
        Ok("plain") => false,
        _ => std::io::stderr().is_terminal(),
    }
}

/// Print diagnostics to stderr: miette reports with carets on a terminal, else one
/// `file:line:col: error: message` block each.
pub fn print_diagnostics(diags: &[Diagnostic], sources: &SourceMap) {
    let fancy = fancy();
    let mut err = std::io::stderr().lock();
    for d in diags {
        match d.to_report(sources).filter(|_| fancy) {
            Some(report) => {
                let _ = writeln!(err, "{report:?}");
            }
            None => {
                let _ = writeln!(err, "{d}");
            }
        }
    }
}

pub use crate::manifests::diagnostics::summary;

/// The reader of standard output went away (a closed pipe): not a failure of the command,
/// so the edge exits quietly with status 0.
#[derive(Debug, thiserror::Error)]
#[error("standard output was closed by its reader")]
pub struct StdoutClosed;

/// Standard output, locked; a closed pipe comes back as a `BrokenPipe` error carrying
/// [`StdoutClosed`].
pub struct Stdout(io::StdoutLock<'static>);

/// Standard output, for one write or a few (see [`Stdout`]).
pub fn stdout() -> Stdout {
    Stdout(io::stdout().lock())
}

fn mark_closed(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        io::Error::new(io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        e
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).map_err(mark_closed)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0.write_all(buf).map_err(mark_closed)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().map_err(mark_closed)
    }
}

/// Writes formatted text to standard output (the body of [`out!`] and [`outln!`]).
///
/// # Errors
/// The write's error ([`StdoutClosed`] inside when the reader went away).
pub fn write_out(args: fmt::Arguments<'_>) -> io::Result<()> {
    stdout().write_fmt(args)
}

/// Writes formatted text to standard error, ignoring a closed stderr (the body of
/// [`err!`] and [`errln!`]).
pub fn write_err(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// Whether `e` is standard output closed by its reader ([`StdoutClosed`] somewhere in its
/// chain): [`super::main`] then exits quietly with status 0.
pub fn is_stdout_closed(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.is::<StdoutClosed>()
            || c.downcast_ref::<io::Error>()
                .and_then(|io| io.get_ref())
                .is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}

/// `print!` that returns the write's `io::Result` instead of panicking; use with `?`.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::output::write_out(format_args!($($arg)*)) };
}

/// `println!` that returns the write's `io::Result` instead of panicking; use with `?`.
macro_rules! outln {
    () => { $crate::cli::output::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` that ignores a closed standard error instead of panicking.
macro_rules! err {
    ($($arg:tt)*) => { $crate::cli::output::write_err(format_args!($($arg)*)) };
}

/// `eprintln!` that ignores a closed standard error instead of panicking.
macro_rules! errln {
    () => { $crate::cli::output::write_err(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::output::write_err(format_args!("{}\n", format_args!($($arg)*))) };
}

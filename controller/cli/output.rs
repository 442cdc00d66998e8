//! Rendering helpers: aligned tables and diagnostics.

use std::io::{IsTerminal, Write};

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

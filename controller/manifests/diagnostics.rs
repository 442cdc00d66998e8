/*! Located problems in manifests, rendered plainly (`file:line:col: message`) or as
miette reports with a caret under the offending node.

Both renderings show file names, messages and source snippets through
[`crate::printable`]: a folder's file names and contents must not reach the terminal with
their control characters. */

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::yaml::Pos;
use crate::printable::{block, line};

/// A secondary location that explains a diagnostic (e.g. the first definition of a duplicate).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    /// File, as shown to the user.
    pub file: PathBuf,
    /// Position in that file.
    pub pos: Pos,
    /// What is there.
    pub message: String,
}

/// How bad a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The resource is broken and left out (the folder is not valid).
    #[default]
    Error,
    /// Worth a look, but nothing is left out (e.g. a bind of the engine socket).
    Warning,
}

impl Severity {
    /// The word shown after the location: `error` or `warning`.
    pub fn word(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One problem in the manifests folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error (the default) or warning.
    pub severity: Severity,
    /// File, as shown to the user.
    pub file: PathBuf,
    /// Position, when known.
    pub pos: Option<Pos>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
    /// Other places involved.
    pub related: Vec<Related>,
}

impl Diagnostic {
    /// A diagnostic at `pos` in `file`.
    pub fn new(file: impl Into<PathBuf>, pos: Option<Pos>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            file: file.into(),
            pos,
            message: message.into(),
            help: None,
            related: Vec::new(),
        }
    }

    /// A warning at `pos` in `file`.
    pub fn warning(file: impl Into<PathBuf>, pos: Option<Pos>, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::new(file, pos, message)
        }
    }

    /// Add a hint.
    #[must_use]
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Add a related location.
    #[must_use]
    pub fn with_related(
        mut self,
        file: impl Into<PathBuf>,
        pos: Pos,
        message: impl Into<String>,
    ) -> Self {
        self.related.push(Related {
            file: file.into(),
            pos,
            message: message.into(),
        });
        self
    }

    fn sort_key(&self) -> (PathBuf, Pos, String) {
        (
            self.file.clone(),
            self.pos.unwrap_or_default(),
            self.message.clone(),
        )
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display().to_string();
        let (file, message) = (line(&file), block(&self.message));
        match self.pos {
            Some(p) => write!(f, "{file}:{p}: {}: {message}", self.severity.word())?,
            None => write!(f, "{file}: {}: {message}", self.severity.word())?,
        }
        for r in &self.related {
            let file = r.file.display().to_string();
            let (file, message) = (line(&file), block(&r.message));
            write!(f, "\n  {file}:{}: note: {message}", r.pos)?;
        }
        if let Some(h) = &self.help {
            write!(f, "\n  help: {}", block(h))?;
        }
        Ok(())
    }
}

/// "N problems in M files".
pub fn summary(diags: &[Diagnostic]) -> String {
    let files: std::collections::BTreeSet<_> = diags.iter().map(|d| &d.file).collect();
    format!(
        "{} problem{} in {} file{}",
        diags.len(),
        if diags.len() == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" }
    )
}

/// Sort diagnostics by file, position and message, and drop exact duplicates.
pub fn sort_and_dedup(diags: &mut Vec<Diagnostic>) {
    diags.sort_by_key(Diagnostic::sort_key);
    diags.dedup();
}

/// The text of every file read, for snippets.
#[derive(Clone, Debug, Default)]
pub struct SourceMap {
    files: HashMap<PathBuf, Arc<str>>,
}

impl SourceMap {
    /// Remember the text of `file`.
    pub fn insert(&mut self, file: PathBuf, text: Arc<str>) {
        self.files.insert(file, text);
    }

    /// The text of `file`, if it was read.
    pub fn get(&self, file: &Path) -> Option<&Arc<str>> {
        self.files.get(file)
    }
}

/// Byte offset of a 1-based line/column (columns in characters) in `text`.
fn offset_of(text: &str, pos: Pos) -> usize {
    let mut line = 1u32;
    let mut start = 0usize;
    if pos.line > 1 {
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line += 1;
                if line == pos.line {
                    start = i + 1;
                    break;
                }
            }
        }
        if line < pos.line {
            return text.len();
        }
    }
    let rest = &text[start..];
    let col = pos.column.saturating_sub(1) as usize;
    start
        + rest
            .char_indices()
            .take_while(|(_, c)| *c != '\n')
            .nth(col)
            .map(|(i, _)| i)
            .unwrap_or_else(|| rest.find('\n').unwrap_or(rest.len()))
}

/// Length in bytes of the token starting at `offset` (to the end of the word or line).
fn token_len(text: &str, offset: usize) -> usize {
    let rest = &text[offset.min(text.len())..];
    let end = rest
        .find(['\n', ',', '}', ']', ':', '#'])
        .unwrap_or(rest.len());
    rest[..end].trim_end().len().max(1)
}

#[derive(Debug)]
struct Fancy {
    severity: miette::Severity,
    message: String,
    help: Option<String>,
    src: miette::NamedSource<Arc<str>>,
    labels: Vec<miette::LabeledSpan>,
    related: Vec<FancyRelated>,
}

#[derive(Debug)]
struct FancyRelated {
    message: String,
    src: miette::NamedSource<Arc<str>>,
    label: miette::LabeledSpan,
}

impl fmt::Display for Fancy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for Fancy {}
impl fmt::Display for FancyRelated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
impl std::error::Error for FancyRelated {}

impl miette::Diagnostic for Fancy {
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
}

impl miette::Diagnostic for FancyRelated {
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(self.label.clone())))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Advice)
    }
}

/// The caret under `pos`, in the coordinates of the escaped text [`escaped_source`] shows.
fn span(text: &str, pos: Pos, label: String) -> miette::LabeledSpan {
    let off = offset_of(text, pos);
    let end = (off + token_len(text, off)).min(text.len());
    let end = (end..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    let start = block(&text[..off]).len();
    let len = block(&text[off..end]).len().max(1);
    miette::LabeledSpan::new_with_span(Some(block(&label).into_owned()), (start, len))
}

/// A file's text as a snippet shows it: named and escaped through [`crate::printable`].
fn escaped_source(file: &Path, text: &Arc<str>) -> miette::NamedSource<Arc<str>> {
    let name = line(&file.display().to_string()).into_owned();
    let text = match block(text) {
        std::borrow::Cow::Borrowed(_) => text.clone(),
        std::borrow::Cow::Owned(t) => Arc::from(t),
    };
    miette::NamedSource::new(name, text)
}

impl Diagnostic {
    /// A miette report with source snippets, or `None` when the file's text is unknown.
    pub fn to_report(&self, sources: &SourceMap) -> Option<miette::Report> {
        let pos = self.pos?;
        let text = sources.get(&self.file)?.clone();
        let name = line(&self.file.display().to_string()).into_owned();
        let related = self
            .related
            .iter()
            .filter_map(|r| {
                let t = sources.get(&r.file)?.clone();
                let file = r.file.display().to_string();
                Some(FancyRelated {
                    message: format!("{}:{}: {}", line(&file), r.pos, block(&r.message)),
                    label: span(&t, r.pos, r.message.clone()),
                    src: escaped_source(&r.file, &t),
                })
            })
            .collect();
        let fancy = Fancy {
            severity: match self.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
            message: format!("{}:{}: {}", name, pos, block(&self.message)),
            help: self.help.as_deref().map(|h| block(h).into_owned()),
            labels: vec![span(&text, pos, "here".to_string())],
            src: escaped_source(&self.file, &text),
            related,
        };
        Some(miette::Report::new(fancy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_count_characters() {
        let t = "a: 1\nbé: x\n";
        assert_eq!(offset_of(t, Pos { line: 2, column: 5 }), 10);
        assert_eq!(offset_of(t, Pos { line: 9, column: 1 }), t.len());
    }

    #[test]
    fn plain_rendering_names_file_line_and_column() {
        let d = Diagnostic::new("x/a.yaml", Some(Pos { line: 3, column: 7 }), "bad")
            .with_related("x/b.yaml", Pos { line: 1, column: 1 }, "first here")
            .with_help("fix it");
        assert_eq!(
            d.to_string(),
            "x/a.yaml:3:7: error: bad\n  x/b.yaml:1:1: note: first here\n  help: fix it"
        );
    }
}

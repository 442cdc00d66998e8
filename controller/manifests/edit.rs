/*! Editing manifest files in place: documents are cut where the YAML parser says they begin
and end, never by looking for `---` lines, so end markers (`...`), directives (`%YAML 1.2`),
block scalars holding `---` and comments cannot move a boundary. Everything that is kept stays
byte for byte, comments and formatting included.

Documents are numbered as the loader numbers them ([`super::load::Origin::document`]): only
documents with content count, empty and `null` documents do not. Every edit is checked by
parsing its result again: the kept documents must come back exactly, or the edit is refused.
*/

use std::collections::BTreeSet;

use saphyr_parser::{Event, Parser, ScalarStyle};

use super::yaml::{SyntaxError, parse_documents};

/// Why a file could not be edited.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The text does not parse.
    #[error("invalid YAML: {}", .0.message)]
    Syntax(SyntaxError),
    /// The edit would not have kept exactly the other documents (a case this editor does
    /// not handle); nothing was changed.
    #[error("cannot remove the documents without touching the others; edit the file by hand")]
    Unverified,
    /// A value could not be changed without touching the rest of its document (it is
    /// anchored or aliased); nothing was changed.
    #[error("cannot change {pointer} in place (it is anchored or aliased); edit the file by hand")]
    Unspliced {
        /// The value's JSON pointer.
        pointer: String,
    },
}

/// The parser's events of `text` with the byte range of each (the parser counts characters;
/// the text is cut in bytes).
pub(super) fn byte_events(
    text: &str,
) -> impl Iterator<Item = Result<(Event<'_>, usize, usize), EditError>> {
    let offsets: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    let byte_at = move |chars: usize| offsets.get(chars).copied().unwrap_or(text.len());
    Parser::new_from_str(text).map(move |event| {
        let (event, span) = event.map_err(|e| {
            EditError::Syntax(SyntaxError {
                message: e.info().to_string(),
                pos: None,
            })
        })?;
        Ok((
            event,
            byte_at(span.start.index()),
            byte_at(span.end.index()),
        ))
    })
}

/// Where the line holding byte `at` begins.
pub(super) fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map_or(0, |i| i + 1)
}

/// One document's place in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Span {
    /// Byte range of the document's region: from where the previous document's region ends
    /// (directives and `---` included) to where the next one begins (comments after the
    /// content and an `...` end marker included); the last one runs to the end of the text.
    start: usize,
    end: usize,
    /// The document began without `---` (only possible first, or after an `...`).
    implicit_start: bool,
    /// The document ends with an `...` marker.
    explicit_end: bool,
    /// Empty or `null`: not counted as a manifest document.
    null: bool,
}

/// The regions of every document of `text`, in order, covering the whole text.
fn spans(text: &str) -> Result<Vec<Span>, EditError> {
    // The parser's markers count characters; the text is cut in bytes.
    let line_start = |b: usize| line_start(text, b);
    let line_end = |b: usize| text[b..].find('\n').map_or(text.len(), |i| b + i + 1);

    let mut spans: Vec<Span> = Vec::new();
    let mut depth = 0usize;
    let mut root_seen = false;
    for event in byte_events(text) {
        let (event, from, to) = event?;
        match event {
            Event::DocumentStart(explicit) => {
                let start = match spans.last() {
                    None => 0,
                    Some(prev) if prev.explicit_end => prev.end,
                    Some(_) => line_start(from),
                };
                if let Some(prev) = spans.last_mut() {
                    prev.end = start;
                }
                spans.push(Span {
                    start,
                    end: text.len(),
                    implicit_start: !explicit,
                    explicit_end: false,
                    null: true,
                });
                root_seen = false;
            }
            Event::DocumentEnd => {
                let doc = spans.last_mut().ok_or(EditError::Unverified)?;
                if text.get(from..to) == Some("...") {
                    doc.explicit_end = true;
                    doc.end = line_end(to);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if depth == 0 && !root_seen {
                    root_seen = true;
                    if let Some(doc) = spans.last_mut() {
                        doc.null = false;
                    }
                }
                depth += 1;
            }
            Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
            Event::Scalar(value, style, _, tag) if depth == 0 && !root_seen => {
                root_seen = true;
                let null = tag.is_none()
                    && style == ScalarStyle::Plain
                    && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                if let Some(doc) = spans.last_mut() {
                    doc.null = null;
                }
            }
            Event::Alias(_) if depth == 0 && !root_seen => {
                root_seen = true;
                if let Some(doc) = spans.last_mut() {
                    doc.null = false;
                }
            }
            _ => {}
        }
    }
    if let Some(last) = spans.last_mut() {
        last.end = text.len();
    }
    Ok(spans)
}

/// The text of manifest document `doc` (numbered as the loader numbers them) as a document
/// of its own: its region of the file, comments included, starting with `---`, ending with a
/// line break and without an `...` end marker.
///
/// # Errors
/// [`EditError::Syntax`] when the text does not parse; [`EditError::Unverified`] when there is
/// no such document.
pub fn document_text(text: &str, doc: usize) -> Result<String, EditError> {
    let span = spans(text)?
        .into_iter()
        .filter(|s| !s.null)
        .nth(doc)
        .ok_or(EditError::Unverified)?;
    let mut region = text[span.start..span.end].to_string();
    if span.explicit_end
        && let Some(i) = region.trim_end().rfind("...")
    {
        region.truncate(i);
    }
    if !region.ends_with('\n') {
        region.push('\n');
    }
    let starts_marked = region
        .lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .is_some_and(|l| l.starts_with("---") || l.starts_with('%'));
    if !starts_marked {
        region.insert_str(0, "---\n");
    }
    Ok(region)
}

/// `text` without the manifest documents numbered in `drop` (numbered as the loader does);
/// `None` when no manifest document is left (the file can go).
///
/// # Errors
/// [`EditError::Syntax`] when the text does not parse; [`EditError::Unverified`] when the
/// result would not hold exactly the other documents.
pub fn remove_documents(text: &str, drop: &BTreeSet<usize>) -> Result<Option<String>, EditError> {
    let before = parse_documents(text).map_err(EditError::Syntax)?;
    let spans = spans(text)?;
    if spans.iter().filter(|s| !s.null).count() != before.len() {
        return Err(EditError::Unverified);
    }
    let mut out = String::with_capacity(text.len());
    let mut manifest_index = 0usize;
    // Whether the last region written ends with `...` (None: nothing written yet), and the
    // index of the region it came from.
    let mut last_kept: Option<(usize, bool)> = None;
    for (i, span) in spans.iter().enumerate() {
        let dropped = !span.null && drop.contains(&manifest_index);
        if !span.null {
            manifest_index += 1;
        }
        if dropped {
            continue;
        }
        // This region relied on the previous one's `...` (it starts implicitly, or with
        // directives); when that one is gone, end the last written document explicitly.
        if let Some((prev, prev_explicit)) = last_kept
            && prev + 1 != i
            && spans[i - 1].explicit_end
            && !prev_explicit
        {
            if !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str("...\n");
        }
        out.push_str(&text[span.start..span.end]);
        last_kept = Some((i, span.explicit_end));
    }
    let expected: Vec<&serde_json::Value> = before
        .iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, d)| &d.value)
        .collect();
    if expected.is_empty() {
        return Ok(None);
    }
    let after = parse_documents(&out).map_err(|_| EditError::Unverified)?;
    if after.iter().map(|d| &d.value).ne(expected.iter().copied()) {
        return Err(EditError::Unverified);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn remove(text: &str, drop: &[usize]) -> Option<String> {
        remove_documents(text, &drop.iter().copied().collect()).unwrap()
    }

    #[test]
    fn an_end_marker_does_not_glue_two_documents() {
        // Splitting on `---` lines put A and B in one piece: deleting A also removed B.
        let text = "kind: A\n...\nkind: B\n---\nkind: T\n";
        assert_eq!(remove(text, &[0]).unwrap(), "kind: B\n---\nkind: T\n");
        assert_eq!(remove(text, &[1]).unwrap(), "kind: A\n...\n---\nkind: T\n");
        assert_eq!(remove(text, &[2]).unwrap(), "kind: A\n...\nkind: B\n");
    }

    #[test]
    fn a_directive_stays_with_its_document() {
        // With a leading `%YAML 1.2`, deleting B removed A and left B.
        let text = "%YAML 1.2\n---\nkind: A\n---\nkind: B\n";
        assert_eq!(remove(text, &[1]).unwrap(), "%YAML 1.2\n---\nkind: A\n");
        assert_eq!(remove(text, &[0]).unwrap(), "---\nkind: B\n");
    }

    #[test]
    fn a_document_that_relied_on_a_removed_end_marker_gets_one() {
        let text = "kind: A\n---\nkind: B\n...\nkind: C\n";
        assert_eq!(remove(text, &[1]).unwrap(), "kind: A\n...\nkind: C\n");
        let text = "kind: A\n---\nkind: B\n...\n%YAML 1.2\n---\nkind: C\n";
        assert_eq!(
            remove(text, &[1]).unwrap(),
            "kind: A\n...\n%YAML 1.2\n---\nkind: C\n"
        );
    }

    #[test]
    fn block_scalars_and_comments_holding_markers_are_content() {
        let text = "kind: A\nnote: |\n  ---\n  ...\n# ---\n---\nkind: B # ...\n";
        assert_eq!(
            remove(text, &[1]).unwrap(),
            "kind: A\nnote: |\n  ---\n  ...\n# ---\n"
        );
        assert_eq!(remove(text, &[0]).unwrap(), "---\nkind: B # ...\n");
    }

    #[test]
    fn empty_documents_are_not_counted_and_the_last_one_removed_frees_the_file() {
        let text = "---\n---\n~\n---\nkind: A\n---\nkind: B\n";
        assert_eq!(remove(text, &[1]).unwrap(), "---\n---\n~\n---\nkind: A\n");
        assert_eq!(remove("kind: A\n", &[0]), None);
        assert_eq!(remove("# only\n---\nkind: A\n---\n", &[0]), None);
    }

    #[test]
    fn multi_byte_text_is_cut_on_its_boundaries() {
        let text = "kind: A\nnote: «été»\n---\nkind: B\nnote: 日本\n";
        assert_eq!(remove(text, &[0]).unwrap(), "---\nkind: B\nnote: 日本\n");
        assert_eq!(remove(text, &[1]).unwrap(), "kind: A\nnote: «été»\n");
    }

    #[test]
    fn invalid_yaml_is_refused() {
        assert!(matches!(
            remove_documents("a: [\n", &[0].into()),
            Err(EditError::Syntax(_))
        ));
    }

    /// One document of a generated file: its text and whether it is a manifest document.
    fn document() -> impl Strategy<Value = (String, bool)> {
        let name = "[a-z]{1,6}";
        prop_oneof![
            (name, any::<bool>()).prop_map(|(n, flow)| if flow {
                (format!("{{kind: Stack, name: {n}}}\n"), true)
            } else {
                (
                    format!("kind: Stack\nname: {n}\nnote: |\n  --- not a marker\n  ...\n"),
                    true,
                )
            }),
            name.prop_map(|n| (format!("- {n}\n- \"---\"\n"), true)),
            Just(("~\n".to_string(), false)),
            Just((String::new(), false)),
        ]
    }

    /// A file of documents with random separators, directives, end markers and comments.
    fn file() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            (
                document(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            ),
            1..7,
        )
        .prop_map(|docs| {
            let mut text = String::new();
            let mut ended = true; // at the start, or after `...`
            for (i, ((body, _), directive, end, comment, bare)) in docs.into_iter().enumerate() {
                if comment {
                    text.push_str("# between --- and ...\n");
                }
                let explicit = !bare || !ended || body.is_empty() || directive;
                if directive && ended {
                    text.push_str("%YAML 1.2\n");
                }
                if explicit || i > 0 && !ended {
                    text.push_str("---\n");
                }
                text.push_str(&body);
                ended = end;
                if end {
                    text.push_str("...\n");
                }
            }
            text
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn removing_any_documents_keeps_exactly_the_others(text in file(), seed in any::<u64>()) {
            let Ok(docs) = parse_documents(&text) else {
                // A generated combination the YAML grammar does not allow: nothing to test.
                return Ok(());
            };
            let n = docs.len();
            if n == 0 {
                return Ok(());
            }
            let drop: BTreeSet<usize> = (0..n).filter(|i| seed >> (i % 64) & 1 == 1).collect();
            let result = remove_documents(&text, &drop).unwrap();
            let kept: Vec<&serde_json::Value> = docs
                .iter()
                .enumerate()
                .filter(|(i, _)| !drop.contains(i))
                .map(|(_, d)| &d.value)
                .collect();
            match result {
                None => prop_assert!(kept.is_empty()),
                Some(out) => {
                    let again = parse_documents(&out).unwrap();
                    prop_assert_eq!(again.iter().map(|d| &d.value).collect::<Vec<_>>(), kept);
                    // Byte for byte: every kept document's region is in the output as it was.
                    let mut index = 0;
                    for span in spans(&text).unwrap() {
                        let kept = span.null || !drop.contains(&index);
                        if !span.null {
                            index += 1;
                        }
                        let region = &text[span.start..span.end];
                        prop_assert!(!kept || out.contains(region), "{region:?} missing from {out:?}");
                    }
                }
            }
        }
    }
}

/*! Changing values in manifest files in place: the new value replaces the old one's bytes
where the YAML parser says the old one is, or a missing key is added to its mapping, and
everything else in the file — comments, formatting, other documents — stays byte for byte.
Every edit is checked by parsing the result again: the documents must come back exactly as
the old ones with the changes applied, or the edit is refused.

What `stack enable|disable|rename|clone` use ([`set_values`]).
*/

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::Value;

use super::edit::EditError;
use super::yaml::{SyntaxError, parse_documents};

/// One change: in manifest document `doc` (numbered as the loader numbers them), the value at
/// the JSON pointer `pointer` becomes `value` (a scalar replaces a scalar in place; a new key
/// may take any value, written in flow style).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Manifest document number.
    pub doc: usize,
    /// JSON pointer of the value (`/metadata/name`).
    pub pointer: String,
    /// The new value.
    pub value: Value,
}

/// Where a node of the text is.
#[derive(Clone, Debug)]
struct Node {
    /// Manifest document number (`None` for empty and `null` documents).
    doc: Option<usize>,
    /// JSON pointer of the node.
    pointer: String,
    /// Byte range of the node (for a scalar its text, quotes included).
    start: usize,
    end: usize,
    /// A mapping: flow style (`{...}`), and where its first key starts (block style).
    mapping: Option<(bool, Option<usize>)>,
    /// An anchored or aliased node, or a tagged scalar: never edited.
    opaque: bool,
}

/// Where the walk is inside a mapping or a sequence.
enum Frame {
    /// A mapping (its node's index in the output) and the key whose value comes next.
    Map { node: usize, key: Option<String> },
    /// A sequence and the index of its next item.
    Seq { index: usize },
}

/// The pointer of the node that comes next; `None` when a mapping key comes next.
fn next_pointer(stack: &[Frame], path: &[String]) -> Option<String> {
    match stack.last() {
        Some(Frame::Map { key: None, .. }) => None,
        _ => Some(path.iter().map(|p| format!("/{}", escape(p))).collect()),
    }
}

/// After a value: the mapping waits for its next key, the sequence moves to its next item.
fn advance(stack: &mut [Frame], path: &mut Vec<String>) {
    match stack.last_mut() {
        Some(Frame::Map { key, .. }) => {
            let had_key = key.take().is_some();
            if had_key {
                path.pop();
            }
        }
        Some(Frame::Seq { index }) => {
            *index += 1;
            if let Some(last) = path.last_mut() {
                *last = index.to_string();
            }
        }
        None => {}
    }
}

/// Every node of the text, with its pointer and place.
fn nodes(text: &str) -> Result<Vec<Node>, EditError> {
    let offsets: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    let byte_at = |chars: usize| offsets.get(chars).copied().unwrap_or(text.len());
    let mut out: Vec<Node> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut doc: Option<usize> = None;
    let mut next_manifest = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| {
            EditError::Syntax(SyntaxError {
                message: e.info().to_string(),
                pos: None,
            })
        })?;
        let (from, to) = (byte_at(span.start.index()), byte_at(span.end.index()));
        match event {
            Event::DocumentStart(_) => {
                doc = None;
                stack.clear();
                path.clear();
            }
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) => {
                let is_map = matches!(event, Event::MappingStart(..));
                if stack.is_empty() {
                    doc = Some(next_manifest);
                    next_manifest += 1;
                }
                let pointer = next_pointer(&stack, &path).unwrap_or_default();
                let flow = text.get(from..).is_some_and(|t| t.starts_with(['{', '[']));
                out.push(Node {
                    doc,
                    pointer,
                    start: from,
                    end: from,
                    mapping: is_map.then_some((flow, None)),
                    opaque: anchor > 0,
                });
                if is_map {
                    stack.push(Frame::Map {
                        node: out.len() - 1,
                        key: None,
                    });
                } else {
                    stack.push(Frame::Seq { index: 0 });
                    path.push("0".into());
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                match stack.pop() {
                    Some(Frame::Map { node, .. }) => out[node].end = to,
                    Some(Frame::Seq { .. }) => {
                        path.pop();
                    }
                    None => {}
                }
                advance(&mut stack, &mut path);
            }
            Event::Scalar(value, style, anchor, tag) => {
                if stack.is_empty() {
                    // A root scalar: a manifest document only when it is not null.
                    let null = tag.is_none()
                        && style == ScalarStyle::Plain
                        && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL");
                    if !null {
                        next_manifest += 1;
                    }
                    continue;
                }
                match next_pointer(&stack, &path) {
                    None => {
                        // A key: remember where a block mapping's first key starts.
                        if let Some(Frame::Map { node, key }) = stack.last_mut() {
                            if let Some((false, first @ None)) = out[*node].mapping.as_mut() {
                                *first = Some(from);
                            }
                            *key = Some(value.to_string());
                            path.push(value.to_string());
                        }
                    }
                    Some(pointer) => {
                        out.push(Node {
                            doc,
                            pointer,
                            start: from,
                            end: to,
                            mapping: None,
                            opaque: anchor > 0 || tag.is_some(),
                        });
                        advance(&mut stack, &mut path);
                    }
                }
            }
            Event::Alias(_) => {
                if let Some(pointer) = next_pointer(&stack, &path) {
                    out.push(Node {
                        doc,
                        pointer,
                        start: from,
                        end: to,
                        mapping: None,
                        opaque: true,
                    });
                    advance(&mut stack, &mut path);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// JSON pointer escaping of one segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A value as YAML text: plain when it cannot be read as anything but this string, else
/// double-quoted (JSON's quoting, which YAML reads the same).
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
                && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
                );
            if plain { s.clone() } else { value.to_string() }
        }
        // A mapping or list as JSON: flow style, which YAML reads the same.
        other => other.to_string(),
    }
}

/// `text` with `changes` made (see the module docs).
///
/// # Errors
/// [`EditError::Syntax`] when the text does not parse; [`EditError::Unverified`] when a
/// change cannot be made in place (its place is anchored or aliased, its parent is not a
/// mapping) or the result would not be exactly the old documents with the changes.
pub fn set_values(text: &str, changes: &[Change]) -> Result<String, EditError> {
    let before = parse_documents(text).map_err(EditError::Syntax)?;
    let nodes = nodes(text)?;
    // (byte offset, bytes to replace, new text), applied from the end.
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut expected: Vec<Value> = before.iter().map(|d| d.value.clone()).collect();
    for change in changes {
        let doc = expected.get_mut(change.doc).ok_or(EditError::Unverified)?;
        set_pointer(doc, &change.pointer, change.value.clone())?;
        let found = nodes
            .iter()
            .find(|n| n.doc == Some(change.doc) && n.pointer == change.pointer);
        match found {
            Some(n) if !n.opaque && n.mapping.is_none() && n.end > n.start => {
                edits.push((n.start, n.end - n.start, render(&change.value)));
            }
            Some(_) => return Err(EditError::Unverified),
            None => edits.push(insertion(text, &nodes, change)?),
        }
    }
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (at, len, new) in edits {
        out.replace_range(at..at + len, &new);
    }
    let after = parse_documents(&out).map_err(|_| EditError::Unverified)?;
    if after.iter().map(|d| &d.value).ne(expected.iter()) {
        return Err(EditError::Unverified);
    }
    Ok(out)
}

/// Adds the missing key of `change` to the closest mapping on its pointer that exists, with
/// what is missing below it as a flow mapping.
fn insertion(
    text: &str,
    nodes: &[Node],
    change: &Change,
) -> Result<(usize, usize, String), EditError> {
    let segments: Vec<&str> = change.pointer.split('/').skip(1).collect();
    for depth in (0..segments.len()).rev() {
        let parent: String = segments[..depth].iter().map(|s| format!("/{s}")).collect();
        let Some(n) = nodes
            .iter()
            .find(|n| n.doc == Some(change.doc) && n.pointer == parent)
        else {
            continue;
        };
        let Some((flow, first_key)) = n.mapping else {
            return Err(EditError::Unverified);
        };
        if n.opaque {
            return Err(EditError::Unverified);
        }
        let unescape = |s: &str| s.replace("~1", "/").replace("~0", "~");
        let key = unescape(segments[depth]);
        let mut value = render(&change.value);
        for s in segments[depth + 1..].iter().rev() {
            value = format!("{{{}: {value}}}", render(&Value::String(unescape(s))));
        }
        let entry = format!("{}: {value}", render(&Value::String(key)));
        if flow {
            // Right after `{`.
            let empty = text[n.start + 1..n.end].trim() == "}";
            let new = if empty { entry } else { format!("{entry}, ") };
            return Ok((n.start + 1, 0, new));
        }
        let first = first_key.ok_or(EditError::Unverified)?;
        let line_start = text[..first].rfind('\n').map_or(0, |i| i + 1);
        let indent = &text[line_start..first];
        if !indent.chars().all(|c| c == ' ') {
            // `- key: ...` in a sequence, or a key after other text on its line.
            return Ok((
                first,
                0,
                format!("{entry}\n{}", " ".repeat(first - line_start)),
            ));
        }
        return Ok((line_start, 0, format!("{indent}{entry}\n")));
    }
    Err(EditError::Unverified)
}

/// Sets `pointer` in `doc` to `value`, creating missing mappings on the way.
fn set_pointer(doc: &mut Value, pointer: &str, value: Value) -> Result<(), EditError> {
    let mut at = doc;
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, s) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        if let Value::Array(items) = at {
            let index: usize = s.parse().map_err(|_| EditError::Unverified)?;
            let item = items.get_mut(index).ok_or(EditError::Unverified)?;
            if last {
                *item = value;
                return Ok(());
            }
            at = item;
            continue;
        }
        let map = at.as_object_mut().ok_or(EditError::Unverified)?;
        if last {
            map.insert(s.clone(), value);
            return Ok(());
        }
        at = map
            .entry(s.clone())
            .or_insert_with(|| Value::Object(Default::default()));
    }
    Err(EditError::Unverified)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(text: &str, doc: usize, pointer: &str, value: Value) -> Result<String, EditError> {
        let change = Change {
            doc,
            pointer: pointer.into(),
            value,
        };
        set_values(text, &[change])
    }

    #[test]
    fn a_value_is_replaced_where_it_is_and_comments_stay() {
        let text = "# the blog\napiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata:\n  name: blog   # keep me\nspec:\n  enabled: true\n---\nkind: Instance\nmetadata: {name: db}\nspec: {stack: blog, template: postgres}  # db\n";
        let out = set(text, 0, "/metadata/name", json!("shop")).unwrap();
        assert_eq!(out, text.replace("name: blog   #", "name: shop   #"));
        let out = set(text, 1, "/spec/stack", json!("shop")).unwrap();
        assert_eq!(out, text.replace("{stack: blog,", "{stack: shop,"));
        let out = set(text, 0, "/spec/enabled", json!(false)).unwrap();
        assert_eq!(out, text.replace("enabled: true", "enabled: false"));
    }

    #[test]
    fn quoted_values_and_values_that_need_quotes() {
        let text = "metadata:\n  name: \"blog\"\nspec: {stack: 'blog'}\n";
        let out = set(text, 0, "/metadata/name", json!("shop")).unwrap();
        assert_eq!(out, "metadata:\n  name: shop\nspec: {stack: 'blog'}\n");
        let out = set(text, 0, "/spec/stack", json!("yes")).unwrap();
        assert_eq!(out, "metadata:\n  name: \"blog\"\nspec: {stack: \"yes\"}\n");
    }

    #[test]
    fn a_missing_key_is_added_to_its_mapping() {
        let block =
            "kind: Stack\nmetadata:\n  name: blog\nspec:\n  # instances below\n  instances: {}\n";
        let out = set(block, 0, "/spec/enabled", json!(false)).unwrap();
        assert_eq!(
            out,
            "kind: Stack\nmetadata:\n  name: blog\nspec:\n  # instances below\n  enabled: false\n  instances: {}\n"
        );
        let flow = "kind: Stack\nmetadata: {name: blog}\nspec: {instances: {}}\n";
        let out = set(flow, 0, "/spec/enabled", json!(false)).unwrap();
        assert_eq!(
            out,
            "kind: Stack\nmetadata: {name: blog}\nspec: {enabled: false, instances: {}}\n"
        );
        let no_spec = "kind: Stack\nmetadata: {name: blog}\n";
        let out = set(no_spec, 0, "/spec/enabled", json!(false)).unwrap();
        assert_eq!(
            out,
            "spec: {enabled: false}\nkind: Stack\nmetadata: {name: blog}\n"
        );
        let empty_flow = "kind: Stack\nspec: {}\n";
        let out = set(empty_flow, 0, "/spec/enabled", json!(true)).unwrap();
        assert_eq!(out, "kind: Stack\nspec: {enabled: true}\n");
    }

    #[test]
    fn a_new_key_may_hold_a_mapping() {
        let text = "kind: Stack\nspec:\n  instances:\n    web: {template: nginx}  # the site\n";
        let out = set(
            text,
            0,
            "/spec/instances/db",
            json!({"template": "postgres", "env": {"A": "1"}}),
        )
        .unwrap();
        assert_eq!(
            out,
            "kind: Stack\nspec:\n  instances:\n    db: {\"template\":\"postgres\",\"env\":{\"A\":\"1\"}}\n    web: {template: nginx}  # the site\n"
        );
    }

    #[test]
    fn documents_are_numbered_as_the_loader_numbers_them() {
        let text = "---\n---\n~\n---\nkind: A\nname: a\n...\n---\nkind: B\nname: b\n";
        let out = set(text, 1, "/name", json!("c")).unwrap();
        assert_eq!(out, text.replace("name: b", "name: c"));
        assert!(set(text, 2, "/name", json!("x")).is_err());
    }

    #[test]
    fn anchored_and_aliased_values_are_refused() {
        let text = "a: &x blog\nb: *x\n";
        assert!(matches!(
            set(text, 0, "/a", json!("shop")),
            Err(EditError::Unverified)
        ));
        assert!(matches!(
            set(text, 0, "/b", json!("shop")),
            Err(EditError::Unverified)
        ));
    }

    #[test]
    fn values_in_sequences_and_nested_mappings() {
        let text = "spec:\n  list:\n    - name: one\n    - {name: two}\n";
        let out = set(text, 0, "/spec/list/1/name", json!("three")).unwrap();
        assert_eq!(
            out,
            "spec:\n  list:\n    - name: one\n    - {name: three}\n"
        );
        let out = set(text, 0, "/spec/list/0/extra", json!("x")).unwrap();
        assert_eq!(
            out,
            "spec:\n  list:\n    - extra: x\n      name: one\n    - {name: two}\n"
        );
    }
}

/*! Changing values in manifest files in place: the new value replaces the old one's bytes
where the YAML parser says the old one is, a missing key is added to its mapping, a removed key
is cut with its line, and everything else in the file — comments, formatting, other documents —
stays byte for byte. New mappings and lists are written in block style under a block parent
(flow style inside a flow one). Every edit is checked by parsing the result again: the
documents must come back exactly as the old ones with the change made. When an edit in place
does not come back right, the closest enclosing mapping or list is written out anew instead
(losing only its own comments), and so on outwards.

What `stack enable|disable|rename|clone` and the API's editors use ([`set_values`]).
*/

use saphyr_parser::{Event, ScalarStyle};
use serde_json::Value;

use super::edit::{EditError, byte_events, line_start};
use super::yaml::parse_documents;

/// One change: in manifest document `doc` (numbered as the loader numbers them), the value at
/// the JSON pointer `pointer` becomes `value`, or the key is removed when `value` is `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Manifest document number.
    pub doc: usize,
    /// JSON pointer of the value (`/metadata/name`).
    pub pointer: String,
    /// The new value; `None` removes the key (nothing happens when it is absent).
    pub value: Option<Value>,
}

impl Change {
    /// Sets `pointer` of document `doc` to `value`.
    pub fn set(doc: usize, pointer: impl Into<String>, value: Value) -> Self {
        Self {
            doc,
            pointer: pointer.into(),
            value: Some(value),
        }
    }

    /// Removes `pointer` from document `doc`.
    pub fn remove(doc: usize, pointer: impl Into<String>) -> Self {
        Self {
            doc,
            pointer: pointer.into(),
            value: None,
        }
    }
}

/// Where a node of the text is.
#[derive(Clone, Debug)]
struct Node {
    /// Manifest document number (`None` for empty and `null` documents).
    doc: Option<usize>,
    /// JSON pointer of the node.
    pointer: String,
    /// Byte range of the node (for a scalar its text, quotes included; for a flow collection
    /// its brackets; for a block collection only its start is exact).
    start: usize,
    end: usize,
    /// A mapping: flow style (`{...}`), and where its first key starts (block style).
    mapping: Option<(bool, Option<usize>)>,
    /// A mapping or a sequence.
    collection: bool,
    /// A collection written in flow style.
    flow: bool,
    /// Byte range of the key this node is the value of, when its parent is a mapping.
    key: Option<(usize, usize)>,
    /// An anchored or aliased node, or a tagged scalar: never edited.
    opaque: bool,
}

impl Node {
    /// A scalar or an alias at `span`, the value of the key (if any) the walk is at.
    fn leaf(
        doc: Option<usize>,
        pointer: String,
        (start, end): (usize, usize),
        stack: &[Frame],
        opaque: bool,
    ) -> Node {
        Node {
            doc,
            pointer,
            start,
            end,
            mapping: None,
            collection: false,
            flow: false,
            key: next_key(stack),
            opaque,
        }
    }
}

/// Where the walk is inside a mapping or a sequence.
enum Frame {
    /// A mapping (its node's index in the output), the key whose value comes next and where
    /// that key is.
    Map {
        node: usize,
        key: Option<(String, usize, usize)>,
    },
    /// A sequence (its node's index) and the index of its next item.
    Seq { node: usize, index: usize },
}

/// The pointer of the node that comes next; `None` when a mapping key comes next.
fn next_pointer(stack: &[Frame], path: &[String]) -> Option<String> {
    match stack.last() {
        Some(Frame::Map { key: None, .. }) => None,
        _ => Some(path.iter().map(|p| format!("/{}", escape(p))).collect()),
    }
}

/// The span of the key the next value belongs to.
fn next_key(stack: &[Frame]) -> Option<(usize, usize)> {
    match stack.last() {
        Some(Frame::Map {
            key: Some((_, from, to)),
            ..
        }) => Some((*from, *to)),
        _ => None,
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
        Some(Frame::Seq { index, .. }) => {
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
    let mut out: Vec<Node> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut doc: Option<usize> = None;
    let mut next_manifest = 0usize;
    for event in byte_events(text) {
        let (event, from, to) = event?;
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
                    collection: true,
                    flow,
                    key: next_key(&stack),
                    opaque: anchor > 0,
                });
                let node = out.len() - 1;
                if is_map {
                    stack.push(Frame::Map { node, key: None });
                } else {
                    stack.push(Frame::Seq { node, index: 0 });
                    path.push("0".into());
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                match stack.pop() {
                    Some(Frame::Map { node, .. }) => out[node].end = to,
                    Some(Frame::Seq { node, .. }) => {
                        out[node].end = to;
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
                            *key = Some((value.to_string(), from, to));
                            path.push(value.to_string());
                        }
                    }
                    Some(pointer) => {
                        let opaque = anchor > 0 || tag.is_some();
                        out.push(Node::leaf(doc, pointer, (from, to), &stack, opaque));
                        advance(&mut stack, &mut path);
                    }
                }
            }
            Event::Alias(_) => {
                if let Some(pointer) = next_pointer(&stack, &path) {
                    out.push(Node::leaf(doc, pointer, (from, to), &stack, true));
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

/// JSON pointer unescaping of one segment.
fn unescape(segment: &str) -> String {
    segment.replace("~1", "/").replace("~0", "~")
}

/// A value as YAML text in flow style: a string plain when it cannot be read as anything but
/// this string, else double-quoted (JSON's quoting, which YAML reads the same).
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
                && s.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '/')
                && !matches!(
                    s.to_ascii_lowercase().as_str(),
                    "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
                );
            if plain { s.clone() } else { value.to_string() }
        }
        Value::Object(map) => {
            let entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", render(&Value::String(k.clone())), render(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(render).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// A non-empty mapping or list.
fn is_block(value: &Value) -> bool {
    match value {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// `value` in block style, its lines indented by `indent` spaces (the first one too; callers
/// cut what they do not need).
fn block(value: &Value, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = render(&Value::String(k.clone()));
                if is_block(v) {
                    out.push_str(&format!("{pad}{key}:\n{}", block(v, indent + 2)));
                } else {
                    out.push_str(&format!("{pad}{key}: {}\n", scalar(v, indent + 2)));
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                if is_block(v) {
                    // `- ` then the item's first line; its other lines under it.
                    let inner = block(v, indent + 2);
                    out.push_str(&format!("{pad}- {}", &inner[indent + 2..]));
                } else {
                    out.push_str(&format!("{pad}- {}\n", scalar(v, indent + 2)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other, indent))),
    }
    out
}

/// A scalar or empty collection; a string of several lines as a literal block at `indent`.
fn scalar(value: &Value, indent: usize) -> String {
    if let Value::String(s) = value {
        let body = s.strip_suffix('\n').unwrap_or(s);
        let literal = s.contains('\n')
            && !body.ends_with('\n')
            && !s.starts_with([' ', '\t', '\n'])
            && !body.lines().any(|l| l.ends_with([' ', '\t']))
            && s.chars().all(|c| c == '\n' || !c.is_control());
        if literal {
            let pad = " ".repeat(indent);
            let head = if s.ends_with('\n') { "|" } else { "|-" };
            let lines: Vec<String> = body
                .split('\n')
                .map(|l| {
                    if l.is_empty() {
                        String::new()
                    } else {
                        format!("{pad}{l}")
                    }
                })
                .collect();
            return format!("{head}\n{}", lines.join("\n"));
        }
    }
    render(value)
}

/// The character column of byte `at` in its line.
fn column(text: &str, at: usize) -> usize {
    text[line_start(text, at)..at].chars().count()
}

/// `text` with `changes` made (see the module docs).
///
/// # Errors
/// [`EditError::Syntax`] when the text does not parse; [`EditError::Unspliced`] when a value
/// to change is anchored or aliased; [`EditError::Unverified`] when a change cannot be made
/// without changing more than asked (its parent is not a mapping, the document is missing).
pub fn set_values(text: &str, changes: &[Change]) -> Result<String, EditError> {
    let mut out = text.to_string();
    for change in changes {
        out = apply(&out, change)?;
    }
    Ok(out)
}

/// One change, checked.
fn apply(text: &str, change: &Change) -> Result<String, EditError> {
    let before = parse_documents(text).map_err(EditError::Syntax)?;
    let mut expected: Vec<Value> = before.iter().map(|d| d.value.clone()).collect();
    let doc = expected.get_mut(change.doc).ok_or(EditError::Unverified)?;
    match &change.value {
        Some(v) => set_pointer(doc, &change.pointer, v.clone())?,
        None => {
            if !remove_pointer(doc, &change.pointer) {
                return Ok(text.to_string());
            }
        }
    }
    let nodes = nodes(text)?;
    let node_at = |pointer: &str| {
        nodes
            .iter()
            .find(|n| n.doc == Some(change.doc) && n.pointer == pointer)
    };
    if node_at(&change.pointer).is_some_and(|n| n.opaque) {
        return Err(EditError::Unspliced {
            pointer: change.pointer.clone(),
        });
    }
    let verified = |candidate: &str| {
        parse_documents(candidate)
            .is_ok_and(|after| after.iter().map(|d| &d.value).eq(expected.iter()))
    };
    // The change itself, then ever larger enclosing values written anew.
    let mut pointer = change.pointer.clone();
    let mut target = true;
    loop {
        let value = if target {
            change.value.clone()
        } else {
            expected[change.doc].pointer(&pointer).cloned()
        };
        let candidates = match (node_at(&pointer), value) {
            (Some(n), None) => removal(text, &nodes, n).into_iter().collect(),
            (Some(n), Some(v)) if !n.opaque => replacements(text, &nodes, n, &v),
            (None, Some(v)) if target => insertion(text, &nodes, change.doc, &pointer, &v)
                .into_iter()
                .collect(),
            _ => Vec::new(),
        };
        for (at, len, new) in candidates {
            let mut out = text.to_string();
            out.replace_range(at..at + len, &new);
            if verified(&out) {
                return Ok(out);
            }
        }
        match pointer.rfind('/') {
            Some(i) => pointer.truncate(i),
            None => return Err(EditError::Unverified),
        }
        target = false;
    }
}

/// Where the text of node `n` ends: a block collection ends with its last scalar or flow
/// descendant.
fn content_end(nodes: &[Node], n: &Node) -> usize {
    if n.flow || !n.collection {
        return n.end;
    }
    let prefix = format!("{}/", n.pointer);
    nodes
        .iter()
        .filter(|d| d.doc == n.doc && d.pointer.starts_with(&prefix))
        .filter(|d| d.flow || !d.collection)
        .map(|d| d.end)
        .max()
        .unwrap_or(n.end)
}

/// After the `:` that follows key span `key`.
fn after_colon(text: &str, key: (usize, usize)) -> Option<usize> {
    let rest = &text[key.1..];
    let gap = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    rest[gap..].starts_with(':').then_some(key.1 + gap + 1)
}

/// Ways to write `value` where node `n` is: (byte offset, bytes replaced, new text), best
/// first.
fn replacements(
    text: &str,
    nodes: &[Node],
    n: &Node,
    value: &Value,
) -> Vec<(usize, usize, String)> {
    let end = content_end(nodes, n);
    let block_parent = parent(nodes, n).is_none_or(|p| !p.flow);
    let mut out = Vec::new();
    if block_parent && is_block(value) {
        match n.key.and_then(|k| after_colon(text, k)) {
            Some(colon) => {
                let indent = column(text, n.key.map_or(0, |k| k.0)) + 2;
                let lines = block(value, indent);
                out.push((
                    colon,
                    end - colon,
                    format!("\n{}", lines.trim_end_matches('\n')),
                ));
            }
            None => {
                // A list item or the document itself: its first line where it starts.
                let indent = column(text, n.start);
                let lines = block(value, indent);
                out.push((
                    n.start,
                    end - n.start,
                    lines[indent..].trim_end_matches('\n').to_string(),
                ));
            }
        }
    }
    let in_place = if !n.collection {
        (n.start, end - n.start, scalar(value, column(text, n.start)))
    } else if let (false, true, Some(colon)) = (
        n.flow,
        block_parent,
        n.key.and_then(|k| after_colon(text, k)),
    ) {
        (colon, end - colon, format!(" {}", render(value)))
    } else {
        (n.start, end - n.start, render(value))
    };
    // A flow collection stays in flow style when it can.
    if n.flow {
        out.insert(0, in_place);
    } else {
        out.push(in_place);
    }
    out
}

/// The node that holds `n`.
fn parent<'a>(nodes: &'a [Node], n: &Node) -> Option<&'a Node> {
    let at = n.pointer.rfind('/')?;
    let pointer = &n.pointer[..at];
    nodes
        .iter()
        .find(|p| p.doc == n.doc && p.pointer == pointer)
}

/// Cutting node `n` and its key out of a block mapping, with the key's line: the key must
/// begin its line.
fn removal(text: &str, nodes: &[Node], n: &Node) -> Option<(usize, usize, String)> {
    let key = n.key?;
    if parent(nodes, n).is_none_or(|p| p.flow) {
        return None;
    }
    let line_start = line_start(text, key.0);
    if !text[line_start..key.0].chars().all(|c| c == ' ') {
        return None;
    }
    let end = content_end(nodes, n).max(key.1);
    let line_end = text[end..].find('\n').map_or(text.len(), |i| end + i + 1);
    let rest = text[end..line_end].trim();
    let cut_to = if rest.is_empty() || rest.starts_with('#') {
        line_end
    } else {
        end
    };
    Some((line_start, cut_to - line_start, String::new()))
}

/// Adds the missing key of `pointer` to the closest mapping on it that exists, with what is
/// missing below it as a mapping.
fn insertion(
    text: &str,
    nodes: &[Node],
    doc: usize,
    pointer: &str,
    value: &Value,
) -> Option<(usize, usize, String)> {
    let segments: Vec<&str> = pointer.split('/').skip(1).collect();
    for depth in (0..segments.len()).rev() {
        let parent: String = segments[..depth].iter().map(|s| format!("/{s}")).collect();
        let Some(n) = nodes
            .iter()
            .find(|n| n.doc == Some(doc) && n.pointer == parent)
        else {
            continue;
        };
        let (flow, first_key) = n.mapping?;
        if n.opaque {
            return None;
        }
        let key = unescape(segments[depth]);
        let mut nested = value.clone();
        for s in segments[depth + 1..].iter().rev() {
            let mut map = serde_json::Map::new();
            map.insert(unescape(s), nested);
            nested = Value::Object(map);
        }
        let mut entry = serde_json::Map::new();
        entry.insert(key, nested);
        let entry = Value::Object(entry);
        if flow {
            // Right after `{`.
            let inner = flow_entry(&entry)?;
            let empty = text[n.start + 1..n.end].trim() == "}";
            let new = if empty { inner } else { format!("{inner}, ") };
            return Some((n.start + 1, 0, new));
        }
        let first = first_key?;
        let line_start = line_start(text, first);
        let indent = column(text, first);
        let lines = block(&entry, indent);
        if !text[line_start..first].chars().all(|c| c == ' ') {
            // `- key: ...` in a sequence, or a key after other text on its line.
            return Some((
                first,
                0,
                format!("{}{}", &lines[indent..], " ".repeat(indent)),
            ));
        }
        return Some((line_start, 0, lines));
    }
    None
}

/// `key: value` of a one-key mapping, in flow style.
fn flow_entry(entry: &Value) -> Option<String> {
    let (k, v) = entry.as_object()?.iter().next()?;
    Some(format!(
        "{}: {}",
        render(&Value::String(k.clone())),
        render(v)
    ))
}

/// Sets `pointer` in `doc` to `value`, creating missing mappings on the way.
fn set_pointer(doc: &mut Value, pointer: &str, value: Value) -> Result<(), EditError> {
    let mut at = doc;
    let segments: Vec<String> = pointer.split('/').skip(1).map(unescape).collect();
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

/// Removes the key at `pointer` from `doc`; whether it was there.
fn remove_pointer(doc: &mut Value, pointer: &str) -> bool {
    let Some(at) = pointer.rfind('/') else {
        return false;
    };
    let key = unescape(&pointer[at + 1..]);
    doc.pointer_mut(&pointer[..at])
        .and_then(Value::as_object_mut)
        .is_some_and(|m| m.shift_remove(&key).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(text: &str, doc: usize, pointer: &str, value: Value) -> Result<String, EditError> {
        let change = Change::set(doc, pointer, value);
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
            "spec:\n  enabled: false\nkind: Stack\nmetadata: {name: blog}\n"
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
            "kind: Stack\nspec:\n  instances:\n    db:\n      template: postgres\n      env:\n        A: \"1\"\n    web: {template: nginx}  # the site\n"
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
            Err(EditError::Unspliced { .. })
        ));
        assert!(matches!(
            set(text, 0, "/b", json!("shop")),
            Err(EditError::Unspliced { .. })
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

    const STACK: &str = "# the blog\nkind: Stack\nmetadata:\n  name: blog\nspec:\n  instances:\n    web:\n      template: nginx  # the site\n      env:\n        A: \"1\"   # first\n        B: two\n      # ports below\n      ports:\n        - 8080\n    db: {template: postgres, env: {X: y}}\n---\n# other\nkind: Instance\nmetadata: {name: cache}\nspec:\n  stack: blog\n  template: redis\n";

    #[test]
    fn a_block_mapping_is_replaced_in_block_style_and_the_rest_stays() {
        let out = set(
            STACK,
            0,
            "/spec/instances/web/env",
            json!({"A": "2", "C": "three words"}),
        )
        .unwrap();
        assert_eq!(
            out,
            STACK.replace(
                "        A: \"1\"   # first\n        B: two\n",
                "        A: \"2\"\n        C: \"three words\"\n"
            )
        );
        let out = set(STACK, 0, "/spec/instances/web/ports", json!([8080, 9090])).unwrap();
        assert_eq!(
            out,
            STACK.replace("        - 8080\n", "        - 8080\n        - 9090\n")
        );
        let out = set(STACK, 0, "/spec/instances/web/ports", json!([])).unwrap();
        assert_eq!(
            out,
            STACK.replace("      ports:\n        - 8080\n", "      ports: []\n")
        );
    }

    #[test]
    fn inside_a_flow_mapping_the_flow_mapping_is_written_anew() {
        let out = set(
            STACK,
            0,
            "/spec/instances/db/env",
            json!({"X": "z", "Y": 1}),
        )
        .unwrap();
        assert_eq!(out, STACK.replace("env: {X: y}", "env: {X: z, \"Y\": 1}"));
        let out = set_values(STACK, &[Change::remove(0, "/spec/instances/db/env")]).unwrap();
        assert_eq!(
            out,
            STACK.replace(
                "db: {template: postgres, env: {X: y}}",
                "db: {template: postgres}"
            )
        );
    }

    #[test]
    fn a_removed_key_goes_with_its_line_and_a_last_key_leaves_an_empty_mapping() {
        let out = set_values(STACK, &[Change::remove(0, "/spec/instances/web/env/A")]).unwrap();
        assert_eq!(out, STACK.replace("        A: \"1\"   # first\n", ""));
        let out = set_values(STACK, &[Change::remove(0, "/spec/instances/web/ports")]).unwrap();
        assert_eq!(out, STACK.replace("      ports:\n        - 8080\n", ""));
        let out = set_values(
            STACK,
            &[
                Change::remove(0, "/spec/instances/web/env/A"),
                Change::remove(0, "/spec/instances/web/env/B"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            STACK.replace(
                "      env:\n        A: \"1\"   # first\n        B: two\n",
                "      env: {}\n"
            )
        );
        // Absent: nothing to do.
        let out = set_values(STACK, &[Change::remove(1, "/spec/env")]).unwrap();
        assert_eq!(out, STACK);
    }

    #[test]
    fn an_instance_document_gets_new_keys_in_block_style() {
        let out = set(
            STACK,
            1,
            "/spec/configFiles",
            json!([{"path": "/etc/app.conf", "content": "a = 1\nb = 2\n"}]),
        )
        .unwrap();
        assert_eq!(
            out,
            STACK.replace(
                "  stack: blog\n",
                "  configFiles:\n    - path: /etc/app.conf\n      content: |\n        a = 1\n        b = 2\n  stack: blog\n"
            )
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]
        /// Any value set anywhere in an instance comes back exactly, and the other documents
        /// stay byte for byte.
        #[test]
        fn any_value_comes_back_and_other_documents_stay(
            value in arb_value(),
            field in proptest::sample::select(vec!["env", "ports", "labels", "resources", "new"]),
            instance in proptest::sample::select(vec!["/spec/instances/web", "/spec/instances/db"]),
        ) {
            let pointer = format!("{instance}/{field}");
            let out = set(STACK, 0, &pointer, value.clone()).unwrap();
            let docs = parse_documents(&out).unwrap();
            proptest::prop_assert_eq!(docs[0].value.pointer(&pointer), Some(&value));
            let tail = &STACK[STACK.find("---").unwrap()..];
            proptest::prop_assert!(out.ends_with(tail));
            proptest::prop_assert!(out.starts_with("# the blog\n"));
            let removed = set_values(&out, &[Change::remove(0, &pointer)]).unwrap();
            let docs = parse_documents(&removed).unwrap();
            proptest::prop_assert_eq!(docs[0].value.pointer(&pointer), None);
        }
    }

    fn arb_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[ -~\n\t\u{e9}]{0,12}".prop_map(Value::from),
            proptest::sample::select(vec![
                "yes", "0755", "1e3", "~", "- x", "a: b", "#c", "|", "\n", " x\n", "x \ny"
            ])
            .prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-zA-Z_ ./:-]{1,8}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }
}

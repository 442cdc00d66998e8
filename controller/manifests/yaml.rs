/*! Strict, bounded YAML parsing into JSON values plus a location index.

One parse per file with serde-saphyr (no unsafe, budgets on aliases, depth and size,
duplicate keys rejected, YAML 1.2 strict booleans, leading-zero numbers kept as strings, an
env value written as a number kept as its text).
Every node is captured with its line and column, so later stages (schema validation,
semantic checks) can point at the exact spot of a JSON pointer.
*/

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Largest manifest file read, in bytes. Bigger files are refused before parsing.
pub const MAX_FILE_BYTES: usize = 1024 * 1024;

/// A 1-based line and column in a source file (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, in characters.
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where each node of one YAML document sits, keyed by JSON pointer (`/spec/env/FOO`).
#[derive(Clone, Debug, Default)]
pub struct LocationIndex {
    values: HashMap<String, Pos>,
    keys: HashMap<String, Pos>,
}

impl LocationIndex {
    /// Position of the value at `pointer`, or of its closest located ancestor.
    pub fn value(&self, pointer: &str) -> Pos {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.values.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return Pos::default(),
            }
        }
    }

    /// The most specific pointer whose value or key is at `pos` (what a diagnostic at `pos` is
    /// about).
    pub fn pointer_at(&self, pos: Pos) -> Option<&str> {
        self.values
            .iter()
            .chain(&self.keys)
            .filter(|(_, p)| **p == pos)
            .map(|(k, _)| k.as_str())
            .max_by_key(|k| (k.len(), *k))
    }

    /// Position of the mapping key that holds `pointer`, falling back to the value.
    pub fn key(&self, pointer: &str) -> Pos {
        self.keys
            .get(pointer)
            .copied()
            .unwrap_or_else(|| self.value(pointer))
    }
}

/// One parsed YAML document: its JSON value and where each node came from.
#[derive(Clone, Debug)]
pub struct Document {
    /// The document as JSON.
    pub value: serde_json::Value,
    /// Position of each node.
    pub locations: LocationIndex,
    /// Where the document starts.
    pub start: Pos,
}

/// A YAML syntax or budget error with its position.
#[derive(Clone, Debug)]
pub struct SyntaxError {
    /// What went wrong.
    pub message: String,
    /// Where, when known.
    pub pos: Option<Pos>,
}

enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        i64::try_from(v)
            .map(Node::Int)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        u64::try_from(v)
            .map(Node::UInt)
            .map_err(|_| E::custom("integer out of range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        String::from_utf8(v.to_vec())
            .map(Node::Str)
            .map_err(|_| E::custom("binary values are not supported"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Node>>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

fn pos_of(loc: &serde_saphyr::Location) -> Pos {
    Pos {
        line: loc.line() as u32,
        column: loc.column() as u32,
    }
}

/// Escape one JSON pointer segment (RFC 6901).
pub fn escape_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

fn key_string(node: &Node) -> Result<String, &'static str> {
    Ok(match node {
        Node::Null => "null".into(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::UInt(u) => u.to_string(),
        Node::Float(f) => f.to_string(),
        Node::Str(s) => s.clone(),
        Node::Seq(_) | Node::Map(_) => return Err("a mapping key must be a scalar"),
    })
}

/// Whether the JSON pointer names the value of an `env` map entry (`…/env/KEY`), where a
/// number becomes the text of an environment variable.
fn is_env_value(pointer: &str) -> bool {
    pointer
        .rsplit_once('/')
        .is_some_and(|(map, _)| map.ends_with("/env"))
}

/// The source text of a plain scalar, when the parser knows its bytes.
fn source_text<'a>(src: &'a str, at: &serde_saphyr::Location) -> Option<&'a str> {
    let span = at.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    src.get(start..start.checked_add(len)?)
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn to_json(
    node: Spanned<Node>,
    pointer: &mut String,
    index: &mut LocationIndex,
    src: &str,
) -> Result<serde_json::Value, SyntaxError> {
    use serde_json::Value;
    index
        .values
        .insert(pointer.clone(), pos_of(&node.referenced));
    // An env value YAML reads as a number keeps its text as written when the number would
    // print otherwise (`0o755`, `0x1F`, `1.50` are not `493`, `31`, `1.5` to the container).
    let canonical = match node.value {
        Node::Int(i) => Some(i.to_string()),
        Node::UInt(u) => Some(u.to_string()),
        Node::Float(f) => serde_json::Number::from_f64(f).map(|n| n.to_string()),
        _ => None,
    };
    if let Some(canonical) = canonical
        && is_env_value(pointer)
        && let Some(text) = source_text(src, &node.defined)
        && text != canonical
    {
        return Ok(Value::String(text.to_string()));
    }
    Ok(match node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(b),
        Node::Int(i) => Value::from(i),
        Node::UInt(u) => Value::from(u),
        Node::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| SyntaxError {
                message: "non-finite numbers (.nan, .inf) are not allowed".into(),
                pos: Some(pos_of(&node.referenced)),
            })?,
        Node::Str(s) => Value::String(s),
        Node::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                out.push(to_json(item, pointer, index, src)?);
                pointer.truncate(len);
            }
            Value::Array(out)
        }
        Node::Map(entries) => {
            let mut out = serde_json::Map::with_capacity(entries.len());
            for (k, v) in entries {
                let key = key_string(&k.value).map_err(|m| SyntaxError {
                    message: m.into(),
                    pos: Some(pos_of(&k.referenced)),
                })?;
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&escape_segment(&key));
                index.keys.insert(pointer.clone(), pos_of(&k.referenced));
                let value = to_json(v, pointer, index, src)?;
                pointer.truncate(len);
                out.insert(key, value);
            }
            Value::Object(out)
        }
    })
}

fn options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_DEPTH;
    budget.max_documents = 512;
    budget.max_nodes = 200_000;
    budget.max_aliases = 1_000;
    budget.max_total_scalar_bytes = 4 * MAX_FILE_BYTES;
    let mut alias_limits = serde_saphyr::options::AliasLimits::default();
    alias_limits.max_total_replayed_events = 100_000;
    alias_limits.max_replay_stack_depth = 32;
    serde_saphyr::options! {
        budget: Some(budget),
        alias_limits: alias_limits,
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
        with_snippet: false,
    }
}

/// Parse every document of a YAML text.
///
/// # Errors
/// A [`SyntaxError`] for invalid YAML, a duplicate key, an exceeded budget
/// (alias bomb, deep nesting) or an input over [`MAX_FILE_BYTES`].
pub fn parse_documents(text: &str) -> Result<Vec<Document>, SyntaxError> {
    // The deserializer recurses per nesting level with large frames (tens of KiB each in
    // unoptimised builds): parse on a thread whose stack fits the depth budget with a wide
    // margin, whatever thread the caller runs on (tokio workers have 2 MiB).
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("yaml-parse".into())
            .stack_size(PARSER_STACK_BYTES)
            .spawn_scoped(scope, || parse_documents_here(text))
            .map_err(|e| SyntaxError {
                message: format!("cannot start the parser: {e}"),
                pos: None,
            })?
            .join()
            .unwrap_or_else(|_| {
                Err(SyntaxError {
                    message: "the YAML parser crashed on this input".into(),
                    pos: None,
                })
            })
    })
}

/// Stack of the parser thread.
const PARSER_STACK_BYTES: usize = 16 * 1024 * 1024;

fn parse_documents_here(text: &str) -> Result<Vec<Document>, SyntaxError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(SyntaxError {
            message: format!(
                "file is {} bytes, over the {} byte limit for a manifest",
                text.len(),
                MAX_FILE_BYTES
            ),
            pos: None,
        });
    }
    let docs: Vec<Spanned<Node>> = serde_saphyr::from_multiple_with_options(text, options())
        .map_err(|e| SyntaxError {
            message: clean_message(&e),
            pos: e.location().map(|l| pos_of(&l)),
        })?;
    docs.into_iter()
        .filter(|d| !matches!(d.value, Node::Null))
        .map(|d| {
            let start = pos_of(&d.referenced);
            let mut locations = LocationIndex::default();
            let value = to_json(d, &mut String::new(), &mut locations, text)?;
            Ok(Document {
                value,
                locations,
                start,
            })
        })
        .collect()
}

fn clean_message(e: &serde_saphyr::Error) -> String {
    let full = e.to_string();
    // serde-saphyr appends " at line X, column Y" (alias errors also " (defined at line X,
    // column Y) (used at line X, column Y)"); the caller prints the position itself.
    let first = full.lines().next().unwrap_or("").trim();
    let msg = match [" (defined at line ", " (used at line ", " at line "]
        .iter()
        .filter_map(|m| first.find(m))
        .min()
    {
        Some(i) => &first[..i],
        None => first,
    };
    humanize(msg)
}

/// Say budget and policy errors in the user's terms, not the library's option names.
fn humanize(msg: &str) -> String {
    if let Some(key) = msg.strip_prefix("duplicate mapping key: ") {
        let key = key.split(", set DuplicateKeyPolicy").next().unwrap_or(key);
        return format!("duplicate key `{key}` (each key may appear once in a mapping)");
    }
    if msg.starts_with("budget breached: Depth") {
        return format!("nesting is deeper than {MAX_DEPTH} levels");
    }
    if msg.starts_with("alias replay limit exceeded") || msg.starts_with("budget breached: Alias") {
        return "aliases expand to too much data (is this an alias bomb?)".into();
    }
    if let Some(rest) = msg.strip_prefix("budget breached: ") {
        return format!("document is too large ({rest})");
    }
    msg.to_string()
}

/// Deepest nesting accepted (a manifest needs about ten levels).
pub const MAX_DEPTH: usize = 24;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_read_as_numbers_keep_their_text() {
        let docs = parse_documents(
            "spec:\n  env: {A: 0o755, B: 0x1F, C: 0022, D: 1.50, E: 12, F: &x 0x10, G: *x}\n  port: 0x1F\n",
        )
        .unwrap();
        let v = &docs[0].value;
        assert_eq!(
            v["spec"]["env"],
            serde_json::json!({"A": "0o755", "B": "0x1F", "C": "0022", "D": "1.50", "E": 12, "F": "0x10", "G": "0x10"})
        );
        assert_eq!(v["spec"]["port"], serde_json::json!(31));
    }

    #[test]
    fn records_positions_of_values_and_keys() {
        let docs =
            parse_documents("a: 1\nb:\n  - x\n  - {c: no, d: 0755}\n---\nz: true\n").unwrap();
        assert_eq!(docs.len(), 2);
        let d = &docs[0];
        assert_eq!(d.value["b"][1]["c"], serde_json::json!("no"));
        assert_eq!(d.value["b"][1]["d"], serde_json::json!("0755"));
        assert_eq!(d.locations.value("/b/0"), Pos { line: 3, column: 5 });
        assert_eq!(
            d.locations.pointer_at(Pos { line: 3, column: 5 }),
            Some("/b/0")
        );
        assert_eq!(
            d.locations.pointer_at(Pos {
                line: 99,
                column: 1
            }),
            None
        );
        assert_eq!(
            d.locations.key("/b/1/d"),
            Pos {
                line: 4,
                column: 13
            }
        );
        assert_eq!(docs[1].value["z"], serde_json::json!(true));
    }

    #[test]
    fn rejects_duplicate_keys_with_position() {
        let err = parse_documents("a: 1\na: 2\n").unwrap_err();
        assert!(err.message.contains("duplicate"), "{}", err.message);
        assert_eq!(err.pos.map(|p| p.line), Some(2));
    }

    #[test]
    fn alias_bomb_fails_fast() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let t = std::time::Instant::now();
        assert!(parse_documents(&s).is_err());
        // Count-based limits: the bound only shows there is no exponential blow-up, with room
        // for a loaded CI machine.
        assert!(t.elapsed().as_secs() < 10, "took {:?}", t.elapsed());
    }

    #[test]
    fn deep_nesting_fails_fast() {
        let s = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse_documents(&s).is_err());
    }
}

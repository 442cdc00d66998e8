/*! Find, read and parse manifests: every `*.yaml`/`*.yml` under a folder, each document
checked against its kind's schema and deserialized into the resource types.

Problems never stop the load: each is collected as a [`Diagnostic`] with file, line and
column, and the documents that were fine are still returned (the controller keeps stacks
whose files are broken at their last good state).
*/

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use super::compose_hints::compose_hint;
use super::diagnostics::{Diagnostic, SourceMap, sort_and_dedup};
use super::schema::{Kind, property_names_at, validator};
use super::types::{
    API_VERSION, Instance, PORT_SHORT_FORMS, PORT_SHORT_PATTERN, QuantityError, Stack, Template,
};
use super::yaml::{Document, LocationIndex, Pos, escape_segment, parse_documents};
use crate::identity::{NameKind, check_name};
pub use crate::safe_fs::ReadError;

/// Where a resource came from, to point at its nodes in messages.
#[derive(Clone, Debug)]
pub struct Origin {
    /// File, as shown to the user.
    pub file: PathBuf,
    /// Index of the document in the file (0-based).
    pub document: usize,
    /// Position of every node of the document.
    pub locations: Arc<LocationIndex>,
}

impl Origin {
    /// Position of the value at a JSON pointer (or its closest ancestor).
    pub fn at(&self, pointer: &str) -> Pos {
        self.locations.value(pointer)
    }

    /// Position of the mapping key holding a JSON pointer.
    pub fn key_at(&self, pointer: &str) -> Pos {
        self.locations.key(pointer)
    }
}

/// A resource and where it came from.
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    /// The resource, deserialized (short forms already in their canonical shape).
    pub resource: T,
    /// File, document and node positions it came from, for diagnostics.
    pub origin: Origin,
}

/// Everything read from a manifests folder.
#[derive(Clone, Debug, Default)]
pub struct ManifestSet {
    /// Templates defined in the folder.
    pub templates: Vec<Loaded<Template>>,
    /// Stack documents, inline instances still in their spec (the validate stage
    /// takes them out).
    pub stacks: Vec<Loaded<Stack>>,
    /// Separate Instance documents.
    pub instances: Vec<Loaded<Instance>>,
    /// Every manifest file read, in order.
    pub files: Vec<PathBuf>,
    /// Files with at least one problem.
    pub broken_files: BTreeSet<PathBuf>,
    /// Names of resources whose documents are broken (so references to them are not
    /// reported again as dangling).
    pub broken_names: BTreeSet<(Kind, String)>,
    /// Stacks named by broken Instance documents: incomplete until those are fixed.
    pub incomplete_stacks: BTreeSet<String>,
    /// Broken documents, read without their broken parts (already reported): checked for
    /// the other mistakes they hold, never part of the model.
    pub partial: Partial,
    /// File texts, for snippets.
    pub sources: SourceMap,
}

/// Documents with problems, read as far as they could be.
#[derive(Clone, Debug, Default)]
pub struct Partial {
    /// Templates.
    pub templates: Vec<Loaded<Template>>,
    /// Stacks.
    pub stacks: Vec<Loaded<Stack>>,
    /// Instance documents.
    pub instances: Vec<Loaded<Instance>>,
}

/// The folder itself could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The folder does not exist or is not a folder.
    #[error("manifests folder {0} does not exist (set --dir or DEVARCH_DIR)")]
    NotFound(PathBuf),
    /// The folder could not be listed.
    #[error("cannot read manifests folder {path}: {source}")]
    Io {
        /// The folder, or the entry under it that could not be read.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Editor droppings and hidden files that are never manifests.
pub fn is_ignored_name(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".tmp")
        || name == "4913"
}

/// Whether a path names a manifest file (by extension, not ignored). Judged on the name's
/// bytes, so a name that is not UTF-8 still counts (and is then reported, never skipped).
pub fn is_manifest_path(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Some(name) = path.file_name() else {
        return false;
    };
    let lossy = String::from_utf8_lossy(name.as_bytes());
    !is_ignored_name(&lossy) && (lossy.ends_with(".yaml") || lossy.ends_with(".yml"))
}

/// A manifest entry found under the folder: where to read it from, or why it cannot be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The entry, as shown to the user (under the folder).
    pub path: PathBuf,
    /// The regular file to read (the entry itself, or where its link leads inside the
    /// folder), or why the entry cannot be a manifest.
    pub source: Result<PathBuf, String>,
}

/// List every manifest entry under `dir`, sorted: regular `*.yaml`/`*.yml` files, and links
/// to them that stay inside the folder. Anything else with a manifest's name (a FIFO, a
/// device, a link leading outside the folder or nowhere, a name that is not UTF-8) and any
/// folder that cannot be read or whose link leads outside is listed with the reason it
/// cannot be read: it makes the folder broken, it is never skipped (its stacks would look
/// deleted). Links to folders inside the folder are not followed (their files are listed
/// where they really are).
///
/// # Errors
/// [`LoadError`] when `dir` is missing or unreadable.
pub fn list_manifests(dir: &Path) -> Result<Vec<Entry>, LoadError> {
    if !dir.is_dir() {
        return Err(LoadError::NotFound(dir.to_path_buf()));
    }
    let root = std::fs::canonicalize(dir).map_err(|source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut entries = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !is_ignored_name(&e.file_name().to_string_lossy()));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) if e.depth() == 0 || e.path().is_none() => {
                return Err(LoadError::Io {
                    path: e.path().unwrap_or(dir).to_path_buf(),
                    source: e
                        .into_io_error()
                        .unwrap_or_else(|| std::io::Error::other("filesystem loop")),
                });
            }
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let why = match e.io_error() {
                    Some(io) => format!("cannot read this folder: {io}"),
                    None => "cannot read this folder".to_string(),
                };
                entries.push(Entry {
                    path,
                    source: Err(why),
                });
                continue;
            }
        };
        let kind = entry.file_type();
        let path = entry.path();
        let named = is_manifest_path(path);
        if named && path.file_name().and_then(|n| n.to_str()).is_none() {
            entries.push(Entry {
                path: path.to_path_buf(),
                source: Err("file name is not valid UTF-8; rename it".into()),
            });
        } else if kind.is_dir() {
            continue;
        } else if kind.is_symlink() {
            let source = match std::fs::canonicalize(path) {
                Err(e) if named => Err(format!("is a link that cannot be followed: {e}")),
                Err(_) => continue,
                Ok(target) if !target.starts_with(&root) => {
                    if !named && !target.is_dir() {
                        continue;
                    }
                    Err(format!(
                        "is a link leading outside the manifests folder (to {}); devarch reads only files inside it",
                        target.display()
                    ))
                }
                Ok(target) if named => Ok(target),
                Ok(_) => continue,
            };
            entries.push(Entry {
                path: path.to_path_buf(),
                source,
            });
        } else if named {
            let source = if kind.is_file() {
                Ok(path.to_path_buf())
            } else {
                Err(format!(
                    "is {}, not a regular file",
                    crate::safe_fs::describe_kind(&kind)
                ))
            };
            entries.push(Entry {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    Ok(entries)
}

/// List the paths of every manifest entry under `dir` ([`list_manifests`]), sorted.
///
/// # Errors
/// [`LoadError`] when `dir` is missing or unreadable.
pub fn manifest_files(dir: &Path) -> Result<Vec<PathBuf>, LoadError> {
    Ok(list_manifests(dir)?.into_iter().map(|e| e.path).collect())
}

/// Read a manifest file with [`crate::safe_fs::read_limited`] (never through a link at its
/// last component, never blocking on a FIFO or device, at most one byte over
/// [`super::yaml::MAX_FILE_BYTES`] whatever its claimed size).
///
/// # Errors
/// [`ReadError`], or [`ReadError::NotUtf8`].
pub fn read_manifest(path: &Path) -> Result<String, ReadError> {
    let bytes = crate::safe_fs::read_limited(path, super::yaml::MAX_FILE_BYTES)?;
    String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8)
}

/// Read and parse every manifest under `dir`.
///
/// # Errors
/// [`LoadError`] only when the folder itself cannot be read; problems in files come back
/// as diagnostics.
pub fn load_dir(dir: &Path) -> Result<(ManifestSet, Vec<Diagnostic>), LoadError> {
    let mut set = ManifestSet::default();
    let mut diags = Vec::new();
    for Entry { path, source } in list_manifests(dir)? {
        let read = source.and_then(|from| {
            read_manifest(&from).map_err(|e| match e {
                ReadError::TooBig { .. } => format!("{e} for a manifest"),
                e => e.to_string(),
            })
        });
        match read {
            Ok(text) => load_text(&mut set, &mut diags, path.clone(), text.into()),
            Err(why) => {
                diags.push(Diagnostic::new(&path, None, why));
                set.broken_files.insert(path.clone());
            }
        }
        set.files.push(path);
    }
    sort_and_dedup(&mut diags);
    Ok((set, diags))
}

/// Parse one file's text into `set`, adding its problems to `diags`.
pub fn load_text(
    set: &mut ManifestSet,
    diags: &mut Vec<Diagnostic>,
    file: PathBuf,
    text: Arc<str>,
) {
    set.sources.insert(file.clone(), text.clone());
    let before = diags.len();
    match parse_documents(&text) {
        Err(e) => diags.push(Diagnostic::new(
            &file,
            e.pos,
            format!("invalid YAML: {}", e.message),
        )),
        Ok(docs) => {
            for (i, doc) in docs.into_iter().enumerate() {
                unquoted_modes(&doc, &text, &file, diags);
                load_document(set, diags, &file, i, doc);
            }
        }
    }
    if diags.len() > before {
        set.broken_files.insert(file);
    }
}

/// A config file `mode` written without quotes (`mode: 0644`) is an error: YAML 1.2 tools
/// (editors, the schema's validators) read it as the number 644, so devarch does not take it
/// as the text "0644" either. One meaning everywhere: a mode is quoted octal text.
fn unquoted_modes(doc: &Document, text: &str, file: &Path, diags: &mut Vec<Diagnostic>) {
    fn walk(v: &Value, at: &mut String, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                for (k, c) in o {
                    let len = at.len();
                    at.push('/');
                    at.push_str(&escape_segment(k));
                    if k == "mode" && c.is_string() && at.contains("/configFiles/") {
                        out.push(at.clone());
                    }
                    walk(c, at, out);
                    at.truncate(len);
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    let len = at.len();
                    at.push_str(&format!("/{i}"));
                    walk(c, at, out);
                    at.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut modes = Vec::new();
    walk(&doc.value, &mut String::new(), &mut modes);
    for pointer in modes {
        let pos = doc.locations.value(&pointer);
        let first = text
            .lines()
            .nth((pos.line as usize).saturating_sub(1))
            .and_then(|l| l.chars().nth((pos.column as usize).saturating_sub(1)));
        let written = doc
            .value
            .pointer(&pointer)
            .and_then(Value::as_str)
            .unwrap_or("");
        // A mode that is wrong anyway (`0999`) gets the schema's error alone.
        let octal = !written.is_empty() && written.bytes().all(|b| (b'0'..=b'7').contains(&b));
        if octal && first.is_some_and(|c| c != '"' && c != '\'') {
            diags.push(
                Diagnostic::new(
                    file,
                    Some(pos),
                    format!(
                        "{} is written without quotes: YAML 1.2 reads {written} as a number",
                        field_path(&pointer)
                    ),
                )
                .with_help(format!("quote it: mode: \"{written}\"")),
            );
        }
    }
}

fn load_document(
    set: &mut ManifestSet,
    diags: &mut Vec<Diagnostic>,
    file: &Path,
    index: usize,
    doc: Document,
) {
    let origin = Origin {
        file: file.to_path_buf(),
        document: index,
        locations: Arc::new(doc.locations),
    };
    let here = |ptr: &str| Some(origin.at(ptr));
    let Value::Object(obj) = &doc.value else {
        diags.push(Diagnostic::new(
            file,
            Some(doc.start),
            "a manifest document must be a mapping with apiVersion, kind, metadata and spec",
        ));
        return;
    };
    match obj.get("apiVersion") {
        Some(Value::String(v)) if v == API_VERSION => {}
        Some(other) => {
            diags.push(
                Diagnostic::new(
                    file,
                    here("/apiVersion"),
                    format!("unsupported apiVersion {other}"),
                )
                .with_help(format!("use apiVersion: {API_VERSION}")),
            );
            return;
        }
        None => {
            diags.push(
                Diagnostic::new(file, Some(doc.start), "missing required field `apiVersion`")
                    .with_help(format!("add apiVersion: {API_VERSION}")),
            );
            return;
        }
    }
    let kind = match obj.get("kind") {
        Some(Value::String(k)) => match Kind::parse(k) {
            Some(kind) => kind,
            None => {
                diags.push(
                    Diagnostic::new(file, here("/kind"), format!("unknown kind {k:?}"))
                        .with_help("kind is one of: Template, Stack, Instance"),
                );
                return;
            }
        },
        _ => {
            diags.push(
                Diagnostic::new(file, Some(doc.start), "missing or non-string field `kind`")
                    .with_help("kind is one of: Template, Stack, Instance"),
            );
            return;
        }
    };
    let name = doc
        .value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let stack = doc
        .value
        .pointer("/spec/stack")
        .and_then(Value::as_str)
        .map(str::to_string);
    let (schema_errors, unreadable) = schema_diagnostics(kind, &doc.value, &origin);
    let before = diags.len();
    diags.extend(schema_errors);
    let read = match kind {
        Kind::Template => read_document(doc.value, &unreadable, &origin, diags).map(|t| {
            keep(
                &mut set.templates,
                &mut set.partial.templates,
                t,
                &origin,
                diags.len() > before,
            )
        }),
        Kind::Stack => read_document(doc.value, &unreadable, &origin, diags).map(|s| {
            keep(
                &mut set.stacks,
                &mut set.partial.stacks,
                s,
                &origin,
                diags.len() > before,
            )
        }),
        Kind::Instance => read_document(doc.value, &unreadable, &origin, diags).map(|i| {
            keep(
                &mut set.instances,
                &mut set.partial.instances,
                i,
                &origin,
                diags.len() > before,
            )
        }),
    };
    if diags.len() == before {
        return;
    }
    // Broken: left out of the model; references to it are not reported as dangling.
    if let Some(name) = name {
        if read.is_none() {
            // Not readable even in part: check the name here, so every mistake shows at once.
            let name_kind = match kind {
                Kind::Template => NameKind::Template,
                Kind::Stack => NameKind::Stack,
                Kind::Instance => NameKind::Instance,
            };
            if let Err(m) = check_name(name_kind, &name) {
                diags.push(Diagnostic::new(file, here("/metadata/name"), m));
            }
        }
        set.broken_names.insert((kind, name));
    }
    if kind == Kind::Instance
        && let Some(stack) = stack
    {
        set.incomplete_stacks.insert(stack);
    }
}

/// File a read resource with the good ones, or with the partial ones when its document
/// has problems.
fn keep<T>(
    good: &mut Vec<Loaded<T>>,
    partial: &mut Vec<Loaded<T>>,
    resource: T,
    origin: &Origin,
    broken: bool,
) {
    let loaded = Loaded {
        resource,
        origin: origin.clone(),
    };
    if broken {
        partial.push(loaded);
    } else {
        good.push(loaded);
    }
}

/// At most this many values of one document are reported as unreadable.
const MAX_UNREADABLE: usize = 32;

/// Deserialize a document into its resource type, reporting each value that cannot be
/// read (a short form that does not parse) at that value, and leaving out the values
/// already reported by the schema check (`unreadable`) and by this function, so the rest
/// of the document is still read and checked. `None` when not even a part can be read.
fn read_document<T: serde::de::DeserializeOwned>(
    mut value: Value,
    unreadable: &[String],
    origin: &Origin,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    for pointer in unreadable {
        if !prune(&mut value, pointer) {
            return None;
        }
    }
    let mut reported = !unreadable.is_empty();
    for _ in 0..MAX_UNREADABLE {
        let message = match serde_json::from_value::<T>(value.clone()) {
            Ok(resource) => return Some(resource),
            Err(e) => e.to_string(),
        };
        let pointer = locate::<T>(&value, &message);
        // A missing field after values were left out follows from an error already shown.
        if !(reported && message.starts_with("missing field")) {
            diags.push(Diagnostic::new(
                &origin.file,
                Some(origin.at(&pointer)),
                format!("invalid {}: {message}", field_path(&pointer)),
            ));
        }
        reported = true;
        if !prune(&mut value, &pointer) {
            return None;
        }
    }
    None
}

/// The deepest node of `root` whose removal makes the deserialization error `message` go
/// away (serde's errors from a value carry no position).
fn locate<T: serde::de::DeserializeOwned>(root: &Value, message: &str) -> String {
    let mut at = String::new();
    'down: loop {
        let children: Vec<String> = match root.pointer(&at) {
            Some(Value::Object(m)) => m.keys().map(|k| escape_segment(k)).collect(),
            Some(Value::Array(a)) => (0..a.len()).map(|i| i.to_string()).collect(),
            _ => break,
        };
        for segment in children {
            let child = format!("{at}/{segment}");
            let mut trial = root.clone();
            remove(&mut trial, &child);
            let culprit = match serde_json::from_value::<T>(trial) {
                Ok(_) => true,
                Err(e) => {
                    let m = e.to_string();
                    m != message && !m.starts_with("missing field")
                }
            };
            if culprit {
                at = child;
                continue 'down;
            }
        }
        break;
    }
    at
}

/// Remove the node at `pointer`; false when it is the document itself.
fn remove(root: &mut Value, pointer: &str) -> bool {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return false;
    };
    let last = last.replace("~1", "/").replace("~0", "~");
    match root.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.shift_remove(&last);
        }
        Some(Value::Array(a)) => {
            if let Ok(i) = last.parse::<usize>()
                && i < a.len()
            {
                a.remove(i);
            }
        }
        _ => {}
    }
    true
}

/// Leave out the node at `pointer` so the rest can be read: the whole list when it is an
/// item of one (removing an item would shift the positions of the others). False when
/// that is the document itself.
fn prune(root: &mut Value, pointer: &str) -> bool {
    let mut at = pointer;
    while let Some((parent, _)) = at.rsplit_once('/') {
        if matches!(root.pointer(parent), Some(Value::Object(_))) {
            return remove(root, at);
        }
        if root.pointer(parent).is_none() {
            return true; // already left out with an ancestor
        }
        at = parent;
    }
    false
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "mapping",
    }
}

/// A JSON pointer as messages name a field: `spec.instances.web.resources.cpus`.
/// The env key a JSON pointer `…/env/KEY` names, unescaped.
fn env_key(pointer: &str) -> Option<String> {
    let (map, key) = pointer.rsplit_once('/')?;
    map.ends_with("/env")
        .then(|| key.replace("~1", "/").replace("~0", "~"))
}

pub(crate) fn field_path(pointer: &str) -> String {
    if pointer.is_empty() {
        return "the document".into();
    }
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

/// Convert schema validation errors into located diagnostics, with the JSON pointers of
/// the values they make unreadable.
fn schema_diagnostics(
    kind: Kind,
    value: &Value,
    origin: &Origin,
) -> (Vec<Diagnostic>, Vec<String>) {
    let mut out = Vec::new();
    let mut unreadable = Vec::new();
    for err in validator(kind).iter_errors(value) {
        let pointer = err.instance_path().as_str().to_string();
        match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => unreadable.extend(
                unexpected
                    .iter()
                    .map(|name| format!("{pointer}/{}", escape_segment(name))),
            ),
            _ => unreadable.push(pointer),
        }
        describe(kind, &err, value, origin, &mut out);
    }
    sort_and_dedup(&mut out);
    (out, unreadable)
}

fn describe(
    kind: Kind,
    err: &jsonschema::ValidationError<'_>,
    root: &Value,
    origin: &Origin,
    out: &mut Vec<Diagnostic>,
) {
    let pointer = err.instance_path().as_str().to_string();
    let at = |p: &str| Some(origin.at(p));
    let field = field_path(&pointer);
    let instance = root.pointer(&pointer).unwrap_or(&Value::Null);
    let file = &origin.file;
    match err.kind() {
        ValidationErrorKind::AdditionalProperties { unexpected }
        | ValidationErrorKind::UnevaluatedProperties { unexpected } => {
            // Suggest from the fields valid in this mapping, not anywhere in the kind.
            let known = property_names_at(kind, &pointer);
            for name in unexpected {
                let p = format!("{pointer}/{}", escape_segment(name));
                let mut d = Diagnostic::new(
                    file,
                    Some(origin.key_at(&p)),
                    format!("unknown field `{name}` in {field}"),
                );
                if let Some(hint) = compose_hint(name, &pointer, &known) {
                    d = d.with_help(hint);
                } else if let Some(best) = known
                    .iter()
                    .map(|k| (strsim::jaro_winkler(k, name), k))
                    .filter(|(s, _)| *s > 0.85)
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                {
                    d = d.with_help(format!("did you mean `{}`?", best.1));
                }
                out.push(d);
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| property.to_string());
            // Point at the key that holds the incomplete mapping (`spec:`), not its first entry.
            out.push(Diagnostic::new(
                file,
                Some(origin.key_at(&pointer)),
                format!("missing required field `{name}` in {field}"),
            ));
        }
        ValidationErrorKind::Type { kind: tk } => {
            let expected = match tk {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(ts) => ts
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(" or "),
            };
            let mut d = Diagnostic::new(
                file,
                at(&pointer),
                format!(
                    "wrong type for {field}: expected {}, found {}",
                    expected
                        .replace("object", "mapping")
                        .replace("array", "list"),
                    json_type(instance)
                ),
            );
            if expected.contains("boolean")
                && let Some(word) = instance.as_str()
                && matches!(
                    word.to_ascii_lowercase().as_str(),
                    "yes" | "no" | "on" | "off" | "y" | "n"
                )
            {
                d = d.with_help(format!(
                    "YAML 1.2 reads `{word}` as text: write true or false"
                ));
            }
            out.push(d);
        }
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // A choice between constants (an enum whose variants are documented): name them all.
            let consts: Option<Vec<String>> = context
                .iter()
                .map(|branch| match branch.as_slice() {
                    [e] => match e.kind() {
                        ValidationErrorKind::Constant { expected_value } => Some(
                            expected_value
                                .as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| expected_value.to_string()),
                        ),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            if let Some(consts) = consts.filter(|c| !c.is_empty()) {
                let mut d = Diagnostic::new(
                    file,
                    at(&pointer),
                    format!(
                        "invalid value {} for {field}: expected one of {}",
                        short(instance),
                        consts.join(", ")
                    ),
                );
                if instance.as_str() == Some("service_healthy") {
                    d = d.with_help("Compose's `service_healthy` is `healthy` here");
                }
                out.push(d);
                return;
            }
            // Every branch wants another type here (`T or null`, `string or number…`): one
            // "wrong type" error naming them all.
            let types: Option<Vec<String>> = context
                .iter()
                .map(|branch| match branch.as_slice() {
                    [e] if e.instance_path().as_str() == pointer => match e.kind() {
                        ValidationErrorKind::Type {
                            kind: TypeKind::Single(t),
                        } => Some(t.to_string()),
                        _ => None,
                    },
                    _ => None,
                })
                .collect();
            if let Some(types) = types.filter(|t| !t.is_empty()) {
                out.push(Diagnostic::new(
                    file,
                    at(&pointer),
                    format!(
                        "wrong type for {field}: expected {}, found {}",
                        types
                            .join(" or ")
                            .replace("object", "mapping")
                            .replace("array", "list"),
                        json_type(instance)
                    ),
                ));
                return;
            }
            // Report the branch that got furthest: deepest error path, then fewest errors.
            let best = context
                .iter()
                .filter(|b| !b.is_empty())
                .max_by_key(|branch| {
                    let depth = branch
                        .iter()
                        .map(|e| e.instance_path().as_str().len())
                        .min()
                        .unwrap_or(0);
                    let not_type = branch
                        .iter()
                        .all(|e| !matches!(e.kind(), ValidationErrorKind::Type { .. }));
                    (depth, not_type, usize::MAX - branch.len())
                });
            match best {
                Some(branch)
                    if branch
                        .iter()
                        .any(|e| e.instance_path().as_str().len() > pointer.len())
                        || branch
                            .iter()
                            .all(|e| !matches!(e.kind(), ValidationErrorKind::Type { .. })) =>
                {
                    for e in branch {
                        describe(kind, e, root, origin, out);
                    }
                }
                _ => out.push(
                    Diagnostic::new(
                        file,
                        at(&pointer),
                        format!(
                            "{field} has an unsupported form ({} {})",
                            json_type(instance),
                            short(instance)
                        ),
                    )
                    .with_help("see the field's description in schemas/ for the accepted forms"),
                ),
            }
        }
        ValidationErrorKind::Enum { options } => {
            let opts = options
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| {
                            o.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| o.to_string())
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            out.push(Diagnostic::new(
                file,
                at(&pointer),
                format!(
                    "invalid value {} for {field}: expected one of {opts}",
                    short(instance)
                ),
            ));
        }
        ValidationErrorKind::Maximum { limit } | ValidationErrorKind::Minimum { limit } => {
            // As the user would write it: `1024`, not `1024.0`.
            let limit = limit
                .as_f64()
                .map_or_else(|| limit.to_string(), |f| f.to_string());
            let problem = if matches!(err.kind(), ValidationErrorKind::Maximum { .. }) {
                QuantityError::TooLarge(limit)
            } else {
                QuantityError::TooSmall(limit)
            };
            out.push(Diagnostic::new(
                file,
                at(&pointer),
                format!("invalid value {} for {field}: {problem}", short(instance)),
            ));
        }
        ValidationErrorKind::Pattern { pattern }
            if pattern == super::service::ENV_VALUE_PATTERN && env_key(&pointer).is_some() =>
        {
            let key = env_key(&pointer).unwrap_or_default();
            out.push(Diagnostic::new(
                file,
                at(&pointer),
                format!("the value of environment variable {key:?} contains a NUL character, which no process environment can hold"),
            ));
        }
        ValidationErrorKind::MinLength { .. } if pointer.ends_with("/image") => {
            out.push(Diagnostic::new(
                file,
                at(&pointer),
                format!(
                    "{field} is empty: name an image, e.g. postgres:16, or leave the field out"
                ),
            ));
        }
        ValidationErrorKind::Pattern { pattern }
            if pattern == super::quantity::health_duration_pattern() =>
        {
            let text = instance.as_str().unwrap_or_default();
            let problem = match super::quantity::parse_duration(text, super::quantity::MAX_HEALTH_DURATION) {
                Err(e) => e.to_string(),
                // Within the bound but in a spelling whose bound the schema cannot check.
                Ok(_) => "write one number and unit (90s, 1.5m) or whole numbers in units largest first, each below the next unit (1m30s, 2s500ms)".into(),
            };
            out.push(Diagnostic::new(
                file,
                at(&pointer),
                format!("invalid value {} for {field}: {problem}", short(instance)),
            ));
        }
        ValidationErrorKind::Pattern { pattern }
            if pattern == super::quantity::memory_pattern() =>
        {
            let text = instance.as_str().unwrap_or_default();
            let problem = match super::quantity::parse_memory(text) {
                Err(e) => e.to_string(),
                Ok(bytes) if bytes < super::quantity::MIN_MEMORY_BYTES => format!(
                    "less than the minimum of {} (the engines refuse less)",
                    super::quantity::MIN_MEMORY_TEXT
                ),
                Ok(_) => {
                    "write it in a smaller unit (e.g. 1099Gi or 1125899Mi rather than 1.0995Ti)"
                        .into()
                }
            };
            out.push(Diagnostic::new(
                file,
                at(&pointer),
                format!("invalid value {} for {field}: {problem}", short(instance)),
            ));
        }
        ValidationErrorKind::Pattern { pattern } if pattern == super::ports::HOST_IP_PATTERN => {
            out.push(Diagnostic::new(
                file,
                at(&pointer),
                format!(
                    "invalid value {} for {field}: not an IPv4 or IPv6 address",
                    short(instance)
                ),
            ));
        }
        ValidationErrorKind::Pattern { pattern } if pattern == PORT_SHORT_PATTERN => {
            out.push(Diagnostic::new(
                file,
                at(&pointer),
                format!(
                    "invalid value {} for {field}: not {PORT_SHORT_FORMS}",
                    short(instance)
                ),
            ));
        }
        ValidationErrorKind::PropertyNames { error } if pointer.ends_with("/env") => {
            // `propertyNames` of an env map: a name the engines cannot pass as `KEY=value`.
            let key = error.instance().as_str().unwrap_or_default();
            let key_pointer = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
            let why = super::values::check_env_key(key)
                .err()
                .unwrap_or("is not a name the engines can pass");
            out.push(
                Diagnostic::new(
                    file,
                    Some(origin.key_at(&key_pointer)),
                    format!("environment variable name {key:?} {why}"),
                )
                .with_help("a name is letters, digits and `_`, e.g. DATABASE_URL"),
            );
        }
        ValidationErrorKind::PropertyNames { error } if pointer.ends_with("/labels") => {
            // `propertyNames: {not: ...}` of `labels`: a key under devarch's own prefix.
            let key = error.instance().as_str().unwrap_or_default();
            let key_pointer = format!("{pointer}/{}", key.replace('~', "~0").replace('/', "~1"));
            out.push(
                Diagnostic::new(
                    file,
                    at(&key_pointer),
                    format!(
                        "label {:?} is under devarch's own prefix `{}`: devarch sets those labels itself",
                        crate::printable::line(key),
                        crate::identity::LABEL_PREFIX
                    ),
                )
                .with_help(
                    "rename the label (e.g. `app.domains`); host names are claimed with `domains`",
                ),
            );
        }
        ValidationErrorKind::Pattern { pattern } => {
            out.push(Diagnostic::new(
                file,
                at(&pointer),
                format!(
                    "invalid value {} for {field}: does not match {pattern}",
                    short(instance)
                ),
            ));
        }
        _ => out.push(Diagnostic::new(
            file,
            at(&pointer),
            format!("invalid {field}: {err}"),
        )),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

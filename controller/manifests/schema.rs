/*! JSON Schemas (draft 2020-12) and Kubernetes CRDs generated from the resource types.

`devarch schema` writes them to `schemas/` and `crds/`; the loader validates every document
against the same schemas before deserializing it.
*/

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use crate::identity::{DNS_LABEL_PATTERN, NameKind, RESERVED_NAMES};

use super::types::{Instance, Stack, Template};

/// The three resource kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A reusable service.
    Template,
    /// An isolated environment.
    Stack,
    /// A service of a stack.
    Instance,
}

impl Kind {
    /// Every kind, in schema order.
    pub const ALL: [Kind; 3] = [Kind::Template, Kind::Stack, Kind::Instance];

    /// The `kind:` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Template => "Template",
            Kind::Stack => "Stack",
            Kind::Instance => "Instance",
        }
    }

    /// Parse a `kind:` value.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn plural(self) -> &'static str {
        match self {
            Kind::Template => "templates",
            Kind::Stack => "stacks",
            Kind::Instance => "instances",
        }
    }

    fn file_stem(self) -> &'static str {
        match self {
            Kind::Template => "template",
            Kind::Stack => "stack",
            Kind::Instance => "instance",
        }
    }
}

fn generate<T: JsonSchema>() -> Value {
    use schemars::transform::{RecursiveTransform, RestrictFormats};
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        // `uint16`, `uint32`… are schemars' own formats: validators in strict mode (Ajv)
        // refuse unknown formats, and the bounds they stand for are already there.
        .with_transform(RestrictFormats::default())
        .with_transform(RecursiveTransform(split_nullable))
        .into_generator()
        .into_root_schema_for::<T>();
    schema.to_value()
}

/// Keywords that describe a schema rather than constrain a value: they stay beside an
/// `anyOf` that [`split_nullable`] makes.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$comment",
];

/// `{"type": [T, U, "null"], …}` → `{"anyOf": [{"type": T, …}, {"type": U, …}, {"type":
/// "null"}], …annotations}`: the same values, in the form validators in strict mode accept
/// (Ajv's `strictTypes` refuses type unions, and keywords of one type beside a union). The
/// constraints go to every non-null branch (in practice there is one, or none).
fn split_nullable(schema: &mut schemars::Schema) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let Some(Value::Array(types)) = obj.get("type").cloned() else {
        return;
    };
    let mut constraints = Map::new();
    for (k, v) in std::mem::take(obj) {
        if ANNOTATIONS.contains(&k.as_str()) {
            obj.insert(k, v);
        } else if k != "type" {
            constraints.insert(k, v);
        }
    }
    let branches: Vec<Value> = types
        .iter()
        .map(|t| {
            let mut branch = Map::new();
            branch.insert("type".into(), t.clone());
            if t != "null" {
                branch.extend(constraints.clone());
            }
            Value::Object(branch)
        })
        .collect();
    obj.insert("anyOf".into(), Value::Array(branches));
}

/// The JSON Schema of one kind, as published (`schemas/`) for editors and other
/// validators: only standard formats, so strict validators (Ajv) compile it. The bounds of
/// durations and memory sizes are patterns ([`super::quantity::health_duration_pattern`],
/// [`super::quantity::memory_pattern`]), which every validator checks. The name and path rules
/// ([`add_name_rules`]) are here for other tools; the binary checks them itself after the
/// schema, with messages that say more than "does not match".
pub fn kind_schema(kind: Kind) -> Value {
    let mut v = checked_schema(kind);
    add_name_rules(kind, &mut v);
    v
}

/// The rules of a name ([`crate::identity::check_name`]) as a schema, so editors and other
/// validators refuse what the binary refuses.
fn name_schema(kind: NameKind) -> Value {
    json!({
        "type": "string",
        "pattern": DNS_LABEL_PATTERN,
        "maxLength": kind.max_len(),
        "not": {"enum": RESERVED_NAMES},
    })
}

/// Adds the name and path rules the types cannot carry: the document's `metadata.name`
/// (its limit depends on the kind), instance names (`propertyNames` of a stack's
/// `instances`), an Instance's `spec.stack`, volume names, absolute targets and paths, and
/// a volume's `name` xor `source`.
fn add_name_rules(kind: Kind, schema: &mut Value) {
    let name_kind = match kind {
        Kind::Template => NameKind::Template,
        Kind::Stack => NameKind::Stack,
        Kind::Instance => NameKind::Instance,
    };
    if let Some(meta) = schema.pointer_mut("/properties/metadata") {
        meta["type"] = json!("object");
        meta["properties"] = json!({"name": name_schema(name_kind)});
    }
    if let Some(instances) = schema.pointer_mut("/$defs/StackSpec/properties/instances") {
        instances["propertyNames"] = name_schema(NameKind::Instance);
    }
    if let Some(stack) = schema.pointer_mut("/$defs/InstanceSpec/properties/stack") {
        let description = stack.get("description").cloned();
        *stack = name_schema(NameKind::Stack);
        if let Some(d) = description {
            stack["description"] = d;
        }
    }
    let absolute = json!({"type": "string", "pattern": "^/"});
    if let Some(volume) = schema.pointer_mut("/$defs/Volume") {
        if let Some(Value::Array(branches)) = volume.pointer_mut("/properties/name/anyOf") {
            for b in branches.iter_mut().filter(|b| b["type"] == "string") {
                *b = name_schema(NameKind::Volume);
            }
        }
        volume["properties"]["target"]["pattern"] = absolute["pattern"].clone();
        // Each branch names the property it requires (Ajv's strictRequired).
        volume["oneOf"] = json!([
            {"type": "object", "properties": {"name": true}, "required": ["name"]},
            {"type": "object", "properties": {"source": true}, "required": ["source"]},
        ]);
    }
    if let Some(path) = schema.pointer_mut("/$defs/ConfigFile/properties/path") {
        path["pattern"] = absolute["pattern"].clone();
    }
}

/// The schema the binary validates a kind with: [`kind_schema`] without the name and path
/// rules ([`add_name_rules`]), which the binary checks itself with its own messages.
fn checked_schema(kind: Kind) -> Value {
    let mut v = match kind {
        Kind::Template => generate::<Template>(),
        Kind::Stack => generate::<Stack>(),
        Kind::Instance => generate::<Instance>(),
    };
    editor_safe_values(&mut v);
    v["$id"] = json!(format!(
        "https://devarch.io/schemas/v1alpha1/{}.schema.json",
        kind.file_stem()
    ));
    v
}

/// Editors insert a property's `default` (else its first `examples` entry, else `0` for a
/// number) when completing it, so every value the schema offers must be valid there: drop
/// each `default` that is `null` (schemars writes it for every optional field with
/// `#[serde(default)]`) or that its own node rejects, and give a number whose minimum is
/// above 0 a valid example.
fn editor_safe_values(schema: &mut Value) {
    let defs = schema.get("$defs").cloned().unwrap_or_else(|| json!({}));
    fn walk(node: &mut Value, defs: &Value) {
        let Value::Object(o) = node else { return };
        if let Some(default) = o.get("default").cloned() {
            let mut alone = o.clone();
            alone.remove("default");
            alone.insert("$defs".into(), defs.clone());
            let valid = jsonschema::draft202012::options()
                .build(&Value::Object(alone))
                .map(|v| v.is_valid(&default))
                .unwrap_or(false);
            // `null` is "not set": valid for a nullable field, but no value to insert.
            if !valid || default.is_null() {
                o.remove("default");
            }
        }
        let numeric = |t: &Value| t == "integer" || t == "number";
        let is_number = match o.get("type") {
            Some(Value::Array(ts)) => ts.iter().any(numeric),
            Some(t) => numeric(t),
            None => false,
        };
        if let Some(min) = o.get("minimum").and_then(Value::as_f64)
            && is_number
            && min > 0.0
            && !o.contains_key("default")
            && !o.contains_key("examples")
        {
            // The smallest whole number allowed reads better than a fraction.
            let whole = min.ceil();
            let fits = o
                .get("maximum")
                .and_then(Value::as_f64)
                .is_none_or(|max| whole <= max);
            let example = if fits {
                json!(whole as u64)
            } else {
                json!(min)
            };
            o.insert("examples".into(), json!([example]));
        }
        for (k, child) in o.iter_mut() {
            for_each_subschema(k, child, &mut |c| walk(c, defs));
        }
    }
    walk(schema, &defs);
}

/// Call `f` on each subschema held by keyword `key` (whose value is `value`): the values of
/// a map of schemas, the items of a list of schemas, or the one schema.
fn for_each_subschema(key: &str, value: &mut Value, f: &mut dyn FnMut(&mut Value)) {
    match key {
        "properties" | "$defs" | "patternProperties" | "dependentSchemas" => value
            .as_object_mut()
            .into_iter()
            .flatten()
            .for_each(|(_, c)| f(c)),
        "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
            value.as_array_mut().into_iter().flatten().for_each(f)
        }
        "items"
        | "additionalProperties"
        | "not"
        | "if"
        | "then"
        | "else"
        | "propertyNames"
        | "contains"
        | "unevaluatedProperties"
        | "unevaluatedItems" => f(value),
        _ => {}
    }
}

/// One schema accepting any devarch document, for editors.
pub fn combined_schema() -> Value {
    let mut defs = Map::new();
    for kind in Kind::ALL {
        let mut s = kind_schema(kind);
        let obj = s.as_object_mut().expect("schema is an object");
        if let Some(Value::Object(d)) = obj.remove("$defs") {
            defs.extend(d);
        }
        obj.remove("$schema");
        obj.remove("$id");
        defs.insert(kind.as_str().to_string(), s);
    }
    let mut combined = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://devarch.io/schemas/v1alpha1/{COMBINED_FILE}"),
    });
    let obj = combined.as_object_mut().expect("schema is an object");
    if let Value::Object(top) = select_by_kind() {
        obj.extend(top);
    }
    obj.insert("$defs".into(), Value::Object(defs));
    combined
}

/// The top of the combined schema: `kind` picks the one kind schema a document is checked
/// against (`if` `kind` is this kind's `then` its schema), so a validator reports the
/// mistakes of that kind only and yaml-language-server completes that kind's fields only;
/// a `oneOf` of the kinds made both try every kind. `kind` itself completes from its enum.
fn select_by_kind() -> Value {
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    let branches: Vec<Value> = Kind::ALL
        .iter()
        .map(|k| {
            json!({
                "if": {
                    "type": "object",
                    "properties": {"kind": {"const": k.as_str()}},
                    "required": ["kind"],
                },
                "then": {"$ref": format!("#/$defs/{}", k.as_str())},
            })
        })
        .collect();
    json!({
        "title": "devarch manifest",
        "description": "A devarch.io/v1alpha1 Template, Stack or Instance.",
        "type": "object",
        "properties": {
            "apiVersion": {"type": "string", "const": "devarch.io/v1alpha1"},
            "kind": {
                "type": "string",
                "enum": names,
                "description": "The resource kind; it selects which fields the document has.",
            },
        },
        "required": ["apiVersion", "kind"],
        "allOf": branches,
    })
}

/// File name of the combined schema ([`combined_schema`]) in `schemas/`.
pub const COMBINED_FILE: &str = "devarch.schema.json";

/// The yaml-language-server modeline applying the schema at `schema_path` (relative to the
/// file, or a URL) to the YAML document it heads. yaml-language-server reads it from each
/// document's own header comments, so every document of a multi-document file needs one.
pub fn modeline(schema_path: &str) -> String {
    format!("# yaml-language-server: $schema={schema_path}")
}

/// Compiled validators, one per kind.
pub(crate) static VALIDATORS: LazyLock<Vec<(Kind, jsonschema::Validator)>> = LazyLock::new(|| {
    Kind::ALL
        .into_iter()
        .map(|k| {
            let v = jsonschema::draft202012::options()
                .should_validate_formats(true)
                .build(&checked_schema(k))
                .expect("generated schema compiles");
            (k, v)
        })
        .collect()
});

/// The validator of one kind.
pub(crate) fn validator(kind: Kind) -> &'static jsonschema::Validator {
    &VALIDATORS
        .iter()
        .find(|(k, _)| *k == kind)
        .expect("every kind")
        .1
}

/// [`kind_schema`], built once (for hints, which look up the fields valid at a position).
pub(crate) fn kind_schema_cached(kind: Kind) -> &'static Value {
    static SCHEMAS: LazyLock<Vec<(Kind, Value)>> =
        LazyLock::new(|| Kind::ALL.into_iter().map(|k| (k, kind_schema(k))).collect());
    &SCHEMAS
        .iter()
        .find(|(k, _)| *k == kind)
        .expect("every kind")
        .1
}

/// The property names valid in the mapping at a JSON pointer of a kind's document (for
/// "did you mean" hints): those of every schema node that can apply there.
pub(crate) fn property_names_at(kind: Kind, pointer: &str) -> Vec<String> {
    /// The node and, through `$ref` and `anyOf`/`oneOf`/`allOf`, every node applying with it.
    fn expand<'a>(root: &'a Value, node: &'a Value, depth: usize, out: &mut Vec<&'a Value>) {
        let Value::Object(o) = node else { return };
        if depth > 32 {
            return;
        }
        out.push(node);
        if let Some(target) = o
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| root.pointer(p))
        {
            expand(root, target, depth + 1, out);
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for branch in o.get(key).and_then(Value::as_array).into_iter().flatten() {
                expand(root, branch, depth + 1, out);
            }
        }
    }
    /// The schema of `segment` under `node`: a property, a list item or a map value.
    fn child<'a>(node: &'a Value, segment: &str) -> Option<&'a Value> {
        node.get("properties")
            .and_then(|p| p.get(segment))
            .or_else(|| {
                segment
                    .parse::<usize>()
                    .ok()
                    .and_then(|_| node.get("items"))
            })
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
    }
    let root = kind_schema_cached(kind);
    let mut nodes = Vec::new();
    expand(root, root, 0, &mut nodes);
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        let mut next = Vec::new();
        for node in nodes.iter().filter_map(|n| child(n, &segment)) {
            expand(root, node, 0, &mut next);
        }
        nodes = next;
    }
    let mut out: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.get("properties").and_then(Value::as_object))
        .flat_map(|p| p.keys().cloned())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Convert a generated schema node into a Kubernetes structural schema node.
fn structural(node: &Value, defs: &Map<String, Value>) -> Value {
    let Value::Object(o) = node else {
        return node.clone();
    };
    if let Some(Value::String(r)) = o.get("$ref") {
        let name = r.trim_start_matches("#/$defs/");
        let mut resolved = structural(&defs[name], defs);
        if let (Some(d), Value::Object(ro)) = (o.get("description"), &mut resolved) {
            ro.insert("description".into(), d.clone());
        }
        return resolved;
    }
    let mut out = Map::new();
    if let Some(d) = o.get("description") {
        out.insert("description".into(), d.clone());
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = o.get(key) {
            let non_null: Vec<&Value> = branches
                .iter()
                .filter(|b| b.get("type") != Some(&json!("null")))
                .collect();
            if non_null.len() == 1 && branches.len() == 2 {
                let mut inner = structural(non_null[0], defs);
                if let Value::Object(io) = &mut inner {
                    io.insert("nullable".into(), json!(true));
                    if let Some(d) = o.get("description") {
                        io.insert("description".into(), d.clone());
                    }
                }
                return inner;
            }
            // Several accepted spellings (short and long forms): not expressible structurally.
            out.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
            return Value::Object(out);
        }
    }
    match o.get("type") {
        Some(Value::Array(types)) => {
            let non_null: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
            if types.len() != non_null.len() {
                out.insert("nullable".into(), json!(true));
            }
            if non_null.len() == 1 {
                out.insert("type".into(), non_null[0].clone());
            } else {
                out.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
                return Value::Object(out);
            }
        }
        Some(t) => {
            out.insert("type".into(), t.clone());
        }
        None => {}
    }
    if let Some(c) = o.get("const") {
        out.insert("enum".into(), json!([c]));
        if !out.contains_key("type") {
            out.insert("type".into(), json!("string"));
        }
    }
    for key in [
        "enum", "pattern", "minimum", "maximum", "required", "minItems", "maxItems", "default",
    ] {
        if let Some(v) = o.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(Value::String(f)) = o.get("format")
        && matches!(f.as_str(), "int32" | "int64" | "float" | "double")
    {
        out.insert("format".into(), json!(f));
    }
    if let Some(Value::Object(props)) = o.get("properties") {
        let props: Map<String, Value> = props
            .iter()
            .map(|(k, v)| (k.clone(), structural(v, defs)))
            .collect();
        out.insert("properties".into(), Value::Object(props));
    } else if let Some(ap @ Value::Object(_)) = o.get("additionalProperties") {
        out.insert("additionalProperties".into(), structural(ap, defs));
    }
    if let Some(items) = o.get("items") {
        out.insert("items".into(), structural(items, defs));
    }
    if out.get("type").is_none() && !out.contains_key("x-kubernetes-preserve-unknown-fields") {
        out.insert("x-kubernetes-preserve-unknown-fields".into(), json!(true));
    }
    Value::Object(out)
}

/// The CustomResourceDefinition (apiextensions.k8s.io/v1) of one kind.
pub fn crd(kind: Kind) -> Value {
    let schema = kind_schema(kind);
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let spec = structural(&schema["properties"]["spec"], &defs);
    let lower = kind.file_stem();
    let mut crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{}.devarch.io", kind.plural())},
        "spec": {
            "group": "devarch.io",
            "names": {
                "kind": kind.as_str(),
                "listKind": format!("{}List", kind.as_str()),
                "plural": kind.plural(),
                "singular": lower,
            },
            "scope": "Namespaced",
            "versions": [{
                "name": "v1alpha1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {
                    "description": schema.get("description").cloned().unwrap_or(json!("")),
                    "type": "object",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec,
                    }
                }}
            }]
        }
    });
    // `spec` is required exactly where the binary requires it (an Instance).
    if schema["required"]
        .as_array()
        .is_some_and(|r| r.iter().any(|k| k == "spec"))
    {
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["required"] = json!(["spec"]);
    }
    crd
}

/// Every generated file: path relative to the project root, and its content.
pub fn generated_files() -> Vec<(PathBuf, String)> {
    let json = |v: &Value| serde_json::to_string_pretty(v).expect("json") + "\n";
    let mut files = vec![(
        PathBuf::from(format!("schemas/{COMBINED_FILE}")),
        json(&combined_schema()),
    )];
    for kind in Kind::ALL {
        files.push((
            PathBuf::from(format!("schemas/{}.schema.json", kind.file_stem())),
            json(&kind_schema(kind)),
        ));
        let yaml = serde_saphyr::to_string(&crd(kind)).expect("crd serializes");
        files.push((
            PathBuf::from(format!("crds/{}.devarch.io.yaml", kind.plural())),
            format!("# Generated by `devarch schema`; do not edit.\n{yaml}"),
        ));
    }
    files
}

/// Write (or with `check`, compare) the generated files under `root`.
/// Returns the files that differ (were written, or would be).
///
/// # Errors
/// I/O errors writing the files.
pub fn write_or_check(root: &Path, check: bool) -> std::io::Result<Vec<PathBuf>> {
    let mut stale = Vec::new();
    for (rel, content) in generated_files() {
        let path = root.join(&rel);
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() != Some(content.as_str()) {
            if !check {
                // The folders on the way are made inside `root`, never through a link.
                std::fs::create_dir_all(root)?;
                crate::safe_fs::dirs_within(root, rel.parent().unwrap_or(Path::new("")))?;
                crate::safe_fs::write_atomic(
                    &path,
                    content.as_bytes(),
                    crate::safe_fs::FileMode::Keep { default: 0o644 },
                )?;
            }
            stale.push(rel);
        }
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_structural(v: &Value, path: &str) {
        let o = v
            .as_object()
            .unwrap_or_else(|| panic!("{path} is not an object"));
        for banned in ["$ref", "anyOf", "oneOf", "allOf", "const", "$defs"] {
            assert!(!o.contains_key(banned), "{path} has {banned}");
        }
        assert!(
            o.contains_key("type")
                || o.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true)),
            "{path} has no type"
        );
        if let Some(t) = o.get("type") {
            assert!(t.is_string(), "{path} type is not a single string");
        }
        if let Some(Value::Object(p)) = o.get("properties") {
            assert!(
                !o.contains_key("additionalProperties"),
                "{path} mixes properties and additionalProperties"
            );
            for (k, c) in p {
                assert_structural(c, &format!("{path}.{k}"));
            }
        }
        for k in ["items", "additionalProperties"] {
            if let Some(c @ Value::Object(_)) = o.get(k) {
                assert_structural(c, &format!("{path}[{k}]"));
            }
        }
    }

    #[test]
    fn editor_values_are_valid_values() {
        let mut s = json!({"type": "object", "properties": {
            "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 0},
            "cpus": {"type": ["number", "null"], "minimum": 0.01, "maximum": 1024.0},
            "ip": {"type": ["string", "null"], "default": null},
            "proto": {"$ref": "#/$defs/P", "default": "tcp"},
            "bad": {"$ref": "#/$defs/P", "default": "sctp"},
        }, "$defs": {"P": {"enum": ["tcp", "udp"]}}});
        editor_safe_values(&mut s);
        let p = &s["properties"];
        assert_eq!(p["port"].get("default"), None);
        assert_eq!(p["port"]["examples"], json!([1]));
        assert_eq!(p["cpus"]["examples"], json!([1]));
        assert_eq!(p["ip"].get("default"), None);
        assert_eq!(p["proto"]["default"], json!("tcp"));
        assert_eq!(p["bad"].get("default"), None);
    }

    /// Every `default` and `examples` value of the generated schemas is valid where it stands
    /// (what an editor inserts when completing the property).
    #[test]
    fn generated_schemas_offer_only_valid_values() {
        fn walk(node: &Value, defs: &Value, path: &str, bad: &mut Vec<String>) {
            let Value::Object(o) = node else { return };
            let offered: Vec<&Value> = o
                .get("default")
                .into_iter()
                .chain(
                    o.get("examples")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                )
                .collect();
            if !offered.is_empty() {
                let mut alone = o.clone();
                alone.remove("default");
                alone.remove("examples");
                alone.insert("$defs".into(), defs.clone());
                let v = jsonschema::draft202012::new(&Value::Object(alone)).unwrap();
                for value in offered {
                    if value.is_null() || !v.is_valid(value) {
                        bad.push(format!("{path}: {value}"));
                    }
                }
            }
            for (k, c) in o {
                let mut c = c.clone();
                let mut i = 0;
                for_each_subschema(k, &mut c, &mut |sub| {
                    walk(sub, defs, &format!("{path}/{k}/{i}"), bad);
                    i += 1;
                });
            }
        }
        let combined = combined_schema();
        let mut bad = Vec::new();
        walk(&combined, &combined["$defs"], "", &mut bad);
        assert!(bad.is_empty(), "values no editor should insert: {bad:#?}");
        let port = &combined["$defs"]["Port"]["properties"];
        assert_eq!(port["container"]["examples"], json!([1]));
        assert_eq!(port["hostIp"].get("default"), None);
    }

    /// A document is checked against the schema of its `kind` alone.
    #[test]
    fn combined_schema_selects_the_kind() {
        let v = jsonschema::draft202012::new(&combined_schema()).unwrap();
        let instance = json!({"apiVersion": "devarch.io/v1alpha1", "kind": "Instance",
            "metadata": {"name": "a"}, "spec": {"stack": "s", "template": "t"}});
        assert!(v.is_valid(&instance));
        let mut bad = instance.clone();
        bad["spec"]["imagee"] = json!("x");
        let errors: Vec<String> = v
            .iter_errors(&bad)
            .map(|e| format!("{} at {}", e, e.schema_path()))
            .collect();
        assert!(!errors.is_empty());
        for e in &errors {
            assert!(
                !e.contains("/Template") && !e.contains("/Stack") && !e.contains("oneOf"),
                "an error from another kind: {e}"
            );
        }
        let mut other = instance;
        other["kind"] = json!("Pod");
        assert!(v.iter_errors(&other).any(|e| e.to_string().contains("Pod")));
    }

    #[test]
    fn crds_are_structural() {
        for kind in Kind::ALL {
            let c = crd(kind);
            assert_structural(
                &c["spec"]["versions"][0]["schema"]["openAPIV3Schema"],
                kind.as_str(),
            );
        }
    }

    #[test]
    fn instance_schema_rejects_unknown_fields_and_requires_template() {
        let v = validator(Kind::Instance);
        let ok = json!({"apiVersion": "devarch.io/v1alpha1", "kind": "Instance",
            "metadata": {"name": "a"}, "spec": {"stack": "s", "template": "t", "env": {"A": "1"}}});
        assert!(v.is_valid(&ok));
        let mut bad = ok.clone();
        bad["spec"]["imagee"] = json!("x");
        assert!(!v.is_valid(&bad));
        let mut missing = ok;
        missing["spec"].as_object_mut().unwrap().remove("template");
        assert!(!v.is_valid(&missing));
    }
}

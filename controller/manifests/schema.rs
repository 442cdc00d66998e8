/*! JSON Schemas (draft 2020-12) and Kubernetes CRDs generated from the resource types.

`devarch schema` writes them to `schemas/` and `crds/`; the loader validates every document
against the same schemas before deserializing it.
*/

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use schemars::JsonSchema;
use serde_json::{Map, Value, json};

use super::types::{
    HEALTH_DURATION_FORMAT, Instance, MEMORY_FORMAT, Stack, Template, format_bound_error,
};

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
    let schema = schemars::generate::SchemaSettings::draft2020_12()
        .into_generator()
        .into_root_schema_for::<T>();
    schema.to_value()
}

/// The JSON Schema of one kind.
pub fn kind_schema(kind: Kind) -> Value {
    let mut v = match kind {
        Kind::Template => generate::<Template>(),
        Kind::Stack => generate::<Stack>(),
        Kind::Instance => generate::<Instance>(),
    };
    v["$id"] = json!(format!(
        "https://devarch.io/schemas/v1alpha1/{}.schema.json",
        kind.file_stem()
    ));
    v
}

/// One schema accepting any devarch document, for editors.
pub fn combined_schema() -> Value {
    let mut defs = Map::new();
    let mut one_of = Vec::new();
    for kind in Kind::ALL {
        let mut s = kind_schema(kind);
        let obj = s.as_object_mut().expect("schema is an object");
        if let Some(Value::Object(d)) = obj.remove("$defs") {
            defs.extend(d);
        }
        obj.remove("$schema");
        obj.remove("$id");
        defs.insert(kind.as_str().to_string(), s);
        one_of.push(json!({"$ref": format!("#/$defs/{}", kind.as_str())}));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://devarch.io/schemas/v1alpha1/devarch.schema.json",
        "title": "devarch manifest",
        "description": "A devarch.io/v1alpha1 Template, Stack or Instance.",
        "oneOf": one_of,
        "$defs": defs,
    })
}

/// Compiled validators, one per kind.
pub(crate) static VALIDATORS: LazyLock<Vec<(Kind, jsonschema::Validator)>> = LazyLock::new(|| {
    Kind::ALL
        .into_iter()
        .map(|k| {
            // devarch's own formats bound durations and memory sizes (text the schema's
            // `minimum`/`maximum` cannot reach), in the same pass as every other check.
            let bounded =
                |format: &'static str| move |text: &str| format_bound_error(format, text).is_none();
            let v = jsonschema::draft202012::options()
                .with_format(HEALTH_DURATION_FORMAT, bounded(HEALTH_DURATION_FORMAT))
                .with_format(MEMORY_FORMAT, bounded(MEMORY_FORMAT))
                .should_validate_formats(true)
                .build(&kind_schema(k))
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
    let root = kind_schema(kind);
    let mut nodes = Vec::new();
    expand(&root, &root, 0, &mut nodes);
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        let mut next = Vec::new();
        for node in nodes.iter().filter_map(|n| child(n, &segment)) {
            expand(&root, node, 0, &mut next);
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
    json!({
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
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec,
                    }
                }}
            }]
        }
    })
}

/// Every generated file: path relative to the project root, and its content.
pub fn generated_files() -> Vec<(PathBuf, String)> {
    let json = |v: &Value| serde_json::to_string_pretty(v).expect("json") + "\n";
    let mut files = vec![(
        PathBuf::from("schemas/devarch.schema.json"),
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
            stale.push(rel);
            if !check {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                crate::safe_fs::write_atomic(
                    &path,
                    content.as_bytes(),
                    crate::safe_fs::FileMode::Keep { default: 0o644 },
                )?;
            }
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

//! The published schemas (`schemas/`) judged by third-party validators: Ajv 8 in draft
//! 2020-12 strict mode (what most JS tooling and CI use) and Python `jsonschema` must both
//! compile every file, accept every document of the examples and reject broken ones.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tools() -> PathBuf {
    root().join("tests/tools")
}

/// Runs one checker; fails (never skips) when it cannot run.
fn check(tool: &str, schema: &Path, docs: &Path) -> Value {
    let (program, script) = match tool {
        "ajv" => ("node", tools().join("schema-check.js")),
        _ => ("python3", tools().join("schema_check.py")),
    };
    let out = Command::new(program)
        .arg(&script)
        .arg(schema)
        .arg(docs)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}): run scripts/tools.sh"));
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|_| {
        panic!(
            "{tool} did not answer (run scripts/tools.sh to install it): {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Every document of every example folder, as JSON.
fn example_documents() -> Vec<Value> {
    let mut docs = Vec::new();
    for entry in walk(&root().join("examples")) {
        let text = std::fs::read_to_string(&entry).unwrap();
        for d in devarch::manifests::yaml::parse_documents(&text).unwrap() {
            docs.push(d.value);
        }
    }
    assert!(docs.len() >= 5, "examples hold documents: {}", docs.len());
    docs
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn broken_documents() -> Vec<Value> {
    let stack = |spec: Value| {
        json!({"apiVersion": "devarch.io/v1alpha1", "kind": "Stack",
               "metadata": {"name": "blog"}, "spec": spec})
    };
    vec![
        stack(json!({"instances": {"db": {"template": "postgres", "environment": {}}}})),
        stack(json!({"instances": {"db": {"template": "postgres", "ports": [{"container": 0}]}}})),
        stack(json!({"instances": {"db": {"template": 5}}})),
        json!({"apiVersion": "devarch.io/v1alpha1", "kind": "Gadget", "metadata": {"name": "x"}}),
    ]
}

#[test]
fn every_schema_compiles_in_ajv_strict_mode_and_python_jsonschema() {
    let files: Vec<PathBuf> = std::fs::read_dir(root().join("schemas"))
        .unwrap()
        .map(|e| e.unwrap().path())
        // The JSON Schemas (schemas/openapi.json is the API's OpenAPI document, not one).
        .filter(|p| p.to_string_lossy().ends_with(".schema.json"))
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    let empty = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(empty.path(), "[]").unwrap();
    for file in &files {
        for tool in ["ajv", "python"] {
            let answer = check(tool, file, empty.path());
            assert_eq!(
                answer["compiled"],
                true,
                "{tool} on {}: {answer}",
                file.display()
            );
        }
    }
}

#[test]
fn both_validators_accept_the_examples_and_reject_broken_documents() {
    let good = example_documents();
    let bad = broken_documents();
    let docs = tempfile::NamedTempFile::new().unwrap();
    let all: Vec<&Value> = good.iter().chain(&bad).collect();
    std::fs::write(docs.path(), serde_json::to_vec(&all).unwrap()).unwrap();
    let schema = root().join("schemas/devarch.schema.json");
    for tool in ["ajv", "python"] {
        let answer = check(tool, &schema, docs.path());
        let valid: Vec<bool> = answer["valid"]
            .as_array()
            .unwrap_or_else(|| panic!("{tool}: {answer}"))
            .iter()
            .map(|v| v.as_bool().unwrap())
            .collect();
        let (g, b) = valid.split_at(good.len());
        for (i, ok) in g.iter().enumerate() {
            assert!(ok, "{tool} rejects example document {}", good[i]);
        }
        for (i, ok) in b.iter().enumerate() {
            assert!(!ok, "{tool} accepts broken document {}", bad[i]);
        }
    }
}

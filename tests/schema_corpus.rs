//! The schema and the binary agree: every manifest of `tests/fixtures/corpus/` is judged by
//! an independent validator (read by the `yaml` npm package, YAML 1.2; checked by Python
//! `jsonschema` with `schemas/devarch.schema.json`, each document) and by `devarch validate`
//! (the file alone in a folder); both accept or both
//! refuse, except for the checks across documents that a schema cannot express, listed in
//! [`CROSS_DOCUMENT`]. Files are named `good-*`, `bad-*` or `cross-*` for what they test.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Cases only the binary can refuse, and why.
const CROSS_DOCUMENT: &[(&str, &str)] = &[
    (
        "cross-unknown-template",
        "a template is looked up in the folder and the catalog",
    ),
    (
        "cross-unknown-dependency",
        "dependsOn names another instance of the stack",
    ),
    (
        "cross-depends-on-itself",
        "dependsOn names the instance that holds it (a value compared with its own key)",
    ),
    (
        "cross-instance-unknown-stack",
        "an Instance names a Stack defined elsewhere",
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/corpus"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    files
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

/// Whether `devarch validate` accepts the file alone in a folder.
fn binary_accepts(file: &Path) -> bool {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(file, dir.path().join(file.file_name().unwrap())).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_devarch"))
        .arg("--dir")
        .arg(dir.path())
        .arg("validate")
        .env("DEVARCH_DIAGNOSTICS", "plain")
        .output()
        .unwrap();
    out.status.success()
}

#[test]
fn the_schema_and_devarch_validate_agree_on_every_corpus_manifest() {
    let files = corpus();
    assert!(
        files.len() >= 50,
        "the corpus holds {} manifests",
        files.len()
    );
    // Every document of every file, as JSON: read by an independent YAML 1.2 parser (the
    // `yaml` package editors use), not by devarch's.
    let out = Command::new("node")
        .arg(root().join("tests/tools/yaml-to-json.js"))
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run scripts/tools.sh"));
    let pairs: Vec<(usize, serde_json::Value)> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| {
            panic!(
                "yaml-to-json did not answer (run scripts/tools.sh): {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let (owner, docs): (Vec<usize>, Vec<serde_json::Value>) = pairs.into_iter().unzip();
    let all = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(all.path(), serde_json::to_vec(&docs).unwrap()).unwrap();
    let out = Command::new("python3")
        .arg(root().join("tests/tools/schema_check.py"))
        .arg(root().join("schemas/devarch.schema.json"))
        .arg(all.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): run scripts/tools.sh"));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "python jsonschema did not answer (run scripts/tools.sh): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let valid = answer["valid"].as_array().expect("verdicts");
    let mut schema_accepts = vec![true; files.len()];
    for (v, &i) in valid.iter().zip(&owner) {
        schema_accepts[i] &= v.as_bool().unwrap();
    }
    let mut disagreements = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let name = stem(f);
        let binary = binary_accepts(f);
        let schema = schema_accepts[i];
        let expected_good = name.starts_with("good-");
        if let Some((_, why)) = CROSS_DOCUMENT.iter().find(|(n, _)| *n == name) {
            assert!(
                schema && !binary,
                "{name} ({why}): schema {schema}, binary {binary}"
            );
            continue;
        }
        if schema != binary || binary != expected_good {
            disagreements.push(format!(
                "{name}: schema {}, devarch validate {}",
                if schema { "accepts" } else { "refuses" },
                if binary { "accepts" } else { "refuses" }
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}

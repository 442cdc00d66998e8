//! The editor experience of a folder made by `devarch init`, judged by the real
//! yaml-language-server (pinned in tests/tools/package.json) driven over LSP by
//! tests/tools/lsp-session.js, configured with the `yaml.schemas` settings init wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

fn tools() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools")
}

/// Run one LSP session; fails (never skips) when the tools are missing.
fn lsp_session(request: &Value) -> Value {
    let server = tools().join("node_modules/.bin/yaml-language-server");
    assert!(
        server.exists(),
        "{} is missing: run scripts/tools.sh to install the test tools",
        server.display()
    );
    let req = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(req.path(), request.to_string()).unwrap();
    let out = Command::new("node")
        .arg(tools().join("lsp-session.js"))
        .arg(req.path())
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): run scripts/tools.sh to install it"));
    assert!(
        out.status.success(),
        "lsp-session failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "lsp-session printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// A folder made by `devarch init` in a fresh temporary folder.
fn init_folder() -> (tempfile::TempDir, PathBuf) {
    // Not under a hidden folder (tempfile's default `.tmpXXXX`): yaml-language-server's `**`
    // glob does not enter hidden folders, like VS Code's.
    let tmp = tempfile::Builder::new()
        .prefix("devarch-editor-")
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("devarch");
    let out = Command::new(env!("CARGO_BIN_EXE_devarch"))
        .args(["init", "--template", "postgres,redis"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (tmp, dir)
}

/// The LSP settings init's `.vscode/settings.json` amounts to (VS Code sends `yaml.*`
/// settings as the `yaml` section).
fn settings(dir: &Path) -> Value {
    let vscode: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(".vscode/settings.json")).unwrap())
            .unwrap();
    json!({"yaml": {
        "schemas": vscode["yaml.schemas"],
        "validate": true,
        "completion": true,
        "hover": true,
    }})
}

fn labels(items: &Value) -> Vec<&str> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect()
}

#[test]
fn a_mistake_in_the_second_document_is_reported_in_place() {
    let (_tmp, dir) = init_folder();
    let file = dir.join("stack.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    // The second document is the Instance "postgres": misspell one of its fields.
    let broken = text.replacen("  template: postgres\n", "  templat: postgres\n", 1);
    assert_ne!(broken, text);
    let line = broken
        .lines()
        .position(|l| l == "  templat: postgres")
        .unwrap();
    let second_doc_start = broken.lines().position(|l| l == "---").unwrap();
    assert!(line > second_doc_start);
    let path = file.display().to_string();
    let out = lsp_session(&json!({
        "root": dir,
        "settings": settings(&dir),
        "open": [{"path": path, "text": broken}],
        "diagnose": [path],
        "complete": [],
    }));
    let diags = out["diagnostics"][&path]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        diags
            .iter()
            .any(|d| d["range"]["start"]["line"] == json!(line)
                && d["message"].as_str().unwrap().contains("templat")),
        "no diagnostic at line {line} for `templat`: {diags:#?}"
    );
    // The first document is fine; nothing is reported there.
    assert!(
        diags
            .iter()
            .all(|d| d["range"]["start"]["line"].as_u64().unwrap() > second_doc_start as u64),
        "{diags:#?}"
    );
}

#[test]
fn completion_in_an_instance_offers_its_fields_only() {
    let (_tmp, dir) = init_folder();
    // A new file (no modeline: the settings' glob applies the schema), an Instance in its
    // second document, the cursor on a fresh line of its spec, and one in a port.
    let path = dir.join("web.yaml").display().to_string();
    let text = [
        "apiVersion: devarch.io/v1alpha1",
        "kind: Stack",
        "metadata:",
        "  name: web",
        "---",
        "apiVersion: devarch.io/v1alpha1",
        "kind: Instance",
        "metadata:",
        "  name: site",
        "spec:",
        "  stack: web",
        "  template: nginx",
        "  ",
        "  ports:",
        "    - ",
        "",
    ]
    .join("\n");
    let spec_line = 12;
    let port_line = 14;
    let out = lsp_session(&json!({
        "root": dir,
        "settings": settings(&dir),
        "open": [{"path": path, "text": text}],
        "diagnose": [],
        "complete": [
            {"path": path, "line": spec_line, "character": 2},
            {"path": path, "line": port_line, "character": 6},
        ],
    }));
    let spec = labels(&out["completions"][0]);
    for field in ["env", "image", "dependsOn", "volumes"] {
        assert!(spec.contains(&field), "no `{field}` offered: {spec:?}");
    }
    for other in ["instances", "enabled", "spec", "kind"] {
        assert!(
            !spec.contains(&other),
            "`{other}` (another kind's field) offered in an Instance: {spec:?}"
        );
    }
    // Snippets insert valid values: no `0` below a minimum, no `null`.
    let port = out["completions"][1].as_array().unwrap();
    let insert = |label: &str| {
        port.iter()
            .find(|i| i["label"] == label)
            .unwrap_or_else(|| panic!("no `{label}` offered in a port: {port:?}"))["insertText"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let container = insert("container");
    assert!(
        !container.contains(":0}") && !container.ends_with(" 0"),
        "{container}"
    );
    for label in ["host", "hostIp"] {
        let text = insert(label);
        assert!(!text.contains("null"), "`{label}` inserts {text:?}");
    }
}

//! Terminal escape injection (issue 9, item 9): control characters, C1 codes and bidi
//! overrides carried by a manifests folder (descriptions, images, an unknown field's name, a
//! file's name and its text) never reach the terminal raw from `validate`, `get`, `plan` or
//! `describe`; they are shown escaped (`\u{1b}`). The fixtures are under
//! `tests/fixtures/hostile/`; the hostile file name is made by the test.

mod common;

use std::path::Path;
use std::process::Command;

use common::Env;

/// Characters that must never reach the terminal from input.
const RAW: [char; 6] = ['\u{1b}', '\u{7}', '\u{9b}', '\u{202e}', '\u{2066}', '\r'];

/// Asserts `text` (one output stream of `what`) holds none of [`RAW`] and shows the escaped
/// ESC instead.
fn assert_escaped(what: &str, text: &str) {
    for c in RAW {
        assert!(
            !text.contains(c),
            "{what}: raw {c:?} reached the terminal:\n{text:?}"
        );
    }
    assert!(
        text.contains("\\u{1b}"),
        "{what}: the escaped ESC is not shown:\n{text}"
    );
}

fn devarch(dir: &Path, mode: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_devarch"))
        .arg("--dir")
        .arg(dir)
        .args(args)
        .env_remove("DEVARCH_DIR")
        .env_remove("DEVARCH_HOME")
        .env("DEVARCH_DIAGNOSTICS", mode)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    )
}

#[test]
fn diagnostics_escape_field_names_file_names_and_snippets() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["raw.yaml", "field.yaml"] {
        std::fs::copy(
            Path::new("tests/fixtures/hostile/escapes-bad").join(f),
            dir.path().join(f),
        )
        .unwrap();
    }
    // A file name carrying an OSC sequence, a CSI and a bidi override.
    std::fs::write(
        dir.path().join("name\u{1b}]0;file-title\u{7}\u{9b}\u{202e}.yaml"),
        "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {name: named}\nspec: {imagee: x}\n",
    )
    .unwrap();
    for mode in ["plain", "fancy"] {
        let (code, out, err) = devarch(dir.path(), mode, &["validate"]);
        assert_eq!(code, 1, "{mode}: {err}");
        assert_escaped(&format!("validate ({mode}) stderr"), &err);
        assert!(out.is_empty(), "{out}");
        // Each hostile input is named, escaped: the field, the file name, the file's text
        // (miette wraps long lines: the fancy form is checked on shorter pieces).
        let shown: &[&str] = if mode == "plain" {
            &[
                "unknown field `\\u{1b}]0;field-title\\u{7}\\u{202e}`",
                "name\\u{1b}]0;file-title\\u{7}\\u{9b}\\u{202e}.yaml",
            ]
        } else {
            &[
                "unknown field `\\u{1b}]0;field-",
                "name\\u{1b}]0;file-title\\u{7}\\u{9b}\\u{202e}.yaml",
            ]
        };
        for shown in shown {
            assert!(err.contains(shown), "{mode}: {shown} not in\n{err}");
        }
        if mode == "fancy" {
            assert!(
                err.contains("# \\u{1b}]0;raw-title\\u{7} \\u{1b}[2K\\u{d}"),
                "the snippet of raw.yaml is not shown escaped:\n{err}"
            );
        }
    }
}

/// The valid fixture, with a unique stack name, written into `dir`.
fn write_good(dir: &Path, stack: &str) {
    let text = std::fs::read_to_string("tests/fixtures/hostile/escapes/stack.yaml").unwrap();
    std::fs::write(dir.join("stack.yaml"), text.replace("STACK", stack)).unwrap();
}

#[test]
fn get_escapes_descriptions_and_images() {
    let dir = tempfile::tempdir().unwrap();
    write_good(dir.path(), "esc-get");
    for what in ["stacks", "instances", "templates"] {
        let (code, out, err) = devarch(dir.path(), "plain", &["get", what]);
        assert_eq!(code, 0, "get {what}: {err}");
        assert_escaped(&format!("get {what}"), &out);
        for c in RAW {
            assert!(!err.contains(c), "get {what} stderr: {err:?}");
        }
        // JSON stays JSON: serde escapes the control characters itself.
        let (_, json, _) = devarch(dir.path(), "plain", &["get", what, "-o", "json"]);
        assert!(!json.contains('\u{1b}'), "{json:?}");
        serde_json::from_str::<serde_json::Value>(&json).unwrap();
    }
}

fn plan_and_describe_escape_input(env: Env) {
    let stack = format!("esc-{}", common::unique());
    write_good(env.dir.path(), &stack);
    let (out, err) = env.expect(&["plan"], 2);
    assert_escaped("plan stdout", &out);
    assert!(
        out.contains("(devarch-fixture/busybox:1\\u{1b}[2K\\u{d}\\u{9b}31m)"),
        "{out}"
    );
    for c in RAW {
        assert!(!err.contains(c), "plan stderr: {err:?}");
    }
    let (out, err) = env.expect(&["describe", "stack", &stack], 0);
    assert_escaped("describe stdout", &out);
    assert!(
        out.contains("desc \\u{1b}]0;pwned-title\\u{7}\\u{1b}[2K\\u{d}\\u{2066}x"),
        "{out}"
    );
    for c in RAW {
        assert!(!err.contains(c), "describe stderr: {err:?}");
    }
}

engine_tests!(plan_and_describe_escape_input);

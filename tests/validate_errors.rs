//! Every class of bad input under `tests/fixtures/bad/<case>/` is reported with file, line
//! and column. Each case snapshots the plain diagnostics (`file:line:col: error: message`
//! blocks, as `devarch validate` prints them with `DEVARCH_DIAGNOSTICS=plain`).
//!
//! Folders are loaded by relative path (cargo runs integration tests from the package
//! root), so the paths in the snapshots are stable. Update the snapshots with
//! `INSTA_UPDATE=always cargo test --test validate_errors`, then read every changed
//! `.snap` against its fixture.

use std::path::Path;
use std::time::{Duration, Instant};

use devarch::manifests::diagnostics::Diagnostic;
use devarch::workspace::Workspace;

fn fixture(case: &str) -> String {
    format!("tests/fixtures/bad/{case}")
}

fn load(dir: &str) -> Workspace {
    Workspace::load(Path::new(dir)).unwrap_or_else(|e| panic!("{dir}: {e}"))
}

/// Paths with `/` separators on every platform.
fn slashes(s: String) -> String {
    if cfg!(windows) {
        s.replace('\\', "/")
    } else {
        s
    }
}

/// The plain rendering of every diagnostic, one block per diagnostic.
fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| slashes(d.to_string()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Load a bad fixture, check the basics every diagnostic must meet, and return them.
fn diagnostics_of(case: &str) -> Vec<Diagnostic> {
    let dir = fixture(case);
    let ws = load(&dir);
    assert!(!ws.is_valid(), "{case}: expected at least one diagnostic");
    for d in &ws.diagnostics {
        assert!(
            d.file.starts_with(&dir),
            "{case}: diagnostic outside the fixture: {d}"
        );
        let pos = d
            .pos
            .unwrap_or_else(|| panic!("{case}: diagnostic without a position: {d}"));
        assert!(pos.line >= 1 && pos.column >= 1, "{case}: {d}");
    }
    ws.diagnostics
}

macro_rules! bad_case {
    ($test:ident, $case:literal) => {
        #[test]
        fn $test() {
            let diags = diagnostics_of($case);
            insta::assert_snapshot!($case, render(&diags));
        }
    };
}

bad_case!(yaml_syntax, "yaml-syntax");
bad_case!(duplicate_key, "duplicate-key");
bad_case!(unknown_field, "unknown-field");
bad_case!(wrong_type, "wrong-type");
bad_case!(missing_required, "missing-required");
bad_case!(bad_names, "bad-names");
bad_case!(duplicate_names, "duplicate-names");
bad_case!(unknown_stack, "unknown-stack");
bad_case!(unknown_template, "unknown-template");
bad_case!(depends_cycle, "depends-cycle");
bad_case!(config_path, "config-path");
bad_case!(runtime_name_container, "runtime-name-container");
bad_case!(runtime_name_volume, "runtime-name-volume");
bad_case!(apply_time_values, "apply-time-values");
bad_case!(duplicate_port_and_target, "duplicate-port-and-target");
bad_case!(host_port_twice, "host-port-twice");
bad_case!(yaml_1_2_typing, "yaml-1.2-typing");
bad_case!(deep_nesting, "deep-nesting");
bad_case!(missing_import, "missing-import");
bad_case!(ambiguous_import, "ambiguous-import");
bad_case!(non_mapping, "non-mapping");
bad_case!(unknown_kind, "unknown-kind");
bad_case!(wrong_api_version, "wrong-api-version");
bad_case!(multi_error, "multi-error");
bad_case!(enum_values, "enum-values");
bad_case!(dependency_forms, "dependency-forms");
bad_case!(duration_and_memory_bounds, "duration-and-memory-bounds");
bad_case!(number_bounds, "number-bounds");
bad_case!(short_form_values, "short-form-values");
bad_case!(independent_mistakes, "independent-mistakes");
bad_case!(missing_image, "missing-image");
bad_case!(compose_paste, "compose-paste");
bad_case!(domain_twice, "domain-twice");
bad_case!(bad_domains, "bad-domains");
bad_case!(schema_error_and_wiring, "schema-error-and-wiring");
bad_case!(reserved_labels, "reserved-labels");

/// "Fails fast": well under what an unbounded parse of these inputs would take, with room
/// for a busy 2-core machine running tests in parallel.
const FAST: Duration = Duration::from_secs(10);

#[test]
fn alias_bomb_fails_fast_with_a_clear_error() {
    // Warm up the built-in catalog and the schema validators so only the bomb is timed.
    assert!(load("tests/fixtures/bad/unknown-field").diagnostics.len() == 1);
    let start = Instant::now();
    let diags = diagnostics_of("alias-bomb");
    let elapsed = start.elapsed();
    // The limits are counts, so the time only shows there is no blow-up (an expanded bomb
    // would take hours and gigabytes); the bound leaves room for a loaded 2-core CI machine.
    assert!(elapsed < FAST, "alias bomb took {elapsed:?}");
    assert_eq!(diags.len(), 1, "{}", render(&diags));
    assert!(diags[0].message.contains("alias"), "{}", diags[0]);
    insta::assert_snapshot!("alias-bomb", render(&diags));
}

#[test]
fn deep_nesting_fails_fast() {
    let start = Instant::now();
    diagnostics_of("deep-nesting");
    assert!(start.elapsed() < FAST, "took {:?}", start.elapsed());
}

#[test]
fn oversized_file_is_refused_before_parsing() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = String::from(
        "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata:\n  name: big\n  annotations:\n",
    );
    let mut i = 0;
    while text.len() <= 1024 * 1024 + 10 {
        text.push_str(&format!("    note-{i:07}: \"{}\"\n", "x".repeat(100)));
        i += 1;
    }
    std::fs::write(tmp.path().join("big.yaml"), &text).unwrap();
    // A valid sibling still loads: one oversized file does not stop the folder.
    std::fs::write(
        tmp.path().join("small.yaml"),
        "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {name: small}\n",
    )
    .unwrap();
    let start = Instant::now();
    let ws = load(tmp.path().to_str().unwrap());
    assert!(start.elapsed() < FAST, "took {:?}", start.elapsed());
    let prefix = format!("{}/", tmp.path().display());
    let shown = render(&ws.diagnostics).replace(&prefix, "<tmp>/");
    assert_eq!(
        shown,
        format!(
            "<tmp>/big.yaml: error: file is {} bytes, over the 1048576 byte limit for a manifest",
            text.len()
        )
    );
    assert!(ws.set.broken_files.contains(&tmp.path().join("big.yaml")));
    assert!(ws.stacks.contains_key("small"));
    assert!(!ws.model.stacks.contains_key("big"));
}

#[test]
fn every_error_of_a_multi_error_file_is_reported_at_once() {
    let diags = diagnostics_of("multi-error");
    assert!(diags.len() >= 3, "{}", render(&diags));
    let lines: std::collections::BTreeSet<u32> =
        diags.iter().filter_map(|d| d.pos).map(|p| p.line).collect();
    assert_eq!(lines.len(), diags.len(), "one error per line expected");
}

#[test]
fn duplicate_names_point_at_both_files() {
    let diags = diagnostics_of("duplicate-names");
    assert_eq!(diags.len(), 1);
    let d = &diags[0];
    assert!(d.file.ends_with("b.yaml"));
    assert_eq!(d.related.len(), 1);
    assert!(d.related[0].file.ends_with("a.yaml"));
}

#[test]
fn unknown_field_suggests_the_right_name() {
    let diags = diagnostics_of("unknown-field");
    assert_eq!(diags[0].help.as_deref(), Some("did you mean `image`?"));
}

#[test]
fn ambiguous_import_names_every_candidate() {
    let diags = diagnostics_of("ambiguous-import");
    assert!(diags[0].message.contains("primary"));
    assert!(diags[0].message.contains("replica"));
}

#[test]
fn the_binary_prints_the_same_plain_diagnostics() {
    let case = "multi-error";
    let expected = render(&diagnostics_of(case));
    let out = assert_cmd::Command::cargo_bin("devarch")
        .unwrap()
        .env("DEVARCH_DIAGNOSTICS", "plain")
        .env_remove("DEVARCH_DIR")
        .args(["--dir", &fixture(case), "validate"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = slashes(String::from_utf8(out.stderr).unwrap());
    assert!(
        stderr.starts_with(&format!("{expected}\n")),
        "stderr:\n{stderr}\nexpected:\n{expected}"
    );
}

#[test]
fn colliding_runtime_names_fail_validate_naming_both_files() {
    let out = assert_cmd::Command::cargo_bin("devarch")
        .unwrap()
        .env("DEVARCH_DIAGNOSTICS", "plain")
        .env_remove("DEVARCH_DIR")
        .args(["--dir", &fixture("runtime-name-container"), "validate"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    let stderr = slashes(String::from_utf8(out.stderr).unwrap());
    for needle in [
        "runtime-name-container/a-b.yaml:8:5: error: the container of a-b/c would be named devarch-a-b-c",
        "runtime-name-container/a.yaml:8:5: note: the container of a/b-c is defined here",
    ] {
        assert!(stderr.contains(needle), "{needle}\nstderr:\n{stderr}");
    }
}
bad_case!(late_failures, "late-failures");

//! Property tests: whatever text is in a manifest file, loading, validating and resolving it
//! never panics (bad input is always a diagnostic), and every diagnostic can be rendered.

use std::path::PathBuf;

use devarch::catalog;
use devarch::manifests::diagnostics::Diagnostic;
use devarch::manifests::load::{ManifestSet, load_text};
use devarch::manifests::validate::build_model;
use devarch::resolve::resolve;
use proptest::prelude::*;

/// Run the whole pipeline on some files' texts; returns every diagnostic.
fn pipeline(texts: &[String]) -> Vec<Diagnostic> {
    let mut set = ManifestSet::default();
    let mut diags = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        load_text(
            &mut set,
            &mut diags,
            PathBuf::from(format!("fuzz/{i}.yaml")),
            text.as_str().into(),
        );
    }
    let (model, more) = build_model(&set, catalog::templates());
    diags.extend(more);
    let (_stacks, more) = resolve(&model);
    diags.extend(more);
    for d in &diags {
        let _ = d.to_string();
        if let Some(report) = d.to_report(&set.sources) {
            let _ = format!("{report:?}");
        }
    }
    diags
}

const TOKENS: &[&str] = &[
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "<<: ",
    "---\n",
    "...\n",
    "\n",
    "\n  ",
    "\n    ",
    " ",
    "  ",
    "\t",
    "#",
    "'",
    "\"",
    "|\n",
    ">-\n",
    "!!str ",
    "!tag ",
    "?",
    "null",
    "~",
    "no",
    "yes",
    "0755",
    "0o17",
    "1e999",
    ".nan",
    "-1",
    "70000",
    "é",
    "\u{feff}",
    "kind: Stack\n",
    "kind: Instance\n",
    "kind: Template\n",
    "apiVersion: devarch.io/v1alpha1\n",
    "metadata:",
    "metadata: {name: s}\n",
    "name: ",
    "spec:",
    "spec: {stack: s, template: redis}\n",
    "instances:",
    "template: ",
    "postgres",
    "django",
    "redis",
    "db",
    "web",
    "env:",
    "ports:",
    "volumes:",
    "dependsOn:",
    "wires:",
    "exports:",
    "imports:",
    "container: ",
    "host: ",
    "target: ",
    "\"8080:80\"",
    "\"data:/data\"",
    "{{host}}",
    "{secret: pw}",
];

fn token_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..80).prop_map(|t| t.concat())
}

/// Valid manifests (one deliberate semantic problem: host port 8080 claimed twice), the
/// starting point of [`mutated_manifest`].
const BASE: &str = r#"apiVersion: devarch.io/v1alpha1
kind: Stack
metadata:
  name: blog
spec:
  instances:
    db: {template: postgres}
    web:
      template: django
      env: {DEBUG: "1", DB_HOST: null}
      ports: ["8080:8000", {container: 9000, host: auto}]
      volumes: ["data:/data"]
      dependsOn: [db]
      wires: {database: db}
---
apiVersion: devarch.io/v1alpha1
kind: Instance
metadata: {name: cache}
spec: {stack: blog, template: redis, ports: ["8080:6379"]}
---
apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: box}
spec:
  image: busybox
  command: "sh -c 'x'"
  dependsOn: [{name: web, condition: healthy}]
  exports: [{name: e, type: postgres, port: 1, attributes: {user: u}}]
  imports: [{name: i, type: redis, env: {X: "{{host}}:{{nope}}"}}]
"#;

/// [`BASE`] with a few tokens spliced in at random places: gets past the parser often
/// enough to exercise the schema, semantic and resolve stages.
fn mutated_manifest() -> impl Strategy<Value = String> {
    prop::collection::vec((0..BASE.len(), prop::sample::select(TOKENS)), 1..6).prop_map(|edits| {
        let mut s = BASE.to_string();
        for (at, tok) in edits {
            let mut at = at.min(s.len());
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            s.insert_str(at, tok);
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        pipeline(&[String::from_utf8_lossy(&bytes).into_owned()]);
    }

    #[test]
    fn arbitrary_strings_never_panic(text in ".{0,256}") {
        pipeline(&[text]);
    }

    #[test]
    fn yaml_ish_token_soup_never_panics(a in token_text(), b in token_text()) {
        pipeline(&[a, b]);
    }

    #[test]
    fn mutated_manifests_never_panic(a in mutated_manifest(), b in mutated_manifest()) {
        pipeline(&[a, b]);
    }
}

#[test]
fn the_base_manifest_reaches_resolve() {
    // Sanity check of the strategy: unmutated, BASE parses, validates and fails only in
    // resolve, so small mutations exercise every stage.
    let diags = pipeline(&[BASE.to_string()]);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(
        diags[0].message.contains("host port 8080/tcp"),
        "{}",
        diags[0]
    );
}

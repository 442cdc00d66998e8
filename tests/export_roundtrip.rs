//! `devarch export` round trips (issue #12, section 3): export → the file an import into an
//! empty folder writes → export gives the same bytes, and the imported stack means the same
//! (every instance's effective config and wires), for every example and for generated stacks.

use devarch::export::export;
use devarch::workspace::Workspace;
use proptest::prelude::*;

/// Exports `stack` of `ws`, "imports" it into an empty folder (an import writes the file as it
/// is there), and returns both exports and both workspaces' view of the stack.
fn round_trip(ws: &Workspace, stack: &str) -> (String, String, Workspace) {
    let first = export(ws, stack).expect("export");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(format!("{stack}.yaml")), &first).unwrap();
    let imported = Workspace::load(dir.path()).unwrap();
    assert!(
        imported.is_valid(),
        "the export does not load back: {:?}\n{first}",
        imported.diagnostics
    );
    let second = export(&imported, stack).expect("second export");
    (first, second, imported)
}

/// The stack's meaning: each instance's effective config, environment and wires.
fn meaning(ws: &Workspace, stack: &str) -> String {
    let s = &ws.stacks[stack];
    let per: Vec<String> = s
        .instances
        .values()
        .map(|i| {
            let wires: Vec<(String, String)> = i
                .wires
                .iter()
                .map(|w| (w.import.clone(), w.provider.clone()))
                .collect();
            format!(
                "{} {} {} {} {:?}",
                i.name,
                i.template,
                serde_json::to_string(&i.spec).unwrap(),
                serde_json::to_string(&i.env).unwrap(),
                wires
            )
        })
        .collect();
    format!("{} {:?} {}", s.enabled, s.description, per.join("\n"))
}

#[test]
fn every_example_round_trips_byte_for_byte() {
    let mut seen = 0;
    for entry in std::fs::read_dir("examples").unwrap() {
        let dir = entry.unwrap().path();
        let ws = Workspace::load(&dir).unwrap();
        assert!(ws.is_valid(), "{}", dir.display());
        for stack in ws.stacks.keys() {
            let (first, second, imported) = round_trip(&ws, stack);
            assert_eq!(first, second, "{}/{stack}", dir.display());
            assert_eq!(meaning(&ws, stack), meaning(&imported, stack));
            seen += 1;
        }
    }
    assert!(seen >= 5, "{seen} stacks");
}

/// A generated folder: a template of its own and a stack whose instances use it and the
/// built-in ones, with awkward strings.
fn folder() -> impl Strategy<Value = String> {
    let text = prop_oneof![
        "[a-z]{1,8}",
        Just("yes".to_string()),
        Just("0644".to_string()),
        Just("a: b # c".to_string()),
        Just("it's \"quoted\"".to_string()),
        Just("line\nbreak".to_string()),
        Just("${x} $$ {{host}}".to_string()),
        Just("ünïcødé ✓".to_string()),
    ];
    let env = prop::collection::btree_map("[A-Z][A-Z0-9_]{0,6}", text.clone(), 0..4);
    let instance = (
        prop::sample::select(vec!["redis", "nginx", "mine", "memcached"]),
        env,
        prop::option::of(0.5f64..2.0),
        any::<bool>(),
    );
    (
        prop::collection::btree_map("[a-z][a-z0-9]{0,5}", instance, 1..5),
        prop::option::of(text),
        any::<bool>(),
    )
        .prop_map(|(instances, description, enabled)| {
            let mut out = String::from(
                "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {name: mine}\nspec:\n  image: devarch-fixture/busybox:1\n  command: [sh, -c, \"sleep 1\"]\n  env: {A: \"1\"}\n  configFiles: [{path: /etc/mine.conf, content: \"x: 1\\n\", mode: \"0640\"}]\n---\n",
            );
            out.push_str("apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {name: gen}\nspec:\n");
            if let Some(d) = description {
                out.push_str(&format!("  description: {}\n", serde_json::to_string(&d).unwrap()));
            }
            out.push_str(&format!("  enabled: {enabled}\n  instances:\n"));
            for (name, (template, env, cpus, hostname)) in instances {
                out.push_str(&format!("    {name}:\n      template: {template}\n"));
                if !env.is_empty() {
                    out.push_str(&format!("      env: {}\n", serde_json::to_string(&env).unwrap()));
                }
                if let Some(c) = cpus {
                    out.push_str(&format!("      resources: {{cpus: {c:.2}}}\n"));
                }
                if hostname {
                    out.push_str("      labels: {team: \"a b\"}\n");
                }
            }
            out
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_stacks_round_trip_byte_for_byte(text in folder()) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("s.yaml"), &text).unwrap();
        let ws = Workspace::load(dir.path()).unwrap();
        prop_assume!(ws.is_valid());
        let (first, second, imported) = round_trip(&ws, "gen");
        prop_assert_eq!(&first, &second);
        prop_assert_eq!(meaning(&ws, "gen"), meaning(&imported, "gen"));
        let uses_mine = ws.stacks["gen"].instances.values().any(|i| i.template == "mine");
        prop_assert_eq!(first.contains("kind: Template"), uses_mine, "the folder's template travels when used");
    }
}

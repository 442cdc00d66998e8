//! `devarch import` on Docker and Podman (issue #12, section 3): a stack file becomes
//! `STACK.yaml` in the folder with the plan and the secrets to set; an import it wrote is
//! updated (instances kept unless `--prune`); a malformed or hostile file is refused with
//! nothing written.

mod common;

use common::{Env, unique};

engine_tests!(
    import_writes_the_stack_lists_missing_secrets_and_updates_what_it_wrote,
    hostile_or_colliding_files_are_refused_and_nothing_is_written,
    an_export_imports_under_another_name_next_to_its_original,
);

fn exported(stack: &str, instances: &str) -> String {
    format!(
        "# devarch export of stack {stack}\n---\napiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata:\n  name: {stack}\nspec:\n  instances:\n{instances}---\napiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata:\n  name: idle\nspec:\n  image: devarch-fixture/busybox:1\n  command: [sh, -c, \"trap 'exit 0' TERM INT; sleep 3600 & wait\"]\n"
    )
}

/// The folder's manifest files, sorted.
fn files(env: &Env) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn import_writes_the_stack_lists_missing_secrets_and_updates_what_it_wrote(env: Env) {
    let s = format!("im{}", unique());
    let file = env.home.path().join("stack.yml");
    std::fs::write(
        &file,
        exported(
            &s,
            "    app:\n      template: idle\n      env: {KEY: {secret: api_key}}\n    side:\n      template: idle\n",
        ),
    )
    .unwrap();
    let (out, err) = env.expect(&["import", file.to_str().unwrap()], 0);
    assert!(out.contains(&format!("Wrote stack {s} in")), "{out}");
    assert!(
        out.contains(&format!(
            "Secret app/api_key is not set: devarch secret set {s} app/api_key"
        )),
        "{out}"
    );
    // Until it is set there is no plan, and import says why.
    assert!(
        err.contains("the plan cannot be made yet") && err.contains("api_key"),
        "{err}"
    );
    assert_eq!(files(&env), vec![format!("{s}.yaml")]);
    // Updating: the file's instances replace, the folder's others stay unless --prune.
    std::fs::write(
        &file,
        exported(&s, "    app:\n      template: idle\n      env: {KEY: plain}\n    extra:\n      template: idle\n"),
    )
    .unwrap();
    let (out, _) = env.expect(&["import", file.to_str().unwrap()], 0);
    assert!(out.contains(&format!("Updated stack {s}")), "{out}");
    assert!(
        out.contains(&format!("+ container devarch-{s}-extra")),
        "the plan: {out}"
    );
    let (get, _) = env.expect(&["get", "instances"], 0);
    for i in ["app", "extra", "side"] {
        assert!(
            get.lines().any(|l| l.contains(&s) && l.contains(i)),
            "{i}: {get}"
        );
    }
    env.expect(&["import", file.to_str().unwrap(), "--prune"], 0);
    let (get, _) = env.expect(&["get", "instances"], 0);
    assert!(
        !get.lines().any(|l| l.contains(&s) && l.contains("side")),
        "{get}"
    );
    env.expect(&["apply"], 0);
    assert_eq!(env.containers(&format!("devarch-{s}-")).len(), 2);
}

fn hostile_or_colliding_files_are_refused_and_nothing_is_written(env: Env) {
    let s = format!("ih{}", unique());
    let file = env.home.path().join("bad.yml");
    let refused = |text: &str, why: &str| {
        std::fs::write(&file, text).unwrap();
        let (code, out, err) = env.run(&["import", file.to_str().unwrap()]);
        assert_eq!(code, 1, "{why}: {out}\n{err}");
        assert!(err.contains("nothing was imported"), "{why}: {err}");
        assert!(files(&env).is_empty(), "{why}: wrote {:?}", files(&env));
        err
    };
    let big = format!(
        "{}\n# {}\n",
        exported(&s, "    a: {template: idle}\n"),
        "x".repeat(1024 * 1024)
    );
    let err = refused(&big, "oversized");
    assert!(err.contains("larger than"), "{err}");
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
        ));
    }
    refused(&bomb, "alias bomb");
    refused(
        &format!("{}{}\n", "[".repeat(10_000), "]".repeat(10_000)),
        "deep nesting",
    );
    refused(
        &exported(
            &s,
            "    a:\n      template: idle\n      configFiles: [{path: ../../etc/passwd, content: x}]\n",
        ),
        "config file path traversal",
    );
    let err = refused(
        &format!(
            "{}---\n{}",
            exported(&s, "    a: {template: idle}\n"),
            exported("other", "    b: {template: idle2}\n").replace("name: idle", "name: idle2")
        ),
        "two stacks",
    );
    assert!(err.contains("exactly one Stack"), "{err}");

    // Another folder on this engine runs a stack of that name: its names are taken.
    let other = env.other_folder();
    other.write("s.yaml", &exported(&s, "    a: {template: idle}\n"));
    other.expect(&["apply"], 0);
    let err = refused(
        &exported(&s, "    a: {template: idle}\n"),
        "another folder's stack",
    );
    assert!(err.contains("by another devarch folder"), "{err}");

    // A template of the same name that differs from the folder's.
    env.write("t.yaml", "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {name: idle}\nspec: {image: devarch-fixture/busybox:1}\n");
    std::fs::write(&file, exported("fresh", "    a: {template: idle}\n")).unwrap();
    let (code, _, err) = env.run(&["import", file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("differs from the folder's"), "{err}");
    assert_eq!(files(&env), vec!["t.yaml".to_string()]);
}

/// Issue #21: `devarch import FILE --stack NEW` ignored `--stack` for an export, so importing
/// a stack's export next to it failed. It now imports the stack as NEW: its manifests, its
/// name in them and its host names under `*.OLD.localhost` are NEW's.
fn an_export_imports_under_another_name_next_to_its_original(env: Env) {
    let (a, b) = (format!("xa{}", unique()), format!("xb{}", unique()));
    env.write(
        "t.yaml",
        &common::idle_template("srv", "  exports: [{name: http, type: http, port: 8080}]\n"),
    );
    let original = common::stack(
        &a,
        &format!(
            "    web:\n      template: srv\n      domains: [web.{a}.localhost]\n    db: {{template: srv}}\n"
        ),
    );
    env.write("a.yaml", &original);
    let file = env.home.path().join("devarch.yml");
    env.expect(&["export", &a, "-o", file.to_str().unwrap()], 0);

    let (out, err) = env.expect(&["import", file.to_str().unwrap(), "--stack", &b], 0);
    assert!(out.contains(&format!("Wrote stack {b} in")), "{out}\n{err}");
    env.expect(&["validate"], 0);
    let (get, _) = env.expect(&["get", "stacks"], 0);
    for s in [&a, &b] {
        assert!(get.lines().any(|l| l.starts_with(s.as_str())), "{s}: {get}");
    }
    let written = std::fs::read_to_string(env.path(&format!("{b}.yaml"))).unwrap();
    assert!(
        written.starts_with(&format!("# devarch export of stack {b}:")),
        "{written}"
    );
    assert!(written.contains(&format!("web.{b}.localhost")), "{written}");
    assert!(!written.contains(&a), "nothing of {a} is left: {written}");
    assert_eq!(
        std::fs::read_to_string(env.path("a.yaml")).unwrap(),
        original,
        "the original is untouched"
    );
    // The new stack exports as itself.
    let (again, _) = env.expect(&["export", &b], 0);
    assert!(
        again.contains(&format!("name: {b}")) && !again.contains(&a),
        "{again}"
    );
    // A name that is not a stack name is refused before anything is read into the folder.
    let (code, _, err) = env.run(&["import", file.to_str().unwrap(), "--stack", "Bad_Name"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--stack") && err.contains("nothing was imported"),
        "{err}"
    );
}

//! The dashboard in a real browser (issue #13): Debian's chromium, driven headless by
//! playwright-core (tests/tools/dashboard.mjs), against `devarch watch --listen --plan-only` on
//! a real engine: log in through the link, add an instance from the catalog, see the plan
//! diff, apply, watch the status turn Ready, open the logs, edit the instance in the override
//! editor (a problem at its field first), settle an ambiguous import with the wiring picker,
//! clone the stack. Screenshots of each page go to
//! `target/dashboard-screenshots/ENGINE/` (copies in docs/screenshots/, linked from the README).

mod common;

use common::{Env, idle_template, two_stores, unique};

engine_tests!(a_user_adds_an_instance_from_the_catalog_applies_it_and_reads_its_logs,);

fn a_user_adds_an_instance_from_the_catalog_applies_it_and_reads_its_logs(env: Env) {
    let s = format!("db{}", unique());
    env.write(
        "t.yaml",
        &idle_template("talker", "").replace(
            "sleep 3600 & wait",
            "echo hello from the dashboard test; sleep 3600 & wait",
        ),
    );
    let wired = format!("dw{}", unique());
    let clone = format!("{s}c");
    let (templates, wired_stack) = two_stores(&wired);
    env.write("kv.yaml", &templates);
    env.write(&format!("{wired}.yaml"), &wired_stack);
    let w = env.watch(&["--listen", "127.0.0.1:0", "--plan-only"]);
    let link = w.login_link();
    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("../dashboard-screenshots")
        .join(env.engine.name());
    std::fs::create_dir_all(&shots).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools/dashboard.mjs");
    let out = std::process::Command::new("node")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools"))
        .args([
            script,
            &link,
            &s,
            "talker",
            shots.to_str().unwrap(),
            &wired,
            &clone,
        ])
        .output()
        .expect("node (scripts/tools.sh installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim_end().ends_with("ok"),
        "{stdout}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        w.logs()
    );
    for page in [
        "overview",
        "plan",
        "stack-and-logs",
        "editor-problem",
        "editor",
        "wiring",
        "narrow",
    ] {
        let png = shots.join(format!("{page}.png"));
        assert!(
            std::fs::metadata(&png).is_ok_and(|m| m.len() > 1000),
            "{}",
            png.display()
        );
    }
    // What the browser did is what the folder and the engine hold.
    let manifest = std::fs::read_to_string(env.path(&format!("{s}.yaml"))).unwrap();
    assert!(
        manifest.contains("enabled: false"),
        "disabled from the page: {manifest}"
    );
    assert!(
        manifest.contains("GREETING: \"hello from the editor\""),
        "saved from the editor: {manifest}"
    );
    let wiring = std::fs::read_to_string(env.path(&format!("{wired}.yaml"))).unwrap();
    assert!(
        wiring.contains("store: two") && wiring.contains("# keep this comment"),
        "wired from the picker, comments kept: {wiring}"
    );
    let copy = std::fs::read_to_string(env.path(&format!("{clone}.yaml"))).unwrap();
    assert!(copy.contains(&format!("name: {clone}")), "{copy}");
    let app = format!("devarch-{s}-app");
    assert!(env.containers(&app).get(&app).is_some_and(|c| c.1));
    drop(w);
}

//! Property-based tests of the HTTP API from its OpenAPI document (issue #13): schemathesis
//! (PyPI, pinned in tests/tools/requirements.txt) generates requests for every operation
//! against a running `devarch watch --listen` on a real engine, and checks that no response is
//! a server error and every response matches the document.

mod common;

use common::{Env, idle_template, stack, unique};

engine_tests!(schemathesis_finds_no_server_error_and_no_response_off_the_schema,);

fn schemathesis_finds_no_server_error_and_no_response_off_the_schema(env: Env) {
    let s = format!("fz{}", unique());
    env.write("t.yaml", &idle_template("idle", ""));
    env.write("s.yaml", &stack(&s, "    app: {template: idle}\n"));
    // --plan-only: requests create manifests, nothing is started from them.
    let w = env.watch(&["--listen", "127.0.0.1:0", "--plan-only"]);
    let link = w.login_link();
    let base = link.split("/#").next().unwrap().to_string();
    let token = link.split("token=").nth(1).unwrap().to_string();
    let tool = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/tools/venv/bin/schemathesis"
    );
    let out = std::process::Command::new(tool)
        .current_dir(env.home.path())
        .args([
            "run",
            concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json"),
            "--url",
            &base,
            "-H",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "25",
            "--generation-deterministic",
        ])
        .output()
        .expect("schemathesis (scripts/tools.sh installs it)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.contains("generated") && report.contains("passed"),
        "{report}"
    );
    drop(w);
}

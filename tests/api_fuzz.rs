//! The HTTP API judged by third-party tools from its OpenAPI document (issues #13, #22), both
//! pinned in tests/tools/requirements.txt: openapi-spec-validator checks the document against
//! the OpenAPI specification, and schemathesis generates requests for every operation (valid
//! and invalid ones, and sequences of them) against a running `devarch watch --listen` that
//! applies what they write on a real engine, with all of its checks.

mod common;

use common::{Env, idle_template, stack, unique};

const DOCUMENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json");

fn tool(name: &str) -> String {
    format!("{}/tests/tools/venv/bin/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_document_is_valid_openapi() {
    let out = std::process::Command::new(tool("openapi-spec-validator"))
        .arg(DOCUMENT)
        .output()
        .expect("openapi-spec-validator (scripts/tools.sh installs it)");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && report.contains("OK"),
        "{report}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

engine_tests!(schemathesis_with_all_checks_finds_nothing,);

fn schemathesis_with_all_checks_finds_nothing(env: Env) {
    let s = format!("fz{}", unique());
    env.write("t.yaml", &idle_template("idle", ""));
    env.write("s.yaml", &stack(&s, "    app: {template: idle}\n"));
    let w = env.watch(&["--listen", "127.0.0.1:0"]);
    let link = w.login_link();
    let base = link.split("/#").next().unwrap().to_string();
    let token = link.split("token=").nth(1).unwrap().to_string();
    let config = env.home.path().join("schemathesis.toml");
    std::fs::write(&config, config_for(&s)).unwrap();
    let started = std::time::Instant::now();
    let out = std::process::Command::new(tool("schemathesis"))
        .current_dir(env.home.path())
        .args([
            "--config-file",
            config.to_str().unwrap(),
            "run",
            DOCUMENT,
            "--url",
            &base,
            "-H",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "all",
            "--max-examples",
            "15",
            "--generation-deterministic",
            // Longer than devarch waits for the engine (30s), so that a slow engine gets
            // devarch's own answer.
            "--request-timeout",
            "40",
        ])
        .output()
        .expect("schemathesis (scripts/tools.sh installs it)");
    let report = String::from_utf8_lossy(&out.stdout);
    eprintln!("schemathesis took {:.0?}:\n{report}", started.elapsed());
    assert!(
        out.status.success(),
        "{report}\n{}\nthe controller's log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        w.stderr()
    );
    assert!(
        report.contains("generated") && report.contains("passed"),
        "{report}"
    );
    drop(w);
}

/// schemathesis's settings for a folder holding stack `s` (instance `app` of template
/// `idle`): half of the stack, instance and template names it sends are those, so requests
/// reach what lies behind a name that exists (else nearly all would end at a `404`).
///
/// Two operations stream: the events (server-sent events, never ending) are read for 2s, and
/// the logs are not followed (a followed log ends when its container stops, which would leave
/// the fuzzer waiting out its request timeout and counting that an error).
///
/// `max_response_time` keeps its 10s everywhere but on apply and restart, which wait up to 30s
/// for the stack's lock while the controller applies it (and then for the engine to act).
///
/// One setting narrows a check: `positive_data_acceptance` also accepts `422` from the four
/// operations whose body is a manifest (or a whole file of them) checked with the folder
/// before it is written. The document gives the shape of that body, but whether it is valid
/// depends on the folder (the template it names exists, its ports are free, its names clash
/// with no other file's), which no schema of a request can say; the server answers `422` with
/// each problem at its field, the answer the dashboard's editors show.
fn config_for(s: &str) -> String {
    format!(
        r#"[dictionaries.stacks]
values = ["{s}"]

[dictionaries.instances]
values = ["app"]

[dictionaries.templates]
values = ["idle"]

[parameters]
"path.stack" = {{ dictionary = "stacks", probability = 0.5 }}
"path.instance" = {{ dictionary = "instances", probability = 0.5 }}
"body.template" = {{ dictionary = "templates", probability = 0.5 }}

[[operations]]
include-operation-id = ["events"]
request-timeout = 2

[[operations]]
include-operation-id = ["logs"]
parameters = {{ "query.follow" = "false" }}

[[operations]]
include-operation-id = ["apply", "restart"]
checks.max_response_time = 40

[[operations]]
include-operation-id = ["create_stack", "add_instance", "patch_instance", "import"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
"#
    )
}

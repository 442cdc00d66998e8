//! Resource limits on Docker and Podman (issue #11, section 3): what the engine holds is what
//! the manifest says (read back as NanoCpus, Memory and PidsLimit), `describe` shows them, and
//! a change is planned as old → new values.

mod common;

use common::{Env, idle_template, stack, unique};

engine_tests!(limits_reach_the_engine_and_a_change_shows_old_and_new_values,);

/// `NanoCpus Memory PidsLimit` of a container, as the engine's own CLI reports them.
fn host_limits(env: &Env, container: &str) -> String {
    let out = env
        .engine
        .cli()
        .args([
            "inspect",
            "--format",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            container,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn limits_reach_the_engine_and_a_change_shows_old_and_new_values(env: Env) {
    let s = format!("lim{}", unique());
    let c = format!("devarch-{s}-app");
    let write = |resources: &str| {
        env.write(
            "s.yaml",
            &stack(
                &s,
                &format!("    app: {{template: idle, resources: {resources}}}\n"),
            ),
        );
    };
    env.write("t.yaml", &idle_template("idle", ""));
    write("{cpus: 0.5, memory: 64Mi, pids: 100}");
    env.expect(&["apply"], 0);
    assert_eq!(host_limits(&env, &c), "500000000 67108864 100");

    let (out, _) = env.expect(&["describe", "stack", &s], 0);
    assert!(out.contains("cpus 0.5, memory 64Mi, pids 100"), "{out}");
    let (out, _) = env.expect(&["describe", "stack", &s, "-o", "json"], 0);
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        doc["instances"][0]["limits"],
        serde_json::json!({"cpus": "0.5", "memory": "64Mi", "pids": "100"})
    );

    write("{cpus: 1, memory: 128Mi}");
    let (plan, _) = env.expect(&["plan"], 2);
    assert!(
        plan.contains("recreate: cpus 0.5 → 1, memory 64Mi → 128Mi, pids 100 → none"),
        "{plan}"
    );
    let (json, _) = env.expect(&["plan", "-o", "json"], 2);
    assert!(json.contains("\"changes\""), "{json}");
    assert!(
        json.contains("\"old\": \"64Mi\"") || json.contains("\"old\":\"64Mi\""),
        "{json}"
    );
    env.expect(&["apply"], 0);
    let after = host_limits(&env, &c);
    let fields: Vec<&str> = after.splitn(3, ' ').collect();
    assert_eq!(fields[..2], ["1000000000", "134217728"], "{after}");
    // Unset: Docker reports no limit (`<no value>`); Podman applies its own default.
    assert_ne!(fields[2], "100", "{after}");
    env.expect(&["plan"], 0);
}

//! `devarch stack clone|rename|enable|disable` on Docker and Podman (issue #12, section 4):
//! edits that keep the user's comments, a clone running next to its original, a rename that
//! carries volume data and secrets over, and disable/enable keeping the same containers.

mod common;

use common::{Env, unique};

engine_tests!(
    a_clone_runs_next_to_the_original_with_its_own_ports_and_secrets,
    a_rename_keeps_the_volume_data_and_the_secrets,
    disable_stops_without_removing_and_enable_restarts_the_same_containers,
    restart_restarts_running_containers_in_place_and_waits_for_health,
    a_clone_moves_the_host_names_of_its_own_space_and_refuses_others,
);

/// A commented file: a template keeping data in a volume, a stack with an inline instance,
/// and a separate Instance document.
fn manifests(stack: &str) -> String {
    format!(
        r#"# Team stack: keep these comments
apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {{name: keep}}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; sleep 3600 & wait"]
  volumes: [{{name: data, target: /data}}]
  ports: [{{container: 8080, host: auto}}]
  env: {{PW: {{secret: pw, generate: true}}}}
---
apiVersion: devarch.io/v1alpha1
kind: Stack
metadata:
  name: {stack}   # the stack's name
spec:
  description: verbs
  instances:
    app: {{template: keep}}
---
# a separate instance
apiVersion: devarch.io/v1alpha1
kind: Instance
metadata: {{name: side}}
spec: {{stack: {stack}, template: keep}}
"#
    )
}

fn a_clone_runs_next_to_the_original_with_its_own_ports_and_secrets(env: Env) {
    let (a, b, c) = (
        format!("va{}", unique()),
        format!("vb{}", unique()),
        format!("vc{}", unique()),
    );
    env.write("s.yaml", &manifests(&a));
    env.expect(&["apply"], 0);
    let (out, _) = env.expect(&["stack", "clone", &a, &b], 0);
    assert!(
        out.contains(&format!("+ container devarch-{b}-app")),
        "{out}"
    );
    let clone = std::fs::read_to_string(env.path(&format!("{b}.yaml"))).unwrap();
    assert!(
        clone.contains(&format!("name: {b}   # the stack's name")),
        "{clone}"
    );
    assert!(clone.contains("# a separate instance"), "{clone}");
    assert!(
        !clone.contains("kind: Template"),
        "templates are shared: {clone}"
    );
    env.expect(&["stack", "clone", &a, &c, "--with-secrets"], 0);
    env.expect(&["apply"], 0);
    let running = env.containers("devarch-");
    for s in [&a, &b, &c] {
        for i in ["app", "side"] {
            let name = format!("devarch-{s}-{i}");
            assert!(running.get(&name).is_some_and(|c| c.1), "{name} runs");
        }
    }
    let pw = |s: &str| env.sh(&format!("devarch-{s}-app"), "printf %s \"$PW\"");
    assert_ne!(pw(&a), pw(&b), "a clone generates its own secrets");
    assert_eq!(pw(&a), pw(&c), "--with-secrets copies them");
    let port = |s: &str| {
        let out = env
            .engine
            .cli()
            .args(["port", &format!("devarch-{s}-app"), "8080/tcp"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    };
    assert_ne!(port(&a), port(&b));
    // The original is untouched, and cloning onto an existing name is refused.
    assert_eq!(
        std::fs::read_to_string(env.path("s.yaml")).unwrap(),
        manifests(&a)
    );
    let (code, _, err) = env.run(&["stack", "clone", &a, &b]);
    assert_eq!(code, 1);
    assert!(err.contains(&format!("a stack \"{b}\" already")), "{err}");
}

fn a_rename_keeps_the_volume_data_and_the_secrets(env: Env) {
    let (old, new) = (format!("ro{}", unique()), format!("rn{}", unique()));
    env.write("s.yaml", &manifests(&old));
    env.expect(&["apply"], 0);
    let app = format!("devarch-{old}-app");
    env.sh(
        &app,
        "echo precious > /data/f && chown 101:102 /data/f && chmod 640 /data/f && echo done",
    );
    let pw = env.sh(&app, "printf %s \"$PW\"");

    let (out, err) = env.expect(&["stack", "rename", &old, &new], 0);
    assert!(
        out.contains(&format!("Stack {old} is now {new}.")),
        "{out}\n{err}"
    );
    // Only the names changed in the file: comments and layout stay.
    assert_eq!(
        std::fs::read_to_string(env.path("s.yaml")).unwrap(),
        manifests(&new)
    );
    let renamed = format!("devarch-{new}-app");
    assert_eq!(env.sh(&renamed, "cat /data/f"), "precious\n");
    assert_eq!(
        env.sh(&renamed, "stat -c '%u:%g %a' /data/f"),
        "101:102 640\n"
    );
    assert_eq!(
        env.sh(&renamed, "printf %s \"$PW\""),
        pw,
        "the secret moved"
    );
    assert!(env.containers(&format!("devarch-{old}-")).is_empty());
    assert!(env.networks(&format!("devarch-{old}-")).is_empty());
    assert_eq!(
        env.volumes(&format!("devarch-{old}-")).len(),
        2,
        "old volumes kept until purged"
    );
    env.expect(&["plan"], 0);
    // A purge of the old name removes what is left of it.
    env.expect(&["delete", &old, "--purge-volumes"], 0);
    assert!(env.volumes(&format!("devarch-{old}-")).is_empty());
    assert_eq!(env.volumes(&format!("devarch-{new}-")).len(), 2);
    // A name the folder has is refused, with nothing changed.
    let other = format!("ox{}", unique());
    env.write(
        "o.yaml",
        &manifests(&other)
            .replace("name: keep", "name: keep2")
            .replace("template: keep", "template: keep2"),
    );
    let (code, _, err) = env.run(&["stack", "rename", &new, &other]);
    assert_eq!(code, 1);
    assert!(err.contains("already"), "{err}");
    assert_eq!(
        std::fs::read_to_string(env.path("s.yaml")).unwrap(),
        manifests(&new)
    );
}

fn disable_stops_without_removing_and_enable_restarts_the_same_containers(env: Env) {
    let s = format!("vd{}", unique());
    env.write("s.yaml", &manifests(&s));
    env.expect(&["apply"], 0);
    let before = env.containers(&format!("devarch-{s}-"));
    let (out, _) = env.expect(&["stack", "disable", &s], 0);
    assert!(out.contains("stop: stack is disabled"), "{out}");
    assert!(
        std::fs::read_to_string(env.path("s.yaml"))
            .unwrap()
            .contains("spec:\n  enabled: false\n  description: verbs"),
    );
    env.expect(&["apply"], 0);
    let stopped = env.containers(&format!("devarch-{s}-"));
    assert_eq!(stopped.len(), 2);
    assert!(stopped.values().all(|c| !c.1), "{stopped:?}");
    env.expect(&["stack", "enable", &s], 0);
    env.expect(&["apply"], 0);
    let after = env.containers(&format!("devarch-{s}-"));
    for (name, (id, running)) in &before {
        assert_eq!(after[name].0, *id, "{name}: the same container");
        assert!(after[name].1 && *running);
    }
    let (out, _) = env.expect(&["stack", "enable", &s], 0);
    assert!(out.contains("already enabled"), "{out}");
}

/// When a container last started, as the engine reports it.
fn started_at(env: &Env, container: &str) -> String {
    let out = env
        .engine
        .cli()
        .args(["inspect", "--format", "{{.State.StartedAt}}", container])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn restart_restarts_running_containers_in_place_and_waits_for_health(env: Env) {
    let s = format!("vr{}", unique());
    env.write("t.yaml", &common::busybox_template("bb", 1));
    env.write(
        "s.yaml",
        &common::stack(&s, "    one: {template: bb}\n    two: {template: bb}\n"),
    );
    env.expect(&["apply"], 0);
    let (one, two) = (format!("devarch-{s}-one"), format!("devarch-{s}-two"));
    let before = env.containers(&format!("devarch-{s}-"));
    let (one_at, two_at) = (started_at(&env, &one), started_at(&env, &two));
    std::thread::sleep(std::time::Duration::from_millis(1100));

    let (out, err) = env.expect(&["restart", &s, "one"], 0);
    assert!(out.contains("Restarted 1 container"), "{out}\n{err}");
    assert!(err.contains("Restarted"), "progress: {err}");
    let after = env.containers(&format!("devarch-{s}-"));
    assert_eq!(after[&one].0, before[&one].0, "the same container");
    assert!(after[&one].1);
    assert_ne!(started_at(&env, &one), one_at, "one started again");
    assert_eq!(started_at(&env, &two), two_at, "two untouched");
    // Healthy again by the time restart returns: nothing for apply to do.
    env.expect(&["plan"], 0);

    // All of them; a stopped one is left for apply, and said so.
    env.engine
        .cli()
        .args(["stop", "-t", "1", &two])
        .output()
        .unwrap();
    let (out, err) = env.expect(&["restart", &s], 0);
    assert!(out.contains("Restarted 1 container"), "{out}");
    assert!(err.contains("two is not running"), "{err}");
    let (code, _, err) = env.run(&["restart", &s, "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("no container for instance \"nope\""), "{err}");
}

/// A template serving `http`, with `domains` of its own, and a stack of it whose instances
/// route host names: `web` the template's, `api` names of its own (mixed case), `side` (an
/// Instance document) one of its own, and `more` the extra `more` names.
fn routed(stack: &str, more: &str) -> String {
    format!(
        r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {{name: site-{stack}}}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; sleep 3600 & wait"]
  exports: [{{name: http, type: http, port: 8080}}]
  domains: [www.{stack}.localhost]
---
apiVersion: devarch.io/v1alpha1
kind: Stack
metadata: {{name: {stack}}}
spec:
  instances:
    web: {{template: site-{stack}}}
    api:
      template: site-{stack}
      domains: [API.{stack}.localhost, {stack}.localhost{more}]
---
apiVersion: devarch.io/v1alpha1
kind: Instance
metadata: {{name: side}}
spec:
  stack: {stack}
  template: site-{stack}
  domains: [a.b.{stack}.localhost]
"#
    )
}

/// The host names `devarch effective-config STACK INSTANCE` gives the instance.
fn domains_of(env: &Env, stack: &str, instance: &str) -> serde_json::Value {
    let (out, _) = env.expect(&["effective-config", stack, instance, "-o", "json"], 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v.pointer("/spec/domains")
        .or_else(|| v.pointer("/domains/names"))
        .or_else(|| v.pointer("/domains"))
        .cloned()
        .unwrap_or_else(|| panic!("no domains in {out}"))
}

/// Issue #21: a clone claimed its source's host names, which only one instance may route, so
/// cloning any stack with `domains` failed. Names under the source's own
/// `*.{src}.localhost` now move to the clone's; any other name refuses the clone (CLI and API)
/// before anything is written, naming it.
fn a_clone_moves_the_host_names_of_its_own_space_and_refuses_others(env: Env) {
    let (a, b, c, d) = (
        format!("da{}", unique()),
        format!("db{}", unique()),
        format!("dc{}", unique()),
        format!("dd{}", unique()),
    );
    env.write("a.yaml", &routed(&a, ""));
    env.write("c.yaml", &routed(&c, ", shop.example.test"));
    env.expect(&["validate"], 0);

    let (out, err) = env.expect(&["stack", "clone", &a, &b], 0);
    assert!(out.contains(&format!("Wrote stack {b}")), "{out}\n{err}");
    env.expect(&["validate"], 0);
    let json = |names: &[String]| serde_json::json!(names);
    assert_eq!(
        domains_of(&env, &b, "web"),
        json(&[format!("www.{b}.localhost")])
    );
    assert_eq!(
        domains_of(&env, &b, "api"),
        json(&[format!("api.{b}.localhost"), format!("{b}.localhost")])
    );
    assert_eq!(
        domains_of(&env, &b, "side"),
        json(&[format!("a.b.{b}.localhost")])
    );
    // The source keeps its names.
    assert_eq!(
        domains_of(&env, &a, "api"),
        json(&[format!("API.{a}.localhost"), format!("{a}.localhost")])
    );

    // A name outside the source's own space: refused, named, nothing written.
    let (code, out, err) = env.run(&["stack", "clone", &c, &d]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("api: shop.example.test"), "{err}");
    assert!(
        err.contains("edit those instances' domains") && err.contains("nothing was written"),
        "{err}"
    );
    assert!(
        !err.contains(&format!("api.{c}.localhost")),
        "only the stuck names: {err}"
    );
    assert!(!env.path(&format!("{d}.yaml")).exists());

    // The API's clone route is the same function.
    let w = env.watch(&["--listen", "127.0.0.1:0", "--plan-only"]);
    let (addr, auth) = w.api_access();
    let clone = |src: &str, name: &str| {
        common::http(
            &addr,
            "POST",
            &format!("/api/v1/stacks/{src}/clone"),
            &[("Authorization", auth.as_str())],
            &format!(r#"{{"name":"{name}"}}"#),
        )
    };
    let (status, _, body) = clone(&c, &d);
    assert_eq!(
        (status, common::problem_code(&body).as_str()),
        (409, "domains-taken"),
        "{body}"
    );
    assert!(body.contains("api: shop.example.test"), "{body}");
    assert!(!env.path(&format!("{d}.yaml")).exists());
    let e = format!("de{}", unique());
    let (status, _, body) = clone(&a, &e);
    assert_eq!(status, 201, "{body}");
    env.expect(&["validate"], 0);
    assert_eq!(
        domains_of(&env, &e, "api"),
        json(&[format!("api.{e}.localhost"), format!("{e}.localhost")])
    );
}

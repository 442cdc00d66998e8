//! Paths that existed without a real-engine test (issue #11, section 4), on Docker and
//! Podman: explicit wires, config files as the container sees them, `enabled: false` and
//! back, removing one instance of a stack, and the template label.

mod common;

use common::{Env, busybox_template, idle_template, stack, unique};

engine_tests!(
    config_files_are_mounted_with_content_and_mode_and_an_edit_recreates_only_their_container,
    a_disabled_stack_stops_and_comes_back_with_the_same_containers,
    removing_an_instance_removes_its_container_releases_its_port_and_keeps_its_volume,
    containers_carry_their_template,
    explicit_wires_choose_between_two_providers,
    a_provider_env_value_consumers_see_recreates_exactly_those_consumers,
);

fn config_instances(one: &str) -> String {
    format!(
        "    one:\n      template: bb\n      configFiles: [{{path: /etc/app/one.conf, content: \"{one}\", mode: \"0640\"}}]\n    two:\n      template: bb\n      configFiles: [{{path: /etc/app/two.conf, content: \"two\", mode: \"0600\"}}]\n"
    )
}

fn config_files_are_mounted_with_content_and_mode_and_an_edit_recreates_only_their_container(
    env: Env,
) {
    let s = format!("cf{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, &config_instances("first")));
    env.expect(&["apply"], 0);
    let (one, two) = (format!("devarch-{s}-one"), format!("devarch-{s}-two"));
    assert_eq!(env.sh(&one, "cat /etc/app/one.conf"), "first");
    assert_eq!(env.sh(&one, "stat -c %a /etc/app/one.conf").trim(), "640");
    assert_eq!(env.sh(&two, "stat -c %a /etc/app/two.conf").trim(), "600");
    let before = env.containers(&format!("devarch-{s}-"));

    env.write("s.yaml", &stack(&s, &config_instances("second")));
    let (plan, _) = env.expect(&["plan"], 2);
    assert!(plan.contains(&one) && !plan.contains(&two), "{plan}");
    env.expect(&["apply"], 0);
    let after = env.containers(&format!("devarch-{s}-"));
    assert_ne!(after[&one].0, before[&one].0, "one was recreated");
    assert_eq!(after[&two].0, before[&two].0, "two was left alone");
    assert_eq!(env.sh(&one, "cat /etc/app/one.conf"), "second");
    env.expect(&["plan"], 0);
}

fn a_disabled_stack_stops_and_comes_back_with_the_same_containers(env: Env) {
    let s = format!("en{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    let doc = |enabled: bool| {
        format!(
            "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: {s}}}\nspec:\n  enabled: {enabled}\n  instances:\n    web: {{template: bb}}\n"
        )
    };
    env.write("s.yaml", &doc(true));
    env.expect(&["apply"], 0);
    let name = format!("devarch-{s}-web");
    let id = env.containers(&format!("devarch-{s}-"))[&name].0.clone();

    env.write("s.yaml", &doc(false));
    env.expect(&["apply"], 0);
    let stopped = env.containers(&format!("devarch-{s}-"));
    assert_eq!(
        stopped[&name],
        (id.clone(), false),
        "same container, stopped"
    );
    assert_eq!(
        env.networks(&format!("devarch-{s}-")).len(),
        1,
        "network kept"
    );
    assert_eq!(
        env.volumes(&format!("devarch-{s}-")).len(),
        1,
        "volume kept"
    );
    env.expect(&["plan"], 0);

    env.write("s.yaml", &doc(true));
    env.expect(&["apply"], 0);
    assert_eq!(
        env.containers(&format!("devarch-{s}-"))[&name],
        (id, true),
        "the same container runs again"
    );
}

fn removing_an_instance_removes_its_container_releases_its_port_and_keeps_its_volume(env: Env) {
    let s = format!("ri{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write(
        "s.yaml",
        &stack(&s, "    one: {template: bb}\n    two: {template: bb}\n"),
    );
    env.expect(&["apply"], 0);
    let ports = || std::fs::read_to_string(env.home.path().join("ports.json")).unwrap();
    assert!(ports().contains("\"two\""), "{}", ports());

    env.write("s.yaml", &stack(&s, "    one: {template: bb}\n"));
    let (plan, _) = env.expect(&["plan"], 2);
    assert!(
        plan.contains(&format!("- container devarch-{s}-two")),
        "{plan}"
    );
    env.expect(&["apply"], 0);
    let left = env.containers(&format!("devarch-{s}-"));
    assert_eq!(
        left.keys().collect::<Vec<_>>(),
        [&format!("devarch-{s}-one")]
    );
    assert!(!ports().contains("\"two\""), "port released: {}", ports());
    assert!(
        env.volumes(&format!("devarch-{s}-"))
            .contains(&format!("devarch-{s}-two-data")),
        "the removed instance's volume is kept"
    );
    env.expect(&["plan"], 0);
}

fn containers_carry_their_template(env: Env) {
    let s = format!("tl{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, "    web: {template: bb}\n"));
    env.expect(&["apply"], 0);
    let labels = env.labels(&format!("devarch-{s}-web"));
    assert_eq!(labels["devarch.template_service_id"], "bb", "{labels:?}");
}

/// A consumer importing `http`, which two instances of `bb` export: ambiguous without a wire.
fn client_template() -> String {
    idle_template(
        "client",
        "  imports: [{name: api, type: http, env: {API_URL: \"http://{{host}}:{{port}}/\"}}]\n",
    )
}

fn explicit_wires_choose_between_two_providers(env: Env) {
    let s = format!("wi{}", unique());
    env.write(
        "t.yaml",
        &format!("{}---\n{}", busybox_template("bb", 0), client_template()),
    );
    let instances = "    a: {template: bb}\n    b: {template: bb}\n";
    // Without a wire the folder is invalid: two providers could serve the import.
    env.write(
        "s.yaml",
        &stack(&s, &format!("{instances}    c: {{template: client}}\n")),
    );
    let (_, err) = env.expect(&["validate"], 1);
    assert!(err.contains("wires"), "{err}");
    // An instance wire picks b; a stack-level wire picks a for a second consumer.
    env.write(
        "s.yaml",
        &format!(
            "{}  wires: {{d: {{api: a}}}}\n",
            stack(
                &s,
                &format!(
                    "{instances}    c: {{template: client, wires: {{api: b}}}}\n    d: {{template: client}}\n"
                )
            )
        ),
    );
    env.expect(&["apply"], 0);
    let url = |consumer: &str| env.sh(&format!("devarch-{s}-{consumer}"), "echo $API_URL");
    assert_eq!(url("c").trim(), format!("http://devarch-{s}-b:8080/"));
    assert_eq!(url("d").trim(), format!("http://devarch-{s}-a:8080/"));
    // And the wire works on the stack network: c reaches b's server by that URL.
    env.sh(
        &format!("devarch-{s}-c"),
        "wget -q -O /dev/null \"${API_URL}ready\" && echo reached",
    );
}

/// A provider exporting its env (`{{env.NAME}}`), a consumer that sees it and one that does not.
fn provider_templates(user: &str) -> String {
    [
        idle_template(
            "prov",
            &format!(
                "  env: {{SERVICE_USER: {user}}}\n  exports: [{{name: svc, type: svc, port: 9000, attributes: {{user: \"{{{{env.SERVICE_USER}}}}\"}}}}]\n"
            ),
        ),
        idle_template(
            "sees",
            "  imports: [{name: svc, type: svc, env: {SVC_USER: \"{{user}}\"}}]\n",
        ),
        idle_template(
            "blind",
            "  imports: [{name: svc, type: svc, env: {SVC_HOST: \"{{host}}\"}}]\n",
        ),
    ]
    .join("---\n")
}

fn a_provider_env_value_consumers_see_recreates_exactly_those_consumers(env: Env) {
    let s = format!("pv{}", unique());
    env.write("t.yaml", &provider_templates("alice"));
    env.write(
        "s.yaml",
        &stack(
            &s,
            "    p: {template: prov}\n    c: {template: sees}\n    d: {template: blind}\n",
        ),
    );
    env.expect(&["apply"], 0);
    let name = |i: &str| format!("devarch-{s}-{i}");
    assert_eq!(env.sh(&name("c"), "echo $SVC_USER").trim(), "alice");
    let before = env.containers(&format!("devarch-{s}-"));

    env.write("t.yaml", &provider_templates("bob"));
    env.expect(&["apply"], 0);
    let after = env.containers(&format!("devarch-{s}-"));
    assert_ne!(
        after[&name("p")].0,
        before[&name("p")].0,
        "the provider changed"
    );
    assert_ne!(after[&name("c")].0, before[&name("c")].0, "c sees the user");
    assert_eq!(after[&name("d")].0, before[&name("d")].0, "d does not");
    assert_eq!(env.sh(&name("c"), "echo $SVC_USER").trim(), "bob");
}

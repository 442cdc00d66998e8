//! plan / apply / delete against real Docker and Podman (each test runs on both).

mod common;

use std::time::Duration;

use common::{Env, busybox_template, idle_template, probe, stack, unique};
use devarch::runtime::Health;

/// Generous: these wait on real engine work, which a loaded 2-core machine slows down.
const T: Duration = Duration::from_secs(60);

engine_tests!(
    two_stacks_from_the_same_template_do_not_collide,
    reapply_is_a_noop_and_keeps_container_ids,
    env_change_recreates_exactly_that_container,
    foreign_objects_are_plan_errors_and_survive_apply_and_delete,
    stale_saved_plan_is_refused,
    concurrent_apply_of_one_stack_is_refused_naming_the_holder,
    depends_on_healthy_starts_the_consumer_after_the_provider_is_healthy,
    a_dependency_the_engine_calls_unhealthy_fails_apply_at_once,
    delete_keeps_volumes_unless_purged,
    fixed_host_port_held_by_another_process_is_a_plan_error,
    auto_port_taken_while_the_container_was_gone_is_replaced_by_apply_not_plan,
    failed_pull_fails_only_that_instance,
);

fn two_stacks_from_the_same_template_do_not_collide(env: Env) {
    let (a, b) = (format!("a{}", unique()), format!("b{}", unique()));
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("a.yaml", &stack(&a, "    web: {template: bb}\n"));
    env.write("b.yaml", &stack(&b, "    web: {template: bb}\n"));
    env.expect(&["apply"], 0);

    let ca = env.containers(&format!("devarch-{a}-"));
    let cb = env.containers(&format!("devarch-{b}-"));
    assert!(
        ca[&format!("devarch-{a}-web")].1 && cb[&format!("devarch-{b}-web")].1,
        "{ca:?} {cb:?}"
    );
    assert_eq!(
        env.networks(&format!("devarch-{a}-")),
        vec![format!("devarch-{a}-net")]
    );
    assert_eq!(
        env.networks(&format!("devarch-{b}-")),
        vec![format!("devarch-{b}-net")]
    );
    assert_eq!(
        env.volumes(&format!("devarch-{a}-")),
        vec![format!("devarch-{a}-web-data")]
    );
    assert_eq!(
        env.volumes(&format!("devarch-{b}-")),
        vec![format!("devarch-{b}-web-data")]
    );

    // Distinct host ports, both reachable.
    let (out, _) = env.expect(&["describe", "stack", &a, "-o", "json"], 0);
    let pa: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (out, _) = env.expect(&["describe", "stack", &b, "-o", "json"], 0);
    let pb: serde_json::Value = serde_json::from_str(&out).unwrap();
    // `127.0.0.1:PORT->8080/tcp`: published on loopback only.
    let port = |v: &serde_json::Value| {
        v["instances"][0]["ports"][0]
            .as_str()
            .unwrap()
            .split("->")
            .next()
            .unwrap()
            .strip_prefix("127.0.0.1:")
            .expect("published on loopback")
            .parse::<u16>()
            .unwrap()
    };
    assert_ne!(port(&pa), port(&pb));
    for p in [port(&pa), port(&pb)] {
        assert!(
            common::wait_until(std::time::Duration::from_secs(10), || {
                std::net::TcpStream::connect(("127.0.0.1", p)).is_ok()
            }),
            "port {p} not reachable"
        );
    }

    // Isolation: from stack a's network, a's instance resolves (alias and full name), b's does not.
    let net_a = format!("devarch-{a}-net");
    assert_eq!(probe(&env, &net_a, "nslookup web >/dev/null"), 0);
    assert_eq!(
        probe(
            &env,
            &net_a,
            &format!("nslookup devarch-{a}-web >/dev/null")
        ),
        0
    );
    assert_ne!(
        probe(
            &env,
            &net_a,
            &format!("nslookup devarch-{b}-web >/dev/null")
        ),
        0
    );
    // (busybox 1.35's `wget -T` crashes: bound it with `timeout` instead.)
    assert_eq!(
        probe(
            &env,
            &net_a,
            "timeout 5 wget -q -O /dev/null http://web:8080/ready"
        ),
        0
    );
    assert_ne!(
        probe(
            &env,
            &net_a,
            &format!("timeout 5 wget -q -O /dev/null http://devarch-{b}-web:8080/ready")
        ),
        0
    );
}

fn reapply_is_a_noop_and_keeps_container_ids(env: Env) {
    let s = format!("r{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, &common::one_and_two(Some("1"))));
    env.expect(&["apply"], 0);
    let before = env.containers(&format!("devarch-{s}-"));
    let (out, _) = env.expect(&["plan"], 0);
    assert!(
        out.contains("Plan: 0 to add, 0 to change, 0 to destroy."),
        "{out}"
    );
    let (out, _) = env.expect(&["apply"], 0);
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(before, env.containers(&format!("devarch-{s}-")));
}

fn env_change_recreates_exactly_that_container(env: Env) {
    let s = format!("e{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, &common::one_and_two(None)));
    env.expect(&["apply"], 0);
    let before = env.containers(&format!("devarch-{s}-"));

    // A description change recreates nothing.
    env.write(
        "s.yaml",
        &stack(&s, &common::one_and_two(None)).replace("description: test", "description: changed"),
    );
    let (out, _) = env.expect(&["plan"], 0);
    assert!(out.contains("0 to add, 0 to change, 0 to destroy"), "{out}");

    env.write("s.yaml", &stack(&s, &common::one_and_two(Some("2"))));
    let (out, _) = env.expect(&["plan"], 2);
    assert!(
        out.contains(&format!("-/+ container devarch-{s}-two"))
            && out.contains("recreate: env changed"),
        "{out}"
    );
    assert!(
        out.contains("Plan: 1 to add, 0 to change, 1 to destroy."),
        "{out}"
    );
    env.expect(&["apply"], 0);
    let after = env.containers(&format!("devarch-{s}-"));
    let one = format!("devarch-{s}-one");
    let two = format!("devarch-{s}-two");
    assert_eq!(before[&one], after[&one], "untouched container kept its ID");
    assert_ne!(
        before[&two].0, after[&two].0,
        "changed container was recreated"
    );
    assert!(after[&two].1, "recreated container runs");
    assert_eq!(after.len(), 2, "no temporary container left: {after:?}");
}

fn foreign_objects_are_plan_errors_and_survive_apply_and_delete(env: Env) {
    let s = format!("f{}", unique());
    let s2 = format!("g{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, "    web: {template: bb}\n"));
    env.write("s2.yaml", &stack(&s2, "    web: {template: bb}\n"));
    // A container named like ours (no labels) and a network named like ours (no labels).
    let foreign = format!("devarch-{s}-web");
    let foreign_net = format!("devarch-{s2}-net");
    let (fid, nid) = common::block_on(async {
        let mut spec = devarch::runtime::ContainerSpec {
            name: foreign.clone(),
            image: "devarch-fixture/busybox:1".into(),
            ..Default::default()
        };
        let nid = env
            .rt
            .create_network(&foreign_net, &Default::default())
            .await
            .unwrap();
        spec.network = foreign_net.clone();
        let fid = env.rt.create_container(&spec).await.unwrap();
        (fid, nid)
    });
    let cleanup = || {
        common::block_on(async {
            let _ = env.rt.remove_container(&fid, true).await;
            let _ = env.rt.remove_network(&nid).await;
        })
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (out, _) = env.expect(&["plan"], 1);
        assert!(out.contains(&format!("container {foreign} already exists and is not this stack's (not created by devarch)")), "{out}");
        assert!(
            out.contains(&format!("network {foreign_net} already exists")),
            "{out}"
        );
        let (_, err) = env.expect(&["apply"], 1);
        assert!(err.contains("because of conflicts"), "{err}");
        let _ = env.run(&["delete", &s]);
        let _ = env.run(&["delete", &s2]);
        common::block_on(async {
            assert_eq!(
                env.rt.inspect_container(&fid).await.unwrap().summary.name,
                foreign
            );
        });
        assert!(env.networks(&foreign_net).contains(&foreign_net));
    }));
    cleanup();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

fn stale_saved_plan_is_refused(env: Env) {
    let s = format!("p{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, "    web: {template: bb}\n"));
    let plan = env.home.path().join("plan.json");
    env.expect(&["plan", "--out", plan.to_str().unwrap()], 2);
    env.write(
        "s.yaml",
        &stack(&s, "    web: {template: bb, env: {CHANGED: \"1\"}}\n"),
    );
    let (_, err) = env.expect(&["apply", "--plan", plan.to_str().unwrap()], 1);
    assert!(err.contains("plan is stale"), "{err}");
    assert!(
        env.containers(&format!("devarch-{s}-")).is_empty(),
        "nothing was applied"
    );
    // A fresh plan applies. The file is the user's alone (0600 under the usual umask 022),
    // and its actions are for reading only: emptying them changes nothing apply does.
    env.expect(&["plan", "--out", plan.to_str().unwrap()], 2);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&plan).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "plan file mode {mode:o}");
    let mut saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    for stack in saved["stacks"].as_array_mut().unwrap() {
        assert!(!stack["actions"].as_array().unwrap().is_empty(), "{stack}");
        stack["actions"] = serde_json::json!([]);
    }
    std::fs::write(&plan, serde_json::to_vec(&saved).unwrap()).unwrap();
    env.expect(&["apply", "--plan", plan.to_str().unwrap()], 0);
    assert!(
        env.containers(&format!("devarch-{s}-"))[&format!("devarch-{s}-web")].1,
        "apply re-planned and created the container the edited file no longer listed"
    );
    // Observed state changes make it stale too.
    env.expect(&["plan", "--out", plan.to_str().unwrap()], 0);
    let id = env.containers(&format!("devarch-{s}-"))[&format!("devarch-{s}-web")]
        .0
        .clone();
    common::block_on(
        env.rt
            .stop_container(&id, std::time::Duration::from_secs(5)),
    )
    .unwrap();
    let (_, err) = env.expect(&["apply", "--plan", plan.to_str().unwrap()], 1);
    assert!(err.contains("plan is stale"), "{err}");
}

fn concurrent_apply_of_one_stack_is_refused_naming_the_holder(env: Env) {
    let s = format!("c{}", unique());
    env.write("t.yaml", &busybox_template("slow", 4));
    env.write("s.yaml", &stack(&s, "    db: {template: slow}\n    app: {template: slow, dependsOn: [{name: db, condition: healthy}]}\n"));
    let first_err = env.home.path().join("first-apply.err");
    let mut first = env
        .cmd()
        .arg("apply")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&first_err).unwrap())
        .spawn()
        .unwrap();
    let holder = first.id();
    let first_stderr = || std::fs::read_to_string(&first_err).unwrap_or_default();
    // The first apply takes the stack's lock before anything else and keeps it until it ends:
    // once it waits for db's health (4 s), it holds the lock.
    assert!(
        common::wait_until(T, || first_stderr()
            .contains("Waiting for db to be healthy")),
        "the first apply never waited for db\n{}",
        first_stderr()
    );
    let (code, _, err) = env.run(&["apply"]);
    assert!(
        first.wait().unwrap().success(),
        "first apply failed: {}",
        first_stderr()
    );
    assert_eq!(code, 1, "second apply must be refused: {err}");
    // Named by the pid of the process that holds the lock: the first apply.
    assert!(
        err.contains(&format!(
            "stack \"{s}\" is being applied by another devarch (pid {holder} ("
        )),
        "the holder is pid {holder}: {err}"
    );
    // With --lock-timeout it waits and then finds nothing to do.
    let (out, _) = env.expect(&["apply", "--lock-timeout", "30s"], 0);
    assert!(out.contains("No changes"), "{out}");
}

/// A dependency whose check always fails: apply gives up when the engine declares it
/// unhealthy (about retries × interval), like Compose, not at the computed deadline (36 s
/// here), and its dependent is never started.
fn a_dependency_the_engine_calls_unhealthy_fails_apply_at_once(env: Env) {
    let s = format!("u{}", unique());
    env.write(
        "t.yaml",
        &idle_template(
            "sick",
            "  healthcheck: {test: [CMD, \"false\"], interval: 1s, timeout: 1s, retries: 2}\n",
        ),
    );
    env.write(
        "s.yaml",
        &stack(
            &s,
            "    db: {template: sick}\n    app: {template: sick, dependsOn: [{name: db, condition: healthy}]}\n",
        ),
    );
    let t = std::time::Instant::now();
    let (code, _, err) = env.run(&["apply"]);
    let took = t.elapsed();
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("unhealthy"), "{err}");
    assert!(
        took < std::time::Duration::from_secs(20),
        "apply waited {took:?} for a dependency the engine called unhealthy (deadline 36 s)"
    );
    let app = format!("devarch-{s}-app");
    assert!(
        env.containers(&app).get(&app).is_none_or(|c| !c.1),
        "the dependent was started"
    );
}

fn depends_on_healthy_starts_the_consumer_after_the_provider_is_healthy(env: Env) {
    let s = format!("h{}", unique());
    env.write("t.yaml", &busybox_template("provider", 3));
    env.write(
        "c.yaml",
        r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: consumer}
spec:
  image: devarch-fixture/busybox:1
  # Exits 3 at once if the provider's page is not served yet (i.e. started too early). A name
  # that does not resolve (`bad address`) is asked again: the network's DNS server is the
  # engine's business, and Podman's aardvark-dns fails a lookup now and then while it
  # reloads for another container's network change (seen once in ten suite runs: `nslookup
  # db` answered, then wget's own lookup failed). A provider started too early still
  # resolves, then refuses the connection or has no page: exit 3.
  command: [sh, -c, "trap 'exit 0' TERM INT; n=0; until out=$(wget -O /dev/null http://db:8080/ready 2>&1); do case $out in *'bad address'*) n=$((n+1)); if [ $n -lt 40 ]; then sleep 0.25; continue; fi;; esac; echo \"$out\"; nslookup db; exit 3; done; touch /tmp/fetched; sleep 3600 & wait"]
  # Healthy once it has fetched the page (the test waits for that, or for the exit).
  healthcheck: {test: [CMD-SHELL, "test -f /tmp/fetched"], interval: 1s, timeout: 2s, retries: 60}
  dependsOn: [{name: db, condition: healthy}]
"#,
    );
    env.write(
        "s.yaml",
        &stack(
            &s,
            "    db: {template: provider}\n    app: {template: consumer}\n",
        ),
    );
    let t = std::time::Instant::now();
    let (_, err) = env.expect(&["apply"], 0);
    assert!(
        t.elapsed().as_secs_f64() >= 2.5,
        "apply did not wait for health ({:?})",
        t.elapsed()
    );
    assert!(err.contains("Waiting for db to be healthy"), "{err}");
    // The consumer either fetches the page (and becomes healthy) or exits 3.
    let app = format!("devarch-{s}-app");
    let fetched = || {
        common::block_on(async {
            let state = env.rt.inspect_container(&app).await.unwrap().summary.state;
            if !state.is_running() {
                return (false, Health::None);
            }
            (true, env.rt.check_health(&app).await.unwrap())
        })
    };
    let mut last = (false, Health::None);
    let settled = common::wait_until(T, || {
        last = fetched();
        !last.0 || last.1 == Health::Healthy
    });
    assert_eq!(
        last,
        (true, Health::Healthy),
        "consumer running and healthy (settled: {settled}) (it exits 3 when started before the provider is healthy)\n\
         --- apply's stderr\n{err}\n{}\n{}",
        env.engine_logs(&app),
        env.engine_logs(&format!("devarch-{s}-db"))
    );
}

fn delete_keeps_volumes_unless_purged(env: Env) {
    let (s, k) = (format!("d{}", unique()), format!("k{}", unique()));
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, "    web: {template: bb}\n"));
    env.write("k.yaml", &stack(&k, "    web: {template: bb}\n"));
    env.expect(&["apply"], 0);
    let (out, _) = env.expect(&["delete", &s], 0);
    assert!(
        out.contains(&format!("- container devarch-{s}-web")),
        "plan shown first: {out}"
    );
    assert!(!env.path("s.yaml").exists(), "manifest removed");
    assert!(env.containers(&format!("devarch-{s}-")).is_empty());
    assert!(env.networks(&format!("devarch-{s}-")).is_empty());
    assert_eq!(
        env.volumes(&format!("devarch-{s}-")),
        vec![format!("devarch-{s}-web-data")],
        "volume kept"
    );
    // The other stack is untouched, and a later apply does not bring the deleted one back.
    assert_eq!(env.containers(&format!("devarch-{k}-")).len(), 1);
    env.expect(&["apply"], 0);
    assert!(env.containers(&format!("devarch-{s}-")).is_empty());

    env.expect(&["delete", &k, "--purge-volumes"], 0);
    assert!(
        env.volumes(&format!("devarch-{k}-")).is_empty(),
        "volume purged"
    );
}

fn fixed_host_port_held_by_another_process_is_a_plan_error(env: Env) {
    let s = format!("o{}", unique());
    let listener = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write(
        "s.yaml",
        &stack(
            &s,
            &format!("    web: {{template: bb, ports: [{{container: 8080, host: {port}}}]}}\n"),
        ),
    );
    let (out, _) = env.expect(&["plan"], 1);
    assert!(out.contains(&format!("host port {port}/tcp is in use by another process on this machine (needed by instance web)")), "{out}");
    let (_, err) = env.expect(&["apply"], 1);
    assert!(err.contains("because of conflicts"), "{err}");
    assert!(
        env.containers(&format!("devarch-{s}-")).is_empty(),
        "nothing was created"
    );
    drop(listener);
    env.expect(&["apply"], 0);
}

/// The host port in a plan line `… ports 127.0.0.1:12345->8080/tcp)`.
fn planned_port(out: &str) -> u16 {
    out.split("ports 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split("->").next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no planned port in {out}"))
}

fn auto_port_taken_while_the_container_was_gone_is_replaced_by_apply_not_plan(env: Env) {
    let s = format!("p{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, "    web: {template: bb}\n"));
    env.expect(&["apply"], 0);
    let name = format!("devarch-{s}-web");
    let id = env.containers(&name)[&name].0.clone();
    common::block_on(env.rt.remove_container(&id, true)).unwrap();
    let (_, out, _) = env.run(&["plan"]);
    let recorded = planned_port(&out);
    // Someone else takes the recorded port (the engine may need a moment to let it go).
    let mut listener = None;
    assert!(
        common::wait_until(std::time::Duration::from_secs(10), || {
            listener = std::net::TcpListener::bind(("0.0.0.0", recorded)).ok();
            listener.is_some()
        }),
        "port {recorded} never came free"
    );
    // A plan (no lock, so its view of the engine may be old) keeps the recorded port...
    let (_, out, _) = env.run(&["plan"]);
    assert_eq!(planned_port(&out), recorded, "{out}");
    // ...the apply (locked, observed under the lock) picks another and starts on it.
    let (out, _) = env.expect(&["apply"], 0);
    let new = planned_port(&out);
    assert_ne!(new, recorded, "{out}");
    let c = env.containers(&name);
    assert!(c[&name].1, "running on the new port: {c:?}");
    let (_, out, _) = env.run(&["plan"]);
    assert!(out.contains("up to date"), "the new port is kept: {out}");
    drop(listener);
}

fn failed_pull_fails_only_that_instance(env: Env) {
    let s = format!("i{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, "    good: {template: bb}\n    bad: {template: bb, image: \"devarch-fixture/does-not-exist:0\"}\n"));
    let (code, _, err) = env.run(&["apply"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "container devarch-{s}-bad: image devarch-fixture/does-not-exist:0"
        )),
        "{err}"
    );
    let c = env.containers(&format!("devarch-{s}-"));
    assert!(
        c[&format!("devarch-{s}-good")].1,
        "the other instance still runs: {c:?}"
    );
    assert!(!c.contains_key(&format!("devarch-{s}-bad")));
}

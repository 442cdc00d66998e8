//! `devarch watch` as a real process against real Docker and Podman (each test on both).

mod common;

use std::time::{Duration, Instant};

use common::{Env, busybox_template, stack, unique};

engine_tests!(
    dropping_editing_and_deleting_a_manifest_converges_each_time,
    a_broken_manifest_never_tears_anything_down_and_fixing_it_converges,
    removed_or_killed_containers_and_a_removed_network_are_repaired,
    a_cli_apply_during_a_controller_apply_is_refused_or_waits,
    a_controller_killed_mid_apply_converges_after_restart_without_leftovers,
    editor_save_styles_each_trigger_one_reconcile,
    plan_only_prints_and_never_mutates,
    a_converged_stack_is_reported_ready_at_startup_without_a_reconcile,
);

/// Generous: these wait on real engine work, which a loaded 2-core machine slows down.
const T: Duration = Duration::from_secs(60);

fn running(env: &Env, name: &str) -> bool {
    env.containers(name).get(name).is_some_and(|c| c.1)
}

fn dropping_editing_and_deleting_a_manifest_converges_each_time(env: Env) {
    let _slot = common::Slot::take(4);
    let s = format!("w{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    let w = env.watch(&[]);
    w.wait_for(T, "controller start", |_, err| {
        err.contains("devarch watch started")
    });
    env.write("s.yaml", &stack(&s, &common::one_and_two(None)));
    let (one, two) = (format!("devarch-{s}-one"), format!("devarch-{s}-two"));
    assert!(
        common::wait_until(T, || running(&env, &one) && running(&env, &two)),
        "stack up\n{}",
        w.logs()
    );
    let before = env.containers(&format!("devarch-{s}-"));

    env.write("s.yaml", &stack(&s, &common::one_and_two(Some("2"))));
    assert!(
        common::wait_until(T, || env.recreated_and_running(&two, &before[&two].0)),
        "two recreated\n{}",
        w.logs()
    );
    let after = env.containers(&format!("devarch-{s}-"));
    assert_eq!(
        after[&one], before[&one],
        "only the edited instance was recreated"
    );
    w.wait_for(T, "the plan printed before applying", |out, _| {
        out.contains(&format!("-/+ container {two}"))
    });

    std::fs::remove_file(env.path("s.yaml")).unwrap();
    assert!(
        common::wait_until(T, || env.containers(&format!("devarch-{s}-")).is_empty()
            && env.networks(&format!("devarch-{s}-")).is_empty()),
        "stack removed\n{}",
        w.logs()
    );
    assert_eq!(
        env.volumes(&format!("devarch-{s}-")).len(),
        2,
        "volumes kept"
    );
}

fn a_broken_manifest_never_tears_anything_down_and_fixing_it_converges(env: Env) {
    let _slot = common::Slot::take(4);
    let s = format!("b{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    let good = stack(&s, &common::one_and_two(None));
    env.write("s.yaml", &good);
    let w = env.watch(&["--resync", "1s"]);
    let one = format!("devarch-{s}-one");
    assert!(
        common::wait_until(T, || running(&env, &one)
            && running(&env, &format!("devarch-{s}-two"))),
        "{}",
        w.logs()
    );
    let before = env.containers(&format!("devarch-{s}-"));

    // A half-written save: the file is cut in the middle of a flow mapping.
    let half = &good[..good.find("two: {template").unwrap() + 10];
    env.write("s.yaml", half);
    // The error names the file and the (last, cut) line.
    let at = format!("s.yaml:{}:", half.lines().count());
    w.wait_for(T, "the error with its line", |_, err| err.contains(&at));
    // Two periodic resyncs after the error (the first may have read the folder before it):
    // each found nothing to do, and nothing was removed or recreated.
    let due = w.wait_resyncs(T, w.resyncs().len(), 2);
    assert_eq!(due, [0, 0], "stacks due in the resyncs\n{}", w.logs());
    assert_eq!(
        env.containers(&format!("devarch-{s}-")),
        before,
        "nothing removed or recreated\n{}",
        w.logs()
    );

    // A broken file next to a deleted one: removal is suspended too.
    env.write(
        "s.yaml",
        &good.replace(
            "two: {template: bb}",
            "two: {template: bb, env: {FIXED: \"1\"}}",
        ),
    );
    let two = format!("devarch-{s}-two");
    assert!(
        common::wait_until(T, || env.recreated_and_running(&two, &before[&two].0)),
        "fixed manifest converges\n{}",
        w.logs()
    );
    assert_eq!(env.containers(&one)[&one], before[&one]);
}

/// Container `name`, removed or killed at `since`, is running again within 5 s — not counting
/// the engine's own time for the repairing create/start, which the controller logs ("container
/// NAME: Started 4.8s"): with every test of the suite running, dockerd alone was seen to take
/// 4.8 s for one start.
fn back_within_5s(env: &Env, w: &common::Watcher, name: &str, since: Instant, what: &str) {
    assert!(
        common::wait_until(T, || running(env, name)),
        "{what} container never came back\n{}",
        w.logs()
    );
    let total = since.elapsed();
    let needle = format!("container {name}: ");
    let engine = w
        .stderr()
        .lines()
        .rev()
        .find_map(|l| {
            let rest = &l[l.find(&needle)? + needle.len()..];
            let secs = rest.split_whitespace().nth(1)?.strip_suffix('s')?;
            secs.parse::<f64>().ok()
        })
        .map_or(Duration::ZERO, Duration::from_secs_f64);
    eprintln!(
        "{}: {what} container running again after {total:?} (the engine's create/start: {engine:?})",
        env.engine.name()
    );
    assert!(
        total <= Duration::from_secs(5) + engine,
        "{what} container back after {total:?}, of which {engine:?} engine time\n{}",
        w.logs()
    );
}

fn removed_or_killed_containers_and_a_removed_network_are_repaired(env: Env) {
    let _slot = common::Slot::take(4);
    let s = format!("r{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, "    one: {template: bb}\n"));
    let w = env.watch(&[]);
    let one = format!("devarch-{s}-one");
    assert!(
        common::wait_until(T, || running(&env, &one)),
        "{}",
        w.logs()
    );

    let id = env.containers(&one)[&one].0.clone();
    let applied = w.count("applied: ");
    let t = Instant::now();
    common::block_on(env.rt.remove_container(&id, true)).unwrap();
    back_within_5s(&env, &w, &one, t, "removed");

    // Let the repair settle: its reconcile is done, and a later periodic resync finds nothing
    // due. Then kill the container.
    w.wait_count(T, "applied: ", applied);
    let seen = w.resyncs().len();
    w.wait_for(T, "a resync with nothing due", |_, _| {
        w.resyncs()[seen..].contains(&0)
    });
    let id = env.containers(&one)[&one].0.clone();
    let t = Instant::now();
    // Podman refuses a stop while a container is still changing state: try until it takes.
    let mut stopped = String::new();
    let ok = common::wait_until(T, || {
        match common::block_on(env.rt.stop_container(&id, Duration::from_secs(0))) {
            Ok(()) => true,
            Err(e) => {
                stopped = e.to_string();
                false
            }
        }
    });
    assert!(ok, "stopping {one}: {stopped}\n{}", w.logs());
    back_within_5s(&env, &w, &one, t, "killed");

    // Network removed with its containers detached: recreated and reattached. The controller
    // is paused meanwhile (it would put the container back before the network can go).
    let net = format!("devarch-{s}-net");
    let id = env.containers(&one)[&one].0.clone();
    let pid = w.pid().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success()
    );
    let removed = common::block_on(async {
        env.rt.remove_container(&id, true).await?;
        let n = env.rt.list_networks(&net).await?;
        // The stack's instances export `http`, so the router is attached to its network: an
        // engine refuses to remove it until the router is detached (`docker network rm -f`).
        devarch::router::release_network(env.rt.as_ref(), &n[0].id).await;
        env.rt.remove_network(&n[0].id).await
    });
    assert!(
        std::process::Command::new("kill")
            .args(["-CONT", &pid])
            .status()
            .unwrap()
            .success()
    );
    removed.unwrap();
    assert!(
        common::wait_until(T, || running(&env, &one)
            && env.networks(&net) == vec![net.clone()]),
        "network and container restored\n{}",
        w.logs()
    );
}

fn a_cli_apply_during_a_controller_apply_is_refused_or_waits(env: Env) {
    let _slot = common::Slot::take(4);
    let s = format!("c{}", unique());
    env.write("t.yaml", &busybox_template("slow", 5));
    let w = env.watch(&[]);
    w.wait_for(T, "controller start", |_, err| {
        err.contains("devarch watch started")
    });
    env.write("s.yaml", &stack(&s, "    db: {template: slow}\n    app: {template: slow, dependsOn: [{name: db, condition: healthy}]}\n"));
    w.wait_for(T, "the controller applying", |_, err| {
        err.contains(&format!("container devarch-{s}-db: Started"))
    });
    // The controller is now waiting for db's health, holding the stack lock.
    let (code, _, err) = env.run(&["apply"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "stack \"{s}\" is being applied by another devarch (pid {} (",
            w.pid()
        )),
        "{err}"
    );
    // Waiting for the lock works, and finds the stack converged.
    let (out, _) = env.expect(&["apply", "--lock-timeout", "60s"], 0);
    assert!(out.contains("No changes"), "{out}");
}

fn a_controller_killed_mid_apply_converges_after_restart_without_leftovers(env: Env) {
    let _slot = common::Slot::take(4);
    let s = format!("k{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    let instances: String = (0..10)
        .map(|i| format!("    i{i}: {{template: bb, env: {{V: \"1\"}}}}\n"))
        .collect();
    env.write("s.yaml", &stack(&s, &instances));
    let mut w = env.watch(&[]);
    let prefix = format!("devarch-{s}-");
    assert!(
        common::wait_until(T, || env
            .containers(&prefix)
            .values()
            .filter(|c| c.1)
            .count()
            == 10),
        "{}",
        w.logs()
    );
    // Change every instance, and kill the controller in the middle of the recreates.
    env.write(
        "s.yaml",
        &stack(&s, &instances.replace("V: \"1\"", "V: \"2\"")),
    );
    w.wait_for(T, "recreates under way", |_, err| err.contains("Recreated"));
    w.kill9();
    let mut w2 = env.watch(&[]);
    let ok = common::wait_until(Duration::from_secs(120), || {
        let (code, out, _) = env.run(&["plan"]);
        code == 0 && out.contains("0 to add, 0 to change, 0 to destroy")
    });
    assert!(ok, "converged after restart\n{}", w2.logs());
    let c = env.containers(&prefix);
    assert_eq!(
        c.len(),
        10,
        "no duplicate and no leftover temporary container: {c:?}"
    );
    assert!(c.values().all(|c| c.1));
    w2.stop();
    // No leaked lock: a CLI apply gets it at once.
    let (out, _) = env.expect(&["apply"], 0);
    assert!(out.contains("No changes"), "{out}");
}

fn editor_save_styles_each_trigger_one_reconcile(env: Env) {
    let _slot = common::Slot::take(4);
    let s = format!("e{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write(
        "s.yaml",
        &stack(&s, "    one: {template: bb, env: {V: \"0\"}}\n"),
    );
    // A stack without instances, edited after each save: one watcher delivers the folder's
    // events in order, so once the controller reports this edit, it has seen every event of
    // the save before it.
    let z = format!("z{}", unique());
    let sentinel = |i: usize| {
        env.write(
            "z.yaml",
            &format!(
                "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: {z}}}\nspec: {{description: \"sentinel {i}\"}}\n"
            ),
        )
    };
    sentinel(0);
    let w = env.watch(&["--resync", "600s"]);
    let one = format!("devarch-{s}-one");
    assert!(
        common::wait_until(T, || running(&env, &one)),
        "{}",
        w.logs()
    );
    let needle = format!("manifests changed stack={s}");
    let z_needle = format!("manifests changed stack={z}");
    let path = env.path("s.yaml");
    let body = |v: u32| {
        stack(
            &s,
            &format!("    one: {{template: bb, env: {{V: \"{v}\"}}}}\n"),
        )
    };
    type Save<'a> = Box<dyn Fn(u32) + 'a>;
    let styles: Vec<(&str, Save)> = vec![
        (
            "in-place write",
            Box::new(|v| std::fs::write(&path, body(v)).unwrap()),
        ),
        (
            "write temp then rename",
            Box::new(|v| {
                let tmp = env.path(".s.yaml.tmp");
                std::fs::write(&tmp, body(v)).unwrap();
                std::fs::rename(&tmp, &path).unwrap();
            }),
        ),
        (
            "vim backup-rename",
            Box::new(|v| {
                let probe = env.path("4913");
                std::fs::write(&probe, "").unwrap();
                std::fs::remove_file(&probe).unwrap();
                let backup = env.path("s.yaml~");
                std::fs::rename(&path, &backup).unwrap();
                std::fs::write(&path, body(v)).unwrap();
                std::fs::remove_file(&backup).unwrap();
            }),
        ),
    ];
    for (i, (style, save)) in styles.iter().enumerate() {
        let before = w.count(&needle);
        save(i as u32 + 1);
        w.wait_count(T, &needle, before);
        let z_before = w.count(&z_needle);
        sentinel(i + 1);
        w.wait_count(T, &z_needle, z_before);
        assert_eq!(
            w.count(&needle),
            before + 1,
            "{style}: exactly one reconcile\n{}",
            w.logs()
        );
    }
}

fn plan_only_prints_and_never_mutates(env: Env) {
    let _slot = common::Slot::take(4);
    let s = format!("p{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, "    one: {template: bb}\n"));
    let w = env.watch(&["--plan-only", "--resync", "1s"]);
    // Printed twice (again on a periodic resync): one stack is never reconciled twice at once,
    // so the first reconcile, and whatever it would have applied, is over.
    let planned = format!("+ container devarch-{s}-one");
    w.wait_for(T, "the plan printed twice", |out, _| {
        out.matches(&planned).count() >= 2
    });
    assert!(
        env.containers(&format!("devarch-{s}-")).is_empty(),
        "nothing created\n{}",
        w.logs()
    );
    assert!(env.networks(&format!("devarch-{s}-")).is_empty());
}

fn a_converged_stack_is_reported_ready_at_startup_without_a_reconcile(env: Env) {
    let _slot = common::Slot::take(4);
    let s = format!("u{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, "    one: {template: bb}\n"));
    env.expect(&["apply"], 0);
    let before = env.containers(&format!("devarch-{s}-"));
    let w = env.watch(&["--resync", "1s"]);
    if let Err(out) = env.wait_ready(&s, T) {
        panic!("status Ready\n{out}\n{}", w.logs());
    }
    // Through two periodic resyncs too: nothing due, nothing planned, nothing touched.
    let due = w.wait_resyncs(T, w.resyncs().len(), 2);
    assert_eq!(due, [0, 0], "stacks due in the resyncs\n{}", w.logs());
    assert_eq!(env.containers(&format!("devarch-{s}-")), before);
    assert!(!w.stdout().contains(&format!("stack {s}")), "{}", w.logs());
}

//! Runtime names shared between manifests folders (issue #9 item 7): a volume or network that
//! holds a name a stack needs but belongs to another folder is a plan conflict, never used.
//! Each test runs on Docker and on Podman, with two folders (two owners) on the same engine.

mod common;

use common::{Env, stack, unique};

engine_tests!(
    a_volume_of_another_folder_is_a_conflict_and_never_mounted,
    a_network_of_another_folder_is_a_conflict_and_nothing_is_created,
);

/// A template without ports or health check whose container writes into its volume at `/d`.
fn keeper() -> String {
    r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: keeper}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; echo private > /d/secret; sleep 3600 & wait"]
"#
    .to_string()
}

/// The labels of a volume, by name.
fn volume_labels(env: &Env, name: &str) -> Option<std::collections::BTreeMap<String, String>> {
    common::block_on(env.rt.list_volumes(name))
        .unwrap()
        .into_iter()
        .find(|v| v.name == name)
        .map(|v| v.labels)
}

/// Nothing on the engine is owned by `env`'s folder: no container (so nothing mounted anyone's
/// volume for it), network or volume.
fn assert_nothing_created(env: &Env) {
    let ours =
        |l: &std::collections::BTreeMap<String, String>| l.get("devarch.owner") == Some(&env.owner);
    let (containers, networks, volumes) = common::block_on(async {
        (
            env.rt.list_containers("devarch-").await.unwrap(),
            env.rt.list_networks("devarch-").await.unwrap(),
            env.rt.list_volumes("devarch-").await.unwrap(),
        )
    });
    let owned: Vec<&str> = (containers.iter().map(|c| (&c.name, &c.labels)))
        .chain(networks.iter().map(|n| (&n.name, &n.labels)))
        .chain(volumes.iter().map(|v| (&v.name, &v.labels)))
        .filter(|(_, l)| ours(l))
        .map(|(n, _)| n.as_str())
        .collect();
    assert!(owned.is_empty(), "created: {owned:?}");
}

fn a_volume_of_another_folder_is_a_conflict_and_never_mounted(a: Env) {
    // Folder A: stack s, instance b, volume c-d → devarch-s-b-c-d, holding data.
    // Folder B: stack s-b, instance c, volume d → devarch-s-b-c-d as well.
    let s = format!("v{}", unique());
    let sb = format!("{s}-b");
    let shared = format!("devarch-{s}-b-c-d");
    a.write("t.yaml", &keeper());
    a.write(
        "s.yaml",
        &stack(&s, "    b: {template: keeper, volumes: [\"c-d:/d\"]}\n"),
    );
    a.expect(&["apply"], 0);
    let a_labels = volume_labels(&a, &shared).expect("folder A's volume exists");
    assert_eq!(a_labels.get("devarch.owner"), Some(&a.owner));

    let b = a.other_folder();
    b.write("t.yaml", &keeper());
    b.write(
        "s.yaml",
        &stack(&sb, "    c: {template: keeper, volumes: [\"d:/d\"]}\n"),
    );
    let (out, _) = b.expect(&["plan"], 1);
    assert!(
        out.contains(&format!(
            "error: volume {shared} already exists and is not this stack's (owned by the devarch folder {}); devarch never mounts, deletes or adopts it",
            a.owner
        )),
        "{out}"
    );
    let (_, err) = b.expect(&["apply"], 1);
    assert!(err.contains("because of conflicts"), "{err}");
    // B created nothing: no container (so nothing mounted A's volume), network or volume.
    assert_nothing_created(&b);
    // A's volume is untouched, still A's, and A's container still runs.
    assert_eq!(volume_labels(&a, &shared), Some(a_labels));
    let running = a.containers(&format!("devarch-{s}-b"));
    assert!(running[&format!("devarch-{s}-b")].1, "{running:?}");
}

fn a_network_of_another_folder_is_a_conflict_and_nothing_is_created(a: Env) {
    // The same stack name in two folders: instance names differ, so only the network collides.
    let s = format!("n{}", unique());
    let net = format!("devarch-{s}-net");
    a.write("t.yaml", &keeper());
    a.write(
        "s.yaml",
        &stack(&s, "    one: {template: keeper, volumes: [\"x:/d\"]}\n"),
    );
    a.expect(&["apply"], 0);
    assert_eq!(a.networks(&net), vec![net.clone()]);

    let b = a.other_folder();
    b.write("t.yaml", &keeper());
    b.write(
        "s.yaml",
        &stack(&s, "    two: {template: keeper, volumes: [\"y:/d\"]}\n"),
    );
    let (out, _) = b.expect(&["plan"], 1);
    assert!(
        out.contains(&format!(
            "error: network {net} already exists and is not this stack's (owned by the devarch folder {})",
            a.owner
        )),
        "{out}"
    );
    let (_, err) = b.expect(&["apply"], 1);
    assert!(err.contains("because of conflicts"), "{err}");
    assert_nothing_created(&b);
    // A's network is still A's only one, and A's container is still attached and running.
    assert_eq!(a.networks(&net), vec![net.clone()]);
    let running = a.containers(&format!("devarch-{s}-one"));
    assert!(running[&format!("devarch-{s}-one")].1, "{running:?}");
}

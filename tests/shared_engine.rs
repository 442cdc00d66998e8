//! Many folders, one engine (issue #21): names on the engine are engine-wide and no folder can
//! take another's, the router's configuration never carries syntax from labels, one folder's
//! router settings never replace the router another folder's names go through, the router's
//! lock lives in the user's own folder, hashes over secret values in shared outputs are keyed,
//! and published ports listen on loopback unless the manifest asks otherwise. Each test
//! performs the attack and expects it refused, on Docker and on Podman.

mod common;

use std::time::{Duration, Instant};

use common::{Env, SITE, router_get, stack, unique, wait_until};
use sha2::{Digest, Sha256};

engine_tests!(
    a_host_name_another_folder_serves_is_a_conflict_never_taken_over,
    labels_no_manifest_wrote_cannot_write_router_configuration,
    another_folders_router_settings_are_a_conflict_not_a_recreate,
    two_folders_applying_and_deleting_side_by_side_never_fail_each_other,
    the_router_lock_is_in_the_users_own_folder,
    published_ports_listen_on_loopback_unless_asked,
    hashes_over_secret_values_in_shared_outputs_are_keyed,
);

/// A stack of one `site` instance `web` serving "site STACK", with `extra` in its mapping.
fn site_stack(name: &str, extra: &str) -> String {
    stack(
        name,
        &format!("    web: {{template: site, env: {{SITE: {name}}}{extra}}}\n"),
    )
}

fn a_host_name_another_folder_serves_is_a_conflict_never_taken_over(env: Env) {
    let n = unique();
    let (a, b) = (format!("dna{n}"), format!("dnb{n}"));
    let name = format!("app{n}.localhost");
    env.write("site.yaml", SITE);
    env.write("s.yaml", &site_stack(&a, &format!(", domains: [{name}]")));
    env.expect(&["apply"], 0);
    assert_eq!(router_get(&env, &name), (200, format!("site {a}")));

    // Another folder declares the same name: its plan names the holder, its apply creates
    // nothing, and the name keeps answering for its owner.
    let other = env.other_folder();
    other.write("site.yaml", SITE);
    other.write("s.yaml", &site_stack(&b, &format!(", domains: [{name}]")));
    let (code, out, err) = other.run(&["plan"]);
    assert_eq!(code, 1, "plan of a claimed name\n{out}\n{err}");
    let text = format!("{out}{err}");
    for part in [
        format!("host name {name} is already claimed by container devarch-{a}-web"),
        env.owner.clone(),
    ] {
        assert!(text.contains(&part), "{part:?} not in:\n{text}");
    }
    other.expect(&["apply"], 1);
    assert!(other.containers(&format!("devarch-{b}-")).is_empty());
    assert_eq!(router_get(&env, &name), (200, format!("site {a}")));
    env.expect(&["plan"], 0);

    // Once the holder lets go of the name, the other folder may have it.
    env.expect(&["delete", &a], 0);
    other.expect(&["apply"], 0);
    assert_eq!(router_get(&env, &name), (200, format!("site {b}")));
}

fn labels_no_manifest_wrote_cannot_write_router_configuration(env: Env) {
    let n = unique();
    let a = format!("inj{n}");
    // A container someone made by hand with devarch's labels, its stack label carrying nginx
    // syntax (owned by this test's folder, so its cleanup removes it).
    let evil = format!("evil{n}.localhost");
    let made = env
        .engine
        .cli()
        .args(["run", "-d", "--name", &format!("devarch-x{n}-web")])
        .args(["--label", "devarch.managed_by=devarch"])
        .args([
            "--label",
            "devarch.stack_id=x\"; } server { listen 7999; return 200 pwned; } #",
        ])
        .args(["--label", "devarch.instance_id=web"])
        .args(["--label", &format!("devarch.domains={evil}")])
        .args(["--label", "devarch.domain_port=8080"])
        .args(["--label", &format!("devarch.owner={}", env.owner)])
        .args(["devarch-fixture/busybox:1", "sleep", "600"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");

    env.write("site.yaml", SITE);
    env.write("s.yaml", &site_stack(&a, ""));
    env.expect(&["apply"], 0);
    let host = format!("web.{a}.localhost");
    assert_eq!(router_get(&env, &host), (200, format!("site {a}")));
    let config = env.sh("devarch-router", "cat /etc/nginx/conf.d/devarch.conf");
    assert!(
        config.contains(&format!("server_name {host};")),
        "not the router's configuration:\n{config}"
    );
    assert!(
        !config.contains("pwned") && !config.contains("7999") && !config.contains(&evil),
        "a label wrote into the router's configuration:\n{config}"
    );
    assert_eq!(
        router_get(&env, &evil).0,
        404,
        "a forged container was routed"
    );
}

fn another_folders_router_settings_are_a_conflict_not_a_recreate(env: Env) {
    let n = unique();
    let (a, b) = (format!("rsa{n}"), format!("rsb{n}"));
    env.write("site.yaml", SITE);
    env.write("s.yaml", &site_stack(&a, ""));
    env.expect(&["apply"], 0);
    let ours = format!("web.{a}.localhost");
    assert_eq!(router_get(&env, &ours), (200, format!("site {a}")));

    // Another folder asks for another router port: a conflict naming this folder and the
    // settings; the router is left as it is and keeps serving this folder's name.
    let other = env.other_folder();
    other.write("site.yaml", SITE);
    other.write("s.yaml", &site_stack(&b, ""));
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let (_, err) = other.expect(&["apply", "--router-port", &port.to_string()], 1);
    let running = env.engine.router();
    for part in [
        "serves host names of other manifests folders".to_string(),
        env.owner.clone(),
        format!("port {}", running.port),
        format!("this apply asks for image {}, port {port}", running.image),
        "--router-port".to_string(),
    ] {
        assert!(err.contains(&part), "{part:?} not in:\n{err}");
    }
    let labels = env.labels("devarch-router");
    assert_eq!(
        labels.get("devarch.router_port"),
        Some(&running.port.to_string()),
        "the router was replaced: {labels:?}"
    );
    assert_eq!(router_get(&env, &ours), (200, format!("site {a}")));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "something listens on the port the other folder asked for"
    );

    // With the same settings, the other folder's next apply (nothing of its own to change)
    // routes its name: the failed sync is remembered.
    let (out, _) = other.expect(&["apply"], 0);
    assert!(out.contains("No changes"), "{out}");
    assert_eq!(
        router_get(&env, &format!("web.{b}.localhost")),
        (200, format!("site {b}"))
    );
}

/// How long two folders apply and delete side by side.
const SIDE_BY_SIDE: Duration = Duration::from_secs(60);

fn two_folders_applying_and_deleting_side_by_side_never_fail_each_other(env: Env) {
    let n = unique();
    let other = env.other_folder();
    let folders = [(&env, format!("lpa{n}")), (&other, format!("lpb{n}"))];
    for (folder, _) in &folders {
        folder.write("site.yaml", SITE);
    }
    let deadline = Instant::now() + SIDE_BY_SIDE;
    let rounds: Vec<usize> = std::thread::scope(|s| {
        let loops: Vec<_> = folders
            .iter()
            .map(|(folder, name)| {
                s.spawn(move || {
                    let host = format!("web.{name}.localhost");
                    let mut rounds = 0;
                    while Instant::now() < deadline {
                        folder.write("s.yaml", &site_stack(name, ""));
                        let (code, out, err) = folder.run(&["apply"]);
                        assert_eq!(code, 0, "apply of {name} failed\n{out}\n{err}");
                        assert_eq!(
                            router_get(folder, &host),
                            (200, format!("site {name}")),
                            "{host} does not answer for its owner after its apply"
                        );
                        let (code, out, err) = folder.run(&["delete", name]);
                        assert_eq!(code, 0, "delete of {name} failed\n{out}\n{err}");
                        rounds += 1;
                    }
                    rounds
                })
            })
            .collect();
        loops.into_iter().map(|l| l.join().unwrap()).collect()
    });
    eprintln!("side by side for {SIDE_BY_SIDE:?}: {rounds:?} apply/delete rounds");
    assert!(rounds.iter().all(|&r| r >= 2), "too few rounds: {rounds:?}");
}

fn the_router_lock_is_in_the_users_own_folder(env: Env) {
    let n = unique();
    let a = format!("lk{n}");
    let run = tempfile::tempdir().unwrap();
    env.write("site.yaml", SITE);
    env.write("s.yaml", &site_stack(&a, ""));
    let (code, out, err) =
        common::run_cmd(env.cmd().env("XDG_RUNTIME_DIR", run.path()).args(["apply"]));
    assert_eq!(code, 0, "{out}\n{err}");
    let dir = run.path().join("devarch");
    let locks: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.starts_with("router-") && f.ends_with(".lock"))
        .collect();
    assert_eq!(locks.len(), 1, "{locks:?}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", dir.display());

    // A lock folder another user could write to is refused, not used.
    let shared = tempfile::tempdir().unwrap();
    std::fs::create_dir(shared.path().join("devarch")).unwrap();
    std::fs::set_permissions(
        shared.path().join("devarch"),
        std::fs::Permissions::from_mode(0o777),
    )
    .unwrap();
    env.write("s.yaml", &site_stack(&a, ", labels: {changed: \"1\"}"));
    let (code, _, err) = common::run_cmd(
        env.cmd()
            .env("XDG_RUNTIME_DIR", shared.path())
            .args(["apply"]),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("router lock"), "{err}");
}

fn published_ports_listen_on_loopback_unless_asked(env: Env) {
    let n = unique();
    let a = format!("lo{n}");
    env.write("site.yaml", SITE);
    env.write(
        "s.yaml",
        &stack(
            &a,
            "    web: {template: site, ports: [{container: 8080, host: auto}]}\n    open: {template: site, ports: [{container: 8080, host: auto, hostIp: 0.0.0.0}]}\n",
        ),
    );
    let (code, plan, err) = env.run(&["plan"]);
    assert_eq!(code, 2, "{plan}\n{err}");
    assert!(plan.contains("ports 127.0.0.1:"), "{plan}");
    assert!(
        plan.contains("port 8080/tcp on 0.0.0.0 is published beyond this machine's loopback"),
        "the opt-in is not shown:\n{plan}"
    );
    let (_, err) = env.expect(&["validate"], 0);
    assert!(
        err.contains("published beyond this machine's loopback"),
        "{err}"
    );
    env.expect(&["apply"], 0);
    let port_of = |container: &str| {
        let out = env
            .engine
            .cli()
            .args(["port", container, "8080/tcp"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let web = port_of(&format!("devarch-{a}-web"));
    assert!(web.starts_with("127.0.0.1:"), "{web}");
    assert!(!web.contains("0.0.0.0") && !web.contains("::"), "{web}");
    let open = port_of(&format!("devarch-{a}-open"));
    assert!(open.starts_with("0.0.0.0:"), "{open}");
    let (out, _) = env.expect(&["describe", "stack", &a], 0);
    assert!(out.contains("127.0.0.1:"), "{out}");
    // Served there, through the published loopback port.
    let port = web.rsplit(':').next().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || {
            std::process::Command::new("curl")
                .args(["-sf", "-m", "2", &format!("http://127.0.0.1:{port}/")])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("site"))
        }),
        "nothing served on 127.0.0.1:{port}"
    );
}

fn hashes_over_secret_values_in_shared_outputs_are_keyed(env: Env) {
    let n = unique();
    let a = format!("hk{n}");
    env.write(
        "s.yaml",
        &format!(
            "{}---\napiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {{name: t}}\nspec:\n  image: devarch-fixture/busybox:1\n  command: [sleep, '600']\n  env: {{API_KEY: {{secret: api_key}}}}\n",
            stack(&a, "    web: {template: t}\n")
        ),
    );
    let (code, _, err) = env.set_secret(&a, "web/api_key", "hunter2");
    assert_eq!(code, 0, "{err}");
    // What an unkeyed hash of the environment was: guessable offline from a shared file.
    let unkeyed = &hex::encode(Sha256::digest(b"API_KEY\0hunter2\0"))[..12];
    let (compose, _) = env.expect(&["compose", &a], 0);
    let (kube, _) = env.expect(&["kube", &a], 0);
    for (what, text) in [("compose", &compose), ("kube", &kube)] {
        assert!(text.contains("env="), "{what} carries no env hash:\n{text}");
        assert!(
            !text.contains(unkeyed),
            "{what} carries the unkeyed hash of the secret:\n{text}"
        );
        assert!(!text.contains("hunter2"), "{what} carries the secret");
    }
    // The engine's container carries the same keyed hash: compose output still matches what
    // devarch makes.
    env.expect(&["apply"], 0);
    let labels = env.labels(&format!("devarch-{a}-web"));
    let fields = &labels["devarch.config_fields"];
    assert!(!fields.contains(unkeyed), "{fields}");
    assert!(
        compose.contains(fields.as_str()),
        "{fields} not in:\n{compose}"
    );
}

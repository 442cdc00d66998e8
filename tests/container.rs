//! The controller as a container: the repository's `Dockerfile` is built (no registry: the base
//! is the locally made devarch-fixture/debian:12, the binary is this build's, stripped) and
//! `devarch watch` runs in it with the engine socket and the manifests folder mounted, as the
//! README shows. One scenario on each engine: a dropped manifest converges, an edit recreates
//! the edited instance, the host CLI sees the same stacks (status, "No changes"), and stopping
//! the container stops the controller cleanly.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Engine, Env, busybox_template, stack, unique};

engine_tests!(the_containerised_controller_converges_a_folder_mounted_from_the_host);

const T: Duration = Duration::from_secs(90);

/// Run the engine's CLI (at the endpoint under test); returns stdout, panics with stderr on
/// failure.
fn cli(e: Engine, args: &[&str]) -> String {
    let out = e.cli().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}{}",
        e.name(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Build the Dockerfile into `tag` from a context holding only this build's binary.
fn build_image(e: Engine, tag: &str) {
    let ctx = tempfile::tempdir().unwrap();
    let bin = ctx.path().join("devarch");
    // Stripped, the debug binary is ~35 MB instead of ~220 MB of build context.
    let stripped = Command::new("strip")
        .arg("-o")
        .arg(&bin)
        .arg(env!("CARGO_BIN_EXE_devarch"))
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(env!("CARGO_BIN_EXE_devarch"), &bin).unwrap();
    }
    let dockerfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("Dockerfile");
    // The offline stage: no registry (the default stage builds from official images).
    let mut args = vec![
        "build",
        "-q",
        "--target",
        "offline",
        "-f",
        common::path_str(&dockerfile),
    ];
    if e == Engine::Podman {
        args.push("--pull=never");
    }
    args.extend(["--build-arg", "BIN=devarch", "-t", tag]);
    args.push(common::path_str(ctx.path()));
    cli(e, &args);
}

/// The controller container and its image, removed on drop.
struct Controller {
    engine: Engine,
    name: String,
    image: String,
}

impl Controller {
    fn logs(&self) -> String {
        let out = self
            .engine
            .cli()
            .args(["logs", &self.name])
            .output()
            .unwrap();
        format!(
            "--- controller container logs\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let e = self.engine;
        // `-v`: the image's VOLUME (/var/lib/devarch) is an anonymous volume; without it every
        // run left one behind on each engine.
        let _ = e.cli().args(["rm", "-f", "-v", &self.name]).output();
        let _ = e.cli().args(["rmi", &self.image]).output();
    }
}

fn the_containerised_controller_converges_a_folder_mounted_from_the_host(env: Env) {
    let e = env.engine;
    let u = unique();
    let image = format!("devarch-controller-test:{u}");
    let t = std::time::Instant::now();
    build_image(e, &image);
    eprintln!("{}: image built in {:?}", e.name(), t.elapsed());
    let ctl = Controller {
        engine: e,
        // Not `devarch-…`: that prefix is the managed objects' namespace.
        name: format!("devarchctl-{u}"),
        image: image.clone(),
    };

    let s = format!("c{u}");
    env.write("t.yaml", &busybox_template("bb", 0));
    let (dir, home) = (
        env.owner.clone(),
        common::path_str(env.home.path()).to_string(),
    );
    let mut run: Vec<String> = ["run", "-d", "--name", &ctl.name, "--network", "host"]
        .map(String::from)
        .to_vec();
    // The engine under test, at the same address inside: its socket mounted at its own path
    // (a TCP endpoint is reached through the host network).
    let endpoint = e.endpoint();
    if let Some(socket) = endpoint.strip_prefix("unix://") {
        run.extend(["-v".into(), format!("{socket}:{socket}")]);
    }
    run.extend([
        "-e".into(),
        format!("{}={endpoint}", e.devarch_var()),
        "-v".into(),
        format!("{dir}:{dir}"),
        "-v".into(),
        format!("{home}:{home}"),
        "-e".into(),
        format!("DEVARCH_DIR={dir}"),
        "-e".into(),
        format!("DEVARCH_HOME={home}"),
        "-e".into(),
        format!("DEVARCH_RUNTIME={}", e.name()),
    ]);
    run.extend([&image, "watch", "--debounce", "200ms"].map(String::from));
    cli(e, &run.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        common::wait_until(T, || ctl.logs().contains("devarch watch started")),
        "controller started\n{}",
        ctl.logs()
    );

    // Drop a manifest into the host folder: the controller in the container converges it.
    env.write("s.yaml", &stack(&s, &common::one_and_two(None)));
    let (one, two) = (format!("devarch-{s}-one"), format!("devarch-{s}-two"));
    let running = |name: &str| env.containers(name).get(name).is_some_and(|c| c.1);
    let t = std::time::Instant::now();
    assert!(
        common::wait_until(T, || running(&one) && running(&two)),
        "stack up\n{}",
        ctl.logs()
    );
    eprintln!(
        "{}: stack up {:?} after the manifest was written",
        e.name(),
        t.elapsed()
    );
    let before = env.containers(&format!("devarch-{s}-"));

    // Edit one instance: only that one is recreated.
    env.write("s.yaml", &stack(&s, &common::one_and_two(Some("2"))));
    assert!(
        common::wait_until(T, || env.recreated_and_running(&two, &before[&two].0)),
        "two recreated\n{}",
        ctl.logs()
    );
    assert_eq!(env.containers(&one)[&one], before[&one]);
    assert!(
        ctl.logs().contains(&format!("-/+ container {two}")),
        "the plan printed before applying\n{}",
        ctl.logs()
    );

    // The host CLI, on the same folder and home, manages the same stacks: nothing to do, and
    // it reads the status the containerised controller wrote.
    if let Err(out) = env.wait_ready(&s, T) {
        panic!(
            "host CLI sees the controller's status\n{out}\n{}",
            ctl.logs()
        );
    }
    let (out, _) = env.expect(&["plan"], 0);
    assert!(out.contains(&format!("stack {s}: up to date")), "{out}");

    // `docker stop` / `podman stop` sends SIGTERM: the controller stops cleanly, exit 0.
    let t = std::time::Instant::now();
    cli(e, &["stop", "-t", "30", &ctl.name]);
    eprintln!(
        "{}: controller container stopped in {:?}",
        e.name(),
        t.elapsed()
    );
    let code = cli(e, &["inspect", "-f", "{{.State.ExitCode}}", &ctl.name]);
    assert_eq!(code.trim(), "0", "{}", ctl.logs());
    assert!(
        ctl.logs().contains("devarch watch stopped"),
        "{}",
        ctl.logs()
    );
}

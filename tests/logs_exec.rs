//! `devarch logs` and `devarch exec` on Docker and Podman (issue #11, section 6): output
//! interleaved with instance prefixes, tail, timestamps and follow; commands that exit with
//! their code, keep stdout and stderr apart, read piped stdin, and get a TTY on a terminal.

mod common;

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use common::{Env, idle_template, stack, unique, wait_until};

engine_tests!(
    logs_interleave_instances_with_their_prefix_and_follow_until_the_containers_stop,
    exec_runs_in_the_instance_and_exits_with_the_commands_code,
);

/// A template whose container prints `hello-NAME` to stdout, `oops-NAME` to stderr, then a
/// `tick N` line every 200 ms.
fn talker() -> String {
    idle_template(
        "talk",
        "",
    )
    .replace(
        "sleep 3600 & wait",
        "echo hello-$NAME; echo oops-$NAME >&2; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done & wait",
    )
}

fn two_talkers(env: &Env) -> String {
    let s = format!("lg{}", unique());
    env.write("t.yaml", &talker());
    env.write(
        "s.yaml",
        &stack(
            &s,
            "    web: {template: talk, env: {NAME: web}}\n    db: {template: talk, env: {NAME: db}}\n",
        ),
    );
    env.expect(&["apply"], 0);
    s
}

fn logs_interleave_instances_with_their_prefix_and_follow_until_the_containers_stop(env: Env) {
    let s = two_talkers(&env);
    let logs = |args: &[&str]| -> String {
        let mut all = vec!["logs", s.as_str()];
        all.extend_from_slice(args);
        env.expect(&all, 0).0
    };
    // Both containers' first lines, each under its own prefix, stderr included.
    let mut out = String::new();
    assert!(
        wait_until(Duration::from_secs(20), || {
            out = logs(&[]);
            // Both containers have had their say (they start a moment apart).
            out.contains("web | tick 2\n") && out.contains("db  | tick 2\n")
        }),
        "{out}"
    );
    for line in [
        "web | hello-web",
        "db  | hello-db",
        "web | oops-web",
        "db  | oops-db",
    ] {
        assert!(out.lines().any(|l| l == line), "{line:?} in\n{out}");
    }
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal: {out:?}"
    );
    let only_db = logs(&["db"]);
    assert!(
        !only_db.is_empty() && only_db.lines().all(|l| l.starts_with("db | ")),
        "{only_db}"
    );
    let tail = logs(&["--tail", "1"]);
    assert_eq!(tail.lines().count(), 2, "one line per container:\n{tail}");
    let stamped = logs(&["web", "--tail", "1", "--timestamps"]);
    let rest = stamped.strip_prefix("web | ").unwrap_or_default();
    assert!(
        rest.len() > 20
            && rest.as_bytes()[4] == b'-'
            && rest.contains('T')
            && rest.contains(" tick "),
        "an RFC 3339 time before the line: {stamped:?}"
    );
    let (code, _, err) = env.run(&["logs", &s, "nope"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no container for instance \"nope\"") && err.contains("db, web"),
        "{err}"
    );

    // Follow: new lines keep coming, and the command ends when the containers stop.
    let out_file = env.home.path().join("follow.out");
    let mut child = env
        .cmd()
        .args(["logs", &s, "web", "-f", "--tail", "0"])
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&out_file).unwrap_or_default();
    assert!(
        wait_until(Duration::from_secs(20), || read().lines().count() >= 3),
        "followed lines: {:?}",
        read()
    );
    assert!(
        read().lines().all(|l| l.starts_with("web | tick ")),
        "{}",
        read()
    );
    env.engine
        .cli()
        .args(["stop", "-t", "2", &format!("devarch-{s}-web")])
        .output()
        .unwrap();
    let ended = wait_until(Duration::from_secs(20), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !ended {
        let _ = child.kill();
    }
    assert!(ended, "logs -f still running after its container stopped");
    assert!(child.wait().unwrap().success());
}

fn exec_runs_in_the_instance_and_exits_with_the_commands_code(env: Env) {
    let s = two_talkers(&env);
    let (code, out, err) = env.run(&[
        "exec",
        &s,
        "web",
        "--",
        "sh",
        "-c",
        "echo out-$NAME; echo err-$NAME >&2; exit 7",
    ]);
    assert_eq!(code, 7, "{out}\n{err}");
    assert_eq!(out, "out-web\n");
    assert!(err.contains("err-web"), "{err}");
    let (code, out, _) = env.run(&["exec", &s, "db", "sh", "-c", "echo $NAME"]);
    assert_eq!((code, out.as_str()), (0, "db\n"));

    // Piped stdin reaches the command, and its end ends it.
    let mut child = env
        .cmd()
        .args(["exec", &s, "web", "--", "sh", "-c", "wc -l"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\nthree\n")
        .unwrap();
    let done = child.wait_with_output().unwrap();
    assert!(done.status.success(), "{done:?}");
    assert_eq!(String::from_utf8_lossy(&done.stdout).trim(), "3");

    // A command that does not exist: the engine's 126 or 127, as `docker exec` exits.
    let (code, _, _) = env.run(&["exec", &s, "web", "no-such-command"]);
    assert!(code == 126 || code == 127, "exit {code}");

    // On a terminal (script(1) gives it one) the command gets a TTY, unless -T.
    let bin = env!("CARGO_BIN_EXE_devarch");
    let args = |extra: &str| {
        format!(
            "{bin} --dir {} --home {} --runtime {} exec {extra} {s} web -- sh -c 'tty; exit 3'",
            env.dir.path().display(),
            env.home.path().display(),
            env.engine.name()
        )
    };
    for (extra, tty) in [("", true), ("-T", false)] {
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &args(extra), "/dev/null"])
            .stdin(Stdio::null())
            .env("DEVARCH_DIAGNOSTICS", "plain");
        env.engine.point(&mut cmd);
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(3), "{text}");
        assert_eq!(text.contains("/dev/pts/"), tty, "{extra:?}: {text:?}");
        assert_eq!(text.contains("not a tty"), !tty, "{extra:?}: {text:?}");
    }

    // A stopped instance is an error that says how to start it.
    env.engine
        .cli()
        .args(["stop", "-t", "2", &format!("devarch-{s}-db")])
        .output()
        .unwrap();
    let (code, _, err) = env.run(&["exec", &s, "db", "true"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("is not running") && err.contains(&format!("devarch apply {s}")),
        "{err}"
    );
}

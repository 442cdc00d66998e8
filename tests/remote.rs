//! A remote engine, for real: the test-only second dockerd of `scripts/remote-engine.sh`,
//! reached over loopback TCP and through sshd (`--runtime tcp://…` / `--runtime ssh://…`).
//! It shares nothing with this machine's engines; devarch must treat it as another machine:
//! config files copied into the container (never bind-mounted from `--home`), host paths
//! relative to the manifests folder refused. Apply, drift repair under `watch`, and delete
//! work through both transports.
//!
//! Endpoints: `DEVARCH_TEST_REMOTE_TCP`, `DEVARCH_TEST_REMOTE_SSH` and
//! `DEVARCH_TEST_REMOTE_SSH_COMMAND` (what `scripts/remote-engine.sh env` prints; the defaults
//! below are its values). No answer there fails the test, unless
//! `DEVARCH_SKIP_ENGINE_TESTS=1`.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{unique, wait_until};

const TCP: &str = "tcp://127.0.0.1:23750";
const SSH: &str = "ssh://root@127.0.0.1:2222/run/devarch-remote-docker.sock";
const SSH_COMMAND: &str = "ssh -i /var/lib/devarch-remote-ssh/client -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR";

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

/// The remote engine's `docker` CLI (always over TCP: the same daemon either way).
fn rdocker() -> Command {
    let mut c = Command::new("docker");
    c.args(["-H", &var("DEVARCH_TEST_REMOTE_TCP", TCP)]);
    c
}

/// A folder and home driving the remote engine through `endpoint`; what it made is removed
/// when dropped.
struct Remote {
    endpoint: String,
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
}

impl Remote {
    /// `None` (after saying why on stderr) when the remote engine does not answer and
    /// skipping was asked for; panics when it does not answer otherwise.
    fn new(endpoint: String) -> Option<Remote> {
        let ok = rdocker()
            .args(["version", "--format", "{{.Server.Version}}"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            let why = "the test-only remote dockerd does not answer: run `scripts/remote-engine.sh start`";
            if common::skip_requested() {
                let _ = writeln!(
                    std::io::stderr(),
                    "SKIP remote ({endpoint}): {why} [DEVARCH_SKIP_ENGINE_TESTS=1]"
                );
                return None;
            }
            panic!("{why} (or set DEVARCH_SKIP_ENGINE_TESTS=1 to skip)");
        }
        Some(Remote {
            endpoint,
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        })
    }

    fn cmd(&self) -> Command {
        let mut c = common::devarch_on(self.dir.path(), self.home.path(), &self.endpoint);
        c.env(
            "DEVARCH_SSH_COMMAND",
            var("DEVARCH_TEST_REMOTE_SSH_COMMAND", SSH_COMMAND),
        )
        .env("DEVARCH_DIAGNOSTICS", "plain")
        .env_remove("DOCKER_HOST");
        c
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        common::run_cmd(self.cmd().args(args))
    }

    fn expect(&self, args: &[&str], code: i32) -> (String, String) {
        let (c, o, e) = self.run(args);
        assert_eq!(
            c, code,
            "devarch {args:?} on {} exited {c}\n--- stdout\n{o}\n--- stderr\n{e}",
            self.endpoint
        );
        (o, e)
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).unwrap();
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let owner = std::fs::canonicalize(self.dir.path()).unwrap();
        let filter = format!("label=devarch.owner={}", owner.display());
        for kind in [["ps", "-aq"], ["network", "ls"], ["volume", "ls"]] {
            let mut list = rdocker();
            list.args(kind).args(["--filter", &filter]);
            if kind[0] != "ps" {
                list.arg("-q");
            }
            let ids = list
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            for id in ids.split_whitespace() {
                let rm: &[&str] = match kind[0] {
                    "ps" => &["rm", "-f"],
                    k => &[k, "rm"],
                };
                let _ = rdocker()
                    .args(rm)
                    .arg(id)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// A stack `s`: busybox serving a config file on 8080.
fn site(s: &str, page: &str) -> String {
    format!(
        r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {{name: site}}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; httpd -f -p 8080 -h /www & wait"]
  configFiles:
    - {{path: /www/index.html, content: "{page}\n", mode: "0640"}}
---
apiVersion: devarch.io/v1alpha1
kind: Stack
metadata: {{name: {s}}}
spec:
  instances:
    web: {{template: site}}
"#
    )
}

/// `cat` of the served file and its mode, read in the container.
fn served(container: &str) -> Option<String> {
    let out = rdocker()
        .args([
            "exec",
            container,
            "sh",
            "-c",
            "stat -c %a /www/index.html; cat /www/index.html",
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

fn running(container: &str) -> bool {
    rdocker()
        .args(["inspect", "--format", "{{.State.Running}}", container])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
}

fn apply_repair_delete(endpoint: String, tag: &str) {
    let Some(r) = Remote::new(endpoint) else {
        return;
    };
    let s = format!("{tag}{}", unique());
    let container = format!("devarch-{s}-web");

    // Config files are copied in, with their mode: nothing is bind-mounted from --home.
    r.write("s.yaml", &site(&s, "first"));
    r.expect(&["apply"], 0);
    assert_eq!(served(&container).as_deref(), Some("640\nfirst\n"));
    let mounts = rdocker()
        .args(["inspect", "--format", "{{len .Mounts}}", &container])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&mounts.stdout).trim(), "0");
    let (out, _) = r.expect(&["describe", "stack", &s], 0);
    assert!(out.contains(&format!("at {}", r.endpoint)), "{out}");

    // An edited file recreates the container with the new content.
    r.write("s.yaml", &site(&s, "second"));
    r.expect(&["apply"], 0);
    assert_eq!(served(&container).as_deref(), Some("640\nsecond\n"));

    // A host path relative to the manifests folder cannot be seen by a remote engine.
    r.write(
        "s.yaml",
        &site(&s, "second").replace(
            "    web: {template: site}",
            "    web: {template: site, volumes: [{source: ./src, target: /src}]}",
        ),
    );
    let (code, _, err) = r.run(&["apply"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("\"./src\"") && err.contains("remote"), "{err}");
    assert!(running(&container), "a refused apply touches nothing");
    r.write("s.yaml", &site(&s, "second"));

    // Drift repair under watch, through the same transport.
    let log = r.home.path().join("watch.err");
    let mut watch = r
        .cmd()
        .args(["watch", "--resync", "3s"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = wait_until(Duration::from_secs(30), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("devarch watch started"))
    });
    let removed = rdocker().args(["rm", "-f", &container]).output().unwrap();
    let repaired = started
        && removed.status.success()
        && wait_until(Duration::from_secs(60), || {
            running(&container) && served(&container).as_deref() == Some("640\nsecond\n")
        });
    let _ = Command::new("kill").arg(watch.id().to_string()).status();
    let _ = watch.wait();
    assert!(
        repaired,
        "not repaired:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    r.expect(&["delete", &s], 0);
    assert!(!running(&container));
    let nets = rdocker()
        .args([
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("name=devarch-{s}-net"),
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&nets.stdout).trim().is_empty());
}

#[test]
fn over_tcp_apply_watch_repair_and_delete_work_and_files_are_copied_in() {
    apply_repair_delete(var("DEVARCH_TEST_REMOTE_TCP", TCP), "rt");
}

#[test]
fn over_ssh_apply_watch_repair_and_delete_work_and_files_are_copied_in() {
    apply_repair_delete(var("DEVARCH_TEST_REMOTE_SSH", SSH), "rs");
}

#[test]
fn an_ssh_endpoint_that_cannot_be_reached_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_devarch"))
        .arg("--dir")
        .arg(dir.path())
        .args(["--runtime", "ssh://nobody@127.0.0.1:1/run/x.sock", "plan"])
        .env(
            "DEVARCH_SSH_COMMAND",
            var("DEVARCH_TEST_REMOTE_SSH_COMMAND", SSH_COMMAND),
        )
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ssh://nobody@127.0.0.1:1/run/x.sock")
            && err.contains("ssh to nobody@127.0.0.1 exited"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_fixed_host_port_taken_on_the_remote_engine_is_a_conflict_in_the_plan() {
    let Some(r) = Remote::new(var("DEVARCH_TEST_REMOTE_TCP", TCP)) else {
        return;
    };
    let s = format!("rp{}", unique());
    // A port nothing on this machine holds, but a container of the remote engine publishes:
    // only the engine knows it is taken.
    let port = 20000 + std::process::id() % 10000;
    let holder = format!("not-devarch-{s}");
    let (ok, out) = {
        let o = rdocker()
            .args(["run", "-d", "--name", &holder, "-p"])
            .arg(format!("127.0.0.1:{port}:80"))
            .args(["devarch-fixture/busybox:1", "sleep", "300"])
            .output()
            .unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    assert!(ok, "{out}");
    r.write(
        "s.yaml",
        &site(&s, "x").replace(
            "    web: {template: site}",
            &format!("    web: {{template: site, ports: [\"{port}:8080\"]}}"),
        ),
    );
    let (code, stdout, stderr) = r.run(&["apply"]);
    let _ = rdocker().args(["rm", "-f", &holder]).output();
    assert_eq!(code, 1, "{stdout}{stderr}");
    let text = format!("{stdout}{stderr}");
    assert!(
        text.contains(&format!("{port}/tcp"))
            && text.contains("another container on the (remote) engine"),
        "{text}"
    );
    assert!(!running(&format!("devarch-{s}-web")));
}

//! Swarm output, deployed for real: `devarch compose STACK --target swarm` on a single-node
//! swarm of the test-only remote dockerd (`scripts/remote-engine.sh`; never the main engine),
//! with `docker stack deploy`. The services become healthy, the client reaches the web service
//! by name, and the web service's config file arrives as a Swarm config with its mode.
//!
//! The swarm is made for the test and left at its end (`docker swarm leave --force`), and its
//! networks removed (a left-over `docker_gwbridge` once shadowed the main engine's bridge).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{unique, wait_until};

const TCP: &str = "tcp://127.0.0.1:23750";

fn endpoint() -> String {
    std::env::var("DEVARCH_TEST_REMOTE_TCP").unwrap_or_else(|_| TCP.to_string())
}

fn rdocker(args: &[&str]) -> (bool, String) {
    let out = Command::new("docker")
        .args(["-H", &endpoint()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The single-node swarm; left (and its networks removed) when dropped.
struct Swarm;

impl Swarm {
    fn init() -> Swarm {
        let (_, state) = rdocker(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        if state.trim() != "active" {
            let (ok, out) = rdocker(&[
                "swarm",
                "init",
                "--advertise-addr",
                "127.0.0.1",
                "--listen-addr",
                "127.0.0.1:2377",
                "--default-addr-pool",
                "10.203.128.0/17",
            ]);
            assert!(ok, "swarm init: {out}");
        }
        Swarm
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        let _ = rdocker(&["swarm", "leave", "--force"]);
        for net in ["docker_gwbridge", "ingress"] {
            let _ = rdocker(&["network", "rm", net]);
        }
    }
}

const MANIFESTS: &str = r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: page}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; httpd -f -p 8080 -h /www & wait"]
  configFiles:
    - {path: /www/index.html, content: "swarm page\n", mode: "0640"}
  healthcheck: {test: [CMD-SHELL, "wget -q -O /dev/null http://127.0.0.1:8080/"], interval: 1s, timeout: 2s, retries: 30}
  ports: [{container: 8080, host: auto}]
  exports: [{name: web, type: page, port: 8080}]
---
apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: reader}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; while true; do wget -q -O /tmp/got http://$PAGE_HOST:$PAGE_PORT/ || rm -f /tmp/got; sleep 1; done & wait"]
  healthcheck: {test: [CMD-SHELL, "grep -q 'swarm page' /tmp/got"], interval: 1s, timeout: 2s, retries: 60}
  imports:
    - {name: page, type: page, env: {PAGE_HOST: "{{host}}", PAGE_PORT: "{{port}}"}}
"#;

#[test]
fn the_swarm_output_deploys_with_docker_stack_deploy_and_its_services_reach_each_other() {
    if !rdocker(&["version"]).0 {
        let why =
            "the test-only remote dockerd does not answer: run `scripts/remote-engine.sh start`";
        if common::skip_requested() {
            eprintln!("SKIP swarm: {why} [DEVARCH_SKIP_ENGINE_TESTS=1]");
            return;
        }
        panic!("{why} (or set DEVARCH_SKIP_ENGINE_TESTS=1 to skip)");
    }
    let s = format!("sw{}", unique());
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.yaml"), MANIFESTS).unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        common::stack(
            &s,
            "    web: {template: page}\n    client: {template: reader}\n",
        ),
    )
    .unwrap();
    let out = common::devarch_on(dir.path(), home.path(), &endpoint())
        .args(["compose", &s, "--target", "swarm"])
        .output()
        .unwrap();
    let file = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "endpoint_mode: 'dnsrr'",
        "mode: 'host'",
        "configs:",
        "driver: 'overlay'",
    ] {
        assert!(file.contains(needle), "{needle} not in:\n{file}");
    }
    assert!(
        !file.contains("container_name") && !file.contains("depends_on"),
        "{file}"
    );
    let path = dir.path().join("swarm.yaml");
    std::fs::write(&path, &file).unwrap();

    let _swarm = Swarm::init();
    let project = format!("devarch-{s}");
    let (ok, deployed) = rdocker(&["stack", "deploy", "-c", path.to_str().unwrap(), &project]);
    assert!(ok, "stack deploy: {deployed}\n{file}");
    let healthy = |service: &str| {
        let filter = format!("label=com.docker.swarm.service.name={project}_{service}");
        let (_, status) = rdocker(&["ps", "--filter", &filter, "--format", "{{.Status}}"]);
        status.contains("(healthy)")
    };
    let up = wait_until(Duration::from_secs(120), || {
        healthy("web") && healthy("client")
    });
    let (_, tasks) = rdocker(&["stack", "ps", "--no-trunc", &project]);
    let served = {
        let filter = format!("label=com.docker.swarm.service.name={project}_web");
        let (_, id) = rdocker(&["ps", "-q", "--filter", &filter]);
        rdocker(&[
            "exec",
            id.trim(),
            "sh",
            "-c",
            "stat -c %a /www/index.html; cat /www/index.html",
        ])
        .1
    };
    let _ = rdocker(&["stack", "rm", &project]);
    wait_until(Duration::from_secs(60), || {
        rdocker(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.stack.namespace={project}"),
        ])
        .1
        .trim()
        .is_empty()
            && !rdocker(&["network", "ls", "--format", "{{.Name}}"])
                .1
                .contains(&project)
    });
    assert!(
        up,
        "services not healthy (client reads web by name):\n{tasks}"
    );
    assert_eq!(served, "640\nswarm page\n");
}

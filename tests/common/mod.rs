//! The one harness of the tests against real engines: which endpoint each engine is tested at,
//! what happens when it does not answer, per-test manifests folder and home, the `devarch`
//! binary and the engines' own CLIs pointed at the same endpoint, and cleanup of everything a
//! test created.
//!
//! Endpoints: `DEVARCH_TEST_DOCKER_HOST` and `DEVARCH_TEST_PODMAN_HOST`, by default the sockets
//! that `scripts/engines.sh` starts. An engine that does not answer fails the test, unless
//! `DEVARCH_SKIP_ENGINE_TESTS=1`: then the test passes after writing a `SKIP` line straight to
//! stderr (not through `eprintln!`, which the test harness captures).
#![allow(dead_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use devarch::runtime::engine::EngineRuntime;
use devarch::runtime::{EngineKind, Runtime, connect::connect_endpoint};

/// An engine under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }

    pub fn kind(self) -> EngineKind {
        match self {
            Engine::Docker => EngineKind::Docker,
            Engine::Podman => EngineKind::Podman,
        }
    }

    /// The variable that points the tests at another endpoint of this engine.
    pub fn var(self) -> &'static str {
        match self {
            Engine::Docker => "DEVARCH_TEST_DOCKER_HOST",
            Engine::Podman => "DEVARCH_TEST_PODMAN_HOST",
        }
    }

    /// The socket `scripts/engines.sh` starts.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Engine::Docker => "unix:///var/run/docker.sock",
            Engine::Podman => "unix:///run/podman/podman.sock",
        }
    }

    /// The endpoint under test: [`Engine::var`], else [`Engine::default_endpoint`]. A plain
    /// path means a Unix socket.
    pub fn endpoint(self) -> String {
        endpoint_from(self.var()).unwrap_or_else(|| self.default_endpoint().to_string())
    }

    /// Is the endpoint under test the one `scripts/engines.sh` starts?
    pub fn at_default_endpoint(self) -> bool {
        self.endpoint() == self.default_endpoint()
    }

    /// The variable through which `devarch` finds this engine at the endpoint under test
    /// (see `controller/runtime/connect.rs`).
    pub fn devarch_var(self) -> &'static str {
        match self {
            Engine::Docker => "DOCKER_HOST",
            Engine::Podman => "DEVARCH_PODMAN_SOCKET",
        }
    }

    /// Points a `devarch` process at the endpoint under test (for Podman, `CONTAINER_HOST`
    /// would come first: it is removed), with this engine's test router ([`Engine::router`]).
    pub fn point(self, cmd: &mut Command) -> &mut Command {
        let router = self.router();
        cmd.env_remove("CONTAINER_HOST")
            .env(self.devarch_var(), self.endpoint())
            .env("DEVARCH_ROUTER_IMAGE", router.image)
            .env("DEVARCH_ROUTER_PORT", router.port.to_string())
    }

    /// The router the tests of this engine share: the fixture nginx image, and a host port of
    /// its own per engine (both engines publish on this machine's loopback).
    pub fn router(self) -> devarch::router::RouterSettings {
        devarch::router::RouterSettings {
            image: "devarch-fixture/router:1".into(),
            port: match self {
                Engine::Docker => 7480,
                Engine::Podman => 7481,
            },
        }
    }

    /// The engine's own CLI, talking to the endpoint under test (`docker -H`, `podman --url`).
    pub fn cli(self) -> Command {
        let mut c = Command::new(self.name());
        c.arg(match self {
            Engine::Docker => "-H",
            Engine::Podman => "--url",
        })
        .arg(self.endpoint());
        c
    }
}

/// The endpoint in variable `var`, if set (as devarch reads it: a plain path is a Unix socket).
pub fn endpoint_from(var: &str) -> Option<String> {
    let value = std::env::var(var).ok()?;
    match value.trim() {
        "" => None,
        path if path.starts_with('/') => Some(format!("unix://{path}")),
        endpoint => Some(endpoint.to_string()),
    }
}

/// Generates `mod docker { #[test] fn NAME() }` and `mod podman { #[test] fn NAME() }` for each
/// test body `NAME`; each runs `RUN(Engine, "binary::engine::NAME", NAME)`. `RUN` is
/// [`run`] (bodies taking an [`Env`]) unless given as `engine_tests!(run: PATH; NAME, ...)`.
#[macro_export]
macro_rules! engine_tests {
    (run: $run:path; $($name:ident),* $(,)?) => {
        $crate::engine_tests!(@engine docker, Docker, $run; $($name),*);
        $crate::engine_tests!(@engine podman, Podman, $run; $($name),*);
    };
    (@engine $module:ident, $engine:ident, $run:path; $($name:ident),*) => {
        mod $module {
            $(
                #[test]
                fn $name() {
                    $run(
                        $crate::common::Engine::$engine,
                        concat!(module_path!(), "::", stringify!($name)),
                        super::$name,
                    )
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::engine_tests!(run: $crate::common::run; $($name),*);
    };
}

/// Runs one engine test: connects to the engine (or skips, see [`unavailable`]), then runs
/// `body` with a fresh [`Env`], which removes what the test created when dropped.
pub fn run(engine: Engine, test: &'static str, body: impl FnOnce(Env)) {
    if let Some(rt) = block_on(connect(engine, test)) {
        body(Env::new(engine, test, rt));
    }
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Was skipping engine tests asked for (`DEVARCH_SKIP_ENGINE_TESTS=1`)?
pub fn skip_requested() -> bool {
    std::env::var("DEVARCH_SKIP_ENGINE_TESTS").is_ok_and(|v| v == "1")
}

/// `test` cannot run on `engine` because of `why`. With `DEVARCH_SKIP_ENGINE_TESTS=1`, writes
/// one `SKIP` line to the process's stderr (directly: the test harness captures only the
/// `print!`/`eprint!` macros) and returns, and the caller returns; otherwise panics, saying
/// how to make the engines answer.
pub fn unavailable(test: &str, engine: Engine, why: &str) {
    if skip_requested() {
        let _ = writeln!(
            std::io::stderr(),
            "SKIP {test} ({}): {why} [DEVARCH_SKIP_ENGINE_TESTS=1]",
            engine.name()
        );
        return;
    }
    panic!(
        "{test} ({}): {why}\n\
         Engine tests need Docker at DEVARCH_TEST_DOCKER_HOST (default {}) and Podman at \
         DEVARCH_TEST_PODMAN_HOST (default {}). Start both with `scripts/engines.sh all` (as \
         root), or set DEVARCH_SKIP_ENGINE_TESTS=1 to skip the engine tests that cannot run \
         here.",
        engine.name(),
        Engine::Docker.default_endpoint(),
        Engine::Podman.default_endpoint(),
    );
}

/// Connects to `engine` at the endpoint under test and checks that it is that engine; `None`
/// when it does not answer and skipping was asked for (see [`unavailable`]).
pub async fn connect(engine: Engine, test: &str) -> Option<EngineRuntime> {
    let endpoint = engine.endpoint();
    match connect_endpoint(&endpoint).await {
        Ok(rt) => {
            assert_eq!(
                rt.engine().kind,
                engine.kind(),
                "{test}: {endpoint} ({}) answers as {:?}",
                engine.var(),
                rt.engine()
            );
            Some(rt)
        }
        Err(e) => {
            unavailable(
                test,
                engine,
                &format!(
                    "{} does not answer at {endpoint} ({}): {e}",
                    engine.name(),
                    engine.var()
                ),
            );
            None
        }
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short unique suffix for stack names (DNS-label safe).
pub fn unique() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{:x}{n}", std::process::id() % 0xfffff)
}

/// A manifests folder + home for one test, cleaned up (with all runtime objects it owns) on drop.
pub struct Env {
    pub engine: Engine,
    /// The test's full name, for [`unavailable`].
    pub test: &'static str,
    pub rt: Box<dyn Runtime>,
    pub dir: tempfile::TempDir,
    pub home: tempfile::TempDir,
    pub owner: String,
}

impl Env {
    fn new(engine: Engine, test: &'static str, rt: EngineRuntime) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let owner = std::fs::canonicalize(dir.path())
            .unwrap()
            .display()
            .to_string();
        Env {
            engine,
            test,
            rt: Box::new(rt),
            dir,
            home,
            owner,
        }
    }

    /// Another manifests folder and home on the same engine (another owner), cleaned up on
    /// drop like this one.
    pub fn other_folder(&self) -> Env {
        let rt = block_on(connect(self.engine, self.test)).expect("the engine answered before");
        Env::new(self.engine, self.test, rt)
    }

    /// A new connection to the engine (after it was restarted: the old one's pooled sockets
    /// died with it).
    pub fn reconnect(&mut self) {
        let endpoint = self.engine.endpoint();
        match block_on(connect_endpoint(&endpoint)) {
            Ok(rt) => self.rt = Box::new(rt),
            Err(e) => panic!("{} at {endpoint} is not back: {e}", self.engine.name()),
        }
    }

    pub fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).unwrap();
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn cmd(&self) -> Command {
        let mut c = devarch_on(self.dir.path(), self.home.path(), self.engine.name());
        self.engine.point(&mut c);
        c
    }

    /// `devarch secret set STACK NAME` with `value` on stdin; (exit code, stdout, stderr).
    pub fn set_secret(&self, stack: &str, name: &str, value: &str) -> (i32, String, String) {
        let mut child = self
            .cmd()
            .args(["secret", "set", stack, name])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{value}").unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// Run devarch with args; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        run_cmd(self.cmd().args(args))
    }

    /// Run devarch and require an exit code.
    pub fn expect(&self, args: &[&str], code: i32) -> (String, String) {
        let (c, o, e) = self.run(args);
        assert_eq!(
            c, code,
            "devarch {args:?} exited {c}\n--- stdout\n{o}\n--- stderr\n{e}"
        );
        (o, e)
    }

    /// `sh -c script` in a running container with the engine's own CLI; its stdout, `None`
    /// when the command fails (or the container is being recreated). Podman 4.3's `exec` now
    /// and then returns no output at all right after a start, exit 0: an empty answer is asked
    /// again (a few times) before it counts.
    pub fn try_sh(&self, container: &str, script: &str) -> Option<String> {
        for _ in 0..5 {
            let out = self
                .engine
                .cli()
                .args(["exec", container, "sh", "-c", script])
                .output()
                .unwrap();
            if !out.status.success() {
                return None;
            }
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if !text.is_empty() {
                return Some(text);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        Some(String::new())
    }

    /// [`Env::try_sh`] that must succeed.
    pub fn sh(&self, container: &str, script: &str) -> String {
        self.try_sh(container, script)
            .unwrap_or_else(|| panic!("{script} failed in {container}"))
    }

    /// A container's labels, as the engine reports them.
    pub fn labels(&self, container: &str) -> std::collections::BTreeMap<String, String> {
        block_on(self.rt.inspect_container(container))
            .unwrap_or_else(|e| panic!("inspect {container}: {e}"))
            .summary
            .labels
    }

    /// A container's output and exit code, read with the engine's own CLI (for failure messages).
    pub fn engine_logs(&self, container: &str) -> String {
        let cli = |args: &[&str]| {
            self.engine
                .cli()
                .args(args)
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout).to_string()
                        + &String::from_utf8_lossy(&o.stderr)
                })
                .unwrap_or_else(|e| format!("({} {args:?}: {e})", self.engine.name()))
        };
        let state = cli(&[
            "inspect",
            "--format",
            "exit {{.State.ExitCode}} started {{.State.StartedAt}} finished {{.State.FinishedAt}}",
            container,
        ]);
        format!(
            "--- {container}: {}--- its logs\n{}",
            state,
            cli(&["logs", "--timestamps", container])
        )
    }

    /// Our containers by name → (id, running).
    pub fn containers(&self, prefix: &str) -> std::collections::BTreeMap<String, (String, bool)> {
        block_on(self.rt.list_containers(prefix))
            .unwrap()
            .into_iter()
            .map(|c| (c.name, (c.id, c.state.is_running())))
            .collect()
    }

    /// Wait until `devarch get stacks` shows `stack` Ready; the last output when it does not.
    pub fn wait_ready(&self, stack: &str, timeout: std::time::Duration) -> Result<(), String> {
        let mut last = String::new();
        let ok = wait_until(timeout, || {
            last = self.run(&["get", "stacks"]).1;
            last.lines()
                .any(|l| l.starts_with(stack) && l.contains("Ready"))
        });
        if ok { Ok(()) } else { Err(last) }
    }

    /// Is container `name` running, with another ID than `old` (recreated)?
    pub fn recreated_and_running(&self, name: &str, old: &str) -> bool {
        self.containers(name)
            .get(name)
            .is_some_and(|c| c.1 && c.0 != old)
    }

    pub fn networks(&self, prefix: &str) -> Vec<String> {
        block_on(self.rt.list_networks(prefix))
            .unwrap()
            .into_iter()
            .map(|n| n.name)
            .collect()
    }

    pub fn volumes(&self, prefix: &str) -> Vec<String> {
        block_on(self.rt.list_volumes(prefix))
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Remove everything owned by this test's manifests folder, whatever state the test left.
        let owner = self.owner.clone();
        let (rt, engine) = (&self.rt, self.engine);
        block_on(async {
            let owned = |l: &std::collections::BTreeMap<String, String>| {
                l.get("devarch.owner") == Some(&owner)
            };
            let mut routed = false;
            if let Ok(cs) = rt.list_containers("devarch-").await {
                for c in cs.into_iter().filter(|c| owned(&c.labels)) {
                    routed |= c.labels.contains_key(devarch::identity::LABEL_DOMAINS);
                    let _ = rt.remove_container(&c.id, true).await;
                }
            }
            // As devarch does after removing routed containers: the router drops their names
            // (and is removed when nothing is routed any more).
            if routed
                && let Err(e) = devarch::router::sync(rt.as_ref(), &engine.router(), &owner).await
            {
                eprintln!("cleanup: router sync: {e}");
            }
            if let Ok(ns) = rt.list_networks("devarch-").await {
                for n in ns.into_iter().filter(|n| owned(&n.labels)) {
                    devarch::router::release_network(rt.as_ref(), &n.id).await;
                    let _ = rt.remove_network(&n.id).await;
                }
            }
            if let Ok(vs) = rt.list_volumes("devarch-").await {
                for v in vs.into_iter().filter(|v| owned(&v.labels)) {
                    let _ = rt.remove_volume(&v.name).await;
                }
            }
        });
    }
}

/// Runs `cmd` to its end: (exit code, stdout, stderr).
pub fn run_cmd(cmd: &mut Command) -> (i32, String, String) {
    let out: Output = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `devarch --dir DIR --home HOME --runtime RUNTIME` with plain diagnostics.
pub fn devarch_on(dir: &Path, home: &Path, runtime: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_devarch"));
    c.arg("--dir")
        .arg(dir)
        .arg("--home")
        .arg(home)
        .arg("--runtime")
        .arg(runtime)
        .env("DEVARCH_DIAGNOSTICS", "plain");
    c
}

/// A Stack document with the given (indented) `instances:` entries.
pub fn stack(name: &str, instances: &str) -> String {
    format!(
        "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  description: test\n  instances:\n{instances}"
    )
}

/// Instances `one` and `two` of template `bb`, for [`stack`]; with `x`, `two` also sets
/// `env: {X: x}` (an edit that recreates only `two`).
pub fn one_and_two(x: Option<&str>) -> String {
    match x {
        None => "    one: {template: bb}\n    two: {template: bb}\n".to_string(),
        Some(x) => {
            format!("    one: {{template: bb}}\n    two: {{template: bb, env: {{X: \"{x}\"}}}}\n")
        }
    }
}

/// The busybox fixture as a template that gets healthy after `delay` seconds.
pub fn busybox_template(name: &str, delay: u32) -> String {
    format!(
        r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {{name: {name}}}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; sleep {delay}; touch /tmp/ready; httpd -f -p 8080 -h /tmp & wait"]
  # Healthy once the page is served (not merely once the file exists: httpd may not listen yet).
  healthcheck: {{test: [CMD-SHELL, "wget -q -O /dev/null http://127.0.0.1:8080/ready"], interval: 1s, timeout: 2s, retries: 60}}
  ports: [{{container: 8080, host: auto}}]
  volumes: [{{name: data, target: /data}}]
  exports: [{{name: http, type: http, port: 8080}}]
"#
    )
}

/// A Template `name` of the busybox fixture that idles until stopped, with `spec` (lines
/// indented by two spaces) added to its spec.
pub fn idle_template(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {{name: {name}}}\nspec:\n  image: devarch-fixture/busybox:1\n  command: [sh, -c, \"trap 'exit 0' TERM INT; sleep 3600 & wait\"]\n{spec}"
    )
}

pub fn wait_until(timeout: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    false
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Run `script` in a throwaway busybox container on `network`; returns its exit code.
pub fn probe(env: &Env, network: &str, script: &str) -> i64 {
    use devarch::runtime::ContainerSpec;
    let name = format!("devarch-probe-{}", unique());
    let mut labels = std::collections::BTreeMap::new();
    labels.insert("devarch.owner".to_string(), env.owner.clone());
    let spec = ContainerSpec {
        name: name.clone(),
        image: "devarch-fixture/busybox:1".into(),
        command: Some(vec!["sh".into(), "-c".into(), script.into()]),
        network: network.into(),
        labels,
        ..Default::default()
    };
    block_on(async {
        let id = env.rt.create_container(&spec).await.unwrap();
        env.rt.start_container(&id).await.unwrap();
        let start = std::time::Instant::now();
        let code = loop {
            let d = env.rt.inspect_container(&id).await.unwrap();
            if let (false, Some(code), Some(_)) =
                (d.summary.state.is_running(), d.exit_code, &d.started_at)
            {
                break code;
            }
            assert!(start.elapsed().as_secs() < 30, "probe did not finish");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        let _ = env.rt.remove_container(&id, true).await;
        code
    })
}

/// A `devarch watch` process for a test, killed (SIGTERM, then SIGKILL) on drop.
pub struct Watcher {
    pub child: Option<std::process::Child>,
    pub out: PathBuf,
    pub err: PathBuf,
}

impl Env {
    /// Start `devarch watch` on this test's folder: `--resync 3s` unless `extra` sets it,
    /// `--debounce 200ms`, and each periodic resync logged (see [`Watcher::resyncs`]).
    pub fn watch(&self, extra: &[&str]) -> Watcher {
        let n = unique();
        let out = self.home.path().join(format!("watch-{n}.out"));
        let err = self.home.path().join(format!("watch-{n}.err"));
        let child = self
            .cmd()
            .arg("watch")
            .args(if extra.contains(&"--resync") {
                &[][..]
            } else {
                &["--resync", "3s"][..]
            })
            .args(["--debounce", "200ms"])
            .args(extra)
            .env("DEVARCH_LOG", "info,devarch::resync=debug")
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Watcher {
            child: Some(child),
            out,
            err,
        }
    }
}

impl Watcher {
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }
    /// Both outputs, for assertion messages.
    pub fn logs(&self) -> String {
        format!(
            "--- watch stdout\n{}\n--- watch stderr\n{}",
            self.stdout(),
            self.stderr()
        )
    }
    /// Wait until `pred(stdout, stderr)` holds.
    pub fn wait_for(
        &self,
        timeout: std::time::Duration,
        what: &str,
        pred: impl Fn(&str, &str) -> bool,
    ) {
        let ok = wait_until(timeout, || pred(&self.stdout(), &self.stderr()));
        assert!(ok, "timed out waiting for {what}\n{}", self.logs());
    }
    /// How many times `needle` occurs in the controller's log.
    pub fn count(&self, needle: &str) -> usize {
        self.stderr().matches(needle).count()
    }
    /// Waits until `needle` occurs more than `before` times in the controller's log.
    pub fn wait_count(&self, timeout: std::time::Duration, needle: &str, before: usize) {
        self.wait_for(
            timeout,
            &format!("{needle:?} more than {before} times"),
            |_, err| err.matches(needle).count() > before,
        );
    }
    /// The periodic resyncs the controller has completed so far, in order: the number of
    /// stacks due (scheduled for a reconcile) in each.
    pub fn resyncs(&self) -> Vec<usize> {
        self.stderr()
            .lines()
            .filter(|l| l.contains("resync done"))
            .map(|l| {
                let due = l.split_whitespace().find_map(|w| w.strip_prefix("due="));
                due.and_then(|d| d.parse().ok())
                    .unwrap_or_else(|| panic!("no due= count in {l:?}"))
            })
            .collect()
    }
    /// Waits until the controller has completed `n` periodic resyncs after the first `seen`;
    /// returns the number of stacks due in each of those.
    pub fn wait_resyncs(&self, timeout: std::time::Duration, seen: usize, n: usize) -> Vec<usize> {
        self.wait_for(
            timeout,
            &format!("{n} resyncs after the first {seen}"),
            |_, _| self.resyncs().len() >= seen + n,
        );
        self.resyncs()[seen..seen + n].to_vec()
    }
    /// The login link `watch --listen` prints (waited for): `http://ADDR/#token=TOKEN`.
    pub fn login_link(&self) -> String {
        self.wait_for(
            std::time::Duration::from_secs(30),
            "the login link",
            |_, err| err.contains("/#token="),
        );
        self.stderr()
            .split_whitespace()
            .find(|t| t.contains("/#token="))
            .unwrap()
            .to_string()
    }
    /// The API's address (`127.0.0.1:PORT`) and `Authorization` header value, from the login
    /// link.
    pub fn api_access(&self) -> (String, String) {
        let link = self.login_link();
        let addr = link
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let token = link.split("token=").nth(1).unwrap();
        (addr, format!("Bearer {token}"))
    }
    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }
    /// SIGKILL, no cleanup.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
    /// SIGTERM and wait for a clean exit; returns the exit status.
    pub fn stop(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        unsafe_free_sigterm(c.id());
        let start = std::time::Instant::now();
        loop {
            if let Ok(Some(s)) = c.try_wait() {
                return Some(s);
            }
            if start.elapsed().as_secs() > 30 {
                let _ = c.kill();
                return c.wait().ok();
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

fn unsafe_free_sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// At most `n` holders at once within a test binary (controller tests time real engine work,
/// and too many at once on 2 cores measure the machine, not devarch).
pub struct Slot;

static SLOTS: std::sync::Mutex<usize> = std::sync::Mutex::new(0);
static SLOT_FREED: std::sync::Condvar = std::sync::Condvar::new();

impl Slot {
    pub fn take(n: usize) -> Slot {
        let mut used = SLOTS.lock().unwrap_or_else(|e| e.into_inner());
        while *used >= n {
            used = SLOT_FREED.wait(used).unwrap_or_else(|e| e.into_inner());
        }
        *used += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *SLOTS.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        SLOT_FREED.notify_one();
    }
}

/// `devarch validate` on `dir` with fancy (snippet) or plain diagnostics, which must end
/// within 10 s: (exit code, stdout + stderr).
pub fn validate_folder(dir: &Path, fancy: bool) -> (i32, String) {
    let start = std::time::Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_devarch"))
        .arg("--dir")
        .arg(dir)
        .arg("validate")
        .env("DEVARCH_DIAGNOSTICS", if fancy { "fancy" } else { "plain" })
        .output()
        .unwrap();
    assert!(
        start.elapsed() < std::time::Duration::from_secs(10),
        "validate took {:?}",
        start.elapsed()
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Allocates `stack` in `home` for the manifests folder `owner` (its secrets and host ports,
/// no container of it running yet), then builds its desired state: the two steps
/// `reconcile::plan_with` takes before planning.
pub fn allocate_and_build(
    stack: &devarch::resolve::ResolvedStack,
    home: &Path,
    owner: &str,
) -> Result<
    (
        devarch::resolve::desired::Bindings,
        devarch::resolve::desired::DesiredStack,
    ),
    String,
> {
    use devarch::allocate::{Allocation, allocate};
    use devarch::state::ports::{PortError, PortStore};
    use std::collections::HashSet;
    let secrets =
        devarch::state::secrets::SecretStore::open(home, owner).map_err(|e| e.to_string())?;
    let (no_ports, no_containers) = (HashSet::new(), HashSet::new());
    let bindings = PortStore::with_locked(home, |ports| {
        let mut a = Allocation {
            owner,
            secrets: &secrets,
            ports,
            fixed_in_use: &no_ports,
            existing: &no_containers,
            repick_busy: true,
            engine_ports: None,
        };
        Ok::<_, PortError>(allocate(stack, &mut a))
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let ctx = devarch::resolve::desired::DesiredContext {
        home,
        owner,
        user_home: None,
        remote: false,
    };
    let desired =
        devarch::resolve::desired::build(stack, &ctx, &bindings).map_err(|e| e.to_string())?;
    Ok((bindings, desired))
}

/// One HTTP/1.1 exchange over a fresh connection; (status, head, body).
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    std::io::Write::write_all(&mut stream, req.as_bytes()).unwrap();
    std::io::Write::write_all(&mut stream, body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

/// The `code` of a problem document.
pub fn problem_code(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Templates `kv` (exports type kv) and `ticker` (imports it as `store`, prints `tick-$A`
/// every 0.2 s), and stack `name` whose `app` could be wired to either of two stores: the
/// import is ambiguous until a wire chooses. The stack file has comments to keep.
pub fn two_stores(name: &str) -> (String, String) {
    let templates = r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: kv}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; sleep 3600 & wait"]
  exports: [{name: kv, type: kv, port: 6379}]
---
apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: ticker}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; while :; do echo tick-$A; sleep 0.2; done & wait"]
  imports: [{name: store, type: kv, env: {STORE_HOST: "{{host}}"}}]
"#;
    let stack = format!(
        "# {name}: two stores, one app\napiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata:\n  name: {name}  # keep this comment\nspec:\n  instances:\n    # the app\n    app:\n      template: ticker\n    one: {{template: kv}}\n    two: {{template: kv}}\n"
    );
    (templates.to_string(), stack)
}

/// `scripts/engines.sh ACTION ENGINE`.
pub fn engines_sh(action: &str, e: Engine) -> Result<(), String> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/engines.sh");
    let out = Command::new("bash")
        .arg(script)
        .args([action, e.name()])
        .output()
        .map_err(|err| err.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "scripts/engines.sh {action} {} failed:\n{}{}",
            e.name(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The engine is started again when the test ends, whatever happened (the suites after this
/// one need it).
pub struct Stopped(Engine);

impl Stopped {
    /// Stop `e`; fails when this script does not own its daemon.
    pub fn stop(e: Engine) -> Result<Stopped, String> {
        engines_sh("stop", e).map(|()| Stopped(e))
    }
    pub fn start(self) {
        let e = self.0;
        std::mem::forget(self);
        engines_sh("start", e).unwrap();
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Err(err) = engines_sh("start", self.0) {
            eprintln!("{err}");
        }
    }
}

/// A template serving "site $SITE" on 8080, exported as `http` (so routed at its instance's
/// default `{instance}.{stack}.localhost` name).
pub const SITE: &str = r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: site}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "mkdir -p /www && echo \"site $SITE\" > /www/index.html && trap 'exit 0' TERM INT; httpd -f -p 8080 -h /www & wait"]
  exports: [{name: http, type: http, port: 8080}]
"#;

/// `curl http://HOST:PORT/` through the engine's test router: (HTTP status, body), status 0
/// when nothing answered. curl itself resolves `*.localhost` to loopback.
pub fn router_get(env: &Env, host: &str) -> (u16, String) {
    let port = env.engine.router().port;
    let out = Command::new("curl")
        .args(["-sS", "-m", "10", "-w", "\n%{http_code}"])
        .arg(format!("http://{host}:{port}/"))
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.trim().to_string())
}

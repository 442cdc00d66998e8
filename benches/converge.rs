//! Converge benchmark: devarch against the engine floor and Docker Compose, on Docker and Podman.
//!
//! Run: `scripts/bench` (installs the compose baselines when missing), or
//! `cargo bench --bench converge`. Results and how to read them: `docs/benchmarks.md`.
//!
//! Per engine, in one run (ratios are against baselines measured in the same run, interleaved
//! repetition by repetition, in a rotating order, so that drift of a shared machine hits every
//! tool alike):
//!
//! 1. **Cold converge** of a stack of `N` (20) busybox-fixture containers on their own network,
//!    from nothing to all running:
//!    - `floor`: a hand-written loop over devarch's own [`Runtime`] trait, in process: create the
//!      network, then create + start all containers concurrently (`join_all`). It creates exactly
//!      the network labels and container specs that `devarch apply` would (taken from devarch's
//!      own resolve/plan, outside the timing), so the two differ only in what devarch does
//!      around the engine calls;
//!    - `devarch`: `devarch apply STACK` as a real process (release binary), process start
//!      included;
//!    - `compose`: `docker-compose -p P up -d` (Docker) / `podman-compose -p P up -d` (Podman) on
//!      the equivalent compose file (same image, default command, one network).
//!
//!    Teardown between repetitions (`devarch delete --purge-volumes`, `compose down`, removal by
//!    hand) is timed apart (informative) and followed by a pause for the engine to settle. Every
//!    run is checked: all `N` containers running afterwards.
//! 2. **No-op re-apply** on the converged stack: `devarch apply` again vs `compose up -d` again,
//!    end to end. The engine's event stream is watched during the no-op and the events about the
//!    stack's objects are counted: devarch's must be 0 (see [`EventWatch`]).
//! 3. **Observation cost**: `devarch::observe::observe` with `N` vs `N_LARGE` (100) containers
//!    present, timed in process, through a wrapper [`Runtime`] that counts (and times) the engine
//!    calls.
//!
//! Knobs (environment): `DEVARCH_BENCH_ENGINES` (`docker,podman`), `DEVARCH_BENCH_REPS` (cold
//! repetitions per tool, 5), `DEVARCH_BENCH_NOOPS` (devarch no-ops per repetition, 3),
//! `DEVARCH_BENCH_WARMUP` (unmeasured rounds first, 1), `DEVARCH_BENCH_INSTANCES` (20),
//! `DEVARCH_BENCH_OBSERVE_LARGE` (100), `DEVARCH_BENCH_OBSERVE_REPS` (15),
//! `DEVARCH_BENCH_SETTLE_MS` (1500). With the defaults a run takes 7-9 minutes on 2 cores.
//! `cargo bench --bench converge -- --cleanup` only removes what an interrupted run left.
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it does nothing: a full run takes
//! minutes and needs both engines and both compose tools.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use devarch::reconcile::{self, Context, Manifests, Selection};
use devarch::runtime::connect::connect_endpoint;
use devarch::runtime::{ContainerSpec, Runtime};
use devarch::workspace::Workspace;
use futures_util::future::join_all;
use support::{Counting, Ev, EventWatch, Mode, Res, Samples, describe, env_num, fmt_d, nanos};

/// Image every container runs (its default command stays up and stops at once on SIGTERM).
const IMAGE: &str = "devarch-fixture/busybox:1";
/// Label on every container the bench creates, whatever the tool.
const BENCH_LABEL: (&str, &str) = ("devarch.bench", "converge");
/// Start of every stack / project name of this bench (`devarch-cvb…`, `cvb…_i00_1`, `pod_cvb…`).
const NAME_ROOT: &str = "cvb";

// ---------------------------------------------------------------------------------------------
// Settings

struct Settings {
    engines: Vec<String>,
    reps: usize,
    noops: usize,
    warmup: usize,
    instances: usize,
    observe_large: usize,
    observe_reps: usize,
    /// Pause after each teardown: an engine goes on cleaning up (shims, mounts, network
    /// namespaces) after it answered, which would slow down whichever tool runs next.
    settle: Duration,
}

impl Settings {
    fn from_env() -> Self {
        Settings {
            engines: support::engines_from_env(),
            reps: env_num("DEVARCH_BENCH_REPS", 5).max(1),
            noops: env_num("DEVARCH_BENCH_NOOPS", 3).max(1),
            warmup: env_num("DEVARCH_BENCH_WARMUP", 1),
            instances: env_num("DEVARCH_BENCH_INSTANCES", 20).clamp(1, 99),
            observe_large: env_num("DEVARCH_BENCH_OBSERVE_LARGE", 100).clamp(1, 999),
            observe_reps: env_num("DEVARCH_BENCH_OBSERVE_REPS", 15).max(1),
            settle: Duration::from_millis(env_num("DEVARCH_BENCH_SETTLE_MS", 1500) as u64),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The result table

struct Row {
    engine: String,
    case: String,
    tool: String,
    samples: Samples,
    /// (what the ratio is against, its median)
    base: Option<(String, Duration)>,
    note: String,
}

fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(
        "| engine | case | tool | n | median | min | max | ratio | notes |\n|---|---|---|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let ratio = match &r.base {
            Some((what, base)) if !base.is_zero() && !r.samples.0.is_empty() => format!(
                "{:.2}× {what}",
                r.samples.median().as_secs_f64() / base.as_secs_f64()
            ),
            _ => "–".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.engine,
            r.case,
            r.tool,
            r.samples.0.len(),
            fmt_d(r.samples.median()),
            fmt_d(r.samples.min()),
            fmt_d(r.samples.max()),
            ratio,
            r.note
        );
    }
    out
}

// ---------------------------------------------------------------------------------------------
// One engine under test

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Floor,
    Devarch,
    Compose,
}

struct Bench {
    engine: &'static str,
    socket: &'static str,
    compose: Option<&'static str>,
    rt: Box<dyn Runtime>,
    tokio: tokio::runtime::Runtime,
    work: tempfile::TempDir,
    home: PathBuf,
    base: String,
    serial: std::cell::Cell<usize>,
    n: usize,
}

/// Removes every object of this bench from the engine when dropped (also on panic).
struct Sweep<'a>(&'a Bench);
impl Drop for Sweep<'_> {
    fn drop(&mut self) {
        self.0.sweep(NAME_ROOT);
    }
}

fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn tokio_rt() -> tokio::runtime::Runtime {
    // Like the devarch CLI: two workers.
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn instance(i: usize) -> String {
    format!("i{i:02}")
}

fn run_timed(cmd: &mut Command) -> Res<(Duration, Output)> {
    cmd.stdin(Stdio::null());
    let t = Instant::now();
    let out = cmd
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    let d = t.elapsed();
    if !out.status.success() {
        return Err(format!(
            "{:?} {:?} exited {:?}\n--- stdout\n{}\n--- stderr\n{}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((d, out))
}

impl Bench {
    fn new(engine: &str, n: usize) -> Res<Bench> {
        let (engine, socket, compose) = match engine {
            "docker" => ("docker", "/var/run/docker.sock", "docker-compose"),
            "podman" => ("podman", "/run/podman/podman.sock", "podman-compose"),
            other => return Err(format!("unknown engine {other:?}")),
        };
        let tokio = tokio_rt();
        let rt: Box<dyn Runtime> = Box::new(
            tokio
                .block_on(connect_endpoint(&format!("unix://{socket}")))
                .map_err(|e| e.to_string())?,
        );
        let work = tempfile::tempdir().map_err(|e| e.to_string())?;
        let home = work.path().join("home");
        std::fs::create_dir_all(&home).map_err(|e| e.to_string())?;
        Ok(Bench {
            engine,
            socket,
            compose: have(compose).then_some(compose),
            rt,
            tokio,
            work,
            home,
            base: format!("{NAME_ROOT}{:04x}", std::process::id() & 0xffff),
            serial: std::cell::Cell::new(0),
            n,
        })
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.tokio.block_on(f)
    }

    /// A fresh name like `cvb1a2bd007` (tool letter + serial, fixed width: no name is a
    /// prefix of another).
    fn token(&self, tool: Tool) -> String {
        let s = self.serial.get();
        self.serial.set(s + 1);
        let letter = match tool {
            Tool::Floor => 'f',
            Tool::Devarch => 'd',
            Tool::Compose => 'c',
        };
        format!("{}{letter}{s:03}", self.base)
    }

    fn label_map(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(BENCH_LABEL.0.to_string(), BENCH_LABEL.1.to_string())])
    }

    // ---- listing and cleanup by hand

    /// Containers of one unit (devarch stack, floor set or compose project) and whether all of
    /// them run.
    fn running(&self, prefix: &str) -> Res<(usize, usize)> {
        let cs = self
            .block_on(self.rt.list_containers(prefix))
            .map_err(|e| e.to_string())?;
        Ok((cs.len(), cs.iter().filter(|c| c.state.is_running()).count()))
    }

    fn expect_running(&self, prefix: &str, n: usize) -> Res<()> {
        let (all, up) = self.running(prefix)?;
        if all != n || up != n {
            return Err(format!(
                "{}: expected {n} running containers named {prefix}*, found {all} ({up} running)",
                self.engine
            ));
        }
        Ok(())
    }

    /// Force-remove containers, networks (and Podman pods) whose name starts with a prefix of
    /// this bench. Quiet: best effort.
    fn sweep(&self, token: &str) {
        let prefixes = [format!("devarch-{token}"), token.to_string()];
        self.block_on(async {
            for p in &prefixes {
                if let Ok(cs) = self.rt.list_containers(p).await {
                    // In batches: Docker 20.10 was seen to keep a stale endpoint (and so refuse
                    // to remove the network for good) after 80 concurrent forced removals.
                    for batch in cs.chunks(20) {
                        join_all(batch.iter().map(|c| self.rt.remove_container(&c.id, true))).await;
                    }
                }
            }
            for p in &prefixes {
                let Ok(ns) = self.rt.list_networks(p).await else {
                    continue;
                };
                for n in ns {
                    let mut tries = 0;
                    while let Err(e) = self.rt.remove_network(&n.id).await {
                        if e.is_not_found() {
                            break;
                        }
                        tries += 1;
                        if tries == 5 {
                            eprintln!(
                                "warning: {}: cannot remove network {}: {e}",
                                self.engine, n.name
                            );
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        if self.engine == "podman" {
            let pods = Command::new("podman")
                .args(["pod", "ps", "--format", "{{.Name}}"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
                .unwrap_or_default();
            for pod in pods
                .lines()
                .filter(|p| p.starts_with(&format!("pod_{token}")))
            {
                let _ = Command::new("podman")
                    .args(["pod", "rm", "-f", pod])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }

    // ---- the floor

    fn floor_specs(&self, token: &str, count: usize, first: usize) -> Vec<ContainerSpec> {
        let network = format!("devarch-{token}-net");
        (first..first + count)
            .map(|i| ContainerSpec {
                name: format!("devarch-{token}-{}", instance(i)),
                image: IMAGE.into(),
                labels: self.label_map(),
                hostname: Some(instance(i)),
                network: network.clone(),
                aliases: vec![instance(i)],
                ..Default::default()
            })
            .collect()
    }

    /// Network, then every container created and started concurrently.
    async fn floor_converge(
        &self,
        token: &str,
        network_labels: &BTreeMap<String, String>,
        specs: &[ContainerSpec],
    ) -> Res<()> {
        // (devarch's create_network returns an existing network of that name.)
        let network = format!("devarch-{token}-net");
        self.rt
            .create_network(&network, network_labels)
            .await
            .map_err(|e| e.to_string())?;
        let results = join_all(specs.iter().map(|spec| async move {
            let id = self.rt.create_container(spec).await?;
            self.rt.start_container(&id).await
        }))
        .await;
        for r in results {
            r.map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// The exact network labels and container specs `devarch apply` would create for a stack
    /// of this bench named `token` (devarch's own resolve and plan, not timed): the floor then
    /// differs from devarch only in what devarch does around the engine calls.
    fn devarch_specs(&self, token: &str) -> Res<(BTreeMap<String, String>, Vec<ContainerSpec>)> {
        let dir = self.manifests(token)?;
        let ws = Workspace::load(&dir).map_err(|e| e.to_string())?;
        let ctx = Context {
            runtime: self.rt.as_ref(),
            home: self.home.clone(),
            owner: devarch::identity::owner_of(&dir),
            router: devarch::router::RouterSettings::default(),
        };
        let sel = Selection {
            stacks: vec![token.to_string()],
            ..Selection::default()
        };
        let mut planned = self
            .block_on(reconcile::plan(&ctx, &Manifests::of(&ws), &sel))
            .map_err(|e| e.to_string())?;
        let desired = planned
            .desired
            .remove(token)
            .ok_or_else(|| format!("no desired state for stack {token}"))?;
        Ok((
            desired.network_labels,
            desired.containers.into_values().map(|c| c.spec).collect(),
        ))
    }

    fn floor_cold(&self, token: &str) -> Res<Duration> {
        let (labels, specs) = self.devarch_specs(token)?;
        let t = Instant::now();
        self.block_on(self.floor_converge(token, &labels, &specs))?;
        Ok(t.elapsed())
    }

    // ---- devarch

    fn manifests(&self, stack: &str) -> Res<PathBuf> {
        let dir = self.work.path().join(format!("m-{stack}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut y = format!(
            "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {{name: benchbox}}\nspec:\n  image: {IMAGE}\n  labels: {{{}: {}}}\n---\napiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  description: converge benchmark\n  instances:\n",
            BENCH_LABEL.0, BENCH_LABEL.1
        );
        for i in 0..self.n {
            let _ = writeln!(y, "    {}: {{template: benchbox}}", instance(i));
        }
        std::fs::write(dir.join("stack.yaml"), y).map_err(|e| e.to_string())?;
        Ok(dir)
    }

    fn devarch(&self, dir: &Path, args: &[&str]) -> Command {
        let mut c = support::devarch_cmd(dir, &self.home, self.engine);
        c.args(args);
        c
    }

    /// `devarch delete`, then removal by hand of anything it left; returns the delete's time.
    fn devarch_delete(&self, dir: &Path, stack: &str) -> Duration {
        let d = match run_timed(&mut self.devarch(dir, &["delete", stack, "--purge-volumes"])) {
            Ok((d, _)) => d,
            Err(e) => {
                eprintln!("warning: devarch delete {stack}: {e}");
                Duration::ZERO
            }
        };
        self.sweep(stack);
        d
    }

    // ---- compose

    fn compose_file(&self, project: &str) -> Res<PathBuf> {
        let dir = self.work.path().join(format!("c-{project}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut y = String::from("services:\n");
        for i in 0..self.n {
            let _ = writeln!(
                y,
                "  {}:\n    image: {IMAGE}\n    labels: {{{}: {}}}",
                instance(i),
                BENCH_LABEL.0,
                BENCH_LABEL.1
            );
        }
        let f = dir.join("compose.yaml");
        std::fs::write(&f, y).map_err(|e| e.to_string())?;
        Ok(f)
    }

    fn compose(&self, tool: &str, project: &str, file: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(tool);
        c.arg("-p")
            .arg(project)
            .arg("-f")
            .arg(file)
            .args(args)
            .env_remove("DOCKER_HOST")
            .env_remove("CONTAINER_HOST")
            .current_dir(file.parent().unwrap_or(Path::new("/")));
        c
    }

    /// `compose down`, then removal by hand of anything it left; returns the down's time.
    fn compose_down(&self, tool: &str, project: &str, file: &Path) -> Duration {
        let d = match run_timed(&mut self.compose(tool, project, file, &["down"])) {
            Ok((d, _)) => d,
            Err(e) => {
                eprintln!("warning: {tool} down {project}: {e}");
                Duration::ZERO
            }
        };
        self.sweep(project);
        d
    }

    // ---- events

    fn watch(&self) -> Res<EventWatch> {
        EventWatch::start(self.socket)
    }

    /// Ends a watch: creates and removes a marker container, waits for it in the stream, and
    /// returns the events before it whose object name contains `token`.
    fn events_of(&self, watch: EventWatch, token: &str) -> Res<Vec<Ev>> {
        let s = self.serial.get();
        self.serial.set(s + 1);
        let marker = format!("{}m{s:03}", self.base);
        let spec = ContainerSpec {
            name: marker.clone(),
            image: IMAGE.into(),
            labels: self.label_map(),
            ..Default::default()
        };
        let id = self
            .block_on(self.rt.create_container(&spec))
            .map_err(|e| format!("marker container: {e}"))?;
        let evs = watch.finish(&marker);
        let _ = self.block_on(self.rt.remove_container(&id, true));
        Ok(evs?
            .into_iter()
            .filter(|e| e.name.contains(token))
            .collect())
    }
}

// ---------------------------------------------------------------------------------------------
// The measurements of one engine

/// `observe()` with some number of containers present.
#[derive(Clone)]
struct Observed {
    /// Bench containers present.
    present: usize,
    /// `devarch-*` containers it listed (other users of the engine included).
    seen: usize,
    samples: Samples,
    /// List calls and other engine calls per `observe()`.
    lists: f64,
    other: f64,
    /// Mean latency of the containers, networks and volumes list calls (they run concurrently).
    list_ms: [f64; 3],
}

#[derive(Clone, Default)]
struct Results {
    cold: BTreeMap<&'static str, Samples>,
    /// Per tool: its teardown (devarch delete / compose down / removal by hand), not a target.
    teardown: BTreeMap<&'static str, Samples>,
    /// Per tool: (start → first engine event, first → last event, last event → done).
    phases: BTreeMap<&'static str, [Samples; 3]>,
    cold_events: BTreeMap<&'static str, Vec<usize>>,
    /// Per tool: what the events of a cold converge were, for each distinct count seen.
    cold_kinds: BTreeMap<&'static str, BTreeMap<usize, String>>,
    /// Rounds that failed (engine trouble) and were run again.
    retried: Vec<String>,
    noop_devarch: Samples,
    noop_compose: Samples,
    noop_events_devarch: Vec<usize>,
    noop_events_compose: Vec<usize>,
    noop_event_kinds: BTreeMap<&'static str, String>,
    validate: Samples,
    plan: Samples,
    observe: Vec<Observed>,
}

fn tool_name(b: &Bench, t: Tool) -> &'static str {
    match t {
        Tool::Floor => "floor",
        Tool::Devarch => "devarch",
        Tool::Compose => b.compose.unwrap_or("compose"),
    }
}

fn record_phases(
    res: &mut Results,
    name: &'static str,
    start: SystemTime,
    end: SystemTime,
    evs: &[Ev],
) {
    res.cold_events.entry(name).or_default().push(evs.len());
    res.cold_kinds
        .entry(name)
        .or_default()
        .entry(evs.len())
        .or_insert_with(|| describe(evs));
    let (Some(first), Some(last)) = (
        evs.iter().map(|e| e.time_nano).min(),
        evs.iter().map(|e| e.time_nano).max(),
    ) else {
        return;
    };
    let d = |a: i64, b: i64| Duration::from_nanos(u64::try_from(b - a).unwrap_or(0));
    let p = res.phases.entry(name).or_default();
    p[0].push(d(nanos(start), first));
    p[1].push(d(first, last));
    p[2].push(d(last, nanos(end)));
}

/// One cold converge by one tool, with its no-op re-applies when `measure`; cleaned up after.
fn round(b: &Bench, s: &Settings, tool: Tool, measure: bool, res: &mut Results) -> Res<()> {
    let name = tool_name(b, tool);
    let token = b.token(tool);
    match tool {
        Tool::Floor => {
            let guard = Cleanup::new(|| {
                let t = Instant::now();
                b.sweep(&token);
                t.elapsed()
            });
            let watch = b.watch()?;
            let start = SystemTime::now();
            let d = b.floor_cold(&token);
            let end = SystemTime::now();
            let d = d?;
            let evs = b.events_of(watch, &format!("devarch-{token}-"))?;
            b.expect_running(&format!("devarch-{token}-"), b.n)?;
            if measure {
                res.cold.entry(name).or_default().push(d);
                record_phases(res, name, start, end, &evs);
            }
            let t = guard.run();
            std::thread::sleep(s.settle);
            if measure {
                res.teardown.entry(name).or_default().push(t);
            }
        }
        Tool::Devarch => {
            let dir = b.manifests(&token)?;
            let guard = Cleanup::new(|| b.devarch_delete(&dir, &token));
            let watch = b.watch()?;
            let start = SystemTime::now();
            let (d, _) = run_timed(&mut b.devarch(&dir, &["apply", &token]))?;
            let end = SystemTime::now();
            let evs = b.events_of(watch, &format!("devarch-{token}-"))?;
            b.expect_running(&format!("devarch-{token}-"), b.n)?;
            if measure {
                res.cold.entry(name).or_default().push(d);
                record_phases(res, name, start, end, &evs);
                for _ in 0..s.noops {
                    let watch = b.watch()?;
                    let (d, out) = run_timed(&mut b.devarch(&dir, &["apply", &token]))?;
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    if !stdout.contains("No changes") {
                        return Err(format!("devarch no-op apply changed something:\n{stdout}"));
                    }
                    res.noop_devarch.push(d);
                    let evs = b.events_of(watch, &format!("devarch-{token}-"))?;
                    if !evs.is_empty() {
                        res.noop_event_kinds.insert("devarch", describe(&evs));
                    }
                    res.noop_events_devarch.push(evs.len());
                }
                // Where a no-op's time goes: load only, then load + connect + observe + plan.
                let (d, _) = run_timed(&mut b.devarch(&dir, &["validate"]))?;
                res.validate.push(d);
                let (d, _) = run_timed(&mut b.devarch(&dir, &["plan", &token]))?;
                res.plan.push(d);
            }
            let t = guard.run();
            std::thread::sleep(s.settle);
            if measure {
                res.teardown.entry(name).or_default().push(t);
            }
        }
        Tool::Compose => {
            let Some(cmd) = b.compose else {
                return Ok(());
            };
            let file = b.compose_file(&token)?;
            let guard = Cleanup::new(|| b.compose_down(cmd, &token, &file));
            let watch = b.watch()?;
            let start = SystemTime::now();
            let (d, _) = run_timed(&mut b.compose(cmd, &token, &file, &["up", "-d"]))?;
            let end = SystemTime::now();
            let evs = b.events_of(watch, &token)?;
            b.expect_running(&format!("{token}_"), b.n)?;
            if measure {
                res.cold.entry(name).or_default().push(d);
                record_phases(res, name, start, end, &evs);
                let watch = b.watch()?;
                let (d, _) = run_timed(&mut b.compose(cmd, &token, &file, &["up", "-d"]))?;
                res.noop_compose.push(d);
                let evs = b.events_of(watch, &token)?;
                if !evs.is_empty() {
                    res.noop_event_kinds.insert("compose", describe(&evs));
                }
                res.noop_events_compose.push(evs.len());
            }
            let t = guard.run();
            std::thread::sleep(s.settle);
            if measure {
                res.teardown.entry(name).or_default().push(t);
            }
        }
    }
    Ok(())
}

/// Removes what one round created: when dropped (also on error or panic), or when [`run`] is
/// called, which times it.
///
/// [`run`]: Cleanup::run
struct Cleanup<'a>(Option<Box<dyn FnOnce() -> Duration + 'a>>);
impl<'a> Cleanup<'a> {
    fn new(f: impl FnOnce() -> Duration + 'a) -> Self {
        Cleanup(Some(Box::new(f)))
    }
    /// Runs it now; returns the time of the tool's own teardown command.
    fn run(mut self) -> Duration {
        self.0.take().map(|f| f()).unwrap_or_default()
    }
}
impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            let _ = f();
        }
    }
}

/// `observe()` with the devarch stack (N containers) present, then with N_LARGE.
fn observation(b: &Bench, s: &Settings, res: &mut Results) -> Res<()> {
    let token = b.token(Tool::Devarch);
    let dir = b.manifests(&token)?;
    let _stack = Cleanup::new(|| b.devarch_delete(&dir, &token));
    run_timed(&mut b.devarch(&dir, &["apply", &token]))?;
    b.expect_running(&format!("devarch-{token}-"), b.n)?;
    let extra = b.token(Tool::Floor);
    let _extra = Cleanup::new(|| {
        b.sweep(&extra);
        Duration::ZERO
    });
    let mut measure = |present: usize| -> Res<()> {
        let counting = Counting::new(b.rt.as_ref());
        let mut samples = Samples::default();
        let mut seen = 0;
        b.block_on(async {
            // One unmeasured call first (connection set up).
            let _ = devarch::observe::observe(&counting).await;
            counting.reset();
            for _ in 0..s.observe_reps {
                let t = Instant::now();
                let w = devarch::observe::observe(&counting)
                    .await
                    .map_err(|e| e.to_string())?;
                samples.push(t.elapsed());
                seen = w.containers.len();
            }
            Ok::<_, String>(())
        })?;
        let per = |c: &AtomicUsize| c.load(Ordering::Relaxed) as f64 / s.observe_reps as f64;
        let times = *counting.list_time.lock().expect("lock");
        res.observe.push(Observed {
            present,
            seen,
            samples,
            lists: per(&counting.lists),
            other: per(&counting.other),
            list_ms: times.map(|t| t.as_secs_f64() * 1e3 / s.observe_reps as f64),
        });
        Ok(())
    };
    measure(b.n)?;
    let more = s.observe_large.saturating_sub(b.n);
    if more > 0 {
        let specs = b.floor_specs(&extra, more, 0);
        // In batches of 20: a hundred concurrent creates only queue up in the engine.
        for chunk in specs.chunks(20) {
            b.block_on(b.floor_converge(&extra, &b.label_map(), chunk))?;
        }
        b.expect_running(&format!("devarch-{extra}-"), more)?;
        measure(b.n + more)?;
    }
    Ok(())
}

/// [`round`], run again (up to 3 times per engine in all) when it fails: on a shared machine an
/// engine may stall or be restarted under us. Results of a failed round are dropped.
fn round_retried(b: &Bench, s: &Settings, tool: Tool, measure: bool, res: &mut Results) -> Res<()> {
    loop {
        let before = res.clone();
        match round(b, s, tool, measure, res) {
            Ok(()) => return Ok(()),
            Err(e) if before.retried.len() < 3 => {
                *res = before;
                let first = e.lines().next().unwrap_or_default().to_string();
                eprintln!(
                    "[{}] {} round failed, running it again: {first}",
                    b.engine,
                    tool_name(b, tool)
                );
                res.retried.push(format!("{}: {first}", tool_name(b, tool)));
                // Wait for the engine to answer again, then remove what the round left.
                let deadline = Instant::now() + Duration::from_secs(180);
                while Instant::now() < deadline
                    && b.block_on(b.rt.list_volumes("devarch-cvb")).is_err()
                {
                    std::thread::sleep(Duration::from_secs(2));
                }
                b.sweep(NAME_ROOT);
            }
            Err(e) => return Err(e),
        }
    }
}

fn run_engine(b: &Bench, s: &Settings, rows: &mut Vec<Row>, extra: &mut String) -> Res<()> {
    let _sweep = Sweep(b);
    b.sweep(NAME_ROOT); // leftovers of an interrupted run
    let mut res = Results::default();
    let tools = [Tool::Floor, Tool::Devarch, Tool::Compose];
    let t0 = Instant::now();
    for w in 0..s.warmup {
        for t in tools {
            eprintln!("[{}] warm-up {w}: {}", b.engine, tool_name(b, t));
            round_retried(b, s, t, false, &mut res)?;
        }
    }
    for rep in 0..s.reps {
        // Rotate the order so that no tool always runs right after another one's cleanup.
        for k in 0..tools.len() {
            let t = tools[(rep + k) % tools.len()];
            eprintln!(
                "[{}] rep {}/{}: {} ({:.0}s elapsed)",
                b.engine,
                rep + 1,
                s.reps,
                tool_name(b, t),
                t0.elapsed().as_secs_f64()
            );
            round_retried(b, s, t, true, &mut res)?;
        }
    }
    eprintln!("[{}] observe()", b.engine);
    observation(b, s, &mut res)?;

    // Rows.
    let e = b.engine.to_string();
    let n = b.n;
    let floor = res
        .cold
        .get("floor")
        .map(Samples::median)
        .unwrap_or_default();
    for t in tools {
        let name = tool_name(b, t);
        let Some(samples) = res.cold.get(name) else {
            continue;
        };
        let evs = res.cold_events.get(name).cloned().unwrap_or_default();
        // Each repetition ran every tool once, close in time: the median of the per-repetition
        // ratios is less sensitive to a shared machine's drift than the ratio of medians.
        let paired = res.cold.get("floor").map(|f| {
            let mut r: Vec<f64> = samples
                .0
                .iter()
                .zip(&f.0)
                .map(|(t, f)| t.as_secs_f64() / f.as_secs_f64())
                .collect();
            r.sort_by(f64::total_cmp);
            match r.len() {
                0 => 0.0,
                k if k % 2 == 1 => r[k / 2],
                k => (r[k / 2 - 1] + r[k / 2]) / 2.0,
            }
        });
        rows.push(Row {
            engine: e.clone(),
            case: format!("cold converge, {n} containers"),
            tool: name.to_string(),
            samples: samples.clone(),
            base: Some(("floor".into(), floor)),
            note: format!(
                "{}engine events per run: {}",
                match (t, paired) {
                    (Tool::Floor, _) | (_, None) => String::new(),
                    (_, Some(p)) => format!("median of per-rep ratios {p:.2}×; "),
                },
                evs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("/")
            ),
        });
    }
    let compose_noop = res.noop_compose.median();
    let cname = b.compose.unwrap_or("compose");
    let zero = |v: &[usize]| v.iter().all(|&c| c == 0);
    rows.push(Row {
        engine: e.clone(),
        case: "no-op re-apply".into(),
        tool: "devarch".into(),
        samples: res.noop_devarch.clone(),
        base: (!res.noop_compose.0.is_empty()).then(|| (cname.to_string(), compose_noop)),
        note: format!(
            "events about the stack: {} ({}){}",
            res.noop_events_devarch.iter().sum::<usize>(),
            if zero(&res.noop_events_devarch) {
                "zero mutating calls"
            } else {
                "NOT ZERO"
            },
            res.noop_event_kinds
                .get("devarch")
                .map(|k| format!(": {k}"))
                .unwrap_or_default()
        ),
    });
    if !res.noop_compose.0.is_empty() {
        rows.push(Row {
            engine: e.clone(),
            case: "no-op re-apply".into(),
            tool: cname.into(),
            samples: res.noop_compose.clone(),
            base: Some((cname.to_string(), compose_noop)),
            note: format!(
                "events about the project: {}{}",
                res.noop_events_compose.iter().sum::<usize>(),
                res.noop_event_kinds
                    .get("compose")
                    .map(|k| format!(": {k}"))
                    .unwrap_or_default()
            ),
        });
    }
    let noop = res.noop_devarch.median();
    rows.push(Row {
        engine: e.clone(),
        case: "no-op, part: load only".into(),
        tool: "devarch validate".into(),
        samples: res.validate.clone(),
        base: Some(("devarch no-op".into(), noop)),
        note: "process start + load/validate/resolve, no engine".into(),
    });
    rows.push(Row {
        engine: e.clone(),
        case: "no-op, part: + connect, observe, plan".into(),
        tool: "devarch plan".into(),
        samples: res.plan.clone(),
        base: Some(("devarch no-op".into(), noop)),
        note: "apply adds the stack lock (and a second observe only when the engine holds stacks the manifests no longer name)".into(),
    });
    let small = res
        .observe
        .first()
        .map(|o| o.samples.median())
        .unwrap_or_default();
    for o in &res.observe {
        rows.push(Row {
            engine: e.clone(),
            case: format!("observe(), {} bench containers", o.present),
            tool: "devarch::observe".into(),
            samples: o.samples.clone(),
            base: Some((format!("{n} containers"), small)),
            note: format!(
                "{} list calls (+{} other engine calls) per observe(); {} devarch-* containers listed; each call: containers {:.1} ms, networks {:.1} ms, volumes {:.1} ms (concurrent)",
                o.lists, o.other, o.seen, o.list_ms[0], o.list_ms[1], o.list_ms[2]
            ),
        });
    }
    for t in tools {
        let name = tool_name(b, t);
        if let Some(samples) = res.teardown.get(name) {
            rows.push(Row {
                engine: e.clone(),
                case: format!("teardown, {n} containers (not a target)"),
                tool: match t {
                    Tool::Floor => "floor (force-remove by hand)".to_string(),
                    Tool::Devarch => "devarch delete".to_string(),
                    Tool::Compose => format!("{name} down"),
                },
                samples: samples.clone(),
                base: None,
                note: String::new(),
            });
        }
    }

    let _ = writeln!(
        extra,
        "\n{} engine events of one cold converge (per distinct count seen):\n",
        b.engine
    );
    for t in tools {
        let name = tool_name(b, t);
        for (count, kinds) in res.cold_kinds.get(name).into_iter().flatten() {
            let _ = writeln!(extra, "- {name}: {count} = {kinds}");
        }
    }
    for r in &res.retried {
        let _ = writeln!(extra, "- round failed and was run again: {r}");
    }

    // Phases of the cold converge, from the engine's event timeline.
    let _ = writeln!(
        extra,
        "\n{} cold converge, phases from the engine event timeline (medians):\n\n| tool | start → first engine event | first → last event | last event → done |\n|---|---:|---:|---:|",
        b.engine
    );
    for t in tools {
        let name = tool_name(b, t);
        if let Some(p) = res.phases.get(name) {
            let _ = writeln!(
                extra,
                "| {name} | {} | {} | {} |",
                fmt_d(p[0].median()),
                fmt_d(p[1].median()),
                fmt_d(p[2].median())
            );
        }
    }
    Ok(())
}

fn machine_info(benches: &[&Bench]) -> String {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut s = format!(
        "machine: {cpus} CPUs ({model}), load average {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for b in benches {
        let i = b.rt.engine();
        let compose = b
            .compose
            .and_then(|c| Command::new(c).arg("version").output().ok())
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_else(|| "not installed".into());
        let _ = write!(
            s,
            "\n{}: {} {} (API {}), baseline: {compose}",
            b.engine, i.kind, i.version, i.api_version
        );
    }
    s
}

fn main() {
    let settings = Settings::from_env();
    match support::mode(
        "converge",
        "`cargo bench --bench converge` or `scripts/bench converge`",
    ) {
        Mode::Skip => return,
        Mode::Cleanup => {
            for e in &settings.engines {
                if let Ok(b) = Bench::new(e, 1) {
                    b.sweep(NAME_ROOT);
                    eprintln!("{e}: removed leftovers of the converge bench");
                }
            }
            return;
        }
        Mode::Run => {}
    }

    let mut rows = Vec::new();
    let mut extra = String::new();
    let mut benches = Vec::new();
    let mut failed = false;
    for e in &settings.engines {
        match Bench::new(e, settings.instances) {
            Ok(b) => {
                if b.compose.is_none() {
                    eprintln!(
                        "warning: {e}: {} not installed; compose rows left out (scripts/bench installs it)",
                        if e == "docker" {
                            "docker-compose"
                        } else {
                            "podman-compose"
                        }
                    );
                }
                benches.push(b);
            }
            Err(err) => {
                eprintln!("SKIP {e}: {err} (run scripts/engines.sh start)");
                failed = true;
            }
        }
    }
    let started = Instant::now();
    for b in &benches {
        if let Err(err) = run_engine(b, &settings, &mut rows, &mut extra) {
            eprintln!("error: {}: {err}", b.engine);
            failed = true;
        }
    }
    let refs: Vec<&Bench> = benches.iter().collect();
    println!("\n{}", machine_info(&refs));
    println!(
        "settings: {} containers, {} cold reps per tool (+{} warm-up), {} devarch no-ops per rep, observe() ×{}; took {:.0} s\n",
        settings.instances,
        settings.reps,
        settings.warmup,
        settings.noops,
        settings.observe_reps,
        started.elapsed().as_secs_f64()
    );
    print!("{}", table(&rows));
    println!("{extra}");
    println!(
        "targets (issue; reported, not asserted): cold converge ≤ 1.05× floor; no-op apply ≤ 50 ms with zero mutating calls; observe() makes 3 list calls whatever the count"
    );
    if failed {
        std::process::exit(1);
    }
}

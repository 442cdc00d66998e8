//! Scale benchmark (issue #15 §4): folders of 1, 10, 50 and 100 stacks × 5 instances on
//! Docker and Podman — 500 containers at the top.
//!
//! Run: `scripts/bench scale` or `cargo bench --bench scale`. Results: `docs/benchmarks.md`.
//!
//! Per engine and folder size, in one run:
//!
//! 1. **Cold converge of the whole folder**, from nothing to every container running:
//!    - `floor`: in process, through devarch's own [`Runtime`]: every stack's network, then its
//!      containers created and started, all stacks at once (`join_all`, no bound) — with the
//!      exact network labels and container specs `devarch apply` creates (taken from devarch's
//!      own plan, outside the timing);
//!    - `devarch apply` of the folder as a real process (release binary, process start
//!      included).
//!
//!    Both are checked: every container running afterwards. The floor's objects are removed
//!    (and the engine left to settle) before devarch runs.
//! 2. **No-op apply**: `devarch apply` of the whole converged folder, and `devarch apply STACK`
//!    of one of its stacks (`DEVARCH_BENCH_NOOPS`, 3 each; median).
//! 3. **The controller** (`watch::run` in process, default debounce, through a [`Counting`]
//!    runtime and a sink that records status changes): startup until every stack is Ready,
//!    with its engine calls; the engine calls and list time of each of 2 periodic resyncs
//!    (10 s period); then the edit loop of one stack inside the folder (`DEVARCH_BENCH_EDITS`,
//!    5: a rewritten env value → the engine's `start` event of the recreated container), with
//!    its baseline at the same size: the same recreate done by hand through the `Runtime`
//!    (the engine's own time, which grows with what the engine holds).
//! 4. **Idle** (largest folder only): `devarch watch` as a real process, its CPU and RSS over
//!    `DEVARCH_BENCH_IDLE_S` (60) seconds after it settled (one periodic resync in the window).
//!
//! Knobs: `DEVARCH_BENCH_ENGINES` (`docker,podman`), `DEVARCH_BENCH_SIZES` (`1,10,50,100`),
//! `DEVARCH_BENCH_INSTANCES` (5), `DEVARCH_BENCH_NOOPS` (3), `DEVARCH_BENCH_EDITS` (5),
//! `DEVARCH_BENCH_IDLE_S` (60), `DEVARCH_BENCH_SETTLE_MS` (3000), `DEVARCH_BENCH_FLOOR_BOUND`
//! (8: at the largest size the floor runs a second time with at most this many stacks under
//! way, to see whether a bound on parallel engine work would beat "everything at once"; 0 skips
//! it).
//! `cargo bench --bench scale -- --cleanup` removes what an interrupted run left.
//! Under `cargo test --all-targets` it does nothing.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use devarch::apply::{Event, Progress};
use devarch::plan::StackPlan;
use devarch::reconcile::{self, Context, Manifests, Selection};
use devarch::runtime::connect::connect_endpoint;
use devarch::runtime::{ContainerSpec, Runtime};
use devarch::sink::Sink;
use devarch::status::StackStatus;
use devarch::watch::{WatchOptions, run};
use devarch::workspace::Workspace;
use futures_util::future::join_all;
use support::{
    Counting, EventWatch, Mode, Res, Samples, clock_ticks, describe_calls, env_num, fmt_d, nanos,
    per_period, proc_sample, socket, tokio_rt, wait_until,
};
use tokio_util::sync::CancellationToken;

const IMAGE: &str = "devarch-fixture/busybox:1";
/// Every stack of this bench is named `sc…`.
const ROOT: &str = "sc";
const BENCH_LABEL: (&str, &str) = ("devarch.bench", "scale");
/// Period of the in-process controller's resync.
const RESYNC: Duration = Duration::from_secs(10);

struct Settings {
    engines: Vec<String>,
    sizes: Vec<usize>,
    instances: usize,
    noops: usize,
    edits: usize,
    idle: Duration,
    settle: Duration,
    /// Stacks at a time of the bounded floor at the largest size (0: not measured).
    floor_bound: usize,
}

impl Settings {
    fn from_env() -> Self {
        let sizes = std::env::var("DEVARCH_BENCH_SIZES")
            .unwrap_or_else(|_| "1,10,50,100".into())
            .split(',')
            .filter_map(|s| s.trim().parse::<usize>().ok())
            .map(|n| n.clamp(1, 999))
            .collect();
        Settings {
            engines: support::engines_from_env(),
            sizes,
            instances: env_num("DEVARCH_BENCH_INSTANCES", 5).clamp(1, 99),
            noops: env_num("DEVARCH_BENCH_NOOPS", 3).max(1),
            edits: env_num("DEVARCH_BENCH_EDITS", 5).max(1),
            idle: Duration::from_secs(env_num("DEVARCH_BENCH_IDLE_S", 60).max(5) as u64),
            settle: Duration::from_millis(env_num("DEVARCH_BENCH_SETTLE_MS", 3000) as u64),
            floor_bound: env_num("DEVARCH_BENCH_FLOOR_BOUND", 8),
        }
    }
}

/// What one folder size measured on one engine.
#[derive(Default)]
struct Size {
    stacks: usize,
    containers: usize,
    floor: Duration,
    /// The floor with a bound on the stacks under way (largest size only): (bound, time).
    floor_bounded: Option<(usize, Duration)>,
    devarch: Duration,
    noop_all: Samples,
    noop_one: Samples,
    startup_ready: Duration,
    startup_calls: String,
    resync_calls: Vec<String>,
    resync_list_time: Vec<Duration>,
    edit: Samples,
    recreate: Samples,
    idle: Option<(f64, f64, f64)>,
}

/// Records when each stack's status last said Ready (or not).
#[derive(Default)]
struct Ready(Mutex<BTreeMap<String, bool>>);

impl Progress for Ready {
    fn event(&self, _e: &Event) {}
}

impl Sink for Ready {
    fn plan(&self, _stack: &str, _why: &str, _plan: &StackPlan) {}
    fn status(&self, stack: &str, status: Option<&StackStatus>) {
        let ready = status.is_some_and(|s| s.summary() == "Ready");
        self.0
            .lock()
            .expect("lock")
            .insert(stack.to_string(), ready);
    }
}

impl Ready {
    fn count(&self) -> usize {
        self.0
            .lock()
            .expect("lock")
            .values()
            .filter(|r| **r)
            .count()
    }
}

/// A stack's network name, network labels and container specs.
type StackSpecs = (String, BTreeMap<String, String>, Vec<ContainerSpec>);

struct Bench {
    engine: String,
    tokio: tokio::runtime::Runtime,
    rt: Arc<dyn Runtime>,
    work: tempfile::TempDir,
    run: String,
    settle: Duration,
}

impl Bench {
    fn new(engine: &str, settle: Duration) -> Res<Bench> {
        let tokio = tokio_rt();
        let rt: Arc<dyn Runtime> = Arc::new(
            tokio
                .block_on(connect_endpoint(&format!("unix://{}", socket(engine))))
                .map_err(|e| e.to_string())?,
        );
        Ok(Bench {
            engine: engine.to_string(),
            tokio,
            rt,
            work: tempfile::tempdir().map_err(|e| e.to_string())?,
            run: format!("{ROOT}{:04x}", std::process::id() & 0xffff),
            settle,
        })
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.tokio.block_on(f)
    }

    fn stack_name(&self, size: usize, k: usize) -> String {
        format!("{}z{size:03}s{k:03}", self.run)
    }

    fn dir(&self, size: usize) -> PathBuf {
        self.work.path().join(format!("m{size}"))
    }

    fn home(&self, size: usize) -> PathBuf {
        self.work.path().join(format!("h{size}"))
    }

    /// Writes the folder of `size` stacks; stack 0's first instance carries `X=x`.
    fn write_folder(&self, size: usize, instances: usize) -> Res<()> {
        let dir = self.dir(size);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(self.home(size)).map_err(|e| e.to_string())?;
        std::fs::write(
            dir.join("bb.yaml"),
            format!(
                "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {{name: bb}}\nspec:\n  image: {IMAGE}\n  labels: {{{}: {}}}\n",
                BENCH_LABEL.0, BENCH_LABEL.1
            ),
        )
        .map_err(|e| e.to_string())?;
        for k in 0..size {
            self.write_stack(size, k, instances, 0)?;
        }
        Ok(())
    }

    fn write_stack(&self, size: usize, k: usize, instances: usize, x: usize) -> Res<()> {
        let mut y = format!(
            "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: {}}}\nspec:\n  instances:\n",
            self.stack_name(size, k)
        );
        for i in 0..instances {
            if i == 0 {
                let _ = writeln!(y, "    i0: {{template: bb, env: {{X: \"{x}\"}}}}");
            } else {
                let _ = writeln!(y, "    i{i}: {{template: bb}}");
            }
        }
        std::fs::write(self.dir(size).join(format!("s{k:03}.yaml")), y).map_err(|e| e.to_string())
    }

    fn devarch(&self, size: usize, args: &[&str]) -> Command {
        let mut c = support::devarch_cmd(&self.dir(size), &self.home(size), &self.engine);
        c.args(args).stdin(Stdio::null());
        c
    }

    fn run_devarch(&self, size: usize, args: &[&str]) -> Res<Duration> {
        let t = Instant::now();
        let out = self
            .devarch(size, args)
            .output()
            .map_err(|e| e.to_string())?;
        let d = t.elapsed();
        if !out.status.success() {
            return Err(format!(
                "devarch {args:?} exited {:?}\n{}\n{}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(d)
    }

    /// Running containers of the folder of `size`.
    fn running(&self, size: usize) -> usize {
        let prefix = format!("devarch-{}z{size:03}", self.run);
        self.block_on(self.rt.list_containers(&prefix))
            .map(|cs| cs.iter().filter(|c| c.state.is_running()).count())
            .unwrap_or(0)
    }

    /// Every network and container spec `devarch apply` would create for the folder.
    fn plan_specs(&self, size: usize) -> Res<Vec<StackSpecs>> {
        let dir = self.dir(size);
        let ws = Workspace::load(&dir).map_err(|e| e.to_string())?;
        let ctx = Context {
            runtime: self.rt.as_ref(),
            home: self.home(size),
            owner: devarch::identity::owner_of(&dir),
            router: devarch::router::RouterSettings::default(),
        };
        let planned = self
            .block_on(reconcile::plan(
                &ctx,
                &Manifests::of(&ws),
                &Selection::default(),
            ))
            .map_err(|e| e.to_string())?;
        Ok(planned
            .desired
            .into_values()
            .map(|d| {
                (
                    devarch::identity::network_name(&d.name),
                    d.network_labels,
                    d.containers.into_values().map(|c| c.spec).collect(),
                )
            })
            .collect())
    }

    /// The floor with at most `bound` stacks under way at once (0: all at once).
    fn floor(&self, size: usize, bound: usize) -> Res<Duration> {
        use futures_util::StreamExt;
        let stacks = self.plan_specs(size)?;
        let rt = self.rt.as_ref();
        let bound = if bound == 0 {
            stacks.len().max(1)
        } else {
            bound
        };
        let t = Instant::now();
        let results: Vec<_> = self.block_on(
            futures_util::stream::iter(stacks.iter().map(|(net, labels, specs)| async move {
                rt.create_network(net, labels).await?;
                for r in join_all(specs.iter().map(|spec| async move {
                    let id = rt.create_container(spec).await?;
                    rt.start_container(&id).await
                }))
                .await
                {
                    r?;
                }
                Ok::<_, devarch::runtime::RuntimeError>(())
            }))
            .buffer_unordered(bound)
            .collect(),
        );
        let d = t.elapsed();
        for r in results {
            r.map_err(|e| format!("floor: {e}"))?;
        }
        Ok(d)
    }

    /// Removes every container and network of this bench's run (all of them with `all`: also
    /// those of interrupted runs), in batches, then lets the engine settle.
    fn sweep(&self, all: bool) {
        let prefix = if all {
            format!("devarch-{ROOT}")
        } else {
            format!("devarch-{}", self.run)
        };
        self.block_on(async {
            if let Ok(cs) = self.rt.list_containers(&prefix).await {
                for batch in cs.chunks(20) {
                    join_all(batch.iter().map(|c| self.rt.remove_container(&c.id, true))).await;
                }
            }
            if let Ok(ns) = self.rt.list_networks(&prefix).await {
                for batch in ns.chunks(20) {
                    join_all(batch.iter().map(|n| self.rt.remove_network(&n.id))).await;
                }
            }
        });
        std::thread::sleep(self.settle);
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.sweep(false);
    }
}

/// The controller in process on the converged folder: startup to all Ready, two resyncs, then
/// the edit loop of stack 0.
fn controller(b: &Bench, s: &Settings, size: usize, out: &mut Size) -> Res<()> {
    let counting = Arc::new(Counting::new(b.rt.clone()));
    let rt: Arc<dyn Runtime> = counting.clone();
    let ready = Arc::new(Ready::default());
    let sink: Arc<dyn Sink> = ready.clone();
    let opts = WatchOptions {
        dir: b.dir(size),
        home: b.home(size),
        plan_only: false,
        resync: RESYNC,
        concurrency: 4,
        debounce: devarch::watch::folder::DEFAULT_DEBOUNCE,
        router: devarch::router::RouterSettings::default(),
    };
    let token = CancellationToken::new();
    let stopper = token.clone();
    let start = Instant::now();
    let _guard = b.tokio.enter();
    let task = b.tokio.spawn(run(opts, rt, sink, token));
    let result = (|| {
        if !wait_until(Duration::from_secs(300), || ready.count() == size) {
            return Err(format!(
                "{size} stacks: {} Ready after 300 s",
                ready.count()
            ));
        }
        out.startup_ready = start.elapsed();
        let startup = counting.log.lock().expect("lock").clone();
        out.startup_calls = per_period(&startup, start, Duration::from_secs(3600))
            .first()
            .map(describe_calls)
            .unwrap_or_default();
        // Two whole resync periods after the startup's.
        let first = (start.elapsed().as_millis().div_ceil(RESYNC.as_millis())) as u32;
        let mut list_time = Vec::new();
        for k in first..first + 2 {
            let until = start + RESYNC * (k + 1);
            std::thread::sleep(until.saturating_duration_since(Instant::now()));
            let t = counting.list_time.lock().expect("lock");
            list_time.push(t.iter().sum::<Duration>());
        }
        let all = per_period(&counting.log.lock().expect("lock"), start, RESYNC);
        out.resync_calls = all
            .iter()
            .skip(first as usize)
            .take(2)
            .map(describe_calls)
            .collect();
        out.resync_list_time = list_time.windows(2).map(|w| w[1] - w[0]).collect();

        // The edit loop of stack 0, away from the resync ticks.
        let cname = format!("devarch-{}-i0", b.stack_name(size, 0));
        for e in 1..=s.edits {
            let events = EventWatch::start(socket(&b.engine))?;
            let written = nanos(SystemTime::now());
            b.write_stack(size, 0, s.instances, e)?;
            // (Podman delivers events up to ~250 ms late: the previous edit's start may arrive
            // on this subscription.)
            let (ev, _) = events.wait_for(Duration::from_secs(60), |ev| {
                ev.action == "start" && ev.name == cname && ev.time_nano >= written
            })?;
            out.edit.push(Duration::from_nanos(
                u64::try_from(ev.time_nano - written).unwrap_or(0),
            ));
            // Let the reconcile finish (the stack Ready again) before the next edit.
            wait_until(Duration::from_secs(30), || ready.count() == size);
            std::thread::sleep(Duration::from_millis(500));
        }
        Ok(())
    })();
    stopper.cancel();
    let _ = b.block_on(task);
    result?;
    floor_recreates(b, s, size, out)
}

/// The edit loop's baseline at this size: the engine's own time for the recreate an edit
/// causes (create the next container, stop and remove the old one, rename, start), done by
/// hand on a copy of the edited container, `edits` times.
fn floor_recreates(b: &Bench, s: &Settings, size: usize, out: &mut Size) -> Res<()> {
    let stack = b.stack_name(size, 0);
    let specs = b.plan_specs(size)?;
    let mut spec = specs
        .into_iter()
        .find(|(net, _, _)| *net == devarch::identity::network_name(&stack))
        .and_then(|(_, _, specs)| specs.into_iter().find(|c| c.name.ends_with("-i0")))
        .ok_or("no spec for the edited instance")?;
    spec.name = format!("devarch-{}z{size:03}floor", b.run);
    spec.aliases.clear();
    spec.labels = BTreeMap::from([(BENCH_LABEL.0.to_string(), BENCH_LABEL.1.to_string())]);
    let rt = b.rt.as_ref();
    b.block_on(async {
        let mut old = rt
            .create_container(&spec)
            .await
            .map_err(|e| e.to_string())?;
        rt.start_container(&old).await.map_err(|e| e.to_string())?;
        for _ in 0..s.edits {
            let mut next = spec.clone();
            next.name = format!("{}_next", spec.name);
            let t = Instant::now();
            let id = rt
                .create_container(&next)
                .await
                .map_err(|e| e.to_string())?;
            let _ = rt.stop_container(&old, Duration::from_secs(10)).await;
            rt.remove_container(&old, true)
                .await
                .map_err(|e| e.to_string())?;
            rt.rename_container(&id, &spec.name)
                .await
                .map_err(|e| e.to_string())?;
            rt.start_container(&id).await.map_err(|e| e.to_string())?;
            out.recreate.push(t.elapsed());
            old = id;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        rt.remove_container(&old, true)
            .await
            .map_err(|e| e.to_string())
    })
}

fn idle(b: &Bench, s: &Settings, size: usize) -> Res<(f64, f64, f64)> {
    let mut child: Child = b
        .devarch(size, &["watch"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let pid = child.id();
    // Settled: startup over (nothing to change) well before the window.
    std::thread::sleep(Duration::from_secs(15));
    let sample = || {
        let (t0, _) = proc_sample(pid).ok_or("cannot read /proc of the controller")?;
        let start = Instant::now();
        let mut rss = Vec::new();
        while start.elapsed() < s.idle {
            std::thread::sleep(Duration::from_secs(1));
            if let Some((_, r)) = proc_sample(pid) {
                rss.push(r as f64 / 1024.0);
            }
        }
        let (t1, _) = proc_sample(pid).ok_or("the controller died")?;
        let cpu = (t1 - t0) as f64 / clock_ticks() / start.elapsed().as_secs_f64() * 100.0;
        let mean = rss.iter().sum::<f64>() / rss.len().max(1) as f64;
        Ok::<_, String>((cpu, mean, rss.iter().copied().fold(0.0, f64::max)))
    };
    let r = sample();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    r
}

fn run_size(b: &Bench, s: &Settings, size: usize, largest: bool) -> Res<Size> {
    let mut out = Size {
        stacks: size,
        containers: size * s.instances,
        ..Size::default()
    };
    let want = out.containers;
    b.write_folder(size, s.instances)?;
    eprintln!("[{}] {size} stacks: floor", b.engine);
    out.floor = b.floor(size, 0)?;
    if b.running(size) != want {
        return Err(format!("floor: {} of {want} running", b.running(size)));
    }
    b.sweep(false);
    if largest && s.floor_bound > 0 {
        eprintln!(
            "[{}] {size} stacks: floor, {} stacks at a time",
            b.engine, s.floor_bound
        );
        let d = b.floor(size, s.floor_bound)?;
        if b.running(size) != want {
            return Err(format!(
                "bounded floor: {} of {want} running",
                b.running(size)
            ));
        }
        out.floor_bounded = Some((s.floor_bound, d));
        b.sweep(false);
    }
    eprintln!("[{}] {size} stacks: devarch apply", b.engine);
    out.devarch = b.run_devarch(size, &["apply"])?;
    if b.running(size) != want {
        return Err(format!(
            "devarch apply: {} of {want} running",
            b.running(size)
        ));
    }
    let one = b.stack_name(size, size / 2);
    for _ in 0..s.noops {
        out.noop_all.push(b.run_devarch(size, &["apply"])?);
        out.noop_one.push(b.run_devarch(size, &["apply", &one])?);
    }
    eprintln!("[{}] {size} stacks: controller", b.engine);
    controller(b, s, size, &mut out)?;
    if largest {
        eprintln!("[{}] {size} stacks: idle {} s", b.engine, s.idle.as_secs());
        out.idle = Some(idle(b, s, size)?);
    }
    b.sweep(false);
    Ok(out)
}

fn report(engine: &str, sizes: &[Size], out: &mut String) {
    let ms = fmt_d;
    let _ = writeln!(out, "\n### {engine}\n");
    let _ = writeln!(
        out,
        "| stacks | containers | floor | devarch apply | ratio | no-op all (median) | no-op one stack | watch startup → all Ready | edit loop (median of edits) | the same recreate by hand | edit overhead | resync: calls, list time |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    for z in sizes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.2}× | {} | {} | {} | {} | {} | {} | {} |",
            z.stacks,
            z.containers,
            ms(z.floor),
            ms(z.devarch),
            z.devarch.as_secs_f64() / z.floor.as_secs_f64().max(1e-9),
            ms(z.noop_all.median()),
            ms(z.noop_one.median()),
            ms(z.startup_ready),
            ms(z.edit.median()),
            ms(z.recreate.median()),
            ms(z.edit.median().saturating_sub(z.recreate.median())),
            z.resync_calls
                .iter()
                .zip(&z.resync_list_time)
                .map(|(c, t)| format!("{c}, {}", ms(*t)))
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    for z in sizes {
        let _ = writeln!(
            out,
            "\n{} stacks: startup engine calls {}; edits {:?}",
            z.stacks,
            z.startup_calls,
            z.edit.0.iter().map(|d| ms(*d)).collect::<Vec<_>>()
        );
        if let Some((bound, d)) = z.floor_bounded {
            let _ = writeln!(
                out,
                "\nFloor with at most {bound} stacks under way, {} stacks: {} ({:.2}× the unbounded floor, {:.2}× devarch apply)",
                z.stacks,
                ms(d),
                d.as_secs_f64() / z.floor.as_secs_f64().max(1e-9),
                d.as_secs_f64() / z.devarch.as_secs_f64().max(1e-9)
            );
        }
        if let Some((cpu, mean, max)) = z.idle {
            let _ = writeln!(
                out,
                "\nIdle `devarch watch` process, {} stacks: CPU {cpu:.2} %, RSS mean {mean:.1} MiB, max {max:.1} MiB",
                z.stacks
            );
        }
    }
}

fn run_engine(engine: &str, s: &Settings, out: &mut String) -> Res<()> {
    let b = Bench::new(engine, s.settle)?;
    b.sweep(true);
    let largest = s.sizes.iter().copied().max().unwrap_or(0);
    let mut sizes = Vec::new();
    for &size in &s.sizes {
        match run_size(&b, s, size, size == largest) {
            Ok(z) => sizes.push(z),
            Err(e) => {
                report(engine, &sizes, out);
                b.sweep(false);
                return Err(format!("{size} stacks: {e}"));
            }
        }
    }
    report(engine, &sizes, out);
    Ok(())
}

fn path_note(p: &Path) -> String {
    p.display().to_string()
}

fn main() {
    let settings = Settings::from_env();
    match support::mode(
        "scale",
        "`cargo bench --bench scale` or `scripts/bench scale`",
    ) {
        Mode::Skip => return,
        Mode::Cleanup => {
            for e in &settings.engines {
                if let Ok(b) = Bench::new(e, Duration::ZERO) {
                    b.sweep(true);
                    eprintln!("{e}: removed leftovers of the scale bench");
                }
            }
            return;
        }
        Mode::Run => {}
    }
    let started = Instant::now();
    let mut out = String::new();
    let mut failed = false;
    for e in &settings.engines {
        if let Err(err) = run_engine(e, &settings, &mut out) {
            eprintln!("error: {e}: {err}");
            let _ = writeln!(out, "\n{e} stopped: {err}");
            failed = true;
        }
    }
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let mem = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    println!(
        "## devarch scale benchmark\n\n{cpus} CPUs, {}; sizes {:?} × {} instances; took {:.0} s; binary {}",
        mem.lines().next().unwrap_or_default(),
        settings.sizes,
        settings.instances,
        started.elapsed().as_secs_f64(),
        path_note(Path::new(env!("CARGO_BIN_EXE_devarch")))
    );
    println!("{out}");
    if failed {
        std::process::exit(1);
    }
}

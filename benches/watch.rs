//! Watch benchmark: how fast and how cheap the `devarch watch` controller is, on Docker and
//! Podman.
//!
//! Run: `scripts/bench watch` or `cargo bench --bench watch`. Results: `docs/benchmarks.md`.
//!
//! Per engine, with the controller as a real process (release binary, default settings: 80 ms
//! debounce, 60 s resync), on a fresh manifests folder:
//!
//! 1. **Edit → converged.** A one-instance stack runs; its manifest is rewritten in place with
//!    a new env value, `DEVARCH_BENCH_EDITS` (20) times. Latency = the engine's `start` event of
//!    the recreated container minus the moment the file was written (both on this machine's
//!    clock; the engine stamps its events). Baseline, measured in the same run between edits:
//!    the engine's own time for the same recreate done by hand in process through devarch's
//!    `Runtime` (create the new container, stop and remove the old one, rename, start: exactly
//!    the calls `devarch apply` makes for a recreate). Overhead = median latency − median
//!    baseline; it includes the 80 ms debounce. Also reported: file written → the engine's
//!    first `create` event (the controller's reaction time, engine work excluded).
//! 2. **Drift repair.** The container is force-removed from outside (`DEVARCH_BENCH_DRIFTS`, 10
//!    times). Latency = the engine's `start` event of the replacement minus its `destroy` event
//!    of the removed one. Baseline: the engine's create + start of the same container by hand.
//! 3. **Idle.** With 20 converged stacks (one container each), the controller process's CPU
//!    (utime + stime from /proc) and RSS (sampled every second) over `DEVARCH_BENCH_IDLE_S`
//!    (60) seconds: with the default 60 s resync, exactly one periodic resync falls in the
//!    window.
//! 4. **Engine calls per resync.** The same controller run in process (`watch::run`) through a
//!    `Runtime` that counts every call, with a 5 s resync: the calls of the startup (until the
//!    first quiet second), then of each of 3 resync periods after it (20 stacks, nothing to
//!    change).
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it does nothing.
//! `cargo bench --bench watch -- --cleanup` removes what an interrupted run left.

mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use devarch::runtime::connect::connect_endpoint;
use devarch::runtime::{ContainerSpec, Runtime};
use devarch::sink::{Discard, Sink};
use devarch::watch::{WatchOptions, run};
use support::{
    Counting, EventWatch, Mode, Res, Samples, clock_ticks, describe_calls, env_num, fmt_d, nanos,
    per_period, proc_sample, socket, tokio_rt, wait_until,
};
use tokio_util::sync::CancellationToken;

const IMAGE: &str = "devarch-fixture/busybox:1";
/// Every stack of this bench is named `wb…`; the hand-made baseline objects `wbfloor…`.
const ROOT: &str = "wb";
const BENCH_LABEL: (&str, &str) = ("devarch.bench", "watch");

struct Settings {
    engines: Vec<String>,
    edits: usize,
    drifts: usize,
    idle: Duration,
    stacks: usize,
}

impl Settings {
    fn from_env() -> Self {
        Settings {
            engines: support::engines_from_env(),
            edits: env_num("DEVARCH_BENCH_EDITS", 20).max(1),
            drifts: env_num("DEVARCH_BENCH_DRIFTS", 10).max(1),
            idle: Duration::from_secs(env_num("DEVARCH_BENCH_IDLE_S", 60).max(5) as u64),
            stacks: env_num("DEVARCH_BENCH_STACKS", 20).clamp(1, 99),
        }
    }
}

fn template() -> String {
    format!(
        "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {{name: bb}}\nspec:\n  image: {IMAGE}\n"
    )
}

fn stack(name: &str, x: usize) -> String {
    format!(
        "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  instances:\n    one: {{template: bb, env: {{X: \"{x}\"}}}}\n"
    )
}

/// One engine: its connection, a manifests folder + home, and the controller process.
struct Bench {
    engine: String,
    tokio: tokio::runtime::Runtime,
    rt: Arc<dyn Runtime>,
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
    owner: String,
    /// Unique part of this run's names.
    run: String,
    controller: Option<Child>,
}

impl Bench {
    fn new(engine: &str) -> Res<Bench> {
        let tokio = tokio_rt();
        let rt = tokio
            .block_on(connect_endpoint(&format!("unix://{}", socket(engine))))
            .map_err(|e| e.to_string())?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let home = tempfile::tempdir().map_err(|e| e.to_string())?;
        let owner = std::fs::canonicalize(dir.path())
            .map_err(|e| e.to_string())?
            .display()
            .to_string();
        Ok(Bench {
            engine: engine.to_string(),
            tokio,
            rt: Arc::new(rt),
            dir,
            home,
            owner,
            run: format!("{ROOT}{:x}", std::process::id() % 0xffff),
            controller: None,
        })
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.tokio.block_on(f)
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join(file), text).expect("write manifest");
    }

    fn start_controller(&mut self) -> Res<()> {
        let out =
            std::fs::File::create(self.home.path().join("watch.out")).map_err(|e| e.to_string())?;
        let err =
            std::fs::File::create(self.home.path().join("watch.err")).map_err(|e| e.to_string())?;
        let child = Command::new(env!("CARGO_BIN_EXE_devarch"))
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--home")
            .arg(self.home.path())
            .args(["--runtime", &self.engine, "watch"])
            .env_remove("DOCKER_HOST")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| e.to_string())?;
        self.controller = Some(child);
        let started = wait_until(Duration::from_secs(30), || {
            self.logs().contains("devarch watch started")
        });
        if started {
            Ok(())
        } else {
            Err(format!("controller did not start\n{}", self.logs()))
        }
    }

    fn stop_controller(&mut self) {
        if let Some(mut c) = self.controller.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            if !wait_until(Duration::from_secs(30), || {
                matches!(c.try_wait(), Ok(Some(_)))
            }) {
                let _ = c.kill();
            }
            let _ = c.wait();
        }
    }

    fn pid(&self) -> Option<u32> {
        self.controller.as_ref().map(Child::id)
    }

    fn logs(&self) -> String {
        // The end is what matters in an error message.
        let tail = |f: &str, n: usize| {
            let text = std::fs::read_to_string(self.home.path().join(f)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        };
        format!(
            "--- controller stdout (tail)\n{}\n--- controller stderr (tail)\n{}",
            tail("watch.out", 20),
            tail("watch.err", 30)
        )
    }

    /// Container `name`: (id, running).
    fn container(&self, name: &str) -> Option<(String, bool)> {
        self.block_on(self.rt.list_containers(name))
            .ok()?
            .into_iter()
            .find(|c| c.name == name)
            .map(|c| (c.id, c.state.is_running()))
    }

    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(BENCH_LABEL.0.to_string(), BENCH_LABEL.1.to_string())])
    }

    /// Removes everything this bench made: objects the controller made for this folder, the
    /// hand-made baseline objects, and (with `all`) leftovers of interrupted runs.
    fn sweep(&self, all: bool) {
        let owner = self.owner.clone();
        let ours = |l: &BTreeMap<String, String>| {
            l.get("devarch.owner") == Some(&owner)
                || l.get(BENCH_LABEL.0).map(String::as_str) == Some(BENCH_LABEL.1)
                || (all
                    && l.get("devarch.stack_id")
                        .is_some_and(|s| s.starts_with(ROOT)))
        };
        self.block_on(async {
            for prefix in [format!("devarch-{ROOT}"), format!("{ROOT}floor")] {
                if let Ok(cs) = self.rt.list_containers(&prefix).await {
                    for c in cs.iter().filter(|c| ours(&c.labels)) {
                        let _ = self.rt.remove_container(&c.id, true).await;
                    }
                }
                if let Ok(ns) = self.rt.list_networks(&prefix).await {
                    for n in ns.iter().filter(|n| ours(&n.labels)) {
                        let _ = self.rt.remove_network(&n.id).await;
                    }
                }
                if let Ok(vs) = self.rt.list_volumes(&prefix).await {
                    for v in vs.iter().filter(|v| ours(&v.labels)) {
                        let _ = self.rt.remove_volume(&v.name).await;
                    }
                }
            }
        });
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        self.stop_controller();
        self.sweep(false);
    }
}

fn since_ns(from: i64, to: i64) -> Duration {
    Duration::from_nanos(u64::try_from(to - from).unwrap_or(0))
}

/// What one engine's run measured.
#[derive(Default)]
struct Results {
    edit: Samples,
    edit_reaction: Samples,
    recreate_floor: Samples,
    drift: Samples,
    create_floor: Samples,
    idle_cpu_pct: f64,
    idle_rss_mean_mib: f64,
    idle_rss_max_mib: f64,
    startup_calls: String,
    startup_time: Duration,
    resync_calls: Vec<String>,
}

/// The hand-made baseline: devarch's recreate, as the engine calls alone, on a container
/// outside devarch's names. Returns its time; `old` is replaced by the new container's ID.
fn floor_recreate(b: &Bench, spec: &ContainerSpec, old: &mut String) -> Res<Duration> {
    b.block_on(async {
        let mut next = spec.clone();
        next.name = format!("{}_next", spec.name);
        let t = Instant::now();
        let id =
            b.rt.create_container(&next)
                .await
                .map_err(|e| e.to_string())?;
        let _ = b.rt.stop_container(old, Duration::from_secs(10)).await;
        b.rt.remove_container(old, true)
            .await
            .map_err(|e| e.to_string())?;
        b.rt.rename_container(&id, &spec.name)
            .await
            .map_err(|e| e.to_string())?;
        b.rt.start_container(&id).await.map_err(|e| e.to_string())?;
        let d = t.elapsed();
        *old = id;
        Ok(d)
    })
}

/// The hand-made baseline of a repair: create + start.
fn floor_create(b: &Bench, spec: &ContainerSpec) -> Res<Duration> {
    b.block_on(async {
        let t = Instant::now();
        let id =
            b.rt.create_container(spec)
                .await
                .map_err(|e| e.to_string())?;
        b.rt.start_container(&id).await.map_err(|e| e.to_string())?;
        let d = t.elapsed();
        b.rt.remove_container(&id, true)
            .await
            .map_err(|e| e.to_string())?;
        Ok(d)
    })
}

fn edits_and_drift(b: &mut Bench, s: &Settings, res: &mut Results) -> Res<()> {
    let name = format!("{}e", b.run);
    let cname = format!("devarch-{name}-one");
    b.write("t.yaml", &template());
    b.write("s.yaml", &stack(&name, 0));
    b.start_controller()?;
    if !wait_until(Duration::from_secs(60), || {
        b.container(&cname).is_some_and(|c| c.1)
    }) {
        return Err(format!("{cname} did not come up\n{}", b.logs()));
    }

    // The baseline's container, on a network of its own.
    let net = format!("{}floor-net", b.run);
    b.block_on(b.rt.create_network(&net, &b.labels()))
        .map_err(|e| e.to_string())?;
    let spec = ContainerSpec {
        name: format!("{}floor-one", b.run),
        image: IMAGE.into(),
        network: net.clone(),
        aliases: vec!["one".into()],
        env: vec![("X".into(), "0".into())],
        labels: b.labels(),
        ..Default::default()
    };
    let mut floor_id = b
        .block_on(async {
            let id = b.rt.create_container(&spec).await?;
            b.rt.start_container(&id).await?;
            Ok::<_, devarch::runtime::RuntimeError>(id)
        })
        .map_err(|e| e.to_string())?;

    eprintln!(
        "[{}] edit → converged: {} edits (+1 warm-up)",
        b.engine, s.edits
    );
    for i in 0..=s.edits {
        std::thread::sleep(Duration::from_millis(700));
        let watch = EventWatch::start(socket(&b.engine))?;
        let written = nanos(SystemTime::now());
        b.write("s.yaml", &stack(&name, i + 1));
        let (start, before) = watch
            .wait_for(Duration::from_secs(60), |e| {
                // Podman's stream may replay the last event before the subscription.
                e.typ == "container"
                    && e.action == "start"
                    && e.name == cname
                    && e.time_nano >= written
            })
            .map_err(|e| format!("edit {i}: {e}\n{}", b.logs()))?;
        let first = before
            .iter()
            .find(|e| e.typ == "container" && e.action == "create" && e.time_nano >= written)
            .map_or(start.time_nano, |e| e.time_nano);
        drop(watch);
        std::thread::sleep(Duration::from_millis(300));
        let floor = floor_recreate(b, &spec, &mut floor_id)?;
        if i > 0 {
            res.edit.push(since_ns(written, start.time_nano));
            res.edit_reaction.push(since_ns(written, first));
            res.recreate_floor.push(floor);
        }
    }

    eprintln!(
        "[{}] drift repair: {} removals (+1 warm-up)",
        b.engine, s.drifts
    );
    for i in 0..=s.drifts {
        // Let the previous repair's own events and its follow-up reconcile pass.
        std::thread::sleep(Duration::from_millis(1500));
        let (id, _) = b
            .container(&cname)
            .ok_or_else(|| format!("{cname} missing"))?;
        let watch = EventWatch::start(socket(&b.engine))?;
        b.block_on(b.rt.remove_container(&id, true))
            .map_err(|e| e.to_string())?;
        let (destroy, _) = watch
            .wait_for(Duration::from_secs(30), |e| {
                e.typ == "container"
                    && (e.action == "destroy" || e.action == "remove")
                    && e.id == id
            })
            .map_err(|e| format!("drift {i}: {e}"))?;
        let (start, _) = watch
            .wait_for(Duration::from_secs(30), |e| {
                e.typ == "container" && e.action == "start" && e.name == cname
            })
            .map_err(|e| format!("drift {i}: {e}\n{}", b.logs()))?;
        drop(watch);
        std::thread::sleep(Duration::from_millis(300));
        let mut one = spec.clone();
        one.name = format!("{}floor-create", b.run);
        let floor = floor_create(b, &one)?;
        if i > 0 {
            res.drift.push(since_ns(destroy.time_nano, start.time_nano));
            res.create_floor.push(floor);
        }
    }
    b.block_on(async {
        let _ = b.rt.remove_container(&floor_id, true).await;
        let _ = b.rt.remove_network(&net).await;
    });
    Ok(())
}

fn idle(b: &mut Bench, s: &Settings, res: &mut Results) -> Res<()> {
    // The edit stack is one of the stacks.
    for k in 1..s.stacks {
        b.write(
            &format!("s{k:02}.yaml"),
            &stack(&format!("{}i{k:02}", b.run), 0),
        );
    }
    let names: Vec<String> = (1..s.stacks)
        .map(|k| format!("devarch-{}i{k:02}-one", b.run))
        .collect();
    eprintln!("[{}] idle: {} stacks converging", b.engine, s.stacks);
    if !wait_until(Duration::from_secs(180), || {
        b.block_on(b.rt.list_containers(&format!("devarch-{}i", b.run)))
            .map(|cs| {
                names
                    .iter()
                    .all(|n| cs.iter().any(|c| &c.name == n && c.state.is_running()))
            })
            .unwrap_or(false)
    }) {
        return Err(format!(
            "the {} stacks did not converge\n{}",
            s.stacks,
            b.logs()
        ));
    }
    std::thread::sleep(Duration::from_secs(5));
    let pid = b.pid().ok_or("no controller")?;
    eprintln!(
        "[{}] idle: measuring the controller for {} s",
        b.engine,
        s.idle.as_secs()
    );
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
    let wall = start.elapsed().as_secs_f64();
    res.idle_cpu_pct = (t1 - t0) as f64 / clock_ticks() / wall * 100.0;
    res.idle_rss_mean_mib = rss.iter().sum::<f64>() / rss.len().max(1) as f64;
    res.idle_rss_max_mib = rss.iter().copied().fold(0.0, f64::max);
    Ok(())
}

fn calls_per_resync(b: &mut Bench, res: &mut Results) -> Res<()> {
    b.stop_controller();
    let counting = Arc::new(Counting::new(b.rt.clone()));
    let rt: Arc<dyn Runtime> = counting.clone();
    let opts = WatchOptions {
        dir: b.dir.path().to_path_buf(),
        home: b.home.path().to_path_buf(),
        plan_only: false,
        resync: Duration::from_secs(5),
        concurrency: 4,
        debounce: devarch::watch::folder::DEFAULT_DEBOUNCE,
        router: devarch::router::RouterSettings::default(),
    };
    let token = CancellationToken::new();
    let stopper = token.clone();
    eprintln!(
        "[{}] engine calls: controller in process, 5 s resync, 3 resyncs",
        b.engine
    );
    let period = opts.resync;
    let (startup, startup_time, rounds) = b.block_on(async move {
        let start = Instant::now();
        let sink: Arc<dyn Sink> = Arc::new(Discard);
        let task = tokio::spawn(run(opts, rt, sink, token));
        // The startup reconciles every stack (slow Podman lists can take more than a period):
        // it is over at the first second with no list call started or under way. Then three
        // full resync periods.
        let quiet = loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let log = counting.log.lock().expect("lock");
            let idle = counting.lists_in_flight.load(Ordering::Relaxed) == 0;
            if idle
                && log
                    .last()
                    .is_some_and(|(t, _)| t.elapsed() > Duration::from_secs(1))
                || start.elapsed() > Duration::from_secs(120)
            {
                break (Instant::now(), log.clone());
            }
        };
        let first_clean = (quiet.0 - start).as_millis().div_ceil(period.as_millis()) as u32;
        tokio::time::sleep(
            (start + period * (first_clean + 3)).saturating_duration_since(Instant::now()),
        )
        .await;
        stopper.cancel();
        let _ = task.await;
        let startup = per_period(&quiet.1, start, Duration::from_secs(3600));
        let all = per_period(&counting.log.lock().expect("lock"), start, period);
        (
            startup,
            quiet.0 - start,
            all.into_iter()
                .skip(first_clean as usize)
                .take(3)
                .collect::<Vec<_>>(),
        )
    });
    res.startup_calls = startup.first().map(describe_calls).unwrap_or_default();
    res.startup_time = startup_time.saturating_sub(Duration::from_secs(1));
    res.resync_calls = rounds.iter().map(describe_calls).collect();
    Ok(())
}

fn run_engine(engine: &str, s: &Settings, out: &mut String) -> Res<()> {
    let mut b = Bench::new(engine)?;
    b.sweep(true);
    let mut res = Results::default();
    edits_and_drift(&mut b, s, &mut res)?;
    idle(&mut b, s, &mut res)?;
    calls_per_resync(&mut b, &mut res)?;

    let ms = |d: Duration| fmt_d(d);
    let edit_over = res
        .edit
        .median()
        .saturating_sub(res.recreate_floor.median());
    let drift_over = res.drift.median().saturating_sub(res.create_floor.median());
    let _ = writeln!(out, "\n### {engine}\n");
    let _ = writeln!(
        out,
        "| measurement | n | median | min | max | target |\n|---|---:|---:|---:|---:|---|"
    );
    let row = |out: &mut String, what: &str, x: &Samples, target: &str| {
        let _ = writeln!(
            out,
            "| {what} | {} | {} | {} | {} | {target} |",
            x.0.len(),
            ms(x.median()),
            ms(x.min()),
            ms(x.max())
        );
    };
    row(
        out,
        "edit saved → recreated container started",
        &res.edit,
        "",
    );
    row(
        out,
        "baseline: the same recreate by hand (engine calls only)",
        &res.recreate_floor,
        "",
    );
    let _ = writeln!(
        out,
        "| **edit → converged overhead** (median − baseline median; includes the 80 ms debounce) | | **{}** | | | < 500 ms |",
        ms(edit_over)
    );
    row(
        out,
        "edit saved → first engine call seen (controller reaction)",
        &res.edit_reaction,
        "",
    );
    row(
        out,
        "**drift repair**: container removed → replacement started",
        &res.drift,
        "< 2 s",
    );
    row(
        out,
        "baseline: create + start by hand",
        &res.create_floor,
        "",
    );
    let _ = writeln!(
        out,
        "| drift repair overhead (median − baseline median) | | {} | | | |",
        ms(drift_over)
    );
    let _ = writeln!(
        out,
        "| **idle CPU**, {} stacks, {} s window | | **{:.2} %** | | | < 1 % |",
        s.stacks,
        s.idle.as_secs(),
        res.idle_cpu_pct
    );
    let _ = writeln!(
        out,
        "| **idle RSS** (mean / max of 1 s samples) | | **{:.1} MiB** | | {:.1} MiB | < 40 MB |",
        res.idle_rss_mean_mib, res.idle_rss_max_mib
    );
    let _ = writeln!(
        out,
        "\nEngine calls, {} stacks converged: at startup {} (startup done in about {}); per resync: {}.",
        s.stacks,
        res.startup_calls,
        ms(res.startup_time),
        if res.resync_calls.is_empty() {
            "none seen".to_string()
        } else {
            res.resync_calls.join("; ")
        }
    );
    Ok(())
}

fn main() {
    let settings = Settings::from_env();
    match support::mode(
        "watch",
        "`cargo bench --bench watch` or `scripts/bench watch`",
    ) {
        Mode::Skip => return,
        Mode::Cleanup => {
            for e in &settings.engines {
                if let Ok(b) = Bench::new(e) {
                    b.sweep(true);
                    eprintln!("{e}: removed leftovers of the watch bench");
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
            failed = true;
        }
    }
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "## devarch watch benchmark\n\n{cpus} CPUs, load average at the end {}; {} edits, {} removals, idle window {} s, {} stacks; took {:.0} s",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        settings.edits,
        settings.drifts,
        settings.idle.as_secs(),
        settings.stacks,
        started.elapsed().as_secs_f64()
    );
    println!("{out}");
    if failed {
        std::process::exit(1);
    }
}

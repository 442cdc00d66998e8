//! Chaos soak (issue #15 §5): stacks with volumes, health-gated dependencies and wires under
//! `devarch watch`, while a fault injector removes, kills and stops managed containers,
//! disconnects and removes stack networks, saves valid edits, saves broken manifests and then
//! fixes them, restarts the engine, and kill -9s the controller and starts it again.
//!
//! Checked all along: never two containers for one (stack, instance); no volume ever removed.
//! At the end: everything converges within 30 s of the last fault, with the last valid edit
//! applied; the planted foreign objects (look-alike names, another folder's stack) are all
//! still there, unchanged; no controller log has a panic.
//!
//! Knobs: `DEVARCH_SOAK_DURATION` (`60s`; humantime), `DEVARCH_SOAK_SEED` (random; printed
//! for replay: the same seed gives the same fault sequence and timing), `DEVARCH_SOAK_STACKS`
//! (3). `scripts/soak [--engine docker|podman] [--duration 10m] [--seed N]` runs it.
//!
//! Like `engine_restart.rs`, this binary stops and starts the engines that
//! `scripts/engines.sh` started: cargo runs test binaries one after another, so no other suite
//! sees an engine go away (the Docker and Podman soaks run side by side, each restarting only
//! its own engine). Pointed at another endpoint, the engine is not restarted, and it says so.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Engine, Env, Stopped, Watcher, block_on, unique, wait_until};
use devarch::identity::{LABEL_INSTANCE, LABEL_STACK, is_next_container_name};

engine_tests!(chaos_soak_converges_and_never_touches_what_is_not_its_own);

/// A database-like provider (volume, health check, export) and two consumers wired to it and
/// started once it is healthy. `web` carries the edit counter as a label.
const TEMPLATES: &str = r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: kv}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; date >> /data/starts; touch /tmp/ready; httpd -f -p 8080 -h /tmp & wait"]
  healthcheck: {test: [CMD-SHELL, "wget -q -O /dev/null http://127.0.0.1:8080/ready"], interval: 1s, timeout: 2s, retries: 30}
  volumes: [{name: data, target: /data}]
  exports: [{name: kv, type: kv, port: 8080}]
---
apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: app}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; sleep 3600 & wait"]
  imports: [{name: kv, type: kv, env: {KV_URL: "http://{{host}}:{{port}}/"}}]
"#;

const INSTANCES: [&str; 3] = ["db", "web", "worker"];

fn stack_yaml(name: &str, edit: usize) -> String {
    format!(
        "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  instances:\n    db: {{template: kv}}\n    web: {{template: app, dependsOn: [{{name: db, condition: healthy}}], labels: {{soak.edit: \"{edit}\"}}}}\n    worker: {{template: app, dependsOn: [{{name: db, condition: healthy}}]}}\n"
    )
}

/// What the injector does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    RemoveContainer,
    KillContainer,
    StopContainer,
    DisconnectNetwork,
    RemoveNetwork,
    ValidEdit,
    BrokenManifest,
    RestartEngine,
    KillController,
}

const FAULTS: [Fault; 9] = [
    Fault::RemoveContainer,
    Fault::KillContainer,
    Fault::StopContainer,
    Fault::DisconnectNetwork,
    Fault::RemoveNetwork,
    Fault::ValidEdit,
    Fault::BrokenManifest,
    Fault::RestartEngine,
    Fault::KillController,
];

struct Config {
    duration: Duration,
    seed: u64,
    stacks: usize,
}

impl Config {
    fn from_env() -> Config {
        let duration = std::env::var("DEVARCH_SOAK_DURATION")
            .ok()
            .and_then(|d| humantime::parse_duration(d.trim()).ok())
            .unwrap_or(Duration::from_secs(60));
        let seed = std::env::var("DEVARCH_SOAK_SEED")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| fastrand::u64(..));
        let stacks = std::env::var("DEVARCH_SOAK_STACKS")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(3usize)
            .clamp(1, 50);
        Config {
            duration,
            seed,
            stacks,
        }
    }
}

/// The soak's state: the stacks, the last valid edit of each, what was planted, what was seen.
struct Soak {
    engine: Engine,
    stacks: Vec<String>,
    edits: Vec<usize>,
    next_edit: usize,
    /// A stack whose manifest is broken right now.
    broken: Option<usize>,
    /// Every managed volume seen so far.
    volumes: BTreeSet<String>,
    violations: Vec<String>,
    faults: BTreeMap<Fault, usize>,
    max_rss_kib: u64,
    engine_restarts_allowed: bool,
    last_restart: Option<Instant>,
    /// Every controller log, killed ones included.
    logs: Vec<std::path::PathBuf>,
}

/// One container of this folder.
#[derive(Clone)]
struct Ours {
    name: String,
    id: String,
    running: bool,
    stack: String,
    instance: String,
    networks: Vec<String>,
}

impl Soak {
    fn file(k: usize) -> String {
        format!("s{k}.yaml")
    }

    /// The containers of this folder (`None` while the engine does not answer).
    fn ours(&self, env: &Env) -> Option<Vec<Ours>> {
        let cs = block_on(env.rt.list_containers("devarch-")).ok()?;
        Some(
            cs.into_iter()
                .filter(|c| c.labels.get("devarch.owner") == Some(&env.owner))
                .map(|c| Ours {
                    stack: c.labels.get(LABEL_STACK).cloned().unwrap_or_default(),
                    instance: c.labels.get(LABEL_INSTANCE).cloned().unwrap_or_default(),
                    running: c.state.is_running(),
                    networks: c.networks,
                    name: c.name,
                    id: c.id,
                })
                .collect(),
        )
    }

    /// The invariants that hold at every moment.
    fn check(&mut self, env: &Env, when: &str) {
        if let Some(cs) = self.ours(env) {
            let mut seen: BTreeMap<(String, String, bool), Vec<String>> = BTreeMap::new();
            for c in &cs {
                seen.entry((
                    c.stack.clone(),
                    c.instance.clone(),
                    is_next_container_name(&c.name),
                ))
                .or_default()
                .push(c.name.clone());
            }
            for ((stack, inst, _), names) in seen {
                if names.len() > 1 {
                    self.violations.push(format!(
                        "{when}: two containers for {stack}/{inst}: {names:?}"
                    ));
                }
            }
        }
        // The engine may be down (restarting): then nothing can be checked this round.
        if let Ok(vs) = block_on(env.rt.list_volumes("devarch-")) {
            let now: BTreeSet<String> = vs
                .into_iter()
                .filter(|v| v.labels.get("devarch.owner") == Some(&env.owner))
                .map(|v| v.name)
                .collect();
            for gone in self.volumes.difference(&now) {
                self.violations
                    .push(format!("{when}: volume {gone} was removed"));
            }
            self.volumes.extend(now);
        }
    }

    /// Everything as the last valid manifests say: every instance running on its stack's
    /// network, web carrying its stack's last edit.
    fn converged(&self, env: &Env) -> Result<(), String> {
        let cs = self.ours(env).ok_or("the engine does not answer")?;
        for (k, s) in self.stacks.iter().enumerate() {
            let net = format!("devarch-{s}-net");
            for inst in INSTANCES {
                let name = format!("devarch-{s}-{inst}");
                match cs.iter().find(|c| c.name == name) {
                    Some(c) if c.running && c.networks.contains(&net) => {}
                    Some(c) if c.running => {
                        return Err(format!("{name} not on {net} but on {:?}", c.networks));
                    }
                    Some(_) => return Err(format!("{name} not running")),
                    None => return Err(format!("{name} missing")),
                }
            }
            let web = format!("devarch-{s}-web");
            let labels = block_on(env.rt.list_containers(&web))
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|c| c.name == web)
                .map(|c| c.labels)
                .unwrap_or_default();
            let edit = labels.get("soak.edit").cloned().unwrap_or_default();
            if edit != self.edits[k].to_string() {
                return Err(format!(
                    "{web} has edit {edit:?}, the manifest {}",
                    self.edits[k]
                ));
            }
            let nets = block_on(env.rt.list_networks(&net)).map_err(|e| e.to_string())?;
            if !nets.iter().any(|n| n.name == net) {
                return Err(format!("{net} missing"));
            }
        }
        if cs.iter().any(|c| is_next_container_name(&c.name)) {
            return Err("a recreate's temporary container is left".into());
        }
        Ok(())
    }

    fn sample_rss(&mut self, w: &Watcher) {
        if let Some(pid) = w.child.as_ref().map(std::process::Child::id)
            && let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
            && let Some(kib) = status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        {
            self.max_rss_kib = self.max_rss_kib.max(kib);
        }
    }

    /// A random managed container: (name, id, stack index).
    fn pick_container(
        &self,
        env: &Env,
        rng: &mut fastrand::Rng,
    ) -> Option<(String, String, usize)> {
        let cs: Vec<_> = self
            .ours(env)?
            .into_iter()
            .filter(|c| !is_next_container_name(&c.name))
            .collect();
        if cs.is_empty() {
            return None;
        }
        let c = cs[rng.usize(..cs.len())].clone();
        let k = self.stacks.iter().position(|s| *s == c.stack)?;
        Some((c.name, c.id, k))
    }

    /// Injects one fault; what it did, for the log.
    fn inject(
        &mut self,
        fault: Fault,
        env: &mut Env,
        w: &mut Watcher,
        rng: &mut fastrand::Rng,
    ) -> String {
        let k = rng.usize(..self.stacks.len());
        let stack = self.stacks[k].clone();
        match fault {
            Fault::RemoveContainer | Fault::KillContainer | Fault::StopContainer => {
                let Some((name, id, _)) = self.pick_container(env, rng) else {
                    return "no container to hit".into();
                };
                let r = match fault {
                    Fault::RemoveContainer => {
                        block_on(env.rt.remove_container(&id, true)).map_err(|e| e.to_string())
                    }
                    Fault::StopContainer => block_on(env.rt.stop_container(&id, Duration::ZERO))
                        .map_err(|e| e.to_string()),
                    _ => {
                        let (code, _, err) =
                            common::run_cmd(env.engine.cli().args(["kill", &name]));
                        if code == 0 { Ok(()) } else { Err(err) }
                    }
                };
                format!("{name}: {}", r.err().unwrap_or_else(|| "done".into()))
            }
            Fault::DisconnectNetwork => {
                let Some((name, id, k)) = self.pick_container(env, rng) else {
                    return "no container to disconnect".into();
                };
                let net = format!("devarch-{}-net", self.stacks[k]);
                let r = block_on(env.rt.disconnect_network(&net, &id));
                format!("{name} from {net}: {}", outcome(r))
            }
            Fault::RemoveNetwork => {
                let net = format!("devarch-{stack}-net");
                let r = block_on(async {
                    let cs = env.rt.list_containers(&format!("devarch-{stack}-")).await?;
                    for c in &cs {
                        let _ = env.rt.disconnect_network(&net, &c.id).await;
                    }
                    let ns = env.rt.list_networks(&net).await?;
                    match ns.iter().find(|n| n.name == net) {
                        Some(n) => env.rt.remove_network(&n.id).await,
                        None => Ok(()),
                    }
                });
                format!("{net}: {}", outcome(r))
            }
            Fault::ValidEdit => {
                self.next_edit += 1;
                self.edits[k] = self.next_edit;
                self.broken = self.broken.filter(|b| *b != k);
                env.write(&Self::file(k), &stack_yaml(&stack, self.next_edit));
                format!("{stack}: edit {}", self.next_edit)
            }
            Fault::BrokenManifest => {
                self.fix_broken(env);
                env.write(
                    &Self::file(k),
                    &format!(
                        "{}    extra: {{template: app\n",
                        stack_yaml(&stack, self.edits[k])
                    ),
                );
                self.broken = Some(k);
                format!("{stack}: manifest broken")
            }
            Fault::RestartEngine => {
                if !self.engine_restarts_allowed {
                    return "skipped (the engine is not scripts/engines.sh's)".into();
                }
                if self
                    .last_restart
                    .is_some_and(|t| t.elapsed() < Duration::from_secs(45))
                {
                    return "skipped (restarted less than 45 s ago)".into();
                }
                let stopped = match Stopped::stop(self.engine) {
                    Ok(s) => s,
                    Err(e) => return format!("cannot stop: {e}"),
                };
                std::thread::sleep(Duration::from_millis(rng.u64(500..3000)));
                stopped.start();
                env.reconnect();
                self.last_restart = Some(Instant::now());
                format!("{} restarted", self.engine.name())
            }
            Fault::KillController => {
                w.kill9();
                std::thread::sleep(Duration::from_millis(rng.u64(100..2000)));
                *w = env.watch(&[]);
                self.logs.push(w.err.clone());
                "kill -9, started again".into()
            }
        }
    }

    /// Puts the broken manifest back as its last valid text.
    fn fix_broken(&mut self, env: &Env) {
        if let Some(k) = self.broken.take() {
            env.write(&Self::file(k), &stack_yaml(&self.stacks[k], self.edits[k]));
        }
    }
}

fn outcome<E: std::fmt::Display>(r: Result<(), E>) -> String {
    match r {
        Ok(()) => "done".into(),
        Err(e) => e.to_string(),
    }
}

/// Foreign objects planted next to the soak's: their IDs, to compare at the end.
fn plant(env: &Env, other: &Env, first: &str) -> BTreeMap<String, String> {
    let cli = |args: &[&str]| {
        let (code, out, err) = common::run_cmd(env.engine.cli().args(args));
        assert_eq!(code, 0, "{args:?}: {err}");
        out.trim().to_string()
    };
    let mut planted = BTreeMap::new();
    let c = format!("devarch-{first}-webx");
    let id = cli(&[
        "run",
        "-d",
        "--name",
        &c,
        "devarch-fixture/busybox:1",
        "sh",
        "-c",
        "trap 'exit 0' TERM; sleep 3600 & wait",
    ]);
    planted.insert(format!("container {c}"), id);
    let n = format!("devarch-{first}-netx");
    cli(&["network", "create", &n]);
    // (`podman network create` prints the name, `docker network create` the ID.)
    let id = block_on(env.rt.list_networks(&n))
        .unwrap()
        .into_iter()
        .find(|x| x.name == n)
        .map(|x| x.id)
        .expect("the planted network is listed");
    planted.insert(format!("network {n}"), id);
    let v = format!("devarch-{first}-db-datax");
    cli(&["volume", "create", &v]);
    planted.insert(format!("volume {v}"), v.clone());
    // Another folder's stack, applied once and left alone.
    let o = format!("{first}o");
    other.write("t.yaml", TEMPLATES);
    other.write("s.yaml", &stack_yaml(&o, 0));
    other.expect(&["apply"], 0);
    for (name, (id, _)) in other.containers(&format!("devarch-{o}-")) {
        planted.insert(format!("container {name}"), id);
    }
    planted
}

/// The planted objects as they are now (the same keys, with IDs; missing ones left out).
fn planted_now(env: &Env, planted: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut now = BTreeMap::new();
    for key in planted.keys() {
        let (kind, name) = key.split_once(' ').unwrap();
        let id = match kind {
            "container" => env.containers(name).get(name).map(|c| c.0.clone()),
            "network" => block_on(env.rt.list_networks(name))
                .unwrap_or_default()
                .into_iter()
                .find(|n| n.name == name)
                .map(|n| n.id),
            _ => env.volumes(name).into_iter().find(|v| v == name),
        };
        if let Some(id) = id {
            now.insert(key.clone(), id);
        }
    }
    now
}

fn remove_planted(env: &Env, planted: &BTreeMap<String, String>) {
    for key in planted.keys() {
        let (kind, name) = key.split_once(' ').unwrap();
        let args: Vec<&str> = match kind {
            "container" => vec!["rm", "-f", name],
            "network" => vec!["network", "rm", name],
            _ => vec!["volume", "rm", "-f", name],
        };
        let _ = common::run_cmd(env.engine.cli().args(&args));
    }
}

fn chaos_soak_converges_and_never_touches_what_is_not_its_own(mut env: Env) {
    let cfg = Config::from_env();
    let engine = env.engine;
    let mut rng = fastrand::Rng::with_seed(cfg.seed);
    eprintln!(
        "soak {}: seed {} (replay with DEVARCH_SOAK_SEED={}), {:?}, {} stacks",
        engine.name(),
        cfg.seed,
        cfg.seed,
        cfg.duration,
        cfg.stacks
    );
    let base = format!("k{}", unique());
    let stacks: Vec<String> = (0..cfg.stacks).map(|k| format!("{base}s{k}")).collect();
    env.write("t.yaml", TEMPLATES);
    for (k, s) in stacks.iter().enumerate() {
        env.write(&Soak::file(k), &stack_yaml(s, 0));
    }
    let other = env.other_folder();
    let planted = plant(&env, &other, &stacks[0]);
    let engine_restarts_allowed = engine.at_default_endpoint();
    if !engine_restarts_allowed {
        eprintln!(
            "soak {}: the engine at {} is not scripts/engines.sh's: no engine restarts",
            engine.name(),
            engine.endpoint()
        );
    }

    let mut w = env.watch(&[]);
    let mut soak = Soak {
        engine,
        edits: vec![0; stacks.len()],
        stacks,
        next_edit: 0,
        broken: None,
        volumes: BTreeSet::new(),
        violations: Vec::new(),
        faults: BTreeMap::new(),
        max_rss_kib: 0,
        engine_restarts_allowed,
        last_restart: None,
        logs: vec![w.err.clone()],
    };
    let up = Instant::now();
    let mut last = String::new();
    assert!(
        wait_until(Duration::from_secs(120), || {
            match soak.converged(&env) {
                Ok(()) => true,
                Err(e) => {
                    last = e;
                    false
                }
            }
        }),
        "the stacks did not come up: {last}\n{}",
        w.logs()
    );
    eprintln!(
        "soak {}: {} stacks up in {:?}",
        engine.name(),
        soak.stacks.len(),
        up.elapsed()
    );

    // Every kind once, in a random order, then at random: a short run still has each.
    let mut plan: Vec<Fault> = FAULTS.to_vec();
    rng.shuffle(&mut plan);
    let start = Instant::now();
    let mut n = 0;
    let mut last_fault = Instant::now();
    while start.elapsed() < cfg.duration {
        soak.check(&env, &format!("before fault {n}"));
        soak.sample_rss(&w);
        let fault = plan
            .get(n)
            .copied()
            .unwrap_or_else(|| FAULTS[rng.usize(..FAULTS.len())]);
        let what = soak.inject(fault, &mut env, &mut w, &mut rng);
        if !what.starts_with("skipped") {
            *soak.faults.entry(fault).or_default() += 1;
            last_fault = Instant::now();
        }
        eprintln!(
            "soak {}: {:>6.1} s fault {n} {fault:?}: {what}",
            engine.name(),
            start.elapsed().as_secs_f64()
        );
        n += 1;
        if start.elapsed() >= cfg.duration {
            break;
        }
        // A broken manifest stays broken for a while, then is fixed (unless edited meanwhile).
        let pause = Duration::from_millis(rng.u64(300..2500));
        let t = Instant::now();
        while t.elapsed() < pause {
            soak.check(&env, &format!("after fault {n}"));
            std::thread::sleep(Duration::from_millis(200));
        }
        if soak.broken.is_some() && rng.bool() {
            soak.fix_broken(&env);
        }
    }
    // Fixing a broken manifest is the last fault's end.
    if soak.broken.is_some() {
        soak.fix_broken(&env);
        last_fault = Instant::now();
    }
    let mut why = String::new();
    let converged = wait_until(
        Duration::from_secs(30).saturating_sub(last_fault.elapsed()),
        || {
            soak.check(&env, "converging");
            match soak.converged(&env) {
                Ok(()) => true,
                Err(e) => {
                    why = e;
                    false
                }
            }
        },
    );
    let converge_time = last_fault.elapsed();
    soak.sample_rss(&w);

    let now = planted_now(&env, &planted);
    let panics: Vec<String> = soak
        .logs
        .iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains("panicked")
        })
        .map(|p| p.display().to_string())
        .collect();
    eprintln!(
        "soak {}: seed {}; {} faults in {:?}: {}; converged {} {:?} after the last fault; controller max RSS {:.1} MiB",
        engine.name(),
        cfg.seed,
        n,
        start.elapsed(),
        soak.faults
            .iter()
            .map(|(f, c)| format!("{f:?} {c}"))
            .collect::<Vec<_>>()
            .join(", "),
        if converged { "in" } else { "NOT within 30 s:" },
        converge_time,
        soak.max_rss_kib as f64 / 1024.0
    );
    let logs = w.logs();
    remove_planted(&env, &planted);
    drop(other);

    assert!(
        converged,
        "not converged 30 s after the last fault (seed {}): {why}\n{logs}",
        cfg.seed
    );
    assert!(
        soak.violations.is_empty(),
        "seed {}: {:#?}\n{logs}",
        cfg.seed,
        soak.violations
    );
    assert_eq!(now, planted, "seed {}: foreign objects touched", cfg.seed);
    assert!(panics.is_empty(), "seed {}: panics in {panics:?}", cfg.seed);
}

//! Shared by the benchmarks (`converge.rs`, `watch.rs`): samples, a live engine event
//! subscription with the engine's own timestamps, and a `Runtime` that counts engine calls.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use devarch::runtime::{
    ContainerDetails, ContainerSpec, ContainerSummary, EngineInfo, EventStream, Health,
    NetworkSummary, PullProgress, Result as RtResult, Runtime, VolumeSummary,
};

pub type Res<T> = Result<T, String>;

/// What a bench binary was asked to do.
pub enum Mode {
    /// `-- --cleanup`: only remove what an interrupted run left.
    Cleanup,
    /// `cargo bench`: measure.
    Run,
    /// `cargo test --all-targets` runs bench binaries without `--bench`: do nothing.
    Skip,
}

/// The mode from the command line; prints why when skipping.
pub fn mode(bench: &str, how: &str) -> Mode {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--cleanup") {
        Mode::Cleanup
    } else if args.iter().any(|a| a == "--bench") {
        Mode::Run
    } else {
        println!("{bench} bench: skipped (not run by `cargo test`); run {how}");
        Mode::Skip
    }
}

/// A number from the environment, or `default`.
pub fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The engines to measure: `DEVARCH_BENCH_ENGINES` (default `docker,podman`).
pub fn engines_from_env() -> Vec<String> {
    std::env::var("DEVARCH_BENCH_ENGINES")
        .unwrap_or_else(|_| "docker,podman".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Samples

#[derive(Clone, Default)]
pub struct Samples(pub Vec<Duration>);

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }
    pub fn sorted(&self) -> Vec<Duration> {
        let mut v = self.0.clone();
        v.sort();
        v
    }
    pub fn median(&self) -> Duration {
        let v = self.sorted();
        match v.len() {
            0 => Duration::ZERO,
            n if n % 2 == 1 => v[n / 2],
            n => (v[n / 2 - 1] + v[n / 2]) / 2,
        }
    }
    pub fn min(&self) -> Duration {
        self.sorted().first().copied().unwrap_or_default()
    }
    pub fn max(&self) -> Duration {
        self.sorted().last().copied().unwrap_or_default()
    }
}

pub fn fmt_d(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else {
        format!("{:.1} ms", s * 1e3)
    }
}

// ---------------------------------------------------------------------------------------------
// Engine events, watched live over the socket
//
// The engines' event history cannot be trusted for this: Docker answers `since` from an
// in-memory buffer of the last ~1000 events, which other users of a shared engine (health-check
// `exec_*` events alone are three per check) can roll over in seconds. So a subscription is
// opened before the measured command, and closed once a marker container, created after the
// command, has been seen in it: everything the command caused was delivered before that.

#[derive(Clone, Debug)]
pub struct Ev {
    pub typ: String,
    pub action: String,
    pub name: String,
    pub id: String,
    pub time_nano: i64,
}

pub fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn parse_event(v: &serde_json::Value) -> Ev {
    Ev {
        typ: v["Type"].as_str().unwrap_or_default().to_string(),
        action: v["Action"].as_str().unwrap_or_default().to_string(),
        name: v["Actor"]["Attributes"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        id: v["Actor"]["ID"].as_str().unwrap_or_default().to_string(),
        time_nano: v["timeNano"].as_i64().unwrap_or_default(),
    }
}

/// A live `GET /events` subscription (HTTP/1.0: the body is the raw stream of JSON objects).
pub struct EventWatch {
    stream: UnixStream,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Ev>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl EventWatch {
    /// Subscribes; returns once the engine has answered (so nothing after this is missed).
    pub fn start(socket: &str) -> Res<EventWatch> {
        let mut s = UnixStream::connect(socket).map_err(|e| format!("{socket}: {e}"))?;
        write!(s, "GET /v1.41/events HTTP/1.0\r\nHost: engine\r\n\r\n")
            .map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        // Read the header byte by byte: what follows belongs to the reader thread.
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = s
                .read(&mut byte)
                .map_err(|e| format!("events subscription: {e}"))?;
            if n == 0 {
                return Err("events subscription closed before its header".into());
            }
            head.push(byte[0]);
        }
        let status = String::from_utf8_lossy(&head);
        if !status.starts_with("HTTP/1.") || !status[9..].starts_with("200") {
            return Err(format!(
                "events subscription: {}",
                status.lines().next().unwrap_or_default()
            ));
        }
        s.set_read_timeout(None).map_err(|e| e.to_string())?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut rd = s.try_clone().map_err(|e| e.to_string())?;
        let sink = seen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf: Vec<u8> = Vec::new();
            let mut chunk = [0u8; 16384];
            while let Ok(n) = rd.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let mut it =
                    serde_json::Deserializer::from_slice(&buf).into_iter::<serde_json::Value>();
                let mut used = 0;
                let mut parsed = Vec::new();
                loop {
                    match it.next() {
                        Some(Ok(v)) => {
                            used = it.byte_offset();
                            parsed.push(parse_event(&v));
                        }
                        Some(Err(e)) if !e.is_eof() => {
                            // Not JSON (should not happen): drop what we have.
                            used = buf.len();
                            break;
                        }
                        _ => break,
                    }
                }
                buf.drain(..used);
                sink.lock().expect("lock").extend(parsed);
            }
        });
        Ok(EventWatch {
            stream: s,
            seen,
            reader: Some(reader),
        })
    }

    /// Waits until an event about container `marker` arrived, then stops; returns the events
    /// that came before it (`exec_*` and health-check runs left out).
    pub fn finish(mut self, marker: &str) -> Res<Vec<Ev>> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let found = loop {
            {
                let seen = self.seen.lock().expect("lock");
                if let Some(i) = seen.iter().position(|e| e.name == marker) {
                    break Some(seen[..i].to_vec());
                }
            }
            if Instant::now() > deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        self.stop();
        let evs = found.ok_or_else(|| {
            format!("the marker container {marker} did not show up in the event stream within 20 s")
        })?;
        Ok(evs
            .into_iter()
            .filter(|e| !e.action.starts_with("exec_") && !e.action.starts_with("health_status"))
            .collect())
    }

    /// Waits (up to `timeout`) until an event matches `pred`; returns it with every event
    /// before it. The subscription stays open.
    pub fn wait_for(&self, timeout: Duration, pred: impl Fn(&Ev) -> bool) -> Res<(Ev, Vec<Ev>)> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let seen = self.seen.lock().expect("lock");
                if let Some(i) = seen.iter().position(&pred) {
                    return Ok((seen[i].clone(), seen[..i].to_vec()));
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no such event within {:.0} s (seen: {})",
                    timeout.as_secs_f64(),
                    describe(&self.seen.lock().expect("lock"))
                ));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn stop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
    }
}

impl Drop for EventWatch {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn describe(evs: &[Ev]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for e in evs {
        *counts.entry(format!("{} {}", e.typ, e.action)).or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, n)| format!("{n}× {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// A Runtime that counts engine calls and delegates to the real one

pub struct Counting<R> {
    inner: R,
    pub lists: AtomicUsize,
    pub other: AtomicUsize,
    /// List calls under way.
    pub lists_in_flight: AtomicUsize,
    /// Every call: when, and which method.
    pub log: std::sync::Mutex<Vec<(Instant, &'static str)>>,
    /// Total latency of list calls: containers, networks, volumes.
    pub list_time: std::sync::Mutex<[Duration; 3]>,
}

impl<R: std::ops::Deref<Target = dyn Runtime> + Send + Sync> Counting<R> {
    pub fn new(inner: R) -> Self {
        Counting {
            inner,
            lists: AtomicUsize::new(0),
            other: AtomicUsize::new(0),
            lists_in_flight: AtomicUsize::new(0),
            log: std::sync::Mutex::new(Vec::new()),
            list_time: std::sync::Mutex::new([Duration::ZERO; 3]),
        }
    }
    pub fn reset(&self) {
        self.lists.store(0, Ordering::Relaxed);
        self.other.store(0, Ordering::Relaxed);
        self.log.lock().expect("lock").clear();
        *self.list_time.lock().expect("lock") = [Duration::ZERO; 3];
    }
    async fn timed<T>(
        &self,
        kind: usize,
        what: &'static str,
        f: impl std::future::Future<Output = T>,
    ) -> T {
        self.list(what);
        self.lists_in_flight.fetch_add(1, Ordering::Relaxed);
        let t = Instant::now();
        let r = f.await;
        self.lists_in_flight.fetch_sub(1, Ordering::Relaxed);
        self.list_time.lock().expect("lock")[kind] += t.elapsed();
        r
    }
    fn list(&self, what: &'static str) {
        self.lists.fetch_add(1, Ordering::Relaxed);
        self.log.lock().expect("lock").push((Instant::now(), what));
    }
    fn call(&self, what: &'static str) {
        self.other.fetch_add(1, Ordering::Relaxed);
        self.log.lock().expect("lock").push((Instant::now(), what));
    }
}

#[async_trait]
impl<R: std::ops::Deref<Target = dyn Runtime> + Send + Sync> Runtime for Counting<R> {
    fn engine(&self) -> &EngineInfo {
        self.inner.engine()
    }
    async fn list_containers(&self, prefix: &str) -> RtResult<Vec<ContainerSummary>> {
        self.timed(0, "list containers", self.inner.list_containers(prefix))
            .await
    }
    async fn list_networks(&self, prefix: &str) -> RtResult<Vec<NetworkSummary>> {
        self.timed(1, "list networks", self.inner.list_networks(prefix))
            .await
    }
    async fn list_volumes(&self, prefix: &str) -> RtResult<Vec<VolumeSummary>> {
        self.timed(2, "list volumes", self.inner.list_volumes(prefix))
            .await
    }
    async fn inspect_container(&self, id: &str) -> RtResult<ContainerDetails> {
        self.call("inspect container");
        self.inner.inspect_container(id).await
    }
    async fn create_network(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> RtResult<String> {
        self.call("create network");
        self.inner.create_network(name, labels).await
    }
    async fn remove_network(&self, id: &str) -> RtResult<()> {
        self.call("remove network");
        self.inner.remove_network(id).await
    }
    async fn connect_network(
        &self,
        network_id: &str,
        container: &str,
        aliases: &[String],
    ) -> RtResult<()> {
        self.call("connect network");
        self.inner
            .connect_network(network_id, container, aliases)
            .await
    }
    async fn disconnect_network(&self, network_id: &str, container: &str) -> RtResult<()> {
        self.call("disconnect network");
        self.inner.disconnect_network(network_id, container).await
    }
    async fn rootless(&self) -> RtResult<bool> {
        self.call("info");
        self.inner.rootless().await
    }
    async fn create_volume(&self, name: &str, labels: &BTreeMap<String, String>) -> RtResult<()> {
        self.call("create volume");
        self.inner.create_volume(name, labels).await
    }
    async fn remove_volume(&self, name: &str) -> RtResult<()> {
        self.call("remove volume");
        self.inner.remove_volume(name).await
    }
    async fn image_present(&self, image: &str) -> RtResult<bool> {
        self.call("image present");
        self.inner.image_present(image).await
    }
    async fn pull_image(
        &self,
        image: &str,
        progress: &(dyn Fn(PullProgress) + Send + Sync),
    ) -> RtResult<()> {
        self.call("pull image");
        self.inner.pull_image(image, progress).await
    }
    async fn create_container(&self, spec: &ContainerSpec) -> RtResult<String> {
        self.call("create container");
        self.inner.create_container(spec).await
    }
    async fn start_container(&self, id: &str) -> RtResult<()> {
        self.call("start container");
        self.inner.start_container(id).await
    }
    async fn stop_container(&self, id: &str, timeout: Duration) -> RtResult<()> {
        self.call("stop container");
        self.inner.stop_container(id, timeout).await
    }
    async fn remove_container(&self, id: &str, force: bool) -> RtResult<()> {
        self.call("remove container");
        self.inner.remove_container(id, force).await
    }
    async fn rename_container(&self, id: &str, new_name: &str) -> RtResult<()> {
        self.call("rename container");
        self.inner.rename_container(id, new_name).await
    }
    async fn check_health(&self, id: &str) -> RtResult<Health> {
        self.call("check health");
        self.inner.check_health(id).await
    }
    async fn events(&self, label_filter: &str) -> RtResult<EventStream> {
        self.call("events");
        self.inner.events(label_filter).await
    }
}

// ---------------------------------------------------------------------------------------------
// Engines, processes and call logs (watch.rs, scale.rs)

pub fn socket(engine: &str) -> &'static str {
    if engine == "docker" {
        "/var/run/docker.sock"
    } else {
        "/run/podman/podman.sock"
    }
}

pub fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// (utime + stime in clock ticks, RSS in KiB) of a process.
pub fn proc_sample(pid: u32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime), counted from the state field (3rd).
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((ticks, rss))
}

pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Calls grouped by resync period after `start`: group 0 is the startup, group k the k-th
/// periodic resync (the controller's timer fires at `start + k × period`).
pub fn per_period(
    log: &[(Instant, &'static str)],
    start: Instant,
    period: Duration,
) -> Vec<BTreeMap<&'static str, usize>> {
    let mut out: Vec<BTreeMap<&'static str, usize>> = Vec::new();
    for (t, what) in log {
        let k = (t.saturating_duration_since(start).as_millis() / period.as_millis()) as usize;
        if out.len() <= k {
            out.resize(k + 1, BTreeMap::new());
        }
        *out[k].entry(what).or_default() += 1;
    }
    out
}

pub fn describe_calls(m: &BTreeMap<&'static str, usize>) -> String {
    let total: usize = m.values().sum();
    let parts: Vec<String> = m.iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!("{total} ({})", parts.join(", "))
}

/// The release `devarch` binary on a folder and home, talking to `engine` only (no endpoint
/// or folder from the caller's environment), with plain diagnostics.
pub fn devarch_cmd(
    dir: &std::path::Path,
    home: &std::path::Path,
    engine: &str,
) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_devarch"));
    c.arg("--dir")
        .arg(dir)
        .arg("--home")
        .arg(home)
        .args(["--runtime", engine])
        .env("DEVARCH_DIAGNOSTICS", "plain")
        .env_remove("DOCKER_HOST")
        .env_remove("CONTAINER_HOST")
        .env_remove("DEVARCH_DIR")
        .env_remove("DEVARCH_HOME")
        .env_remove("DEVARCH_RUNTIME");
    c
}

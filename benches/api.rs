//! API benchmark (issue #13): how the HTTP API of `devarch watch --listen` answers, on Docker and
//! Podman.
//!
//! Run: `scripts/bench api` or `cargo bench --bench api`. Results: `docs/benchmarks.md`.
//!
//! Per engine, with the controller as a real process (release binary, `--plan-only`) over a
//! folder of `DEVARCH_BENCH_API_STACKS` (50) applied one-instance stacks:
//!
//! 1. **`GET /api/v1/stacks` under load**: `wrk -t1 -c4 -d10s --latency` from a second process
//!    (bounded: 4 connections on loopback). Baseline, in the same run: `GET
//!    /api/v1/openapi.json`, a static answer through the same server, token check and guards.
//! 2. **SSE delivery**: a subscriber on `/api/v1/events`; a stack's container is killed from
//!    outside (`DEVARCH_BENCH_API_KILLS`, 5 times); delay = the first event about that stack
//!    minus the moment the engine's CLI was started to kill it. Baseline: how long that CLI
//!    call itself took (on Docker the event arrives before the CLI process has exited).
//! 3. **Dashboard first paint**: Debian's headless chromium (playwright-core) opens the login
//!    link; first contentful paint and the time until the stacks table has a row (median of 3).
//!
//! Under `cargo test --all-targets` (no `--bench` argument) it does nothing.

mod support;

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use support::{Mode, Samples, env_num, fmt_d};

const ROOT: &str = "ab";

fn main() {
    match support::mode("api", "`scripts/bench api`") {
        Mode::Skip => return,
        Mode::Cleanup => {
            for engine in support::engines_from_env() {
                cleanup(&engine);
            }
            return;
        }
        Mode::Run => {}
    }
    let stacks = env_num("DEVARCH_BENCH_API_STACKS", 50);
    let kills = env_num("DEVARCH_BENCH_API_KILLS", 5);
    let mut report = String::from("| engine | measure | result |\n|---|---|---|\n");
    for engine in support::engines_from_env() {
        cleanup(&engine);
        match run(&engine, stacks, kills) {
            Ok(rows) => {
                for (what, result) in rows {
                    let _ = writeln!(report, "| {engine} | {what} | {result} |");
                }
            }
            Err(e) => {
                let _ = writeln!(report, "| {engine} | error | {e} |");
            }
        }
        cleanup(&engine);
    }
    println!("{report}");
    let _ = std::fs::write("target/api-bench.md", &report);
}

fn cli(engine: &str) -> Command {
    let mut c = Command::new(engine);
    if engine == "docker" {
        c.args(["-H", "unix:///var/run/docker.sock"]);
    } else {
        c.args(["--url", "unix:///run/podman/podman.sock"]);
    }
    c
}

/// Removes the bench's containers, networks and volumes (named `devarch-ab…`).
fn cleanup(engine: &str) {
    for (kind, list) in [
        (
            "container",
            vec!["ps", "-aq", "--filter", "name=devarch-ab"],
        ),
        (
            "network",
            vec!["network", "ls", "-q", "--filter", "name=devarch-ab"],
        ),
    ] {
        let out = cli(engine).args(&list).output();
        let ids: Vec<String> = out
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if !ids.is_empty() {
            let mut rm = cli(engine);
            if kind == "container" {
                rm.args(["rm", "-f"]);
            } else {
                rm.args(["network", "rm"]);
            }
            let _ = rm.args(&ids).output();
        }
    }
}

fn devarch(dir: &std::path::Path, home: &std::path::Path, engine: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_devarch"));
    c.arg("--dir")
        .arg(dir)
        .arg("--home")
        .arg(home)
        .args(["--runtime", engine]);
    c
}

/// One wrk run: (p50, p99, requests/s) as printed.
fn wrk(url: &str, token: &str) -> Result<(String, String, String), String> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            "-c4",
            "-d10s",
            "--latency",
            "-H",
            &format!("Authorization: Bearer {token}"),
            url,
        ])
        .output()
        .map_err(|e| format!("wrk: {e} (scripts/bench installs it)"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_string()
    };
    if text.contains("Non-2xx") {
        return Err(format!("wrk saw errors:\n{text}"));
    }
    Ok((field("50%"), field("99%"), field("Requests/sec:")))
}

fn run(engine: &str, stacks: usize, kills: usize) -> Result<Vec<(String, String)>, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let home = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut text = String::from(
        "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {name: idle}\nspec:\n  image: devarch-fixture/busybox:1\n  command: [sh, -c, \"trap 'exit 0' TERM INT; sleep 3600 & wait\"]\n",
    );
    for i in 0..stacks {
        let _ = write!(
            text,
            "---\napiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: {ROOT}{i}}}\nspec:\n  instances:\n    app: {{template: idle}}\n"
        );
    }
    std::fs::write(dir.path().join("stacks.yaml"), text).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let applied = devarch(dir.path(), home.path(), engine)
        .arg("apply")
        .output()
        .map_err(|e| e.to_string())?;
    if !applied.status.success() {
        return Err(format!(
            "apply failed: {}",
            String::from_utf8_lossy(&applied.stderr)
        ));
    }
    eprintln!(
        "{engine}: {stacks} stacks applied in {}",
        fmt_d(t.elapsed())
    );
    let err_file = home.path().join("watch.err");
    let mut watch: Child = devarch(dir.path(), home.path(), engine)
        .args(["watch", "--plan-only", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_file).map_err(|e| e.to_string())?)
        .spawn()
        .map_err(|e| e.to_string())?;
    let result = (|| {
        let link = wait_link(&err_file)?;
        let base = link.split("/#").next().unwrap_or_default().to_string();
        let token = link.split("token=").nth(1).unwrap_or_default().to_string();
        let addr = base.trim_start_matches("http://").to_string();
        let mut rows = Vec::new();
        let (p50, p99, rps) = wrk(&format!("{base}/api/v1/stacks"), &token)?;
        rows.push((
            format!("GET /api/v1/stacks ({stacks} stacks), 4 connections"),
            format!("p50 {p50}, p99 {p99}, {rps} req/s"),
        ));
        let (p50, p99, rps) = wrk(&format!("{base}/api/v1/openapi.json"), &token)?;
        rows.push((
            "baseline: GET /api/v1/openapi.json (static)".into(),
            format!("p50 {p50}, p99 {p99}, {rps} req/s"),
        ));
        rows.push((
            "SSE delivery: container killed → first event of its stack".into(),
            sse_delay(engine, &addr, &token, kills)?,
        ));
        rows.push((
            "dashboard: first contentful paint / stacks table filled (median of 3)".into(),
            first_paint(&link)?,
        ));
        Ok(rows)
    })();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(watch.id().to_string())
        .status();
    let _ = watch.wait();
    result
}

fn wait_link(err_file: &std::path::Path) -> Result<String, String> {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        let text = std::fs::read_to_string(err_file).unwrap_or_default();
        if let Some(link) = text.split_whitespace().find(|t| t.contains("/#token=")) {
            return Ok(link.to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("watch printed no login link".into())
}

/// Kills `devarch-ab0-app` `kills` times; the delay until the first event naming `ab0`.
fn sse_delay(engine: &str, addr: &str, token: &str, kills: usize) -> Result<String, String> {
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    let req = format!(
        "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    stream
        .write_all(req.as_bytes())
        .map_err(|e| e.to_string())?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 65536];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0
                || tx
                    .send((
                        Instant::now(),
                        String::from_utf8_lossy(&buf[..n]).into_owned(),
                    ))
                    .is_err()
            {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut samples = Samples(Vec::new());
    let mut cli_times = Samples(Vec::new());
    let container = format!("devarch-{ROOT}0-app");
    for _ in 0..kills {
        while rx.try_recv().is_ok() {}
        let killed = Instant::now();
        cli(engine)
            .args(["kill", &container])
            .output()
            .map_err(|e| e.to_string())?;
        cli_times.push(killed.elapsed());
        let deadline = killed + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((at, text)) if text.contains(&format!("\"stack\":\"{ROOT}0\"")) => {
                    samples.push(at.saturating_duration_since(killed));
                    break;
                }
                Ok(_) => {}
                Err(_) => return Err("no event within 30 s of a kill".into()),
            }
        }
        cli(engine)
            .args(["start", &container])
            .output()
            .map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_secs(2));
    }
    Ok(format!(
        "median {}, min {}, max {} ({kills} kills); baseline: the engine CLI's kill itself took {} (median)",
        fmt_d(samples.median()),
        fmt_d(samples.min()),
        fmt_d(samples.max()),
        fmt_d(cli_times.median())
    ))
}

fn first_paint(link: &str) -> Result<String, String> {
    let mut fcp = Vec::new();
    let mut rows = Vec::new();
    for _ in 0..3 {
        let out = Command::new("node")
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tools"))
            .arg("first-paint.mjs")
            .arg(link)
            .output()
            .map_err(|e| format!("node: {e}"))?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|_| format!("first-paint.mjs: {}", String::from_utf8_lossy(&out.stderr)))?;
        fcp.push(v["fcp"].as_f64().unwrap_or(f64::NAN));
        rows.push(v["rows"].as_f64().unwrap_or(f64::NAN));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    Ok(format!(
        "{:.0} ms / {:.0} ms",
        median(&mut fcp),
        median(&mut rows)
    ))
}

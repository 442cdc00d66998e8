//! Health-gated start-up: a chain of `N` (4) services, each `dependsOn` the previous one
//! `healthy` (health check interval 1 s; healthy 0.3 s after start), from nothing to all
//! started: `devarch apply` against `docker-compose up -d` (Docker) / `podman-compose up -d`
//! (Podman) on the equivalent Compose file (`depends_on: {condition: service_healthy}`),
//! interleaved repetition by repetition, medians reported with the ratio.
//!
//! Run: `scripts/bench chain`, or `cargo bench --bench chain`. Knobs: `DEVARCH_BENCH_ENGINES`
//! (`docker,podman`), `DEVARCH_BENCH_REPS` (3), `DEVARCH_BENCH_CHAIN` (4). A compose run that
//! has not finished after 120 s is stopped and reported as such (podman-compose waits with
//! `podman wait --condition=healthy`, which never returns where Podman runs no health checks
//! by itself, i.e. without systemd).

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{Mode, Res, Samples, engines_from_env, env_num, fmt_d};

const IMAGE: &str = "devarch-fixture/busybox:1";
/// Healthy 0.3 s after start.
const COMMAND: &str = "trap 'exit 0' TERM INT; sleep 0.3; touch /tmp/ok; sleep 3600 & wait";
const LIMIT: Duration = Duration::from_secs(120);

fn link(i: usize) -> String {
    format!("s{i}")
}

/// Runs `cmd` to the end (or kills it after [`LIMIT`]); its time, `None` when it failed or
/// ran out of time.
fn timed(cmd: &mut Command) -> Option<Duration> {
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            if !status.success() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                eprintln!("warning: {cmd:?} failed: {}", err.trim());
                return None;
            }
            return Some(start.elapsed());
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Bench {
    engine: String,
    n: usize,
    work: tempfile::TempDir,
}

impl Bench {
    fn folder(&self, stack: &str) -> Res<PathBuf> {
        let dir = self.work.path().join(format!("d-{stack}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut y = format!(
            "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {{name: link}}\nspec:\n  image: {IMAGE}\n  command: [sh, -c, \"{COMMAND}\"]\n  healthcheck: {{test: [CMD, test, -f, /tmp/ok], interval: 1s, timeout: 1s, retries: 30}}\n---\napiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: {stack}}}\nspec:\n  instances:\n"
        );
        for i in 0..self.n {
            if i == 0 {
                let _ = writeln!(y, "    {}: {{template: link}}", link(i));
            } else {
                let _ = writeln!(
                    y,
                    "    {}: {{template: link, dependsOn: [{{name: {}, condition: healthy}}]}}",
                    link(i),
                    link(i - 1)
                );
            }
        }
        std::fs::write(dir.join("s.yaml"), y).map_err(|e| e.to_string())?;
        Ok(dir)
    }

    fn compose_file(&self, project: &str) -> Res<PathBuf> {
        let dir = self.work.path().join(format!("c-{project}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut y = String::from("services:\n");
        for i in 0..self.n {
            let _ = write!(
                y,
                "  {}:\n    image: {IMAGE}\n    command: [sh, -c, \"{COMMAND}\"]\n    healthcheck: {{test: [CMD, test, -f, /tmp/ok], interval: 1s, timeout: 1s, retries: 30}}\n",
                link(i)
            );
            if i > 0 {
                let _ = writeln!(
                    y,
                    "    depends_on: {{{}: {{condition: service_healthy}}}}",
                    link(i - 1)
                );
            }
        }
        let f = dir.join("compose.yaml");
        std::fs::write(&f, y).map_err(|e| e.to_string())?;
        Ok(f)
    }

    fn devarch(&self, home: &Path, dir: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_devarch"));
        c.arg("--dir")
            .arg(dir)
            .arg("--home")
            .arg(home)
            .arg("--runtime")
            .arg(&self.engine)
            .args(args)
            .env("DEVARCH_DIAGNOSTICS", "plain")
            .env_remove("DOCKER_HOST")
            .env_remove("CONTAINER_HOST");
        c
    }

    fn compose(&self, project: &str, file: &Path, args: &[&str]) -> Command {
        let tool = if self.engine == "docker" {
            "docker-compose"
        } else {
            "podman-compose"
        };
        let mut c = Command::new(tool);
        c.arg("-p")
            .arg(project)
            .arg("-f")
            .arg(file)
            .args(args)
            .env_remove("DOCKER_HOST")
            .current_dir(file.parent().unwrap_or(Path::new("/")));
        c
    }

    /// Removes every container and network whose name holds `token`.
    fn sweep(&self, token: &str) {
        let list = |what: &[&str]| -> Vec<String> {
            Command::new(&self.engine)
                .args(what)
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .filter(|l| l.contains(token))
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        for c in list(&["ps", "-a", "--format", "{{.Names}}"]) {
            let _ = Command::new(&self.engine)
                .args(["rm", "-f", "-t", "0", &c])
                .output();
        }
        for n in list(&["network", "ls", "--format", "{{.Name}}"]) {
            let _ = Command::new(&self.engine)
                .args(["network", "rm", &n])
                .output();
        }
    }
}

fn main() {
    match support::mode("chain", "scripts/bench chain") {
        Mode::Skip => return,
        Mode::Cleanup => {
            for engine in engines_from_env() {
                let b = Bench {
                    engine,
                    n: 0,
                    work: tempfile::tempdir().expect("tempdir"),
                };
                b.sweep("chainb");
            }
            return;
        }
        Mode::Run => {}
    }
    let reps = env_num("DEVARCH_BENCH_REPS", 3);
    let n = env_num("DEVARCH_BENCH_CHAIN", 4);
    let mut out = format!(
        "## Health-gated start-up: a chain of {n}, each healthy 0.3 s after start, check interval 1 s (median of {reps})\n\n| engine | devarch apply | compose up -d | devarch / compose |\n|---|---|---|---|\n"
    );
    for engine in engines_from_env() {
        let b = Bench {
            engine: engine.clone(),
            n,
            work: tempfile::tempdir().expect("tempdir"),
        };
        b.sweep("chainb");
        let (mut ours, mut theirs) = (Samples(Vec::new()), Samples(Vec::new()));
        let mut compose_failed = 0;
        for rep in 0..reps {
            let stack = format!("chainb{rep}");
            let home = b.work.path().join(format!("home-{rep}"));
            let dir = b.folder(&stack).expect("folder");
            match timed(&mut b.devarch(&home, &dir, &["apply", &stack])) {
                Some(d) => ours.push(d),
                None => eprintln!("warning: devarch apply failed on {engine}"),
            }
            let _ = b
                .devarch(&home, &dir, &["delete", &stack, "--purge-volumes"])
                .output();
            b.sweep(&stack);
            let project = format!("chainbc{rep}");
            let file = b.compose_file(&project).expect("compose file");
            match timed(&mut b.compose(&project, &file, &["up", "-d"])) {
                Some(d) => theirs.push(d),
                None => compose_failed += 1,
            }
            let _ = b.compose(&project, &file, &["down"]).output();
            b.sweep(&project);
            std::thread::sleep(Duration::from_millis(1500));
        }
        let median = |s: &Samples| (!s.0.is_empty()).then(|| s.median());
        let cell = |d: Option<Duration>| d.map_or_else(|| "—".to_string(), fmt_d);
        let ratio = match (median(&ours), median(&theirs)) {
            (Some(a), Some(b)) => format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64()),
            _ => "—".into(),
        };
        let theirs_cell = if compose_failed > 0 && theirs.0.is_empty() {
            format!(
                "did not finish in {} s ({compose_failed} of {reps})",
                LIMIT.as_secs()
            )
        } else {
            cell(median(&theirs))
        };
        let _ = writeln!(
            out,
            "| {engine} | {} | {theirs_cell} | {ratio} |",
            cell(median(&ours))
        );
    }
    println!("{out}");
}

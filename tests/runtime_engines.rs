//! The [`Runtime`] contract against the real engines of this machine: every test runs once on
//! Docker and once on Podman, as `docker::NAME` and `podman::NAME`, at the endpoints of the
//! shared harness (`tests/common`: `DEVARCH_TEST_DOCKER_HOST` / `DEVARCH_TEST_PODMAN_HOST`, by
//! default the sockets `scripts/engines.sh` starts). An engine that does not answer fails its
//! tests, unless `DEVARCH_SKIP_ENGINE_TESTS=1`, which skips them with a `SKIP` line on stderr.
//!
//! Needs `scripts/engines.sh all` (engines running, fixture image `devarch-fixture/busybox:1`
//! built into both).
//!
//! Every object a test creates is named `devarch-rt-test-<random>-<test>-...`; whatever the
//! outcome, everything with that prefix is removed before the test's result is reported.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::Engine;
use devarch::runtime::connect::{self, Choice, connect_endpoint};
use devarch::runtime::{
    ContainerSpec, ContainerState, EngineEvent, EngineKind, EventKind, EventStream, Health,
    HealthSpec, Mount, MountSource, PortBinding, PortProtocol, Runtime, RuntimeError,
};
use futures_util::StreamExt;

const FIXTURE: &str = "devarch-fixture/busybox:1";
const MISSING_IMAGE: &str = "devarch-fixture/nope:0";
/// Upper bound for one test body; a hang fails instead of blocking the suite.
const TEST_TIMEOUT: Duration = Duration::from_secs(240);
/// How long an engine event may take to arrive (both deliver within milliseconds).
const EVENT_WAIT: Duration = Duration::from_secs(2);

/// Unique names for one test run, and which test and engine it is.
struct Names {
    base: String,
    test: &'static str,
    engine: Engine,
}

impl Names {
    fn new(test: &'static str, engine: Engine) -> Self {
        use std::hash::{BuildHasher, RandomState};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let seed = (
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            Instant::now(),
        );
        let random = RandomState::new().hash_one(format!("{seed:?}")) as u32;
        let name = test.rsplit("::").next().unwrap_or(test);
        let short: String = name.chars().take(16).collect::<String>().replace('_', "-");
        Names {
            base: format!("devarch-rt-test-{random:08x}-{short}"),
            test,
            engine,
        }
    }

    fn name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.base)
    }

    fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("devarch.managed_by".to_string(), "devarch".to_string()),
            ("devarch.test".to_string(), self.base.clone()),
        ])
    }

    /// A fixture container with the default command (a shell that exits 0 on SIGTERM).
    fn spec(&self, suffix: &str) -> ContainerSpec {
        ContainerSpec {
            name: self.name(suffix),
            image: FIXTURE.to_string(),
            labels: self.labels(),
            ..Default::default()
        }
    }
}

/// Removes everything named with the test's prefix; returns what could not be removed.
async fn cleanup(rt: &dyn Runtime, names: &Names) -> Vec<String> {
    let mut problems = Vec::new();
    let mut note = |what: String, r: Result<(), RuntimeError>| match r {
        Ok(()) | Err(RuntimeError::NotFound(_)) => {}
        Err(e) => problems.push(format!("{what}: {e}")),
    };
    match rt.list_containers(&names.base).await {
        Ok(list) => {
            for c in list {
                note(
                    format!("container {}", c.name),
                    rt.remove_container(&c.id, true).await,
                );
            }
        }
        Err(e) => note("list containers".into(), Err(e)),
    }
    match rt.list_networks(&names.base).await {
        Ok(list) => {
            for n in list {
                note(
                    format!("network {}", n.name),
                    rt.remove_network(&n.id).await,
                );
            }
        }
        Err(e) => note("list networks".into(), Err(e)),
    }
    match rt.list_volumes(&names.base).await {
        Ok(list) => {
            for v in list {
                note(
                    format!("volume {}", v.name),
                    rt.remove_volume(&v.name).await,
                );
            }
        }
        Err(e) => note("list volumes".into(), Err(e)),
    }
    problems
}

/// Runs one test body on one engine: connect (or skip), run it under [`TEST_TIMEOUT`] catching
/// panics, clean up, then report the body's outcome.
fn run_case(engine: Engine, test: &'static str, body: impl AsyncFnOnce(&dyn Runtime, &Names)) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    tokio.block_on(async {
        let Some(rt) = common::connect(engine, test).await else {
            return;
        };
        let names = Names::new(test, engine);
        let body = tokio::time::timeout(TEST_TIMEOUT, body(&rt, &names));
        let outcome =
            futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(body)).await;
        let leftovers = cleanup(&rt, &names).await;
        if !leftovers.is_empty() {
            eprintln!("cleanup of {} failed: {leftovers:#?}", names.base);
        }
        match outcome {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(Err(_)) => panic!("{test} timed out after {TEST_TIMEOUT:?}"),
            Ok(Ok(())) => assert!(leftovers.is_empty(), "cleanup failed: {leftovers:?}"),
        }
    })
}

engine_tests!(
    run: crate::run_case;
    list_by_prefix_and_labels,
    network_alias_resolves,
    published_port_answers,
    volume_and_readonly_bind,
    spec_fields_reach_the_process,
    lifecycle_rename_stop_remove,
    concurrent_stops_on_one_network,
    missing_objects_are_not_found,
    health_check_becomes_healthy,
    failing_health_check_becomes_unhealthy,
    images_present_and_failed_pull,
    events_follow_labelled_containers,
    events_report_networks_and_volumes_by_name,
    events_report_health,
    events_end_when_the_engine_goes_away,
);

/// Polls until the container has exited; returns its exit code.
async fn wait_exit(rt: &dyn Runtime, id: &str, limit: Duration) -> i64 {
    let start = Instant::now();
    loop {
        let d = rt
            .inspect_container(id)
            .await
            .expect("inspect while waiting for exit");
        if d.summary.state == ContainerState::Exited {
            return d.exit_code.expect("an exited container has an exit code");
        }
        assert!(
            start.elapsed() < limit,
            "{id} still {:?} after {limit:?}",
            d.summary.state
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Creates, starts and waits for a one-shot container; returns its exit code.
async fn run_to_exit(rt: &dyn Runtime, spec: &ContainerSpec) -> i64 {
    let id = rt
        .create_container(spec)
        .await
        .expect("create one-shot container");
    rt.start_container(&id)
        .await
        .expect("start one-shot container");
    wait_exit(rt, &id, Duration::from_secs(60)).await
}

/// `ours` all present in `got` with their values; anything else is the fixture image's label.
fn assert_labels(got: &BTreeMap<String, String>, ours: &BTreeMap<String, String>, via: &str) {
    for (k, v) in ours {
        assert_eq!(got.get(k), Some(v), "label {k} through {via}: {got:?}");
    }
    let extra: Vec<&String> = got.keys().filter(|k| !ours.contains_key(*k)).collect();
    assert!(
        extra.iter().all(|k| *k == "devarch.fixture.hash"),
        "unexpected labels through {via}: {extra:?}"
    );
}

fn sh(script: &str) -> Option<Vec<String>> {
    Some(vec!["sh".into(), "-c".into(), script.into()])
}

// ---------------------------------------------------------------------------------------------

async fn list_by_prefix_and_labels(rt: &dyn Runtime, n: &Names) {
    let prefix = n.name("in");
    let mut labels = n.labels();
    labels.insert(
        "devarch.config_hash".into(),
        "v1:0123abcd=ef; spaces ok".into(),
    );
    labels.insert("devarch.owner".into(), "/home/dev/manifests".into());
    let mut inside = n.spec("in-a");
    inside.labels = labels.clone();
    let id = rt.create_container(&inside).await.expect("create");
    // Contains the prefix, but not at the start: the engine's filter matches it, ours must not.
    let outside = n.spec(&format!("x-{prefix}-b"));
    rt.create_container(&outside).await.expect("create outside");

    let mut calls = Vec::new();
    let mut list = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        list = rt.list_containers(&prefix).await.expect("list");
        calls.push(t.elapsed());
    }
    eprintln!("{:?}: list_containers latency {calls:?}", rt.engine().kind);
    let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, [inside.name.as_str()], "prefix {prefix}");
    let c = &list[0];
    assert_eq!(c.id, id);
    // Engines add the image's own labels (the fixture has `devarch.fixture.hash`): ours must
    // all come back unchanged, and nothing else may appear but the image's.
    assert_labels(&c.labels, &labels, "list");
    assert_eq!(c.state, ContainerState::Created);
    assert!(
        c.image.contains("devarch-fixture/busybox"),
        "image {}",
        c.image
    );
    eprintln!(
        "{:?}: listed image {:?}, networks {:?}",
        rt.engine().kind,
        c.image,
        c.networks
    );

    let details = rt.inspect_container(&inside.name).await.expect("inspect");
    assert_eq!(details.summary.name, inside.name);
    assert_labels(&details.summary.labels, &labels, "inspect");
    eprintln!(
        "{:?}: inspected image {:?}",
        rt.engine().kind,
        details.summary.image
    );

    // The broader prefix finds both; names never carry a leading '/'.
    let all = rt
        .list_containers(&n.base)
        .await
        .expect("list all of the test");
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|c| !c.name.starts_with('/')));
}

async fn network_alias_resolves(rt: &dyn Runtime, n: &Names) {
    let net_name = n.name("net");
    let labels = n.labels();
    let net = rt
        .create_network(&net_name, &labels)
        .await
        .expect("create network");
    // A second create returns the same network instead of a duplicate (Docker 20.10 would make one).
    let again = rt
        .create_network(&net_name, &labels)
        .await
        .expect("create network again");
    assert_eq!(again, net);
    let nets = rt.list_networks(&net_name).await.expect("list networks");
    assert_eq!(nets.len(), 1, "{nets:?}");
    assert_eq!(
        (nets[0].id.as_str(), &nets[0].labels),
        (net.as_str(), &labels)
    );

    let mut server = n.spec("srv");
    server.network = net_name.clone();
    server.aliases = vec!["db-alias".into()];
    let srv = rt.create_container(&server).await.expect("create server");
    rt.start_container(&srv).await.expect("start server");
    let details = rt.inspect_container(&srv).await.expect("inspect server");
    assert_eq!(details.summary.networks, [net_name.as_str()]);
    // The list reports the same (planning reads the list, not inspect).
    let listed = rt.list_containers(&server.name).await.expect("list server");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].networks, [net_name.as_str()]);
    assert!(listed[0].state.is_running(), "{:?}", listed[0].state);

    // Attached after create, with its own alias.
    let late = rt
        .create_container(&n.spec("late"))
        .await
        .expect("create late");
    rt.connect_network(&net, &late, &["late-alias".to_string()])
        .await
        .expect("connect");
    rt.start_container(&late).await.expect("start late");
    let late_nets = rt
        .inspect_container(&late)
        .await
        .expect("inspect late")
        .summary
        .networks;
    assert!(late_nets.contains(&net_name), "{late_nets:?}");

    for (i, target) in ["db-alias", server.name.as_str(), "late-alias"]
        .into_iter()
        .enumerate()
    {
        let mut client = n.spec(&format!("client{i}"));
        client.network = net_name.clone();
        client.command = Some(vec!["nslookup".into(), target.into()]);
        let t = Instant::now();
        let code = run_to_exit(rt, &client).await;
        eprintln!(
            "{:?}: nslookup {target} exit {code} in {:?}",
            rt.engine().kind,
            t.elapsed()
        );
        assert_eq!(code, 0, "{target} must resolve on {net_name}");
    }
    let mut miss = n.spec("client-miss");
    miss.network = net_name.clone();
    miss.command = Some(vec!["nslookup".into(), "no-such-alias".into()]);
    assert_ne!(
        run_to_exit(rt, &miss).await,
        0,
        "an unknown name must not resolve"
    );

    // A network in use cannot be removed (status differs per engine, so only: not NotFound).
    let busy = rt.remove_network(&net).await;
    assert!(matches!(busy, Err(RuntimeError::Api { .. })), "{busy:?}");
    for c in rt.list_containers(&n.base).await.expect("list") {
        rt.remove_container(&c.id, true)
            .await
            .expect("remove container");
    }
    rt.remove_network(&net).await.expect("remove network");
    assert!(rt.remove_network(&net).await.unwrap_err().is_not_found());
    assert!(rt.list_networks(&net_name).await.expect("list").is_empty());
}

async fn published_port_answers(rt: &dyn Runtime, n: &Names) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut spec = n.spec("web");
    spec.command = sh(
        "mkdir -p /www && echo hello-from-devarch > /www/index.html && exec httpd -f -p 8080 -h /www",
    );
    spec.ports = vec![PortBinding {
        container_port: 8080,
        protocol: PortProtocol::Tcp,
        host_ip: Some("127.0.0.1".into()),
        host_port: port,
    }];
    let id = rt.create_container(&spec).await.expect("create");
    rt.start_container(&id).await.expect("start");

    let start = Instant::now();
    let body = loop {
        let attempt = tokio::task::spawn_blocking(move || -> std::io::Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })
        .await
        .unwrap();
        match attempt {
            Ok(body) if body.contains("hello-from-devarch") => break body,
            other if start.elapsed() > Duration::from_secs(30) => {
                panic!("127.0.0.1:{port} did not serve the page: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    eprintln!(
        "{:?}: 127.0.0.1:{port} answered after {:?} ({} bytes)",
        rt.engine().kind,
        start.elapsed(),
        body.len()
    );
}

async fn volume_and_readonly_bind(rt: &dyn Runtime, n: &Names) {
    let volume = n.name("data");
    let labels = n.labels();
    rt.create_volume(&volume, &labels)
        .await
        .expect("create volume");
    rt.create_volume(&volume, &labels)
        .await
        .expect("create volume again (idempotent)");
    let vols = rt.list_volumes(&volume).await.expect("list volumes");
    assert_eq!(vols.len(), 1, "{vols:?}");
    assert_eq!(
        (vols[0].name.as_str(), &vols[0].labels),
        (volume.as_str(), &labels)
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "bind-ok\n").unwrap();
    let mounts = vec![
        Mount {
            source: MountSource::Volume {
                name: volume.clone(),
            },
            target: "/data".into(),
            read_only: false,
        },
        Mount {
            source: MountSource::Bind {
                path: dir.path().to_string_lossy().into_owned(),
            },
            target: "/mnt/ro".into(),
            read_only: true,
        },
    ];
    let mut writer = n.spec("writer");
    writer.mounts = mounts.clone();
    writer.command = sh(
        "echo persisted > /data/f && grep -q bind-ok /mnt/ro/hello.txt && ! touch /mnt/ro/x 2>/dev/null",
    );
    assert_eq!(
        run_to_exit(rt, &writer).await,
        0,
        "write volume, read bind, bind refuses writes"
    );
    assert!(
        !dir.path().join("x").exists(),
        "the read-only bind was written to"
    );

    let mut reader = n.spec("reader");
    reader.mounts = mounts[..1].to_vec();
    reader.command = sh("grep -q persisted /data/f");
    assert_eq!(
        run_to_exit(rt, &reader).await,
        0,
        "the volume keeps data across containers"
    );

    // In use: refused (status differs per engine).
    assert!(matches!(
        rt.remove_volume(&volume).await,
        Err(RuntimeError::Api { .. })
    ));
    for c in rt.list_containers(&n.base).await.expect("list") {
        rt.remove_container(&c.id, false)
            .await
            .expect("remove stopped container");
    }
    rt.remove_volume(&volume).await.expect("remove volume");
    assert!(rt.remove_volume(&volume).await.unwrap_err().is_not_found());
    assert!(rt.list_volumes(&volume).await.expect("list").is_empty());
}

async fn spec_fields_reach_the_process(rt: &dyn Runtime, n: &Names) {
    let mut spec = n.spec("fields");
    spec.entrypoint = Some(vec!["sh".into(), "-c".into()]);
    spec.command = Some(vec![
        r#"test "$FOO" = "bar baz" && test "$EMPTY" = "" && test "$(pwd)" = /tmp \
           && test "$(id -u)" = 65534 && test "$(hostname)" = devarch-host"#
            .into(),
    ]);
    spec.env = vec![
        ("FOO".into(), "bar baz".into()),
        ("EMPTY".into(), String::new()),
    ];
    spec.working_dir = Some("/tmp".into());
    spec.user = Some("65534".into());
    spec.hostname = Some("devarch-host".into());
    spec.nano_cpus = Some(500_000_000);
    spec.memory = Some(64 * 1024 * 1024);
    assert_eq!(
        run_to_exit(rt, &spec).await,
        0,
        "env, workdir, user, hostname, limits"
    );
}

async fn lifecycle_rename_stop_remove(rt: &dyn Runtime, n: &Names) {
    let spec = n.spec("life");
    let id = rt.create_container(&spec).await.expect("create");
    let d = rt.inspect_container(&id).await.expect("inspect created");
    assert_eq!(d.summary.state, ContainerState::Created);
    assert_eq!(
        (d.started_at.as_deref(), d.exit_code, d.health),
        (None, None, Health::None)
    );

    // A second container with the same name: a conflict (409 Docker, 500 Podman), never NotFound.
    match rt.create_container(&spec).await {
        Err(RuntimeError::Api {
            status, message, ..
        }) => {
            eprintln!(
                "{:?}: name conflict -> status {status:?}: {message}",
                rt.engine().kind
            )
        }
        other => panic!("name conflict must be an Api error, got {other:?}"),
    }
    let mut no_image = n.spec("noimage");
    no_image.image = MISSING_IMAGE.into();
    let missing = rt.create_container(&no_image).await;
    eprintln!(
        "{:?}: create with a missing image -> {missing:?}",
        rt.engine().kind
    );
    assert!(missing.is_err());

    rt.start_container(&id).await.expect("start");
    let d = rt.inspect_container(&id).await.expect("inspect running");
    assert_eq!(d.summary.state, ContainerState::Running);
    assert!(d.started_at.is_some() && d.exit_code.is_none(), "{d:?}");

    let renamed = n.name("renamed");
    rt.rename_container(&spec.name, &renamed)
        .await
        .expect("rename");
    assert_eq!(
        rt.inspect_container(&renamed)
            .await
            .expect("inspect new name")
            .summary
            .id,
        id
    );
    assert!(
        rt.inspect_container(&spec.name)
            .await
            .unwrap_err()
            .is_not_found()
    );
    let listed: Vec<String> = rt
        .list_containers(&n.base)
        .await
        .expect("list")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(listed, [renamed.as_str()]);

    let t = Instant::now();
    rt.stop_container(&renamed, Duration::from_secs(10))
        .await
        .expect("stop");
    let stop_time = t.elapsed();
    let d = rt.inspect_container(&id).await.expect("inspect stopped");
    eprintln!(
        "{:?}: stop took {stop_time:?}, exit code {:?}",
        rt.engine().kind,
        d.exit_code
    );
    assert_eq!(d.summary.state, ContainerState::Exited);
    assert_eq!(
        d.exit_code,
        Some(0),
        "the fixture's shell exits 0 on SIGTERM"
    );
    rt.stop_container(&id, Duration::from_secs(1))
        .await
        .expect("stopping a stopped container is fine");

    rt.start_container(&id).await.expect("start again");
    assert!(
        rt.inspect_container(&id)
            .await
            .expect("inspect")
            .summary
            .state
            .is_running()
    );
    // Removing a running container without force: refused, as Api (409 Docker, 500 Podman).
    assert!(matches!(
        rt.remove_container(&id, false).await,
        Err(RuntimeError::Api { .. })
    ));
    rt.remove_container(&id, true).await.expect("force remove");
    assert!(rt.inspect_container(&id).await.unwrap_err().is_not_found());
    assert!(
        rt.remove_container(&id, true)
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert!(rt.list_containers(&n.base).await.expect("list").is_empty());
}

/// Stops of several containers of one network asked for at once: all stop, and the engine
/// still answers network calls afterwards. On an engine whose network teardown can deadlock
/// (Docker before 20.10.27) the runtime runs them one after the other: the engine's events show
/// each container signalled only after the previous one died.
async fn concurrent_stops_on_one_network(rt: &dyn Runtime, n: &Names) {
    let net_name = n.name("net");
    rt.create_network(&net_name, &n.labels())
        .await
        .expect("create network");
    let mut ids = Vec::new();
    for i in 0..4 {
        let mut spec = n.spec(&format!("c{i}"));
        spec.network = net_name.clone();
        let id = rt.create_container(&spec).await.expect("create");
        rt.start_container(&id).await.expect("start");
        ids.push(id);
    }
    let mut w = Watch::start(rt, &format!("devarch.test={}", n.base)).await;
    let stops = futures_util::future::join_all(
        ids.iter()
            .map(|id| rt.stop_container(id, Duration::from_secs(10))),
    )
    .await;
    for r in stops {
        r.expect("stop");
    }
    for id in &ids {
        let d = rt.inspect_container(id).await.expect("inspect");
        assert_eq!(d.summary.state, ContainerState::Exited, "{id}");
        w.expect(
            EventKind::Container,
            id,
            "die",
            Instant::now() - Duration::from_secs(60),
        )
        .await;
    }
    let nets = tokio::time::timeout(Duration::from_secs(10), rt.list_networks(&net_name))
        .await
        .expect("the engine answers a network list after the stops")
        .expect("list networks");
    assert_eq!(nets.len(), 1, "{nets:?}");

    // The engine's own account, in its order: who was signalled (`kill`) and who went down
    // (`die`).
    let mut sequence: Vec<(i64, String, String)> = w
        .log
        .iter()
        .filter(|(_, e)| ids.contains(&e.id) && (e.action == "kill" || e.action == "die"))
        .map(|(_, e)| (e.time, e.action.clone(), e.id[..8].to_string()))
        .collect();
    sequence.sort();
    let signalled_while_another_was_going_down = sequence
        .windows(2)
        .any(|p| p[0].1 == "kill" && p[1].1 == "kill" && p[0].2 != p[1].2);
    let (kind, version) = (rt.engine().kind, &rt.engine().version);
    eprintln!("{kind:?} {version}: {sequence:?}");
    if rt.engine().network_teardown_deadlocks() {
        // One at a time: each container is signalled only after the one before it died.
        assert!(
            !signalled_while_another_was_going_down,
            "{kind:?} {version}: stops overlapped: {sequence:?}"
        );
    }
}

async fn missing_objects_are_not_found(rt: &dyn Runtime, n: &Names) {
    let missing = n.name("missing");
    let nf = |r: Result<(), RuntimeError>, what: &str| match r {
        Err(RuntimeError::NotFound(m)) => assert!(m.contains(&missing), "{what}: message {m:?}"),
        other => panic!("{what}: expected NotFound, got {other:?}"),
    };
    nf(rt.inspect_container(&missing).await.map(drop), "inspect");
    nf(rt.check_health(&missing).await.map(drop), "check_health");
    nf(rt.start_container(&missing).await, "start");
    nf(
        rt.stop_container(&missing, Duration::from_secs(1)).await,
        "stop",
    );
    nf(
        rt.remove_container(&missing, true).await,
        "remove container",
    );
    nf(
        rt.rename_container(&missing, &n.name("other")).await,
        "rename",
    );
    nf(rt.remove_network(&missing).await, "remove network");
    nf(rt.remove_volume(&missing).await, "remove volume");
    nf(
        rt.connect_network(&missing, &missing, &[]).await,
        "connect network",
    );
    assert!(rt.list_containers(&missing).await.expect("list").is_empty());
    assert!(rt.list_networks(&missing).await.expect("list").is_empty());
    assert!(rt.list_volumes(&missing).await.expect("list").is_empty());
}

async fn health_check_becomes_healthy(rt: &dyn Runtime, n: &Names) {
    let mut spec = n.spec("hc");
    spec.command = sh("trap 'exit 0' TERM; sleep 2; touch /tmp/ready; sleep 3600 & wait");
    spec.healthcheck = Some(HealthSpec {
        test: vec!["CMD-SHELL".into(), "test -f /tmp/ready".into()],
        interval: Some(Duration::from_millis(500)),
        timeout: Some(Duration::from_secs(2)),
        retries: Some(20),
        start_period: None,
    });
    let id = rt.create_container(&spec).await.expect("create");
    assert_eq!(
        rt.check_health(&id).await.expect("health before start"),
        Health::Starting
    );
    rt.start_container(&id).await.expect("start");
    let started = Instant::now();
    assert_eq!(
        rt.check_health(&id).await.expect("first check"),
        Health::Starting
    );

    let mut polls = 0;
    loop {
        polls += 1;
        match rt.check_health(&id).await.expect("check_health") {
            Health::Healthy => break,
            Health::Starting => {}
            other => panic!("unexpected {other:?} after {:?}", started.elapsed()),
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not healthy after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!(
        "{:?}: healthy {:?} after start ({polls} polls)",
        rt.engine().kind,
        started.elapsed()
    );
    // The engine's own state agrees (on Podman it was updated by the checks run above).
    assert_eq!(
        rt.inspect_container(&id).await.expect("inspect").health,
        Health::Healthy
    );

    let plain = rt
        .create_container(&n.spec("nohc"))
        .await
        .expect("create without check");
    rt.start_container(&plain).await.expect("start");
    assert_eq!(rt.check_health(&plain).await.expect("check"), Health::None);
    assert_eq!(
        rt.inspect_container(&plain).await.expect("inspect").health,
        Health::None
    );
}

async fn failing_health_check_becomes_unhealthy(rt: &dyn Runtime, n: &Names) {
    let mut spec = n.spec("sick");
    spec.healthcheck = Some(HealthSpec {
        test: vec!["CMD".into(), "false".into()],
        interval: Some(Duration::from_millis(500)),
        timeout: Some(Duration::from_secs(2)),
        retries: Some(3),
        start_period: None,
    });
    let id = rt.create_container(&spec).await.expect("create");
    rt.start_container(&id).await.expect("start");
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let h = rt.check_health(&id).await.expect("check_health");
        if seen.last() != Some(&h) {
            seen.push(h);
        }
        if h == Health::Unhealthy {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not unhealthy after 30 s: {seen:?}"
        );
        // Polled faster than the interval: retries must still count per interval.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    eprintln!(
        "{:?}: unhealthy after {took:?}, states {seen:?}",
        rt.engine().kind
    );
    assert_eq!(seen, [Health::Starting, Health::Unhealthy]);
    assert!(
        took >= Duration::from_millis(900),
        "3 retries at 500 ms cannot fail in {took:?}"
    );
}

async fn images_present_and_failed_pull(rt: &dyn Runtime, _n: &Names) {
    assert!(
        rt.image_present(FIXTURE).await.expect("inspect fixture"),
        "run scripts/engines.sh images"
    );
    assert!(
        !rt.image_present(MISSING_IMAGE)
            .await
            .expect("inspect missing")
    );

    let events = AtomicUsize::new(0);
    let t = Instant::now();
    let pulled = tokio::time::timeout(
        Duration::from_secs(60),
        rt.pull_image(MISSING_IMAGE, &|_p| {
            events.fetch_add(1, Ordering::Relaxed);
        }),
    )
    .await
    .expect("a failed pull must end within 60 s");
    eprintln!(
        "{:?}: pull of {MISSING_IMAGE} ended in {:?} after {} progress events: {pulled:?}",
        rt.engine().kind,
        t.elapsed(),
        events.load(Ordering::Relaxed)
    );
    match pulled {
        Err(RuntimeError::Pull { image, message }) => {
            assert_eq!(image, MISSING_IMAGE);
            assert!(!message.is_empty());
        }
        other => panic!("expected RuntimeError::Pull, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Connecting

#[tokio::test]
async fn dead_socket_fails_fast_and_names_the_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dead.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap()); // the file stays, nobody listens
    let t = Instant::now();
    let err = connect_endpoint(path.to_str().unwrap())
        .await
        .err()
        .expect("nobody answers");
    assert!(
        t.elapsed() < connect::CONNECT_TIMEOUT + Duration::from_secs(1),
        "{:?}",
        t.elapsed()
    );
    match &err {
        RuntimeError::Unavailable { tried } => {
            assert_eq!(tried.len(), 1);
            assert!(tried[0].contains("dead.sock"), "{tried:?}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let missing = connect_endpoint("unix:///nonexistent/devarch.sock")
        .await
        .err()
        .expect("no socket");
    assert!(
        missing.to_string().contains("/nonexistent/devarch.sock"),
        "{missing}"
    );
}

/// Does `connect()` look first (by the first of `vars` that is set, else the default socket;
/// see `controller/runtime/connect.rs`) at the endpoint under test? If not, the test cannot
/// check it: [`common::unavailable`].
fn discovered_is_under_test(engine: Engine, test: &str, vars: &[&str]) -> bool {
    let (name, first) = vars
        .iter()
        .find_map(|v| Some((v.to_string(), common::endpoint_from(v)?)))
        .unwrap_or_else(|| ("the default".into(), engine.default_endpoint().into()));
    if first == engine.endpoint() {
        return true;
    }
    common::unavailable(
        test,
        engine,
        &format!(
            "connect() looks first at {first} ({name}), not at the endpoint under test {} ({})",
            engine.endpoint(),
            engine.var()
        ),
    );
    false
}

/// `connect(Podman)` finds the endpoint under test the way the CLI does (`CONTAINER_HOST`,
/// `DEVARCH_PODMAN_SOCKET`, then the system socket) and reports it.
#[tokio::test]
async fn connect_podman_finds_the_system_socket() {
    let test = "runtime_engines::connect_podman_finds_the_system_socket";
    let vars = ["CONTAINER_HOST", "DEVARCH_PODMAN_SOCKET"];
    if common::connect(Engine::Podman, test).await.is_none()
        || !discovered_is_under_test(Engine::Podman, test, &vars)
    {
        return;
    }
    let t = Instant::now();
    let rt = connect::connect(Choice::Podman)
        .await
        .expect("connect podman");
    let info = rt.engine();
    eprintln!("connect(Podman) took {:?}: {info:?}", t.elapsed());
    assert_eq!(info.kind, EngineKind::Podman);
    assert_eq!(info.endpoint, Engine::Podman.endpoint());
    assert!(!info.version.is_empty() && !info.api_version.is_empty());
}

/// `connect(Docker)` (`DOCKER_HOST`, else the default socket) reports the engine and the
/// negotiated API version.
#[tokio::test]
async fn connect_docker_reports_the_engine() {
    let test = "runtime_engines::connect_docker_reports_the_engine";
    if common::connect(Engine::Docker, test).await.is_none()
        || !discovered_is_under_test(Engine::Docker, test, &["DOCKER_HOST"])
    {
        return;
    }
    let t = Instant::now();
    let rt = connect::connect(Choice::Docker)
        .await
        .expect("connect docker");
    let info = rt.engine();
    eprintln!("connect(Docker) took {:?}: {info:?}", t.elapsed());
    assert_eq!(info.kind, EngineKind::Docker);
    assert_eq!(info.endpoint, Engine::Docker.endpoint());
    assert!(info.api_version.starts_with("1."), "{info:?}");
}

// ---------------------------------------------------------------------------------------------
// Events

/// An event subscription read in the background: every item with the instant it arrived.
struct Watch {
    rx: tokio::sync::mpsc::UnboundedReceiver<(Instant, Result<EngineEvent, RuntimeError>)>,
    /// Everything received so far, in order.
    log: Vec<(Instant, EngineEvent)>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watch {
    async fn start(rt: &dyn Runtime, label_filter: &str) -> Watch {
        let t = Instant::now();
        let stream = rt.events(label_filter).await.expect("subscribe to events");
        eprintln!("{:?}: subscribed in {:?}", rt.engine().kind, t.elapsed());
        Watch::of(stream)
    }

    fn of(mut stream: EventStream) -> Watch {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(item) = stream.next().await {
                if tx.send((Instant::now(), item)).is_err() {
                    break;
                }
            }
        });
        Watch {
            rx,
            log: Vec::new(),
            task,
        }
    }

    fn record(&mut self, item: (Instant, Result<EngineEvent, RuntimeError>)) {
        match item {
            (at, Ok(event)) => self.log.push((at, event)),
            (_, Err(e)) => panic!("event stream failed: {e}"),
        }
    }

    /// Takes in whatever has arrived, without waiting.
    fn drain(&mut self) {
        while let Ok(item) = self.rx.try_recv() {
            self.record(item);
        }
    }

    /// The first `action` on object `id` that arrived after `since` (waiting up to
    /// [`EVENT_WAIT`] for it); returns when it arrived.
    async fn expect(&mut self, kind: EventKind, id: &str, action: &str, since: Instant) -> Instant {
        let matches = |(at, e): &(Instant, EngineEvent)| {
            *at >= since && e.kind == kind && e.id == id && e.action == action
        };
        let deadline = tokio::time::Instant::now() + EVENT_WAIT;
        loop {
            self.drain();
            if let Some((at, _)) = self.log.iter().find(|entry| matches(entry)) {
                return *at;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(item)) => self.record(item),
                Ok(None) => panic!("event stream ended while waiting for {action} of {id}"),
                Err(_) => panic!(
                    "no {kind:?} {action} event for {id} within {EVENT_WAIT:?}; got {:?}",
                    self.actions_of(id)
                ),
            }
        }
    }

    /// Actions received for `id`, in order.
    fn actions_of(&self, id: &str) -> Vec<String> {
        self.log
            .iter()
            .filter(|(_, e)| e.id == id)
            .map(|(_, e)| e.action.clone())
            .collect()
    }
}

/// Runs one engine call and waits for the events it must cause; reports how long the call
/// took and when each event arrived relative to the call's return (negative: before it).
async fn step<F: std::future::Future<Output = T>, T>(
    w: &mut Watch,
    engine: EngineKind,
    what: &str,
    call: F,
    expected: &[(EventKind, &str)],
    id_of: impl Fn(&T) -> String,
) -> T {
    let start = Instant::now();
    let out = call.await;
    let returned = Instant::now();
    let id = id_of(&out);
    let mut lines = Vec::new();
    for (kind, action) in expected {
        let at = w.expect(*kind, &id, action, start).await;
        let ms = |a: Instant, b: Instant| {
            if a >= b {
                (a - b).as_secs_f64() * 1e3
            } else {
                -((b - a).as_secs_f64() * 1e3)
            }
        };
        lines.push(format!("{action} {:+.1} ms", ms(at, returned)));
    }
    eprintln!(
        "{engine:?}: {what} took {:.1} ms; events: {}",
        (returned - start).as_secs_f64() * 1e3,
        lines.join(", ")
    );
    out
}

async fn events_follow_labelled_containers(rt: &dyn Runtime, n: &Names) {
    let kind = rt.engine().kind;
    let filter = format!("devarch.test={}", n.base);
    let mut w = Watch::start(rt, &filter).await;
    let c = EventKind::Container;
    let spec = n.spec("ev");

    let id = step(
        &mut w,
        kind,
        "create",
        rt.create_container(&spec),
        &[(c, "create")],
        |r| r.as_ref().expect("create").clone(),
    )
    .await
    .unwrap();
    let same = |_: &Result<(), RuntimeError>| id.clone();
    step(
        &mut w,
        kind,
        "start",
        rt.start_container(&id),
        &[(c, "start")],
        same,
    )
    .await
    .expect("start");

    // An unlabelled container with the same name prefix, run through the same steps: none of
    // its events may be delivered.
    let mut plain_spec = n.spec("plain");
    plain_spec.labels.clear();
    let plain = rt
        .create_container(&plain_spec)
        .await
        .expect("create unlabelled");
    rt.start_container(&plain).await.expect("start unlabelled");

    step(
        &mut w,
        kind,
        "stop",
        rt.stop_container(&id, Duration::from_secs(10)),
        &[(c, "die")],
        same,
    )
    .await
    .expect("stop");
    rt.remove_container(&plain, true)
        .await
        .expect("remove unlabelled");
    step(
        &mut w,
        kind,
        "start again",
        rt.start_container(&id),
        &[(c, "start")],
        same,
    )
    .await
    .expect("start again");
    // Force-removing a running container: Docker reports `kill` first, Podman (sometimes a
    // `stop`) just `die`.
    let killed: &[(EventKind, &str)] = match kind {
        EngineKind::Docker => &[(c, "kill"), (c, "die"), (c, "destroy")],
        EngineKind::Podman => &[(c, "die"), (c, "destroy")],
    };
    step(
        &mut w,
        kind,
        "force remove",
        rt.remove_container(&id, true),
        killed,
        same,
    )
    .await
    .expect("remove");

    // Events of one subscription arrive in order: anything about the unlabelled container
    // (removed before the last steps) would be here by now.
    w.drain();
    let actions = w.actions_of(&id);
    eprintln!("{kind:?}: labelled container sent {actions:?}");
    assert!(
        w.actions_of(&plain).is_empty(),
        "unlabelled container's events delivered: {:?}",
        w.actions_of(&plain)
    );
    // Networks and volumes named `devarch-*` (other tests' too) come by name; containers only
    // by label.
    for (_, e) in w.log.iter().filter(|(_, e)| e.kind == EventKind::Container) {
        assert_eq!(e.id, id, "only the labelled container: {e:?}");
        assert_eq!(e.name.as_deref(), Some(spec.name.as_str()));
        assert_labels(&e.labels, &spec.labels, "events");
        assert!(e.time > 1_600_000_000_000_000_000, "time in ns: {}", e.time);
        assert!(!e.action.starts_with("exec_"), "{e:?}");
    }
    // Podman's `remove` is normalised; the engine-specific extras are documented.
    assert!(!actions.contains(&"remove".to_string()), "{actions:?}");
    let has = |a: &str| actions.iter().any(|x| x == a);
    match kind {
        EngineKind::Docker => assert!(has("kill") && has("stop") && !has("init"), "{actions:?}"),
        // Podman reports `stop` only sometimes (not when the process exits on SIGTERM before
        // Podman gets to it): `die` is what to rely on.
        EngineKind::Podman => assert!(has("init") && has("cleanup"), "{actions:?}"),
    }
}

async fn events_report_networks_and_volumes_by_name(rt: &dyn Runtime, n: &Names) {
    let kind = rt.engine().kind;
    let mut w = Watch::start(rt, &format!("devarch.test={}", n.base)).await;
    let labels = n.labels();
    let net_name = n.name("net");
    let begin = Instant::now();
    let net = rt
        .create_network(&net_name, &labels)
        .await
        .expect("create network");
    rt.remove_network(&net).await.expect("remove network");
    // Not named `devarch-*`: never delivered, labels or not.
    let other = format!("x{}", n.name("other"));
    let other_id = rt
        .create_network(&other, &labels)
        .await
        .expect("create other network");
    rt.remove_network(&other_id)
        .await
        .expect("remove other network");

    // A volume goes last: once its events are in, any earlier ones would be too.
    let vol = n.name("vol");
    let created = Instant::now();
    rt.create_volume(&vol, &labels)
        .await
        .expect("create volume");
    let removed = Instant::now();
    rt.remove_volume(&vol).await.expect("remove volume");
    let v = EventKind::Volume;
    let create_at = w.expect(v, &vol, "create", created).await;
    let destroy_at = w.expect(v, &vol, "destroy", removed).await;
    eprintln!(
        "{kind:?}: volume create after {:?}, destroy after {:?}",
        create_at - created,
        destroy_at - removed
    );

    w.drain();
    // Other tests may create `devarch-*` objects meanwhile: only ours and those are delivered.
    let networks: Vec<(String, Option<String>)> = w
        .log
        .iter()
        .filter(|(_, e)| e.kind == EventKind::Network)
        .filter(|(_, e)| e.name.as_deref().is_some_and(|name| name.contains(&n.base)))
        .map(|(_, e)| (e.action.clone(), e.name.clone()))
        .collect();
    eprintln!("{kind:?}: network events {networks:?}");
    for (_, e) in &w.log {
        assert!(e.labels.is_empty(), "{e:?}");
        assert!(
            e.name
                .as_deref()
                .is_some_and(|name| name.starts_with("devarch-")),
            "{e:?}"
        );
    }
    match kind {
        EngineKind::Docker => {
            let at = w.expect(EventKind::Network, &net, "create", begin).await;
            let destroy = w.expect(EventKind::Network, &net, "destroy", at).await;
            assert!(destroy >= at);
            let ours: Vec<_> = ["create", "destroy"]
                .iter()
                .map(|a| (a.to_string(), Some(net_name.clone())))
                .collect();
            assert_eq!(networks, ours, "never the network not named devarch-*");
        }
        // Podman 4.3 sends no network events at all (documented on `Runtime::events`).
        EngineKind::Podman => assert!(networks.is_empty(), "{networks:?}"),
    }
}

async fn events_report_health(rt: &dyn Runtime, n: &Names) {
    let kind = rt.engine().kind;
    let mut w = Watch::start(rt, &format!("devarch.test={}", n.base)).await;
    let mut spec = n.spec("hc");
    spec.command = sh("trap 'exit 0' TERM; sleep 1; touch /tmp/ready; sleep 3600 & wait");
    spec.healthcheck = Some(HealthSpec {
        test: vec!["CMD-SHELL".into(), "test -f /tmp/ready".into()],
        interval: Some(Duration::from_millis(500)),
        timeout: Some(Duration::from_secs(2)),
        retries: Some(20),
        start_period: None,
    });
    let id = rt.create_container(&spec).await.expect("create");
    rt.start_container(&id).await.expect("start");
    let started = Instant::now();
    loop {
        if rt.check_health(&id).await.expect("check_health") == Health::Healthy {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not healthy in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let healthy = Instant::now();
    let action = match kind {
        EngineKind::Docker => "health_status: healthy",
        // Podman: a bare `health_status` for every check run (here: run by check_health).
        EngineKind::Podman => "health_status",
    };
    let at = w.expect(EventKind::Container, &id, action, started).await;
    // Two more checks run: Docker runs them on its own timer, Podman when asked (check_health).
    match kind {
        EngineKind::Docker => docker_runs_two_more_checks(&id).await,
        EngineKind::Podman => {
            for _ in 0..2 {
                rt.check_health(&id).await.expect("check_health");
            }
        }
    }
    // Then a marker: events of one subscription arrive in order, so once the marker's is in,
    // every event of those checks is too.
    let marker = n.name("marker");
    let marked = Instant::now();
    rt.create_volume(&marker, &n.labels())
        .await
        .expect("create marker volume");
    w.expect(EventKind::Volume, &marker, "create", marked).await;
    rt.remove_volume(&marker)
        .await
        .expect("remove marker volume");
    w.drain();
    let actions = w.actions_of(&id);
    let health_events = actions
        .iter()
        .filter(|a| a.starts_with("health_status"))
        .count();
    eprintln!(
        "{kind:?}: healthy after {:?}; {action} event {:?} after that poll; all: {actions:?}",
        healthy - started,
        if at >= healthy {
            at - healthy
        } else {
            Duration::ZERO
        },
    );
    assert!(
        actions.iter().all(|a| !a.starts_with("exec_")),
        "{actions:?}"
    );
    match kind {
        // Once, on the change to healthy.
        EngineKind::Docker => assert_eq!(health_events, 1, "{actions:?}"),
        // Once per check run.
        EngineKind::Podman => assert!(health_events >= 2, "{actions:?}"),
    }
}

/// Waits until Docker has run two more health checks of container `id` (its health log, read
/// with the docker CLI at the endpoint under test, holds the last five).
async fn docker_runs_two_more_checks(id: &str) {
    let log = || {
        let out = Engine::Docker
            .cli()
            .args(["inspect", "--format", "{{json .State.Health.Log}}", id])
            .output()
            .expect("docker inspect");
        assert!(out.status.success(), "docker inspect {id}: {out:?}");
        let entries: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).expect("the health log is JSON");
        entries
            .iter()
            .map(|e| e["Start"].as_str().expect("a check's start").to_string())
            .collect::<Vec<String>>()
    };
    let before = log();
    let start = Instant::now();
    loop {
        let new = log().into_iter().filter(|s| !before.contains(s)).count();
        if new >= 2 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "Docker ran {new} health checks in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A Unix socket forwarding every connection to the engine's, until [`Proxy::cut`] closes
/// them all: the engine "goes away" for whoever connected through it, while the real engine
/// (shared with other tests) keeps running.
struct Proxy {
    path: std::path::PathBuf,
    _dir: tempfile::TempDir,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    connections: std::sync::Arc<std::sync::Mutex<Vec<std::os::unix::net::UnixStream>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(target: &str) -> Proxy {
        use std::os::unix::net::{UnixListener, UnixStream};
        use std::sync::atomic::AtomicBool;
        use std::sync::{Arc, Mutex};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&path).unwrap();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let target = target.to_string();
        let accept = std::thread::spawn({
            let (stop, connections) = (stop.clone(), connections.clone());
            move || {
                while !stop.load(Ordering::SeqCst) {
                    let client = match listener.accept() {
                        Ok((client, _)) => client,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                        Err(_) => return,
                    };
                    client.set_nonblocking(false).unwrap();
                    let Ok(upstream) = UnixStream::connect(&target) else {
                        continue;
                    };
                    let pipe = |mut from: UnixStream, mut to: UnixStream| {
                        std::thread::spawn(move || {
                            let _ = std::io::copy(&mut from, &mut to);
                            let _ = to.shutdown(std::net::Shutdown::Write);
                        });
                    };
                    let mut list = connections.lock().unwrap();
                    list.push(client.try_clone().unwrap());
                    list.push(upstream.try_clone().unwrap());
                    pipe(client.try_clone().unwrap(), upstream.try_clone().unwrap());
                    pipe(upstream, client);
                }
            }
        });
        Proxy {
            path,
            _dir: dir,
            stop,
            connections,
            accept: Some(accept),
        }
    }

    /// Stops accepting and closes every connection, both ways.
    fn cut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for s in self.connections.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

async fn events_end_when_the_engine_goes_away(rt: &dyn Runtime, n: &Names) {
    let kind = rt.engine().kind;
    let Some(socket) = rt.engine().endpoint.strip_prefix("unix://") else {
        let why = format!(
            "{} is not a Unix socket; the proxy needs one",
            rt.engine().endpoint
        );
        return common::unavailable(n.test, n.engine, &why);
    };
    let mut proxy = Proxy::start(socket);
    let via = connect_endpoint(proxy.path.to_str().unwrap())
        .await
        .expect("connect through the proxy");
    assert_eq!(via.engine().kind, kind);
    let mut stream = via
        .events(&format!("devarch.test={}", n.base))
        .await
        .expect("subscribe through the proxy");

    // The subscription is live through the proxy.
    let id = rt.create_container(&n.spec("gone")).await.expect("create");
    // Other tests' `devarch-*` networks and volumes show up too (selected by name): skip them.
    let first = tokio::time::timeout(EVENT_WAIT, async {
        loop {
            let ev = stream
                .next()
                .await
                .expect("the stream is open")
                .expect("an event, not an error");
            if ev.id == id {
                break ev;
            }
        }
    })
    .await
    .expect("our container's event within the wait");
    assert_eq!(
        (first.id.as_str(), first.action.as_str()),
        (id.as_str(), "create")
    );

    let cut = Instant::now();
    proxy.cut();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.next().await {
                None => return None,
                Some(Err(e)) => return Some(e),
                Some(Ok(e)) => eprintln!("{kind:?}: late event {e:?}"),
            }
        }
    })
    .await
    .expect("the stream must end within 5 s of the engine going away");
    eprintln!(
        "{kind:?}: stream ended {:?} after the engine went away with {ended:?}",
        cut.elapsed()
    );
    let error = ended.expect("an error item before the end");
    assert!(matches!(error, RuntimeError::Api { .. }), "{error:?}");
    // Nothing follows the error, and the stream says so at once.
    let after = tokio::time::timeout(Duration::from_millis(500), stream.next())
        .await
        .expect("the stream ends at once after its error");
    assert!(after.is_none(), "{after:?}");

    // Subscribing again fails promptly (the socket is gone).
    let again = tokio::time::timeout(Duration::from_secs(5), via.events("devarch.test=x"))
        .await
        .expect("a new subscription fails within 5 s");
    assert!(again.is_err(), "subscribed to a dead engine");
}

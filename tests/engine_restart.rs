//! `devarch watch` survives its engine going away: stop dockerd / the Podman API service while
//! the controller runs, change things meanwhile, start the engine again → the controller
//! reconnects (it is never restarted) and converges.
//!
//! This binary stops and starts the engines that `scripts/engines.sh` started, so it is a test
//! binary of its own: cargo runs test binaries one after another, so no other suite sees the
//! engine go away. (Its Docker and Podman tests run side by side: each stops only its own
//! engine.) The periodic resync is set to 10 minutes, so convergence within the test comes from
//! the reconnect's resync, not from the timer.
//!
//! `scripts/engines.sh` restarts only the engines at the default endpoints: pointed elsewhere
//! (`DEVARCH_TEST_DOCKER_HOST` / `DEVARCH_TEST_PODMAN_HOST`), or at a daemon the script did not
//! start, the test fails (skips with `DEVARCH_SKIP_ENGINE_TESTS=1`) rather than restart an
//! engine other than the one under test.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Engine, Env, Stopped, busybox_template, stack, unique};

engine_tests!(the_controller_reconnects_after_an_engine_restart_and_converges);

const T: Duration = Duration::from_secs(90);

fn the_controller_reconnects_after_an_engine_restart_and_converges(mut env: Env) {
    let e = env.engine;
    if !e.at_default_endpoint() {
        let why = format!(
            "scripts/engines.sh restarts only the engine at {}, but {} points the tests at {}",
            e.default_endpoint(),
            e.var(),
            e.endpoint()
        );
        return common::unavailable(env.test, e, &why);
    }
    let s = format!("e{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, &common::one_and_two(None)));
    let mut w = env.watch(&["--resync", "10m"]);
    let (one, two) = (format!("devarch-{s}-one"), format!("devarch-{s}-two"));
    let running = |env: &Env, name: &str| env.containers(name).get(name).is_some_and(|c| c.1);
    assert!(
        common::wait_until(T, || running(&env, &one) && running(&env, &two)),
        "stack up\n{}",
        w.logs()
    );
    let before = env.containers(&format!("devarch-{s}-"));

    let stopped = match Stopped::stop(e) {
        Ok(stopped) => stopped,
        Err(err) => return common::unavailable(env.test, e, &format!("cannot restart it: {err}")),
    };
    let down = Instant::now();
    w.wait_for(T, "the controller noticing the engine is gone", |_, err| {
        err.contains("engine event stream ended") || err.contains("engine unreachable")
    });

    // While the engine is down: the manifest changes (two's env), and on Podman, where the
    // containers outlive the API service, one is removed behind the service's back with the
    // local podman CLI, which shares the service's storage (no event reaches the controller for
    // it). On Docker, stopping dockerd stops every container (no restart policy), so both must
    // be started again.
    env.write("s.yaml", &stack(&s, &common::one_and_two(Some("2"))));
    if e == Engine::Podman {
        let out = Command::new("podman")
            .env_remove("CONTAINER_HOST")
            .env_remove("CONTAINER_CONNECTION")
            .args(["rm", "-f", "-t", "0", &one])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "podman rm -f {one}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Let the controller try (and fail) a reconcile of the edit while the engine is down.
    let seen = w.stderr().len();
    w.wait_for(
        T,
        "a failed reconcile while the engine is down",
        |_, err| {
            err.get(seen..)
                .is_some_and(|new| new.contains("reconcile failed"))
        },
    );
    eprintln!("{}: engine down for {:?}", e.name(), down.elapsed());

    stopped.start();
    let up = Instant::now();
    env.reconnect();
    assert!(
        common::wait_until(T, || {
            let now = env.containers(&format!("devarch-{s}-"));
            now.len() == 2
                && now.get(&one).is_some_and(|c| c.1)
                && now.get(&two).is_some_and(|c| c.1 && c.0 != before[&two].0)
        }),
        "converged after the engine came back\n{}",
        w.logs()
    );
    eprintln!(
        "{}: converged {:?} after the engine was started again",
        e.name(),
        up.elapsed()
    );
    // The stack's own retry (backoff) may converge it before the event stream's reconnect
    // attempt (its own backoff) finds the engine back; the resync follows either way.
    w.wait_for(T, "the controller's resync on reconnect", |_, err| {
        err.contains("engine is back; resyncing every stack")
    });
    assert!(
        w.child.as_mut().unwrap().try_wait().unwrap().is_none(),
        "the controller kept running\n{}",
        w.logs()
    );
    if e == Engine::Podman {
        assert_ne!(
            env.containers(&one)[&one].0,
            before[&one].0,
            "one was recreated"
        );
    }
    // Nothing left over: no temporary `_next` container, and the stack's lock is not leaked.
    // (The controller may hold it for a moment yet: the repair's own engine events, which
    // Podman delivers up to ~250 ms late, each start a no-op reconcile under the lock. An
    // apply that does not wait failed on that once in ten suite runs; a leaked lock still
    // fails after the wait.)
    assert!(
        env.containers(&format!("devarch-{s}-"))
            .keys()
            .all(|n| n == &one || n == &two)
    );
    let (out, _) = env.expect(&["apply", "--lock-timeout", "30s"], 0);
    assert!(out.contains("No changes"), "{out}");
    assert!(w.stop().is_some_and(|s| s.success()), "{}", w.logs());
    if std::env::var_os("DEVARCH_TEST_SHOW_LOGS").is_some() {
        eprintln!("{}", w.logs());
    }
}

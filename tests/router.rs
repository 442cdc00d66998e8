//! The domain router on a real engine: two stacks from one template, each reachable at its own
//! `{instance}.{stack}.localhost` name through the engine's one router (curl resolves
//! `*.localhost` to loopback, RFC 6761), an instance's extra `domains`, a stopped instance
//! never proxied to, a removed name no longer routed, a router removed behind devarch's back
//! recreated by the next apply, and `describe stack` naming the URLs.
//!
//! Every engine test of the suite shares its engine's router (the fixture nginx image, on host
//! port 7480 for Docker and 7481 for Podman: see `common::Engine::router`), so names here are
//! unique per test run and nothing asserts on other stacks' routes.

mod common;

use std::time::Duration;

use common::router_get as get;
use common::{Env, SITE, stack, unique, wait_until};

engine_tests!(
    two_stacks_from_one_template_are_each_reachable_at_their_own_name,
    a_router_removed_behind_devarchs_back_is_recreated_by_the_next_apply,
    a_taken_router_port_fails_the_apply_naming_the_flag_and_tears_nothing_down,
);

/// Held by each test of this file for its whole run: two of them remove or replace the
/// engine's router, which the others' assertions go through. (Both engines' tests still run
/// side by side: the lock is per engine.)
static SERIAL: [std::sync::Mutex<()>; 2] = [std::sync::Mutex::new(()), std::sync::Mutex::new(())];

fn serial(env: &Env) -> std::sync::MutexGuard<'static, ()> {
    let i = usize::from(env.engine == common::Engine::Podman);
    SERIAL[i]
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_stacks(env: &Env, a: &str, b: &str, a_extra: &str, b_spec: &str) {
    env.write("site.yaml", SITE);
    env.write(
        "a.yaml",
        &stack(
            a,
            &format!("    web: {{template: site, env: {{SITE: {a}}}{a_extra}}}\n"),
        ),
    );
    env.write(
        "b.yaml",
        &format!(
            "{}{b_spec}",
            stack(
                b,
                &format!("    web: {{template: site, env: {{SITE: {b}}}}}\n")
            )
        ),
    );
}

fn two_stacks_from_one_template_are_each_reachable_at_their_own_name(env: Env) {
    let _serial = serial(&env);
    let n = unique();
    let (a, b) = (format!("ra{n}"), format!("rb{n}"));
    let www = format!("www-{n}.example.localhost");
    write_stacks(&env, &a, &b, &format!(", domains: [{www}]"), "");
    // The plan names what the router will serve. (Whether this apply's own sync prints
    // router progress lines depends on the other tests: one of theirs may route these names
    // first.)
    let (out, _) = env.expect(&["apply"], 0);
    for line in [
        "Router devarch-router:\n".to_string(),
        format!("  + web.{a}.localhost  # {a}/web\n"),
        format!("  + {www}  # {a}/web\n"),
        format!("  + web.{b}.localhost  # {b}/web\n"),
    ] {
        assert!(out.contains(&line), "{line:?} not in:\n{out}");
    }

    assert_eq!(
        get(&env, &format!("web.{a}.localhost")),
        (200, format!("site {a}"))
    );
    assert_eq!(
        get(&env, &format!("web.{b}.localhost")),
        (200, format!("site {b}"))
    );
    assert_eq!(get(&env, &www), (200, format!("site {a}")));
    let (code, body) = get(&env, &format!("nothing-{n}.localhost"));
    assert_eq!(code, 404, "{body}");

    // describe shows the URLs.
    let (out, _) = env.expect(&["describe", "stack", &a], 0);
    let port = env.engine.router().port;
    for url in [
        format!("http://{www}:{port}/"),
        format!("http://web.{a}.localhost:{port}/"),
    ] {
        assert!(out.contains(&url), "{url} not in:\n{out}");
    }

    // b disabled: its container stops, and its name answers 503 from the router instead of
    // being proxied; a's extra name removed: no longer routed, a's own name still is.
    write_stacks(&env, &a, &b, "", "  enabled: false\n");
    let (out, _) = env.expect(&["apply"], 0);
    assert!(out.contains(&format!("  - {www}  # {a}/web\n")), "{out}");
    let (code, body) = get(&env, &format!("web.{b}.localhost"));
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("not running"), "{body}");
    assert_eq!(get(&env, &www).0, 404);
    assert_eq!(
        get(&env, &format!("web.{a}.localhost")),
        (200, format!("site {a}"))
    );

    // A stack that opts out of default names keeps only its explicit ones.
    write_stacks(
        &env,
        &a,
        &b,
        &format!(", domains: [{www}]"),
        "  enabled: true\n  defaultDomains: false\n",
    );
    env.expect(&["apply"], 0);
    assert_eq!(get(&env, &format!("web.{b}.localhost")).0, 404);
    assert_eq!(get(&env, &www), (200, format!("site {a}")));

    // Deleting a stack whose network the router is attached to works, and its names go.
    env.expect(&["delete", &a], 0);
    // 404 from the router, or no answer at all when nothing on the engine is routed any more
    // and the router was removed.
    let (code, body) = get(&env, &www);
    assert!(code == 404 || code == 0, "{code} {body}");
    assert!(env.networks(&format!("devarch-{a}-")).is_empty());
}

fn a_router_removed_behind_devarchs_back_is_recreated_by_the_next_apply(env: Env) {
    let _serial = serial(&env);
    let n = unique();
    let (a, b) = (format!("rc{n}"), format!("rd{n}"));
    write_stacks(&env, &a, &b, "", "");
    env.expect(&["apply"], 0);
    let host = format!("web.{a}.localhost");
    assert_eq!(get(&env, &host), (200, format!("site {a}")));

    let removed = env
        .engine
        .cli()
        .args(["rm", "-f", "devarch-router"])
        .output()
        .unwrap();
    assert!(removed.status.success(), "{removed:?}");
    // Another test's apply may already have put it back; either way the next apply of this
    // folder has nothing of its own to change and still brings the router back.
    let (out, _) = env.expect(&["apply"], 0);
    assert!(out.contains("No changes"), "{out}");
    assert!(
        wait_until(Duration::from_secs(10), || get(&env, &host)
            == (200, format!("site {a}"))),
        "{host} not routed again: {:?}",
        get(&env, &host)
    );
}

fn a_taken_router_port_fails_the_apply_naming_the_flag_and_tears_nothing_down(env: Env) {
    let _serial = serial(&env);
    let n = unique();
    let (a, b) = (format!("re{n}"), format!("rf{n}"));
    write_stacks(&env, &a, &b, "", "");
    // Another process holds the port asked for: the engine's port forward (Docker) or nginx
    // in the host's namespace (Podman) cannot have it.
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let (_, err) = env.expect(&["apply", "--router-port", &port], 1);
    for part in [
        format!("cannot listen on 127.0.0.1:{port}"),
        "--router-port".into(),
    ] {
        assert!(err.contains(&part), "{part:?} not in:\n{err}");
    }
    // The stacks themselves were applied and keep running.
    let web = format!("devarch-{a}-web");
    assert!(
        env.containers(&web).get(&web).is_some_and(|c| c.1),
        "{web} not running"
    );
    drop(held);

    // With the usual port again, the next apply (nothing of its own to change) routes them.
    let (out, _) = env.expect(&["apply"], 0);
    assert!(out.contains("No changes"), "{out}");
    let host = format!("web.{b}.localhost");
    assert!(
        wait_until(Duration::from_secs(10), || get(&env, &host)
            == (200, format!("site {b}"))),
        "{host} not routed: {:?}",
        get(&env, &host)
    );
}

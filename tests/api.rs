//! The HTTP API of `devarch watch --listen` against a real engine (issue #13), on Docker and
//! Podman: a stack created through the API lands as a manifest file and runs; a stale apply is
//! 409; requests without the bearer token (the cookie of earlier versions included), with a
//! foreign Host or a cross-origin write are refused; no response sets a cookie or may be
//! framed (issue #21); times are RFC 3339; an oversized body is 413; the secret canary
//! appears in no response and no event; the OpenAPI document served is the one checked in.
//! Silent, half-sent and idle connections are closed after the header timeout, and only so
//! many are held at once.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Env, http, idle_template, problem_code as code, unique, wait_until};

engine_tests!(
    the_api_creates_plans_applies_and_guards_itself,
    the_api_closes_silent_and_idle_connections_and_holds_only_so_many,
);

fn the_api_creates_plans_applies_and_guards_itself(env: Env) {
    let s = format!("ap{}", unique());
    env.write(
        "t.yaml",
        &idle_template("idle", "  env: {KEY: {secret: key}}\n"),
    );
    let w = env.watch(&["--listen", "127.0.0.1:0", "--plan-only"]);
    let (addr, auth) = w.api_access();
    let token = auth.trim_start_matches("Bearer ").to_string();
    // Every answer may not be framed and sets no cookie.
    let ok = |method: &str, path: &str, body: &str| {
        let (status, head, body) = http(
            &addr,
            method,
            path,
            &[("Authorization", auth.as_str())],
            body,
        );
        assert_unframed_and_cookieless(&head);
        (status, head, body)
    };
    let mut seen: Vec<String> = Vec::new();

    // Guards; their refusals may not be framed either.
    let (status, head, body) = http(&addr, "GET", "/api/v1/stacks", &[], "");
    assert_eq!(
        (status, code(&body).as_str()),
        (401, "unauthorized"),
        "{body}"
    );
    assert_unframed_and_cookieless(&head);
    let (status, _, _) = http(
        &addr,
        "GET",
        "/api/v1/stacks",
        &[("Authorization", "Bearer 0000")],
        "",
    );
    assert_eq!(status, 401);
    let (status, head, body) = http(&addr, "GET", "/", &[("Host", "evil.example:80")], "");
    assert_eq!(
        (status, code(&body).as_str()),
        (421, "foreign-host"),
        "{body}"
    );
    assert_unframed_and_cookieless(&head);
    // Parameters that cannot be read, or are out of bounds, are problem documents too.
    for path in [
        format!("/api/v1/stacks/{s}/instances/app/logs?tail=x"),
        format!("/api/v1/stacks/{s}/instances/app/logs?tail=5001"),
        "/api/v1/stacks/%FF".to_string(),
    ] {
        let (status, head, body) = ok("GET", &path, "");
        assert_eq!(
            (status, code(&body).as_str()),
            (400, "bad-request"),
            "{path}: {body}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{path}: {head}"
        );
    }
    let create = format!(r#"{{"name":"{s}","instances":{{"app":{{"template":"idle"}}}}}}"#);
    let (status, _, body) = http(
        &addr,
        "POST",
        "/api/v1/stacks",
        &[("Authorization", &auth), ("Origin", "http://evil.example")],
        &create,
    );
    assert_eq!(
        (status, code(&body).as_str()),
        (403, "cross-origin"),
        "{body}"
    );
    assert!(!env.path(&format!("{s}.yaml")).exists());
    let big = format!(
        r#"{{"name":"x","instances":{{}},"pad":"{}"}}"#,
        "x".repeat(300 * 1024)
    );
    let (status, _, body) = ok("POST", "/api/v1/stacks", &big);
    assert_eq!((status, code(&body).as_str()), (413, "too-large"), "{body}");
    assert!(body.starts_with('{'), "a problem document: {body}");

    // The login link carries the token in its fragment, which no browser sends to a server;
    // the page it opens holds no data, so it is served without the token, and with a
    // policy that lets only its own inline script and style run. No cookie any more: the
    // cookie of earlier versions opens nothing, and `/login` sets none.
    assert!(
        w.login_link() == format!("http://{addr}/#token={token}"),
        "{}",
        w.logs()
    );
    let (status, head, page) = http(&addr, "GET", "/", &[], "");
    assert_eq!(status, 200, "{head}");
    assert!(page.contains("<title>devarch</title>"));
    assert_unframed_and_cookieless(&head);
    let csp = header_of(&head, "content-security-policy").unwrap();
    for part in [
        "default-src 'none'",
        "script-src 'sha256-",
        "style-src 'sha256-",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    let cookie = format!("devarch_token={token}");
    for path in ["/api/v1/stacks", "/api/v1/events", "/api/v1/openapi.json"] {
        let (status, head, body) = http(&addr, "GET", path, &[("Cookie", &cookie)], "");
        assert_eq!(
            (status, code(&body).as_str()),
            (401, "unauthorized"),
            "{path}: {body}"
        );
        assert_unframed_and_cookieless(&head);
        assert_eq!(
            header_of(&head, "content-security-policy").as_deref(),
            Some("default-src 'none'; frame-ancestors 'none'")
        );
    }
    let (status, head, _) = http(&addr, "GET", &format!("/login?token={token}"), &[], "");
    assert_eq!(status, 401, "{head}");
    assert_unframed_and_cookieless(&head);

    // Create: a manifest file appears; the stack is listed.
    let (status, _, body) = ok("POST", "/api/v1/stacks", &create);
    assert_eq!(status, 201, "{body}");
    assert!(env.path(&format!("{s}.yaml")).is_file());
    let (status, _, body) = ok("POST", "/api/v1/stacks", &create);
    assert_eq!((status, code(&body).as_str()), (409, "exists"), "{body}");

    // The secret it needs, set through the API; its value never comes back.
    let canary = format!("canary-{}-Hw3", unique());
    let (status, _, body) = ok(
        "PUT",
        &format!("/api/v1/stacks/{s}/secrets/app/key"),
        &format!(r#"{{"value":"{canary}"}}"#),
    );
    assert_eq!(status, 204, "{body}");
    seen.push(body);

    // Plan, a stale apply, then the real one: the container runs with the secret.
    let (status, _, body) = ok("GET", &format!("/api/v1/stacks/{s}/plan"), "");
    assert_eq!(status, 200, "{body}");
    let plan: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(plan["changes"], true, "{body}");
    seen.push(body.clone());
    let (status, _, body) = ok(
        "POST",
        &format!("/api/v1/stacks/{s}/apply"),
        r#"{"fingerprint":"00000000000000000000000000000000"}"#,
    );
    assert_eq!(
        (status, code(&body).as_str()),
        (409, "stale-plan"),
        "{body}"
    );
    let events_stream = std::thread::spawn({
        let (addr, auth) = (addr.clone(), auth.clone());
        move || {
            let mut stream = TcpStream::connect(&addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(8)))
                .unwrap();
            let req = format!(
                "GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\r\n"
            );
            stream.write_all(req.as_bytes()).unwrap();
            let mut raw = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                raw.extend_from_slice(&buf[..n]);
            }
            String::from_utf8_lossy(&raw).into_owned()
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let apply = format!(
        r#"{{"fingerprint":"{}"}}"#,
        plan["fingerprint"].as_str().unwrap()
    );
    let (status, _, body) = ok("POST", &format!("/api/v1/stacks/{s}/apply"), &apply);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"errors\":[]"), "{body}");
    seen.push(body);
    let app = format!("devarch-{s}-app");
    assert!(wait_until(Duration::from_secs(30), || env
        .containers(&app)
        .get(&app)
        .is_some_and(|c| c.1)));
    assert_eq!(env.sh(&app, "printf %s \"$KEY\""), canary);

    for path in [
        "/api/v1/stacks".to_string(),
        format!("/api/v1/stacks/{s}"),
        format!("/api/v1/stacks/{s}/secrets"),
        format!("/api/v1/stacks/{s}/instances/app/config"),
        format!("/api/v1/stacks/{s}/plan"),
        "/api/v1/templates".to_string(),
    ] {
        let (status, _, body) = ok("GET", &path, "");
        assert_eq!(status, 200, "{path}: {body}");
        seen.push(body);
    }
    let (status, _, body) = ok("POST", &format!("/api/v1/stacks/{s}/restart"), "{}");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"restarted\":[\"app\"]"), "{body}");
    assert!(env.containers(&app).get(&app).is_some_and(|c| c.1));
    let (_, _, secrets) = ok("GET", &format!("/api/v1/stacks/{s}/secrets"), "");
    assert!(
        secrets.contains("\"app/key\"") && secrets.contains("\"set\""),
        "{secrets}"
    );
    // Times are RFC 3339 (UTC, to the second), and now-ish: the secret's last change, the
    // controller's status of the stack (written when it first saw the file).
    let (_, _, secrets) = ok("GET", &format!("/api/v1/stacks/{s}/secrets"), "");
    let rows: serde_json::Value = serde_json::from_str(&secrets).unwrap();
    assert_recent_rfc3339(&rows[0]["changed"], &secrets);
    let mut listed = serde_json::Value::Null;
    assert!(wait_until(Duration::from_secs(30), || {
        let (_, _, body) = ok("GET", "/api/v1/stacks", "");
        listed = serde_json::from_str::<serde_json::Value>(&body).unwrap()[0].clone();
        !listed["status"].is_null()
    }));
    assert_recent_rfc3339(&listed["status"]["lastReconcileTime"], &listed);
    assert_recent_rfc3339(
        &listed["status"]["conditions"][0]["lastTransitionTime"],
        &listed,
    );
    let (_, _, one) = ok("GET", &format!("/api/v1/stacks/{s}"), "");
    let one: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_recent_rfc3339(&one["controllerStatus"]["lastReconcileTime"], &one);

    let (status, _, _) = ok("GET", "/api/v1/stacks/nope/plan", "");
    assert_eq!(status, 404);

    // Export and Compose: the stack as files, the secret a reference or a placeholder.
    let (status, _, exported) = ok("GET", &format!("/api/v1/stacks/{s}/export"), "");
    assert_eq!(status, 200, "{exported}");
    assert!(
        exported.contains("kind: Stack") && exported.contains("secret: key"),
        "{exported}"
    );
    let (status, _, compose) = ok("GET", &format!("/api/v1/stacks/{s}/compose"), "");
    assert_eq!(status, 200, "{compose}");
    assert!(compose.contains("${DEVARCH_SECRET_APP_KEY}"), "{compose}");
    seen.push(exported);
    seen.push(compose);
    // Disable and enable edit the manifest; delete cuts the stack out of the folder.
    let manifest = env.path(&format!("{s}.yaml"));
    let (status, _, _) = ok("POST", &format!("/api/v1/stacks/{s}/disable"), "");
    assert_eq!(status, 204);
    assert!(
        std::fs::read_to_string(&manifest)
            .unwrap()
            .contains("enabled: false")
    );
    let (status, _, _) = ok("POST", &format!("/api/v1/stacks/{s}/enable"), "");
    assert_eq!(status, 204);
    assert!(
        std::fs::read_to_string(&manifest)
            .unwrap()
            .contains("enabled: true")
    );

    let events = events_stream.join().unwrap();
    assert!(
        events.contains("\"progress\""),
        "apply progress streamed: {events}"
    );
    seen.push(events);
    for text in &seen {
        assert!(!text.contains(&canary), "the secret leaked: {text}");
    }

    let (status, _, body) = ok("DELETE", &format!("/api/v1/stacks/{s}"), "");
    assert_eq!(status, 204, "{body}");
    assert!(!manifest.exists(), "the stack's file held only it");
    let (status, _, _) = ok("GET", &format!("/api/v1/stacks/{s}"), "");
    assert_eq!(status, 404);

    // The served OpenAPI document is the checked-in one.
    let (status, _, served) = ok("GET", "/api/v1/openapi.json", "");
    assert_eq!(status, 200);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/openapi.json"))
            .unwrap();
    assert_eq!(served, committed);
    drop(w);

    // A taken port, and an address beyond loopback without saying so, are clear errors.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().to_string();
    let (code, _, err) = env.run(&["watch", "--listen", &port]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("cannot listen on {port}")) && err.contains("--listen ADDR"),
        "{err}"
    );
    let (code, _, err) = env.run(&["watch", "--listen", "0.0.0.0:7420"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--listen-beyond-loopback"), "{err}");
}

/// `v` is an RFC 3339 time in UTC to the second (`2026-12-06T05:00:00Z`), within a minute of
/// now.
fn assert_recent_rfc3339(v: &serde_json::Value, context: &dyn std::fmt::Display) {
    let text = v
        .as_str()
        .unwrap_or_else(|| panic!("{v} is not a string: {context}"));
    let t = humantime::parse_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text:?} is not RFC 3339 ({e}): {context}"));
    let off = std::time::SystemTime::now()
        .duration_since(t)
        .unwrap_or_else(|e| e.duration());
    assert!(
        off < Duration::from_secs(60),
        "{text} is not now: {context}"
    );
}

fn the_api_closes_silent_and_idle_connections_and_holds_only_so_many(env: Env) {
    env.write("t.yaml", &idle_template("idle", ""));
    let w = env.watch(&[
        "--listen",
        "127.0.0.1:0",
        "--plan-only",
        "--resync",
        "1h",
        "--api-header-timeout",
        "1s",
        "--api-max-connections",
        "8",
    ]);
    let (addr, auth) = w.api_access();
    let fd_dir = format!("/proc/{}/fd", w.pid());
    let fds = move || std::fs::read_dir(&fd_dir).map_or(0, |d| d.count());
    let (status, _, _) = http(
        &addr,
        "GET",
        "/api/v1/templates",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200);
    let before = fds();

    // A connection that made one request and then says nothing is closed too.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let req =
        format!("GET /api/v1/templates HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\r\n");
    idle.write_all(req.as_bytes()).unwrap();

    // 40 connections: half send nothing, half start a request and never finish its headers.
    let started = std::time::Instant::now();
    let mut held: Vec<TcpStream> = (0..40)
        .map(|i| {
            let mut c = TcpStream::connect(&addr).unwrap();
            if i % 2 == 1 {
                c.write_all(b"GET /api/v1/stacks HTTP/1.1\r\nHost: localhost\r\n")
                    .unwrap();
            }
            c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            c
        })
        .collect();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak = std::thread::spawn({
        let done = done.clone();
        move || {
            let mut peak = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(fds());
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        }
    });
    let idle_answer = read_until_closed(&mut idle);
    let mut first_close = None;
    for c in &mut held {
        let got = read_until_closed(c);
        assert!(
            got.is_empty() || got.starts_with("HTTP/1.1 408"),
            "answered: {got}"
        );
        first_close.get_or_insert_with(|| started.elapsed());
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let peak = peak.join().unwrap();
    assert!(idle_answer.starts_with("HTTP/1.1 200"), "{idle_answer}");
    let first_close = first_close.unwrap();
    assert!(
        first_close >= Duration::from_millis(900),
        "closed before the timeout: {first_close:?}"
    );
    // 8 served at once (the idle one among them; the rest wait in the kernel's queue), plus room
    // for the controller's own files; 40 held open would be far over.
    assert!(
        peak <= before + 8 + 8,
        "open files rose from {before} to {peak}\n{}",
        w.logs()
    );
    // Still serving.
    let (status, _, _) = http(
        &addr,
        "GET",
        "/api/v1/templates",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(status, 200);
}

/// Everything `c` receives until the server closes it; panics if it is still open when the
/// read timeout runs out.
fn read_until_closed(c: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!(
                "the server did not close the connection: {e}; received {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// The value of header `name` (lower case) in a response head.
fn header_of(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

/// The response may not be framed (`X-Frame-Options: DENY`, `frame-ancestors 'none'`) and
/// sets no cookie.
fn assert_unframed_and_cookieless(head: &str) {
    assert_eq!(
        header_of(head, "x-frame-options").as_deref(),
        Some("DENY"),
        "{head}"
    );
    assert!(
        header_of(head, "content-security-policy")
            .is_some_and(|csp| csp.contains("frame-ancestors 'none'")),
        "{head}"
    );
    assert!(header_of(head, "set-cookie").is_none(), "{head}");
}

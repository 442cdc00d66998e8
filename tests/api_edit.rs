//! The API's editors against a running controller and a real engine (issue #13), on Docker and
//! Podman: the wiring picker's choices for an ambiguous import and the explicit wire that
//! settles it; the instance editor's dry run (effective config, nothing written), its problems
//! at their field (422, file unchanged), the saved edit spliced into the commented file and
//! reconciled into the container; a clone; logs followed as a stream; imports of a Compose
//! file (its credential moved into a secret, never in the file), of a broken file (422 at its
//! line), of an export over a stack the folder has (409), and of an export under a new name
//! (201, then updated in place: 200).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Env, http, problem_code, two_stores, unique, wait_until};
use serde_json::Value;

engine_tests!(the_editors_write_the_manifest_and_the_controller_follows,);

fn the_editors_write_the_manifest_and_the_controller_follows(env: Env) {
    let s = format!("ed{}", unique());
    let (templates, stack_text) = two_stores(&s);
    env.write("templates.yaml", &templates);
    env.write(&format!("{s}.yaml"), &stack_text);
    let w = env.watch(&["--listen", "127.0.0.1:0"]);
    let (addr, auth) = w.api_access();
    let call = |method: &str, path: &str, body: &str| {
        let (status, _, body) = http(
            &addr,
            method,
            path,
            &[("Authorization", auth.as_str())],
            body,
        );
        (status, body)
    };
    let json = |body: &str| serde_json::from_str::<Value>(body).unwrap();
    let file = env.path(&format!("{s}.yaml"));
    let read = || std::fs::read_to_string(&file).unwrap();

    // Ambiguous: the stack does not resolve, the picker shows the choice.
    let (status, body) = call("GET", &format!("/api/v1/stacks/{s}"), "");
    assert_eq!(
        (status, problem_code(&body).as_str()),
        (422, "invalid-manifests"),
        "{body}"
    );
    let (status, body) = call("GET", &format!("/api/v1/stacks/{s}/wiring"), "");
    assert_eq!(status, 200, "{body}");
    let choices = json(&body);
    let store = choices
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["instance"] == "app" && c["import"] == "store")
        .unwrap_or_else(|| panic!("app's import: {body}"));
    assert_eq!(store["ambiguous"], true, "{body}");
    assert_eq!(
        store["candidates"],
        serde_json::json!(["one", "two"]),
        "{body}"
    );

    // The picker's choice: an explicit wire spliced in, comments kept; the stack runs.
    let (status, body) = call(
        "PATCH",
        &format!("/api/v1/stacks/{s}/instances/app"),
        r#"{"set":{"wires":{"store":"two"}}}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["written"], true);
    let text = read();
    assert!(
        text.contains("wires:") && text.contains("store: two"),
        "{text}"
    );
    for kept in ["# keep this comment", "# the app", "one: {template: kv}"] {
        assert!(text.contains(kept), "{kept:?} lost:\n{text}");
    }
    let (_, body) = call("GET", &format!("/api/v1/stacks/{s}/wiring"), "");
    assert!(body.contains(r#""explicit":"two""#), "{body}");
    let app = format!("devarch-{s}-app");
    assert!(
        wait_until(Duration::from_secs(90), || env
            .containers(&format!("devarch-{s}-"))
            .get(&app)
            .is_some_and(|(_, running)| *running)),
        "app never ran; watch:\n{}",
        w.logs()
    );
    assert_eq!(
        env.sh(&app, "echo $STORE_HOST").trim(),
        format!("devarch-{s}-two"),
        "wired to the chosen store"
    );

    // A dry run: the effective config it would give, nothing written.
    let before = read();
    let (status, body) = call(
        "PATCH",
        &format!("/api/v1/stacks/{s}/instances/app"),
        r#"{"yaml":{"env":"A: \"7\"\n"},"dry_run":true}"#,
    );
    assert_eq!(status, 200, "{body}");
    let preview = json(&body);
    assert_eq!(preview["written"], false);
    assert!(
        preview["effective"].to_string().contains(r#""A""#),
        "the preview has the new variable: {body}"
    );
    assert_eq!(read(), before, "a dry run writes nothing");

    // Problems come back at their field, with a line; nothing is written.
    let (status, body) = call(
        "PATCH",
        &format!("/api/v1/stacks/{s}/instances/app"),
        r#"{"yaml":{"ports":"- {container: 99999}\n"},"dry_run":true}"#,
    );
    assert_eq!(
        (status, problem_code(&body).as_str()),
        (422, "invalid-manifests"),
        "{body}"
    );
    let errors = json(&body)["errors"].clone();
    assert!(
        errors
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "ports" && e["line"].as_u64().is_some()),
        "an error at field ports with its line: {body}"
    );
    let (status, body) = call(
        "PATCH",
        &format!("/api/v1/stacks/{s}/instances/app"),
        r#"{"yaml":{"env":"A: [\n"}}"#,
    );
    assert_eq!(
        (status, problem_code(&body).as_str()),
        (422, "invalid-fields"),
        "{body}"
    );
    assert!(body.contains(r#""field":"env""#), "{body}");
    assert_eq!(read(), before, "a refused edit writes nothing");

    // The edit saved: spliced into the file, the controller recreates the container with it.
    let (status, body) = call(
        "PATCH",
        &format!("/api/v1/stacks/{s}/instances/app"),
        r#"{"yaml":{"env":"A: \"7\"\n"}}"#,
    );
    assert_eq!(status, 200, "{body}");
    let text = read();
    assert!(text.contains("env:\n        A: \"7\""), "{text}");
    assert!(text.contains("# keep this comment"), "{text}");
    assert!(
        wait_until(Duration::from_secs(90), || env
            .try_sh(&app, "echo $A")
            .is_some_and(|a| a.trim() == "7")),
        "the container never got A=7; watch:\n{}",
        w.logs()
    );

    // Logs followed: the response stays open and new lines keep coming.
    let mut stream = TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /api/v1/stacks/{s}/instances/app/logs?tail=1&follow=true HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\n\r\n"
    )
    .unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    let started = std::time::Instant::now();
    while seen.matches("tick-7").count() < 5 && started.elapsed() < Duration::from_secs(20) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(
        seen.matches("tick-7").count() >= 5,
        "followed lines keep coming (tail=1 alone gives one): {seen}"
    );
    drop(stream);

    // A clone: its own file, listed, its app wired like the original.
    let copy = format!("{s}c");
    let (status, body) = call(
        "POST",
        &format!("/api/v1/stacks/{s}/clone"),
        &format!(r#"{{"name":"{copy}"}}"#),
    );
    assert_eq!(status, 201, "{body}");
    let cloned = std::fs::read_to_string(env.path(&format!("{copy}.yaml"))).unwrap();
    assert!(cloned.contains(&format!("name: {copy}")) && cloned.contains("store: two"));
    let (status, body) = call(
        "POST",
        &format!("/api/v1/stacks/{s}/clone"),
        &format!(r#"{{"name":"{copy}"}}"#),
    );
    assert_eq!(
        (status, problem_code(&body).as_str()),
        (409, "exists"),
        "{body}"
    );
    let copy_app = format!("devarch-{copy}-app");
    assert!(
        wait_until(Duration::from_secs(90), || env
            .containers(&format!("devarch-{copy}-"))
            .get(&copy_app)
            .is_some_and(|(_, running)| *running)),
        "the clone never ran; watch:\n{}",
        w.logs()
    );

    // Import: a Compose file becomes a stack file, its credential a secret (never in the
    // file), and the controller runs it; importing it again updates the same file.
    let imported = format!("{s}i");
    let canary = format!("tok-{}-Zq", unique());
    let compose = format!(
        "services:\n  web:\n    image: devarch-fixture/busybox:1\n    command: [sh, -c, \"trap 'exit 0' TERM INT; sleep 3600 & wait\"]\n    environment:\n      API_TOKEN: {canary}\n      MODE: one\n"
    );
    let request = |content: &str| {
        serde_json::json!({"content": content, "format": "compose", "stack": imported}).to_string()
    };
    let (status, body) = call("POST", "/api/v1/import", &request(&compose));
    assert_eq!(status, 201, "{body}");
    assert!(
        !body.contains(&canary),
        "the value never comes back: {body}"
    );
    let answer = json(&body);
    assert_eq!(
        answer["stored_secrets"],
        serde_json::json!(["web/api-token"]),
        "{body}"
    );
    let written = std::fs::read_to_string(env.path(&format!("{imported}.yaml"))).unwrap();
    assert!(!written.contains(&canary), "{written}");
    let web = format!("devarch-{imported}-web");
    assert!(
        wait_until(Duration::from_secs(90), || env
            .try_sh(&web, "echo $API_TOKEN")
            .is_some_and(|t| t.trim() == canary)),
        "the imported stack never ran with its secret; watch:\n{}",
        w.logs()
    );
    // Compose again: the folder's stack is not an export file, so it is not overwritten.
    let (status, body) = call("POST", "/api/v1/import", &request(&compose));
    assert_eq!(
        (status, problem_code(&body).as_str()),
        (409, "exists"),
        "{body}"
    );

    // A file that is not valid: 422 with the problem at its line; a stack the folder has
    // (not from an import): 409; nothing written either way.
    let bad = format!(
        "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {{name: {s}x}}\nspec:\n  instances:\n    a: {{template: kv, imagee: x}}\n"
    );
    let body_of = |content: &str| serde_json::json!({"content": content}).to_string();
    let (status, body) = call("POST", "/api/v1/import", &body_of(&bad));
    assert_eq!(
        (status, problem_code(&body).as_str()),
        (422, "invalid-manifests"),
        "{body}"
    );
    assert!(
        json(&body)["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["line"] == 6 && e["message"].as_str().unwrap().contains("imagee")),
        "{body}"
    );
    assert!(!env.path(&format!("{s}x.yaml")).exists());
    let (status, exported) = call("GET", &format!("/api/v1/stacks/{s}/export"), "");
    assert_eq!(status, 200, "{exported}");
    let (status, body) = call("POST", "/api/v1/import", &body_of(&exported));
    assert_eq!(
        (status, problem_code(&body).as_str()),
        (409, "exists"),
        "{body}"
    );
    assert!(
        read().contains("# keep this comment"),
        "the folder's file stays"
    );

    // The export under another name: written (201), then updated in place (200).
    let moved = exported.replace(&s, &format!("{s}e"));
    let (status, body) = call("POST", "/api/v1/import", &body_of(&moved));
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        "POST",
        "/api/v1/import",
        &body_of(&moved.replace("A: \"7\"", "A: \"8\"")),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["replaced"], true, "{body}");
    let updated = std::fs::read_to_string(env.path(&format!("{s}e.yaml"))).unwrap();
    assert!(updated.contains("\"8\""), "{updated}");
}

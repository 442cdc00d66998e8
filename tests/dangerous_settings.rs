//! The plan and `validate` show dangerous host access (issue 9, item 8): binds of the host's
//! root, the engine sockets, system and home folders reached by `..` or `~/`, and root users
//! validate (exit 0) but each is a warning naming its file, line and column, and the plan
//! (text and JSON) lists a new container's binds and user with the same warnings.

mod common;

use std::process::Command;

use common::Env;

const FIXTURE: &str = "tests/fixtures/hostile/dangerous-binds";

#[test]
fn validate_warns_of_each_dangerous_setting_and_still_succeeds() {
    let out = Command::new(env!("CARGO_BIN_EXE_devarch"))
        .args(["--dir", FIXTURE, "validate"])
        .env_remove("DEVARCH_DIR")
        .env("DEVARCH_DIAGNOSTICS", "plain")
        .env("HOME", "/home/someone")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("valid (1 file, 1 stack"), "{stdout}");
    let file = format!("{FIXTURE}/stack.yaml");
    for expected in [
        "8:9: warning: user 0:0 runs the container's process as root",
        "10:16: warning: bind / is the host's root folder",
        "11:16: warning: bind /var/run/docker.sock is a container engine's socket",
        "21:13: warning: user root runs the container's process as root",
        "23:20: warning: bind /etc is a system folder of the host",
        "24:20: warning: bind /home/someone/.ssh is in a home folder of the host",
        "25:20: warning: bind /run/podman/podman.sock is a container engine's socket",
    ] {
        let line = format!("{file}:{expected}");
        assert!(stderr.contains(&line), "missing {line:?} in\n{stderr}");
    }
    assert!(
        stderr.contains("help: written \"../../../../../../../../etc\""),
        "{stderr}"
    );
    // The bind inside the folder is not a warning; nothing is an error.
    assert!(!stderr.contains("/app"), "{stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    assert_eq!(stderr.matches("warning:").count(), 7, "{stderr}");
}

fn plan_lists_binds_and_user_with_warnings(env: Env) {
    let stack = format!("danger-{}", common::unique());
    let text = std::fs::read_to_string(format!("{FIXTURE}/stack.yaml")).unwrap();
    env.write(
        "stack.yaml",
        &text.replace("name: danger}", &format!("name: {stack}}}")),
    );
    std::fs::create_dir(env.path("src")).unwrap();
    let (out, _) = env.expect(&["plan"], 2);
    let src = format!("{}/src", env.dir.path().display());
    for expected in [
        "        bind / -> /host\n".to_string(),
        format!("        bind {src} -> /app (read-only)\n"),
        "        user root\n".to_string(),
        "        warning: bind / is the host's root folder".to_string(),
        "        warning: bind /var/run/docker.sock is a container engine's socket".to_string(),
        "        warning: bind /run/podman/podman.sock is a container engine's socket".to_string(),
        "        warning: bind /etc is a system folder of the host".to_string(),
        "        warning: user root runs the container's process as root".to_string(),
    ] {
        assert!(out.contains(&expected), "missing {expected:?} in\n{out}");
    }
    let (json, _) = env.expect(&["plan", "-o", "json"], 2);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let create = v["stacks"][0]["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["op"] == "createContainer")
        .unwrap_or_else(|| panic!("no createContainer in {json}"));
    assert_eq!(create["host"]["user"], "root", "{create}");
    let dangers: Vec<&str> = create["host"]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["danger"].as_str().unwrap())
        .collect();
    for d in ["hostRoot", "engineSocket", "systemPath", "rootUser"] {
        assert!(dangers.contains(&d), "{d} not in {dangers:?}");
    }
}

engine_tests!(plan_lists_binds_and_user_with_warnings);

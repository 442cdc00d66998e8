//! The `devarch` binary: exit codes, output formats and messages of the foundation commands.

use assert_cmd::Command;
use predicates::prelude::*;

/// The binary with a clean environment (no folder or format leaking in from the caller).
fn devarch() -> Command {
    let mut cmd = Command::cargo_bin("devarch").unwrap();
    cmd.env_remove("DEVARCH_DIR")
        .env_remove("DEVARCH_HOME")
        .env_remove("DEVARCH_RUNTIME")
        .env("DEVARCH_DIAGNOSTICS", "plain");
    cmd
}

fn stdout_json(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.assert().success().get_output().stdout.clone();
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(&out)))
}

#[test]
fn validate_succeeds_on_every_example() {
    for dir in [
        "examples/django-postgres",
        "examples/laravel-mysql",
        "examples/two-stacks",
    ] {
        devarch()
            .args(["--dir", dir, "validate"])
            .assert()
            .code(0)
            .stdout(predicate::str::contains("valid"))
            .stderr(predicate::str::is_empty());
    }
}

#[test]
fn validate_reads_the_folder_from_the_environment() {
    devarch()
        .env("DEVARCH_DIR", "examples/two-stacks")
        .arg("validate")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("2 stacks"));
}

#[test]
fn validate_fails_with_file_line_and_column() {
    devarch()
        .args(["--dir", "tests/fixtures/bad/unknown-field", "validate"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "tests/fixtures/bad/unknown-field/template.yaml:6:3: error: unknown field `imagee` in spec",
        ))
        .stderr(predicate::str::contains("did you mean `image`?"))
        .stderr(predicate::str::contains("1 problem in 1 file"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn fancy_diagnostics_point_at_the_source() {
    let out = devarch()
        .env("DEVARCH_DIAGNOSTICS", "fancy")
        .env("NO_COLOR", "1")
        .args(["--dir", "tests/fixtures/bad/unknown-field", "validate"])
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let err = String::from_utf8(out).unwrap();
    assert!(err.contains("imagee: nginx:1.27"), "{err}");
    assert!(err.contains("template.yaml:6:3"), "{err}");
}

#[test]
fn get_stacks_json_lists_both_stacks() {
    let v = stdout_json(devarch().args([
        "--dir",
        "examples/two-stacks",
        "get",
        "stacks",
        "-o",
        "json",
    ]));
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["alpha", "beta"]);
    for s in v.as_array().unwrap() {
        assert_eq!(s["instances"], 3);
        assert_eq!(s["valid"], true);
    }
    assert_eq!(v[0]["network"], "devarch-alpha-net");
}

#[test]
fn get_stacks_text_is_a_table() {
    devarch()
        .args(["--dir", "examples/two-stacks", "get", "stacks"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("NAME"))
        .stdout(predicate::str::contains("alpha"))
        .stdout(predicate::str::contains("beta"));
}

#[test]
fn get_templates_lists_the_catalog() {
    devarch()
        .args(["--dir", "examples/two-stacks", "get", "templates"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"(?m)^postgres\s+builtin\s+postgres:16").unwrap());
    let v = stdout_json(devarch().args([
        "--dir",
        "examples/two-stacks",
        "get",
        "templates",
        "-o",
        "json",
    ]));
    assert!(v.as_array().unwrap().len() >= 14);
}

#[test]
fn get_instances_lists_every_instance() {
    let v = stdout_json(devarch().args([
        "--dir",
        "examples/django-postgres",
        "get",
        "instances",
        "-o",
        "json",
    ]));
    let rows: Vec<(String, String)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["stack"].as_str().unwrap().to_string(),
                r["container"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            ("blog".into(), "devarch-blog-cache".into()),
            ("blog".into(), "devarch-blog-db".into()),
            ("blog".into(), "devarch-blog-web".into()),
        ]
    );
}

#[test]
fn effective_config_json_is_json_and_redacts_secrets() {
    let v = effective_config("examples/django-postgres", "blog", "web");
    assert_eq!(v["stack"], "blog");
    assert_eq!(v["instance"], "web");
    assert_eq!(v["container"], "devarch-blog-web");
    assert_eq!(
        v["env"]["DATABASE_URL"],
        "postgres://app:${secret:db/password}@devarch-blog-db:5432/app"
    );
    assert_eq!(v["env"]["DB_PASSWORD"], "${secret:db/password}");
}

/// `devarch --dir DIR effective-config STACK INSTANCE -o json`, parsed.
fn effective_config(dir: &str, stack: &str, instance: &str) -> serde_json::Value {
    stdout_json(devarch().args([
        "--dir",
        dir,
        "effective-config",
        stack,
        instance,
        "-o",
        "json",
    ]))
}

#[test]
fn laravel_mysql_app_is_wired_to_the_provider_its_effective_config_shows() {
    let v = effective_config("examples/laravel-mysql", "shop", "app");
    let db = effective_config("examples/laravel-mysql", "shop", "db");
    // What the app is told is what the MySQL container is configured with.
    assert_eq!(v["env"]["DB_CONNECTION"], "mysql");
    assert_eq!(v["env"]["DB_HOST"], "devarch-shop-db");
    assert_eq!(v["env"]["DB_PORT"], "3306");
    assert_eq!(v["env"]["DB_DATABASE"], db["env"]["MYSQL_DATABASE"]);
    assert_eq!(v["env"]["DB_USERNAME"], db["env"]["MYSQL_USER"]);
    assert_eq!(v["env"]["DB_PASSWORD"], "${secret:db/password}");
    assert_eq!(db["env"]["MYSQL_PASSWORD"], "${secret:db/password}");
    assert_eq!(v["env"]["REDIS_HOST"], "devarch-shop-cache");
    assert_eq!(v["env"]["MAIL_HOST"], "devarch-shop-mail");
    assert_eq!(db["image"], "mysql:8.4");
}

#[test]
fn django_postgres_web_gets_the_user_and_database_the_db_is_configured_with() {
    let v = effective_config("examples/django-postgres", "blog", "web");
    let db = effective_config("examples/django-postgres", "blog", "db");
    let (user, database) = (
        db["env"]["POSTGRES_USER"].as_str().unwrap(),
        db["env"]["POSTGRES_DB"].as_str().unwrap(),
    );
    assert_eq!(
        v["env"]["DATABASE_URL"],
        format!("postgres://{user}:${{secret:db/password}}@devarch-blog-db:5432/{database}")
    );
    assert_eq!(
        db["image"].as_str().map(|i| i.starts_with("postgres:")),
        Some(true)
    );
}

#[test]
fn effective_config_yaml_is_the_default() {
    devarch()
        .args([
            "--dir",
            "examples/django-postgres",
            "effective-config",
            "blog",
            "db",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("image: postgres:16"))
        .stdout(predicate::str::contains("${secret:db/password}"));
}

#[test]
fn unknown_stack_names_the_known_ones() {
    devarch()
        .args([
            "--dir",
            "examples/two-stacks",
            "effective-config",
            "gamma",
            "web",
        ])
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("no stack \"gamma\""))
        .stderr(predicate::str::contains("alpha, beta"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn unknown_instance_names_the_known_ones() {
    devarch()
        .args([
            "--dir",
            "examples/two-stacks",
            "effective-config",
            "alpha",
            "nope",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no instance \"nope\""))
        .stderr(predicate::str::contains("cache, db, web"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn effective_config_of_a_broken_stack_shows_its_errors() {
    devarch()
        .args([
            "--dir",
            "tests/fixtures/bad/missing-import",
            "effective-config",
            "blog",
            "web",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("stack.yaml:7:5"))
        .stderr(predicate::str::contains("has manifest errors"));
}

#[test]
fn a_missing_folder_is_named() {
    devarch()
        .args(["--dir", "/nonexistent/devarch-manifests", "validate"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("/nonexistent/devarch-manifests"))
        .stderr(predicate::str::contains("does not exist"))
        .stderr(predicate::str::contains("panicked").not());
}

#[test]
fn schema_check_passes_on_the_repository() {
    // Fails when schemas/ or crds/ are stale: run `devarch schema` and commit the result.
    devarch()
        .args(["schema", "--check", "--root", env!("CARGO_MANIFEST_DIR")])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("up to date"));
}

#[test]
fn schema_check_fails_on_stale_files_and_schema_writes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    devarch()
        .args(["schema", "--check", "--root", root])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("out of date"));
    devarch()
        .args(["schema", "--root", root])
        .assert()
        .success()
        .stdout(predicate::str::contains("wrote"));
    devarch()
        .args(["schema", "--check", "--root", root])
        .assert()
        .code(0);
    for rel in [
        "schemas/devarch.schema.json",
        "schemas/template.schema.json",
        "crds/stacks.devarch.io.yaml",
        "schemas/openapi.json",
    ] {
        let generated = std::fs::read(tmp.path().join(rel)).unwrap();
        let committed = std::fs::read(rel).unwrap();
        assert!(
            generated == committed,
            "{rel} differs from the committed file"
        );
    }
}

#[test]
fn completions_mention_the_binary() {
    devarch()
        .args(["completions", "bash"])
        .assert()
        .success()
        .stdout(predicate::str::contains("devarch"))
        .stdout(predicate::str::contains("validate"));
}

#[test]
fn version_and_help() {
    // The version and the commit it was built from (when built in a git checkout).
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_string(),
            |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
        );
    devarch()
        .arg("--version")
        .assert()
        .success()
        .stdout(format!(
            "devarch {} (commit {commit})\n",
            env!("CARGO_PKG_VERSION")
        ));
    devarch()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("effective-config"));
}

#[test]
fn an_unknown_subcommand_is_a_usage_error() {
    devarch()
        .arg("frobnicate")
        .assert()
        .failure()
        .stderr(predicate::str::contains("frobnicate"));
}

/// A flag value out of its bounds is a usage error naming the flag and the limit: exit 2,
/// never a panic (101).
fn refused_flag(args: &[&str], message: &str) {
    let out = devarch()
        .args(["--dir", "examples/two-stacks"])
        .args(args)
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(message), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn durations_and_counts_on_the_command_line_are_bounded() {
    refused_flag(
        &["apply", "--lock-timeout", "99999999999999999999999h"],
        "invalid value '99999999999999999999999h' for '--lock-timeout <DURATION>': more than the limit of 24h",
    );
    refused_flag(
        &["delete", "blog", "--lock-timeout", "24h1ns"],
        "for '--lock-timeout <DURATION>': more than the limit of 24h",
    );
    refused_flag(
        &["apply", "--lock-timeout", "soon"],
        "for '--lock-timeout <DURATION>': not a duration like 30s, 1m30s or 500ms",
    );
    refused_flag(
        &["watch", "--resync", "0s"],
        "for '--resync <DURATION>': less than the minimum of 1s",
    );
    refused_flag(
        &["watch", "--resync", &format!("{}h", u64::MAX)],
        "for '--resync <DURATION>': more than the limit of 24h",
    );
    refused_flag(
        &["watch", "--debounce", "2m"],
        "for '--debounce <DURATION>': more than the limit of 1m",
    );
    refused_flag(
        &["watch", "--concurrency", "0"],
        "for '--concurrency <CONCURRENCY>': less than the minimum of 1",
    );
    refused_flag(
        &["watch", "--concurrency", "99999999999999999999999"],
        "for '--concurrency <CONCURRENCY>': more than the limit of 64",
    );
}

/// `devarch validate` of a folder holding only `name` with `text`: must exit 1; its stderr.
fn invalid_file_errors(name: &str, text: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(name), text).unwrap();
    let out = devarch()
        .args(["--dir", tmp.path().to_str().unwrap(), "validate"])
        .assert()
        .code(1)
        .get_output()
        .clone();
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn a_huge_healthcheck_duration_is_a_located_validation_error() {
    let err = invalid_file_errors(
        "t.yaml",
        "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {name: slow}\nspec:\n  image: busybox\n  healthcheck: {test: [CMD, \"true\"], interval: 99999999999999999999999h}\n",
    );
    assert!(
        err.contains("t.yaml:6:48: error: invalid value \"99999999999999999999999h\" for spec.healthcheck.interval: more than the limit of 1h"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn more_cpus_than_the_machine_has_is_a_located_validation_error() {
    let err = invalid_file_errors(
        "s.yaml",
        "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {name: blog}\nspec:\n  instances:\n    web:\n      template: redis\n      resources: {cpus: 1000}\n",
    );
    assert!(
        err.contains("s.yaml:8:25: error: spec.instances.web.resources.cpus: 1000 is more than this machine's"),
        "{err}"
    );
}

/// `devarch ARGS` with stdout a pipe whose reader is already gone: every write fails with
/// EPIPE. Returns the exit code and stderr.
fn run_into_closed_pipe(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("devarch"))
        .args(args)
        .env_remove("DEVARCH_HOME")
        .env_remove("DEVARCH_RUNTIME")
        .env("DEVARCH_DIAGNOSTICS", "plain")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_every_command_quietly_with_status_0() {
    let repo = env!("CARGO_MANIFEST_DIR");
    for args in [
        &["completions", "bash"][..],
        &["--dir", "examples/two-stacks", "get", "templates"],
        &[
            "--dir",
            "examples/two-stacks",
            "get",
            "templates",
            "-o",
            "json",
        ],
        &["--dir", "examples/two-stacks", "get", "instances"],
        &["--dir", "examples/two-stacks", "validate"],
        &["schema", "--check", "--root", repo],
    ] {
        let (code, stderr) = run_into_closed_pipe(args);
        assert_eq!((code, stderr.as_str()), (Some(0), ""), "devarch {args:?}");
    }
}

#[test]
fn completions_piped_into_a_reader_that_stops_after_one_line_exit_quietly() {
    use std::io::Read;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("devarch"))
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // One line, a byte at a time: the script (over 64 KiB) cannot all fit in the pipe, so
    // the writer is still writing when the reader goes away.
    let mut stdout = child.stdout.take().unwrap();
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while stdout.read(&mut byte).unwrap() == 1 && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&line), "_devarch() {");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!((out.status.code(), stderr.as_ref()), (Some(0), ""));
}

/// `compose`, `kube` and `import` of a devarch file only turn manifests into files: with no
/// engine answering they still work, and say that names in use on an engine were not checked
/// (issue #21). Before, each failed with "no container engine answered".
#[test]
fn compose_kube_and_import_need_no_engine() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("unix://{}/no-engine.sock", home.path().display());
    let run = |folder: &std::path::Path, args: &[&str]| {
        let out = devarch()
            .arg("--dir")
            .arg(folder)
            .arg("--home")
            .arg(home.path().join("h"))
            .args(["--runtime", &nowhere])
            .args(args)
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        );
        assert!(out.status.success(), "{args:?}\n{stdout}\n{stderr}");
        assert!(
            stderr.contains("names and host ports in use on an engine were not checked"),
            "{args:?}: no note\n{stderr}"
        );
        stdout
    };
    let examples = std::path::Path::new("examples/offline");
    let compose = run(examples, &["compose", "offline"]);
    assert!(
        compose.contains("container_name: 'devarch-offline-web'"),
        "{compose}"
    );
    assert!(
        compose.contains("127.0.0.1:"),
        "ports on loopback:\n{compose}"
    );
    let kube = run(examples, &["kube", "offline"]);
    assert!(kube.contains("kind: Deployment"), "{kube}");
    let export = dir.path().join("offline.devarch.yml");
    let out = devarch()
        .args(["--dir", "examples/offline", "export", "offline"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(&export, &out.stdout).unwrap();
    let target = dir.path().join("folder");
    std::fs::create_dir(&target).unwrap();
    let imported = run(&target, &["import", export.to_str().unwrap()]);
    assert!(imported.contains("Wrote stack offline"), "{imported}");
    assert!(target.join("offline.yaml").exists());
}

//! A newcomer's first minutes: commands that answer without a folder, and `devarch init`.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;

/// The binary in `cwd`, with a clean environment (no folder leaking in from the caller).
fn devarch(cwd: &Path) -> Command {
    let mut cmd = Command::cargo_bin("devarch").unwrap();
    cmd.current_dir(cwd)
        .env_remove("DEVARCH_DIR")
        .env_remove("DEVARCH_HOME")
        .env_remove("DEVARCH_RUNTIME")
        .env("DEVARCH_DIAGNOSTICS", "plain");
    cmd
}

/// Every file under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(dir).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

#[test]
fn get_templates_answers_without_a_folder() {
    let cwd = tempfile::tempdir().unwrap();
    devarch(cwd.path())
        .args(["get", "templates"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("postgres").and(predicate::str::contains("builtin")))
        .stderr(predicate::str::contains("no manifests folder ./devarch"))
        .stderr(predicate::str::contains("devarch init"));
    let rows: serde_json::Value = serde_json::from_slice(
        &devarch(cwd.path())
            .args(["get", "templates", "-o", "json"])
            .assert()
            .code(0)
            .get_output()
            .stdout
            .clone(),
    )
    .unwrap();
    assert!(rows.as_array().unwrap().len() >= 14, "{rows}");
    assert!(
        !cwd.path().join("devarch").exists(),
        "get created the folder"
    );
}

#[test]
fn commands_that_need_the_folder_still_say_it_is_missing() {
    let cwd = tempfile::tempdir().unwrap();
    for args in [&["get", "stacks"][..], &["validate"]] {
        devarch(cwd.path())
            .args(args)
            .assert()
            .code(1)
            .stderr(predicate::str::contains(
                "manifests folder ./devarch does not exist",
            ));
    }
}

#[test]
fn schema_and_completions_answer_without_a_folder() {
    let cwd = tempfile::tempdir().unwrap();
    devarch(cwd.path())
        .args(["completions", "bash"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("devarch"));
    devarch(cwd.path())
        .args(["schema", "--root", "out"])
        .assert()
        .code(0);
    assert!(cwd.path().join("out/schemas/devarch.schema.json").is_file());
}

#[test]
fn init_creates_a_folder_that_validates() {
    let cwd = tempfile::tempdir().unwrap();
    devarch(cwd.path())
        .args(["init"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("wrote ./devarch/stack.yaml"));
    let dir = cwd.path().join("devarch");
    assert_eq!(
        tree(&dir),
        [
            ".vscode/settings.json",
            "schemas/devarch.schema.json",
            "schemas/instance.schema.json",
            "schemas/stack.schema.json",
            "schemas/template.schema.json",
            "stack.yaml",
        ]
    );
    devarch(cwd.path())
        .arg("validate")
        .assert()
        .code(0)
        .stdout(predicate::str::contains("1 stack, 1 instance"))
        .stderr(predicate::str::is_empty());
    // The schemas are the ones this binary generates.
    assert_eq!(
        std::fs::read_to_string(dir.join("schemas/devarch.schema.json")).unwrap(),
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/devarch.schema.json")
        )
        .unwrap()
    );
    let settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(".vscode/settings.json")).unwrap())
            .unwrap();
    assert_eq!(
        settings["yaml.schemas"]["./schemas/devarch.schema.json"],
        serde_json::json!(["**/*.yaml", "**/*.yml"])
    );
}

#[test]
fn init_takes_a_folder_and_templates() {
    let cwd = tempfile::tempdir().unwrap();
    devarch(cwd.path())
        .args(["init", "web", "--template", "postgres,redis,adminer"])
        .assert()
        .code(0);
    let text = std::fs::read_to_string(cwd.path().join("web/stack.yaml")).unwrap();
    let docs: Vec<&str> = text.split("\n---\n").collect();
    assert_eq!(docs.len(), 4, "{text}");
    for d in &docs {
        assert!(
            d.starts_with("# yaml-language-server: $schema=schemas/devarch.schema.json\n"),
            "a document without its modeline:\n{d}"
        );
    }
    devarch(cwd.path())
        .args(["--dir", "web", "validate"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("1 stack, 3 instances"));
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing() {
    let cwd = tempfile::tempdir().unwrap();
    let dir = cwd.path().join("devarch");
    std::fs::create_dir_all(dir.join(".vscode")).unwrap();
    std::fs::write(dir.join(".vscode/settings.json"), "{\"mine\": true}\n").unwrap();
    devarch(cwd.path())
        .arg("init")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "./devarch/.vscode/settings.json already exists",
        ))
        .stderr(predicate::str::contains("nothing was written"));
    assert_eq!(tree(&dir), [".vscode/settings.json"]);
    assert_eq!(
        std::fs::read_to_string(dir.join(".vscode/settings.json")).unwrap(),
        "{\"mine\": true}\n"
    );

    // A folder that already holds manifests is not a new folder.
    let other = cwd.path().join("other");
    std::fs::create_dir(&other).unwrap();
    std::fs::write(other.join("mine.yml"), "kind: Stack\n").unwrap();
    devarch(cwd.path())
        .args(["init", "other"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "already holds manifests (other/mine.yml)",
        ));
    assert_eq!(tree(&other), ["mine.yml"]);

    // The second run of a successful init changes nothing.
    devarch(cwd.path()).args(["init", "fresh"]).assert().code(0);
    let before = std::fs::read_to_string(cwd.path().join("fresh/stack.yaml")).unwrap();
    devarch(cwd.path())
        .args(["init", "fresh"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("fresh/stack.yaml already exists"));
    assert_eq!(
        std::fs::read_to_string(cwd.path().join("fresh/stack.yaml")).unwrap(),
        before
    );
}

#[test]
fn init_refuses_unknown_or_repeated_templates() {
    let cwd = tempfile::tempdir().unwrap();
    devarch(cwd.path())
        .args(["init", "--template", "postgress"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no built-in template \"postgress\"",
        ))
        .stderr(predicate::str::contains("postgres"));
    devarch(cwd.path())
        .args(["init", "--template", "redis,redis"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("given twice"));
    assert!(!cwd.path().join("devarch").exists());
    // A starter that would not validate is refused with the problem, and nothing is written.
    devarch(cwd.path())
        .args(["init", "--template", "django"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "needs import \"database\" (type postgres)",
        ))
        .stderr(predicate::str::contains("would not validate"));
    assert!(!cwd.path().join("devarch").exists());
    devarch(cwd.path())
        .args(["init", "--template", "django,postgres"])
        .assert()
        .code(0);
    devarch(cwd.path()).arg("validate").assert().code(0);
}

#[test]
fn init_refuses_a_symlinked_folder_on_the_way_and_writes_nothing_anywhere() {
    for linked in [".vscode", "schemas"] {
        let cwd = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let dir = cwd.path().join("devarch");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.join(linked)).unwrap();
        devarch(cwd.path())
            .arg("init")
            .assert()
            .code(1)
            .stderr(predicate::str::contains(format!(
                "./devarch/{linked} is a symbolic link"
            )))
            .stderr(predicate::str::contains("nothing was written"))
            .stderr(predicate::str::contains("panicked").not());
        assert_eq!(tree(elsewhere.path()), Vec::<String>::new(), "{linked}");
        assert_eq!(tree(&dir), Vec::<String>::new(), "{linked}");
    }
}

#[test]
fn schema_refuses_a_symlinked_schemas_folder_and_writes_nothing_through_it() {
    let cwd = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::create_dir(cwd.path().join("out")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), cwd.path().join("out/schemas")).unwrap();
    devarch(cwd.path())
        .args(["schema", "--root", "out"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("out/schemas is a symbolic link"));
    assert_eq!(tree(elsewhere.path()), Vec::<String>::new());
}

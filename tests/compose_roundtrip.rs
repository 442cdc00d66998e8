//! `devarch compose` out and `devarch import --from compose` back in (issue #22, section 2):
//! devarch's own Compose output imports back to the same stack. Its volumes keep their runtime
//! names (so the data stays: on both engines the volume holding a marker file is the one the
//! imported stack uses), config files come back with their content, routed host names come
//! back as an `http` export, secrets stay out of the manifests, nothing devarch generated is reported as left out, and from the second round
//! compose → import → compose gives the same bytes for every example. Binds are written as
//! absolute paths, so they mean the same place wherever the file or the folder is.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, unique};

engine_tests!(the_round_trip_keeps_the_volume_holding_the_data,);

/// devarch with no engine answering (compose and import need none).
fn offline(dir: &Path, home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_devarch"));
    c.arg("--dir")
        .arg(dir)
        .arg("--home")
        .arg(home)
        .arg("--runtime")
        .arg(format!("unix://{}/no-engine.sock", home.display()))
        .env("DEVARCH_DIAGNOSTICS", "plain");
    c
}

/// Runs `cmd`, which must succeed: (stdout, stderr).
fn ok(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(
        out.status.success(),
        "{cmd:?}\n--- stdout\n{o}\n--- stderr\n{e}"
    );
    (o, e)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The manifest files of `dir` that define the Stack `stack` or an Instance of it.
fn stack_files(dir: &Path, stack: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            let text = std::fs::read_to_string(&path).unwrap();
            let the_stack =
                text.contains("kind: Stack") && text.contains(&format!("name: {stack}\n"));
            let its_instance =
                text.contains("kind: Instance") && text.contains(&format!("stack: {stack}\n"));
            if the_stack || its_instance {
                out.push(path);
            }
        }
    }
    out
}

/// One round: `devarch compose STACK` into `file`, the stack's manifests removed, the file
/// imported back under the same stack name into the same folder; the import's stderr.
fn round(dir: &Path, home: &Path, stack: &str, file: &Path) -> (String, String) {
    let (compose, _) = ok(offline(dir, home).args(["compose", stack]));
    std::fs::write(file, &compose).unwrap();
    for f in stack_files(dir, stack) {
        std::fs::remove_file(f).unwrap();
    }
    let (_, notes) = ok(offline(dir, home).args([
        "import",
        "--from",
        "compose",
        file.to_str().unwrap(),
        "--stack",
        stack,
    ]));
    (compose, notes)
}

/// Every example stack: compose → import → compose gives the same bytes from the second round,
/// with the stack's volumes, config files and secrets kept and nothing devarch generated noted.
#[test]
fn compose_then_import_is_a_fixed_point_for_every_example() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&examples).unwrap() {
        let example = entry.unwrap().path();
        if !example.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(&example).unwrap() {
            let text = std::fs::read_to_string(file.unwrap().path()).unwrap_or_default();
            for doc in text.split("\n---") {
                if !doc.contains("kind: Stack") {
                    continue;
                }
                let name = doc
                    .lines()
                    .skip_while(|l| !l.starts_with("metadata:"))
                    .find_map(|l| l.trim().strip_prefix("name: "))
                    .or_else(|| {
                        doc.lines()
                            .find_map(|l| l.trim().strip_prefix("metadata: {name: "))
                            .and_then(|l| l.strip_suffix('}'))
                    })
                    .unwrap()
                    .trim()
                    .to_string();
                checked.push((example.clone(), name));
            }
        }
    }
    checked.sort();
    let names: Vec<String> = checked
        .iter()
        .map(|(e, s)| format!("{}/{s}", e.file_name().unwrap().to_string_lossy()))
        .collect();
    for want in [
        "offline/offline",
        "django-postgres/blog",
        "laravel-mysql/shop",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    for (example, stack) in &checked {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("manifests");
        let home = tmp.path().join("home");
        copy_dir(example, &dir);
        let what = format!("{}/{stack}", example.display());
        let (first, notes) = round(&dir, &home, stack, &tmp.path().join("c1.yml"));
        // Nothing devarch generated (container names, hostnames, the stack's network and
        // aliases, its volumes, its labels) is reported as left out.
        for generated in [
            "container_name",
            ".hostname",
            ".networks",
            "/networks",
            "volume options",
            "devarch's own prefix",
            "is not set",
        ] {
            assert!(
                !notes.contains(generated),
                "{what}: {generated} noted:\n{notes}"
            );
        }
        let imported = std::fs::read_to_string(dir.join(format!("{stack}.yaml"))).unwrap();
        assert!(
            !imported
                .lines()
                .any(|l| l.trim_start().starts_with("devarch.")),
            "{what}: devarch labels carried:\n{imported}"
        );
        let (second, _) = round(&dir, &home, stack, &tmp.path().join("c2.yml"));
        let (third, _) = round(&dir, &home, stack, &tmp.path().join("c3.yml"));
        assert_eq!(second, third, "{what}: not a fixed point");
        // The runtime names of the volumes are those of the first round: the same volumes.
        let volumes = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.trim_start().starts_with("source: 'devarch-"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(volumes(&first), volumes(&second), "{what}");
        // Config files and secrets as the first round had them.
        let files = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.contains("/files/"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(files(&first), files(&second), "{what}");
        // What the router serves (an `http` export and its host names) is kept.
        let routes = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.contains("devarch.domain"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(routes(&first), routes(&second), "{what}");
        let secret_keys = |text: &str| -> Vec<String> {
            text.lines()
                .filter(|l| l.contains("${DEVARCH_SECRET_"))
                .map(|l| l.split(':').next().unwrap().to_string())
                .collect()
        };
        assert_eq!(secret_keys(&first), secret_keys(&second), "{what}");
    }
    // The offline example's config file came back with its content.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("m");
    copy_dir(&examples.join("offline"), &dir);
    round(
        &dir,
        &tmp.path().join("h"),
        "offline",
        &tmp.path().join("c.yml"),
    );
    let imported = std::fs::read_to_string(dir.join("offline.yaml")).unwrap();
    assert!(
        imported.contains("<h1>Hello from devarch</h1>"),
        "{imported}"
    );
    assert!(imported.contains("name: data"), "{imported}");
    assert!(
        imported.contains("exports:\n  - name: http\n    type: http\n    port: 8080\n"),
        "{imported}"
    );
}

/// Secrets: placeholders come back as references; a value holding one inside text becomes a
/// secret of its own whose value is taken from the folder's store, never written into the
/// manifests.
#[test]
fn secret_placeholders_come_back_as_references_and_values_stay_out_of_the_manifests() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, home) = (tmp.path().join("m"), tmp.path().join("h"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("s.yaml"),
        r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: app}
spec:
  image: devarch-fixture/busybox:1
  env:
    PASSWORD: {secret: password}
---
apiVersion: devarch.io/v1alpha1
kind: Stack
metadata: {name: sec}
spec:
  instances:
    db: {template: app}
    web:
      template: app
      env:
        URL: "x"
"#,
    )
    .unwrap();
    let mut set = offline(&dir, &home);
    set.args(["secret", "set", "sec", "db/password"])
        .stdin(std::process::Stdio::piped());
    let mut child = set.stdout(std::process::Stdio::null()).spawn().unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(b"pw-Zr81\n").unwrap();
    assert!(child.wait().unwrap().success());
    // A compose file as devarch writes it, with the db's placeholder inside web's URL.
    let compose = tmp.path().join("c.yml");
    std::fs::write(
        &compose,
        "services:\n  db:\n    image: 'devarch-fixture/busybox:1'\n    environment:\n      PASSWORD: '${DEVARCH_SECRET_DB_PASSWORD}'\n  web:\n    image: 'devarch-fixture/busybox:1'\n    environment:\n      URL: 'u:${DEVARCH_SECRET_DB_PASSWORD}@db'\n",
    )
    .unwrap();
    std::fs::remove_file(dir.join("s.yaml")).unwrap();
    std::fs::write(
        dir.join("t.yaml"),
        "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {name: app}\nspec: {image: devarch-fixture/busybox:1}\n",
    )
    .unwrap();
    let (out, notes) = ok(offline(&dir, &home).args([
        "import",
        "--from",
        "compose",
        compose.to_str().unwrap(),
        "--stack",
        "sec",
    ]));
    let imported = std::fs::read_to_string(dir.join("sec.yaml")).unwrap();
    assert!(!imported.contains("pw-Zr81"), "{imported}");
    assert!(imported.contains("secret: password"), "{imported}");
    assert!(imported.contains("secret: url"), "{imported}");
    assert!(
        notes.contains("services.web.environment.URL") && notes.contains("secret \"url\""),
        "{notes}"
    );
    assert!(!out.contains("not set"), "{out}");
    // The URL's value was made from the stored password.
    let (listed, _) = ok(offline(&dir, &home).args(["secret", "list", "sec"]));
    assert!(listed.contains("web") && listed.contains("url"), "{listed}");
    let (env_out, _) = ok(offline(&dir, &home).args([
        "compose",
        "sec",
        "--env-file",
        tmp.path().join("values.env").to_str().unwrap(),
    ]));
    assert!(!env_out.contains("pw-Zr81"), "{env_out}");
    let values = std::fs::read_to_string(tmp.path().join("values.env")).unwrap();
    assert!(
        values.contains("DEVARCH_SECRET_WEB_URL=u:pw-Zr81@db"),
        "{values}"
    );
}

/// A relative bind (`./src`), a relative `--dir` and a relative `--home` (config files) are
/// written as absolute paths, and imported into another folder they mean the same place; the
/// config file of the other folder is not read into this one's manifests.
#[test]
fn binds_are_absolute_in_compose_output_and_mean_the_same_place_once_imported() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    std::fs::create_dir_all(root.join("m/src")).unwrap();
    std::fs::write(
        root.join("m/s.yaml"),
        r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: app}
spec:
  image: devarch-fixture/busybox:1
  volumes:
    - {source: ./src, target: /src}
  configFiles:
    - {path: /etc/app.conf, content: "a=1\n"}
---
apiVersion: devarch.io/v1alpha1
kind: Stack
metadata: {name: rel}
spec:
  instances:
    app: {template: app}
"#,
    )
    .unwrap();
    let (compose, _) = ok(Command::new(env!("CARGO_BIN_EXE_devarch"))
        .current_dir(&root)
        .args(["--dir", "m", "--home", "h", "--runtime"])
        .arg(format!("unix://{}/none.sock", root.display()))
        .args(["compose", "rel"]));
    let src = format!("source: '{}/m/src'", root.display());
    assert!(compose.contains(&src), "{src}:\n{compose}");
    let conf = format!("source: '{}/h/stacks/", root.display());
    assert!(compose.contains(&conf), "{conf}:\n{compose}");
    // Imported into another folder, elsewhere: the bind is the same host folder.
    std::fs::create_dir_all(root.join("other/deeper")).unwrap();
    let file = root.join("other/c.yml");
    std::fs::write(&file, &compose).unwrap();
    let (_, notes) = ok(offline(&root.join("other/deeper"), &root.join("h")).args([
        "import",
        "--from",
        "compose",
        file.to_str().unwrap(),
        "--stack",
        "rel",
    ]));
    let imported = std::fs::read_to_string(root.join("other/deeper/rel.yaml")).unwrap();
    assert!(
        imported.contains(&format!("source: {}/m/src", root.display())),
        "{imported}"
    );
    // The config file another folder's stack materialised is not read: it stays a bind of
    // the same file, and the note says so.
    assert!(!imported.contains("a=1"), "{imported}");
    assert!(
        imported.contains(&format!("source: {}/h/stacks/", root.display())),
        "{imported}"
    );
    assert!(
        notes.contains("services.app.volumes.1: a config file devarch materialised for another folder, stack or instance: kept as a bind of that path"),
        "{notes}"
    );
    let (again, _) =
        ok(offline(&root.join("other/deeper"), &root.join("h")).args(["compose", "rel"]));
    assert!(again.contains(&src), "{src}:\n{again}");
}

/// Apply a stack with a named volume, write a marker into it, compose it, replace its
/// manifests by the import of that file in the same folder, apply: the marker is there and no
/// volume was created.
fn the_round_trip_keeps_the_volume_holding_the_data(env: Env) {
    let s = format!("rt{}", unique());
    env.write(
        "t.yaml",
        "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {name: keeper}\nspec:\n  image: devarch-fixture/busybox:1\n  command: [sh, -c, \"trap 'exit 0' TERM INT; sleep 100000 & wait\"]\n  volumes: [{name: data, target: /data}]\n",
    );
    env.write(
        "s.yaml",
        &common::stack(&s, "    cache: {template: keeper}\n"),
    );
    env.expect(&["apply", &s], 0);
    let container = format!("devarch-{s}-cache");
    env.sh(&container, "echo kept > /data/marker");
    let prefix = format!("devarch-{s}-");
    let before = env.volumes(&prefix);
    assert_eq!(before, vec![format!("devarch-{s}-cache-data")]);
    let (compose, _) = env.expect(&["compose", &s], 0);
    let file = env.home.path().join("c.yml");
    std::fs::write(&file, &compose).unwrap();
    std::fs::remove_file(env.path("s.yaml")).unwrap();
    std::fs::remove_file(env.path("t.yaml")).unwrap();
    let (_, notes) = env.expect(
        &[
            "import",
            "--from",
            "compose",
            file.to_str().unwrap(),
            "--stack",
            &s,
        ],
        0,
    );
    assert!(!notes.contains("volume"), "{notes}");
    env.expect(&["apply", &s], 0);
    assert_eq!(env.volumes(&prefix), before, "no new volume");
    assert_eq!(env.sh(&container, "cat /data/marker").trim(), "kept");
    // A second round changes nothing: the manifests an import wrote are replaced in place.
    let (again, _) = env.expect(&["compose", &s], 0);
    std::fs::write(&file, &again).unwrap();
    std::fs::remove_file(env.path(&format!("{s}.yaml"))).unwrap();
    env.expect(
        &[
            "import",
            "--from",
            "compose",
            file.to_str().unwrap(),
            "--stack",
            &s,
        ],
        0,
    );
    let (third, _) = env.expect(&["compose", &s], 0);
    assert_eq!(again, third);
    env.expect(&["plan", &s], 0);
    assert_eq!(env.volumes(&prefix), before);
}

/// `devarch export` writes a relative bind source as the absolute path it means, says so, and
/// the file imported into another folder mounts the same place.
#[test]
fn export_writes_relative_binds_as_the_place_they_mean() {
    let tmp = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(tmp.path()).unwrap();
    std::fs::create_dir_all(root.join("m/src")).unwrap();
    std::fs::create_dir_all(root.join("other")).unwrap();
    std::fs::write(
        root.join("m/s.yaml"),
        "apiVersion: devarch.io/v1alpha1\nkind: Template\nmetadata: {name: app}\nspec:\n  image: devarch-fixture/busybox:1\n  volumes:\n    - {source: ./src, target: /src}\n---\napiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {name: rel}\nspec:\n  instances:\n    app:\n      template: app\n      volumes:\n        - {source: ../other, target: /other}\n",
    )
    .unwrap();
    let home = root.join("h");
    let (text, notes) = ok(offline(&root.join("m"), &home).args(["export", "rel"]));
    for (relative, absolute) in [
        ("./src", root.join("m/src")),
        ("../other", root.join("other")),
    ] {
        let absolute = absolute.display().to_string();
        assert!(
            text.contains(&format!("source: {absolute}\n")),
            "{absolute}:\n{text}"
        );
        assert!(
            notes.contains(&format!(
                "bind source {relative} is relative to this folder; written as {absolute}"
            )),
            "{notes}"
        );
    }
    let file = root.join("rel.devarch.yml");
    std::fs::write(&file, &text).unwrap();
    ok(offline(&root.join("other"), &home).args(["import", file.to_str().unwrap()]));
    let (compose, _) = ok(offline(&root.join("other"), &home).args(["compose", "rel"]));
    assert!(
        compose.contains(&format!("source: '{}/m/src'", root.display())),
        "{compose}"
    );
    // Exporting what the import wrote gives the same stack and template again.
    let (again, _) = ok(offline(&root.join("other"), &home).args(["export", "rel"]));
    assert_eq!(again, text);
}

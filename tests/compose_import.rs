//! `devarch import --from compose` on Docker and Podman (issue #12, section 2): a Compose
//! project becomes manifests that run (PostgreSQL and a psql client, wired by service name),
//! with every key that did not carry over reported at its line, variables resolved as Compose
//! resolves them, credentials moved into devarch secrets, and a DevArch v1 catalog file
//! imported as a Template.

mod common;

use common::{Env, unique};

engine_tests!(
    a_compose_project_imports_runs_and_reports_what_it_left_out,
    a_single_service_catalog_file_imports_as_a_template,
    the_importers_environment_stays_out_unless_asked_and_devarch_labels_are_not_carried,
);

const PROJECT: &str = r#"name: shop
services:
  db:
    image: devarch-fixture/postgres:15
    container_name: shop_db
    restart: unless-stopped
    environment:
      POSTGRES_USER: ${DB_USER:-shop}
      POSTGRES_PASSWORD: ${DB_PASSWORD}
      POSTGRES_DB: shop
    volumes:
      - pgdata:/var/lib/postgresql/data
    healthcheck:
      test: pg_isready -h 127.0.0.1 -U shop -d shop
      interval: 1s
      retries: 60
  client:
    image: devarch-fixture/dbclient:1
    build: ./client
    env_file: client.env
    environment:
      - PGPASSWORD=${DB_PASSWORD}
      - PRICE=5$$
    volumes:
      - ./data:/data:ro
    depends_on:
      db:
        condition: service_healthy
    extra_hosts: ["legacy:10.0.0.1"]
    deploy:
      resources:
        limits: {memory: 256m, pids: 200}
    x-devarch-config:
      client.conf: /etc/client.conf
volumes:
  pgdata: {}
"#;

fn a_compose_project_imports_runs_and_reports_what_it_left_out(env: Env) {
    let s = format!("ci{}", unique());
    let project = env.home.path().join("project");
    std::fs::create_dir_all(project.join("config")).unwrap();
    std::fs::create_dir_all(project.join("data")).unwrap();
    std::fs::write(project.join("data/hello"), "hi").unwrap();
    std::fs::write(project.join("docker-compose.yml"), PROJECT).unwrap();
    std::fs::write(project.join(".env"), "DB_PASSWORD=dotenv-pw-Xq7\n").unwrap();
    std::fs::write(
        project.join("client.env"),
        "# the client's connection\nPGHOST=db\nPGUSER=shop\nexport PGDATABASE=\"shop\"\n",
    )
    .unwrap();
    std::fs::write(project.join("config/client.conf"), "mode=test\n").unwrap();
    let file = project.join("docker-compose.yml");
    let (out, err) = env.expect(
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
    // Every key left out is named at its line, with what to do instead.
    let at = |line: u32, key: &str| {
        assert!(
            err.contains(&format!("docker-compose.yml:{line}: {key}:")),
            "{key} at line {line}:\n{err}"
        );
    };
    at(5, "services.db.container_name");
    at(6, "services.db.restart");
    at(19, "services.client.build");
    at(20, "services.client.env_file");
    at(29, "services.client.extra_hosts");
    assert!(
        err.contains("devarch runs images, it does not build them"),
        "{err}"
    );
    assert!(out.contains(&format!("Wrote stack {s}")), "{out}");
    assert!(
        out.contains("Stored the value of db/postgres-password"),
        "{out}"
    );
    // The password came from .env; it is in the secret store, not in the manifests.
    let written = std::fs::read_to_string(env.path(&format!("{s}.yaml"))).unwrap();
    assert!(!written.contains("dotenv-pw-Xq7"), "{written}");
    assert!(written.contains("secret: postgres-password"), "{written}");
    assert!(written.contains("PRICE: 5$"), "{written}");

    env.expect(&["apply"], 0);
    let client = |script: &str| {
        env.expect(&["exec", &s, "client", "--", "sh", "-c", script], 0)
            .0
            .trim_end()
            .to_string()
    };
    // The client's only configuration is what Compose gave it: the database by service name.
    assert_eq!(client("psql -tAc 'select current_user'"), "shop");
    assert_eq!(client("cat /etc/client.conf"), "mode=test");
    assert_eq!(client("cat /data/hello"), "hi");
    assert_eq!(client("printf %s \"$PRICE\""), "5$");
    let limits = env
        .engine
        .cli()
        .args([
            "inspect",
            "--format",
            "{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            &format!("devarch-{s}-client"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&limits.stdout).trim(),
        format!("{} 200", 256 * 1024 * 1024)
    );
}

const CATALOG: &str = r#"services:
  adminer:
    image: devarch-fixture/busybox:1
    container_name: adminer
    restart: unless-stopped
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /srv & wait"]
    ports:
      - "8080"
    networks:
      - devarch
    x-devarch-config:
      index.html: /srv/index.html
networks:
  devarch:
    external: true
"#;

fn a_single_service_catalog_file_imports_as_a_template(env: Env) {
    let s = format!("ct{}", unique());
    let dir = env.home.path().join("catalog/adminer");
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join("compose.yml"), CATALOG).unwrap();
    std::fs::write(dir.join("config/index.html"), "catalog page").unwrap();
    let (out, err) = env.expect(
        &[
            "import",
            "--from",
            "compose",
            dir.join("compose.yml").to_str().unwrap(),
            "--as-template",
        ],
        0,
    );
    assert!(out.contains("Wrote template adminer"), "{out}");
    for key in [
        "services.adminer.container_name",
        "services.adminer.restart",
        "services.adminer.networks",
    ] {
        assert!(err.contains(key), "{key}: {err}");
    }
    env.write(
        "s.yaml",
        &common::stack(&s, "    admin: {template: adminer}\n"),
    );
    env.expect(&["apply"], 0);
    let (out, _) = env.expect(
        &[
            "exec",
            &s,
            "admin",
            "--",
            "wget",
            "-qO-",
            "http://127.0.0.1:8080/index.html",
        ],
        0,
    );
    assert_eq!(out, "catalog page");
    let (code, _, err) = env.run(&[
        "import",
        "--from",
        "compose",
        env.home.path().join("nope.yml").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read"), "{err}");
}

// Issue #21: what an import reads and copies is the project's, never the importer's.

/// A project folder (inside a scratch folder that also holds a key file next to it) with
/// `compose` as its compose file; (scratch folder, compose file).
fn project_next_to_a_key(compose: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let top = tempfile::tempdir().unwrap();
    let project = top.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(top.path().join("secret.key"), "AWS_SECRET=topsecret-Qx1\n").unwrap();
    let file = project.join("compose.yml");
    std::fs::write(&file, compose).unwrap();
    (top, file)
}

/// `devarch import --from compose FILE` into an empty folder, with no engine reachable (the
/// refusals come first); (exit code, stdout, stderr) and the folder's files.
fn import_without_engine(file: &std::path::Path) -> ((i32, String, String), Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let mut cmd = common::devarch_on(dir.path(), home.path(), "docker");
    cmd.env("DOCKER_HOST", "unix:///nonexistent/devarch-test.sock")
        .args([
            "import",
            "--from",
            "compose",
            file.to_str().unwrap(),
            "--stack",
            "leak",
        ]);
    let result = common::run_cmd(&mut cmd);
    let files = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    (result, files)
}

#[test]
fn env_files_outside_the_project_are_refused_and_never_read() {
    for entry in ["../secret.key", "ABS", "key.env", "up/secret.key"] {
        let (top, file) = project_next_to_a_key("");
        let project = file.parent().unwrap();
        std::os::unix::fs::symlink(top.path().join("secret.key"), project.join("key.env")).unwrap();
        std::os::unix::fs::symlink(top.path(), project.join("up")).unwrap();
        let entry = if entry == "ABS" {
            top.path().join("secret.key").display().to_string()
        } else {
            entry.to_string()
        };
        std::fs::write(
            &file,
            format!(
                "services:\n  web:\n    image: devarch-fixture/busybox:1\n    env_file: {entry}\n"
            ),
        )
        .unwrap();
        let ((code, out, err), files) = import_without_engine(&file);
        assert_eq!(code, 1, "{entry}: {out}\n{err}");
        for part in [
            format!(
                "{}:4: services.web.env_file: env_file {entry:?}",
                file.display()
            ),
            "devarch reads env files only from inside the Compose project's folder".into(),
        ] {
            assert!(err.contains(&part), "{entry}: want {part:?}\n{err}");
        }
        assert!(err.contains("nothing was imported"), "{err}");
        assert!(!err.contains("topsecret") && !out.contains("topsecret"));
        assert!(files.is_empty(), "{entry}: wrote {files:?}");
    }
}

#[test]
fn an_env_file_line_that_is_not_key_value_is_an_error_at_its_line() {
    for (name, content, line) in [
        ("app.env", "# settings\nA=1\nJUST_A_NAME\nB=2\n", 3),
        (".env", "A=1\n\n-----BEGIN PRIVATE KEY-----\n", 3),
        ("app.env", "A=1\nMIIEvQIBADANBg+kqhkiG9w0/BAQEFAASC==\n", 2),
    ] {
        let (_top, file) = project_next_to_a_key(
            "services:\n  web:\n    image: devarch-fixture/busybox:1\n    env_file: app.env\n",
        );
        let project = file.parent().unwrap();
        std::fs::write(project.join("app.env"), "OK=1\n").unwrap();
        std::fs::write(project.join(name), content).unwrap();
        let ((code, out, err), files) = import_without_engine(&file);
        assert_eq!(code, 1, "{name}: {out}\n{err}");
        let at = format!("{}:{line}:", project.join(name).display());
        assert!(err.contains(&at), "{name}: want {at}\n{err}");
        assert!(err.contains("nothing was imported"), "{err}");
        assert!(
            !err.contains("BEGIN PRIVATE") && !err.contains("MIIEv"),
            "the line is not repeated: {err}"
        );
        assert!(files.is_empty(), "{name}: wrote {files:?}");
    }
}

const SHELL_PROJECT: &str = r#"services:
  web:
    image: devarch-fixture/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]
    environment:
      FROM_SHELL: ${DEVARCH_T21_SHELL}
      HOME_DIR: $HOME/cache
      FROM_DOTENV: ${DOTENV_ONLY}
      DEFAULTED: ${DEVARCH_T21_SHELL:-fallback}
      BOTH: ${DEVARCH_T21_BOTH}
    labels:
      app.tier: web
      devarch.owner: someone-else
      Devarch.Stack_id: hijack
"#;

fn the_importers_environment_stays_out_unless_asked_and_devarch_labels_are_not_carried(env: Env) {
    let (a, b) = (format!("sa{}", unique()), format!("sb{}", unique()));
    let project = env.home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let file = project.join("compose.yml");
    std::fs::write(&file, SHELL_PROJECT).unwrap();
    std::fs::write(
        project.join(".env"),
        "DOTENV_ONLY=from-dotenv\nDEVARCH_T21_BOTH=dotenv-wins\n",
    )
    .unwrap();
    let import = |stack: &str, extra: &[&str]| {
        let mut cmd = env.cmd();
        cmd.env("DEVARCH_T21_SHELL", "shell-value-Zq9")
            .env("DEVARCH_T21_BOTH", "shell-both")
            .env("HOME", "/home/importer-Hk3")
            .args([
                "import",
                "--from",
                "compose",
                file.to_str().unwrap(),
                "--stack",
                stack,
            ])
            .args(extra);
        let (code, out, err) = common::run_cmd(&mut cmd);
        assert_eq!(code, 0, "{out}\n{err}");
        let written = std::fs::read_to_string(env.path(&format!("{stack}.yaml"))).unwrap();
        (written, err)
    };

    // Without --env-from-shell: nothing of the importer's environment is written.
    let (written, err) = import(&a, &[]);
    for leaked in ["shell-value-Zq9", "importer-Hk3", "shell-both"] {
        assert!(!written.contains(leaked), "{leaked}:\n{written}");
    }
    let docs: Vec<serde_json::Value> = written
        .split("\n---\n")
        .filter_map(|d| serde_saphyr::from_str(d).ok())
        .collect();
    let template = docs
        .iter()
        .find(|d| d["kind"] == "Template")
        .unwrap_or_else(|| panic!("{written}"));
    let envs = &template["spec"]["env"];
    assert_eq!(envs["FROM_SHELL"], "${DEVARCH_T21_SHELL}", "{written}");
    assert_eq!(envs["HOME_DIR"], "$HOME/cache", "{written}");
    assert_eq!(envs["FROM_DOTENV"], "from-dotenv", "{written}");
    assert_eq!(envs["DEFAULTED"], "fallback", "{written}");
    assert_eq!(envs["BOTH"], "dotenv-wins", "{written}");
    for var in ["DEVARCH_T21_SHELL", "HOME"] {
        assert!(
            err.contains(&format!("variable {var} is set only in your environment")),
            "{var}: {err}"
        );
    }
    assert!(err.contains("used its default"), "{err}");
    // devarch's own labels are not carried, each noted at its line; the others are.
    let labels = &template["spec"]["labels"];
    assert_eq!(labels, &serde_json::json!({"app.tier": "web"}), "{written}");
    assert!(
        err.contains("compose.yml:13: services.web.labels.devarch.owner:"),
        "{err}"
    );
    assert!(
        err.contains("compose.yml:14: services.web.labels.Devarch.Stack_id:"),
        "{err}"
    );

    // With it: the environment's values, before .env's, as Compose does.
    let (written, _) = import(&b, &["--env-from-shell"]);
    assert!(written.contains("FROM_SHELL: shell-value-Zq9"), "{written}");
    assert!(
        written.contains("HOME_DIR: /home/importer-Hk3/cache"),
        "{written}"
    );
    assert!(written.contains("BOTH: shell-both"), "{written}");

    // The labels devarch sets are its own on the running container.
    env.expect(&["apply", &a], 0);
    let labels = env.labels(&format!("devarch-{a}-web"));
    assert_eq!(labels.get("devarch.owner"), Some(&env.owner), "{labels:?}");
    assert_eq!(labels.get("devarch.stack_id"), Some(&a), "{labels:?}");
    assert!(!labels.contains_key("Devarch.Stack_id"), "{labels:?}");
    assert_eq!(labels.get("app.tier").map(String::as_str), Some("web"));
}

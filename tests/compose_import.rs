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

//! `devarch compose` on Docker and Podman (issue #12, section 1): the output is valid against
//! the Compose Specification's JSON Schema, `docker-compose` (Docker) and `podman-compose`
//! (Podman) run it, and `devarch plan` then finds the stack up to date: the two tools agree on
//! what the stack is. Secrets stay placeholders; their values go only to the env file.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use common::{Engine, Env, stack, unique};

engine_tests!(compose_output_runs_under_compose_and_devarch_agrees_with_what_it_made,);

/// Secret values with each character an env file parser may interpret, one per secret (the
/// env variable `E_<NAME>` of instance api): each must reach the container unchanged through
/// both Compose clients.
const ODD_VALUES: &[(&str, &str)] = &[
    ("dollar", "a$b $ c$"),
    ("dollars", "a$$b$$$"),
    ("shell", "$HOME $(id) `id` !x"),
    ("dquote", "say \"hi\""),
    ("squote", "it's 'quoted'"),
    ("backslash", "back\\slash \\n \\\\ \\' \\\" x"),
    ("hash", "a #b#c"),
    ("spaces", "  both ends  "),
    ("newline", "two\nlines"),
    ("tab", "a\tb"),
    ("equals", "=a=b="),
    ("unicode", "pässwörd€😀\u{2028}\u{85}"),
    ("mixed", " it's \"$x\" #\\ 1=2\n "),
];

const TEMPLATE: &str = r#"apiVersion: devarch.io/v1alpha1
kind: Template
metadata: {name: bb}
spec:
  image: devarch-fixture/busybox:1
  command: [sh, -c, "trap 'exit 0' TERM INT; touch /tmp/ready; httpd -f -p 8080 -h /tmp & wait"]
  healthcheck: {test: [CMD-SHELL, "wget -q -O /dev/null http://127.0.0.1:8080/ready"], interval: 1s, timeout: 2s, retries: 30}
  ports: [{container: 8080, host: auto}]
  volumes: [{name: data, target: /data}]
  env: {TOKEN: {secret: token, generate: true}, PRICE: "5$ on", WHEN: "1:30"}
  exports: [{name: http, type: http, port: 8080}]
"#;

/// Validates the YAML file at `path` against the vendored Compose schema with Python
/// `jsonschema` (draft 7); the errors, if any.
fn schema_errors(path: &Path) -> String {
    let script = r#"
import json, sys, yaml, jsonschema
schema = json.load(open("tests/fixtures/compose-spec/compose-spec.json"))
doc = yaml.safe_load(open(sys.argv[1]))
errors = list(jsonschema.Draft7Validator(schema).iter_errors(doc))
for e in errors:
    print("/".join(map(str, e.path)), e.message)
sys.exit(1 if errors else 0)
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    if out.status.success() {
        String::new()
    } else {
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

/// The engine's Compose tool on `file` (in its own folder, which holds `.env`), at the
/// endpoint under test.
fn compose_tool(env: &Env, project: &str, file: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = match env.engine {
        Engine::Docker => {
            let mut c = Command::new("/usr/bin/docker-compose");
            c.env("DOCKER_HOST", env.engine.endpoint());
            c
        }
        Engine::Podman => {
            let mut c = Command::new(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tools/venv/bin/podman-compose"),
            );
            // Standalone containers, as devarch makes them (by default it makes a pod).
            c.args(["--in-pod", "false"]);
            if !env.engine.at_default_endpoint() {
                c.env("CONTAINER_HOST", env.engine.endpoint());
            }
            c
        }
    };
    cmd.current_dir(file.parent().unwrap())
        .args(["-p", project, "-f"])
        .arg(file)
        .args(args)
        .output()
        .unwrap()
}

fn compose_output_runs_under_compose_and_devarch_agrees_with_what_it_made(env: Env) {
    let s = format!("cz{}", unique());
    let odd_env = ODD_VALUES
        .iter()
        .map(|(name, _)| format!("E_{}: {{secret: {name}}}", name.to_uppercase()))
        .collect::<Vec<_>>()
        .join(", ");
    env.write("t.yaml", TEMPLATE);
    env.write(
        "s.yaml",
        &stack(
            &s,
            &format!("    api:\n      template: bb\n      env: {{{odd_env}}}\n      resources: {{cpus: 0.5, memory: 64Mi, pids: 100}}\n      configFiles: [{{path: /etc/app.conf, content: \"x=1\", mode: \"0640\"}}]\n    web:\n      template: bb\n      dependsOn: [{{name: api, condition: healthy}}]\n"),
        ),
    );
    for (name, value) in ODD_VALUES {
        let (code, out, err) = env.set_secret(&s, &format!("api/{name}"), value);
        assert_eq!(code, 0, "{out}\n{err}");
    }
    let project_dir = env.home.path().join("compose");
    std::fs::create_dir(&project_dir).unwrap();
    let file = project_dir.join("docker-compose.yml");
    let env_file = project_dir.join(".env");
    let (yaml, err) = env.expect(
        &["compose", &s, "--env-file", env_file.to_str().unwrap()],
        0,
    );
    let secrets = 2 + ODD_VALUES.len();
    assert!(
        err.contains(&format!("Wrote the values of {secrets} secrets")),
        "{err}"
    );
    std::fs::write(&file, &yaml).unwrap();
    let mode = std::fs::metadata(&env_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let values = std::fs::read_to_string(&env_file).unwrap();
    let token = values
        .lines()
        .find_map(|l| l.strip_prefix("DEVARCH_SECRET_API_TOKEN="))
        .expect("api's token in the env file")
        .to_string();
    assert_eq!(token.len(), 32);
    assert!(!yaml.contains(&token), "a secret value in the Compose file");
    assert!(yaml.contains("${DEVARCH_SECRET_API_TOKEN}"), "{yaml}");
    // --env-file never overwrites.
    let (code, _, err) = env.run(&["compose", &s, "--env-file", env_file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("exists"), "{err}");

    let errors = schema_errors(&file);
    assert!(errors.is_empty(), "not valid Compose:\n{errors}\n{yaml}");
    let project = format!("devarch-{s}");
    let out = compose_tool(&env, &project, &file, &["config"]);
    assert!(out.status.success(), "config: {out:?}");

    let out = compose_tool(&env, &project, &file, &["up", "-d"]);
    assert!(out.status.success(), "up: {out:?}\n{yaml}");
    // The two tools agree: nothing for devarch to do on what Compose made.
    let (plan, _) = env.expect(&["plan", &s], 0);
    assert!(plan.contains("up to date"), "{plan}");
    let api = format!("devarch-{s}-api");
    assert_eq!(env.sh(&api, "printf %s \"$TOKEN\""), token);
    assert_eq!(env.sh(&api, "printf %s \"$PRICE|$WHEN\""), "5$ on|1:30");
    assert_eq!(env.sh(&api, "cat /etc/app.conf"), "x=1");
    for (name, value) in ODD_VALUES {
        let var = format!("E_{}", name.to_uppercase());
        let got = env.sh(&api, &format!("printf %s \"${var}\"; printf ."));
        assert_eq!(
            got.strip_suffix('.'),
            Some(*value),
            "{var} through the env file"
        );
    }
    let limits = env
        .engine
        .cli()
        .args([
            "inspect",
            "--format",
            "{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}",
            &api,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&limits.stdout).trim(),
        "500000000 67108864 100"
    );
    assert!(
        env.expect(&["apply", &s], 0).0.contains("up to date"),
        "apply changes nothing either"
    );

    // One service alone: valid, and without dependencies on services it does not hold.
    let (single, _) = env.expect(&["compose", &s, "--instance", "web"], 0);
    let single_file = project_dir.join("web.yml");
    std::fs::write(&single_file, &single).unwrap();
    let errors = schema_errors(&single_file);
    assert!(errors.is_empty(), "{errors}\n{single}");
    assert!(
        single.contains(&format!("container_name: 'devarch-{s}-web'")),
        "{single}"
    );
    assert!(
        !single.contains(&api) && !single.contains("depends_on"),
        "{single}"
    );
    let (code, _, err) = env.run(&["compose", &s, "--instance", "nope"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no instance \"nope\"") && err.contains("api, web"),
        "{err}"
    );

    // A value the clients would change is refused, named by its secret, never shown.
    let (code, out, err) = env.set_secret(&s, "api/dollar", "a${HOME}b");
    assert_eq!(code, 0, "{out}\n{err}");
    let refused_file = project_dir.join("refused.env");
    let (code, out, err) = env.run(&["compose", &s, "--env-file", refused_file.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.is_empty(), "a Compose file printed despite the refusal");
    assert!(
        err.contains("secret api/dollar (DEVARCH_SECRET_API_DOLLAR)")
            && err.contains("${")
            && !err.contains("a${HOME}b"),
        "{err}"
    );
    assert!(
        !refused_file.exists(),
        "an env file written despite the refusal"
    );

    // devarch removes what Compose made (on Podman, web was made to depend on api).
    env.expect(&["delete", &s, "--purge"], 0);
    assert!(env.containers(&format!("devarch-{s}-")).is_empty());
}

//! `devarch kube` on Docker and Podman (issue #14, section 3): the stack's Kubernetes objects
//! pass `kubernetes-validate --strict` (PyPI, offline schemas) for two Kubernetes versions, as
//! do the CRDs in `crds/`; the wired database host is the provider's Service name; a volume
//! makes a StatefulSet, config files a ConfigMap, the health check a readiness probe, limits
//! requests and limits; the secret's value is in no output unless `--with-secrets`, and then
//! only in a 0600 file of Secrets that validates too.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Env, unique};
use devarch::manifests::yaml::parse_documents;
use serde_json::Value;

engine_tests!(the_kubernetes_objects_validate_and_keep_secrets_out,);

/// The Kubernetes versions the output and the CRDs are checked against.
const VERSIONS: [&str; 2] = ["1.30.0", "1.34.0"];

/// `kubernetes-validate --strict` of `files` for every version in [`VERSIONS`].
fn validate(files: &[&str]) {
    let tool = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/tools/venv/bin/kubernetes-validate"
    );
    for version in VERSIONS {
        let out = std::process::Command::new(tool)
            .args(["--strict", "--quiet", "-k", version])
            .args(files)
            .output()
            .expect("kubernetes-validate (scripts/tools.sh installs it)");
        assert!(
            out.status.success(),
            "kubernetes-validate -k {version} {files:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn the_kubernetes_objects_validate_and_keep_secrets_out(env: Env) {
    let s = format!("k{}", unique());
    env.write(
        "blog.yaml",
        &format!(
            r#"apiVersion: devarch.io/v1alpha1
kind: Stack
metadata: {{name: {s}}}
spec:
  instances:
    db: {{template: postgres, resources: {{cpus: 0.5, memory: 256Mi}}}}
    web:
      template: django
      env: {{API_TOKEN: {{secret: token}}}}
      configFiles: [{{path: /etc/app/settings.ini, content: "debug = true\n"}}]
"#
        ),
    );
    let canary = format!("kube-canary-{}", unique());
    let (code, _, err) = env.set_secret(&s, "web/token", &canary);
    assert_eq!(code, 0, "{err}");

    // Printed: valid for both versions, no secret value.
    let (printed, _) = env.expect(&["kube", &s], 0);
    assert!(!printed.contains(&canary));
    assert!(
        printed.contains("create secret generic web-secrets --from-literal=token="),
        "how to create the referenced Secret: {printed}"
    );
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let (said, _) = env.expect(&["kube", &s, "-o", dir], 0);
    assert!(!said.contains(&canary));
    let file = out.path().join(format!("{s}.yaml"));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(&canary), "{text}");
    assert!(!out.path().join(format!("{s}-secrets.yaml")).exists());
    validate(&[file.to_str().unwrap()]);
    let crds: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/crds"))
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .collect();
    validate(&crds.iter().map(String::as_str).collect::<Vec<_>>());

    // What the objects say.
    let docs: Vec<Value> = parse_documents(&text)
        .unwrap()
        .into_iter()
        .map(|d| d.value)
        .collect();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in:\n{text}"))
    };
    assert_eq!(find("Namespace", &s)["metadata"]["name"], s.as_str());
    let db = find("StatefulSet", "db");
    assert_eq!(db["metadata"]["namespace"], s.as_str());
    assert!(
        db["spec"]["volumeClaimTemplates"]
            .as_array()
            .is_some_and(|v| !v.is_empty())
    );
    let db_container = &db["spec"]["template"]["spec"]["containers"][0];
    assert!(
        db_container["readinessProbe"]["exec"]["command"].is_array(),
        "{db}"
    );
    assert_eq!(db_container["resources"]["limits"]["cpu"], "500m");
    assert_eq!(
        db_container["resources"]["requests"]["memory"],
        (256 * 1024 * 1024).to_string()
    );
    assert!(find("Service", "db")["spec"]["ports"][0]["port"] == 5432);
    let web = find("Deployment", "web");
    let web_container = &web["spec"]["template"]["spec"]["containers"][0];
    let env_of = |name: &str| {
        web_container["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {web_container}"))
            .clone()
    };
    assert_eq!(
        env_of("DB_HOST")["value"],
        "db",
        "the wired host is the Service name"
    );
    assert!(
        !text.contains(&format!("devarch-{s}-db")),
        "no engine container name is left in the objects"
    );
    assert_eq!(
        env_of("API_TOKEN")["valueFrom"]["secretKeyRef"],
        serde_json::json!({"name": "web-secrets", "key": "token"})
    );
    assert_eq!(
        find("ConfigMap", "web-files")["data"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
    assert!(
        web_container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"] == "/etc/app/settings.ini" && m["readOnly"] == true)
    );

    // With --with-secrets: the values only in a 0600 file of Secrets, which validates.
    let (said, _) = env.expect(&["kube", &s, "-o", dir, "--with-secrets"], 0);
    assert!(!said.contains(&canary));
    let secrets = out.path().join(format!("{s}-secrets.yaml"));
    let secret_text = std::fs::read_to_string(&secrets).unwrap();
    assert!(secret_text.contains(&canary), "{secret_text}");
    assert_eq!(
        std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!std::fs::read_to_string(&file).unwrap().contains(&canary));
    validate(&[secrets.to_str().unwrap()]);
    let (code, _, err) = env.run(&["kube", &s, "--with-secrets"]);
    assert_eq!(code, 2, "--with-secrets needs --out: {err}");
}

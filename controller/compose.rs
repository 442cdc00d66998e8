/*! Compose output: a stack's desired state as one Compose-spec file (`devarch compose`).

Everything a container is created with comes from the desired state (the same names, labels —
devarch's config hash included —, network, aliases, volumes, host ports, health checks and
limits), so containers that `docker-compose up` creates from the file are the ones `devarch
plan` expects. What differs on purpose:

- secret values are `${NAME}` placeholders ([`secret_variable`]); the values go to an env
  file only when asked ([`env_file`]);
- literal `$` in values is written `$$`, which Compose reads back as `$`;
- the project name is not in the file (`docker-compose` 1.29 refuses the top-level `name`):
  pass `-p devarch-STACK`.

Pure: the caller builds the desired state and materialises the config files.
*/

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::manifests::quantity::{format_cpus, format_duration};
use crate::manifests::service::DependencyCondition;
use crate::resolve::desired::{DesiredContainer, DesiredStack};
use crate::resolve::{EnvPart, ResolvedStack};
use crate::runtime::{HealthSpec, MountSource};

/// A Compose file and the secrets its placeholders stand for.
#[derive(Debug)]
pub struct ComposeFile {
    /// The document, in Compose's key order.
    pub document: Value,
    /// `(variable, instance, secret name)` of every placeholder, sorted by variable.
    pub secrets: Vec<(String, String, String)>,
}

/// What every secret variable starts with ([`secret_variable`]).
pub const SECRET_VARIABLE_PREFIX: &str = "DEVARCH_SECRET_";

/// The Compose variable holding secret `name` of `instance`:
/// `DEVARCH_SECRET_{INSTANCE}_{NAME}`, upper case, anything but letters and digits as `_`.
pub fn secret_variable(instance: &str, name: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "{SECRET_VARIABLE_PREFIX}{}_{}",
        clean(instance),
        clean(name)
    )
}

/// The Compose file of `desired` (built from `resolved`), with every instance or only `only`.
///
/// # Errors
/// Two secrets whose variables would be spelled alike (`db/pass-word`, `db/pass_word`).
pub fn render(
    resolved: &ResolvedStack,
    desired: &DesiredStack,
    only: Option<&str>,
) -> Result<ComposeFile, String> {
    let mut services = Map::new();
    let mut volumes = Map::new();
    let mut secrets: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (name, c) in &desired.containers {
        if only.is_some_and(|o| o != name) {
            continue;
        }
        let env = environment(resolved, c, &mut secrets)?;
        services.insert(
            name.clone(),
            service(c, env, only.is_none(), &desired.network),
        );
        for m in &c.spec.mounts {
            if let MountSource::Volume { name } = &m.source {
                let labels = desired.volumes.get(name).cloned().unwrap_or_default();
                volumes.insert(name.clone(), json!({"name": name, "labels": labels}));
            }
        }
    }
    let mut doc = Map::new();
    doc.insert("services".into(), Value::Object(services));
    doc.insert(
        "networks".into(),
        json!({desired.network.clone(): {"name": desired.network, "labels": desired.network_labels}}),
    );
    if !volumes.is_empty() {
        doc.insert("volumes".into(), Value::Object(volumes));
    }
    Ok(ComposeFile {
        document: Value::Object(doc),
        secrets: secrets
            .into_iter()
            .map(|(var, (instance, name))| (var, instance, name))
            .collect(),
    })
}

/// `s` with every `$` doubled, as Compose reads a literal `$`.
fn escape(s: &str) -> String {
    s.replace('$', "$$")
}

/// The container's environment, literal text escaped and secrets as placeholders.
fn environment(
    resolved: &ResolvedStack,
    c: &DesiredContainer,
    secrets: &mut BTreeMap<String, (String, String)>,
) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    let Some(inst) = resolved.instances.get(&c.instance) else {
        return Ok(out);
    };
    for (key, template) in &inst.env {
        let mut value = String::new();
        for part in &template.0 {
            match part {
                EnvPart::Lit(s) => value.push_str(&escape(s)),
                EnvPart::Secret { instance, name } => {
                    let var = secret_variable(instance, name);
                    let owner = (instance.clone(), name.clone());
                    match secrets.get(&var) {
                        Some(other) if *other != owner => {
                            return Err(format!(
                                "secrets {}/{} and {}/{} would both be ${{{var}}} in Compose; rename one",
                                other.0, other.1, instance, name
                            ));
                        }
                        _ => {
                            secrets.insert(var.clone(), owner);
                        }
                    }
                    value.push_str(&format!("${{{var}}}"));
                }
            }
        }
        out.insert(key.clone(), Value::String(value));
    }
    Ok(out)
}

/// One service: the container's settings in Compose's spelling.
fn service(
    c: &DesiredContainer,
    env: Map<String, Value>,
    with_dependencies: bool,
    network: &str,
) -> Value {
    let spec = &c.spec;
    let mut s = Map::new();
    s.insert("container_name".into(), json!(spec.name));
    s.insert("image".into(), json!(spec.image));
    if let Some(e) = &spec.entrypoint {
        s.insert("entrypoint".into(), json!(escape_all(e)));
    }
    if let Some(cmd) = &spec.command {
        s.insert("command".into(), json!(escape_all(cmd)));
    }
    if let Some(w) = &spec.working_dir {
        s.insert("working_dir".into(), json!(escape(w)));
    }
    if let Some(u) = &spec.user {
        s.insert("user".into(), json!(escape(u)));
    }
    if let Some(h) = &spec.hostname {
        s.insert("hostname".into(), json!(h));
    }
    if !env.is_empty() {
        s.insert("environment".into(), Value::Object(env));
    }
    let labels: Map<String, Value> = spec
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(escape(v))))
        .collect();
    s.insert("labels".into(), Value::Object(labels));
    s.insert(
        "networks".into(),
        // Under its real name, not `default` (which podman-compose 1.0 does not resolve).
        json!({network: {"aliases": spec.aliases}}),
    );
    if !spec.ports.is_empty() {
        // The short syntax: docker-compose 1.29 knows no `host_ip` in the long one.
        let ports: Vec<String> = spec
            .ports
            .iter()
            .map(|p| {
                let ip = match p.host_ip.as_deref() {
                    Some(ip) if ip.contains(':') => format!("[{ip}]:"),
                    Some(ip) => format!("{ip}:"),
                    None => String::new(),
                };
                format!("{ip}{}:{}/{}", p.host_port, p.container_port, p.protocol)
            })
            .collect();
        s.insert("ports".into(), json!(ports));
    }
    if !spec.mounts.is_empty() {
        let mounts: Vec<Value> = spec
            .mounts
            .iter()
            .map(|m| {
                let (kind, source) = match &m.source {
                    MountSource::Volume { name } => ("volume", name),
                    MountSource::Bind { path } => ("bind", path),
                };
                let source = match &m.source {
                    // Compose reads a relative path from the compose file's folder, wherever
                    // that is: an absolute one means the place devarch means.
                    MountSource::Bind { path } => absolute(path),
                    MountSource::Volume { .. } => source.clone(),
                };
                let mut v = json!({"type": kind, "source": source, "target": m.target});
                if m.read_only {
                    v["read_only"] = json!(true);
                }
                v
            })
            .collect();
        s.insert("volumes".into(), json!(mounts));
    }
    if let Some(h) = &spec.healthcheck {
        s.insert("healthcheck".into(), healthcheck(h));
    }
    if with_dependencies && !c.depends_on.is_empty() {
        let deps: Map<String, Value> = c
            .depends_on
            .iter()
            .map(|(name, condition)| {
                let condition = match condition {
                    DependencyCondition::Healthy => "service_healthy",
                    DependencyCondition::Started => "service_started",
                };
                (name.clone(), json!({"condition": condition}))
            })
            .collect();
        s.insert("depends_on".into(), Value::Object(deps));
    }
    let mut limits = Map::new();
    if let Some(n) = spec.nano_cpus {
        limits.insert("cpus".into(), json!(format_cpus(n)));
    }
    if let Some(m) = spec.memory {
        limits.insert("memory".into(), json!(m.to_string()));
    }
    if !limits.is_empty() {
        s.insert("deploy".into(), json!({"resources": {"limits": limits}}));
    }
    // Service level: docker-compose 1.29 knows no `deploy.resources.limits.pids`.
    if let Some(p) = spec.pids_limit {
        s.insert("pids_limit".into(), json!(p));
    }
    Value::Object(s)
}

/// `path` made absolute against the working directory (a relative `--home` or `--dir`).
fn absolute(path: &str) -> String {
    std::path::absolute(path).map_or_else(|_| path.to_string(), |p| p.display().to_string())
}

fn escape_all(items: &[String]) -> Vec<String> {
    items.iter().map(|s| escape(s)).collect()
}

fn healthcheck(h: &HealthSpec) -> Value {
    let mut v = Map::new();
    v.insert("test".into(), json!(escape_all(&h.test)));
    for (key, d) in [
        ("interval", h.interval),
        ("timeout", h.timeout),
        ("start_period", h.start_period),
    ] {
        if let Some(d) = d {
            v.insert(key.into(), json!(format_duration(d)));
        }
    }
    if let Some(r) = h.retries {
        v.insert("retries".into(), json!(r));
    }
    Value::Object(v)
}

/// An env file (`VAR=value` lines) giving each placeholder its value, for `docker-compose
/// --env-file` and `podman-compose --env-file`; `values` are (variable, secret, value). A
/// value is written as is when it holds only characters no env file parser treats specially,
/// else in single quotes with `\` and `'` escaped, which both clients (python-dotenv) read
/// back unchanged: `$`, `$$`, `"`, `#`, `=`, spaces at either end, tabs, line feeds and
/// non-ASCII text included (tests/compose.rs runs each through both clients).
///
/// # Errors
/// A value the clients would change, named by its secret and variable, never shown:
/// see [`env_file_refusal`].
pub fn env_file(values: &[(String, String, String)]) -> Result<String, String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+,".contains(c);
    let mut out = String::new();
    for (var, secret, value) in values {
        if !value.is_empty() && value.chars().all(plain) {
            out.push_str(&format!("{var}={value}\n"));
        } else if let Some(why) = env_file_refusal(value) {
            return Err(format!(
                "secret {secret} ({var}) cannot be written to an env file unchanged: its value {why}; set a value without it, or pass the value to Compose another way"
            ));
        } else {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            out.push_str(&format!("{var}='{quoted}'\n"));
        }
    }
    Ok(out)
}

/// Why docker-compose or podman-compose would not read `value` back unchanged from a
/// single-quoted env file line, if they would not (both parse env files with python-dotenv):
/// - `${` starts a variable they expand even inside quotes, and `$${` does not escape it;
/// - a carriage return is read as a line feed;
/// - a trailing `\` makes the closing quote read as escaped, joining the next line;
/// - NUL cannot be in a process's environment.
pub fn env_file_refusal(value: &str) -> Option<&'static str> {
    if value.contains("${") {
        Some("holds `${`, which both clients expand as a variable even inside quotes (`$${` too)")
    } else if value.contains('\r') {
        Some("holds a carriage return, which both clients read as a line feed")
    } else if value.ends_with('\\') {
        Some("ends with a backslash, which both clients read as escaping the closing quote")
    } else if value.contains('\0') {
        Some("holds a NUL character, which no environment variable can hold")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_variables_are_upper_case_words() {
        assert_eq!(
            secret_variable("db", "password"),
            "DEVARCH_SECRET_DB_PASSWORD"
        );
        assert_eq!(
            secret_variable("db-2", "root-password"),
            "DEVARCH_SECRET_DB_2_ROOT_PASSWORD"
        );
    }

    #[test]
    fn dollars_are_doubled() {
        assert_eq!(escape("a$b$$c"), "a$$b$$$$c");
    }

    #[test]
    fn env_file_values_are_plain_or_single_quoted_with_escapes_or_refused() {
        let v = |s: &str| vec![("V".to_string(), "db/password".to_string(), s.to_string())];
        assert_eq!(env_file(&v("Abc123")).unwrap(), "V=Abc123\n");
        assert_eq!(env_file(&v("")).unwrap(), "V=''\n");
        assert_eq!(env_file(&v("a b$c\"")).unwrap(), "V='a b$c\"'\n");
        assert_eq!(env_file(&v("it's")).unwrap(), "V='it\\'s'\n");
        assert_eq!(env_file(&v("a\\b")).unwrap(), "V='a\\\\b'\n");
        assert_eq!(env_file(&v("two\nlines")).unwrap(), "V='two\nlines'\n");
        for refused in ["a${HOME}b", "a$${HOME}b", "x\r\ny", "ends\\", "nul\0"] {
            let err = env_file(&v(refused)).unwrap_err();
            assert!(
                err.contains("secret db/password (V)") && !err.contains(refused),
                "{err}"
            );
        }
    }
}

/*! Kubernetes output: a stack's desired state as Kubernetes objects (`devarch kube`).

One Namespace per stack (named like it). Per instance: a Deployment, or a StatefulSet when it
has named volumes (each a `volumeClaimTemplate`, so a PersistentVolumeClaim per volume); a
Service named like the instance with its exported and declared container ports (headless
when it has none), so a consumer's wired host — the provider's container name on the engine —
becomes the provider's Service name; a ConfigMap holding its config files, mounted file by
file. Health checks become readiness probes, CPU and memory limits both requests and limits,
secrets references to a Secret per owning instance (`{instance}-secrets`, one key per secret),
whose values are written only when asked. devarch's labels stay labels where Kubernetes
allows their keys and values, else they become annotations.

What does not carry over, each listed in [`KubeOutput::notes`]: published host ports (use a
Service of type NodePort or `kubectl port-forward`), start order (`dependsOn`; readiness
probes and retries stand in), the pids limit, user names (only numeric users become
`runAsUser`), and bind mounts of host folders (written as `hostPath`, which only a single-node
cluster on the same machine can honour).

Pure: the caller builds the desired state.
*/

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::resolve::desired::{DesiredContainer, DesiredStack};
use crate::resolve::{EnvPart, ResolvedStack};
use crate::runtime::{HealthSpec, MountSource};

/// The objects of a stack and what did not carry over.
#[derive(Debug)]
pub struct KubeOutput {
    /// The Namespace first, then per instance its objects; Secrets last (only with values).
    pub objects: Vec<Value>,
    /// `(instance, what was left out and why)`.
    pub notes: Vec<(String, String)>,
    /// `(instance, secret name)` of every secret referenced, for `kubectl create secret`.
    pub secrets: Vec<(String, String)>,
}

/// Why the stack cannot be written as Kubernetes objects.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// An instance name Kubernetes does not take as a Service name.
    #[error(
        "instance {0:?} cannot name a Kubernetes Service (it must start with a letter); rename it"
    )]
    ServiceName(String),
}

/// The label key devarch selects an instance's pods by.
const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// Whether Kubernetes takes `key: value` as a label (else it goes to annotations).
fn label_ok(key: &str, value: &str) -> bool {
    let name_ok = |s: &str, max: usize| {
        s.len() <= max
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && s.chars().last().is_some_and(|c| c.is_ascii_alphanumeric())
    };
    let key_ok = match key.split_once('/') {
        Some((prefix, name)) => prefix.len() <= 253 && name_ok(prefix, 253) && name_ok(name, 63),
        None => name_ok(key, 63),
    };
    key_ok && (value.is_empty() || name_ok(value, 63))
}

/// The Kubernetes objects of `desired` (built from `resolved`); `values` holds secret values
/// by `(instance, name)` when they are to be written.
///
/// # Errors
/// [`KubeError`].
pub fn render(
    resolved: &ResolvedStack,
    desired: &DesiredStack,
    values: Option<&BTreeMap<(String, String), String>>,
) -> Result<KubeOutput, KubeError> {
    let ns = desired.name.as_str();
    let mut out = KubeOutput {
        objects: vec![json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {
                "app.kubernetes.io/part-of": ns,
                "app.kubernetes.io/managed-by": "devarch",
            }},
        })],
        notes: Vec::new(),
        secrets: Vec::new(),
    };
    let hosts: Vec<(String, String)> = desired
        .containers
        .values()
        .map(|c| (c.spec.name.clone(), c.instance.clone()))
        .collect();
    for (name, c) in &desired.containers {
        if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(KubeError::ServiceName(name.clone()));
        }
        instance_objects(resolved, ns, c, &hosts, &mut out);
    }
    out.secrets.sort();
    out.secrets.dedup();
    if let Some(values) = values {
        let mut per_owner: BTreeMap<&str, Map<String, Value>> = BTreeMap::new();
        for (owner, secret) in &out.secrets {
            if let Some(v) = values.get(&(owner.clone(), secret.clone())) {
                per_owner
                    .entry(owner)
                    .or_default()
                    .insert(secret.clone(), json!(v));
            }
        }
        for (owner, data) in per_owner {
            out.objects.push(json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": secret_object(owner), "namespace": ns},
                "type": "Opaque",
                "stringData": data,
            }));
        }
    }
    Ok(out)
}

/// The Secret holding the secrets of `instance`.
pub fn secret_object(instance: &str) -> String {
    format!("{instance}-secrets")
}

/// `text` with every container name of the stack (`hosts`: container name → instance) that
/// stands alone (not part of a longer name) replaced by the instance's Service name.
fn service_hosts(text: &str, hosts: &[(String, String)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    'scan: while !rest.is_empty() {
        let at_boundary = out
            .chars()
            .last()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        if at_boundary {
            // Longest first: `devarch-s-db2` before `devarch-s-db`.
            let mut found: Option<&(String, String)> = None;
            for h in hosts {
                let ends = rest.strip_prefix(h.0.as_str()).is_some_and(|after| {
                    after
                        .chars()
                        .next()
                        .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                });
                if ends && found.is_none_or(|f| f.0.len() < h.0.len()) {
                    found = Some(h);
                }
            }
            if let Some((container, instance)) = found {
                out.push_str(instance);
                rest = &rest[container.len()..];
                continue 'scan;
            }
        }
        let c = rest.chars().next().expect("not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The container's env: literal text with hosts as Service names, secrets as references.
fn environment(
    resolved: &ResolvedStack,
    c: &DesiredContainer,
    hosts: &[(String, String)],
    out: &mut KubeOutput,
) -> Vec<Value> {
    let Some(inst) = resolved.instances.get(&c.instance) else {
        return Vec::new();
    };
    let mut env = Vec::new();
    for (key, template) in &inst.env {
        match template.0.as_slice() {
            [EnvPart::Secret { instance, name }] => {
                out.secrets.push((instance.clone(), name.clone()));
                env.push(json!({"name": key, "valueFrom": {"secretKeyRef": {
                    "name": secret_object(instance), "key": name,
                }}}));
            }
            parts => {
                let mut value = String::new();
                for part in parts {
                    match part {
                        EnvPart::Lit(s) => value.push_str(&service_hosts(s, hosts)),
                        EnvPart::Secret { instance, name } => {
                            // A secret inside text: a variable reference Kubernetes expands.
                            let var = format!("DEVARCH_SECRET_{}", env.len());
                            out.secrets.push((instance.clone(), name.clone()));
                            env.insert(
                                0,
                                json!({"name": var, "valueFrom": {"secretKeyRef": {
                                    "name": secret_object(instance), "key": name,
                                }}}),
                            );
                            value.push_str(&format!("$({var})"));
                        }
                    }
                }
                env.push(json!({"name": key, "value": value}));
            }
        }
    }
    env
}

/// Labels and annotations from the container's labels (what Kubernetes allows as labels).
fn labels_of(c: &DesiredContainer, ns: &str) -> (Map<String, Value>, Map<String, Value>) {
    let mut labels = Map::new();
    let mut annotations = Map::new();
    for (k, v) in &c.spec.labels {
        if label_ok(k, v) {
            labels.insert(k.clone(), json!(v));
        } else {
            annotations.insert(k.clone(), json!(v));
        }
    }
    labels.insert(INSTANCE_LABEL.into(), json!(c.instance));
    labels.insert("app.kubernetes.io/part-of".into(), json!(ns));
    labels.insert("app.kubernetes.io/managed-by".into(), json!("devarch"));
    (labels, annotations)
}

/// Seconds, at least 1.
fn seconds(d: std::time::Duration) -> u64 {
    d.as_secs().max(1)
}

fn probe(h: &HealthSpec) -> Option<Value> {
    let command: Vec<String> = match h.test.first().map(String::as_str) {
        Some("CMD") => h.test[1..].to_vec(),
        Some("CMD-SHELL") => vec!["/bin/sh".into(), "-c".into(), h.test[1..].join(" ")],
        _ => return None,
    };
    let mut p = Map::new();
    p.insert("exec".into(), json!({"command": command}));
    if let Some(d) = h.interval {
        p.insert("periodSeconds".into(), json!(seconds(d)));
    }
    if let Some(d) = h.timeout {
        p.insert("timeoutSeconds".into(), json!(seconds(d)));
    }
    if let Some(r) = h.retries {
        p.insert("failureThreshold".into(), json!(r.max(1)));
    }
    if let Some(d) = h.start_period {
        p.insert("initialDelaySeconds".into(), json!(d.as_secs()));
    }
    Some(Value::Object(p))
}

/// A ConfigMap key for the `index`th config file, mounted at `target`.
fn file_key(index: usize, target: &str) -> String {
    let base: String = target
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("f{index}-{base}")
}

/// The objects of one instance.
fn instance_objects(
    resolved: &ResolvedStack,
    ns: &str,
    c: &DesiredContainer,
    hosts: &[(String, String)],
    out: &mut KubeOutput,
) {
    let spec = &c.spec;
    let name = c.instance.as_str();
    let note = |out: &mut KubeOutput, what: String| out.notes.push((name.to_string(), what));
    let (labels, annotations) = labels_of(c, ns);
    let selector = json!({INSTANCE_LABEL: name});
    let env = environment(resolved, c, hosts, out);

    let mut container = Map::new();
    container.insert("name".into(), json!(name));
    container.insert("image".into(), json!(spec.image));
    if let Some(e) = &spec.entrypoint {
        container.insert("command".into(), json!(e));
    }
    if let Some(cmd) = &spec.command {
        container.insert("args".into(), json!(cmd));
    }
    if let Some(w) = &spec.working_dir {
        container.insert("workingDir".into(), json!(w));
    }
    if !env.is_empty() {
        container.insert("env".into(), json!(env));
    }

    // Ports: what the instance declares and exports.
    let mut ports: BTreeMap<(u16, &str), ()> = BTreeMap::new();
    if let Some(inst) = resolved.instances.get(name) {
        for p in &inst.spec.ports {
            ports.insert(
                (p.container, if p.protocol.is_tcp() { "TCP" } else { "UDP" }),
                (),
            );
        }
        for e in &inst.spec.exports {
            ports.insert(
                (e.port, if e.protocol.is_tcp() { "TCP" } else { "UDP" }),
                (),
            );
        }
    }
    if !ports.is_empty() {
        let list: Vec<Value> = ports
            .keys()
            .map(|(p, proto)| json!({"containerPort": p, "protocol": proto}))
            .collect();
        container.insert("ports".into(), json!(list));
    }
    if !spec.ports.is_empty() {
        let published: Vec<String> = spec
            .ports
            .iter()
            .map(|p| format!("{}->{}", p.host_port, p.container_port))
            .collect();
        note(
            out,
            format!(
                "published host ports ({}) are not carried over: use `kubectl port-forward` or a NodePort Service",
                published.join(", ")
            ),
        );
    }
    if let Some(h) = spec.healthcheck.as_ref().and_then(probe) {
        container.insert("readinessProbe".into(), h);
    }
    let mut limits = Map::new();
    if let Some(n) = spec.nano_cpus {
        limits.insert("cpu".into(), json!(format!("{}m", (n / 1_000_000).max(1))));
    }
    if let Some(m) = spec.memory {
        limits.insert("memory".into(), json!(m.to_string()));
    }
    if !limits.is_empty() {
        container.insert(
            "resources".into(),
            json!({"requests": limits.clone(), "limits": limits}),
        );
    }
    if spec.pids_limit.is_some() {
        note(
            out,
            "the pids limit has no per-container equivalent (set podPidsLimit on the kubelet)"
                .into(),
        );
    }
    let mut pod = Map::new();
    match spec
        .user
        .as_deref()
        .map(|u| u.split_once(':').unwrap_or((u, "")))
    {
        Some((uid, gid)) if uid.parse::<u64>().is_ok() => {
            let mut sc = json!({"runAsUser": uid.parse::<u64>().unwrap_or_default()});
            if let Ok(g) = gid.parse::<u64>() {
                sc["runAsGroup"] = json!(g);
            }
            pod.insert("securityContext".into(), sc);
        }
        Some((user, _)) => note(
            out,
            format!("user {user:?} is a name: Kubernetes takes numeric users only (runAsUser)"),
        ),
        None => {}
    }
    if !c.depends_on.is_empty() {
        note(
            out,
            "start order (dependsOn) does not carry over: pods start together; readiness probes and restarts stand in".into(),
        );
    }

    // Mounts: named volumes → claims; config files → the ConfigMap; other binds → hostPath.
    let mut mounts = Vec::new();
    let mut pod_volumes = Vec::new();
    let mut claims = Vec::new();
    let mut files = Map::new();
    let mut items = Vec::new();
    for m in &spec.mounts {
        match &m.source {
            MountSource::Volume { name: runtime } => {
                let claim = runtime
                    .strip_prefix(&format!("{}{ns}-", crate::identity::OBJECT_PREFIX))
                    .unwrap_or(runtime)
                    .to_string();
                mounts.push(json!({"name": claim, "mountPath": m.target, "readOnly": m.read_only}));
                claims.push(json!({
                    "metadata": {"name": claim},
                    "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                }));
            }
            MountSource::Bind { path } => {
                if let Some(f) = c.files.iter().find(|f| f.host_path.to_str() == Some(path)) {
                    let key = file_key(items.len(), &m.target);
                    files.insert(key.clone(), json!(f.content));
                    items.push(json!({"key": key, "path": key, "mode": f.mode}));
                    mounts.push(json!({"name": "config-files", "mountPath": m.target, "subPath": key, "readOnly": true}));
                } else {
                    let vol = format!("host-{}", pod_volumes.len());
                    note(
                        out,
                        format!(
                            "bind mount {path} → {} is a hostPath: only a single-node cluster on this machine has it",
                            m.target
                        ),
                    );
                    pod_volumes.push(json!({"name": vol, "hostPath": {"path": path}}));
                    mounts
                        .push(json!({"name": vol, "mountPath": m.target, "readOnly": m.read_only}));
                }
            }
        }
    }
    if !files.is_empty() {
        pod_volumes.push(json!({"name": "config-files", "configMap": {"name": format!("{name}-files"), "items": items}}));
    }
    if !mounts.is_empty() {
        container.insert("volumeMounts".into(), json!(mounts));
    }
    pod.insert("containers".into(), json!([Value::Object(container)]));
    if !pod_volumes.is_empty() {
        pod.insert("volumes".into(), json!(pod_volumes));
    }

    let meta = |kind_labels: &Map<String, Value>| {
        let mut m = json!({"name": name, "namespace": ns, "labels": kind_labels});
        if !annotations.is_empty() {
            m["annotations"] = json!(annotations);
        }
        m
    };
    let template = json!({"metadata": {"labels": labels}, "spec": pod});
    let mut service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(&labels),
        "spec": {"selector": selector},
    });
    if ports.is_empty() {
        service["spec"]["clusterIP"] = json!("None");
    } else {
        let list: Vec<Value> = ports
            .keys()
            .map(|(p, proto)| {
                json!({"name": format!("{}-{p}", proto.to_ascii_lowercase()), "port": p, "targetPort": p, "protocol": proto})
            })
            .collect();
        service["spec"]["ports"] = json!(list);
    }
    let workload = if claims.is_empty() {
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(&labels),
            "spec": {"replicas": 1, "selector": {"matchLabels": selector}, "template": template},
        })
    } else {
        json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": meta(&labels),
            "spec": {
                "replicas": 1,
                "serviceName": name,
                "selector": {"matchLabels": selector},
                "template": template,
                "volumeClaimTemplates": claims,
            },
        })
    };
    if !files.is_empty() {
        out.objects.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": format!("{name}-files"), "namespace": ns, "labels": labels},
            "data": files,
        }));
    }
    out.objects.push(service);
    out.objects.push(workload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_names_become_service_names_only_where_they_stand_alone() {
        let hosts = vec![
            ("devarch-s-db".to_string(), "db".to_string()),
            ("devarch-s-db2".to_string(), "db2".to_string()),
        ];
        assert_eq!(
            service_hosts("postgres://u@devarch-s-db:5432/x", &hosts),
            "postgres://u@db:5432/x"
        );
        assert_eq!(service_hosts("devarch-s-db2", &hosts), "db2");
        assert_eq!(
            service_hosts("devarch-s-db-old", &hosts),
            "devarch-s-db-old"
        );
        assert_eq!(service_hosts("xdevarch-s-db", &hosts), "xdevarch-s-db");
        assert_eq!(service_hosts("a,devarch-s-db,é", &hosts), "a,db,é");
    }

    #[test]
    fn labels_kubernetes_refuses_go_to_annotations() {
        assert!(label_ok("devarch.stack", "blog"));
        assert!(label_ok("app.kubernetes.io/instance", "db"));
        assert!(!label_ok("devarch.config_hash", &"a".repeat(64)));
        assert!(!label_ok("devarch.limits", "{\"cpus\":1}"));
        assert!(!label_ok("-bad", "x"));
    }
}

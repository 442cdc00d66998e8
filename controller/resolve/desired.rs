/*! Desired runtime state of a stack: effective instances turned into engine-neutral
container, network and volume specs, with secrets resolved, `auto` host ports assigned and
a config hash per container.

# Config hash
Each container-affecting field of the [`ContainerSpec`] (and the resolved environment) is
hashed on its own; the per-field hashes go into the `devarch.config_fields` label and their
combination, with [`HASH_VERSION`], into `devarch.config_hash`. A plan compares the hash to
decide on a recreate and the per-field hashes to say which fields force it. Bumping
[`HASH_VERSION`] is the only thing that recreates everything after an upgrade.
*/

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{EffectiveInstance, EnvPart, ResolvedStack};
use crate::identity::{
    self, LABEL_CONFIG_FIELDS, LABEL_CONFIG_HASH, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_OWNER,
    LABEL_STACK, LABEL_TEMPLATE, MANAGED_BY_VALUE,
};
use crate::manifests::types::{
    Condition, EnvValue, HostPort, MAX_HEALTH_DURATION, Protocol, nano_cpus, parse_duration,
    parse_memory,
};
use crate::runtime::{ContainerSpec, HealthSpec, Mount, MountSource, PortBinding, PortProtocol};
use crate::state::ports::PortStore;
use crate::state::secrets::SecretStore;

/// Version of the hash format; part of every config hash.
pub const HASH_VERSION: &str = "1";

/// A file devarch writes under `--home` and bind-mounts read-only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterializedFile {
    /// Where it is written on the host.
    pub host_path: PathBuf,
    /// Content.
    pub content: String,
    /// Unix mode.
    pub mode: u32,
}

/// The desired container of one instance.
#[derive(Clone, Debug)]
pub struct DesiredContainer {
    /// Instance name.
    pub instance: String,
    /// Create-time spec (labels include the config hash).
    pub spec: ContainerSpec,
    /// `devarch.config_hash`.
    pub config_hash: String,
    /// Per-field hashes (`devarch.config_fields`).
    pub field_hashes: BTreeMap<String, String>,
    /// Config files to write before the container is created.
    pub files: Vec<MaterializedFile>,
    /// Instances that must be started (or healthy) first.
    pub depends_on: Vec<(String, Condition)>,
    /// Whether the spec has a health check.
    pub has_healthcheck: bool,
}

/// The desired state of one stack.
#[derive(Clone, Debug)]
pub struct DesiredStack {
    /// Stack name.
    pub name: String,
    /// Whether containers should run.
    pub enabled: bool,
    /// Network name.
    pub network: String,
    /// Labels for the network.
    pub network_labels: BTreeMap<String, String>,
    /// Named volumes by runtime name, with their labels.
    pub volumes: BTreeMap<String, BTreeMap<String, String>>,
    /// Containers by instance name.
    pub containers: BTreeMap<String, DesiredContainer>,
    /// Fixed host ports that containers still to be created need but something else holds:
    /// `(instance, "port/proto", holder)`.
    pub busy_ports: Vec<(String, String, String)>,
}

/// Building the desired state failed.
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    /// A referenced secret has no value and may not be generated.
    #[error(
        "secret {name:?} of instance {instance:?} in stack {stack:?} is not set; set it with `devarch secret set {stack} {instance}/{name}` (value on stdin)"
    )]
    MissingSecret {
        /// Stack.
        stack: String,
        /// Instance owning it.
        instance: String,
        /// Secret name.
        name: String,
    },
    /// The secret store failed.
    #[error("secrets: {0}")]
    Secrets(String),
    /// Host port allocation failed.
    #[error("host ports: {0}")]
    Ports(String),
    /// A field value could not be converted.
    #[error("instance {instance:?}: {message}")]
    Invalid {
        /// Instance.
        instance: String,
        /// What is wrong.
        message: String,
    },
}

/// State and context needed to build desired state.
pub struct DesiredContext<'a> {
    /// `--home`.
    pub home: &'a Path,
    /// Value of the `devarch.owner` label (the manifests folder).
    pub owner: &'a str,
    /// Secret values.
    pub secrets: &'a SecretStore,
}

fn hash_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Labels every object of a stack carries.
pub fn base_labels(stack: &str, owner: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (LABEL_STACK.to_string(), stack.to_string()),
        (LABEL_OWNER.to_string(), owner.to_string()),
    ])
}

/// Generated secrets of an instance: names whose reference says `generate: true`.
fn generated_secrets(inst: &EffectiveInstance) -> HashSet<String> {
    inst.spec
        .env
        .values()
        .chain(inst.spec.exports.iter().flat_map(|e| e.attributes.values()))
        .filter_map(|v| match v {
            Some(EnvValue::Secret(r)) if r.generate => Some(r.secret.clone()),
            _ => None,
        })
        .collect()
}

fn resolve_env(
    stack: &ResolvedStack,
    inst: &EffectiveInstance,
    ctx: &DesiredContext<'_>,
) -> Result<Vec<(String, String)>, DesiredError> {
    let mut out = Vec::with_capacity(inst.env.len());
    for (k, v) in &inst.env {
        let mut value = String::new();
        for part in &v.0 {
            match part {
                EnvPart::Lit(s) => value.push_str(s),
                EnvPart::Secret { instance, name } => {
                    let owner = stack.instances.get(instance);
                    let generate = owner.is_some_and(|o| generated_secrets(o).contains(name));
                    let secret = if generate {
                        ctx.secrets
                            .get_or_generate(&stack.name, instance, name)
                            .map(Some)
                    } else {
                        ctx.secrets.get(&stack.name, instance, name)
                    }
                    .map_err(|e| DesiredError::Secrets(e.to_string()))?;
                    let secret = secret.ok_or_else(|| DesiredError::MissingSecret {
                        stack: stack.name.clone(),
                        instance: instance.clone(),
                        name: name.clone(),
                    })?;
                    value.push_str(secret.expose());
                }
            }
        }
        out.push((k.clone(), value));
    }
    Ok(out)
}

/// Host path of a materialized config file.
pub fn config_file_path(home: &Path, stack: &str, instance: &str, target: &str) -> PathBuf {
    let encoded = target.trim_start_matches('/').replace('/', "__");
    home.join("stacks")
        .join(stack)
        .join(instance)
        .join("files")
        .join(encoded)
}

fn invalid(inst: &EffectiveInstance, message: impl Into<String>) -> DesiredError {
    DesiredError::Invalid {
        instance: inst.name.clone(),
        message: message.into(),
    }
}

fn duration(
    inst: &EffectiveInstance,
    field: &str,
    v: &Option<String>,
) -> Result<Option<std::time::Duration>, DesiredError> {
    v.as_deref()
        .map(|s| {
            parse_duration(s, MAX_HEALTH_DURATION)
                .map_err(|e| invalid(inst, format!("healthcheck {field} {s:?}: {e}")))
        })
        .transpose()
}

/// Build the desired state of a resolved stack. Assigns `auto` host ports (recorded in
/// `ports`) and resolves secrets.
///
/// # Errors
/// [`DesiredError`] for a missing secret, a store failure or an unconvertible value.
///
/// `existing` names the instances whose containers exist: their host ports are theirs. For
/// the others, a recorded `auto` port that something else took meanwhile is replaced (only
/// when `repick_busy`: the caller holds the stack's lock and observed after taking it), and a
/// fixed port that something else holds is reported in [`DesiredStack::busy_ports`].
pub fn build(
    stack: &ResolvedStack,
    ctx: &DesiredContext<'_>,
    ports: &mut PortStore,
    fixed_in_use: &HashSet<u16>,
    existing: &HashSet<String>,
    repick_busy: bool,
) -> Result<DesiredStack, DesiredError> {
    let mut busy_ports = Vec::new();
    let labels = base_labels(&stack.name, ctx.owner);
    let mut volumes = BTreeMap::new();
    let mut containers = BTreeMap::new();
    for inst in stack.instances.values() {
        let mut spec = ContainerSpec {
            name: inst.container.clone(),
            image: inst.spec.image.clone().ok_or_else(|| {
                invalid(
                    inst,
                    "no image (set `image` in the template or the instance)",
                )
            })?,
            command: inst.spec.command.clone(),
            entrypoint: inst.spec.entrypoint.clone(),
            env: resolve_env(stack, inst, ctx)?,
            labels: BTreeMap::new(),
            working_dir: inst.spec.working_dir.clone(),
            user: inst.spec.user.clone(),
            hostname: Some(inst.name.clone()),
            network: stack.network.clone(),
            aliases: vec![inst.name.clone()],
            ..ContainerSpec::default()
        };
        for p in &inst.spec.ports {
            let protocol = match p.protocol {
                Protocol::Tcp => PortProtocol::Tcp,
                Protocol::Udp => PortProtocol::Udp,
            };
            let new = !existing.contains(&inst.name);
            let host_port = match p.host {
                None => continue,
                Some(HostPort::Fixed(h)) => {
                    if new && !PortStore::is_free_on_host(h, p.protocol) {
                        let holder = match ports.holder(h, p.protocol) {
                            Some((s, i)) if s != stack.name || i != inst.name => {
                                format!("devarch stack {s}, instance {i}")
                            }
                            _ => "another process on this machine".to_string(),
                        };
                        busy_ports.push((inst.name.clone(), format!("{h}/{}", p.protocol), holder));
                    }
                    h
                }
                Some(HostPort::Auto) => {
                    if new
                        && repick_busy
                        && let Some(h) =
                            ports.assigned(&stack.name, &inst.name, p.container, p.protocol)
                        && !PortStore::is_free_on_host(h, p.protocol)
                    {
                        // Taken by someone else since it was picked: pick another.
                        ports.release_instance(&stack.name, &inst.name);
                    }
                    ports
                        .assign_auto(
                            &stack.name,
                            &inst.name,
                            p.container,
                            p.protocol,
                            fixed_in_use,
                        )
                        .map_err(|e| DesiredError::Ports(e.to_string()))?
                }
            };
            spec.ports.push(PortBinding {
                container_port: p.container,
                protocol,
                host_ip: p.host_ip.clone(),
                host_port,
            });
        }
        for v in &inst.spec.volumes {
            let source = match (&v.name, &v.source) {
                (Some(n), _) => {
                    let name = identity::volume_name(&stack.name, &inst.name, n);
                    let mut l = labels.clone();
                    l.insert(LABEL_INSTANCE.into(), inst.name.clone());
                    volumes.insert(name.clone(), l);
                    MountSource::Volume { name }
                }
                (None, Some(src)) => {
                    let path = if let Some(rest) = src.strip_prefix("~/") {
                        crate::state::default_home()
                            .parent()
                            .map(|h| h.join(rest))
                            .unwrap_or_else(|| PathBuf::from(src))
                    } else {
                        inst.base_dir.join(src)
                    };
                    let abs = std::path::absolute(&path).unwrap_or(path);
                    MountSource::Bind {
                        path: normalize(&abs).display().to_string(),
                    }
                }
                (None, None) => return Err(invalid(inst, "a volume needs name or source")),
            };
            spec.mounts.push(Mount {
                source,
                target: v.target.clone(),
                read_only: v.read_only,
            });
        }
        let mut files = Vec::new();
        for f in &inst.spec.config_files {
            let host_path = config_file_path(ctx.home, &stack.name, &inst.name, &f.path);
            let mode = match &f.mode {
                Some(m) => u32::from_str_radix(m, 8)
                    .ok()
                    .filter(|mode| *mode <= 0o777)
                    .ok_or_else(|| {
                        invalid(
                            inst,
                            format!("config file mode {m:?} is not octal 0 to 0777"),
                        )
                    })?,
                None => 0o644,
            };
            spec.mounts.push(Mount {
                source: MountSource::Bind {
                    path: host_path.display().to_string(),
                },
                target: f.path.clone(),
                read_only: true,
            });
            files.push(MaterializedFile {
                host_path,
                content: f.content.clone(),
                mode,
            });
        }
        if let Some(hc) = &inst.spec.healthcheck {
            spec.healthcheck = if hc.disable {
                Some(HealthSpec {
                    test: vec!["NONE".into()],
                    interval: None,
                    timeout: None,
                    retries: None,
                    start_period: None,
                })
            } else {
                hc.test
                    .clone()
                    .map(|test| -> Result<HealthSpec, DesiredError> {
                        Ok(HealthSpec {
                            test,
                            interval: duration(inst, "interval", &hc.interval)?,
                            timeout: duration(inst, "timeout", &hc.timeout)?,
                            retries: hc.retries,
                            start_period: duration(inst, "startPeriod", &hc.start_period)?,
                        })
                    })
                    .transpose()?
            };
        }
        if let Some(r) = &inst.spec.resources {
            spec.nano_cpus = r
                .cpus
                .map(|c| nano_cpus(c).map_err(|e| invalid(inst, format!("cpus {c}: {e}"))))
                .transpose()?;
            spec.memory = r
                .memory
                .as_deref()
                .map(|m| {
                    parse_memory(m)
                        .map_err(|e| e.to_string())
                        .and_then(|b| i64::try_from(b).map_err(|e| e.to_string()))
                        .map_err(|e| invalid(inst, format!("memory {m:?}: {e}")))
                })
                .transpose()?;
        }
        for (k, v) in &inst.spec.labels {
            if let Some(v) = v {
                spec.labels.insert(k.clone(), v.clone());
            }
        }
        spec.labels.extend(labels.clone());
        spec.labels.insert(LABEL_INSTANCE.into(), inst.name.clone());
        spec.labels
            .insert(LABEL_TEMPLATE.into(), inst.template.clone());

        let field_hashes = field_hashes(&spec, &files);
        let config_hash = combine(&field_hashes);
        spec.labels
            .insert(LABEL_CONFIG_HASH.into(), config_hash.clone());
        spec.labels
            .insert(LABEL_CONFIG_FIELDS.into(), encode_fields(&field_hashes));
        containers.insert(
            inst.name.clone(),
            DesiredContainer {
                instance: inst.name.clone(),
                has_healthcheck: spec
                    .healthcheck
                    .as_ref()
                    .is_some_and(|h| h.test.first().map(String::as_str) != Some("NONE")),
                spec,
                config_hash,
                field_hashes,
                files,
                depends_on: inst
                    .depends_on
                    .iter()
                    .map(|d| (d.instance.clone(), d.condition))
                    .collect(),
            },
        );
    }
    Ok(DesiredStack {
        name: stack.name.clone(),
        enabled: stack.enabled,
        network: stack.network.clone(),
        network_labels: labels,
        volumes,
        containers,
        busy_ports,
    })
}

/// Remove `.` and `..` components without touching the filesystem.
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Per-field hashes of everything in a spec that affects the container.
pub fn field_hashes(spec: &ContainerSpec, files: &[MaterializedFile]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let value = serde_json::to_value(spec).expect("spec serializes");
    if let serde_json::Value::Object(fields) = value {
        for (k, v) in fields {
            if k == "labels" {
                continue;
            }
            out.insert(k, hash_hex(v.to_string().as_bytes())[..12].to_string());
        }
    }
    let labels: BTreeMap<&String, &String> = spec
        .labels
        .iter()
        .filter(|(k, _)| *k != LABEL_CONFIG_HASH && *k != LABEL_CONFIG_FIELDS)
        .collect();
    out.insert(
        "labels".into(),
        hash_hex(serde_json::to_string(&labels).expect("labels").as_bytes())[..12].to_string(),
    );
    let mut env = Sha256::new();
    for (k, v) in &spec.env {
        env.update(k.as_bytes());
        env.update([0]);
        env.update(v.as_bytes());
        env.update([0]);
    }
    out.insert("env".into(), hex::encode(env.finalize())[..12].to_string());
    let mut f = Sha256::new();
    for file in files {
        f.update(file.host_path.display().to_string().as_bytes());
        f.update([0]);
        f.update(file.content.as_bytes());
        f.update(file.mode.to_be_bytes());
    }
    out.insert(
        "configFiles".into(),
        hex::encode(f.finalize())[..12].to_string(),
    );
    out
}

fn combine(fields: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(HASH_VERSION.as_bytes());
    for (k, v) in fields {
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
        h.update(b";");
    }
    format!("v{HASH_VERSION}-{}", &hex::encode(h.finalize())[..32])
}

/// `field=hash,...` for the `devarch.config_fields` label.
pub fn encode_fields(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parse the `devarch.config_fields` label.
pub fn decode_fields(s: &str) -> BTreeMap<String, String> {
    s.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

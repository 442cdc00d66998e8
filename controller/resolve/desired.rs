/*! Desired runtime state of a stack: effective instances turned into engine-neutral
container, network and volume specs, each container with its config hash ([`super::hash`]).

Pure: the values that live under `--home` (secret values, the host ports picked for
`host: auto`) come in as [`Bindings`], decided beforehand by the allocation stage
([`crate::allocate`]); nothing here reads or writes a file or talks to an engine.
*/

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::hash::{combine, field_hashes};
use super::{EffectiveInstance, EnvPart, ResolvedStack};
use crate::identity::{
    self, LABEL_CONFIG_FIELDS, LABEL_CONFIG_HASH, LABEL_DOMAIN_PORT, LABEL_DOMAINS, LABEL_INSTANCE,
    LABEL_LIMITS, LABEL_TEMPLATE,
};
use crate::manifests::types::{
    DependencyCondition, MAX_HEALTH_DURATION, MAX_PIDS, Protocol, nano_cpus, parse_duration,
    parse_memory,
};
use crate::runtime::{ContainerSpec, HealthSpec, Mount, MountSource, PortBinding, PortProtocol};
use crate::state::secrets::{HashKey, Secret};

/// A config file devarch writes under `--home` and bind-mounts read-only into its container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaterializedFile {
    /// `--home`, which `host_path` is under: its folders are checked on the way down.
    pub home: PathBuf,
    /// Where it is written on the host ([`crate::state::config_file_path`]).
    pub host_path: PathBuf,
    /// Its path in the container.
    pub target: String,
    /// Its content, as in the manifest.
    pub content: String,
    /// Unix permission bits (`0o644` when the manifest sets none).
    pub mode: u32,
}

/// The desired container of one instance.
#[derive(Clone, Debug)]
pub struct DesiredContainer {
    /// Instance name (its key in [`DesiredStack::containers`]); also the container's
    /// hostname and its DNS alias on the stack network.
    pub instance: String,
    /// Create-time spec; its labels include the config hash and the per-field hashes. Its
    /// environment holds secret values: never log it.
    pub spec: ContainerSpec,
    /// `devarch.config_hash`: equal hash, nothing to recreate.
    pub config_hash: String,
    /// Per-field hashes (`devarch.config_fields`), to name the fields forcing a recreate.
    pub field_hashes: BTreeMap<String, String>,
    /// Config files to write before the container is created.
    pub files: Vec<MaterializedFile>,
    /// Instances of the same stack that must be started (or healthy) first.
    pub depends_on: Vec<(String, DependencyCondition)>,
    /// Whether the spec has an enabled health check (not `[NONE]`).
    pub has_healthcheck: bool,
}

/// A fixed host port that a container still to be created needs, held by something else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusyPort {
    /// The instance that needs it.
    pub instance: String,
    /// The port as `port/protocol` (`8080/tcp`).
    pub port: String,
    /// Who holds it, for people ("devarch stack a, instance web", "another process on this
    /// machine").
    pub holder: String,
}

/// The desired state of one stack.
#[derive(Clone, Debug)]
pub struct DesiredStack {
    /// Stack name; every object name derives from it ([`crate::identity`]).
    pub name: String,
    /// Whether its containers should run (`enabled: false` stops them, deletes nothing).
    pub enabled: bool,
    /// Network name (`devarch-{stack}-net`).
    pub network: String,
    /// Labels the network is created with.
    pub network_labels: BTreeMap<String, String>,
    /// Named volumes by runtime name, with the labels they are created with.
    pub volumes: BTreeMap<String, BTreeMap<String, String>>,
    /// Containers by instance name.
    pub containers: BTreeMap<String, DesiredContainer>,
    /// Fixed host ports held by something else: each is a plan conflict.
    pub busy_ports: Vec<BusyPort>,
}

/// What the allocation stage decided for one stack, from state under `--home`.
#[derive(Clone, Debug, Default)]
pub struct Bindings {
    /// Secret values by (owning instance, secret name): every secret the stack's environment
    /// refers to.
    pub secrets: HashMap<(String, String), Secret>,
    /// Host port of every published port: (instance, container port, protocol) → host port.
    pub host_ports: HashMap<(String, u16, Protocol), u16>,
    /// Fixed host ports that containers still to be created need but something else holds.
    pub busy_ports: Vec<BusyPort>,
    /// The key of hashes over secret values (set when the stack uses a secret): the config
    /// hash labels of an instance whose environment holds one are keyed with it.
    pub hash_key: Option<HashKey>,
}

/// Building the desired state of an instance failed.
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    /// A field value could not be turned into an engine setting.
    #[error("instance {instance:?}: {message}")]
    Invalid {
        /// Instance whose field is wrong (the stack is named by
        /// [`crate::reconcile::ReconcileError::Desired`]).
        instance: String,
        /// What is wrong, for people.
        message: String,
    },
    /// The allocation stage left out a value the instance needs (a bug, never input).
    #[error("instance {instance:?}: {what} was not allocated")]
    Unbound {
        /// Instance that needs the value.
        instance: String,
        /// What is missing (`secret db/password`, `host port for 5432/tcp`).
        what: String,
    },
}

/// What [`build`] needs besides the stack and its bindings.
#[derive(Clone, Copy, Debug)]
pub struct DesiredContext<'a> {
    /// `--home`: config files are materialised under it.
    pub home: &'a Path,
    /// Value of the `devarch.owner` label (the manifests folder, absolute).
    pub owner: &'a str,
    /// The user's home folder, for bind sources written `~/…` (None: taken literally).
    pub user_home: Option<&'a Path>,
    /// The engine does not share this machine's file system ([`crate::runtime::EngineInfo`]):
    /// config files are copied into the container after it is created (not bind-mounted),
    /// and bind sources relative to the manifests folder are refused.
    pub remote: bool,
}

/// Builds the desired state of a resolved stack from its bindings.
///
/// # Errors
/// [`DesiredError::Invalid`] for a value that cannot become an engine setting (no image, a
/// volume without name or source, a mode that is not octal, a duration or memory quantity
/// that does not parse); [`DesiredError::Unbound`] when `bindings` lack a secret or port.
pub fn build(
    stack: &ResolvedStack,
    ctx: &DesiredContext<'_>,
    bindings: &Bindings,
) -> Result<DesiredStack, DesiredError> {
    let labels = identity::stack_labels(&stack.name, ctx.owner);
    let mut volumes = BTreeMap::new();
    let mut containers = BTreeMap::new();
    for inst in stack.instances.values() {
        let mut spec = base_spec(stack, inst, bindings)?;
        spec.ports = port_bindings(inst, bindings)?;
        for (mount, volume) in volume_mounts(stack, inst, ctx)? {
            if let Some(name) = volume {
                let mut l = labels.clone();
                l.insert(LABEL_INSTANCE.into(), inst.name.clone());
                volumes.insert(name, l);
            }
            spec.mounts.push(mount);
        }
        let files = config_files(stack, inst, ctx, &mut spec)?;
        spec.healthcheck = healthcheck(inst)?;
        set_resources(inst, &mut spec)?;
        containers.insert(
            inst.name.clone(),
            finish(inst, spec, files, &labels, bindings),
        );
    }
    Ok(DesiredStack {
        name: stack.name.clone(),
        enabled: stack.enabled,
        network: stack.network.clone(),
        network_labels: labels,
        volumes,
        containers,
        busy_ports: bindings.busy_ports.clone(),
    })
}

fn invalid(inst: &EffectiveInstance, message: impl Into<String>) -> DesiredError {
    DesiredError::Invalid {
        instance: inst.name.clone(),
        message: message.into(),
    }
}

/// Name, image, command, environment and the other scalar settings of the container.
fn base_spec(
    stack: &ResolvedStack,
    inst: &EffectiveInstance,
    bindings: &Bindings,
) -> Result<ContainerSpec, DesiredError> {
    let image = inst.spec.image.clone().ok_or_else(|| {
        invalid(
            inst,
            "no image (set `image` in the template or the instance)",
        )
    })?;
    Ok(ContainerSpec {
        name: inst.container.clone(),
        image,
        command: inst.spec.command.clone(),
        entrypoint: inst.spec.entrypoint.clone(),
        env: environment(inst, bindings)?,
        labels: BTreeMap::new(),
        working_dir: inst.spec.working_dir.clone(),
        user: inst.spec.user.clone(),
        hostname: Some(inst.name.clone()),
        network: stack.network.clone(),
        aliases: vec![inst.name.clone()],
        ..ContainerSpec::default()
    })
}

/// The instance's final environment with secret values filled in.
fn environment(
    inst: &EffectiveInstance,
    bindings: &Bindings,
) -> Result<Vec<(String, String)>, DesiredError> {
    let mut out = Vec::with_capacity(inst.env.len());
    for (k, v) in &inst.env {
        let mut value = String::new();
        for part in &v.0 {
            match part {
                EnvPart::Lit(s) => value.push_str(s),
                EnvPart::Secret { instance, name } => {
                    let key = (instance.clone(), name.clone());
                    let secret =
                        bindings
                            .secrets
                            .get(&key)
                            .ok_or_else(|| DesiredError::Unbound {
                                instance: inst.name.clone(),
                                what: format!("secret {instance}/{name}"),
                            })?;
                    value.push_str(secret.expose());
                }
            }
        }
        out.push((k.clone(), value));
    }
    Ok(out)
}

/// The address a port is published on when the manifest names none.
pub const LOOPBACK: &str = "127.0.0.1";

/// Published ports with their allocated host ports (ports without `host` are not published).
fn port_bindings(
    inst: &EffectiveInstance,
    bindings: &Bindings,
) -> Result<Vec<PortBinding>, DesiredError> {
    let mut out = Vec::new();
    for p in inst.spec.ports.iter().filter(|p| p.host.is_some()) {
        let key = (inst.name.clone(), p.container, p.protocol);
        let host_port = *bindings
            .host_ports
            .get(&key)
            .ok_or_else(|| DesiredError::Unbound {
                instance: inst.name.clone(),
                what: format!("host port for {}/{}", p.container, p.protocol),
            })?;
        out.push(PortBinding {
            container_port: p.container,
            protocol: match p.protocol {
                Protocol::Tcp => PortProtocol::Tcp,
                Protocol::Udp => PortProtocol::Udp,
            },
            // Local means local: published on loopback unless the manifest asks otherwise
            // (and the plan says so).
            host_ip: Some(p.host_ip.clone().unwrap_or_else(|| LOOPBACK.to_string())),
            host_port,
        });
    }
    Ok(out)
}

/// The instance's volume mounts, each with the runtime name of its named volume (None for a
/// bind mount).
fn volume_mounts(
    stack: &ResolvedStack,
    inst: &EffectiveInstance,
    ctx: &DesiredContext<'_>,
) -> Result<Vec<(Mount, Option<String>)>, DesiredError> {
    let mut out = Vec::new();
    for v in &inst.spec.volumes {
        let (source, volume) = match (&v.name, &v.source) {
            (Some(n), _) => {
                let name = identity::volume_name(&stack.name, &inst.name, n);
                (MountSource::Volume { name: name.clone() }, Some(name))
            }
            (None, Some(src)) => {
                if ctx.remote && !Path::new(src).is_absolute() {
                    return Err(invalid(
                        inst,
                        format!(
                            "bind mount source {src:?} is a path on this machine, and the engine is remote: it cannot see this machine's files. Use an absolute path on the engine's machine, a named volume, or `configFiles` (copied into the container)"
                        ),
                    ));
                }
                let path = bind_source(inst, src, ctx.user_home);
                (MountSource::Bind { path }, None)
            }
            (None, None) => return Err(invalid(inst, "a volume needs name or source")),
        };
        let mount = Mount {
            source,
            target: v.target.clone(),
            read_only: v.read_only,
        };
        out.push((mount, volume));
    }
    Ok(out)
}

/// The absolute host path of a bind source: `~/…` under the user's home, a relative path
/// under the folder of the manifest that defines the instance; `.` and `..` folded away.
fn bind_source(inst: &EffectiveInstance, src: &str, user_home: Option<&Path>) -> String {
    crate::manifests::values::bind_host_path(src, &inst.base_dir, user_home)
        .display()
        .to_string()
}

/// Config files to materialise, each also added to `spec` as a read-only bind mount (on a
/// remote engine they are copied into the container instead, see [`DesiredContext::remote`]).
fn config_files(
    stack: &ResolvedStack,
    inst: &EffectiveInstance,
    ctx: &DesiredContext<'_>,
    spec: &mut ContainerSpec,
) -> Result<Vec<MaterializedFile>, DesiredError> {
    let mut files = Vec::new();
    for f in &inst.spec.config_files {
        let host_path =
            crate::state::config_file_path(ctx.home, ctx.owner, &stack.name, &inst.name, &f.path);
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
        if !ctx.remote {
            spec.mounts.push(Mount {
                source: MountSource::Bind {
                    path: host_path.display().to_string(),
                },
                target: f.path.clone(),
                read_only: true,
            });
        }
        files.push(MaterializedFile {
            home: ctx.home.to_path_buf(),
            host_path,
            target: f.path.clone(),
            content: f.content.clone(),
            mode,
        });
    }
    Ok(files)
}

fn duration(
    inst: &EffectiveInstance,
    field: &str,
    v: &Option<String>,
) -> Result<Option<Duration>, DesiredError> {
    v.as_deref()
        .map(|s| {
            parse_duration(s, MAX_HEALTH_DURATION)
                .map_err(|e| invalid(inst, format!("healthcheck {field} {s:?}: {e}")))
        })
        .transpose()
}

/// The engine health check: the manifest's, `[NONE]` when it disables an inherited one, or
/// none (the image's own applies).
fn healthcheck(inst: &EffectiveInstance) -> Result<Option<HealthSpec>, DesiredError> {
    let Some(hc) = &inst.spec.healthcheck else {
        return Ok(None);
    };
    if hc.disable {
        return Ok(Some(HealthSpec {
            test: vec!["NONE".into()],
            interval: None,
            timeout: None,
            retries: None,
            start_period: None,
        }));
    }
    let Some(test) = hc.test.clone() else {
        return Ok(None);
    };
    Ok(Some(HealthSpec {
        test,
        interval: duration(inst, "interval", &hc.interval)?,
        timeout: duration(inst, "timeout", &hc.timeout)?,
        retries: hc.retries,
        start_period: duration(inst, "startPeriod", &hc.start_period)?,
    }))
}

/// CPU, memory and process limits.
fn set_resources(inst: &EffectiveInstance, spec: &mut ContainerSpec) -> Result<(), DesiredError> {
    let Some(r) = &inst.spec.resources else {
        return Ok(());
    };
    spec.pids_limit = r
        .pids
        .map(|p| {
            if (1..=MAX_PIDS).contains(&p) {
                Ok(p)
            } else {
                Err(invalid(
                    inst,
                    format!("pids {p}: not between 1 and {MAX_PIDS}"),
                ))
            }
        })
        .transpose()?;
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
    Ok(())
}

/// Labels (the manifest's, then devarch's own over them), then the config hash.
fn finish(
    inst: &EffectiveInstance,
    mut spec: ContainerSpec,
    files: Vec<MaterializedFile>,
    labels: &BTreeMap<String, String>,
    bindings: &Bindings,
) -> DesiredContainer {
    for (k, v) in &inst.spec.labels {
        if let Some(v) = v {
            spec.labels.insert(k.clone(), v.clone());
        }
    }
    spec.labels.extend(labels.clone());
    spec.labels.insert(LABEL_INSTANCE.into(), inst.name.clone());
    spec.labels
        .insert(LABEL_TEMPLATE.into(), inst.template.clone());
    if let Some(d) = &inst.domains {
        spec.labels
            .insert(LABEL_DOMAINS.into(), identity::encode_domains(&d.names));
        spec.labels
            .insert(LABEL_DOMAIN_PORT.into(), d.port.to_string());
    }
    // Derived from fields hashed already, so left out of the labels' hash.
    spec.labels
        .insert(LABEL_LIMITS.into(), identity::Limits::of(&spec).label());
    let secret_env = inst.env.values().any(super::EnvTemplate::has_secret);
    let key = bindings.hash_key.as_ref().filter(|_| secret_env);
    let field_hashes = field_hashes(&spec, &files, key);
    let config_hash = combine(&field_hashes);
    spec.labels
        .insert(LABEL_CONFIG_HASH.into(), config_hash.clone());
    spec.labels.insert(
        LABEL_CONFIG_FIELDS.into(),
        identity::encode_config_fields(&field_hashes),
    );
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
    }
}

/*! Compose in: a Compose project as devarch manifests (`devarch import --from compose`).

Each service becomes a Template (`{stack}-{service}`) holding its definition, and an instance
of that template in one Stack; `depends_on` goes on the instance. A single-service file can
become a Template only (`--as-template`). What carries over: image, command, entrypoint,
environment (map and list forms; `env_file`s read and inlined, later ones winning,
`environment` over them), ports (as `{container, host, hostIp, protocol}`; a bare container
port is published on an `auto` host port, as Compose publishes it on a random one), volumes
(named → the instance's named volumes; binds → the same host path, written relative to the
manifests folder), `depends_on` with conditions, healthcheck, working_dir, user, labels,
limits (`deploy.resources.limits`, `cpus`, `mem_limit`, `pids_limit`) and DevArch v1's
`x-devarch-config: {FILE: TARGET}` (files in `config/` next to the compose file) as
config files. Everything else is reported with its line and what to do instead
([`Note`]); nothing is dropped silently. Labels under devarch's own prefix (`devarch.`) are
not carried: devarch sets those itself.

A file `devarch compose` wrote imports back to the stack it came from (`own_output.rs`): a
volume named as devarch names one of an instance of this stack (`devarch-STACK-INSTANCE-NAME`)
is that instance's volume `NAME` again, so the data stays; a read-only bind of a config file
devarch materialised under `--home` for this folder, stack and instance is that config file
again, with its content; secret placeholders become secret references; the host names the
router served come back as an `http` export (and `domains` beyond the default one); and the
container name, hostname, network, aliases and labels devarch generated are not reported as
left out.

The project may be someone else's, and what the import writes is meant to be shared, so it
reads nothing from outside the project's folder and copies nothing of the importer's own
environment unless asked: env files are read only from inside the folder ([`env_file`]; an
entry outside it is an error, and so is a line of one that is not `KEY=value`), and variables
([`variables`]) take their values from the project's `.env` file, and from the importer's
environment only with `--env-from-shell` ([`Options::env_from_shell`]; it then comes first, as
in Compose). Without it, a variable only the environment sets keeps its reference (`${HOME}`)
or takes its default, and is reported; a variable set nowhere becomes empty (as in Compose)
and is reported.
*/

mod env_file;
mod own_output;
mod variables;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::manifests::yaml::{Document, MAX_FILE_BYTES, parse_documents};
use variables::{Unresolved, Var, interpolate};

/// Something of the Compose file that was not carried over as it was, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// 1-based line in the compose file (0: not located).
    pub line: u32,
    /// The key, dotted (`services.web.build`).
    pub key: String,
    /// What happened and what to do instead.
    pub message: String,
}

/// What the import makes.
#[derive(Debug)]
pub struct Imported {
    /// Manifest documents (Templates, then the Stack), as YAML.
    pub text: String,
    /// What was not carried over as it was.
    pub notes: Vec<Note>,
    /// Values of sensitive variables, moved out of the manifests: `(instance, secret name,
    /// value)`; the manifests refer to them as `{secret: NAME}`.
    pub secrets: Vec<(String, String, crate::state::secrets::Secret)>,
}

/// Whether an environment variable holds a credential (its value becomes a devarch secret).
fn sensitive(key: &str) -> bool {
    let k = key.to_ascii_uppercase();
    [
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "TOKEN",
        "API_KEY",
        "PRIVATE_KEY",
        "ACCESS_KEY",
    ]
    .iter()
    .any(|w| k.contains(w))
        || k.ends_with("_PASS")
}

/// The import failed: nothing can be written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not YAML Compose can read.
    #[error("{file}: {message}")]
    Invalid {
        /// The compose file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// Something at a line of the compose file or of an env file it names cannot be imported
    /// (an env file outside the project, a line of one that is not `KEY=value`).
    #[error("{file}:{line}: {message}; nothing was imported")]
    At {
        /// The file.
        file: String,
        /// 1-based line (0: not located).
        line: u32,
        /// What is wrong and what to do.
        message: String,
    },
}

/// The stack name an import gets when none is given: the Compose file's `name`, else
/// `folder` (the folder the file is in), else `imported`, as a DNS label.
pub fn default_stack_name(text: &str, folder: Option<&str>) -> String {
    let from_file = parse_documents(text)
        .ok()
        .and_then(|d| d.first()?.value.get("name")?.as_str().map(str::to_string));
    let raw = from_file
        .or(folder.map(str::to_string))
        .unwrap_or_else(|| "imported".into());
    raw.to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// Options of an import.
#[derive(Clone, Debug)]
pub struct Options {
    /// Stack name.
    pub stack: String,
    /// Make only a Template of the single service.
    pub as_template: bool,
    /// The manifests folder the result is written to (for bind paths).
    pub dir: PathBuf,
    /// Take variables' values from the importer's environment too (`--env-from-shell`), before
    /// the project's `.env` file, as Compose does; without it only `.env` gives values.
    pub env_from_shell: bool,
    /// `--home`: a bind of a file devarch materialised under it (`devarch compose` mounts
    /// config files so) becomes a config file with that file's content again.
    pub home: Option<PathBuf>,
    /// Values of the `${DEVARCH_SECRET_...}` placeholders `devarch compose` writes
    /// ([`crate::compose::secret_variable`]) that the folder's secret store holds for this
    /// stack; with the project's `.env` file, they give a value that holds placeholders
    /// inside text (which becomes a secret of its own) its value.
    pub secret_values: BTreeMap<String, crate::state::secrets::Secret>,
}

/// What to do instead of a service key devarch has no equivalent of.
fn advice(key: &str) -> &'static str {
    match key {
        "build" => {
            "devarch runs images, it does not build them: build it (`docker build -t NAME DIR`) and set `image`"
        }
        "extra_hosts" | "dns" | "dns_search" | "dns_opt" | "network_mode" | "links"
        | "external_links" | "mac_address" | "domainname" => {
            "devarch puts a stack's instances on one network where they reach each other by instance name; not carried over"
        }
        "secrets" | "configs" => {
            "use devarch secrets (`{secret: NAME}` in env, `devarch secret set`) or configFiles"
        }
        "privileged" | "cap_add" | "cap_drop" | "devices" | "security_opt" | "userns_mode"
        | "pid" | "ipc" | "cgroup_parent" | "sysctls" | "ulimits" => {
            "host-level settings are not part of devarch manifests; not carried over"
        }
        "profiles" => "devarch has no profiles: put such services in a stack of their own",
        "logging" => "devarch leaves logging to the engine's default driver",
        "tmpfs" => "use a named volume instead",
        "stop_grace_period" | "stop_signal" | "init" | "tty" | "stdin_open" | "shm_size"
        | "platform" | "pull_policy" | "scale" | "read_only" | "oom_score_adj" => {
            "not part of devarch manifests; not carried over"
        }
        _ => "not part of devarch manifests; not carried over",
    }
}

/// Imports `text`, the compose file at `file`; `shell` is the importer's environment, whose
/// values are used only with [`Options::env_from_shell`].
///
/// # Errors
/// [`ImportError::Invalid`] for YAML that does not parse, no `services`, a service name that
/// two services would both become, or a `--as-template` file with several services;
/// [`ImportError::At`] for an env file (`.env` or an `env_file` entry) outside the project's
/// folder, or with a line that is not `KEY=value`.
pub fn import(
    text: &str,
    file: &Path,
    shell: &dyn Fn(&str) -> Option<String>,
    options: &Options,
) -> Result<Imported, ImportError> {
    let invalid = |message: String| ImportError::Invalid {
        file: file.display().to_string(),
        message,
    };
    let docs = parse_documents(text).map_err(|e| invalid(e.message))?;
    let [doc]: [Document; 1] = docs.try_into().map_err(|d: Vec<Document>| {
        invalid(format!("expected one YAML document, found {}", d.len()))
    })?;
    let base = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut cx = Context {
        doc: &doc,
        file: file.to_path_buf(),
        notes: Vec::new(),
        base,
        dir: options.dir.clone(),
        secrets: Vec::new(),
        stack: options.stack.clone(),
        home: options
            .home
            .as_deref()
            .and_then(|h| std::path::absolute(h).ok())
            .map(|h| normalize(&h)),
        volume_names: BTreeMap::new(),
        files: Vec::new(),
    };
    let dotenv = cx.dotenv()?;
    let lookup = |name: &str| {
        let from_shell = shell(name);
        if options.env_from_shell
            && let Some(v) = &from_shell
        {
            return Var::Value(v.clone());
        }
        match dotenv.get(name) {
            Some(v) => Var::Value(v.clone()),
            None if from_shell.is_some() && !options.env_from_shell => Var::ShellOnly,
            None => Var::Unset,
        }
    };
    let mut root = doc.value.clone();
    cx.secret_placeholders(&mut root, &dotenv, &options.secret_values);
    cx.interpolate(&mut root, "", &lookup);
    let Some(top) = root.as_object() else {
        return Err(invalid("not a mapping of Compose keys".into()));
    };
    for key in top.keys() {
        match key.as_str() {
            "services" | "volumes" => {}
            "version" | "name" => {}
            k if k.starts_with("x-") => cx.note(&format!("/{k}"), "extension ignored"),
            // `devarch compose` writes the stack's own network: nothing to say about it.
            "networks" if cx.only_own_network(top.get("networks")) => {}
            "networks" => cx.note(
                "/networks",
                "devarch makes one network per stack (devarch-STACK-net); the services' networks are not carried over",
            ),
            k => cx.note(&format!("/{k}"), advice(k)),
        }
    }
    if let Some(vols) = top.get("volumes").and_then(Value::as_object) {
        for (name, v) in vols {
            let real = v.get("name").and_then(Value::as_str).unwrap_or(name);
            cx.volume_names.insert(name.clone(), real.to_string());
            // `devarch compose` declares the stack's volumes by their runtime names, with
            // devarch's labels: the import maps them back to the instances' volumes.
            let own = real.starts_with(&crate::identity::stack_prefix(&options.stack))
                && v.as_object()
                    .is_some_and(|o| o.keys().all(|k| k == "name" || k == "labels"))
                && v.get("labels").is_none_or(|l| {
                    key_values(l)
                        .keys()
                        .all(|k| crate::identity::is_devarch_label(k))
                });
            if !own && v.as_object().is_some_and(|o| !o.is_empty()) {
                cx.note(
                    &format!("/volumes/{name}"),
                    "volume options (driver, external, name) are not carried over: devarch makes its own named volume per instance",
                );
            }
        }
    }
    let services = top
        .get("services")
        .and_then(Value::as_object)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("no services".into()))?;
    if options.as_template && services.len() != 1 {
        return Err(invalid(format!(
            "--as-template imports a file with one service; this one has {}",
            services.len()
        )));
    }
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for name in services.keys() {
        let clean = dns_label(name);
        if let Some((other, _)) = names.iter().find(|(_, v)| **v == clean) {
            return Err(invalid(format!(
                "services {other:?} and {name:?} would both be instance {clean:?}; rename one"
            )));
        }
        if clean != *name {
            cx.note(
                &format!("/services/{name}"),
                &format!("service {name:?} is instance {clean:?} (names are lower-case letters, digits and '-')"),
            );
        }
        names.insert(name.clone(), clean);
    }
    let mut out = String::new();
    let mut instances = Map::new();
    for (name, service) in services {
        let instance = &names[name];
        let template_name = if options.as_template {
            instance.clone()
        } else {
            format!("{}-{instance}", options.stack)
        };
        let (spec, depends_on) = cx.service(name, instance, service, &names)?;
        let template = json!({
            "apiVersion": crate::manifests::types::API_VERSION,
            "kind": "Template",
            "metadata": {"name": template_name},
            "spec": Value::Object(spec),
        });
        out.push_str("---\n");
        out.push_str(&to_yaml(&template));
        let mut body = Map::new();
        body.insert("template".into(), json!(template_name));
        if !depends_on.is_empty() {
            body.insert("dependsOn".into(), Value::Array(depends_on));
        }
        instances.insert(instance.clone(), Value::Object(body));
    }
    if !options.as_template {
        let stack = json!({
            "apiVersion": crate::manifests::types::API_VERSION,
            "kind": "Stack",
            "metadata": {"name": options.stack},
            "spec": {"description": format!("imported from {}", file.display()), "instances": instances},
        });
        out.push_str("---\n");
        out.push_str(&to_yaml(&stack));
    }
    cx.notes
        .sort_by(|a, b| (a.line, &a.key).cmp(&(b.line, &b.key)));
    let header = format!(
        "# Imported from the Compose file {} by `devarch import --from compose`.\n",
        file.display()
    );
    Ok(Imported {
        text: header + &out,
        notes: cx.notes,
        secrets: cx.secrets,
    })
}

fn to_yaml(v: &Value) -> String {
    serde_saphyr::to_string(v).expect("JSON values serialize")
}

/// `name` as a DNS label: lower case, `_` and `.` as `-`, other characters dropped.
fn dns_label(name: &str) -> String {
    let mapped: String = name
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            '_' | '.' => Some('-'),
            _ => None,
        })
        .collect();
    mapped.trim_matches('-').to_string()
}

/// The state of one import: the document (for lines) and the notes so far.
struct Context<'a> {
    doc: &'a Document,
    /// The compose file.
    file: PathBuf,
    notes: Vec<Note>,
    /// Folder of the compose file.
    base: PathBuf,
    /// The manifests folder.
    dir: PathBuf,
    /// Credentials moved out of the manifests.
    secrets: Vec<(String, String, crate::state::secrets::Secret)>,
    /// The stack imported into.
    stack: String,
    /// `--home`, absolute ([`Options::home`]).
    home: Option<PathBuf>,
    /// Top-level volume key → the volume's real name (its `name`, else the key).
    volume_names: BTreeMap<String, String>,
    /// Config files of the service being imported, found among its binds.
    files: Vec<Value>,
}

impl Context<'_> {
    fn note(&mut self, pointer: &str, message: &str) {
        let pos = self.doc.locations.key(pointer);
        let key = pointer
            .trim_start_matches('/')
            .replace('/', ".")
            .replace("~1", "/")
            .replace("~0", "~");
        self.notes.push(Note {
            line: pos.line,
            key,
            message: message.to_string(),
        });
    }

    /// The line of `pointer` in the compose file (0: not located).
    fn line(&self, pointer: &str) -> u32 {
        self.doc.locations.key(pointer).line
    }

    /// An error at `pointer` of the compose file.
    fn error_at(&self, pointer: &str, message: String) -> ImportError {
        ImportError::At {
            file: self.file.display().to_string(),
            line: self.line(pointer),
            message,
        }
    }

    /// The project's `.env` file (next to the compose file), checked like an `env_file`
    /// entry; none when there is none.
    fn dotenv(&self) -> Result<BTreeMap<String, String>, ImportError> {
        let refused = |why: String| ImportError::At {
            file: self.file.display().to_string(),
            line: 0,
            message: format!(
                "the project's .env file {why}; devarch reads env files only from inside the Compose project's folder ({})",
                self.base.display()
            ),
        };
        match env_file::locate(&self.base, ".env").map_err(refused)? {
            env_file::Found::Missing => Ok(BTreeMap::new()),
            env_file::Found::File(path) => {
                self.read_env_file(&path, &self.base.join(".env"), "the project's .env file")
            }
        }
    }

    /// The variables of the env file at `real` (`shown` is how the project names it, `what`
    /// says where it is used), a line that is not `KEY=value` an error at its line.
    fn read_env_file(
        &self,
        real: &Path,
        shown: &Path,
        what: &str,
    ) -> Result<BTreeMap<String, String>, ImportError> {
        env_file::read(real).map_err(|e| match e {
            env_file::ReadError::Unreadable(why) => ImportError::At {
                file: self.file.display().to_string(),
                line: 0,
                message: format!("{what} {} cannot be read ({why})", shown.display()),
            },
            env_file::ReadError::Line(line, why) => ImportError::At {
                file: shown.display().to_string(),
                line: u32::try_from(line).unwrap_or(u32::MAX),
                message: format!(
                    "{why} (a line of {what}, used by {}); fix or remove the line",
                    self.file.display()
                ),
            },
        })
    }

    /// Resolves variables in every string of `v`, noting those without a value.
    fn interpolate(&mut self, v: &mut Value, pointer: &str, lookup: &dyn Fn(&str) -> Var) {
        match v {
            Value::String(s) => {
                let mut unresolved = Vec::new();
                match interpolate(s, lookup, &mut unresolved) {
                    Ok(done) => *s = done,
                    Err(message) => self.note(pointer, &message),
                }
                for var in unresolved {
                    let message = match var {
                        Unresolved::Unset(var) => format!(
                            "variable {var} is not set: used an empty value (as Compose does)"
                        ),
                        Unresolved::KeptReference(var) => format!(
                            "variable {var} is set only in your environment, not in the project's .env: left as the reference ${{{var}}} (its value is not copied into the manifests; --env-from-shell takes it)"
                        ),
                        Unresolved::UsedDefault(var) => format!(
                            "variable {var} is set only in your environment, not in the project's .env: used its default (--env-from-shell takes your environment's value)"
                        ),
                    };
                    self.note(pointer, &message);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.interpolate(item, &format!("{pointer}/{i}"), lookup);
                }
            }
            Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                    self.interpolate(item, &p, lookup);
                }
            }
            _ => {}
        }
    }

    /// A service's template spec and its instance's `dependsOn`.
    fn service(
        &mut self,
        name: &str,
        instance: &str,
        service: &Value,
        names: &BTreeMap<String, String>,
    ) -> Result<(Map<String, Value>, Vec<Value>), ImportError> {
        let at = format!("/services/{}", name.replace('~', "~0").replace('/', "~1"));
        let empty = Map::new();
        let s = service.as_object().unwrap_or(&empty);
        let mut spec = Map::new();
        let mut depends_on = Vec::new();
        for (key, value) in s {
            let here = format!("{at}/{key}");
            match key.as_str() {
                "image" => {
                    spec.insert("image".into(), value.clone());
                }
                "command" | "entrypoint" => {
                    spec.insert(key.clone(), value.clone());
                }
                "working_dir" => {
                    spec.insert("workingDir".into(), value.clone());
                }
                "user" => {
                    spec.insert("user".into(), scalar_text(value));
                }
                "labels" => {
                    let labels = self.labels(&here, value, instance);
                    if !labels.is_empty() {
                        spec.insert("labels".into(), Value::Object(labels));
                    }
                }
                "environment" | "env_file" => {}
                "ports" => {
                    let ports = self.ports(&here, value);
                    if !ports.is_empty() {
                        spec.insert("ports".into(), Value::Array(ports));
                    }
                }
                "volumes" => {
                    let volumes = self.volumes(&here, value, instance);
                    if !volumes.is_empty() {
                        spec.insert("volumes".into(), Value::Array(volumes));
                    }
                }
                "healthcheck" => {
                    if let Some(h) = self.healthcheck(&here, value) {
                        spec.insert("healthcheck".into(), h);
                    }
                }
                "depends_on" => depends_on = self.depends_on(&here, value, names),
                "deploy" | "cpus" | "mem_limit" | "pids_limit" => {}
                "x-devarch-config" => {
                    let files = self.config_files(&here, value);
                    if !files.is_empty() {
                        spec.insert("configFiles".into(), Value::Array(files));
                    }
                }
                "container_name"
                    if value.as_str()
                        == Some(crate::identity::container_name(&self.stack, instance).as_str()) => {}
                "container_name" => self.note(&here, "devarch names the container devarch-STACK-INSTANCE; not carried over"),
                "restart" => self.note(&here, "devarch keeps containers running (watch restarts what stops); not carried over"),
                "networks" if self.own_service_network(value, instance) => {}
                "networks" => self.note(&here, "the instance joins its stack's network, where the others reach it by instance name; not carried over"),
                "expose" => self.note(&here, "every container port is reachable on the stack network; not needed"),
                "hostname" if value.as_str() == Some(instance) => {}
                "hostname" => self.note(&here, "the hostname is the instance name; not carried over"),
                k if k.starts_with("x-") => self.note(&here, "extension ignored"),
                k => self.note(&here, advice(k)),
            }
        }
        if let Some((exports, domains)) = s.get("labels").and_then(|l| self.route(l, instance)) {
            spec.insert("exports".into(), exports);
            if let Some(d) = domains {
                spec.insert("domains".into(), d);
            }
        }
        let files = std::mem::take(&mut self.files);
        if !files.is_empty() {
            let all = spec
                .entry("configFiles")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(all) = all {
                all.extend(files);
            }
        }
        let env = self.environment(&at, instance, s)?;
        if !env.is_empty() {
            spec.insert("env".into(), Value::Object(env));
        }
        let resources = self.resources(&at, s);
        if !resources.is_empty() {
            spec.insert("resources".into(), Value::Object(resources));
        }
        if !spec.contains_key("image") {
            self.note(
                &at,
                "no image: set `image` in the template (devarch does not build)",
            );
        }
        Ok((spec, depends_on))
    }

    /// The service's labels but those under devarch's own prefix, each of which is noted.
    /// A service `devarch compose` wrote for `instance` of this stack (its identity labels
    /// say so) has its devarch labels dropped without a note each: devarch sets the same ones.
    fn labels(&mut self, at: &str, value: &Value, instance: &str) -> Map<String, Value> {
        let mut out = Map::new();
        let all = key_values(value);
        let own = self.own_labels(&all, instance);
        let entries: Vec<(String, String)> = match value {
            Value::Object(m) => m
                .keys()
                .map(|k| (k.clone(), k.replace('~', "~0").replace('/', "~1")))
                .collect(),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let k = v.as_str()?.split_once('=').map_or(v.as_str()?, |(k, _)| k);
                    Some((k.to_string(), i.to_string()))
                })
                .collect(),
            _ => Vec::new(),
        };
        for (key, step) in entries {
            if crate::identity::is_devarch_label(&key) {
                if own {
                    continue;
                }
                self.note(
                    &format!("{at}/{step}"),
                    &format!(
                        "label {key:?} is under devarch's own prefix ({}): devarch sets those itself; not carried over",
                        crate::identity::LABEL_PREFIX
                    ),
                );
            } else if let Some(v) = all.get(&key) {
                out.insert(key, v.clone());
            }
        }
        out
    }

    /// `env_file`s in order, then `environment` (map or `KEY=value` list) over them.
    fn environment(
        &mut self,
        at: &str,
        instance: &str,
        s: &Map<String, Value>,
    ) -> Result<Map<String, Value>, ImportError> {
        let mut env = Map::new();
        let files: Vec<(usize, String)> = match s.get("env_file") {
            Some(Value::String(f)) => vec![(0, f.clone())],
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    Value::String(f) => Some((i, f.clone())),
                    Value::Object(o) => o
                        .get("path")
                        .and_then(Value::as_str)
                        .map(|f| (i, f.to_string())),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        for (i, f) in files {
            let pointer = if matches!(s.get("env_file"), Some(Value::Array(_))) {
                format!("{at}/env_file/{i}")
            } else {
                format!("{at}/env_file")
            };
            let found = env_file::locate(&self.base, &f).map_err(|why| {
                self.error_at(
                    &pointer,
                    format!(
                        "{}: env_file {f:?} {why}; devarch reads env files only from inside the Compose project's folder ({}): copy the variables you need into a file there",
                        pointer.trim_start_matches('/').replace('/', "."),
                        self.base.display()
                    ),
                )
            })?;
            let path = match found {
                env_file::Found::File(path) => path,
                env_file::Found::Missing => {
                    self.note(
                        &pointer,
                        &format!("env_file {f:?} does not exist; its variables are missing"),
                    );
                    continue;
                }
            };
            let values =
                self.read_env_file(&path, &self.base.join(&f), &format!("env_file {f:?}"))?;
            let n = values.len();
            for (k, v) in values {
                env.insert(k, Value::String(v));
            }
            self.note(
                &pointer,
                &format!("env_file {f:?}: its {n} variable(s) are inlined into env"),
            );
        }
        match s.get("environment") {
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    match v {
                        Value::Object(o) if o.contains_key("secret") => {
                            env.insert(k.clone(), v.clone());
                        }
                        Value::Null => self.note(
                            &format!("{at}/environment/{k}"),
                            "no value: Compose takes it from the shell; set one in env",
                        ),
                        v => {
                            env.insert(k.clone(), scalar_text(v));
                        }
                    }
                }
            }
            Some(Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    let text = item.as_str().unwrap_or_default();
                    match text.split_once('=') {
                        Some((k, v)) => {
                            env.insert(k.to_string(), json!(v));
                        }
                        None => self.note(
                            &format!("{at}/environment/{i}"),
                            "no value: Compose takes it from the shell; set one in env",
                        ),
                    }
                }
            }
            _ => {}
        }
        // Credentials go to the secret store, not into manifests a team shares.
        for (key, value) in env.iter_mut() {
            let Some(text) = value.as_str().filter(|t| !t.is_empty() && sensitive(key)) else {
                continue;
            };
            let name = key.to_ascii_lowercase().replace('_', "-");
            self.secrets.push((
                instance.to_string(),
                name.clone(),
                crate::state::secrets::Secret::new(text),
            ));
            *value = json!({"secret": name});
        }
        Ok(env)
    }

    fn ports(&mut self, at: &str, value: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        for (i, p) in value.as_array().into_iter().flatten().enumerate() {
            let here = format!("{at}/{i}");
            let spec = match p {
                Value::Object(o) => {
                    let target = o.get("target").and_then(as_u16);
                    let published = o.get("published").and_then(as_u16);
                    target.map(|t| {
                        port(
                            t,
                            published,
                            o.get("host_ip").and_then(Value::as_str),
                            o.get("protocol").and_then(Value::as_str),
                        )
                    })
                }
                v => short_port(scalar_text(v).as_str().unwrap_or_default()),
            };
            match spec {
                Some(s) => out.push(s),
                None => self.note(&here, "port not carried over (ranges and unusual forms: write each port as {container, host})"),
            }
        }
        out
    }

    fn volumes(&mut self, at: &str, value: &Value, instance: &str) -> Vec<Value> {
        let mut out = Vec::new();
        for (i, v) in value.as_array().into_iter().flatten().enumerate() {
            let here = format!("{at}/{i}");
            let (kind, source, target, read_only) = match v {
                Value::String(s) => {
                    let parts: Vec<&str> = s.split(':').collect();
                    match parts.as_slice() {
                        [target] => ("anonymous", String::new(), target.to_string(), false),
                        [source, target] => (
                            kind_of(source),
                            source.to_string(),
                            target.to_string(),
                            false,
                        ),
                        [source, target, mode] => (
                            kind_of(source),
                            source.to_string(),
                            target.to_string(),
                            mode.split(',').any(|m| m == "ro"),
                        ),
                        _ => ("unknown", String::new(), String::new(), false),
                    }
                }
                Value::Object(o) => {
                    let kind = o.get("type").and_then(Value::as_str).unwrap_or("volume");
                    let source = o
                        .get("source")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    let target = o
                        .get("target")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string();
                    let ro = o.get("read_only").and_then(Value::as_bool).unwrap_or(false);
                    let kind = match (kind, source.is_empty()) {
                        ("volume", true) => "anonymous",
                        ("volume", false) => "volume",
                        ("bind", _) => "bind",
                        _ => "unknown",
                    };
                    (kind, source, target, ro)
                }
                _ => ("unknown", String::new(), String::new(), false),
            };
            match kind {
                "volume" => {
                    let name = self.volume(&here, &source, instance);
                    let mut v = json!({"name": name, "target": target});
                    if read_only {
                        v["readOnly"] = json!(true);
                    }
                    out.push(v);
                }
                "bind" if self.config_file(&here, (&source, &target, read_only), instance) => {}
                "bind" => {
                    let mut v = json!({"source": self.bind_source(&source), "target": target});
                    if read_only {
                        v["readOnly"] = json!(true);
                    }
                    out.push(v);
                }
                "anonymous" => {
                    let name = format!("anon{}", i + 1);
                    self.note(&here, &format!("an anonymous volume becomes the named volume {name:?}, kept across recreates"));
                    out.push(json!({"name": name, "target": target}));
                }
                _ => self.note(&here, "volume not carried over (tmpfs and unknown forms: use a named volume or a bind)"),
            }
        }
        out
    }

    /// A bind source as devarch reads it: the same host path, relative to the manifests
    /// folder when it was relative to the compose file.
    fn bind_source(&self, source: &str) -> String {
        if source.starts_with('/') || source.starts_with('~') {
            return source.to_string();
        }
        let absolute = normalize(&self.base.join(source));
        match relative_to(&absolute, &normalize(&self.dir)) {
            Some(rel) if rel.as_os_str().is_empty() => ".".into(),
            Some(rel) => {
                let text = rel.display().to_string();
                if text.starts_with("..") {
                    text
                } else {
                    format!("./{text}")
                }
            }
            None => absolute.display().to_string(),
        }
    }

    fn healthcheck(&mut self, at: &str, value: &Value) -> Option<Value> {
        let h = value.as_object()?;
        if h.get("disable").and_then(Value::as_bool) == Some(true) {
            return Some(json!({"test": ["NONE"]}));
        }
        let mut out = Map::new();
        match h.get("test") {
            Some(Value::String(s)) => {
                out.insert("test".into(), json!(["CMD-SHELL", s]));
            }
            Some(t) => {
                out.insert("test".into(), t.clone());
            }
            None => {}
        }
        for (from, to) in [
            ("interval", "interval"),
            ("timeout", "timeout"),
            ("start_period", "startPeriod"),
            ("retries", "retries"),
        ] {
            if let Some(v) = h.get(from) {
                out.insert(to.into(), v.clone());
            }
        }
        for k in h.keys() {
            if ![
                "test",
                "interval",
                "timeout",
                "start_period",
                "retries",
                "disable",
            ]
            .contains(&k.as_str())
            {
                self.note(
                    &format!("{at}/{k}"),
                    "health check setting not carried over",
                );
            }
        }
        Some(Value::Object(out))
    }

    fn depends_on(
        &mut self,
        at: &str,
        value: &Value,
        names: &BTreeMap<String, String>,
    ) -> Vec<Value> {
        let mut out = Vec::new();
        let entries: Vec<(String, Option<String>)> = match value {
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .map(|s| (s.to_string(), None))
                .collect(),
            Value::Object(map) => map
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.get("condition")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        for (service, condition) in entries {
            let Some(instance) = names.get(&service) else {
                self.note(
                    &format!("{at}/{service}"),
                    "depends on a service the file does not have; not carried over",
                );
                continue;
            };
            let condition = match condition.as_deref() {
                None | Some("service_started") => "started",
                Some("service_healthy") => "healthy",
                Some(other) => {
                    self.note(&format!("{at}/{service}"), &format!("condition {other} has no devarch equivalent; waits for the start instead"));
                    "started"
                }
            };
            out.push(json!({"name": instance, "condition": condition}));
        }
        out
    }

    /// `deploy.resources.limits`, then the service-level `cpus`, `mem_limit`, `pids_limit`.
    fn resources(&mut self, at: &str, s: &Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::new();
        if let Some(deploy) = s.get("deploy").and_then(Value::as_object) {
            for k in deploy.keys().filter(|k| *k != "resources") {
                self.note(
                    &format!("{at}/deploy/{k}"),
                    "swarm deploy settings are not carried over",
                );
            }
            if let Some(res) = deploy.get("resources").and_then(Value::as_object) {
                for k in res.keys().filter(|k| *k != "limits") {
                    self.note(
                        &format!("{at}/deploy/resources/{k}"),
                        "only limits are carried over",
                    );
                }
                if let Some(limits) = res.get("limits").and_then(Value::as_object) {
                    for (k, v) in limits {
                        match k.as_str() {
                            "cpus" => insert_cpus(&mut out, v),
                            "memory" => insert_memory(&mut out, v),
                            "pids" => {
                                out.insert("pids".into(), v.clone());
                            }
                            _ => self.note(
                                &format!("{at}/deploy/resources/limits/{k}"),
                                "limit not carried over",
                            ),
                        }
                    }
                }
            }
        }
        if let Some(v) = s.get("cpus") {
            insert_cpus(&mut out, v);
        }
        if let Some(v) = s.get("mem_limit") {
            insert_memory(&mut out, v);
        }
        if let Some(v) = s.get("pids_limit") {
            out.insert("pids".into(), v.clone());
        }
        out
    }

    /// DevArch v1's `x-devarch-config: {FILE: TARGET}`: `config/FILE` next to the compose file.
    fn config_files(&mut self, at: &str, value: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        for (file, target) in value.as_object().into_iter().flatten() {
            let here = format!("{at}/{file}");
            let inside = Path::new(file)
                .components()
                .all(|c| matches!(c, Component::Normal(_)));
            let Some(target) = target.as_str() else {
                self.note(&here, "the target must be a path; not carried over");
                continue;
            };
            if !inside {
                self.note(
                    &here,
                    "the file must be a path inside config/; not carried over",
                );
                continue;
            }
            let path = self.base.join("config").join(file);
            match crate::safe_fs::read_limited(&path, MAX_FILE_BYTES) {
                Ok(bytes) => match String::from_utf8(bytes) {
                    Ok(content) => out.push(json!({"path": target, "content": content})),
                    Err(_) => self.note(&here, "the file is not UTF-8 text; not carried over"),
                },
                Err(e) => self.note(
                    &here,
                    &format!("config/{file} cannot be read ({e}); not carried over"),
                ),
            }
        }
        out
    }
}

fn kind_of(source: &str) -> &'static str {
    if source.starts_with(['.', '/', '~']) {
        "bind"
    } else {
        "volume"
    }
}

fn as_u16(v: &Value) -> Option<u16> {
    match v {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// A devarch port: `host` None publishes on `auto`, as Compose publishes on a random port.
fn port(container: u16, host: Option<u16>, ip: Option<&str>, protocol: Option<&str>) -> Value {
    let mut p = json!({"container": container});
    p["host"] = match host {
        Some(h) => json!(h),
        None => json!("auto"),
    };
    if let Some(ip) = ip.filter(|ip| !ip.is_empty()) {
        p["hostIp"] = json!(ip);
    }
    if protocol == Some("udp") {
        p["protocol"] = json!("udp");
    }
    p
}

/// A Compose short port (`80`, `8080:80`, `127.0.0.1:8080:80/udp`, `[::1]:8080:80`).
fn short_port(s: &str) -> Option<Value> {
    let (rest, protocol) = match s.rsplit_once('/') {
        Some((r, p)) => (r, Some(p)),
        None => (s, None),
    };
    if rest.contains('-') {
        return None;
    }
    let (ip, rest) = if let Some(stripped) = rest.strip_prefix('[') {
        let (ip, after) = stripped.split_once(']')?;
        (Some(ip), after.strip_prefix(':')?)
    } else {
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() == 3 {
            (Some(parts[0]), &rest[parts[0].len() + 1..])
        } else {
            (None, rest)
        }
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host, container) = match parts.as_slice() {
        [c] => (None, c.parse().ok()?),
        ["", c] => (None, c.parse().ok()?),
        [h, c] => (Some(h.parse().ok()?), c.parse().ok()?),
        _ => return None,
    };
    Some(port(container, host, ip, protocol))
}

fn scalar_text(v: &Value) -> Value {
    match v {
        Value::String(_) => v.clone(),
        Value::Null => json!(""),
        other => json!(other.to_string()),
    }
}

/// A map, or a `KEY=value` list, as a map of strings.
fn key_values(v: &Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect(),
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| match s.split_once('=') {
                Some((k, v)) => (k.to_string(), json!(v)),
                None => (s.to_string(), json!("")),
            })
            .collect(),
        _ => Map::new(),
    }
}

fn insert_cpus(out: &mut Map<String, Value>, v: &Value) {
    let cpus = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    if let Some(c) = cpus {
        out.insert("cpus".into(), json!(c));
    }
}

/// Compose memory (`512m`, `1g`, `1024k`, `1048576`; binary units, as Docker reads them) in
/// devarch's spelling (`512Mi`).
fn insert_memory(out: &mut Map<String, Value>, v: &Value) {
    let text = scalar_text(v)
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let text = text.strip_suffix('b').unwrap_or(&text).to_string();
    let (num, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit() && c != '.')
            .unwrap_or(text.len()),
    );
    let unit = match unit {
        "" => "",
        "k" => "Ki",
        "m" => "Mi",
        "g" => "Gi",
        "t" => "Ti",
        _ => return,
    };
    if !num.is_empty() {
        out.insert("memory".into(), json!(format!("{num}{unit}")));
    }
}

/// `path` with `.` and `..` resolved lexically.
fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for c in absolute.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// `path` relative to `base` (both absolute and normalized).
fn relative_to(path: &Path, base: &Path) -> Option<PathBuf> {
    let p: Vec<Component> = path.components().collect();
    let b: Vec<Component> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return None;
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ports_become_long_ones() {
        assert_eq!(
            short_port("80"),
            Some(json!({"container": 80, "host": "auto"}))
        );
        assert_eq!(
            short_port("8080:80"),
            Some(json!({"container": 80, "host": 8080}))
        );
        assert_eq!(
            short_port("127.0.0.1:8080:80/udp"),
            Some(json!({"container": 80, "host": 8080, "hostIp": "127.0.0.1", "protocol": "udp"}))
        );
        assert_eq!(
            short_port("[::1]:8080:80"),
            Some(json!({"container": 80, "host": 8080, "hostIp": "::1"}))
        );
        assert_eq!(short_port("8000-8010:8000-8010"), None);
    }

    #[test]
    fn memory_is_written_in_binary_units() {
        for (compose, want) in [
            ("512m", "512Mi"),
            ("1g", "1Gi"),
            ("1024", "1024"),
            ("2GB", "2Gi"),
        ] {
            let mut out = Map::new();
            insert_memory(&mut out, &json!(compose));
            assert_eq!(out["memory"], json!(want), "{compose}");
        }
    }

    /// A file as `devarch compose` writes it for stack `s`, imported under `stack`.
    fn import_own_output(stack: &str) -> Imported {
        let text = "services:\n  cache:\n    container_name: 'devarch-s-cache'\n    image: 'i'\n    hostname: 'cache'\n    labels:\n      devarch.stack_id: 's'\n      devarch.instance_id: 'cache'\n      team: 'x'\n    networks:\n      devarch-s-net:\n        aliases: ['cache']\n    volumes:\n    - type: 'volume'\n      source: 'devarch-s-cache-data'\n      target: '/data'\nnetworks:\n  devarch-s-net:\n    name: 'devarch-s-net'\n    labels: {devarch.stack_id: 's'}\nvolumes:\n  devarch-s-cache-data:\n    name: 'devarch-s-cache-data'\n    labels: {devarch.stack_id: 's'}\n";
        let project = tempfile::tempdir().unwrap();
        let options = Options {
            stack: stack.into(),
            as_template: false,
            dir: project.path().to_path_buf(),
            env_from_shell: false,
            home: None,
            secret_values: BTreeMap::new(),
        };
        import(text, &project.path().join("c.yml"), &|_| None, &options).unwrap()
    }

    #[test]
    fn devarchs_own_output_maps_back_to_the_same_volume_without_notes() {
        let own = import_own_output("s");
        assert!(own.notes.is_empty(), "{:?}", own.notes);
        assert!(own.text.contains("name: data\n"), "{}", own.text);
        assert!(own.text.contains("team: x"), "{}", own.text);
        assert!(!own.text.contains("devarch.stack_id"), "{}", own.text);
    }

    #[test]
    fn another_stacks_volume_is_noted_as_a_new_volume() {
        let other = import_own_output("t");
        let volume = other
            .notes
            .iter()
            .find(|n| n.key == "services.cache.volumes.0")
            .expect("a note on the volume");
        assert!(
            volume
                .message
                .contains("devarch-t-cache-devarch-s-cache-data")
                && volume.message.contains("--stack"),
            "{volume:?}"
        );
        // What devarch generated for another stack is reported as not carried over.
        for key in [
            "services.cache.container_name",
            "networks",
            "volumes.devarch-s-cache-data",
        ] {
            assert!(
                other.notes.iter().any(|n| n.key == key),
                "{key}: {:?}",
                other.notes
            );
        }
    }

    #[test]
    fn names_become_dns_labels() {
        assert_eq!(dns_label("My_Service.1"), "my-service-1");
    }

    #[test]
    fn bind_paths_keep_pointing_where_they_did() {
        let cx_dir = |base: &str, dir: &str, source: &str| {
            let doc = &parse_documents("a: 1\n").unwrap()[0];
            let cx = Context {
                doc,
                file: PathBuf::from(base).join("compose.yml"),
                notes: Vec::new(),
                base: PathBuf::from(base),
                dir: PathBuf::from(dir),
                secrets: Vec::new(),
                stack: "s".into(),
                home: None,
                volume_names: BTreeMap::new(),
                files: Vec::new(),
            };
            cx.bind_source(source)
        };
        assert_eq!(cx_dir("/p/app", "/p/app", "./src"), "./src");
        assert_eq!(cx_dir("/p/app", "/p/devarch", "./src"), "../app/src");
        assert_eq!(cx_dir("/p/app", "/p/app/devarch", "."), "..");
        assert_eq!(cx_dir("/p/app", "/q", "/abs/x"), "/abs/x");
    }
}

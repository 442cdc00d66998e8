//! What `devarch compose` writes, read back as the stack it came from: the stack's volumes
//! by their runtime names ([`crate::identity::volume_of`]), config files from their binds under
//! `--home` ([`crate::state::is_config_file_path`]), secrets from their placeholders
//! ([`crate::compose::SECRET_VARIABLE_PREFIX`]), routed host names from the labels devarch
//! gave the container, and the container name, hostname, network and
//! aliases devarch generates recognised as such instead of being reported as left out.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value, json};

use super::variables::{Var, interpolate};
use super::{Context, dns_label, key_values, normalize};
use crate::manifests::yaml::MAX_FILE_BYTES;

impl Context<'_> {
    /// The `${DEVARCH_SECRET_...}` placeholders of `devarch compose` in services'
    /// `environment` maps, turned back into secret references before variables are
    /// resolved, so no secret value lands in the manifests: a value that is exactly the
    /// placeholder of the service's own secret is that secret again (`{secret: NAME}`; its
    /// value, when `.env` sets it, is stored); a value holding placeholders inside text (a
    /// URL with a password) becomes a secret of its own named after the key, its value
    /// resolved from `.env` and `known` (the folder's stored secrets) when all of them
    /// resolve, and noted.
    pub(super) fn secret_placeholders(
        &mut self,
        root: &mut Value,
        dotenv: &BTreeMap<String, String>,
        known: &BTreeMap<String, crate::state::secrets::Secret>,
    ) {
        let prefix = format!("${{{}", crate::compose::SECRET_VARIABLE_PREFIX);
        let Some(services) = root.get_mut("services").and_then(Value::as_object_mut) else {
            return;
        };
        for (service, body) in services.iter_mut() {
            let instance = dns_label(service);
            let own = crate::compose::secret_variable(&instance, "");
            let Some(env) = body.get_mut("environment").and_then(Value::as_object_mut) else {
                continue;
            };
            for (key, value) in env.iter_mut() {
                let Some(text) = value.as_str().filter(|t| t.contains(&prefix)) else {
                    continue;
                };
                let at = format!(
                    "/services/{}/environment/{}",
                    service.replace('~', "~0").replace('/', "~1"),
                    key.replace('~', "~0").replace('/', "~1")
                );
                let whole = text
                    .strip_prefix("${")
                    .and_then(|t| t.strip_suffix('}'))
                    .filter(|v| v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                if let Some(var) = whole
                    && let Some(rest) = var.strip_prefix(&own).filter(|r| !r.is_empty())
                {
                    let name = rest.to_ascii_lowercase().replace('_', "-");
                    if let Some(v) = dotenv.get(var) {
                        self.secrets.push((
                            instance.clone(),
                            name.clone(),
                            crate::state::secrets::Secret::new(v.as_str()),
                        ));
                    }
                    *value = json!({"secret": name});
                    continue;
                }
                let name = key.to_ascii_lowercase().replace('_', "-");
                let lookup = |var: &str| match dotenv.get(var) {
                    Some(v) => Var::Value(v.clone()),
                    None => known
                        .get(var)
                        .map_or(Var::Unset, |v| Var::Value(v.expose().to_string())),
                };
                let mut unresolved = Vec::new();
                let resolved = interpolate(text, &lookup, &mut unresolved)
                    .ok()
                    .filter(|_| unresolved.is_empty());
                let message = match resolved {
                    Some(v) => {
                        self.secrets.push((
                            instance.clone(),
                            name.clone(),
                            crate::state::secrets::Secret::new(v),
                        ));
                        format!(
                            "holds devarch secret placeholders of another instance or inside text (a manifest refers to its own instance's secrets, and puts one inside text only through wiring), so the whole value is secret {name:?} of instance {instance}, stored with the placeholders' values"
                        )
                    }
                    None => format!(
                        "holds devarch secret placeholders of another instance or inside text, whose values are neither in the project's .env nor among this folder's secrets of the stack; the whole value is secret {name:?} of instance {instance}, not set: set it with `devarch secret set {} {instance}/{name}`",
                        self.stack
                    ),
                };
                self.note(&at, &message);
                *value = json!({"secret": name});
            }
        }
    }

    /// The instance's name for the named volume `source`: the volume's own name when it is
    /// one devarch gave this instance (`devarch-STACK-INSTANCE-NAME`, as `devarch compose`
    /// writes it), so the same volume and its data are used again; else `source` as a DNS
    /// label.
    pub(super) fn volume(&mut self, at: &str, source: &str, instance: &str) -> String {
        let real = self
            .volume_names
            .get(source)
            .cloned()
            .unwrap_or_else(|| source.to_string());
        if let Some(name) = crate::identity::volume_of(&self.stack, instance, &real) {
            return name.to_string();
        }
        let name = dns_label(source);
        if real.starts_with(crate::identity::OBJECT_PREFIX) {
            self.note(
                at,
                &format!(
                    "volume {real:?} is named like a devarch volume of another stack or instance; here it is instance {instance}'s volume {name:?}, a new volume {:?} (to keep its data, import it with --stack set to the stack it belongs to)",
                    crate::identity::volume_name(&self.stack, instance, &name)
                ),
            );
        }
        name
    }

    /// Whether the bind of `source` on `target` is a config file devarch materialised under
    /// `--home` for `instance` of this stack of the folder imported into
    /// ([`crate::state::config_file_path`]; `devarch compose` mounts it so, read-only); if so
    /// it is taken as a config file with that file's content and mode. One materialised for
    /// another folder, stack or instance is not read (a project's file could name any of
    /// them): it stays a bind of that path, noted.
    pub(super) fn config_file(
        &mut self,
        at: &str,
        (source, target, read_only): (&str, &str, bool),
        instance: &str,
    ) -> bool {
        let Some(home) = self.home.clone() else {
            return false;
        };
        let path = normalize(Path::new(source));
        if !crate::state::is_config_file_path(&home, &path, target) {
            return false;
        }
        let owner = crate::identity::owner_of(&self.dir);
        let ours = crate::state::config_file_path(&home, &owner, &self.stack, instance, target);
        if !read_only || path != normalize(&ours) {
            self.note(
                at,
                "a config file devarch materialised for another folder, stack or instance: kept as a bind of that path, its content not read (devarch removes the file with that stack); import the file into the folder and stack it came from, or put the content in configFiles",
            );
            return false;
        }
        let content = match crate::safe_fs::read_limited(&path, MAX_FILE_BYTES) {
            Ok(bytes) => String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_string()),
            Err(e) => Err(e.to_string()),
        };
        let content = match content {
            Ok(c) => c,
            Err(why) => {
                self.note(
                    at,
                    &format!(
                        "the config file devarch materialised here cannot be read ({why}): kept as a bind of that path"
                    ),
                );
                return false;
            }
        };
        let mut f = json!({"path": target, "content": content});
        use std::os::unix::fs::PermissionsExt as _;
        if let Ok(meta) = std::fs::metadata(&path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode != 0o644 {
                f["mode"] = json!(format!("{mode:04o}"));
            }
        }
        self.files.push(f);
        true
    }

    /// Whether the top-level `networks` is only the stack's own network as `devarch compose`
    /// writes it (`devarch-STACK-net`, named so, with devarch's labels).
    pub(super) fn only_own_network(&self, networks: Option<&Value>) -> bool {
        let own = crate::identity::network_name(&self.stack);
        let Some(map) = networks.and_then(Value::as_object) else {
            return false;
        };
        map.len() == 1
            && map.get(&own).is_some_and(|n| {
                n.as_object()
                    .is_some_and(|o| o.keys().all(|k| k == "name" || k == "labels"))
                    && n.get("name")
                        .is_none_or(|v| v.as_str() == Some(own.as_str()))
                    && n.get("labels").is_none_or(|l| {
                        key_values(l)
                            .keys()
                            .all(|k| crate::identity::is_devarch_label(k))
                    })
            })
    }

    /// Whether a service's `networks` is what `devarch compose` writes: the stack's network,
    /// with the instance name as its only alias.
    pub(super) fn own_service_network(&self, value: &Value, instance: &str) -> bool {
        let own = crate::identity::network_name(&self.stack);
        match value {
            Value::Array(items) => items.len() == 1 && items[0].as_str() == Some(own.as_str()),
            Value::Object(map) => {
                map.len() == 1
                    && map.get(&own).is_some_and(|n| match n {
                        Value::Null => true,
                        Value::Object(o) => {
                            o.keys().all(|k| k == "aliases")
                                && o.get("aliases").is_none_or(|a| {
                                    a.as_array().is_some_and(|a| {
                                        a.iter().all(|x| x.as_str() == Some(instance))
                                    })
                                })
                        }
                        _ => false,
                    })
            }
            _ => false,
        }
    }

    /// Whether service labels `all` are those devarch gives `instance` of this stack.
    pub(super) fn own_labels(&self, all: &Map<String, Value>, instance: &str) -> bool {
        let label = |k: &str| all.get(k).and_then(Value::as_str);
        label(crate::identity::LABEL_STACK) == Some(self.stack.as_str())
            && label(crate::identity::LABEL_INSTANCE) == Some(instance)
    }

    /// What the router serves for `instance`, read back from the labels devarch gave it: an
    /// `http` export on the routed port, and the host names other than the default one
    /// ([`crate::identity::default_domain`], which the stack adds itself); `None` when the
    /// labels are not devarch's for this instance or route nothing.
    pub(super) fn route(&self, labels: &Value, instance: &str) -> Option<(Value, Option<Value>)> {
        let all = key_values(labels);
        if !self.own_labels(&all, instance) {
            return None;
        }
        let port: u16 = all
            .get(crate::identity::LABEL_DOMAIN_PORT)?
            .as_str()?
            .parse()
            .ok()?;
        let default = crate::identity::default_domain(&self.stack, instance);
        let names: Vec<String> = all
            .get(crate::identity::LABEL_DOMAINS)
            .and_then(Value::as_str)
            .map(crate::identity::decode_domains)
            .unwrap_or_default()
            .into_iter()
            .filter(|n| *n != default)
            .collect();
        let export =
            json!([{"name": "http", "type": crate::resolve::domains::HTTP_EXPORT, "port": port}]);
        Some((export, (!names.is_empty()).then(|| json!(names))))
    }
}

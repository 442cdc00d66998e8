/*! Runtime identity: label keys, derived object names and the name rules that keep them valid.

Every runtime object devarch creates is named from the stack and instance names and carries
the labels below. This module is the only place those strings are spelled and parsed: object
names (and parsing a stack out of a network name), the objects a stack's manifests ask for
([`RuntimeObject`], so collisions of names joined with `-` are found before anything is
created), the label set every object carries, the `devarch.config_fields` encoding, and
reading labels back from what the engine lists ([`Labelled`]).
*/

use std::collections::BTreeMap;

/// What every label devarch sets starts with: keys under it are devarch's alone (a manifest
/// cannot set them, and compose import does not carry them).
pub const LABEL_PREFIX: &str = "devarch.";

/// Whether `key` is under [`LABEL_PREFIX`] (compared without case, so no spelling of it slips
/// through).
pub fn is_devarch_label(key: &str) -> bool {
    key.get(..LABEL_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(LABEL_PREFIX))
}

/// Label marking an object as created by devarch; value [`MANAGED_BY_VALUE`].
pub const LABEL_MANAGED_BY: &str = "devarch.managed_by";
/// Value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY_VALUE: &str = "devarch";
/// Label holding the stack name.
pub const LABEL_STACK: &str = "devarch.stack_id";
/// Label holding the instance name.
pub const LABEL_INSTANCE: &str = "devarch.instance_id";
/// Label holding the template the instance was built from.
pub const LABEL_TEMPLATE: &str = "devarch.template_service_id";
/// Label holding the hash of the container-affecting effective config.
pub const LABEL_CONFIG_HASH: &str = "devarch.config_hash";
/// Label holding per-field hashes (`field=hash,...`), to name the fields that force a recreate.
pub const LABEL_CONFIG_FIELDS: &str = "devarch.config_fields";
/// Label holding the container's limits as people read them (`cpus=1.5,memory=512Mi,pids=256`,
/// empty for none), so a plan shows old → new values ([`Limits`]).
pub const LABEL_LIMITS: &str = "devarch.limits";
/// Label identifying the manifests folder that owns the object.
pub const LABEL_OWNER: &str = "devarch.owner";
/// Label holding the host names the router serves for a container (`a.localhost,b.localhost`,
/// [`encode_domains`]); only on containers that have some.
pub const LABEL_DOMAINS: &str = "devarch.domains";
/// Label holding the container port the router sends a container's [`LABEL_DOMAINS`] to.
pub const LABEL_DOMAIN_PORT: &str = "devarch.domain_port";
/// Label marking the router container ([`ROUTER_NAME`]); value [`MANAGED_BY_VALUE`]. The
/// router belongs to no stack and no folder: it carries no stack or owner label.
pub const LABEL_ROUTER: &str = "devarch.router";
/// Label holding the hash of the router container's settings (image, port, reach).
pub const LABEL_ROUTER_HASH: &str = "devarch.router_hash";
/// Label saying how the router reaches the instances it proxies to (`networks` or `host`: see
/// `router::Reach`).
pub const LABEL_ROUTER_REACH: &str = "devarch.router_reach";

/// Label holding the nginx image the router runs (so another folder asking for another one is
/// told which).
pub const LABEL_ROUTER_IMAGE: &str = "devarch.router_image";
/// Label holding the host port the router listens on.
pub const LABEL_ROUTER_PORT: &str = "devarch.router_port";

/// Name of the one router container per engine: `devarch-router` (no stack's container can be
/// named so: theirs are `devarch-{stack}-{instance}`).
pub const ROUTER_NAME: &str = "devarch-router";

/// Prefix of every runtime object name, without the separating `-`.
pub const NAME_PREFIX: &str = "devarch";

/// What every runtime object name starts with (`devarch-`): the name prefix the engine lists
/// are filtered by.
pub const OBJECT_PREFIX: &str = "devarch-";

/// Suffix of the temporary container a recreate makes before it replaces the old one (`_`
/// never appears in stack or instance names, so it cannot collide with a real instance).
pub const NEXT_SUFFIX: &str = "_next";

/// Longest stack name: keeps `devarch-{stack}-{instance}` within a 63-character DNS label.
pub const MAX_STACK_NAME: usize = 24;
/// Longest instance name (see [`MAX_STACK_NAME`]).
pub const MAX_INSTANCE_NAME: usize = 30;
/// Longest template, volume and other logical names.
pub const MAX_NAME: usize = 63;

/// A DNS label, as a regular expression: what [`check_name`] accepts, before its length
/// and reserved-word rules (the schemas carry all three).
pub const DNS_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// Words that may not be used as names.
pub const RESERVED_NAMES: &[&str] = &[
    "default", "devarch", "none", "all", "system", "host", "bridge",
];

/// Container name of an instance: `devarch-{stack}-{instance}`.
pub fn container_name(stack: &str, instance: &str) -> String {
    format!("{NAME_PREFIX}-{stack}-{instance}")
}

/// Network name of a stack: `devarch-{stack}-net`.
pub fn network_name(stack: &str) -> String {
    format!("{NAME_PREFIX}-{stack}-net")
}

/// Named volume of an instance: `devarch-{stack}-{instance}-{volume}`.
pub fn volume_name(stack: &str, instance: &str, volume: &str) -> String {
    format!("{NAME_PREFIX}-{stack}-{instance}-{volume}")
}

/// The manifest name of the named volume `runtime` when it is one of `instance` of `stack`
/// (`devarch-{stack}-{instance}-{volume}` → `volume`), as [`volume_name`] writes it.
pub fn volume_of<'a>(stack: &str, instance: &str, runtime: &'a str) -> Option<&'a str> {
    runtime
        .strip_prefix(&container_name(stack, instance))?
        .strip_prefix('-')
        .filter(|v| !v.is_empty())
}

/// What every object name of `stack` starts with: `devarch-{stack}-`. Objects of a stack whose
/// name has a `-` (`a-b`) also match the prefix of stack `a`: callers must check labels too.
pub fn stack_prefix(stack: &str) -> String {
    format!("{NAME_PREFIX}-{stack}-")
}

/// The stack a network name belongs to: `devarch-{stack}-net` → `stack`. Engines put no labels
/// on network events, so the controller reads the stack from the name.
pub fn stack_of_network(name: &str) -> Option<&str> {
    name.strip_prefix(OBJECT_PREFIX)?
        .strip_suffix("-net")
        .filter(|s| !s.is_empty())
}

/// Name of the temporary container a recreate creates next to `container` (see
/// [`NEXT_SUFFIX`]).
pub fn next_container_name(container: &str) -> String {
    format!("{container}{NEXT_SUFFIX}")
}

/// Whether a container name is a recreate's temporary one (a leftover when a recreate was
/// interrupted).
pub fn is_next_container_name(name: &str) -> bool {
    name.ends_with(NEXT_SUFFIX)
}

/// A kind of runtime object: an engine keeps one namespace of names per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ObjectKind {
    /// Containers (including a recreate's temporary ones).
    Container,
    /// Networks.
    Network,
    /// Named volumes.
    Volume,
}

/// A runtime object the manifests ask for, by the names its runtime name is made of. Names
/// are joined with `-`, so different objects can map to one runtime name (stack `a` with
/// instance `b-c`, stack `a-b` with instance `c`): [`RuntimeObject::runtime_name`] is how a
/// collision is found before anything is created.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuntimeObject<'a> {
    /// The network of a stack ([`network_name`]).
    Network {
        /// Stack name.
        stack: &'a str,
    },
    /// The container of an instance ([`container_name`]).
    Container {
        /// Stack name.
        stack: &'a str,
        /// Instance name.
        instance: &'a str,
    },
    /// The temporary container a recreate makes next to an instance's container
    /// ([`next_container_name`]).
    NextContainer {
        /// Stack name.
        stack: &'a str,
        /// Instance name.
        instance: &'a str,
    },
    /// A named volume of an instance ([`volume_name`]).
    Volume {
        /// Stack name.
        stack: &'a str,
        /// Instance name.
        instance: &'a str,
        /// The volume's logical name in the manifest.
        volume: &'a str,
    },
}

impl<'a> RuntimeObject<'a> {
    /// The namespace its name lives in.
    pub fn kind(&self) -> ObjectKind {
        match self {
            Self::Network { .. } => ObjectKind::Network,
            Self::Container { .. } | Self::NextContainer { .. } => ObjectKind::Container,
            Self::Volume { .. } => ObjectKind::Volume,
        }
    }

    /// Its name on the engine.
    pub fn runtime_name(&self) -> String {
        match self {
            Self::Network { stack } => network_name(stack),
            Self::Container { stack, instance } => container_name(stack, instance),
            Self::NextContainer { stack, instance } => {
                next_container_name(&container_name(stack, instance))
            }
            Self::Volume {
                stack,
                instance,
                volume,
            } => volume_name(stack, instance, volume),
        }
    }

    /// The stack it belongs to.
    pub fn stack(&self) -> &'a str {
        match self {
            Self::Network { stack }
            | Self::Container { stack, .. }
            | Self::NextContainer { stack, .. }
            | Self::Volume { stack, .. } => stack,
        }
    }

    /// The instance it belongs to; `None` for a stack's network.
    pub fn instance(&self) -> Option<&'a str> {
        match self {
            Self::Network { .. } => None,
            Self::Container { instance, .. }
            | Self::NextContainer { instance, .. }
            | Self::Volume { instance, .. } => Some(instance),
        }
    }
}

impl std::fmt::Display for RuntimeObject<'_> {
    /// What it is for people: `the container of a/b-c`, `volume data of a/db`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Network { stack } => write!(f, "the network of stack {stack}"),
            Self::Container { stack, instance } => {
                write!(f, "the container of {stack}/{instance}")
            }
            Self::NextContainer { stack, instance } => {
                write!(f, "the recreate container of {stack}/{instance}")
            }
            Self::Volume {
                stack,
                instance,
                volume,
            } => write!(f, "volume {volume} of {stack}/{instance}"),
        }
    }
}

/// Every runtime object of a stack's network.
pub fn stack_objects(stack: &str) -> Vec<RuntimeObject<'_>> {
    vec![RuntimeObject::Network { stack }]
}

/// Every runtime object of one instance: its container, the temporary container a recreate
/// makes next to it, and its named volumes (logical names, as the effective spec lists them).
pub fn instance_objects<'a>(
    stack: &'a str,
    instance: &'a str,
    volumes: impl IntoIterator<Item = &'a str>,
) -> Vec<RuntimeObject<'a>> {
    let mut out = vec![
        RuntimeObject::Container { stack, instance },
        RuntimeObject::NextContainer { stack, instance },
    ];
    out.extend(volumes.into_iter().map(|volume| RuntimeObject::Volume {
        stack,
        instance,
        volume,
    }));
    out
}

/// The owner label value of a manifests folder: its canonical absolute path (the absolute
/// path as given when it cannot be canonicalised, e.g. because it does not exist yet).
pub fn owner_of(dir: &std::path::Path) -> String {
    std::fs::canonicalize(dir)
        .unwrap_or_else(|_| std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()))
        .display()
        .to_string()
}

/// The engine-side label filter selecting everything devarch manages
/// (`devarch.managed_by=devarch`), as the engines' `label` filter takes it.
pub fn managed_label_filter() -> String {
    format!("{LABEL_MANAGED_BY}={MANAGED_BY_VALUE}")
}

/// The labels every object of `stack` carries: managed-by, stack and owner (the manifests
/// folder). Containers and volumes add their instance; containers their template and hashes.
pub fn stack_labels(stack: &str, owner: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY_VALUE.to_string()),
        (LABEL_STACK.to_string(), stack.to_string()),
        (LABEL_OWNER.to_string(), owner.to_string()),
    ])
}

/// The host name every instance that exports `http` gets unless its stack opts out:
/// `{instance}.{stack}.localhost` (RFC 6761: browsers and curl resolve `*.localhost` to
/// loopback).
pub fn default_domain(stack: &str, instance: &str) -> String {
    format!("{instance}.{stack}.localhost")
}

/// `name` moved from stack `from`'s default domain space to `to`'s: a host name whose label
/// right before `localhost` is `from` (`web.blog.localhost`, `blog.localhost`; compared
/// without case) with `to` in that label's place, in lower case; `None` for any other name.
pub fn rehome_domain(name: &str, from: &str, to: &str) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let rest = lower.strip_suffix(".localhost")?;
    match rest.rsplit_once('.') {
        Some((prefix, stack)) if stack == from => Some(format!("{prefix}.{to}.localhost")),
        None if rest == from => Some(format!("{to}.localhost")),
        _ => None,
    }
}

/// The [`LABEL_DOMAINS`] value of a list of host names.
pub fn encode_domains(domains: &[String]) -> String {
    domains.join(",")
}

/// Parses a [`LABEL_DOMAINS`] value; empty entries are skipped.
pub fn decode_domains(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|d| !d.is_empty())
        .map(str::to_string)
        .collect()
}

/// The `devarch.config_fields` label value: `field=hash,...` in field order.
pub fn encode_config_fields(fields: &BTreeMap<String, String>) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Parses a `devarch.config_fields` label value; entries without `=` are skipped (a label
/// edited by hand only makes the plan name fewer fields).
pub fn decode_config_fields(s: &str) -> BTreeMap<String, String> {
    s.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A container's CPU, memory and process limits as people read them (`1.5`, `512Mi`, `256`);
/// `None` is no limit. Written to [`LABEL_LIMITS`] and read back from it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Limits {
    /// CPU cores.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    /// Memory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Processes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<String>,
}

impl Limits {
    /// The limits a container spec asks for.
    pub fn of(spec: &crate::runtime::ContainerSpec) -> Limits {
        use crate::manifests::quantity::{format_cpus, format_memory};
        Limits {
            cpus: spec.nano_cpus.map(format_cpus),
            memory: spec.memory.map(format_memory),
            pids: spec.pids_limit.map(|p| p.to_string()),
        }
    }

    /// `(name, value)` of each limit, in label order.
    fn entries(&self) -> [(&'static str, &Option<String>); 3] {
        [
            ("cpus", &self.cpus),
            ("memory", &self.memory),
            ("pids", &self.pids),
        ]
    }

    /// The [`LABEL_LIMITS`] value: `cpus=1.5,memory=512Mi`, empty for none.
    pub fn label(&self) -> String {
        self.entries()
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Parses a [`LABEL_LIMITS`] value; unknown entries are skipped.
    pub fn parse(label: &str) -> Limits {
        let mut out = Limits::default();
        for (k, v) in label.split(',').filter_map(|kv| kv.split_once('=')) {
            let slot = match k {
                "cpus" => &mut out.cpus,
                "memory" => &mut out.memory,
                "pids" => &mut out.pids,
                _ => continue,
            };
            *slot = Some(v.to_string());
        }
        out
    }

    /// `(name, old, new)` of each limit that differs from `old`.
    pub fn changes_from(
        &self,
        old: &Limits,
    ) -> Vec<(&'static str, Option<String>, Option<String>)> {
        self.entries()
            .into_iter()
            .zip(old.entries())
            .filter(|((_, new), (_, was))| new != was)
            .map(|((name, new), (_, was))| (name, was.clone(), new.clone()))
            .collect()
    }
}

/// Reading devarch's labels back from an object the engine listed (or an event about it).
pub trait Labelled {
    /// The object's labels as the engine reports them.
    fn labels(&self) -> &BTreeMap<String, String>;

    /// Managed by devarch and owned by `owner` (the manifests folder): the only objects
    /// devarch may change or remove.
    fn is_ours(&self, owner: &str) -> bool {
        self.is_managed() && self.owner() == Some(owner)
    }
    /// Managed by some devarch, maybe of another manifests folder.
    fn is_managed(&self) -> bool {
        self.labels().get(LABEL_MANAGED_BY).map(String::as_str) == Some(MANAGED_BY_VALUE)
    }
    /// The stack it belongs to (`devarch.stack_id`).
    fn stack(&self) -> Option<&str> {
        self.labels().get(LABEL_STACK).map(String::as_str)
    }
    /// The instance it belongs to (`devarch.instance_id`; containers and volumes only).
    fn instance(&self) -> Option<&str> {
        self.labels().get(LABEL_INSTANCE).map(String::as_str)
    }
    /// The config hash it was created with (`devarch.config_hash`; containers only).
    fn config_hash(&self) -> Option<&str> {
        self.labels().get(LABEL_CONFIG_HASH).map(String::as_str)
    }
    /// Per-field hashes it was created with (`devarch.config_fields`); empty when absent.
    fn config_fields(&self) -> BTreeMap<String, String> {
        self.labels()
            .get(LABEL_CONFIG_FIELDS)
            .map(|s| decode_config_fields(s))
            .unwrap_or_default()
    }
    /// The limits it was created with (`devarch.limits`); `None` when it carries no such
    /// label (created by an earlier devarch, or not by devarch).
    fn limits(&self) -> Option<Limits> {
        self.labels().get(LABEL_LIMITS).map(|l| Limits::parse(l))
    }
    /// The manifests folder that owns it (`devarch.owner`).
    fn owner(&self) -> Option<&str> {
        self.labels().get(LABEL_OWNER).map(String::as_str)
    }
}

impl Labelled for BTreeMap<String, String> {
    fn labels(&self) -> &BTreeMap<String, String> {
        self
    }
}

/// What kind of thing a name names; decides its length limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// A Stack: at most [`MAX_STACK_NAME`] characters.
    Stack,
    /// An Instance: at most [`MAX_INSTANCE_NAME`] characters.
    Instance,
    /// A Template: at most [`MAX_NAME`] characters.
    Template,
    /// A named volume of an instance.
    Volume,
}

impl NameKind {
    /// Longest name allowed.
    pub fn max_len(self) -> usize {
        match self {
            NameKind::Stack => MAX_STACK_NAME,
            NameKind::Instance => MAX_INSTANCE_NAME,
            NameKind::Template | NameKind::Volume => MAX_NAME,
        }
    }

    /// Lower-case noun for messages.
    pub fn noun(self) -> &'static str {
        match self {
            NameKind::Stack => "stack",
            NameKind::Instance => "instance",
            NameKind::Template => "template",
            NameKind::Volume => "volume",
        }
    }
}

/// Check a name: a DNS label, within its length limit, not reserved.
///
/// # Errors
/// A message saying what is wrong, suitable for a diagnostic.
pub fn check_name(kind: NameKind, name: &str) -> Result<(), String> {
    let noun = kind.noun();
    if name.is_empty() {
        return Err(format!("{noun} name is empty"));
    }
    let bytes = name.as_bytes();
    let ok_char = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
    if !bytes.iter().all(ok_char)
        || !bytes[0].is_ascii_alphanumeric()
        || !bytes[bytes.len() - 1].is_ascii_alphanumeric()
    {
        return Err(format!(
            "{noun} name {name:?} is not a DNS label: use lower-case letters, digits and '-', starting and ending with a letter or digit"
        ));
    }
    if name.len() > kind.max_len() {
        return Err(format!(
            "{noun} name {name:?} is {} characters, over the {} allowed (derived runtime names must fit their limits)",
            name.len(),
            kind.max_len()
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!(
            "{noun} name {name:?} is reserved (reserved: {})",
            RESERVED_NAMES.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_under_the_stacks_own_localhost_are_rehomed() {
        let r = |n: &str| rehome_domain(n, "blog", "copy");
        assert_eq!(
            r("web.blog.localhost").as_deref(),
            Some("web.copy.localhost")
        );
        assert_eq!(
            r("A.Web.BLOG.localhost").as_deref(),
            Some("a.web.copy.localhost")
        );
        assert_eq!(r("blog.localhost").as_deref(), Some("copy.localhost"));
        for other in [
            "www.example.test",
            "web.blogs.localhost",
            "web.xblog.localhost",
            "blog.web.localhost",
            "web.blog.localhost.evil",
            "localhost",
            "web.blog.example",
        ] {
            assert_eq!(r(other), None, "{other}");
        }
    }

    #[test]
    fn volume_names_map_back_to_the_manifest_name() {
        let runtime = volume_name("s", "cache", "data");
        assert_eq!(volume_of("s", "cache", &runtime), Some("data"));
        assert_eq!(volume_of("s", "web", &runtime), None);
        assert_eq!(volume_of("t", "cache", &runtime), None);
        assert_eq!(volume_of("s", "cache", "devarch-s-cache-"), None);
        assert_eq!(volume_of("s", "cache", "devarch-s-cachedata"), None);
    }

    #[test]
    fn derived_names() {
        assert_eq!(container_name("blog", "db"), "devarch-blog-db");
        assert_eq!(network_name("blog"), "devarch-blog-net");
        assert_eq!(volume_name("blog", "db", "data"), "devarch-blog-db-data");
    }

    #[test]
    fn objects_of_different_instances_can_share_a_runtime_name() {
        let a = instance_objects("a", "b-c", ["d"]);
        let b = instance_objects("a-b", "c", ["d"]);
        for (x, y) in a.iter().zip(&b) {
            assert_ne!(x, y);
            assert_eq!((x.kind(), x.runtime_name()), (y.kind(), y.runtime_name()));
        }
        assert_eq!(a[0].runtime_name(), "devarch-a-b-c");
        assert_eq!(a[1].runtime_name(), "devarch-a-b-c_next");
        assert_eq!(a[2].runtime_name(), "devarch-a-b-c-d");
        let v1 = &instance_objects("a", "b", ["c-d"])[2];
        let v2 = &instance_objects("a-b", "c", ["d"])[2];
        assert_eq!(v1.runtime_name(), v2.runtime_name());
        assert_eq!(v1.to_string(), "volume c-d of a/b");
        assert_eq!(a[0].to_string(), "the container of a/b-c");
        assert_eq!((a[0].stack(), a[0].instance()), ("a", Some("b-c")));
        assert_eq!(stack_objects("a")[0].runtime_name(), network_name("a"));
        assert_eq!(stack_objects("a")[0].kind(), ObjectKind::Network);
    }

    #[test]
    fn network_names_parse_back_to_their_stack() {
        assert_eq!(stack_of_network(&network_name("blog")), Some("blog"));
        assert_eq!(stack_of_network(&network_name("a-net")), Some("a-net"));
        assert_eq!(stack_of_network("devarch--net"), None);
        assert_eq!(stack_of_network("other-blog-net"), None);
        assert_eq!(stack_of_network("devarch-blog-db"), None);
    }

    #[test]
    fn config_fields_round_trip_and_next_names_are_recognised() {
        let fields = BTreeMap::from([
            ("env".to_string(), "abc".to_string()),
            ("image".to_string(), "def".to_string()),
        ]);
        let encoded = encode_config_fields(&fields);
        assert_eq!(encoded, "env=abc,image=def");
        assert_eq!(decode_config_fields(&encoded), fields);
        assert_eq!(decode_config_fields("junk,a=1").len(), 1);
        let next = next_container_name(&container_name("blog", "db"));
        assert_eq!(next, "devarch-blog-db_next");
        assert!(is_next_container_name(&next));
        assert!(!is_next_container_name("devarch-blog-db"));
    }

    #[test]
    fn labels_read_back() {
        let mut l = stack_labels("blog", "/m");
        assert!(l.is_ours("/m") && !l.is_ours("/other") && l.is_managed());
        assert_eq!(
            (l.stack(), l.owner(), l.instance()),
            (Some("blog"), Some("/m"), None)
        );
        l.insert(LABEL_MANAGED_BY.into(), "someone".into());
        assert!(!l.is_managed() && !l.is_ours("/m"));
    }

    #[test]
    fn longest_names_fit_a_dns_label() {
        let s = "s".repeat(MAX_STACK_NAME);
        let i = "i".repeat(MAX_INSTANCE_NAME);
        assert!(container_name(&s, &i).len() <= 63);
    }

    #[test]
    fn name_rules() {
        assert!(check_name(NameKind::Stack, "blog-2").is_ok());
        assert!(check_name(NameKind::Stack, "Blog").is_err());
        assert!(check_name(NameKind::Stack, "-blog").is_err());
        assert!(check_name(NameKind::Stack, "blog-").is_err());
        assert!(check_name(NameKind::Stack, "bl_og").is_err());
        assert!(
            check_name(NameKind::Stack, "default")
                .unwrap_err()
                .contains("reserved")
        );
        assert!(
            check_name(NameKind::Stack, &"a".repeat(25))
                .unwrap_err()
                .contains("over the 24")
        );
        assert!(check_name(NameKind::Template, &"a".repeat(25)).is_ok());
    }
}

/*! Runtime identity: label keys, derived object names and the name rules that keep them valid.

Every runtime object devarch creates is named from the stack and instance names and carries
the labels below. This module is the only place those strings are spelled and parsed: object
names (and parsing a stack out of a network name), the label set every object carries, the
`devarch.config_fields` encoding, and reading labels back from what the engine lists
([`Labelled`]).
*/

use std::collections::BTreeMap;

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
/// Label identifying the manifests folder that owns the object.
pub const LABEL_OWNER: &str = "devarch.owner";

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
    fn derived_names() {
        assert_eq!(container_name("blog", "db"), "devarch-blog-db");
        assert_eq!(network_name("blog"), "devarch-blog-net");
        assert_eq!(volume_name("blog", "db", "data"), "devarch-blog-db-data");
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

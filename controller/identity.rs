/*! Runtime identity: label keys, derived object names and the name rules that keep them valid.

Every runtime object devarch creates is named from the stack and instance names and carries
the labels below; this module is the only place those strings are spelled.
*/

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

/// Prefix of every runtime object name.
pub const NAME_PREFIX: &str = "devarch";

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

/// What kind of thing a name names; decides its length limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    /// A Stack.
    Stack,
    /// An Instance.
    Instance,
    /// A Template.
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

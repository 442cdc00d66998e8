/*! Keys pasted from a Compose service that devarch spells differently or does not need,
with what to write instead: the one table `devarch validate` takes its Compose hints from. */

/// Where a Compose key is recognised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Within {
    /// A service: a Template's or Instance's `spec`, or an inline instance.
    Service,
    /// The mapping under this field (e.g. `healthcheck`).
    Field(&'static str),
}

/// Compose key, where it is recognised, and the hint.
const HINTS: &[(&str, Within, &str)] = &[
    (
        "environment",
        Within::Service,
        "Compose's `environment` is `env` here (a map, or a list of KEY=VALUE)",
    ),
    (
        "depends_on",
        Within::Service,
        "Compose's `depends_on` is `dependsOn` here: a list of names, or `{name: db, condition: healthy}` for `condition: service_healthy`",
    ),
    ("working_dir", Within::Service, "write `workingDir`"),
    (
        "container_name",
        Within::Service,
        "container names are derived, devarch-{stack}-{instance}: remove it (the instance name is the key under `instances`, or `metadata.name`)",
    ),
    (
        "restart",
        Within::Service,
        "there is no restart policy: the controller restarts whatever should run (every instance of an enabled stack); remove it",
    ),
    (
        "env_file",
        Within::Service,
        "env files are not read: list the variables under `env` (secrets as `{secret: NAME}`)",
    ),
    (
        "expose",
        Within::Service,
        "not needed: the instances of a stack reach each other on every port; `ports` publishes on the host",
    ),
    (
        "networks",
        Within::Service,
        "each stack has one network, which all its instances join: remove it",
    ),
    (
        "build",
        Within::Service,
        "building images is not supported: build it with `docker build -t NAME .` (or `podman build`) and set `image: NAME`",
    ),
    (
        "deploy",
        Within::Service,
        "for Compose's `deploy.resources.limits`, write `resources: {cpus: 1.5, memory: 512Mi}`",
    ),
    (
        "start_period",
        Within::Field("healthcheck"),
        "write `startPeriod`",
    ),
];

/// The hint for an unknown key `key` in the mapping at JSON pointer `parent`, whose valid
/// keys are `valid`; `None` when it is not a Compose key devarch knows.
pub fn compose_hint(key: &str, parent: &str, valid: &[String]) -> Option<&'static str> {
    let is_service = valid.iter().any(|k| k == "image");
    let last = parent.rsplit('/').next().unwrap_or_default();
    HINTS
        .iter()
        .find(|(k, within, _)| {
            *k == key
                && match within {
                    Within::Service => is_service,
                    Within::Field(f) => *f == last,
                }
        })
        .map(|(_, _, hint)| *hint)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_apply_where_compose_writes_the_key() {
        let service = vec!["env".to_string(), "image".to_string()];
        assert!(
            compose_hint("environment", "/spec", &service)
                .unwrap()
                .contains("`env`")
        );
        assert_eq!(
            compose_hint("environment", "/metadata", &["name".into()]),
            None
        );
        assert_eq!(
            compose_hint("start_period", "/spec/healthcheck", &["startPeriod".into()]),
            Some("write `startPeriod`")
        );
        assert_eq!(compose_hint("start_period", "/spec", &service), None);
        assert_eq!(compose_hint("imagee", "/spec", &service), None);
    }
}

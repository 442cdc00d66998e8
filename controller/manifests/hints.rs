/*! Help for an unknown field: what a key pasted from a Compose file is called here (or why
devarch does not need it), else the closest field that is valid at that position.
*/

use serde_json::Value;

/// What devarch says about a Compose key that is not a devarch field, by key.
const COMPOSE_KEYS: &[(&str, &str)] = &[
    (
        "environment",
        "Compose's `environment` is `env` here (a mapping NAME: value)",
    ),
    (
        "depends_on",
        "Compose's `depends_on` is `dependsOn` here; `condition: service_healthy` is `condition: healthy`",
    ),
    (
        "working_dir",
        "Compose's `working_dir` is `workingDir` here",
    ),
    (
        "container_name",
        "container names are derived, devarch-{stack}-{instance}: rename the instance (its key) or the stack instead",
    ),
    (
        "restart",
        "not needed: `devarch watch` restarts whatever should be running, so there is no restart policy",
    ),
    (
        "env_file",
        "not supported: list the variables under `env` (secret values as {secret: NAME})",
    ),
    (
        "expose",
        "not needed: instances reach each other on the stack network by instance name; publish to the host with `ports`",
    ),
    (
        "networks",
        "not needed: each stack has one network, devarch-{stack}-net, which every instance joins under its name",
    ),
    (
        "build",
        "not supported: build the image first (`docker build -t NAME .` or `podman build -t NAME .`) and set `image: NAME`",
    ),
    (
        "deploy",
        "Compose's `deploy.resources.limits` is `resources: {memory, cpus}` here",
    ),
    (
        "start_period",
        "Compose's `start_period` is `startPeriod` here",
    ),
    (
        "service_healthy",
        "Compose's `service_healthy` is `healthy` here",
    ),
];

/// The help for a Compose key or value that devarch spells differently or does not need.
pub fn compose_hint(key: &str) -> Option<&'static str> {
    COMPOSE_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, hint)| *hint)
}

/// "did you mean" for `name` among the fields valid where it was found.
pub fn did_you_mean<'a>(name: &str, valid: &'a [String]) -> Option<&'a str> {
    valid
        .iter()
        .map(|k| (strsim::jaro_winkler(k, name), k))
        .filter(|(s, _)| *s > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k.as_str())
}

/// The property names a schema allows in the mapping at `pointer` (a JSON pointer into a
/// document the schema validates): the mapping's own fields, not every name in the schema.
pub fn fields_at(schema: &Value, pointer: &str) -> Vec<String> {
    let defs = schema.get("$defs");
    let mut nodes = expand(schema, defs);
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        let mut next = Vec::new();
        for node in &nodes {
            let child = node
                .get("properties")
                .and_then(|p| p.get(&segment))
                .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
                .or_else(|| {
                    segment
                        .parse::<usize>()
                        .ok()
                        .and_then(|_| node.get("items"))
                });
            if let Some(child) = child {
                next.extend(expand(child, defs));
            }
        }
        nodes = next;
    }
    let mut names: Vec<String> = nodes
        .iter()
        .filter_map(|n| n.get("properties").and_then(Value::as_object))
        .flat_map(|p| p.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// `node` with its `$ref` resolved (in `$defs`) and its `anyOf`/`oneOf`/`allOf` branches.
fn expand<'a>(node: &'a Value, defs: Option<&'a Value>) -> Vec<&'a Value> {
    let mut out = Vec::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if out.len() > 64 {
            break;
        }
        if let Some(name) = n
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
            && let Some(target) = defs.and_then(|d| d.get(name))
        {
            stack.push(target);
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(Value::Array(branches)) = n.get(key) {
                stack.extend(branches.iter());
            }
        }
        out.push(n);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::schema::{Kind, kind_schema};

    #[test]
    fn fields_are_those_of_the_position() {
        let stack = kind_schema(Kind::Stack);
        let instance = fields_at(&stack, "/spec/instances/web");
        assert!(instance.contains(&"env".to_string()), "{instance:?}");
        assert!(instance.contains(&"template".to_string()), "{instance:?}");
        assert!(!instance.contains(&"instances".to_string()), "{instance:?}");
        let top = fields_at(&stack, "");
        assert_eq!(top, ["apiVersion", "kind", "metadata", "spec"]);
        let health = fields_at(&stack, "/spec/instances/web/healthcheck");
        assert!(health.contains(&"startPeriod".to_string()), "{health:?}");
        assert!(!health.contains(&"env".to_string()), "{health:?}");
    }

    #[test]
    fn compose_keys_get_their_own_hint() {
        assert!(compose_hint("environment").unwrap().contains("`env`"));
        assert!(compose_hint("build").unwrap().contains("docker build"));
        assert_eq!(compose_hint("image"), None);
    }
}

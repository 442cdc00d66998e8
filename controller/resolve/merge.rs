/*! Effective config = template ⊕ instance overrides, overrides win.

Maps merge by key (`null` deletes a key), keyed lists merge by their natural key
(ports by container port + protocol, volumes and config files by target path,
dependencies, exports and imports by name), everything else is replaced.
Works on the canonical JSON form of [`ServiceSpec`], so short forms were already
normalised by deserialization.
*/

use serde_json::{Map, Value};

use crate::manifests::types::ServiceSpec;

/// The natural key of an item of a keyed list, by field name.
fn list_key(field: &str, item: &Value) -> Option<String> {
    let s = |k: &str| {
        item.get(k).map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
    };
    match field {
        "ports" => Some(format!(
            "{}/{}",
            s("container")?,
            item.get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("tcp")
        )),
        "volumes" => s("target"),
        "configFiles" => s("path"),
        "dependsOn" | "exports" | "imports" => s("name"),
        _ => None,
    }
}

/// Fields whose values are maps merged by key.
const MAP_FIELDS: &[&str] = &["env", "labels", "healthcheck", "resources"];

fn merge_map(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (k, v) in over {
        if v.is_null() {
            base.shift_remove(k);
        } else {
            base.insert(k.clone(), v.clone());
        }
    }
}

fn merge_keyed(field: &str, base: &mut Vec<Value>, over: &[Value]) {
    for item in over {
        let key = list_key(field, item);
        match base
            .iter_mut()
            .find(|b| key.is_some() && list_key(field, b) == key)
        {
            Some(slot) => *slot = item.clone(),
            None => base.push(item.clone()),
        }
    }
}

/// Merge `over` into `base` (both canonical service specs as JSON objects).
pub fn merge_values(base: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (field, ov) in over {
        match (base.get_mut(field), ov) {
            (_, Value::Null) => {
                base.shift_remove(field);
            }
            (Some(Value::Object(b)), Value::Object(o)) if MAP_FIELDS.contains(&field.as_str()) => {
                merge_map(b, o)
            }
            (Some(Value::Array(b)), Value::Array(o)) if is_keyed(field) => merge_keyed(field, b, o),
            _ => {
                base.insert(field.clone(), ov.clone());
            }
        }
    }
    // Nulls inside maps mean "not set": drop them from the result.
    for field in MAP_FIELDS {
        if let Some(Value::Object(m)) = base.get_mut(*field) {
            m.retain(|_, v| !v.is_null());
        }
    }
}

fn is_keyed(field: &str) -> bool {
    matches!(
        field,
        "ports" | "volumes" | "configFiles" | "dependsOn" | "exports" | "imports"
    )
}

fn to_object(spec: &ServiceSpec) -> Map<String, Value> {
    match serde_json::to_value(spec).expect("service spec serializes") {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `template ⊕ overrides`.
pub fn merge(template: &ServiceSpec, overrides: &ServiceSpec) -> ServiceSpec {
    let mut base = to_object(template);
    merge_values(&mut base, &to_object(overrides));
    serde_json::from_value(Value::Object(base)).expect("merged canonical spec deserializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifests::types::EnvValue;
    use proptest::prelude::*;
    use serde_json::json;

    fn spec(v: Value) -> ServiceSpec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn maps_merge_by_key_and_null_deletes() {
        let t = spec(json!({"env": {"A": "1", "B": "2", "C": "3"}, "labels": {"x": "1"}}));
        let o = spec(json!({"env": {"B": "20", "C": null, "D": "4"}}));
        let m = merge(&t, &o);
        let keys: Vec<_> = m.env.keys().cloned().collect();
        assert_eq!(keys, vec!["A", "B", "D"]);
        assert_eq!(m.env["B"], Some(EnvValue::Text("20".into())));
        assert_eq!(m.labels["x"].as_deref(), Some("1"));
    }

    #[test]
    fn keyed_lists_merge_by_natural_key() {
        let t = spec(json!({
            "ports": [{"container": 5432, "host": "auto"}, {"container": 53, "protocol": "udp"}],
            "volumes": [{"name": "data", "target": "/data"}],
            "dependsOn": ["db"],
        }));
        let o = spec(json!({
            "ports": ["15432:5432", "53:53/tcp"],
            "volumes": [{"source": "./x", "target": "/data"}, "logs:/logs"],
            "dependsOn": [{"name": "db", "condition": "healthy"}],
        }));
        let m = merge(&t, &o);
        let ports = serde_json::to_value(&m.ports).unwrap();
        assert_eq!(
            ports,
            json!([{"container": 5432, "host": 15432}, {"container": 53, "protocol": "udp"}, {"container": 53, "host": 53}])
        );
        assert_eq!(m.volumes.len(), 2);
        assert_eq!(m.volumes[0].source.as_deref(), Some("./x"));
        assert_eq!(m.depends_on.len(), 1);
        assert_eq!(
            serde_json::to_value(&m.depends_on[0]).unwrap(),
            json!({"name": "db", "condition": "healthy"})
        );
    }

    #[test]
    fn scalars_and_plain_lists_replace() {
        let t = spec(
            json!({"image": "a:1", "command": ["x"], "domains": ["a.localhost"], "resources": {"cpus": 1.0, "memory": "1Gi"}}),
        );
        let o = spec(
            json!({"image": "a:2", "command": "y z", "domains": ["b.localhost"], "resources": {"memory": "2Gi"}}),
        );
        let m = merge(&t, &o);
        assert_eq!(m.image.as_deref(), Some("a:2"));
        assert_eq!(m.command.unwrap(), vec!["y", "z"]);
        assert_eq!(m.domains.unwrap(), vec!["b.localhost"]);
        let r = m.resources.unwrap();
        assert_eq!((r.cpus, r.memory.as_deref()), (Some(1.0), Some("2Gi")));
    }

    fn arb_spec() -> impl Strategy<Value = ServiceSpec> {
        let env = prop::collection::btree_map("[A-E]", prop::option::of("[a-z0-9]{0,3}"), 0..4);
        let ports = prop::collection::vec(
            (1u16..5, prop::option::of(1000u16..1003), any::<bool>()),
            0..4,
        );
        let image = prop::option::of("[a-z]{1,3}:[0-9]");
        let deps = prop::collection::vec(("[a-c]", any::<bool>()), 0..3);
        (env, ports, image, deps).prop_map(|(env, ports, image, deps)| {
            let env: serde_json::Map<String, Value> = env
                .into_iter()
                .map(|(k, v)| (k, v.map(Value::from).unwrap_or(Value::Null)))
                .collect();
            let ports: Vec<Value> = ports
                .into_iter()
                .map(|(c, h, udp)| {
                    let mut p =
                        json!({"container": c, "protocol": if udp { "udp" } else { "tcp" }});
                    if let Some(h) = h {
                        p["host"] = json!(h);
                    }
                    p
                })
                .collect();
            let mut deps_seen = std::collections::BTreeMap::new();
            for (n, h) in deps {
                deps_seen.insert(n, h);
            }
            let deps: Vec<Value> = deps_seen
                .into_iter()
                .map(
                    |(n, h)| json!({"name": n, "condition": if h { "healthy" } else { "started" }}),
                )
                .collect();
            let mut v = json!({"env": env, "ports": ports, "dependsOn": deps});
            if let Some(i) = image {
                v["image"] = json!(i);
            }
            // Canonical form: keyed lists without duplicate keys.
            let mut s: ServiceSpec = serde_json::from_value(v).unwrap();
            let mut seen = std::collections::HashSet::new();
            s.ports.retain(|p| seen.insert((p.container, p.protocol)));
            s
        })
    }

    fn without_nulls(mut s: ServiceSpec) -> ServiceSpec {
        s.env.retain(|_, v| v.is_some());
        s
    }

    proptest! {
        #[test]
        fn merging_an_empty_override_is_the_identity(t in arb_spec()) {
            prop_assert_eq!(merge(&t, &ServiceSpec::default()), without_nulls(t));
        }

        #[test]
        fn overriding_twice_equals_overriding_with_the_later_value(t in arb_spec(), o in arb_spec()) {
            prop_assert_eq!(merge(&merge(&t, &o), &o), merge(&t, &o));
        }

        #[test]
        fn later_overrides_win(t in arb_spec(), a in arb_spec(), b in arb_spec()) {
            let m = merge(&merge(&t, &a), &b);
            for (k, v) in &b.env {
                prop_assert_eq!(m.env.get(k).cloned(), v.clone().map(Some));
            }
            if b.image.is_some() {
                prop_assert_eq!(&m.image, &b.image);
            }
        }
    }
}

/*! Swarm output: the Compose file of [`crate::compose`] reshaped for `docker stack deploy` on a
Docker Swarm (`devarch compose STACK --target swarm`).

What changes, and why:
- `version: "3.8"`: the stack deploy of Docker 20.10's CLI reads no file without one.
- `container_name` goes (Swarm names task containers itself) and becomes a network alias, so
  wired consumers still reach `devarch-STACK-NAME`; `depends_on` goes (Swarm has no start
  order: services start at once and restart until their dependencies answer).
- Every service gets `deploy.endpoint_mode: dnsrr`: a service name resolves straight to its
  task's address. With Swarm's default virtual IPs, service-to-service traffic failed on the
  single-node test swarm here ("No route to host"); DNS round robin worked.
- Ports are published in `mode: host` (the routing mesh needs virtual IPs), long syntax, on
  every address of the node (Swarm takes no host IP).
- Config files become Swarm `configs` (read from the files devarch writes under `--home` when
  the file is deployed, so the manager needs no access to them), mounted with their modes.
- The network is an `attachable` overlay; named volumes stay (per node).
- `pids_limit` goes (not a Swarm setting); CPU and memory limits stay under `deploy`.
- A disabled stack deploys with `replicas: 0`.
*/

use serde_json::{Map, Value, json};

use crate::resolve::desired::DesiredStack;

/// Reshapes the Compose document of `desired` (from [`crate::compose::render`]) for Swarm.
pub fn reshape(mut doc: Value, desired: &DesiredStack) -> Value {
    let mut configs = Map::new();
    if let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) {
        for (name, s) in services.iter_mut() {
            let Some(s) = s.as_object_mut() else { continue };
            // Wired consumers reach a provider by its container name (`devarch-STACK-NAME`),
            // which Swarm does not give its tasks: it becomes a network alias.
            if let Some(Value::String(container)) = s.remove("container_name")
                && let Some(Value::Object(nets)) = s.get_mut("networks")
            {
                for net in nets.values_mut() {
                    if let Some(Value::Array(aliases)) = net.get_mut("aliases") {
                        aliases.push(json!(container));
                    } else {
                        net["aliases"] = json!([container]);
                    }
                }
            }
            s.remove("depends_on");
            s.remove("pids_limit");
            if let Some(ports) = s.remove("ports") {
                s.insert("ports".into(), host_mode_ports(&ports));
            }
            let files = desired
                .containers
                .get(name)
                .map(|c| c.files.as_slice())
                .unwrap_or_default();
            if !files.is_empty() {
                let mut refs = Vec::new();
                for (i, f) in files.iter().enumerate() {
                    let config = format!("{name}-file-{i}");
                    configs.insert(
                        config.clone(),
                        json!({"file": f.host_path.display().to_string()}),
                    );
                    refs.push(json!({"source": config, "target": f.target, "mode": f.mode}));
                }
                let host_paths: Vec<String> = files
                    .iter()
                    .map(|f| f.host_path.display().to_string())
                    .collect();
                if let Some(Value::Array(mounts)) = s.get_mut("volumes") {
                    mounts.retain(|m| {
                        !(m["type"] == "bind"
                            && m["source"]
                                .as_str()
                                .is_some_and(|p| host_paths.iter().any(|h| h == p)))
                    });
                    if mounts.is_empty() {
                        s.remove("volumes");
                    }
                }
                s.insert("configs".into(), Value::Array(refs));
            }
            let deploy = s
                .entry("deploy")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("deploy is a mapping");
            deploy.insert("endpoint_mode".into(), json!("dnsrr"));
            deploy.insert("replicas".into(), json!(u8::from(desired.enabled)));
        }
    }
    if let Some(networks) = doc.get_mut("networks").and_then(Value::as_object_mut) {
        for n in networks.values_mut() {
            n["driver"] = json!("overlay");
            n["attachable"] = json!(true);
        }
    }
    let Some(top) = doc.as_object_mut() else {
        return doc;
    };
    let mut out = Map::new();
    out.insert("version".into(), json!("3.8"));
    out.extend(std::mem::take(top));
    if !configs.is_empty() {
        out.insert("configs".into(), Value::Object(configs));
    }
    Value::Object(out)
}

/// Short-syntax ports (`[ip:]host:container/proto`) as long syntax in `mode: host`.
fn host_mode_ports(ports: &Value) -> Value {
    let long: Vec<Value> = ports
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|p| {
            let (mapping, protocol) = p.rsplit_once('/').unwrap_or((p, "tcp"));
            let mut parts = mapping.rsplitn(3, ':');
            let target: u16 = parts.next()?.parse().ok()?;
            let published: u16 = parts.next()?.parse().ok()?;
            Some(json!({
                "target": target,
                "published": published,
                "protocol": protocol,
                "mode": "host",
            }))
        })
        .collect();
    Value::Array(long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_become_host_mode_long_syntax() {
        let v = host_mode_ports(&json!([
            "127.0.0.1:8080:80/tcp",
            "53:53/udp",
            "[::1]:9:9/tcp"
        ]));
        assert_eq!(
            v,
            json!([
                {"target": 80, "published": 8080, "protocol": "tcp", "mode": "host"},
                {"target": 53, "published": 53, "protocol": "udp", "mode": "host"},
                {"target": 9, "published": 9, "protocol": "tcp", "mode": "host"},
            ])
        );
    }
}

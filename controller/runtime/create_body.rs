/*! [`create_body`]: an engine-neutral [`ContainerSpec`] as the body of the engines' container
create call (`POST /containers/create`, the same on Docker and on Podman's compat API).

- No ulimits are ever set: on Podman, setting any ulimit drops the configured defaults
  (`nofile`, `nproc` from containers.conf) and adds `nproc` 1048576, which fails here. The
  engine's defaults apply on both engines.
- Ports: every binding of one `port/protocol` goes under one key (a port may be published on
  several host addresses), and each published port is exposed too. Host ports are always
  concrete (devarch picks `auto` ones itself: Docker would change them on every restart).
- The container is attached to its network at create time, with its DNS aliases, so it never
  runs unattached (`NetworkMode` and the endpoint both name the network).
- Durations are sent in nanoseconds, as the API wants them.
*/

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, EndpointSettings, HealthConfig, HostConfig, Mount as EngineMount,
    MountType, NetworkingConfig, PortBinding as EnginePortBinding, PortMap,
};

use super::{ContainerSpec, HealthSpec, MountSource};

/// The engine's create body for `spec` (the name goes in the query, not the body). Called by
/// [`super::engine::EngineRuntime`]'s `create_container`.
///
/// # Guarantees
/// Sets no ulimits; leaves every field the spec does not set to the engine's default (`None`,
/// never an empty list or map).
pub(super) fn create_body(spec: &ContainerSpec) -> ContainerCreateBody {
    let port_bindings = port_bindings(spec);
    let mut exposed_ports: Vec<String> = port_bindings.keys().cloned().collect();
    exposed_ports.sort();
    let mounts = mounts(spec);
    let attach = !spec.network.is_empty();
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: spec.command.clone(),
        entrypoint: spec.entrypoint.clone(),
        env: (!spec.env.is_empty())
            .then(|| spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        labels: Some(spec.labels.clone().into_iter().collect()),
        working_dir: spec.working_dir.clone(),
        user: spec.user.clone(),
        hostname: spec.hostname.clone(),
        exposed_ports: (!exposed_ports.is_empty()).then_some(exposed_ports),
        healthcheck: spec.healthcheck.as_ref().map(health_config),
        host_config: Some(HostConfig {
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
            mounts: (!mounts.is_empty()).then_some(mounts),
            network_mode: attach.then(|| spec.network.clone()),
            nano_cpus: spec.nano_cpus,
            memory: spec.memory,
            pids_limit: spec.pids_limit,
            ..Default::default()
        }),
        // A network mode that is no network (the host's namespace) has no endpoint to
        // configure, and Podman refuses one.
        networking_config: (attach && spec.network != "host").then(|| networking_config(spec)),
        ..Default::default()
    }
}

/// The spec's published ports, keyed `port/protocol` (`80/tcp`), several host bindings under
/// one key.
fn port_bindings(spec: &ContainerSpec) -> PortMap {
    let mut port_bindings = PortMap::new();
    for p in &spec.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        port_bindings
            .entry(key)
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_default()
            .push(EnginePortBinding {
                host_ip: p.host_ip.clone(),
                host_port: Some(p.host_port.to_string()),
            });
    }
    port_bindings
}

/// The spec's mounts: named volumes and binds, each read-only or not.
fn mounts(spec: &ContainerSpec) -> Vec<EngineMount> {
    spec.mounts
        .iter()
        .map(|m| {
            let (typ, source) = match &m.source {
                MountSource::Volume { name } => (MountType::VOLUME, name),
                MountSource::Bind { path } => (MountType::BIND, path),
            };
            EngineMount {
                typ: Some(typ),
                source: Some(source.clone()),
                target: Some(m.target.clone()),
                read_only: Some(m.read_only),
                ..Default::default()
            }
        })
        .collect()
}

/// The health check, durations in nanoseconds.
fn health_config(h: &HealthSpec) -> HealthConfig {
    HealthConfig {
        test: Some(h.test.clone()),
        interval: h.interval.map(nanos),
        timeout: h.timeout.map(nanos),
        retries: h.retries.map(i64::from),
        start_period: h.start_period.map(nanos),
        ..Default::default()
    }
}

/// The endpoint on the spec's network, with its DNS aliases (for a spec with a network).
fn networking_config(spec: &ContainerSpec) -> NetworkingConfig {
    NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            spec.network.clone(),
            EndpointSettings {
                aliases: (!spec.aliases.is_empty()).then(|| spec.aliases.clone()),
                ..Default::default()
            },
        )])),
    }
}

/// A duration in nanoseconds, saturating at `i64::MAX` (about 292 years).
fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Mount, PortBinding, PortProtocol};

    #[test]
    fn create_body_maps_the_spec() {
        let spec = ContainerSpec {
            name: "devarch-a-db".into(),
            image: "img:1".into(),
            env: vec![("A".into(), "1".into())],
            ports: vec![
                PortBinding {
                    container_port: 80,
                    protocol: PortProtocol::Tcp,
                    host_ip: Some("127.0.0.1".into()),
                    host_port: 8080,
                },
                PortBinding {
                    container_port: 80,
                    protocol: PortProtocol::Tcp,
                    host_ip: None,
                    host_port: 8081,
                },
            ],
            mounts: vec![Mount {
                source: MountSource::Bind {
                    path: "/srv".into(),
                },
                target: "/data".into(),
                read_only: true,
            }],
            network: "devarch-a-net".into(),
            aliases: vec!["db".into()],
            healthcheck: Some(HealthSpec {
                test: vec!["CMD".into(), "true".into()],
                interval: Some(Duration::from_millis(1500)),
                timeout: None,
                retries: Some(3),
                start_period: None,
            }),
            ..Default::default()
        };
        let body = create_body(&spec);
        assert_eq!(body.env, Some(vec!["A=1".to_string()]));
        assert_eq!(body.exposed_ports, Some(vec!["80/tcp".to_string()]));
        let host = body.host_config.unwrap();
        assert_eq!(
            host.port_bindings.unwrap()["80/tcp"]
                .as_ref()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(host.network_mode.as_deref(), Some("devarch-a-net"));
        assert!(host.ulimits.is_none());
        let mount = &host.mounts.unwrap()[0];
        assert_eq!(
            (mount.typ, mount.read_only),
            (Some(MountType::BIND), Some(true))
        );
        assert_eq!(body.healthcheck.unwrap().interval, Some(1_500_000_000));
        let endpoints = body.networking_config.unwrap().endpoints_config.unwrap();
        assert_eq!(
            endpoints["devarch-a-net"].aliases,
            Some(vec!["db".to_string()])
        );
    }
}

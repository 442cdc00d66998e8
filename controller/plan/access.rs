/*! The host access of a container to be created or recreated, shown with its plan line: its
host binds and user, each dangerous one with a typed [`Warning`] (the engine socket, the
host's root, system and home folders, paths outside the manifests folder, root). Config files
devarch materialises under `--home` are not binds of the manifest and are left out. */

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::manifests::danger::{self, Danger, Warning};
use crate::resolve::desired::DesiredContainer;
use crate::runtime::MountSource;

/// A bind mount of a host path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bind {
    /// Absolute host path.
    pub source: String,
    /// Path inside the container.
    pub target: String,
    /// Mounted read-only.
    #[serde(default)]
    pub read_only: bool,
}

/// What of the host a new or changed container reaches.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAccess {
    /// Host paths bind-mounted into the container, in manifest order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binds: Vec<Bind>,
    /// The user the process runs as, when the manifest sets one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The dangerous settings among them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
}

impl HostAccess {
    /// The host access of `want`; `owner` is the manifests folder. `None` when the container
    /// binds nothing and sets no user.
    pub fn of(want: &DesiredContainer, owner: &str) -> Option<HostAccess> {
        let folder = Path::new(owner);
        let mut access = HostAccess::default();
        for m in &want.spec.mounts {
            let MountSource::Bind { path } = &m.source else {
                continue;
            };
            if want.files.iter().any(|f| f.host_path == Path::new(path)) {
                continue; // a config file devarch writes under --home
            }
            if let Some(danger) = danger::host_path(Path::new(path), folder) {
                access.warnings.push(Warning {
                    danger,
                    subject: path.clone(),
                });
            }
            access.binds.push(Bind {
                source: path.clone(),
                target: m.target.clone(),
                read_only: m.read_only,
            });
        }
        if let Some(u) = &want.spec.user {
            if let Some(danger) = danger::user(u) {
                access.warnings.push(Warning {
                    danger,
                    subject: u.clone(),
                });
            }
            access.user = Some(u.clone());
        }
        for p in &want.spec.ports {
            if let Some(ip) = p.host_ip.as_deref().filter(|ip| danger::public_address(ip)) {
                access.warnings.push(Warning {
                    danger: Danger::PublicPort,
                    subject: format!("{}/{} on {ip}", p.container_port, p.protocol),
                });
            }
        }
        (!access.binds.is_empty() || access.user.is_some() || !access.warnings.is_empty())
            .then_some(access)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity;
    use crate::observe::ObservedWorld;
    use crate::plan::{plan_stack, render};
    use crate::resolve::desired::{DesiredStack, MaterializedFile};
    use crate::runtime::{ContainerSpec, Mount};

    const OWNER: &str = "/work/manifests";

    fn bind(path: &str, target: &str) -> Mount {
        Mount {
            source: MountSource::Bind { path: path.into() },
            target: target.into(),
            read_only: false,
        }
    }

    /// A stack whose one container binds every kind of dangerous host path and runs as root.
    fn dangerous() -> DesiredStack {
        let config = "/root/.devarch/stacks/s/web/files/etc__app.conf";
        let mut safe = bind("/work/manifests/src", "/app");
        safe.read_only = true;
        let web = DesiredContainer {
            instance: "web".into(),
            spec: ContainerSpec {
                name: identity::container_name("s", "web"),
                image: "busybox:1".into(),
                user: Some("0:0".into()),
                mounts: vec![
                    bind("/", "/host"),
                    bind("/var/run/docker.sock", "/var/run/docker.sock"),
                    bind("/run/user/1000/podman/podman.sock", "/p.sock"),
                    bind("/etc", "/x"),
                    bind("/home/u/.ssh", "/ssh"),
                    bind("/srv/other", "/other"),
                    safe,
                    bind(config, "/etc/app.conf"),
                ],
                ..Default::default()
            },
            config_hash: "h".into(),
            field_hashes: Default::default(),
            files: vec![MaterializedFile {
                home: "/h".into(),
                host_path: config.into(),
                target: "/etc/app.conf".into(),
                content: String::new(),
                mode: 0o644,
            }],
            depends_on: vec![],
            has_healthcheck: false,
        };
        DesiredStack {
            name: "s".into(),
            enabled: true,
            network: identity::network_name("s"),
            network_labels: Default::default(),
            volumes: Default::default(),
            containers: [("web".to_string(), web)].into(),
            busy_ports: vec![],
        }
    }

    #[test]
    fn the_plan_shows_binds_and_user_and_warns_of_each_dangerous_one() {
        let p = plan_stack(&dangerous(), &ObservedWorld::default(), OWNER);
        let text = render(std::slice::from_ref(&p));
        let expected = "\
stack s:
    + network devarch-s-net     # create: does not exist
    + container devarch-s-web   # create: does not exist (busybox:1)
        bind / -> /host
        bind /var/run/docker.sock -> /var/run/docker.sock
        bind /run/user/1000/podman/podman.sock -> /p.sock
        bind /etc -> /x
        bind /home/u/.ssh -> /ssh
        bind /srv/other -> /other
        bind /work/manifests/src -> /app (read-only)
        user 0:0
        warning: bind / is the host's root folder: the container can read and change every file of the host
        warning: bind /var/run/docker.sock is a container engine's socket: the container can control the engine, and through it the host
        warning: bind /run/user/1000/podman/podman.sock is a container engine's socket: the container can control the engine, and through it the host
        warning: bind /etc is a system folder of the host
        warning: bind /home/u/.ssh is in a home folder of the host (keys, shell start-up files)
        warning: bind /srv/other is outside the manifests folder
        warning: user 0:0 runs the container's process as root
";
        assert_eq!(
            text,
            format!("{expected}\nPlan: 2 to add, 0 to change, 0 to destroy.\n")
        );
        // The JSON form carries the same, typed.
        let json = serde_json::to_value(&p.actions[1]).unwrap();
        let host = &json["host"];
        assert_eq!(host["user"], "0:0");
        assert_eq!(host["binds"].as_array().unwrap().len(), 7, "{host}");
        assert_eq!(host["binds"][6]["readOnly"], true);
        let dangers: Vec<&str> = host["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["danger"].as_str().unwrap())
            .collect();
        assert_eq!(
            dangers,
            [
                "hostRoot",
                "engineSocket",
                "engineSocket",
                "systemPath",
                "homeFolder",
                "outsideFolder",
                "rootUser"
            ]
        );
        assert_eq!(host["warnings"][1]["subject"], "/var/run/docker.sock");
        // A saved plan reads back with it.
        let back: crate::plan::Action = serde_json::from_value(json).unwrap();
        assert_eq!(back, p.actions[1]);
    }

    #[test]
    fn a_container_without_binds_or_user_shows_no_host_access() {
        let mut d = dangerous();
        let web = d.containers.get_mut("web").unwrap();
        web.spec.mounts.retain(|m| m.target == "/etc/app.conf");
        web.spec.user = None;
        assert_eq!(HostAccess::of(web, OWNER), None);
    }
}

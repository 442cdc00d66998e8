/*! Host access worth a second look before a folder from someone else is applied: bind mounts
of the engine's socket, the host's root, system and home folders or anything outside the
manifests folder, and a process running as root. Nothing here refuses a manifest: these are
warnings, shown by `validate` (from [`check_model`], which `import` can call too) and on the
plan's lines (from [`host_path`] and [`user`] on the desired state).

The reasons are typed ([`Danger`]) and turned into words in one place: [`Warning`]'s
`Display`. The manifest has no `privileged`, capability, device or host-network setting, so
binds and the user are all there is to check.

# Caveats
The checks are lexical (`..` folded, no symlink followed) except in [`check_model`], which
also classifies the resolved target of a bind source that exists: a folder's `./link ->
/etc` is caught by `validate`, while the plan shows the path as written. */

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::diagnostics::Diagnostic;
use super::load::Origin;
use super::service::ServiceSpec;
use super::validate::Model;
use super::values::{bind_host_path, normalize_host_path};
use crate::printable;

/// Why a setting is dangerous.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Danger {
    /// A container engine's API socket (Docker, Podman, containerd): control of the engine,
    /// and through it of the host.
    EngineSocket,
    /// The host's root folder `/`.
    HostRoot,
    /// A system folder of the host (`/etc`, `/proc`, `/sys`, `/dev`, `/boot`, `/run`...).
    SystemPath,
    /// A home folder on the host (`/root`, `/home/...`, `~/...`).
    HomeFolder,
    /// Any other host path outside the manifests folder.
    OutsideFolder,
    /// The process runs as root (user `0` or `root`).
    RootUser,
    /// A port published on an address other than loopback (`hostIp: 0.0.0.0`): reachable
    /// from other machines on the network.
    PublicPort,
}

/// A dangerous setting of a container: what it is and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Why it is dangerous.
    pub danger: Danger,
    /// The setting: the absolute host path of a bind, or the user.
    pub subject: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = printable::line(&self.subject);
        match self.danger {
            Danger::EngineSocket => write!(
                f,
                "bind {s} is a container engine's socket: the container can control the engine, and through it the host"
            ),
            Danger::HostRoot => write!(
                f,
                "bind {s} is the host's root folder: the container can read and change every file of the host"
            ),
            Danger::SystemPath => write!(f, "bind {s} is a system folder of the host"),
            Danger::HomeFolder => write!(
                f,
                "bind {s} is in a home folder of the host (keys, shell start-up files)"
            ),
            Danger::OutsideFolder => write!(f, "bind {s} is outside the manifests folder"),
            Danger::RootUser => write!(f, "user {s} runs the container's process as root"),
            Danger::PublicPort => write!(
                f,
                "port {s} is published beyond this machine's loopback: other machines on the network can reach it"
            ),
        }
    }
}

/// System folders of the host (a bind of one of them or of anything under it is flagged).
const SYSTEM_PATHS: &[&str] = &[
    "/etc",
    "/proc",
    "/sys",
    "/dev",
    "/boot",
    "/run",
    "/var/run",
    "/var/lib/docker",
    "/var/lib/containers",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
];

/// Folders holding users' homes.
const HOME_PATHS: &[&str] = &["/root", "/home", "/Users"];

/// A container engine's API socket: a `*.sock` under `/run` or `/var/run` (where
/// `$XDG_RUNTIME_DIR` lives too) whose path names docker, podman or containerd.
fn is_engine_socket(path: &Path) -> bool {
    let s = path.to_string_lossy();
    (s.starts_with("/run/") || s.starts_with("/var/run/"))
        && s.ends_with(".sock")
        && ["docker", "podman", "containerd"]
            .iter()
            .any(|e| s.contains(e))
}

/// Classifies the absolute, normalised host path of a bind; `folder` is the manifests folder
/// (absolute). `None`: a path inside the folder, nothing to say.
pub fn host_path(path: &Path, folder: &Path) -> Option<Danger> {
    let under = |list: &[&str]| list.iter().any(|p| path.starts_with(p));
    if path == Path::new("/") {
        Some(Danger::HostRoot)
    } else if is_engine_socket(path) {
        Some(Danger::EngineSocket)
    } else if path.starts_with(folder) {
        None
    } else if under(SYSTEM_PATHS) {
        Some(Danger::SystemPath)
    } else if under(HOME_PATHS) {
        Some(Danger::HomeFolder)
    } else {
        Some(Danger::OutsideFolder)
    }
}

/// Classifies a container user (`name`, `uid` or `uid:gid`): root is [`Danger::RootUser`].
pub fn user(user: &str) -> Option<Danger> {
    let name = user.split(':').next().unwrap_or(user).trim();
    let root = name == "root" || name.parse::<u64>() == Ok(0);
    root.then_some(Danger::RootUser)
}

/// Warnings (severity warning, at the offending value) for every dangerous setting of the
/// folder's templates and instances: what `validate` shows, and `import` can show.
///
/// `folder` is the manifests folder; `user_home` expands `~/`. Built-in templates are not
/// checked (they bind nothing).
pub fn check_model(model: &Model, folder: &Path, user_home: Option<&Path>) -> Vec<Diagnostic> {
    let folders = folder_forms(folder);
    let mut out = Vec::new();
    for t in model.templates.values().filter(|t| !t.builtin) {
        let spec = &t.template.spec.service;
        check_service(spec, &t.origin, "/spec", &folders, user_home, &mut out);
    }
    for s in model.stacks.values() {
        for i in s.instances.values() {
            let spec = &i.body.overrides;
            check_service(spec, &i.origin, &i.pointer, &folders, user_home, &mut out);
        }
    }
    out
}

/// The folder as given (absolute) and as resolved: a bind inside either is inside.
fn folder_forms(folder: &Path) -> Vec<PathBuf> {
    let abs = std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf());
    let mut forms = vec![normalize_host_path(&abs)];
    if let Ok(real) = std::fs::canonicalize(folder) {
        forms.push(real);
    }
    forms
}

fn classify(path: &Path, folders: &[PathBuf]) -> Option<Danger> {
    folders
        .iter()
        .map(|f| host_path(path, f))
        .min_by_key(|d| d.is_some())
        .flatten()
}

fn check_service(
    spec: &ServiceSpec,
    origin: &Origin,
    base: &str,
    folders: &[PathBuf],
    user_home: Option<&Path>,
    out: &mut Vec<Diagnostic>,
) {
    let base_dir = origin.file.parent().unwrap_or(Path::new("."));
    for (i, v) in spec.volumes.iter().enumerate() {
        let Some(src) = &v.source else { continue };
        let path = bind_host_path(src, base_dir, user_home);
        // A symlink inside the folder may lead anywhere: classify where it leads as well.
        let real = std::fs::canonicalize(&path).ok().filter(|r| *r != path);
        let found = classify(&path, folders)
            .map(|d| (d, &path))
            .or_else(|| real.as_ref().and_then(|r| Some((classify(r, folders)?, r))));
        if let Some((danger, p)) = found {
            let w = Warning {
                danger,
                subject: p.display().to_string(),
            };
            let at = origin.at(&format!("{base}/volumes/{i}/source"));
            out.push(
                Diagnostic::warning(&origin.file, Some(at), w.to_string()).with_help(format!(
                    "written {:?}; remove the bind unless you trust this folder's author with it",
                    src
                )),
            );
        }
    }
    if let Some(u) = &spec.user
        && let Some(danger) = user(u)
    {
        let w = Warning {
            danger,
            subject: u.clone(),
        };
        let at = origin.at(&format!("{base}/user"));
        out.push(Diagnostic::warning(&origin.file, Some(at), w.to_string()));
    }
    for (i, p) in spec.ports.iter().enumerate() {
        if let Some(ip) = p.host_ip.as_deref().filter(|ip| public_address(ip)) {
            let w = Warning {
                danger: Danger::PublicPort,
                subject: format!("{}/{} on {ip}", p.container, p.protocol),
            };
            let at = origin.at(&format!("{base}/ports/{i}/hostIp"));
            out.push(
                Diagnostic::warning(&origin.file, Some(at), w.to_string())
                    .with_help("leave `hostIp` out to publish on 127.0.0.1 only"),
            );
        }
    }
}

/// Whether a `hostIp` publishes beyond loopback (`0.0.0.0`, `::`, a LAN address); an address
/// that does not parse is left to validation.
pub fn public_address(ip: &str) -> bool {
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    ip.parse::<std::net::IpAddr>()
        .is_ok_and(|a| !a.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_paths_are_classified() {
        let folder = Path::new("/work/m");
        let c = |p: &str| host_path(Path::new(p), folder);
        assert_eq!(c("/"), Some(Danger::HostRoot));
        for sock in [
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/run/podman/podman.sock",
            "/run/user/1000/podman/podman.sock",
            "/run/containerd/containerd.sock",
        ] {
            assert_eq!(c(sock), Some(Danger::EngineSocket), "{sock}");
        }
        assert_eq!(c("/etc"), Some(Danger::SystemPath));
        assert_eq!(c("/proc/1"), Some(Danger::SystemPath));
        assert_eq!(c("/root/.ssh"), Some(Danger::HomeFolder));
        assert_eq!(c("/home/u"), Some(Danger::HomeFolder));
        assert_eq!(c("/srv/data"), Some(Danger::OutsideFolder));
        assert_eq!(c("/work/m/src"), None);
        assert_eq!(c("/work/mx"), Some(Danger::OutsideFolder));
    }

    #[test]
    fn root_users_are_flagged() {
        for u in ["0", "0:0", "root", "root:root", "00"] {
            assert_eq!(user(u), Some(Danger::RootUser), "{u}");
        }
        for u in ["1000", "1000:0", "app", "www-data:www-data"] {
            assert_eq!(user(u), None, "{u}");
        }
    }
}

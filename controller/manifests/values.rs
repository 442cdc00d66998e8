/*! Values the engine would refuse at apply time, caught by `validate` instead: container
paths (mount targets and config file paths) that are not plain absolute paths, and
environment entries with a key the engine cannot set or a value it cannot pass. Also the
lexical normalisation of host paths that resolve and the danger checks share.

A container path must be written in its one canonical form (`/etc/app/app.conf`: absolute,
no `.` or `..` component, no empty component from `//` or a trailing `/`, not `/` itself),
so that two mounts at the same place are always the same string and a duplicate is found by
comparing strings (Docker refuses `/etc/./x` beside `/etc/x` as a duplicate mount point). */

use std::path::{Component, Path, PathBuf};

use super::diagnostics::Diagnostic;
use super::load::Origin;
use super::service::{EnvValue, ServiceSpec};
use super::yaml::escape_segment;

/// Why a container path is refused, for the message after "config file path …" or
/// "volume target …".
///
/// # Errors
/// A sentence fragment (`must be absolute`, …) when `path` is not in canonical form.
pub fn check_container_path(path: &str) -> Result<(), &'static str> {
    if path.contains('\0') {
        return Err("must not contain a NUL character");
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err("must be absolute (start with `/`)");
    };
    if rest.is_empty() {
        return Err("must not be `/`, the container's root");
    }
    for segment in rest.split('/') {
        match segment {
            "" => return Err("must not contain `//` or end with `/`"),
            "." | ".." => return Err("must not contain `.` or `..` components"),
            _ => {}
        }
    }
    Ok(())
}

/// Remove `.` and `..` components of a host path without touching the filesystem
/// (`/a/./b/../c` → `/a/c`; `..` at the root stays at the root).
pub fn normalize_host_path(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The absolute host path of a bind source as the manifest at `base_dir` writes it, (resolve's and the
/// danger checks' one computation): `~/…` under `user_home`, a relative path under `base_dir`.
pub fn bind_host_path(source: &str, base_dir: &Path, user_home: Option<&Path>) -> PathBuf {
    let path = match (source.strip_prefix("~/"), user_home) {
        (Some(rest), Some(home)) => home.join(rest),
        (Some(_), None) => PathBuf::from(source),
        (None, _) => base_dir.join(source),
    };
    let abs = std::path::absolute(&path).unwrap_or(path);
    normalize_host_path(&abs)
}

/// Why an environment key cannot be set (`KEY=value` is how the engines pass it).
pub(crate) fn check_env_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        Err("is empty")
    } else if key.contains('=') {
        Err("contains `=` (the engine would split it into another key and value)")
    } else if key.contains('\0') {
        Err("contains a NUL character")
    } else {
        Ok(())
    }
}

/// `resources.cpus` the engine would refuse: more CPUs than the machine has (Docker and
/// Podman refuse `NanoCpus` beyond the host's count at create). Judged against this
/// machine, where the local engine runs.
pub fn check_resources(
    spec: &ServiceSpec,
    origin: &Origin,
    base: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let Some(cpus) = spec.resources.as_ref().and_then(|r| r.cpus) else {
        return;
    };
    let machine = machine_cpus();
    if cpus > machine as f64 {
        let ptr = format!("{base}/resources/cpus");
        diags.push(
            Diagnostic::new(
                &origin.file,
                Some(origin.at(&ptr)),
                format!(
                    "{}: {cpus} is more than this machine's {machine} CPUs: the engine would refuse to create the container",
                    super::load::field_path(&ptr)
                ),
            )
            .with_help(format!("use at most {machine}, or leave cpus out for no limit")),
        );
    }
}

/// The CPUs of this machine, where the engine runs: the most `resources.cpus` may give.
pub fn machine_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Reports environment entries the engine would refuse: keys that are empty or hold `=` or
/// NUL, and values holding NUL (runc refuses such a container at start, after it was
/// created). Covers `env` and the `env` templates of `imports`.
pub fn check_env(spec: &ServiceSpec, origin: &Origin, base: &str, diags: &mut Vec<Diagnostic>) {
    let file = &origin.file;
    let env = spec.env.iter().map(|(k, v)| {
        let text = match v {
            Some(EnvValue::Text(t)) => Some(t.as_str()),
            _ => None,
        };
        (format!("{base}/env"), k, text)
    });
    let imports = spec.imports.iter().enumerate().flat_map(|(i, imp)| {
        imp.env
            .iter()
            .map(move |(k, v)| (format!("{base}/imports/{i}/env"), k, Some(v.as_str())))
    });
    for (map, key, value) in env.chain(imports) {
        let ptr = format!("{map}/{}", escape_segment(key));
        if let Err(why) = check_env_key(key) {
            diags.push(
                Diagnostic::new(
                    file,
                    Some(origin.key_at(&ptr)),
                    format!("environment variable name {key:?} {why}"),
                )
                .with_help("a name is letters, digits and `_`, e.g. DATABASE_URL"),
            );
        }
        if value.is_some_and(|v| v.contains('\0')) {
            diags.push(Diagnostic::new(
                file,
                Some(origin.at(&ptr)),
                format!("the value of environment variable {key:?} contains a NUL character, which no process environment can hold"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_paths_must_be_canonical() {
        assert_eq!(check_container_path("/etc/x"), Ok(()));
        for bad in [
            "/",
            "etc/x",
            "/etc/./x",
            "/etc/../x",
            "/etc//x",
            "/etc/x/",
            "/a\0b",
            "",
        ] {
            assert!(check_container_path(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn host_paths_fold_dot_and_dot_dot() {
        let n = normalize_host_path(Path::new("/w/m/../../../../etc/./passwd"));
        assert_eq!(n, PathBuf::from("/etc/passwd"));
        let p = bind_host_path("../../../../etc", Path::new("/work/m"), None);
        assert_eq!(p, PathBuf::from("/etc"));
        let p = bind_host_path("~/.ssh", Path::new("/work/m"), Some(Path::new("/home/u")));
        assert_eq!(p, PathBuf::from("/home/u/.ssh"));
    }

    #[test]
    fn env_keys_with_equals_empty_or_nul_are_refused() {
        assert!(check_env_key("A_1").is_ok());
        assert!(check_env_key("A=B").is_err());
        assert!(check_env_key("").is_err());
        assert!(check_env_key("A\0").is_err());
    }
}

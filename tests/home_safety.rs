//! `--home` against other local users and other manifests folders: a home another user can
//! plant in is refused (the attacker's part runs as `nobody`), a fresh home is private whatever
//! the umask, and two folders sharing one home share no state.

mod common;

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Env, unique};
use devarch::state::ports::PortStore;
use devarch::workspace::Workspace;

engine_tests!(
    a_home_another_user_planted_in_is_refused_and_nothing_is_written_through,
    a_fresh_home_is_private_whatever_the_umask_and_purge_removes_the_folders_state,
    delete_removes_the_stacks_status_file_and_no_other,
);

/// A template whose containers get a generated secret, an auto host port and a config file
/// with mode `mode` at `/etc/app/conf` holding `content`.
fn template(content: &str, mode: &str) -> String {
    common::idle_template(
        "app",
        &format!(
            "  ports: [{{container: 8080, host: auto}}]\n  env:\n    PASSWORD: {{secret: password, generate: true}}\n  configFiles:\n    - {{path: /etc/app/conf, content: \"{content}\", mode: \"{mode}\"}}\n    - {{path: /etc/app__conf, content: \"other {content}\"}}\n"
        ),
    )
}

fn stack(name: &str) -> String {
    common::stack(name, "    web: {template: app}\n")
}

/// devarch on `env`'s folder and engine with `home` as `--home`, under umask 022.
fn devarch(env: &Env, home: &Path, args: &[&str]) -> (i32, String, String) {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("umask 022; exec \"$@\"")
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_devarch"))
        .arg("--dir")
        .arg(env.dir.path())
        .arg("--home")
        .arg(home)
        .arg("--runtime")
        .arg(env.engine.name())
        .args(args)
        .env("DEVARCH_DIAGNOSTICS", "plain");
    env.engine.point(&mut c);
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Runs `script` with `sh` as user and group `nobody` (65534), with no other groups.
fn as_nobody(script: &str) {
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sh",
            "-c",
        ])
        .arg(script)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "attacker script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mode_of(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

fn a_home_another_user_planted_in_is_refused_and_nothing_is_written_through(env: Env) {
    let s = format!("h{}", unique());
    env.write("t.yaml", &template("hello", "0777"));
    env.write("s.yaml", &stack(&s));
    // A /tmp-like place both users can create in; the victims are root's.
    let base = tempfile::tempdir().unwrap();
    fs::set_permissions(base.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = base.path().join("victim");
    fs::write(&victim, "precious").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    let victim_dir = base.path().join("victim-dir");
    fs::create_dir(&victim_dir).unwrap();
    let home = base.path().join("home");
    let key = devarch::state::owner_key(&env.owner);
    let web = format!("stacks/{key}/{s}/web");
    as_nobody(&format!(
        "set -e; umask 000; cd {base}; \
         mkdir -m 0777 home; cd home; \
         mkdir -p locks {web}; chmod -R 0777 locks stacks; \
         ln -s {victim} locks/{s}.lock; \
         ln -s {victim_dir} {web}/files; \
         head -c 32 /dev/zero > secret.key; chmod 600 secret.key",
        base = base.path().display(),
        victim = victim.display(),
        victim_dir = victim_dir.display(),
    ));
    let untouched = || {
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(mode_of(&victim), 0o644);
        assert_eq!(fs::read_dir(&victim_dir).unwrap().count(), 0);
        assert!(
            fs::symlink_metadata(home.join(format!("{web}/files")))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    };
    let refused = |step: &str, needles: &[&str]| {
        let (code, out, err) = devarch(&env, &home, &["apply"]);
        assert!(
            code != 0 && code != 101,
            "{step}: exit {code}\n{out}\n{err}"
        );
        for needle in needles {
            assert!(err.contains(needle), "{step}: {needle:?} not in\n{err}");
        }
        untouched();
    };
    let h = home.display().to_string();

    refused(
        "home owned by nobody",
        &[&h, "owned by uid 65534", "chown -R 0"],
    );
    std::os::unix::fs::chown(&home, Some(0), Some(0)).unwrap();
    refused("home 0777", &[&h, "mode 777", &format!("chmod go-w {h}")]);
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).unwrap();
    refused(
        "locks/ owned by nobody",
        &[&format!("{h}/locks is owned by uid 65534")],
    );
    let take_over = |rel: &str| {
        let p = home.join(rel);
        std::os::unix::fs::chown(&p, Some(0), Some(0)).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o700)).unwrap();
    };
    take_over("locks");
    refused(
        "planted lock link",
        &[&format!("{h}/locks/{s}.lock is a symbolic link")],
    );
    fs::remove_file(home.join(format!("locks/{s}.lock"))).unwrap();
    refused(
        "nobody's key",
        &[&format!("{h}/secret.key is owned by uid 65534")],
    );
    fs::remove_file(home.join("secret.key")).unwrap();
    refused(
        "stacks/ owned by nobody",
        &[&format!("{h}/stacks is owned by uid 65534")],
    );
    for rel in [
        "stacks".to_string(),
        format!("stacks/{key}"),
        format!("stacks/{key}/{s}"),
        web.clone(),
    ] {
        take_over(&rel);
    }
    refused(
        "planted files link",
        &[&format!("{h}/{web}/files is a symbolic link")],
    );
    // The key devarch made instead is root's, 0600, and not the planted one.
    let key_file = home.join("secret.key");
    assert_eq!(
        (fs::metadata(&key_file).unwrap().uid(), mode_of(&key_file)),
        (0, 0o600)
    );
    assert_ne!(fs::read(&key_file).unwrap(), vec![0u8; 32]);
}

fn a_fresh_home_is_private_whatever_the_umask_and_purge_removes_the_folders_state(env: Env) {
    let s = format!("h{}", unique());
    env.write("t.yaml", &template("hello", "0640"));
    env.write("s.yaml", &stack(&s));
    let home = env.home.path().join("fresh");
    let (code, out, err) = devarch(&env, &home, &["apply"]);
    assert_eq!(code, 0, "{out}\n{err}");

    let key = devarch::state::owner_key(&env.owner);
    let files = home.join(format!("stacks/{key}/{s}/web/files"));
    let conf = files.join("etc%2Fapp%2Fconf");
    let other = files.join("etc%2Fapp__conf");
    assert_eq!(fs::read_to_string(&conf).unwrap(), "hello");
    assert_eq!(fs::read_to_string(&other).unwrap(), "other hello");
    let mut seen = HashSet::new();
    for entry in walkdir::WalkDir::new(&home) {
        let entry = entry.unwrap();
        let p = entry.path().to_path_buf();
        let mode = mode_of(&p);
        let kind = entry.file_type();
        assert!(!kind.is_symlink(), "{}", p.display());
        if kind.is_dir() {
            assert_eq!(mode, 0o700, "{}", p.display());
        } else if p == conf {
            assert_eq!(mode, 0o640, "the manifest's mode");
        } else if p == other {
            assert_eq!(mode, 0o644, "the default config file mode");
        } else {
            assert_eq!(mode, 0o600, "{}", p.display());
        }
        seen.insert(p.strip_prefix(&home).unwrap().display().to_string());
    }
    for expected in [
        "secret.key".to_string(),
        "ports.json".to_string(),
        "ports.lock".to_string(),
        "secrets.lock".to_string(),
        format!("secrets/{key}/{s}.json"),
        format!("locks/{s}.lock"),
        format!("locks/{s}.holder"),
    ] {
        assert!(seen.contains(&expected), "{expected} not in {seen:?}");
    }

    // Like volumes, secrets and config files outlive a plain delete, which says so.
    let (code, out, err) = devarch(&env, &home, &["delete", &s, "--purge-volumes"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("Kept secrets (remove with --purge"), "{out}");
    assert!(
        out.contains("Kept config files (remove with --purge)"),
        "{out}"
    );
    assert!(home.join(format!("secrets/{key}/{s}.json")).exists());
    assert!(home.join(format!("stacks/{key}/{s}")).exists());
    // The manifests are gone; `--purge` still removes what the stack left under --home.
    let (code, out, err) = devarch(&env, &home, &["delete", &s, "--purge"]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains(&format!("Removed the secrets of stack {s}")),
        "{out}"
    );
    assert!(!home.join(format!("secrets/{key}/{s}.json")).exists());
    assert!(!home.join(format!("stacks/{key}/{s}")).exists());
    let ports = fs::read_to_string(home.join("ports.json")).unwrap();
    assert!(!ports.contains(&s), "{ports}");
}

/// Issue #21: `watch` records each stack's status under `{home}/status/{key}/STACK.json`; a
/// `delete` (here with `--purge-volumes`, while no controller runs) removes the deleted stack's
/// file, and leaves the other stack's and another folder's status of the same name alone.
fn delete_removes_the_stacks_status_file_and_no_other(env: Env) {
    let (s, t) = (format!("hs{}", unique()), format!("ht{}", unique()));
    env.write("t.yaml", &common::idle_template("idle", ""));
    env.write("s.yaml", &common::stack(&s, "    a: {template: idle}\n"));
    env.write("u.yaml", &common::stack(&t, "    a: {template: idle}\n"));
    let key = devarch::state::owner_key(&env.owner);
    let status = |stack: &str| env.home.path().join(format!("status/{key}/{stack}.json"));
    // Another folder's status of a stack of the same name, in the same home.
    let foreign = env.home.path().join(format!(
        "status/{}/{s}.json",
        devarch::state::owner_key("/elsewhere")
    ));
    let mut w = env.watch(&[]);
    w.wait_for(
        std::time::Duration::from_secs(120),
        "both statuses",
        |_, _| status(&s).exists() && status(&t).exists(),
    );
    w.stop();
    fs::create_dir_all(foreign.parent().unwrap()).unwrap();
    fs::set_permissions(foreign.parent().unwrap(), fs::Permissions::from_mode(0o700)).unwrap();
    fs::write(&foreign, "{}").unwrap();

    let (out, err) = env.expect(&["delete", &s, "--purge-volumes"], 0);
    assert!(out.contains(&format!("Stack {s} deleted")), "{out}\n{err}");
    assert!(!status(&s).exists(), "the deleted stack's status is gone");
    assert!(status(&t).exists(), "the other stack's status is kept");
    assert!(foreign.exists(), "another folder's status is kept");
    let (get, _) = env.expect(&["get", "stacks"], 0);
    assert!(!get.contains(&s), "{get}");
}

/// Loads `dir`, allocates stack `name` in `home` as folder `dir` and writes its config files;
/// returns the generated password and the config files' host paths.
fn allocate_and_materialize(dir: &Path, home: &Path, name: &str) -> (String, Vec<PathBuf>) {
    let ws = Workspace::load(dir).unwrap();
    let stack = &ws.stacks[name];
    let owner = devarch::identity::owner_of(dir);
    let (bindings, desired) = common::allocate_and_build(stack, home, &owner).unwrap();
    let files = &desired.containers["web"].files;
    for f in files {
        devarch::apply::files::materialize(f).unwrap();
    }
    let password = bindings.secrets[&("web".to_string(), "password".to_string())]
        .expose()
        .to_string();
    (
        password,
        files.iter().map(|f| f.host_path.clone()).collect(),
    )
}

#[test]
fn one_stack_name_from_two_folders_with_one_home_shares_no_secret_port_or_file() {
    let home = tempfile::tempdir().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (dir, content) in [(&a, "from a"), (&b, "from b")] {
        fs::write(dir.path().join("t.yaml"), template(content, "0600")).unwrap();
        fs::write(dir.path().join("s.yaml"), stack("shared")).unwrap();
    }
    let (pa, fa) = allocate_and_materialize(a.path(), home.path(), "shared");
    let (pb, fb) = allocate_and_materialize(b.path(), home.path(), "shared");
    assert_ne!(pa, pb, "same stack name, two folders: two passwords");
    assert!(fa.iter().all(|f| !fb.contains(f)), "{fa:?} {fb:?}");
    // `/etc/app/conf` and `/etc/app__conf` are two host files, each with its own content.
    assert_eq!(fa.len(), 2);
    assert_ne!(fa[0], fa[1]);
    assert_eq!(fs::read_to_string(&fa[0]).unwrap(), "from a");
    assert_eq!(fs::read_to_string(&fa[1]).unwrap(), "other from a");
    assert_eq!(fs::read_to_string(&fb[0]).unwrap(), "from b");
    // Again: the same values (kept per folder, not regenerated).
    assert_eq!(
        allocate_and_materialize(a.path(), home.path(), "shared").0,
        pa
    );
    let ports = PortStore::load(home.path()).unwrap();
    let port = |dir: &Path| {
        ports.assigned(
            &devarch::identity::owner_of(dir),
            "shared",
            "web",
            8080,
            devarch::manifests::types::Protocol::Tcp,
        )
    };
    assert!(port(a.path()).is_some());
    assert_ne!(port(a.path()), port(b.path()));
}

//! Hostile-input defences that were already right when issue #9 was filed, kept so by a test
//! each: a folder from someone else cannot forge devarch's labels, sneak look-alike names or
//! setuid config files past validation, or make the loader loop or blow up.

mod common;

use std::os::unix::fs::symlink;
use std::process::Command;

use common::{Env, busybox_template, stack, unique};

engine_tests!(forged_devarch_labels_are_refused_before_anything_is_created);

/// A manifest cannot claim another folder's or stack's identity, nor another folder's host
/// names: `devarch.*` labels are refused at validation (they used to be overwritten, but
/// `devarch.domains` was carried and routed another folder's name), and nothing is created.
fn forged_devarch_labels_are_refused_before_anything_is_created(env: Env) {
    let s = format!("lab{}", unique());
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write(
        "s.yaml",
        &stack(
            &s,
            "    web:\n      template: bb\n      labels:\n        devarch.owner: /somebody/else\n        devarch.domains: web.victim.localhost\n        devarch.domain_port: \"8080\"\n        team: ours\n",
        ),
    );
    let (_, err) = env.expect(&["apply"], 1);
    for label in ["devarch.owner", "devarch.domains", "devarch.domain_port"] {
        assert!(
            err.contains(&format!("label \"{label}\" is under devarch's own prefix")),
            "{label} not refused:\n{err}"
        );
    }
    assert!(
        env.containers(&format!("devarch-{s}-")).is_empty(),
        "something was created"
    );
    // The user's own labels are fine.
    env.write(
        "s.yaml",
        &stack(
            &s,
            "    web:\n      template: bb\n      labels: {team: ours}\n",
        ),
    );
    env.expect(&["apply"], 0);
    let labels = env.labels(&format!("devarch-{s}-web"));
    assert_eq!(labels["team"], "ours", "{labels:?}");
    assert_eq!(labels["devarch.owner"], env.owner, "{labels:?}");
}

fn validate(dir: &std::path::Path) -> (i32, String) {
    common::validate_folder(dir, false)
}

const STACK_HEAD: &str = "apiVersion: devarch.io/v1alpha1\nkind: Stack\n";

#[test]
fn look_alike_names_are_not_dns_labels() {
    // Cyrillic 'о' in "blоg", a full-width digit, a zero-width joiner: each looks like an
    // ASCII name in a terminal and would be a different runtime name.
    for name in ["bl\u{43e}g", "blog\u{ff11}", "bl\u{200d}og"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.yaml"),
            format!("{STACK_HEAD}metadata: {{name: \"{name}\"}}\nspec:\n  instances:\n    web: {{template: redis}}\n"),
        )
        .unwrap();
        let (code, text) = validate(dir.path());
        assert_eq!(code, 1, "{name:?}: {text}");
        assert!(text.contains("is not a DNS label"), "{name:?}: {text}");
        assert!(text.contains("s.yaml:3:"), "{name:?}: {text}");
    }
}

#[test]
fn config_file_modes_cannot_set_setuid_setgid_or_sticky_bits() {
    for mode in ["4755", "2755", "1777", "04755", "0o755", "755 "] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("s.yaml"),
            format!(
                "{STACK_HEAD}metadata: {{name: blog}}\nspec:\n  instances:\n    web:\n      template: redis\n      configFiles:\n        - {{path: /etc/x, content: hi, mode: \"{mode}\"}}\n"
            ),
        )
        .unwrap();
        let (code, text) = validate(dir.path());
        assert_eq!(code, 1, "{mode:?}: {text}");
        assert!(text.contains("configFiles.0.mode"), "{mode:?}: {text}");
    }
}

#[test]
fn a_symlink_loop_in_the_folder_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("s.yaml"),
        format!("{STACK_HEAD}metadata: {{name: blog}}\nspec:\n  instances:\n    web: {{template: redis}}\n"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    symlink(dir.path(), dir.path().join("sub").join("loop")).unwrap();
    symlink("self.yaml", dir.path().join("self.yaml")).unwrap();
    let (code, text) = validate(dir.path());
    assert_ne!(code, 0, "{text}");
    assert!(
        !text.contains("valid ("),
        "a loop is never a valid folder: {text}"
    );
}

#[test]
fn an_over_long_path_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    // Nest folders past PATH_MAX (4096) by walking into each one (a single path that long
    // cannot be created), and put a stack at the bottom.
    let doc = format!(
        "{STACK_HEAD}metadata: {{name: blog}}\nspec:\n  instances:\n    web: {{template: redis}}\n"
    );
    let seg = "d".repeat(200);
    // perl, not sh: dash's `cd` builds the logical path and fails past PATH_MAX.
    let script = "chdir $ARGV[0] or die; for (1..25) { mkdir $ARGV[1] or die; chdir $ARGV[1] or die } \
                  open(my $f, '>', 's.yaml') or die; print $f $ARGV[2]";
    let made = Command::new("perl")
        .args(["-e", script])
        .arg(dir.path())
        .arg(&seg)
        .arg(&doc)
        .status()
        .unwrap();
    assert!(made.success());
    let (code, text) = validate(dir.path());
    // The deep stack is either read or the folder is refused; never a "valid" folder that
    // silently skipped it (apply would then remove the stack).
    if code == 0 {
        assert!(text.contains("1 stack"), "{text}");
    } else {
        assert!(text.contains("error"), "{text}");
    }
    // `rm -rf` walks relative to each folder; remove_dir_all of the TempDir may not.
    let _ = Command::new("rm").arg("-rf").arg(dir.path()).status();
}

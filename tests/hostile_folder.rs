//! A manifests folder from someone else (issue #9, items 1, 2, 5 and 6): links planted next
//! to a manifest cannot redirect `delete`'s write, `delete` cuts documents where the YAML
//! parser says they are, reads are bounded and never leave the folder, and an entry that
//! cannot be read breaks the folder instead of making its stacks look deleted.

mod common;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Env, busybox_template, stack, unique};

engine_tests!(
    delete_never_writes_through_planted_links_and_keeps_the_mode,
    delete_cuts_documents_where_the_parser_says,
    an_unreadable_manifest_breaks_the_folder_and_removes_nothing,
);

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn delete_never_writes_through_planted_links_and_keeps_the_mode(env: Env) {
    let (a, b) = (format!("a{}", unique()), format!("b{}", unique()));
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("bashrc");
    std::fs::write(&victim, "precious\n").unwrap();
    env.write("t.yaml", &busybox_template("bb", 0));
    let kept = format!("---\n{}", stack(&b, "    web: {template: bb}\n"));
    env.write(
        "s.yaml",
        &format!("{}{kept}", stack(&a, "    web: {template: bb}\n")),
    );
    std::fs::set_permissions(env.path("s.yaml"), std::fs::Permissions::from_mode(0o600)).unwrap();
    // Every temp name a naive writer could pick, planted as links to the victim.
    for planted in [
        "s.devarch-tmp",
        "s.yaml.devarch-tmp",
        ".s.yaml.tmp",
        "s.yaml.tmp",
    ] {
        symlink(&victim, env.path(planted)).unwrap();
    }
    env.expect(&["delete", &a], 0);
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let meta = std::fs::symlink_metadata(env.path("s.yaml")).unwrap();
    assert!(meta.file_type().is_file(), "s.yaml is still a regular file");
    assert_eq!(
        mode(&env.path("s.yaml")),
        0o600,
        "the manifest keeps its mode"
    );
    assert_eq!(std::fs::read_to_string(env.path("s.yaml")).unwrap(), kept);
    // A manifest that is itself a link is never written through either.
    std::fs::rename(env.path("s.yaml"), outside.path().join("real.yaml")).unwrap();
    symlink(outside.path().join("real.yaml"), env.path("s.yaml")).unwrap();
    let (_, err) = env.expect(&["delete", &b], 1);
    assert!(
        err.contains("s.yaml") && err.contains("leading outside the manifests folder"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("real.yaml")).unwrap(),
        kept
    );
}

fn delete_cuts_documents_where_the_parser_says(env: Env) {
    let (a, b) = (format!("a{}", unique()), format!("b{}", unique()));
    let doc_a = stack(&a, "    web: {template: bb}\n");
    let doc_b = stack(&b, "    web: {template: bb}\n");
    let template = busybox_template("bb", 0);
    // A `%YAML` directive, an `...` end marker, and a document starting without `---`:
    // splitting on `---` lines deleted the wrong stacks here.
    env.write(
        "all.yaml",
        &format!("%YAML 1.2\n---\n{doc_a}...\n{doc_b}---\n{template}"),
    );
    env.expect(&["validate"], 0);
    env.expect(&["delete", &b], 0);
    assert_eq!(
        std::fs::read_to_string(env.path("all.yaml")).unwrap(),
        format!("%YAML 1.2\n---\n{doc_a}...\n---\n{template}")
    );
    env.expect(&["delete", &a], 0);
    assert_eq!(
        std::fs::read_to_string(env.path("all.yaml")).unwrap(),
        format!("---\n{template}")
    );
    let (out, _) = env.expect(&["validate"], 0);
    assert!(
        out.contains("0 stacks") && out.contains("1 template"),
        "{out}"
    );
}

fn an_unreadable_manifest_breaks_the_folder_and_removes_nothing(env: Env) {
    let (s, k) = (format!("u{}", unique()), format!("k{}", unique()));
    env.write("t.yaml", &busybox_template("bb", 0));
    env.write("s.yaml", &stack(&s, "    web: {template: bb}\n"));
    env.write("k.yaml", &stack(&k, "    web: {template: bb}\n"));
    env.expect(&["apply"], 0);
    let container = format!("devarch-{s}-web");
    let original = std::fs::read(env.path("s.yaml")).unwrap();
    let mkfifo = |p: &Path| {
        assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
    };
    let bad_name = env
        .dir
        .path()
        .join(std::ffi::OsStr::from_bytes(b"s\xff.yaml"));
    use std::os::unix::ffi::OsStrExt;
    type Swap<'a> = (&'a str, Box<dyn Fn() + 'a>);
    let swaps: Vec<Swap> = vec![
        ("is a FIFO", Box::new(|| mkfifo(&env.path("s.yaml")))),
        (
            "is a link that cannot be followed",
            Box::new(|| symlink("gone.yaml", env.path("s.yaml")).unwrap()),
        ),
        (
            "not valid UTF-8",
            Box::new(|| std::fs::write(&bad_name, &original).unwrap()),
        ),
    ];
    for (why, swap) in swaps {
        std::fs::remove_file(env.path("s.yaml")).unwrap();
        swap();
        for cmd in [&["validate"][..], &["plan"], &["apply"]] {
            let start = Instant::now();
            let (code, out, err) = env.run(cmd);
            assert!(start.elapsed() < Duration::from_secs(30), "{cmd:?} hung");
            assert_eq!(code, 1, "{why}: {cmd:?}\n{out}\n{err}");
            assert!(err.contains(why), "{why}: {cmd:?}\n{err}");
            assert!(
                !out.contains(&format!("- container {container}")),
                "{why}: {cmd:?} planned a removal:\n{out}"
            );
        }
        assert!(
            env.containers(&format!("devarch-{s}-"))[&container].1,
            "{why}: the stack is still running"
        );
        let _ = std::fs::remove_file(&bad_name);
        let _ = std::fs::remove_file(env.path("s.yaml"));
        std::fs::write(env.path("s.yaml"), &original).unwrap();
    }
    env.expect(&["plan"], 0);
}

fn validate(dir: &Path, fancy: bool) -> (i32, String) {
    common::validate_folder(dir, fancy)
}

#[test]
fn reads_never_leave_the_folder_block_or_run_unbounded() {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("id_rsa.yaml");
    std::fs::write(
        &secret,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nkey: b3BlbnNzaC1rZXktdjEAAAAA\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    symlink("/proc/self/pagemap", d.join("pagemap.yaml")).unwrap();
    symlink("/proc/kmsg", d.join("kmsg.yaml")).unwrap();
    symlink("/dev/zero", d.join("zero.yaml")).unwrap();
    symlink(&secret, d.join("leak.yaml")).unwrap();
    symlink(outside.path(), d.join("elsewhere")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(d.join("fifo.yaml"))
            .status()
            .unwrap()
            .success()
    );
    for fancy in [false, true] {
        let (code, text) = validate(d, fancy);
        assert_eq!(code, 1, "{text}");
        for name in [
            "pagemap.yaml",
            "kmsg.yaml",
            "zero.yaml",
            "leak.yaml",
            "elsewhere",
        ] {
            assert!(
                text.contains(name) && text.contains("leading outside the manifests folder"),
                "{name}: {text}"
            );
        }
        assert!(
            text.contains("fifo.yaml") && text.contains("is a FIFO"),
            "{text}"
        );
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains("b3Blbn"),
            "{text}"
        );
    }
}

#[test]
fn a_huge_file_is_read_only_up_to_the_limit() {
    // A sparse file that claims 4 GiB: refused by its size, without reading it.
    let dir = tempfile::tempdir().unwrap();
    let big = std::fs::File::create(dir.path().join("big.yaml")).unwrap();
    big.set_len(4 << 30).unwrap();
    let (code, text) = validate(dir.path(), false);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("over the 1048576 byte limit"), "{text}");
}

#[test]
fn links_inside_the_folder_are_read_once_where_they_lead() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("real")).unwrap();
    std::fs::write(
        d.join("real").join("s.yaml"),
        "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata: {name: blog}\nspec:\n  instances:\n    web: {template: redis}\n",
    )
    .unwrap();
    // A link to a folder inside the folder is not walked twice.
    symlink(d.join("real"), d.join("alias")).unwrap();
    let (code, text) = validate(d, false);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("1 file, 1 stack"), "{text}");
}

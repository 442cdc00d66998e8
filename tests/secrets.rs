//! `devarch secret` on Docker and Podman (issue #11, section 2): a value set through the CLI
//! reaches the container and no output or state file other than its ciphertext; the missing
//! secret error names the command that sets it; `rotate-key` changes nothing the engine sees;
//! `delete` keeps the secrets and `--purge` removes them.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Env, idle_template, stack, unique};

engine_tests!(a_secret_set_through_the_cli_reaches_the_container_and_no_output,);

/// Every file under `root` that holds `needle`.
fn files_holding(root: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
    {
        if entry.file_type().is_file()
            && let Ok(bytes) = std::fs::read(entry.path())
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            found.push(entry.path().display().to_string());
        }
    }
    found
}

/// Collects what each command printed, to search it for the canary at the end.
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.0.push((what.into(), text.into()));
    }

    /// Runs devarch with `args`, expecting exit `code`, and keeps both outputs.
    fn run(&mut self, env: &Env, args: &[&str], code: i32) -> String {
        let (c, out, err) = env.run(args);
        assert_eq!(c, code, "devarch {args:?}\n{out}\n{err}");
        self.add(format!("{args:?} stdout"), out.clone());
        self.add(format!("{args:?} stderr"), err);
        out
    }

    fn assert_none_holds(&self, canary: &str) {
        assert!(self.0.len() > 20, "too few outputs collected");
        for (what, text) in &self.0 {
            assert!(!text.contains(canary), "{what} shows the secret:\n{text}");
        }
    }
}

fn a_secret_set_through_the_cli_reaches_the_container_and_no_output(env: Env) {
    let s = format!("sec{}", unique());
    let canary = format!("canary-{}-Zq9xW", unique());
    let app = format!("devarch-{s}-app");
    env.write(
        "t.yaml",
        &idle_template(
            "idle",
            "  env: {API_KEY: {secret: api_key}, PLAIN: visible}\n",
        ),
    );
    env.write("s.yaml", &stack(&s, "    app: {template: idle}\n"));
    let mut seen = Seen::default();

    // Not set yet: the plan fails and names the exact command.
    let (code, out, err) = env.run(&["plan", &s]);
    assert_eq!(code, 1, "{out}\n{err}");
    let command = format!("devarch secret set {s} app/api_key");
    assert!(err.contains(&command), "{err}");
    seen.run(&env, &["secret", "list", &s], 0);

    // Set through the CLI (stdin), the way the error says.
    let (code, out, err) = env.set_secret(&s, "app/api_key", &canary);
    assert_eq!(code, 0, "{out}\n{err}");
    seen.add("secret set", format!("{out}{err}"));
    let list = seen.run(&env, &["secret", "list", &s], 0);
    assert!(
        list.lines()
            .any(|l| l.contains("app/api_key") && l.contains(" set ")),
        "{list}"
    );
    let plan_file = env.home.path().join("saved.plan");
    seen.run(&env, &["validate"], 0);
    seen.run(&env, &["plan"], 2);
    seen.run(&env, &["plan", "-o", "json"], 2);
    seen.run(&env, &["plan", "--out", plan_file.to_str().unwrap()], 2);
    seen.add("saved plan", std::fs::read_to_string(&plan_file).unwrap());
    seen.run(&env, &["apply", "--plan", plan_file.to_str().unwrap()], 0);
    assert_eq!(env.sh(&app, "printf %s \"$API_KEY\""), canary);
    assert_eq!(env.sh(&app, "printf %s \"$PLAIN\""), "visible");

    for args in [
        &["plan"][..],
        &["plan", "-o", "json"],
        &["describe", "stack", &s],
        &["describe", "stack", &s, "-o", "json"],
        &["effective-config", &s, "app"],
        &["effective-config", &s, "app", "-o", "json"],
        &["get", "stacks"],
        &["get", "stacks", "-o", "json"],
        &["get", "instances"],
        &["get", "instances", "-o", "json"],
        &["secret", "list"],
        &["secret", "list", "-o", "json"],
        &["logs", &s],
        &["compose", &s],
        &["export", &s],
    ] {
        seen.run(&env, args, 0);
    }

    // The key rotates without the engine noticing: same values, nothing to do.
    seen.run(&env, &["secret", "rotate-key"], 0);
    seen.run(&env, &["plan"], 0);

    // A new value under `watch` (text, then JSON logs): the container is recreated with it.
    let canary2 = format!("canary-{}-Kp4vR", unique());
    let (code, out, err) = env.set_secret(&s, "app/api_key", &canary2);
    assert_eq!(code, 0, "{out}\n{err}");
    seen.add("secret set again", format!("{out}{err}"));
    seen.run(&env, &["plan"], 2);
    let mut w = env.watch(&["--resync", "1s", "--log-format", "text"]);
    w.wait_for(Duration::from_secs(60), "the new value applied", |_, _| {
        env.try_sh(&app, "printf %s \"$API_KEY\"").as_deref() == Some(canary2.as_str())
    });
    w.stop();
    assert!(
        w.stdout().contains(&app),
        "the plan is printed: {}",
        w.logs()
    );
    seen.add("watch text stdout", w.stdout());
    seen.add("watch text stderr", w.stderr());
    let canary3 = format!("canary-{}-Jm2tY", unique());
    let (code, _, err) = env.set_secret(&s, "app/api_key", &canary3);
    assert_eq!(code, 0, "{err}");
    let mut w = env.watch(&["--resync", "1s", "--log-format", "json"]);
    w.wait_for(
        Duration::from_secs(60),
        "the third value applied",
        |_, _| env.try_sh(&app, "printf %s \"$API_KEY\"").as_deref() == Some(canary3.as_str()),
    );
    w.stop();
    assert!(w.stderr().starts_with('{'), "JSON log lines: {}", w.logs());
    seen.add("watch json stdout", w.stdout());
    seen.add("watch json stderr", w.stderr());

    // A broken manifest's errors do not show it either.
    env.write(
        "broken.yaml",
        "kind: Instance\nmetadata: {name: x}\nspec: {stack: [\n",
    );
    seen.run(&env, &["validate"], 1);
    seen.run(&env, &["plan"], 1);
    std::fs::remove_file(env.path("broken.yaml")).unwrap();

    for value in [&canary, &canary2, &canary3] {
        seen.assert_none_holds(value);
    }
    // The search finds what is there: the entry's name is in the encrypted file.
    assert!(!files_holding(env.home.path(), "app/api_key").is_empty());
    for dir in [env.home.path(), env.dir.path()] {
        for value in [&canary, &canary2, &canary3] {
            let holding = files_holding(dir, value);
            assert!(
                holding.is_empty(),
                "{holding:?} hold the secret in plain text"
            );
        }
    }

    // `delete` keeps the secret (and says so); `--purge` removes it.
    let out = seen.run(&env, &["delete", &s], 0);
    assert!(
        out.contains("Kept secrets") && out.contains("app/api_key"),
        "{out}"
    );
    let list = seen.run(&env, &["secret", "list", &s], 0);
    assert!(list.contains("app/api_key"), "{list}");
    seen.run(&env, &["delete", &s, "--purge"], 0);
    let list = seen.run(&env, &["secret", "list", &s], 0);
    assert!(!list.contains("app/api_key"), "{list}");
}

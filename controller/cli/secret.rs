//! `devarch secret set|list|rm|rotate-key`: the user's side of the secret store.
//!
//! A value comes from stdin (a prompt without echo when stdin is a terminal) or `--from-file`,
//! never from the command line, so it stays out of shell history and `ps`. Nothing here ever
//! prints a value.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context as _, Result, bail};
use serde::Serialize;

use super::args::{Cli, ListFormat, SecretAction};
use super::context::home;
use super::{exit, output, print_json};
use crate::allocate::referenced_secrets;
use crate::state::secrets::{Origin, SecretStore, rotate};
use crate::timestamp::Timestamp;
use crate::workspace::Workspace;

/// Largest value `secret set` takes: 64 KiB.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// Run one `devarch secret` action.
pub fn secret(cli: &Cli, action: &SecretAction) -> Result<u8> {
    match action {
        SecretAction::Set {
            stack,
            name,
            from_file,
        } => set(cli, stack, name, from_file.as_deref()),
        SecretAction::List { stack, output } => list(cli, stack.as_deref(), *output),
        SecretAction::Rm { stack, name } => rm(cli, stack, name),
        SecretAction::RotateKey => rotate_key(cli),
    }
}

fn store(cli: &Cli) -> Result<SecretStore> {
    Ok(SecretStore::open(
        &home(cli),
        &crate::identity::owner_of(&cli.dir),
    )?)
}

/// `INSTANCE/SECRET` split in two.
fn split_name<'a>(stack: &str, name: &'a str) -> Result<(&'a str, &'a str)> {
    match name.split_once('/') {
        Some((instance, secret)) if !instance.is_empty() && !secret.is_empty() => {
            Ok((instance, secret))
        }
        _ => bail!(
            "secret name {name:?}: write it as INSTANCE/SECRET, the instance that owns it and the name its `secret:` reference uses (e.g. `devarch secret set {stack} db/password`)"
        ),
    }
}

/// The secrets the folder's manifests of `stack` refer to, with whether each is generated;
/// `None` when the stack is not (validly) in the folder.
fn references(ws: Option<&Workspace>, stack: &str) -> Option<Vec<(String, bool)>> {
    let resolved = ws?.stacks.get(stack)?;
    Some(
        referenced_secrets(resolved)
            .into_iter()
            .map(|((instance, name), generate)| (format!("{instance}/{name}"), generate))
            .collect(),
    )
}

/// The folder, when it can be read (secrets can be managed without it).
fn folder(cli: &Cli) -> Option<Workspace> {
    Workspace::load(&cli.dir).ok()
}

fn set(cli: &Cli, stack: &str, name: &str, from_file: Option<&Path>) -> Result<u8> {
    let (instance, secret) = split_name(stack, name)?;
    let store = store(cli)?;
    let ws = folder(cli);
    // Refuse a bad name before asking for a value.
    store.list(stack)?;
    let value = read_value(from_file, stack, name)?;
    store.set(stack, instance, secret, &value)?;
    outln!("Set secret {name} of stack {stack} (the value is never shown).")?;
    match references(ws.as_ref(), stack) {
        Some(refs) if refs.iter().any(|(r, _)| r == name) => outln!(
            "Run `devarch apply {stack}` to roll it out; a running `devarch watch` picks it up at its next resync."
        )?,
        Some(refs) => errln!(
            "warning: no manifest of stack {stack} in {} refers to secret {name} (it refers to: {}); stored anyway",
            cli.dir.display(),
            list_or_none(refs.iter().map(|(r, _)| r.as_str()))
        ),
        None => errln!(
            "warning: {} has no valid stack {stack}; stored anyway",
            cli.dir.display()
        ),
    }
    Ok(exit::OK)
}

fn list_or_none<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.collect();
    if items.is_empty() {
        "no secrets".into()
    } else {
        items.join(", ")
    }
}

/// The value of `secret set`: `--from-file`, else stdin (prompted, without echo, on a
/// terminal). One trailing newline is dropped, as `echo value |` adds it.
fn read_value(from_file: Option<&Path>, stack: &str, name: &str) -> Result<String> {
    let (bytes, origin) = match from_file {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let bytes = crate::safe_fs::read_bounded(file, MAX_VALUE_BYTES)
                .with_context(|| format!("cannot read {}", path.display()))?;
            (bytes, path.display().to_string())
        }
        None if std::io::stdin().is_terminal() => (
            Some(prompt(stack, name)?.into_bytes()),
            "the terminal".into(),
        ),
        None => {
            let bytes = crate::safe_fs::read_bounded(std::io::stdin().lock(), MAX_VALUE_BYTES)
                .context("cannot read the value from stdin")?;
            (bytes, "stdin".into())
        }
    };
    let Some(mut bytes) = bytes else {
        bail!("the value from {origin} is longer than {MAX_VALUE_BYTES} bytes; nothing was set");
    };
    if bytes.ends_with(b"\r\n") {
        bytes.truncate(bytes.len() - 2);
    } else if bytes.ends_with(b"\n") {
        bytes.truncate(bytes.len() - 1);
    }
    let value = String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!("the value from {origin} is not UTF-8 text; nothing was set")
    })?;
    if value.is_empty() {
        bail!(
            "the value from {origin} is empty; nothing was set (pipe it in: `printf %s \"$VALUE\" | devarch secret set {stack} {name}`, or use --from-file)"
        );
    }
    if value.contains('\0') {
        bail!(
            "the value from {origin} holds a NUL byte, which an environment variable cannot carry; nothing was set"
        );
    }
    Ok(value)
}

/// Asks for the value on the terminal with echo turned off (restored whatever happens).
fn prompt(stack: &str, name: &str) -> Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    err!("Value for secret {name} of stack {stack} (not echoed): ");
    std::io::stderr().flush()?;
    let saved = tcgetattr(&stdin).context("cannot read the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("cannot turn off echo")?;
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .take(MAX_VALUE_BYTES as u64 + 2)
        .read_line(&mut line);
    let restored = tcsetattr(&stdin, OptionalActions::Now, &saved);
    errln!();
    read.context("cannot read the value from the terminal")?;
    restored.context("cannot restore the terminal's echo")?;
    Ok(line)
}

/// One row of `secret list`.
#[derive(Debug, Serialize)]
struct Row {
    stack: String,
    /// `instance/name`.
    secret: String,
    /// `generated`, `set`, `unknown` (stored by an earlier devarch), `missing` (referenced,
    /// must be set) or `pending` (referenced, generated on the next apply).
    state: &'static str,
    /// When the value last changed (RFC 3339 in JSON).
    changed: Option<Timestamp>,
    /// Whether a manifest of the stack refers to it.
    referenced: bool,
}

fn list(cli: &Cli, only: Option<&str>, format: ListFormat) -> Result<u8> {
    let store = store(cli)?;
    let ws = folder(cli);
    let mut stacks: std::collections::BTreeSet<String> = match only {
        Some(s) => [s.to_string()].into(),
        None => store.stacks()?.into_iter().collect(),
    };
    if only.is_none()
        && let Some(ws) = &ws
    {
        stacks.extend(ws.stacks.keys().cloned());
    }
    let mut rows = Vec::new();
    for stack in &stacks {
        let refs = references(ws.as_ref(), stack).unwrap_or_default();
        let stored = store.list(stack)?;
        for info in &stored {
            let secret = format!("{}/{}", info.instance, info.name);
            rows.push(Row {
                stack: stack.clone(),
                referenced: refs.iter().any(|(r, _)| *r == secret),
                secret,
                state: match info.origin {
                    Some(Origin::Generated) => "generated",
                    Some(Origin::Set) => "set",
                    None => "unknown",
                },
                changed: info.changed.map(Timestamp::from_unix),
            });
        }
        for (secret, generate) in refs {
            if stored
                .iter()
                .any(|i| format!("{}/{}", i.instance, i.name) == secret)
            {
                continue;
            }
            rows.push(Row {
                stack: stack.clone(),
                secret,
                state: if generate { "pending" } else { "missing" },
                changed: None,
                referenced: true,
            });
        }
    }
    rows.sort_by(|a, b| (&a.stack, &a.secret).cmp(&(&b.stack, &b.secret)));
    if format == ListFormat::Json {
        print_json(&rows)?;
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        outln!("No secrets.")?;
        return Ok(exit::OK);
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let note = match r.state {
                "missing" => format!("devarch secret set {} {}", r.stack, r.secret),
                "pending" => "generated on the next apply".into(),
                _ if !r.referenced => "not referenced by the manifests".into(),
                _ => String::new(),
            };
            vec![
                r.stack.clone(),
                r.secret.clone(),
                r.state.to_string(),
                r.changed.map_or_else(|| "-".into(), |t| t.to_string()),
                note,
            ]
        })
        .collect();
    output::table(
        &mut super::output::stdout(),
        &["STACK", "SECRET", "STATE", "CHANGED", "NOTE"],
        &table,
    )?;
    Ok(exit::OK)
}

fn rm(cli: &Cli, stack: &str, name: &str) -> Result<u8> {
    let (instance, secret) = split_name(stack, name)?;
    let store = store(cli)?;
    if !store.remove(stack, instance, secret)? {
        let stored: Vec<String> = store
            .list(stack)?
            .into_iter()
            .map(|i| format!("{}/{}", i.instance, i.name))
            .collect();
        bail!(
            "stack {stack} has no stored secret {name} (stored: {})",
            list_or_none(stored.iter().map(String::as_str))
        );
    }
    outln!("Removed secret {name} of stack {stack}.")?;
    let refs = references(folder(cli).as_ref(), stack).unwrap_or_default();
    match refs.iter().find(|(r, _)| r == name) {
        Some((_, true)) => {
            outln!(
                "The manifests still refer to it with generate: true: the next apply generates a new value."
            )?;
        }
        Some((_, false)) => errln!(
            "warning: the manifests of stack {stack} still refer to it: the next apply fails until it is set again (`devarch secret set {stack} {name}`)"
        ),
        None => {}
    }
    Ok(exit::OK)
}

fn rotate_key(cli: &Cli) -> Result<u8> {
    let home = home(cli);
    let owner = crate::identity::owner_of(&cli.dir);
    let done = rotate::rotate_key(&home, &owner)?;
    if done.no_key {
        outln!(
            "No secret key in {} yet: nothing to rotate.",
            home.display()
        )?;
        return Ok(exit::OK);
    }
    if done.resumed {
        outln!("Finished an interrupted rotation.")?;
    }
    outln!(
        "Re-encrypted {} secret{} in {} file{} under a new key ({}); the old key is gone.",
        done.secrets,
        super::plural(done.secrets),
        done.files,
        super::plural(done.files),
        home.join(crate::state::secrets::key::KEY_FILE).display()
    )?;
    Ok(exit::OK)
}

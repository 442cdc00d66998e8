/*! The command-line layer: parse arguments, run one command, map the outcome to an exit code.
The only module that uses `anyhow`. */

// First, so that its macros (`outln!`, `errln!`...) reach every module below.
#[macro_use]
pub mod output;

pub mod args;
pub mod compose;
pub mod context;
pub mod delete;
pub mod describe;
pub mod exec;
pub mod get;
pub mod init;
pub mod kube;
pub mod logs;
pub mod plan;
pub mod progress;
pub mod restart;
pub mod secret;
pub mod stack;
pub mod transfer;
pub mod watch;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, Parser};
use serde::Serialize;

use crate::catalog;
use crate::manifests::diagnostics::SourceMap;

use crate::workspace::Workspace;
use args::{Cli, Command, DocFormat, ListFormat};

/// Exit codes of the binary. `plan` adds 2 for pending changes
/// ([`crate::cli::context::CHANGES`]); clap exits 2 on a usage error too.
pub mod exit {
    /// Success (for `plan`: no changes).
    pub const OK: u8 = 0;
    /// Error: any failure, including manifest problems and plan conflicts.
    pub const ERROR: u8 = 1;
}

/// Parse the process arguments and run.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        // The reader of stdout went away (`| head -1`): nothing more to say, as ripgrep does.
        Err(e) if output::is_stdout_closed(&e) => ExitCode::from(exit::OK),
        Err(e) => {
            let text = crate::errors::chain(e.as_ref());
            errln!("error: {}", crate::printable::block(&text));
            ExitCode::from(exit::ERROR)
        }
    }
}

fn load(cli: &Cli) -> Result<Workspace> {
    Ok(Workspace::load(&cli.dir)?)
}

pub(crate) fn sources(ws: &Workspace) -> SourceMap {
    let mut s = ws.set.sources.clone();
    for (name, text) in catalog::SOURCES {
        s.insert(
            PathBuf::from(format!("{}/{name}.yaml", catalog::BUILTIN_PREFIX)),
            (*text).into(),
        );
    }
    s
}

/// Print problems to stderr as a warning (commands that can still answer).
fn warn_if_invalid(ws: &Workspace) {
    if !ws.is_valid() {
        errln!(
            "warning: {} in {} (run `devarch validate` for details); affected resources are left out",
            output::summary(&ws.diagnostics),
            ws.set
                .files
                .first()
                .and_then(|f| f.parent())
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
}

/// Run one parsed command; returns the exit code.
///
/// # Errors
/// Any failure, printed by [`main`] as `error: ...` with exit code 1.
pub fn run(cli: Cli) -> Result<u8> {
    match &cli.command {
        Command::Init { dir, templates } => init::init(dir.as_ref().unwrap_or(&cli.dir), templates),
        Command::Validate => validate(&cli),
        Command::Get { what, output } => get::get(&cli, *what, *output),
        Command::EffectiveConfig {
            stack,
            instance,
            output,
        } => effective_config(&cli, stack, instance, *output),
        Command::Schema { check, root } => schema(root, *check),
        Command::Plan {
            stacks,
            output,
            out,
        } => plan::plan(&cli, stacks, *output == ListFormat::Json, out.as_deref()),
        Command::Apply {
            stacks,
            plan,
            lock_timeout,
        } => {
            let sel = crate::reconcile::Selection::only(stacks);
            plan::apply(&cli, sel, plan.as_deref(), *lock_timeout)
        }
        Command::Describe {
            what: args::DescribeWhat::Stack,
            name,
            output,
        } => describe::describe_stack(&cli, name, *output),
        Command::Watch {
            plan_only,
            resync,
            concurrency,
            debounce,
            log_format,
            listen,
            listen_beyond_loopback,
            api_header_timeout,
            api_max_connections,
        } => watch::watch(
            &cli,
            watch::Flags {
                plan_only: *plan_only,
                resync: *resync,
                concurrency: *concurrency,
                debounce: *debounce,
                log_format: *log_format,
                listen: *listen,
                listen_beyond_loopback: *listen_beyond_loopback,
                api_limits: crate::api::server::Limits {
                    header_read_timeout: *api_header_timeout,
                    max_connections: *api_max_connections,
                },
            },
        ),
        Command::Delete {
            stack,
            purge_volumes,
            purge,
            lock_timeout,
        } => {
            let purge = delete::Purge {
                volumes: *purge_volumes || *purge,
                state: *purge,
            };
            delete::delete(&cli, stack, purge, *lock_timeout)
        }
        Command::Secret { action } => secret::secret(&cli, action),
        Command::Restart {
            stack,
            instances,
            lock_timeout,
        } => restart::restart(&cli, stack, instances, *lock_timeout),
        Command::Export { stack, out } => transfer::export_stack(&cli, stack, out.as_deref()),
        Command::Import {
            file,
            from: args::ImportFrom::Devarch,
            prune,
            stack,
            ..
        } => transfer::import(&cli, file, stack.as_deref(), *prune),
        Command::Import {
            file,
            from: args::ImportFrom::Compose,
            prune,
            stack,
            as_template,
            env_from_shell,
        } => transfer::import_compose(
            &cli,
            file,
            stack.as_deref(),
            transfer::ComposeFlags {
                as_template: *as_template,
                env_from_shell: *env_from_shell,
                prune: *prune,
            },
        ),
        Command::Stack { action } => match action {
            args::StackAction::Clone {
                src,
                dst,
                with_secrets,
            } => stack::clone(&cli, src, dst, *with_secrets),
            args::StackAction::Rename {
                old,
                new,
                lock_timeout,
            } => stack::rename(&cli, old, new, *lock_timeout),
            args::StackAction::Enable { name } => stack::set_enabled(&cli, name, true),
            args::StackAction::Disable { name } => stack::set_enabled(&cli, name, false),
        },
        Command::Compose {
            stack,
            instance,
            env_file,
            target,
        } => compose::compose(
            &cli,
            stack,
            instance.as_deref(),
            env_file.as_deref(),
            *target,
        ),
        Command::Kube {
            stack,
            out,
            with_secrets,
        } => kube::kube(&cli, stack, out.as_deref(), *with_secrets),
        Command::Logs {
            stack,
            instances,
            follow,
            tail,
            since,
            timestamps,
            no_color,
        } => {
            let req = logs::LogsRequest {
                instances: instances.clone(),
                follow: *follow,
                tail: *tail,
                since: *since,
                timestamps: *timestamps,
                no_color: *no_color,
            };
            logs::logs(&cli, stack, &req)
        }
        Command::Exec {
            stack,
            instance,
            no_tty,
            command,
        } => exec::exec(&cli, stack, instance, command, *no_tty),
        Command::Completions { shell } => {
            // clap_complete panics on a failed write: generate in memory, write once.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "devarch", &mut script);
            output::stdout().write_all(&script)?;
            Ok(exit::OK)
        }
    }
}

fn validate(cli: &Cli) -> Result<u8> {
    let ws = load(cli)?;
    output::print_diagnostics(&ws.warnings, &sources(&ws));
    if !ws.is_valid() {
        output::print_diagnostics(&ws.diagnostics, &sources(&ws));
        errln!("error: {}", output::summary(&ws.diagnostics));
        return Ok(exit::ERROR);
    }
    let instances: usize = ws.stacks.values().map(|s| s.instances.len()).sum();
    let local_templates = ws.model.templates.values().filter(|t| !t.builtin).count();
    outln!(
        "{}: valid ({} file{}, {} stack{}, {} instance{}, {} template{} from the folder)",
        cli.dir.display(),
        ws.set.files.len(),
        plural(ws.set.files.len()),
        ws.stacks.len(),
        plural(ws.stacks.len()),
        instances,
        plural(instances),
        local_templates,
        plural(local_templates)
    )?;
    Ok(exit::OK)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn print_json(v: &impl Serialize) -> Result<()> {
    // Serialized first: serde_json's own error would hide a closed stdout.
    let mut text = serde_json::to_vec_pretty(v)?;
    text.push(b'\n');
    output::stdout().write_all(&text)?;
    Ok(())
}

fn effective_config(cli: &Cli, stack: &str, instance: &str, format: DocFormat) -> Result<u8> {
    let ws = load(cli)?;
    let doc = effective_config_doc(&ws, &cli.dir, stack, instance)?;
    match format {
        DocFormat::Json => print_json(&doc)?,
        DocFormat::Yaml => out!("{}", serde_saphyr::to_string(&doc)?)?,
    }
    Ok(exit::OK)
}

/// An instance's merged configuration, secrets redacted (`effective-config`, and the API).
///
/// # Errors
/// No such (valid) stack or instance, named with what there is.
pub(crate) fn effective_config_doc(
    ws: &Workspace,
    dir: &std::path::Path,
    stack: &str,
    instance: &str,
) -> Result<serde_json::Value> {
    let Some(s) = ws.stacks.get(stack) else {
        if ws.model.stacks.contains_key(stack) {
            output::print_diagnostics(&ws.diagnostics, &sources(ws));
            bail!(
                "stack {stack:?} has manifest errors ({}); fix them first",
                output::summary(&ws.diagnostics)
            );
        }
        let known: Vec<&str> = ws.model.stacks.keys().map(String::as_str).collect();
        bail!(
            "no stack {stack:?} in {} (stacks: {})",
            dir.display(),
            if known.is_empty() {
                "none".into()
            } else {
                known.join(", ")
            }
        );
    };
    let i = s.instances.get(instance).with_context(|| {
        format!(
            "stack {stack:?} has no instance {instance:?} (instances: {})",
            s.instances.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    })?;
    Ok(crate::resolve::effective_config(i)?)
}

/// Where the API's OpenAPI document is kept, under the project root.
pub const OPENAPI_FILE: &str = "schemas/openapi.json";

fn schema(root: &Path, check: bool) -> Result<u8> {
    let mut stale = crate::manifests::schema::write_or_check(root, check)
        .with_context(|| format!("writing schemas under {}", root.display()))?;
    let openapi = root.join(OPENAPI_FILE);
    let document = crate::api::openapi::document();
    if std::fs::read_to_string(&openapi).ok().as_deref() != Some(document.as_str()) {
        stale.push(PathBuf::from(OPENAPI_FILE));
        if !check {
            std::fs::create_dir_all(root)?;
            crate::safe_fs::dirs_within(root, Path::new("schemas"))?;
            crate::safe_fs::write_atomic(
                &openapi,
                document.as_bytes(),
                crate::safe_fs::FileMode::Keep { default: 0o644 },
            )
            .with_context(|| format!("writing {}", openapi.display()))?;
        }
    }
    if check {
        if stale.is_empty() {
            outln!("schemas/ and crds/ are up to date")?;
            return Ok(exit::OK);
        }
        for f in &stale {
            errln!("out of date: {}", f.display());
        }
        errln!(
            "error: {} generated file(s) out of date; run `devarch schema`",
            stale.len()
        );
        return Ok(exit::ERROR);
    }
    for f in &stale {
        outln!("wrote {}", f.display())?;
    }
    if stale.is_empty() {
        outln!("schemas/ and crds/ already up to date")?;
    }
    Ok(exit::OK)
}

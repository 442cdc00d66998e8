//! Command-line arguments (what the user typed; no I/O here).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::manifests::types::{QuantityError, format_duration, parse_duration};

/// `devarch --version`: the version and the git commit it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("DEVARCH_COMMIT"),
    ")"
);

/// devarch: reconcile a folder of Stack, Instance and Template manifests against Docker or Podman.
#[derive(Debug, Parser)]
#[command(name = "devarch", version = VERSION, about, propagate_version = true)]
pub struct Cli {
    /// Manifests folder: every *.yaml and *.yml under it, at any depth
    #[arg(
        long,
        global = true,
        env = "DEVARCH_DIR",
        default_value = "./devarch",
        value_name = "DIR"
    )]
    pub dir: PathBuf,
    /// State folder (secret key, secrets, locks, materialized config files) [default: ~/.devarch].
    #[arg(long, global = true, env = "DEVARCH_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Container engine to talk to: auto (Docker if it answers, else Podman), docker (DOCKER_HOST
    /// honoured), podman, or an endpoint: unix:///path, tcp://host:port, ssh://[user@]host[:port][/socket]
    #[arg(long, global = true, env = "DEVARCH_RUNTIME", value_name = "ENGINE", default_value = "auto", value_parser = runtime_arg)]
    pub runtime: RuntimeChoice,
    /// Host port (on 127.0.0.1) of the router serving instances' `domains` and
    /// `{instance}.{stack}.localhost` names
    #[arg(long, global = true, env = "DEVARCH_ROUTER_PORT", value_name = "PORT", default_value_t = crate::router::DEFAULT_PORT, value_parser = clap::value_parser!(u16).range(1..))]
    pub router_port: u16,
    /// nginx image the router runs (conf.d/*.conf included in http {}, as in the official image)
    #[arg(long, global = true, env = "DEVARCH_ROUTER_IMAGE", value_name = "IMAGE", default_value = crate::router::DEFAULT_IMAGE)]
    pub router_image: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Which engine to talk to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RuntimeChoice {
    /// Docker if it answers, else Podman.
    Auto,
    /// Docker (DOCKER_HOST honoured).
    Docker,
    /// Podman's Docker-compatible API.
    Podman,
    /// Whatever engine answers at this endpoint (`unix://`, `tcp://`, `http://`, `ssh://`).
    Endpoint(String),
}

/// `--runtime`: a word, or an endpoint URL.
fn runtime_arg(s: &str) -> Result<RuntimeChoice, String> {
    match s.to_ascii_lowercase().as_str() {
        "auto" => Ok(RuntimeChoice::Auto),
        "docker" => Ok(RuntimeChoice::Docker),
        "podman" => Ok(RuntimeChoice::Podman),
        _ if ["unix://", "tcp://", "http://", "ssh://"]
            .iter()
            .any(|p| s.starts_with(p)) =>
        {
            Ok(RuntimeChoice::Endpoint(s.to_string()))
        }
        _ => Err(format!(
            "{s:?} is not auto, docker, podman or an endpoint (unix:///path, tcp://host:port, ssh://[user@]host[:port][/socket])"
        )),
    }
}

/// What `devarch compose` writes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ComposeTarget {
    /// docker-compose / podman-compose, creating the containers devarch would
    Compose,
    /// `docker stack deploy` on a Docker Swarm
    Swarm,
}

/// Output format of listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Text for people: aligned columns, or the Terraform-style plan
    Text,
    /// JSON: an array of rows for `get`, one document for `plan` and `describe`
    Json,
}

/// Output format of documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DocFormat {
    /// YAML, as manifests are written
    Yaml,
    /// JSON, the same document
    Json,
}

/// The subcommands; [`crate::cli::run`] dispatches them.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a manifests folder: a starter stack, the JSON Schemas and editor settings.
    Init {
        /// Folder to create (may exist if it holds no manifests) [default: --dir, ./devarch]
        dir: Option<PathBuf>,
        /// Built-in templates to start with, one instance each (`devarch get templates` lists them)
        #[arg(
            long = "template",
            value_name = "NAME,...",
            value_delimiter = ',',
            default_value = "nginx"
        )]
        templates: Vec<String>,
    },
    /// Parse, schema-check and cross-check every manifest; exit 1 on any error.
    Validate,
    /// List stacks, instances or templates.
    Get {
        /// What to list.
        #[arg(value_enum)]
        what: GetWhat,
        /// Output format: a table or JSON rows
        #[arg(short, long, value_enum, default_value_t = ListFormat::Text)]
        output: ListFormat,
    },
    /// Show an instance's merged configuration (template ⊕ overrides ⊕ wiring), secrets redacted.
    EffectiveConfig {
        /// Stack that holds the instance
        stack: String,
        /// Instance name within that stack
        instance: String,
        /// Output format of the merged document
        #[arg(short, long, value_enum, default_value_t = DocFormat::Yaml)]
        output: DocFormat,
    },
    /// Show what apply would change (exit 0: no changes, 2: changes, 1: error).
    Plan {
        /// Stacks (default: all, plus stacks on the engine whose manifests are gone).
        stacks: Vec<String>,
        /// Output format: Terraform-style text or the JSON plan (as --out writes it)
        #[arg(short, long, value_enum, default_value_t = ListFormat::Text)]
        output: ListFormat,
        /// Save the plan (with a fingerprint of desired and observed state) for `apply --plan`.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Converge stacks: create, start, recreate and remove containers, networks and volumes.
    Apply {
        /// Stacks (default: all).
        stacks: Vec<String>,
        /// Apply a saved plan; refused when desired or observed state changed since.
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        /// Wait this long for another apply of the same stack to finish (e.g. 30s; at most 24h).
        #[arg(long, value_name = "DURATION", value_parser = lock_timeout_arg)]
        lock_timeout: Option<Duration>,
    },
    /// Show a stack: instances, network, wires, ports, state and conditions.
    Describe {
        /// What to describe.
        #[arg(value_enum)]
        what: DescribeWhat,
        /// Name of a stack in the manifests folder (its manifests must be valid)
        name: String,
        /// Output format: text, or the JSON document the text is made from
        #[arg(short, long, value_enum, default_value_t = ListFormat::Text)]
        output: ListFormat,
    },
    /// Remove a stack's manifests and, through a reconcile, its containers and network.
    Delete {
        /// Stack to delete (its manifests must be valid)
        stack: String,
        /// Also remove the stack's named volumes (their data is lost); secrets are kept.
        #[arg(long)]
        purge_volumes: bool,
        /// Remove everything of the stack: named volumes, its secrets and its materialised
        /// config files under --home (data and secret values are lost).
        #[arg(long)]
        purge: bool,
        /// Wait this long for another apply of the same stack to finish (at most 24h).
        #[arg(long, value_name = "DURATION", value_parser = lock_timeout_arg)]
        lock_timeout: Option<Duration>,
    },
    /// The controller: reconcile the folder continuously (file changes, engine events, resync).
    Watch {
        /// Print each plan, never apply.
        #[arg(long)]
        plan_only: bool,
        /// Period of the full resync (1s to 24h).
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = resync_arg)]
        resync: Duration,
        /// Stacks reconciled in parallel (1 to 64).
        #[arg(long, default_value_t = 4, value_parser = concurrency_arg)]
        concurrency: usize,
        /// Quiet time after a file change before the folder is re-read (at most 1m; under
        /// 10ms counts as 10ms).
        #[arg(long, value_name = "DURATION", default_value = "80ms", value_parser = debounce_arg)]
        debounce: Duration,
        /// Format of the log lines on stderr (filter with DEVARCH_LOG, default info)
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
        /// Serve the HTTP API and dashboard on this address (e.g. 127.0.0.1:7420; port 0 picks
        /// a free one). Loopback only unless --listen-beyond-loopback.
        #[arg(long, value_name = "ADDR")]
        listen: Option<std::net::SocketAddr>,
        /// Allow a --listen address other than loopback (anyone who can reach it and has the
        /// token can change your stacks).
        #[arg(long, requires = "listen")]
        listen_beyond_loopback: bool,
        /// Close an API connection that has not sent a request's headers this long after it
        /// opened or after its last response (100ms to 10m).
        #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = header_timeout_arg, requires = "listen")]
        api_header_timeout: Duration,
        /// API connections served at once; more wait, unaccepted, until one closes (1 to
        /// 4096).
        #[arg(long, value_name = "N", default_value_t = 256, value_parser = max_connections_arg, requires = "listen")]
        api_max_connections: usize,
    },
    /// Set, list and remove a stack's secrets; re-encrypt them all under a new key.
    Secret {
        /// What to do.
        #[command(subcommand)]
        action: SecretAction,
    },
    /// Clone, rename, enable or disable a stack by editing its manifests (comments and
    /// formatting kept), then show the plan that follows.
    Stack {
        /// What to do.
        #[command(subcommand)]
        action: StackAction,
    },
    /// Write a stack as one self-contained file: the stack with its instances inline, wires
    /// pinned, the folder's templates it uses; secrets as references.
    Export {
        /// Stack to export
        stack: String,
        /// Write to this file instead of stdout
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Add the stack of an exported file to the folder as STACK.yaml (or update one an import
    /// wrote), after checking the folder stays valid; prints the plan.
    Import {
        /// The file: an export (`devarch export`), or a Compose file with `--from compose`
        file: PathBuf,
        /// What the file is
        #[arg(long, value_enum, default_value_t = ImportFrom::Devarch)]
        from: ImportFrom,
        /// Remove the folder's instances of the stack that the file does not have
        #[arg(long)]
        prune: bool,
        /// The stack's name: an export's stack is imported under this name (its host names
        /// under `*.OLD.localhost` move to `*.NAME.localhost`); for Compose [default: the
        /// file's `name`, else its folder's name]
        #[arg(long, value_name = "NAME")]
        stack: Option<String>,
        /// Compose: make the file's single service a Template (written to NAME.yaml), no stack
        #[arg(long)]
        as_template: bool,
        /// Compose: take variables' values from your environment too (before the project's
        /// `.env`, as Compose does); without it they come from `.env` only, and a variable only
        /// your environment sets is left as its reference and reported
        #[arg(long)]
        env_from_shell: bool,
    },
    /// Print the stack as a Compose file (same containers, labels, network and volumes as
    /// apply creates; secrets as ${DEVARCH_SECRET_...} placeholders).
    Compose {
        /// Stack to print
        stack: String,
        /// Only this instance's service
        #[arg(long, value_name = "NAME")]
        instance: Option<String>,
        /// Also write the secrets' values to this new file (mode 0600), for
        /// `docker-compose --env-file`
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
        /// compose: for docker-compose / podman-compose; swarm: for `docker stack deploy`
        /// (DNS round-robin endpoints, host-mode ports, configs, no start order)
        #[arg(long, value_enum, default_value_t = ComposeTarget::Compose)]
        target: ComposeTarget,
    },
    /// Print the stack as Kubernetes objects (a Namespace; per instance a Deployment or
    /// StatefulSet, a Service, a ConfigMap of its config files; secrets referenced by name).
    Kube {
        /// Stack to print
        stack: String,
        /// Write DIR/STACK.yaml instead of printing (created if missing)
        #[arg(short = 'o', long = "out", value_name = "DIR")]
        out: Option<PathBuf>,
        /// Also write the secrets' values as Secret objects to DIR/STACK-secrets.yaml (mode
        /// 0600); needs --out
        #[arg(long, requires = "out")]
        with_secrets: bool,
    },
    /// Restart a stack's running containers in place (not recreated), waiting for health.
    Restart {
        /// Stack
        stack: String,
        /// Only these instances [default: all]
        instances: Vec<String>,
        /// Wait this long for another apply of the stack to finish (at most 24h).
        #[arg(long, value_name = "DURATION", value_parser = lock_timeout_arg)]
        lock_timeout: Option<Duration>,
    },
    /// Show the output of a stack's containers, each line prefixed with its instance (like
    /// `docker compose logs`).
    Logs {
        /// Stack whose containers to show
        stack: String,
        /// Only these instances [default: all]
        instances: Vec<String>,
        /// Keep streaming new output until the containers stop (Ctrl-C ends it)
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines of each container
        #[arg(long, value_name = "N")]
        tail: Option<u64>,
        /// Only output younger than this (e.g. 10m, 1h30m; at most 10000h)
        #[arg(long, value_name = "DURATION", value_parser = since_arg)]
        since: Option<Duration>,
        /// Prefix each line with the engine's timestamp
        #[arg(short, long)]
        timestamps: bool,
        /// Plain prefixes (also when NO_COLOR is set or stdout is not a terminal)
        #[arg(long)]
        no_color: bool,
    },
    /// Run a command in an instance's container and exit with its code; a TTY when stdin and
    /// stdout are terminals.
    Exec {
        /// Stack of the instance
        stack: String,
        /// Instance whose container runs the command
        instance: String,
        /// No TTY, even on a terminal (for scripts that read the output)
        #[arg(short = 'T', long = "no-tty")]
        no_tty: bool,
        /// The command and its arguments (put `--` before a command whose arguments start
        /// with `-`)
        #[arg(
            required = true,
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "COMMAND"
        )]
        command: Vec<String>,
    },
    /// Write the JSON Schemas (schemas/) and CRDs (crds/), or check they are up to date.
    Schema {
        /// Fail if the files on disk differ instead of writing them.
        #[arg(long)]
        check: bool,
        /// Project root holding schemas/ and crds/.
        #[arg(long, default_value = ".", value_name = "DIR")]
        root: PathBuf,
    },
    /// Print a shell completion script.
    Completions {
        /// Shell the script is written for
        shell: clap_complete::Shell,
    },
}

/// What `devarch import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ImportFrom {
    /// A file `devarch export` wrote
    Devarch,
    /// A Compose project file (docker-compose.yml, compose.yaml)
    Compose,
}

/// `devarch stack` actions.
#[derive(Debug, Subcommand)]
pub enum StackAction {
    /// A copy of stack SRC named DST, in a new file DST.yaml: same instances and overrides,
    /// its own containers, network, volumes, host ports (auto ones picked afresh) and secrets.
    Clone {
        /// Stack to copy
        src: String,
        /// Name of the copy
        dst: String,
        /// Copy SRC's secret values too (default: DST generates its own)
        #[arg(long)]
        with_secrets: bool,
    },
    /// Rename a stack and apply: its containers and network follow, named volumes' data is
    /// copied to volumes of the new name (the old ones are kept), secrets move.
    Rename {
        /// Current name
        old: String,
        /// New name
        new: String,
        /// Wait this long for another apply of either stack to finish (at most 24h).
        #[arg(long, value_name = "DURATION", value_parser = lock_timeout_arg)]
        lock_timeout: Option<Duration>,
    },
    /// Set `enabled: true`: the stack's containers run again.
    Enable {
        /// Stack to enable
        name: String,
    },
    /// Set `enabled: false`: the stack's containers stop; nothing is removed.
    Disable {
        /// Stack to disable
        name: String,
    },
}

/// `devarch secret` actions.
#[derive(Debug, Subcommand)]
pub enum SecretAction {
    /// Set a secret; the value comes from stdin (prompted without echo on a terminal) or
    /// --from-file, never from the command line. One trailing newline is dropped.
    Set {
        /// Stack the secret belongs to
        stack: String,
        /// INSTANCE/SECRET: the instance that owns it and the name its `secret:` reference uses
        name: String,
        /// Read the value from this file instead of stdin (at most 64 KiB)
        #[arg(long, value_name = "FILE")]
        from_file: Option<PathBuf>,
    },
    /// List secrets: stored ones (generated or set, last change) and referenced ones that are
    /// missing; never values.
    List {
        /// Only this stack [default: every stack of the folder and every stack with secrets]
        stack: Option<String>,
        /// Output format: a table or JSON rows
        #[arg(short, long, value_enum, default_value_t = ListFormat::Text)]
        output: ListFormat,
    },
    /// Remove a stored secret.
    Rm {
        /// Stack the secret belongs to
        stack: String,
        /// INSTANCE/SECRET
        name: String,
    },
    /// Re-encrypt every secret under --home with a new key, atomically (an interrupted
    /// rotation leaves the old key working and is finished by running it again).
    RotateKey,
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines: time, level, message and fields
    Text,
    /// One JSON object per line.
    Json,
}

/// What `describe` can show (only stacks so far).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DescribeWhat {
    /// A stack: instances, network, wires, ports, pending changes and conditions
    Stack,
}

/// Longest `--lock-timeout`: 24 hours.
pub const MAX_LOCK_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// Shortest `watch --resync` period: 1 second.
pub const MIN_RESYNC: Duration = Duration::from_secs(1);

/// Longest `watch --resync` period: 24 hours.
pub const MAX_RESYNC: Duration = Duration::from_secs(24 * 60 * 60);

/// Longest `watch --debounce`: 1 minute.
pub const MAX_DEBOUNCE: Duration = Duration::from_secs(60);

/// Most stacks `watch --concurrency` may reconcile in parallel: 64 (at least 1).
pub const MAX_CONCURRENCY: usize = 64;

/// A duration flag between `min` and `max`; the error is the tail of clap's
/// "invalid value 'X' for '--flag <DURATION>': ..." message.
fn duration_arg(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = parse_duration(s, max).map_err(|e| e.to_string())?;
    if d < min {
        return Err(QuantityError::TooSmall(format_duration(min)).to_string());
    }
    Ok(d)
}

/// Longest `logs --since`: 10000 hours (over a year).
pub const MAX_SINCE: Duration = Duration::from_secs(10_000 * 60 * 60);

fn since_arg(s: &str) -> Result<Duration, String> {
    duration_arg(s, Duration::ZERO, MAX_SINCE)
}

fn lock_timeout_arg(s: &str) -> Result<Duration, String> {
    duration_arg(s, Duration::ZERO, MAX_LOCK_TIMEOUT)
}

fn resync_arg(s: &str) -> Result<Duration, String> {
    duration_arg(s, MIN_RESYNC, MAX_RESYNC)
}

fn debounce_arg(s: &str) -> Result<Duration, String> {
    duration_arg(s, Duration::ZERO, MAX_DEBOUNCE)
}

/// Bounds of `watch --api-header-timeout`.
pub const HEADER_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(600));

/// Most of `watch --api-max-connections`.
pub const MAX_API_CONNECTIONS: usize = 4096;

fn header_timeout_arg(s: &str) -> Result<Duration, String> {
    duration_arg(s, HEADER_TIMEOUT_RANGE.0, HEADER_TIMEOUT_RANGE.1)
}

fn max_connections_arg(s: &str) -> Result<usize, String> {
    count_arg(s, MAX_API_CONNECTIONS)
}

fn concurrency_arg(s: &str) -> Result<usize, String> {
    count_arg(s, MAX_CONCURRENCY)
}

/// A whole number from 1 to `max`.
fn count_arg(s: &str, max: usize) -> Result<usize, String> {
    let too_large = || QuantityError::TooLarge(max.to_string()).to_string();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QuantityError::Syntax("a whole number like 4").to_string());
    }
    match s.parse::<usize>() {
        Ok(0) => Err(QuantityError::TooSmall("1".into()).to_string()),
        Ok(n) if n <= max => Ok(n),
        _ => Err(too_large()), // digits only: too many for a usize is too large too
    }
}

/// What `get` lists; the singular (`get stack`) works too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GetWhat {
    /// Stacks with instance and running counts and the controller's status
    #[value(alias = "stack")]
    Stacks,
    /// Instances of every stack.
    #[value(alias = "instance")]
    Instances,
    /// Built-in and folder templates.
    #[value(alias = "template")]
    Templates,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_flags_are_bounded() {
        assert_eq!(lock_timeout_arg("24h"), Ok(MAX_LOCK_TIMEOUT));
        assert_eq!(lock_timeout_arg("0s"), Ok(Duration::ZERO));
        assert_eq!(
            lock_timeout_arg("99999999999999999999999h"),
            Err("more than the limit of 24h".into())
        );
        assert_eq!(
            lock_timeout_arg("24h1ns"),
            Err("more than the limit of 24h".into())
        );
        assert_eq!(
            lock_timeout_arg("soon"),
            Err("not a duration like 30s, 1m30s or 500ms".into())
        );
        assert_eq!(header_timeout_arg("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(
            header_timeout_arg("99ms"),
            Err("less than the minimum of 100ms".into())
        );
        assert_eq!(
            header_timeout_arg("11m"),
            Err("more than the limit of 10m".into())
        );
        assert_eq!(max_connections_arg("4096"), Ok(MAX_API_CONNECTIONS));
        assert!(max_connections_arg("0").is_err() && max_connections_arg("4097").is_err());
        assert_eq!(resync_arg("1s"), Ok(MIN_RESYNC));
        assert_eq!(resync_arg("24h"), Ok(MAX_RESYNC));
        assert_eq!(resync_arg("0s"), Err("less than the minimum of 1s".into()));
        assert_eq!(
            resync_arg("999ms"),
            Err("less than the minimum of 1s".into())
        );
        assert_eq!(resync_arg("25h"), Err("more than the limit of 24h".into()));
        assert_eq!(debounce_arg("0s"), Ok(Duration::ZERO));
        assert_eq!(debounce_arg("1m"), Ok(MAX_DEBOUNCE));
        assert_eq!(debounce_arg("61s"), Err("more than the limit of 1m".into()));
    }

    #[test]
    fn concurrency_is_bounded() {
        assert_eq!(concurrency_arg("1"), Ok(1));
        assert_eq!(concurrency_arg("64"), Ok(MAX_CONCURRENCY));
        assert_eq!(
            concurrency_arg("0"),
            Err("less than the minimum of 1".into())
        );
        assert_eq!(
            concurrency_arg("65"),
            Err("more than the limit of 64".into())
        );
        assert_eq!(
            concurrency_arg("99999999999999999999999"),
            Err("more than the limit of 64".into())
        );
        for bad in ["-1", "four", "", "4 "] {
            assert_eq!(
                concurrency_arg(bad),
                Err("not a whole number like 4".into()),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_defaults_are_within_the_bounds() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
        assert!(resync_arg("60s").is_ok());
        assert!(concurrency_arg("4").is_ok());
        // The documented default is the one the folder watcher names.
        let cli = Cli::try_parse_from(["devarch", "watch"]).unwrap();
        let Command::Watch { debounce, .. } = cli.command else {
            panic!("watch");
        };
        assert_eq!(debounce, crate::watch::folder::DEFAULT_DEBOUNCE);
    }
}

//! Command-line arguments (what the user typed; no I/O here).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// devarch: reconcile a folder of Stack, Instance and Template manifests against Docker or Podman.
#[derive(Debug, Parser)]
#[command(name = "devarch", version, about, propagate_version = true)]
pub struct Cli {
    /// Manifests folder.
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
    /// Container engine.
    #[arg(long, global = true, env = "DEVARCH_RUNTIME", value_enum, default_value_t = RuntimeChoice::Auto)]
    pub runtime: RuntimeChoice,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Which engine to talk to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RuntimeChoice {
    /// Docker if it answers, else Podman.
    Auto,
    /// Docker (DOCKER_HOST honoured).
    Docker,
    /// Podman's Docker-compatible API.
    Podman,
}

/// Output format of listings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned columns.
    Text,
    /// JSON array.
    Json,
}

/// Output format of documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DocFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Parse, schema-check and cross-check every manifest; exit 1 on any error.
    Validate,
    /// List stacks, instances or templates.
    Get {
        /// What to list.
        #[arg(value_enum)]
        what: GetWhat,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ListFormat::Text)]
        output: ListFormat,
    },
    /// Show an instance's merged configuration (template ⊕ overrides ⊕ wiring), secrets redacted.
    EffectiveConfig {
        /// Stack name.
        stack: String,
        /// Instance name.
        instance: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = DocFormat::Yaml)]
        output: DocFormat,
    },
    /// Show what apply would change (exit 0: no changes, 2: changes, 1: error).
    Plan {
        /// Stacks (default: all, plus stacks on the engine whose manifests are gone).
        stacks: Vec<String>,
        /// Output format.
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
        /// Wait this long for another apply of the same stack to finish (e.g. 30s).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
        lock_timeout: Option<std::time::Duration>,
    },
    /// Show a stack: instances, network, wires, ports, state and conditions.
    Describe {
        /// What to describe.
        #[arg(value_enum)]
        what: DescribeWhat,
        /// Its name.
        name: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value_t = ListFormat::Text)]
        output: ListFormat,
    },
    /// Remove a stack's manifests and, through a reconcile, its containers and network.
    Delete {
        /// Stack name.
        stack: String,
        /// Also remove the stack's named volumes (data is lost).
        #[arg(long)]
        purge_volumes: bool,
        /// Wait this long for another apply of the same stack to finish.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
        lock_timeout: Option<std::time::Duration>,
    },
    /// The controller: reconcile the folder continuously (file changes, engine events, resync).
    Watch {
        /// Print each plan, never apply.
        #[arg(long)]
        plan_only: bool,
        /// Period of the full resync.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration_arg)]
        resync: std::time::Duration,
        /// Stacks reconciled in parallel.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Quiet time after a file change before the folder is re-read.
        #[arg(long, value_name = "DURATION", default_value = "300ms", value_parser = parse_duration_arg)]
        debounce: std::time::Duration,
        /// Log format.
        #[arg(long, value_enum, default_value_t = LogFormat::Text)]
        log_format: LogFormat,
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
        /// Shell.
        shell: clap_complete::Shell,
    },
}

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Describable resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DescribeWhat {
    /// A stack.
    Stack,
}

fn parse_duration_arg(s: &str) -> Result<std::time::Duration, String> {
    crate::manifests::types::parse_duration(s, std::time::Duration::MAX).map_err(|e| e.to_string())
}

/// Listable resources.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GetWhat {
    /// Stacks.
    #[value(alias = "stack")]
    Stacks,
    /// Instances of every stack.
    #[value(alias = "instance")]
    Instances,
    /// Built-in and folder templates.
    #[value(alias = "template")]
    Templates,
}

//! The built-in template catalog, compiled into the binary from `controller/catalog/NAME.yaml`.
//! A Template of the same name in the manifests folder replaces a built-in one.

use std::path::PathBuf;
use std::sync::LazyLock;

use crate::manifests::diagnostics::Diagnostic;
use crate::manifests::load::{Loaded, ManifestSet, load_text};
use crate::manifests::types::Template;

macro_rules! catalog {
    ($($name:literal),* $(,)?) => {
        /// `(name, YAML)` of every built-in template.
        pub const SOURCES: &[(&str, &str)] = &[$(($name, include_str!(concat!("catalog/", $name, ".yaml")))),*];
    };
}

catalog!(
    "adminer",
    "django",
    "laravel",
    "mailpit",
    "mariadb",
    "memcached",
    "mongodb",
    "mysql",
    "nginx",
    "node",
    "php-fpm",
    "postgres",
    "rabbitmq",
    "redis",
);

/// Display path prefix of built-in templates.
pub const BUILTIN_PREFIX: &str = "<builtin>";

/// Parse the catalog (every template, plus any problem found in it).
pub fn parse() -> (ManifestSet, Vec<Diagnostic>) {
    let mut set = ManifestSet::default();
    let mut diags = Vec::new();
    for (name, text) in SOURCES {
        load_text(
            &mut set,
            &mut diags,
            PathBuf::from(format!("{BUILTIN_PREFIX}/{name}.yaml")),
            (*text).into(),
        );
    }
    (set, diags)
}

static CATALOG: LazyLock<Vec<Loaded<Template>>> = LazyLock::new(|| parse().0.templates);

/// The built-in templates (those that parse; a test keeps them all valid).
pub fn templates() -> &'static [Loaded<Template>] {
    &CATALOG
}

/*! The service fields Templates define and Instances override ([`ServiceSpec`]): image and
command, environment (with secret references), health check, config files, dependencies,
limits, and the endpoints a service exports and imports. Ports and volumes are in
[`super::ports`], bounded quantities in [`super::quantity`]. */

#![allow(clippy::wildcard_imports)]

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::types::*;

/// The service fields shared by Templates (definitions) and Instances (overrides).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Container image, e.g. `postgres:16`.
    #[schemars(length(min = 1))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Command (list, or a string split like a shell would).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_command"
    )]
    #[schemars(with = "Option<CommandForm>")]
    pub command: Option<Vec<String>>,
    /// Entrypoint (list, or a string split like a shell would).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_command"
    )]
    #[schemars(with = "Option<CommandForm>")]
    pub entrypoint: Option<Vec<String>>,
    /// Working directory inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// User (name or uid[:gid]) the process runs as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Environment variables: a map (values string, number, bool, secret reference or
    /// `null` to delete an inherited key) or a list of `KEY=VALUE` strings.
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        deserialize_with = "de_env"
    )]
    #[schemars(with = "EnvForm")]
    pub env: IndexMap<String, Option<EnvValue>>,
    /// Published ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortSpec>,
    /// Named volumes and bind mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeSpec>,
    /// Container health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    /// Files written by devarch and mounted read-only into the container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_files: Vec<ConfigFile>,
    /// Start-order dependencies, by import or instance name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Dependency>,
    /// Extra container labels (`null` deletes an inherited key). Keys under `devarch.` are
    /// devarch's own and refused.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    #[schemars(extend("propertyNames" = {"not": {"pattern": "^[dD][eE][vV][aA][rR][cC][hH]\\."}}))]
    pub labels: IndexMap<String, Option<String>>,
    /// Host names the service answers to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domains: Option<Vec<String>>,
    /// CPU and memory limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Endpoints this service offers to others in its stack.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exports: Vec<Export>,
    /// Endpoints this service needs from others in its stack.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub imports: Vec<Import>,
}

/// Schema-only: a command as a string or a list.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum CommandForm {
    /// Split like a POSIX shell would.
    Line(String),
    /// Exact argument vector.
    Args(Vec<String>),
}

fn de_command<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Line(String),
        Args(Vec<String>),
    }
    match Option::<Form>::deserialize(d)? {
        None => Ok(None),
        Some(Form::Args(a)) => Ok(Some(a)),
        Some(Form::Line(l)) => shell_words::split(&l)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("cannot split command {l:?}: {e}"))),
    }
}

/// Schema-only: env as a map or a `KEY=VALUE` list.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum EnvForm {
    /// `{KEY: value}`; `null` deletes an inherited key. A key is not empty and holds no `=`
    /// or NUL (the engines pass `KEY=value`).
    #[schemars(extend("propertyNames" = {"pattern": ENV_NAME_PATTERN}))]
    Map(IndexMap<String, Option<EnvValue>>),
    /// `[KEY=value, ...]`
    List(Vec<EnvItem>),
}

/// Schema-only: one `KEY=value` entry of an env list.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct EnvItem(#[schemars(regex(pattern = r"^[^=]+=.*$"))] String);

fn de_env<'de, D: Deserializer<'de>>(d: D) -> Result<IndexMap<String, Option<EnvValue>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Map(IndexMap<String, Option<EnvValue>>),
        List(Vec<String>),
    }
    Ok(match Form::deserialize(d)? {
        Form::Map(m) => m,
        Form::List(l) => l
            .into_iter()
            .map(|item| match item.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(EnvValue::Text(v.to_string()))),
                None => (item, None),
            })
            .collect(),
    })
}

/// An environment value: literal text or a reference to a stack secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvValue {
    /// Literal value (numbers and booleans are kept as their text).
    Text(String),
    /// A secret, resolved at apply time and redacted everywhere else.
    Secret(SecretRef),
}

impl fmt::Display for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvValue::Text(t) => f.write_str(t),
            EnvValue::Secret(s) => write!(f, "<secret:{}>", s.secret),
        }
    }
}

impl Serialize for EnvValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            EnvValue::Text(t) => s.serialize_str(t),
            EnvValue::Secret(r) => r.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for EnvValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Str(String),
            Int(i64),
            UInt(u64),
            Float(f64),
            Bool(bool),
            Secret(SecretRef),
        }
        Ok(match Form::deserialize(d)? {
            Form::Str(s) => EnvValue::Text(s),
            Form::Int(i) => EnvValue::Text(i.to_string()),
            Form::UInt(u) => EnvValue::Text(u.to_string()),
            Form::Float(f) => EnvValue::Text(f.to_string()),
            Form::Bool(b) => EnvValue::Text(b.to_string()),
            Form::Secret(r) => EnvValue::Secret(r),
        })
    }
}

/// An env value's text: no NUL, which no process environment can hold.
pub const ENV_VALUE_PATTERN: &str = "^[^\\u0000]*$";

/// An env name: not empty, no `=` (the engines pass `KEY=value`) and no NUL.
pub const ENV_NAME_PATTERN: &str = "^[^=\\u0000]+$";

impl JsonSchema for EnvValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EnvValue".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let secret = generator.subschema_for::<SecretRef>();
        schemars::json_schema!({
            "description": "A literal (string, number or boolean) or a secret reference.",
            "anyOf": [
                {"type": ["number", "boolean"]},
                secret,
                {"type": "string", "pattern": ENV_VALUE_PATTERN}
            ]
        })
    }
}

/// A reference to a secret of the stack, e.g. `{secret: password, generate: true}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretRef {
    /// Secret name (set with `devarch secret set STACK NAME`).
    pub secret: String,
    /// Generate a random value on first use when none is set.
    #[serde(default, skip_serializing_if = "is_false")]
    pub generate: bool,
}

/// A container health check.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Healthcheck {
    /// `[CMD, arg..]`, `[CMD-SHELL, "script"]`, or a string (run with a shell).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "de_health_test"
    )]
    #[schemars(with = "Option<CommandForm>")]
    pub test: Option<Vec<String>>,
    /// Time between checks, e.g. `5s` (at most 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<DurationText>")]
    pub interval: Option<String>,
    /// Time a check may take, e.g. `3s` (at most 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<DurationText>")]
    pub timeout: Option<String>,
    /// Failures before the container is unhealthy (at most 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = MAX_HEALTH_RETRIES))]
    pub retries: Option<u32>,
    /// Grace period after start, e.g. `10s` (at most 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<DurationText>")]
    pub start_period: Option<String>,
    /// Turn off a health check inherited from the template or image.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable: bool,
}

fn de_health_test<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Line(String),
        Args(Vec<String>),
    }
    Ok(match Option::<Form>::deserialize(d)? {
        None => None,
        Some(Form::Args(a)) => Some(a),
        Some(Form::Line(l)) => Some(vec!["CMD-SHELL".to_string(), l]),
    })
}

/// A file devarch writes and mounts read-only into the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigFile {
    /// Absolute path inside the container.
    pub path: String,
    /// File content.
    pub content: String,
    /// Octal file mode as quoted text, e.g. `"0644"` (unquoted, YAML 1.2 reads `0644` as the
    /// number 644, so devarch refuses it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^0?[0-7]{3}$"))]
    pub mode: Option<String>,
}

/// When a `dependsOn` dependency counts as ready, so that its dependent may start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(rename = "Condition")]
pub enum DependencyCondition {
    /// The dependency's container has started (default).
    #[default]
    Started,
    /// The dependency's health check passes.
    Healthy,
}

impl DependencyCondition {
    fn is_started(&self) -> bool {
        *self == DependencyCondition::Started
    }
}

/// A start-order dependency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", from = "DependencyForm")]
// Named like `PortSpec`/`VolumeSpec`: `Dependency` is the long form's schema name, and a
// shared name made the generated schema refer to itself (any dependency validated).
#[schemars(rename = "DependencySpec")]
pub struct Dependency {
    /// An import name of this service, or an instance of the same stack.
    pub name: String,
    /// `started` (default) or `healthy`.
    #[serde(default, skip_serializing_if = "DependencyCondition::is_started")]
    pub condition: DependencyCondition,
}

/// Accepted spellings of a dependency.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(description = "A dependency: `{name: db, condition: healthy}` or just `db`.")]
enum DependencyForm {
    Short(String),
    Long(DependencyLong),
}

/// A dependency in long form.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Dependency")]
struct DependencyLong {
    /// An import name of this service, or an instance of the same stack.
    name: String,
    /// `started` (default) or `healthy`.
    #[serde(default)]
    condition: DependencyCondition,
}

impl From<DependencyForm> for Dependency {
    fn from(f: DependencyForm) -> Self {
        match f {
            DependencyForm::Short(name) => Dependency {
                name,
                condition: DependencyCondition::Started,
            },
            DependencyForm::Long(l) => Dependency {
                name: l.name,
                condition: l.condition,
            },
        }
    }
}

/// CPU, memory and process limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// CPU limit in cores, e.g. `1.5` (0.01 to 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MIN_CPUS, max = MAX_CPUS))]
    pub cpus: Option<f64>,
    /// Memory limit, e.g. `512Mi`, `1Gi`, `256m`; from `6Mi` to `1Ti`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = super::quantity::memory_pattern()))]
    pub memory: Option<String>,
    /// Most processes (and threads) the container may run at once, e.g. `256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = MAX_PIDS))]
    pub pids: Option<i64>,
}

/// An endpoint a service offers to the other instances of its stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Export {
    /// Endpoint name.
    pub name: String,
    /// Contract type that imports match on, e.g. `postgres`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Container port of the endpoint.
    #[schemars(range(min = 1, max = 65535))]
    pub port: u16,
    /// `tcp` (default) or `udp`.
    #[serde(default, skip_serializing_if = "Protocol::is_tcp")]
    pub protocol: Protocol,
    /// Extra attributes offered to consumers (`{{user}}`, `{{password}}`...).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub attributes: IndexMap<String, Option<EnvValue>>,
}

fn default_required() -> bool {
    true
}

/// An endpoint a service needs from another instance of its stack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Import {
    /// Import name (what `wires` and `dependsOn` refer to).
    pub name: String,
    /// Contract type to match against providers' exports.
    #[serde(rename = "type")]
    pub kind: String,
    /// A missing required import is an error; a missing optional one is skipped.
    #[serde(default = "default_required", skip_serializing_if = "is_true")]
    pub required: bool,
    /// Env vars set from the provider, templated: `{{host}}`, `{{port}}`, `{{user}}`...
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_accepts_scalars_lists_and_secrets() {
        let s: ServiceSpec = serde_json::from_value(serde_json::json!({
            "env": {"A": 1, "B": true, "C": "x", "D": null, "E": {"secret": "pw", "generate": true}}
        }))
        .unwrap();
        assert_eq!(s.env["A"], Some(EnvValue::Text("1".into())));
        assert_eq!(s.env["B"], Some(EnvValue::Text("true".into())));
        assert_eq!(s.env["D"], None);
        assert!(matches!(s.env["E"], Some(EnvValue::Secret(_))));
        let l: ServiceSpec = serde_json::from_value(
            serde_json::json!({"env": ["A=1=2", "B"], "command": "sh -c 'echo hi'"}),
        )
        .unwrap();
        assert_eq!(l.env["A"], Some(EnvValue::Text("1=2".into())));
        assert_eq!(l.command.unwrap(), vec!["sh", "-c", "echo hi"]);
    }
}

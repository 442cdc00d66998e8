/*! The resource model: `Template`, `Stack` and `Instance` of `devarch.io/v1alpha1`.

These types are the single source of truth for the JSON Schemas in `schemas/` and the
CustomResourceDefinitions in `crds/`. Raw documents are validated against those schemas
first (for located error messages), then deserialized into these types, which accept the
Compose-style short forms and normalise them into one canonical shape.
*/

use std::fmt;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The only API version this build understands.
pub const API_VERSION: &str = "devarch.io/v1alpha1";

/// `apiVersion` of every devarch resource.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApiVersion {
    /// `devarch.io/v1alpha1`
    #[default]
    #[serde(rename = "devarch.io/v1alpha1")]
    V1Alpha1,
}

/// Standard object metadata, as in Kubernetes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    /// Name of the resource: a DNS label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`).
    pub name: String,
    /// Free-form key/value labels.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// Free-form key/value annotations.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub annotations: IndexMap<String, String>,
}

macro_rules! kind_enum {
    ($name:ident, $variant:ident) => {
        #[doc = concat!("The `kind` of a ", stringify!($variant), ".")]
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema,
        )]
        pub enum $name {
            #[doc = concat!("`", stringify!($variant), "`")]
            #[default]
            $variant,
        }
    };
}
kind_enum!(TemplateKind, Template);
kind_enum!(StackKind, Stack);
kind_enum!(InstanceKind, Instance);

/// A reusable service definition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Template {
    /// Always `devarch.io/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `Template`.
    pub kind: TemplateKind,
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// The service definition.
    #[serde(default)]
    pub spec: TemplateSpec,
}

/// What a Template defines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TemplateSpec {
    /// One-line human description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The service fields.
    #[serde(flatten)]
    pub service: ServiceSpec,
}

/// An isolated environment: a set of instances on their own network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Stack {
    /// Always `devarch.io/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `Stack`.
    pub kind: StackKind,
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// The stack definition.
    #[serde(default)]
    pub spec: StackSpec,
}

fn default_true() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// What a Stack defines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StackSpec {
    /// One-line human description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `false` stops the stack's containers and deletes nothing.
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Inline instances, by name.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub instances: IndexMap<String, InstanceBody>,
    /// Explicit wires per consumer instance: `{consumer: {import: provider}}`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub wires: IndexMap<String, IndexMap<String, String>>,
}

impl Default for StackSpec {
    fn default() -> Self {
        Self {
            description: None,
            enabled: true,
            instances: IndexMap::new(),
            wires: IndexMap::new(),
        }
    }
}

/// One service of a stack, as a separate document.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Instance {
    /// Always `devarch.io/v1alpha1`.
    pub api_version: ApiVersion,
    /// Always `Instance`.
    pub kind: InstanceKind,
    /// Name and labels.
    pub metadata: ObjectMeta,
    /// Stack, template and overrides.
    pub spec: InstanceSpec,
}

/// What an Instance document defines.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct InstanceSpec {
    /// The stack this instance belongs to.
    pub stack: String,
    /// Template and overrides.
    #[serde(flatten)]
    pub body: InstanceBody,
}

/// A template reference plus overrides; the value of `Stack.spec.instances.NAME`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct InstanceBody {
    /// The template this instance is built from (built-in or from the folder).
    pub template: String,
    /// Explicit wires: import name -> provider instance in the same stack.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub wires: IndexMap<String, String>,
    /// Overrides of template fields. Maps merge by key (`null` deletes a key),
    /// keyed lists merge by their natural key, scalars replace.
    #[serde(flatten)]
    pub overrides: ServiceSpec,
}

/// The service fields shared by Templates (definitions) and Instances (overrides).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Container image, e.g. `postgres:16`.
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
    /// Extra container labels (`null` deletes an inherited key).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
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
    /// `{KEY: value}`; `null` deletes an inherited key.
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

impl JsonSchema for EnvValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EnvValue".into()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let secret = generator.subschema_for::<SecretRef>();
        schemars::json_schema!({
            "description": "A literal (string, number or boolean) or a secret reference.",
            "anyOf": [{"type": ["string", "number", "boolean"]}, secret]
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

/// Network protocol of a port.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP (default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

impl Protocol {
    fn is_tcp(&self) -> bool {
        *self == Protocol::Tcp
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        })
    }
}

/// Host side of a published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostPort {
    /// devarch picks a free port and keeps it stable.
    Auto,
    /// This exact port.
    Fixed(u16),
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostPort::Auto => f.write_str("auto"),
            HostPort::Fixed(p) => write!(f, "{p}"),
        }
    }
}

impl Serialize for HostPort {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            HostPort::Auto => s.serialize_str("auto"),
            HostPort::Fixed(p) => s.serialize_u16(*p),
        }
    }
}

impl<'de> Deserialize<'de> for HostPort {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Num(u16),
            Str(String),
        }
        match Form::deserialize(d)? {
            Form::Num(0) => Err(serde::de::Error::custom("host port 0 is not a port")),
            Form::Num(p) => Ok(HostPort::Fixed(p)),
            Form::Str(s) if s == "auto" => Ok(HostPort::Auto),
            Form::Str(s) => s
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .map(HostPort::Fixed)
                .ok_or_else(|| {
                    serde::de::Error::custom(format!(
                        "host port {s:?} is neither a port number (1 to 65535) nor \"auto\""
                    ))
                }),
        }
    }
}

impl JsonSchema for HostPort {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "HostPort".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`auto` (a free port picked once and kept) or a port number.",
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": 65535},
                {"type": "string", "enum": ["auto"]}
            ]
        })
    }
}

/// A container port, optionally published on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", try_from = "PortForm")]
pub struct PortSpec {
    /// Port inside the container.
    pub container: u16,
    /// Host port: `auto`, a number, or omitted (not published).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostPort>,
    /// Host address to bind (default all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// `tcp` (default) or `udp`.
    #[serde(default, skip_serializing_if = "Protocol::is_tcp")]
    pub protocol: Protocol,
}

/// A port number 1 to 65535 as a regular expression (leading zeros allowed, as `u16`
/// parsing does).
macro_rules! port_number_pattern {
    () => {
        "0*([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
    };
}

/// Schema pattern of Compose's short port form, `[[IP:]HOST:]CONTAINER[/PROTO]`, with port
/// numbers bounded to 1..=65535 (so an editor flags `"80:70000"` too).
pub const PORT_SHORT_PATTERN: &str = concat!(
    r"^((([0-9.]+|\[[0-9a-fA-F:]+\]):)?(",
    port_number_pattern!(),
    "|auto):)?",
    port_number_pattern!(),
    "(/(tcp|udp))?$"
);

/// What the short port form looks like, for messages.
pub const PORT_SHORT_FORMS: &str =
    "a port mapping like \"8080:80\", \"127.0.0.1:8080:80/udp\" or \"80\" (ports 1 to 65535)";

/// Accepted spellings of a port.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(
    description = "A port: `{container: 80, host: auto}`, or Compose's short form `\"8080:80\"`, `\"127.0.0.1:8080:80/udp\"`, `80`."
)]
enum PortForm {
    Number(#[schemars(range(min = 1, max = 65535))] u16),
    Short(#[schemars(regex(pattern = PORT_SHORT_PATTERN))] String),
    Long(PortLong),
}

/// A port in long form.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Port")]
struct PortLong {
    /// Port inside the container.
    #[schemars(range(min = 1, max = 65535))]
    container: u16,
    /// Host port: `auto` (a free port, picked once and kept), a number, or omitted (not published).
    #[serde(default)]
    host: Option<HostPort>,
    /// Host address to bind (default: all addresses).
    #[serde(default)]
    host_ip: Option<String>,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    protocol: Protocol,
}

impl TryFrom<PortForm> for PortSpec {
    type Error = String;
    fn try_from(f: PortForm) -> Result<Self, String> {
        match f {
            PortForm::Number(p) => parse_port_short(&p.to_string()),
            PortForm::Short(s) => parse_port_short(&s),
            PortForm::Long(l) if l.container == 0 => Err("container port 0 is not a port".into()),
            PortForm::Long(l) => Ok(PortSpec {
                container: l.container,
                host: l.host,
                host_ip: l.host_ip,
                protocol: l.protocol,
            }),
        }
    }
}

/// Parse Compose's short port syntax: `[[IP:]HOST:]CONTAINER[/PROTO]`.
pub fn parse_port_short(s: &str) -> Result<PortSpec, String> {
    let bad = || format!("{s:?} is not {PORT_SHORT_FORMS}");
    let (rest, protocol) = match s.rsplit_once('/') {
        Some((r, "tcp")) => (r, Protocol::Tcp),
        Some((r, "udp")) => (r, Protocol::Udp),
        Some(_) => return Err(bad()),
        None => (s, Protocol::Tcp),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(bad);
    let host = |p: &str| {
        if p == "auto" || p.is_empty() {
            Ok(HostPort::Auto)
        } else {
            port(p).map(HostPort::Fixed)
        }
    };
    let (host_ip, host, container) = match parts.as_slice() {
        [c] => (None, None, port(c)?),
        [h, c] => (None, Some(host(h)?), port(c)?),
        [ip, h, c] => (Some((*ip).to_string()), Some(host(h)?), port(c)?),
        _ => return Err(bad()),
    };
    Ok(PortSpec {
        container,
        host,
        host_ip,
        protocol,
    })
}

/// A named volume (`name`) or a bind mount (`source`) at `target`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", try_from = "VolumeForm")]
pub struct VolumeSpec {
    /// Logical name of a named volume; the runtime volume is `devarch-{stack}-{instance}-{name}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Host path of a bind mount (relative paths are relative to the manifest's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Absolute path inside the container.
    pub target: String,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
}

/// Accepted spellings of a volume.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(
    description = "A volume: `{name: data, target: /data}` (named, per instance), `{source: ./src, target: /app, readOnly: true}` (bind mount), or the short form `\"data:/data\"` / `\"./src:/app:ro\"`."
)]
enum VolumeForm {
    Short(#[schemars(regex(pattern = r"^[^:]+:[^:]+(:(ro|rw))?$"))] String),
    Long(VolumeLong),
}

/// A volume in long form.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "Volume")]
struct VolumeLong {
    /// Logical name of a named volume; the runtime volume is `devarch-{stack}-{instance}-{name}`.
    #[serde(default)]
    name: Option<String>,
    /// Host path of a bind mount (relative paths are relative to the manifest's folder).
    #[serde(default)]
    source: Option<String>,
    /// Absolute path inside the container.
    target: String,
    /// Mount read-only.
    #[serde(default)]
    read_only: bool,
}

impl TryFrom<VolumeForm> for VolumeSpec {
    type Error = String;
    fn try_from(f: VolumeForm) -> Result<Self, String> {
        match f {
            VolumeForm::Short(s) => parse_volume_short(&s),
            VolumeForm::Long(l) => Ok(VolumeSpec {
                name: l.name,
                source: l.source,
                target: l.target,
                read_only: l.read_only,
            }),
        }
    }
}

/// Parse Compose's short volume syntax: `NAME:TARGET[:ro|rw]` or `PATH:TARGET[:ro|rw]`.
pub fn parse_volume_short(s: &str) -> Result<VolumeSpec, String> {
    let bad = || format!("{s:?} is not a volume like \"data:/var/lib/data\" or \"./src:/app:ro\"");
    let parts: Vec<&str> = s.split(':').collect();
    let (src, target, read_only) = match parts.as_slice() {
        [src, target] => (*src, *target, false),
        [src, target, "ro"] => (*src, *target, true),
        [src, target, "rw"] => (*src, *target, false),
        _ => return Err(bad()),
    };
    if src.is_empty() || target.is_empty() {
        return Err(bad());
    }
    let is_path = src.starts_with('.') || src.starts_with('/') || src.starts_with('~');
    Ok(VolumeSpec {
        name: (!is_path).then(|| src.to_string()),
        source: is_path.then(|| src.to_string()),
        target: target.to_string(),
        read_only,
    })
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

/// Schema-only: a Go-style duration such as `1m30s`, `500ms`, `5s`.
#[derive(JsonSchema)]
#[allow(dead_code)]
struct DurationText(
    #[schemars(
        regex(pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"),
        extend("format" = HEALTH_DURATION_FORMAT)
    )]
    String,
);

/// Longest health check `interval`, `timeout` and `startPeriod` a manifest may give: 1 hour.
pub const MAX_HEALTH_DURATION: std::time::Duration = std::time::Duration::from_secs(60 * 60);

/// Most health check `retries` a manifest may give: 100.
pub const MAX_HEALTH_RETRIES: u32 = 100;

/// Fewest CPU cores `resources.cpus` may give: 0.01.
pub const MIN_CPUS: f64 = 0.01;

/// Most CPU cores `resources.cpus` may give: 1024.
pub const MAX_CPUS: f64 = 1024.0;

/// Largest `resources.memory`, in bytes: 1 TiB.
pub const MAX_MEMORY_BYTES: u64 = 1 << 40;

/// [`MAX_MEMORY_BYTES`] as a manifest writes it.
pub const MAX_MEMORY_TEXT: &str = "1Ti";

/// JSON Schema `format` of health check durations: at most [`MAX_HEALTH_DURATION`]. The
/// schema's `pattern` checks the spelling, this format the bound (see [`format_bound_error`]).
pub const HEALTH_DURATION_FORMAT: &str = "devarch-health-duration";

/// JSON Schema `format` of memory sizes: at most [`MAX_MEMORY_BYTES`]. The schema's `pattern`
/// checks the spelling, this format the bound (see [`format_bound_error`]).
pub const MEMORY_FORMAT: &str = "devarch-memory";

/// The bound a devarch schema `format` ([`HEALTH_DURATION_FORMAT`], [`MEMORY_FORMAT`]) puts on
/// a string: the problem when `text` is beyond it, `None` when it is within (or is misspelt,
/// which the `pattern` next to the format reports, or the format is not devarch's).
pub fn format_bound_error(format: &str, text: &str) -> Option<QuantityError> {
    let checked = match format {
        HEALTH_DURATION_FORMAT => parse_duration(text, MAX_HEALTH_DURATION).map(drop),
        MEMORY_FORMAT => parse_memory(text).map(drop),
        _ => return None,
    };
    checked
        .err()
        .filter(|e| !matches!(e, QuantityError::Syntax(_)))
}

/// A duration, memory quantity or CPU count from input that cannot be used. `Display` says
/// what is wrong with the value, without repeating it (callers name the value and field).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not written like the quantity; holds an example of what is expected.
    #[error("not {0}")]
    Syntax(&'static str),
    /// Over the limit; holds the limit as the user would write it (`1h`, `1Ti`, `1024`).
    #[error("more than the limit of {0}")]
    TooLarge(String),
    /// Under the minimum; holds the minimum as the user would write it.
    #[error("less than the minimum of {0}")]
    TooSmall(String),
}

/// What a duration looks like, for [`QuantityError::Syntax`].
const DURATION_SYNTAX: &str = "a duration like 30s, 1m30s or 500ms";

/// Parse a duration like `1m30s`, `500ms`, `2h` (units `ns`, `us`, `ms`, `s`, `m`, `h`; each
/// number may have a fraction), at most `max`.
///
/// # Errors
/// [`QuantityError::Syntax`] for text that is not a duration, [`QuantityError::TooLarge`]
/// for a duration over `max` (however many digits it has: never a panic or an overflow).
pub fn parse_duration(
    s: &str,
    max: std::time::Duration,
) -> Result<std::time::Duration, QuantityError> {
    let syntax = || QuantityError::Syntax(DURATION_SYNTAX);
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return Err(syntax());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_len].parse().map_err(|_| syntax())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(syntax()),
        };
        rest = &rest[unit_len..];
        total += num * factor;
    }
    // Digits and dots only: `total` is non-negative, and +inf for a huge number.
    // Seconds as f64 (not integer nanoseconds) keep every valid value, and so every config
    // hash, as it was.
    let too_large = || QuantityError::TooLarge(format_duration(max));
    if !total.is_finite() || total > max.as_secs_f64() {
        return Err(too_large());
    }
    std::time::Duration::try_from_secs_f64(total)
        .ok()
        .filter(|d| *d <= max)
        .ok_or_else(too_large)
}

/// A duration as a user would write it, in its largest whole unit: `1h`, `90s`, `500ms`
/// (for bounds in messages).
pub fn format_duration(d: std::time::Duration) -> String {
    let nanos = d.as_nanos();
    for (unit, size) in [
        ("h", 3_600_000_000_000u128),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("us", 1_000),
    ] {
        if nanos >= size && nanos.is_multiple_of(size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    format!("{nanos}ns")
}

/// A file devarch writes and mounts read-only into the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigFile {
    /// Absolute path inside the container.
    pub path: String,
    /// File content.
    pub content: String,
    /// Octal file mode, e.g. `"0644"`.
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

/// CPU and memory limits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Resources {
    /// CPU limit in cores, e.g. `1.5` (0.01 to 1024).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = MIN_CPUS, max = MAX_CPUS))]
    pub cpus: Option<f64>,
    /// Memory limit, e.g. `512Mi`, `1Gi`, `256m`; at most `1Ti`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[0-9]+(\.[0-9]+)?([kKmMgGtT]i?|[bB])?$"),
        extend("format" = MEMORY_FORMAT)
    )]
    pub memory: Option<String>,
}

/// Parse a memory quantity (`512Mi`, `1Gi`, `256m`, `1g`, `1000`) into bytes, at most
/// [`MAX_MEMORY_BYTES`].
///
/// # Errors
/// [`QuantityError::Syntax`] for text that is not a quantity, [`QuantityError::TooLarge`]
/// for more than [`MAX_MEMORY_BYTES`] (however many digits: never an overflow).
pub fn parse_memory(s: &str) -> Result<u64, QuantityError> {
    let syntax = || QuantityError::Syntax("a memory size like 512Mi, 1Gi or 256m");
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let num: f64 = s[..split].parse().map_err(|_| syntax())?;
    let factor: f64 = match &s[split..] {
        "" | "b" | "B" => 1.0,
        "k" | "K" => 1e3,
        "Ki" | "ki" => 1024.0,
        "m" | "M" => 1e6,
        "Mi" | "mi" => 1024.0 * 1024.0,
        "g" | "G" => 1e9,
        "Gi" | "gi" => 1024.0 * 1024.0 * 1024.0,
        "t" | "T" => 1e12,
        "Ti" | "ti" => 1024f64.powi(4),
        _ => return Err(syntax()),
    };
    let bytes = (num * factor).round();
    // Non-negative (digits and dots only); +inf for a huge number. 2^40 is exact in f64.
    if !bytes.is_finite() || bytes > MAX_MEMORY_BYTES as f64 {
        return Err(QuantityError::TooLarge(MAX_MEMORY_TEXT.into()));
    }
    Ok(bytes as u64)
}

/// A CPU limit in cores as the engines' nano-CPUs (`cpus × 10⁹`), for
/// [`MIN_CPUS`]`..=`[`MAX_CPUS`] cores (so at most 1.024 × 10¹², far inside `i64`).
///
/// # Errors
/// [`QuantityError`] for a value outside the bounds, NaN or infinite.
pub fn nano_cpus(cpus: f64) -> Result<i64, QuantityError> {
    if cpus.is_nan() {
        return Err(QuantityError::Syntax("a number of CPU cores"));
    }
    if cpus < MIN_CPUS {
        return Err(QuantityError::TooSmall(MIN_CPUS.to_string()));
    }
    if cpus > MAX_CPUS {
        return Err(QuantityError::TooLarge(MAX_CPUS.to_string()));
    }
    Ok((cpus * 1e9).round() as i64)
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
    fn short_ports_parse() {
        let p = parse_port_short("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(p.host_ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(p.host, Some(HostPort::Fixed(8080)));
        assert_eq!(p.container, 80);
        assert_eq!(p.protocol, Protocol::Udp);
        assert_eq!(parse_port_short("80").unwrap().host, None);
        assert_eq!(
            parse_port_short("auto:80").unwrap().host,
            Some(HostPort::Auto)
        );
        assert!(parse_port_short("80/sctp").is_err());
        assert!(parse_port_short("x:80").is_err());
        assert!(parse_port_short("0").is_err());
    }

    #[test]
    fn short_volumes_parse() {
        let v = parse_volume_short("data:/var/lib/x").unwrap();
        assert_eq!(v.name.as_deref(), Some("data"));
        let b = parse_volume_short("./src:/app:ro").unwrap();
        assert_eq!(b.source.as_deref(), Some("./src"));
        assert!(b.read_only);
        assert!(parse_volume_short("nope").is_err());
    }

    #[test]
    fn durations_and_memory_parse() {
        let hour = MAX_HEALTH_DURATION;
        assert_eq!(parse_duration("1m30s", hour).unwrap().as_secs(), 90);
        assert_eq!(parse_duration("500ms", hour).unwrap().as_millis(), 500);
        assert_eq!(
            parse_duration("5 s", hour),
            Err(QuantityError::Syntax(DURATION_SYNTAX))
        );
        assert_eq!(parse_memory("512Mi"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_memory("1g"), Ok(1_000_000_000));
        assert!(matches!(parse_memory("12x"), Err(QuantityError::Syntax(_))));
    }

    #[test]
    fn durations_are_bounded_without_overflow() {
        let hour = MAX_HEALTH_DURATION;
        let too_large = Err(QuantityError::TooLarge("1h".into()));
        // At the bound, however it is written.
        for at in [
            "1h",
            "60m",
            "3600s",
            "59m60s",
            "3600000ms",
            "3600000000000ns",
            "0.5h30m",
        ] {
            assert_eq!(parse_duration(at, hour), Ok(hour), "{at}");
        }
        // Just past it, and far past it: an error, never a panic or a wrapped value.
        for over in [
            "1h1ns",
            "3600.000001s",
            "61m",
            "2h",
            "99999999999999999999999h",
            "18446744073709551616s",
            &"9".repeat(400),
        ] {
            let text = if over.ends_with(|c: char| c.is_ascii_digit()) {
                format!("{over}h")
            } else {
                over.to_string()
            };
            assert_eq!(parse_duration(&text, hour), too_large, "{text}");
        }
        assert_eq!(parse_duration("0s", hour), Ok(std::time::Duration::ZERO));
        assert_eq!(parse_duration("1ns", hour).unwrap().as_nanos(), 1);
        for bad in [
            "", "s", "1", "1d", "-1s", "1.2.3s", "1e9s", "NaNs", "infs", "1s ",
        ] {
            assert_eq!(
                parse_duration(bad, hour),
                Err(QuantityError::Syntax(DURATION_SYNTAX)),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_duration("25h", std::time::Duration::from_secs(24 * 3600))
                .unwrap_err()
                .to_string(),
            "more than the limit of 24h"
        );
    }

    #[test]
    fn memory_is_bounded_without_overflow() {
        assert_eq!(parse_memory(MAX_MEMORY_TEXT), Ok(MAX_MEMORY_BYTES));
        assert_eq!(parse_memory("1024Gi"), Ok(MAX_MEMORY_BYTES));
        assert_eq!(parse_memory("1099511627776"), Ok(MAX_MEMORY_BYTES));
        assert_eq!(parse_memory("0"), Ok(0));
        let too_large = Err(QuantityError::TooLarge("1Ti".into()));
        for over in [
            "1099511627777",
            "1.0001Ti",
            "2T",
            "9223372036854775808",
            "18446744073709551616Ti",
            "99999999999999999999Ti",
        ] {
            assert_eq!(parse_memory(over), too_large, "{over}");
        }
        assert_eq!(parse_memory(&"9".repeat(400)), too_large);
        for bad in ["", "Mi", "-1Mi", "1.2.3M", "1e9", "1 Mi"] {
            assert!(
                matches!(parse_memory(bad), Err(QuantityError::Syntax(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn cpus_are_bounded_without_overflow() {
        assert_eq!(nano_cpus(1.5), Ok(1_500_000_000));
        assert_eq!(nano_cpus(MIN_CPUS), Ok(10_000_000));
        assert_eq!(nano_cpus(MAX_CPUS), Ok(1_024_000_000_000));
        assert_eq!(nano_cpus(0.0), Err(QuantityError::TooSmall("0.01".into())));
        assert_eq!(nano_cpus(-1.0), Err(QuantityError::TooSmall("0.01".into())));
        assert_eq!(
            nano_cpus(1024.5),
            Err(QuantityError::TooLarge("1024".into()))
        );
        assert_eq!(
            nano_cpus(f64::INFINITY),
            Err(QuantityError::TooLarge("1024".into()))
        );
        assert_eq!(
            nano_cpus(f64::MAX),
            Err(QuantityError::TooLarge("1024".into()))
        );
        assert!(matches!(nano_cpus(f64::NAN), Err(QuantityError::Syntax(_))));
    }

    #[test]
    fn bounds_read_as_written() {
        assert_eq!(format_duration(MAX_HEALTH_DURATION), "1h");
        assert_eq!(format_duration(std::time::Duration::from_secs(90)), "90s");
        assert_eq!(
            format_duration(std::time::Duration::from_millis(300)),
            "300ms"
        );
        assert_eq!(format_duration(std::time::Duration::from_nanos(7)), "7ns");
        assert_eq!(format_duration(std::time::Duration::ZERO), "0ns");
    }

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

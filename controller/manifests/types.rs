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
            Form::Num(p) => Ok(HostPort::Fixed(p)),
            Form::Str(s) if s == "auto" => Ok(HostPort::Auto),
            Form::Str(s) => s.parse().map(HostPort::Fixed).map_err(|_| {
                serde::de::Error::custom(format!(
                    "host port {s:?} is neither a port number nor \"auto\""
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

/// Accepted spellings of a port.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
#[schemars(
    description = "A port: `{container: 80, host: auto}`, or Compose's short form `\"8080:80\"`, `\"127.0.0.1:8080:80/udp\"`, `80`."
)]
enum PortForm {
    Number(#[schemars(range(min = 1, max = 65535))] u16),
    Short(
        #[schemars(regex(
            pattern = r"^(([0-9.]+|\[[0-9a-fA-F:]+\]):)?(([0-9]+|auto):)?[0-9]+(/(tcp|udp))?$"
        ))]
        String,
    ),
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
    let bad = || {
        format!("{s:?} is not a port mapping like \"8080:80\", \"127.0.0.1:8080:80/udp\" or \"80\"")
    };
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
    /// Time between checks, e.g. `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<DurationText>")]
    pub interval: Option<String>,
    /// Time a check may take, e.g. `3s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<DurationText>")]
    pub timeout: Option<String>,
    /// Failures before the container is unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Grace period after start, e.g. `10s`.
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
struct DurationText(#[schemars(regex(pattern = r"^([0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h))+$"))] String);

/// Parse a duration like `1m30s`, `500ms`, `2h`.
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let num: f64 = rest[..num_len].parse().ok()?;
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
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += num * factor;
    }
    Some(std::time::Duration::from_secs_f64(total))
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
    /// CPU limit in cores, e.g. `1.5`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.01, max = 1024))]
    pub cpus: Option<f64>,
    /// Memory limit, e.g. `512Mi`, `1Gi`, `256m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?([kKmMgGtT]i?|[bB])?$"))]
    pub memory: Option<String>,
}

/// Parse a memory quantity (`512Mi`, `1Gi`, `256m`, `1g`, `1000`) into bytes.
pub fn parse_memory(s: &str) -> Option<u64> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let num: f64 = s[..split].parse().ok()?;
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
        _ => return None,
    };
    Some((num * factor).round() as u64)
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
        assert_eq!(parse_duration("1m30s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert!(parse_duration("5 s").is_none());
        assert_eq!(parse_memory("512Mi"), Some(512 * 1024 * 1024));
        assert_eq!(parse_memory("1g"), Some(1_000_000_000));
        assert_eq!(parse_memory("12x"), None);
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

/*! Published ports and volumes, in their canonical long forms and the Compose short forms
(`"8080:80"`, `"data:/data"`, `"./src:/app:ro"`) they are also written in. */

#![allow(clippy::wildcard_imports)]

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::types::*;

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
    /// TCP.
    pub fn is_tcp(&self) -> bool {
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
            Num(PortNumber),
            Str(String),
        }
        match Form::deserialize(d)? {
            Form::Num(PortNumber(0)) => Err(serde::de::Error::custom("host port 0 is not a port")),
            Form::Num(PortNumber(p)) => Ok(HostPort::Fixed(p)),
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

/// A dotted-quad IPv4 address as a regular expression (no leading zeros, as
/// [`std::net::Ipv4Addr`] parsing wants).
macro_rules! ipv4_pattern {
    () => {
        r"((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
    };
}

/// Schema pattern of Compose's short port form, `[[IP:]HOST:]CONTAINER[/PROTO]`, with port
/// numbers bounded to 1..=65535 (so an editor flags `"80:70000"` too).
pub const PORT_SHORT_PATTERN: &str = concat!(
    r"^(((",
    ipv4_pattern!(),
    r"|\[[0-9a-fA-F:.]+\]):)?(",
    port_number_pattern!(),
    "|auto):)?",
    port_number_pattern!(),
    "(/(tcp|udp))?$"
);

/// An IPv6 address as a regular expression (the eight groups, `::` compression, and an
/// IPv4 tail after six groups or `::`).
macro_rules! ipv6_pattern {
    () => {
        concat!(
            r"(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:",
            r"|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}",
            r"|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}",
            r"|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}",
            r"|:((:[0-9a-fA-F]{1,4}){1,7}|:)|([0-9a-fA-F]{1,4}:){6}",
            ipv4_pattern!(),
            r"|::(ffff(:0{1,4})?:)?",
            ipv4_pattern!(),
            ")"
        )
    };
}

/// Schema pattern of a long-form port's `hostIp`: an IPv4 or IPv6 address (what
/// [`std::net::IpAddr`] parsing takes; Compose refuses anything else).
pub const HOST_IP_PATTERN: &str = concat!("^(", ipv4_pattern!(), "|", ipv6_pattern!(), ")$");

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
    Number(#[schemars(range(min = 1, max = 65535))] PortNumber),
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
    container: PortNumber,
    /// Host port: `auto` (a free port, picked once and kept), a number, or omitted (not published).
    #[serde(default)]
    host: Option<HostPort>,
    /// Host address to bind, IPv4 or IPv6 (default: loopback).
    #[serde(default)]
    #[schemars(regex(pattern = HOST_IP_PATTERN))]
    host_ip: Option<String>,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    protocol: Protocol,
}

impl TryFrom<PortForm> for PortSpec {
    type Error = String;
    fn try_from(f: PortForm) -> Result<Self, String> {
        match f {
            PortForm::Number(PortNumber(p)) => parse_port_short(&p.to_string()),
            PortForm::Short(s) => parse_port_short(&s),
            PortForm::Long(l) if l.container.0 == 0 => Err("container port 0 is not a port".into()),
            PortForm::Long(l) => {
                if let Some(ip) = l.host_ip.as_deref()
                    && ip.parse::<std::net::IpAddr>().is_err()
                {
                    return Err(format!(
                        "host address {ip:?} is not an IPv4 or IPv6 address"
                    ));
                }
                Ok(PortSpec {
                    container: l.container.0,
                    host: l.host,
                    host_ip: l.host_ip,
                    protocol: l.protocol,
                })
            }
        }
    }
}

/// A port number as YAML may write it: an integer, or a number with a zero fraction
/// (`80.0`, an integer to JSON Schema and YAML 1.2 tools).
#[derive(Clone, Copy)]
struct PortNumber(u16);

impl JsonSchema for PortNumber {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "PortNumber".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "integer", "minimum": 1, "maximum": 65535})
    }
}

impl<'de> Deserialize<'de> for PortNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Int(u64),
            Float(f64),
        }
        let out_of_range = |shown: String| {
            serde::de::Error::custom(format!("{shown} is not a port number (1 to 65535)"))
        };
        match Form::deserialize(d)? {
            Form::Int(n) => u16::try_from(n)
                .map(PortNumber)
                .map_err(|_| out_of_range(n.to_string())),
            Form::Float(f) if f.fract() == 0.0 && (0.0..=65535.0).contains(&f) =>
            {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(PortNumber(f as u16))
            }
            Form::Float(f) => Err(out_of_range(f.to_string())),
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
    // `[::1]:5433:5432`: an IPv6 host address in brackets, as Compose writes it.
    let (ipv6, rest) = match rest.strip_prefix('[') {
        Some(after) => {
            let (ip, tail) = after.split_once("]:").ok_or_else(bad)?;
            let ip: std::net::Ipv6Addr = ip.parse().map_err(|_| bad())?;
            (Some(ip.to_string()), tail)
        }
        None => (None, rest),
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
    let (host_ip, host, container) = match (ipv6, parts.as_slice()) {
        (None, [c]) => (None, None, port(c)?),
        (None, [h, c]) => (None, Some(host(h)?), port(c)?),
        (None, [ip, h, c]) => {
            let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| bad())?;
            (Some(ip.to_string()), Some(host(h)?), port(c)?)
        }
        (Some(ip), [h, c]) => (Some(ip), Some(host(h)?), port(c)?),
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
    fn host_addresses_are_real_addresses_and_schema_agrees() {
        let v6 = parse_port_short("[::1]:5433:5432").unwrap();
        assert_eq!(v6.host_ip.as_deref(), Some("::1"));
        assert_eq!(v6.host, Some(HostPort::Fixed(5433)));
        let pattern = jsonschema::validator_for(
            &serde_json::json!({"type": "string", "pattern": PORT_SHORT_PATTERN}),
        )
        .unwrap();
        for (text, ok) in [
            ("[::1]:5433:5432", true),
            ("[fe80::1]:auto:80/udp", true),
            ("127.0.0.1:8080:80", true),
            ("255.255.255.255:1:2", true),
            ("999.1.1.1:5433:5432", false),
            ("01.2.3.4:1:2", false),
            ("1.2.3:1:2", false),
            ("[::1]:5432", false),
            ("99999:5432", false),
            ("0:5432", false),
            ("65536", false),
        ] {
            let parsed = parse_port_short(text).is_ok();
            let matched = pattern.is_valid(&serde_json::json!(text));
            assert_eq!(parsed, ok, "parser on {text}");
            assert_eq!(matched, ok, "schema pattern on {text}");
        }
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
}

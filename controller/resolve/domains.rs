/*! Host names the router serves ([`crate::router`]): an instance's `domains` and, for an
instance that exports `http` in a stack that keeps `defaultDomains`, its default
`{instance}.{stack}.localhost` ([`identity::default_domain`]).

Names are checked here (host names of DNS labels, no wildcards, compared without case), and
a name claimed by two instances anywhere in the folder is an error naming both files.
*/

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::ResolvedStack;
use crate::identity;
use crate::manifests::diagnostics::Diagnostic;
use crate::manifests::types::{Protocol, ServiceSpec};
use crate::manifests::validate::{InstanceModel, Model, StackModel};

/// Contract type of the export the router sends an instance's names to.
pub const HTTP_EXPORT: &str = "http";

/// Longest host name (RFC 1035).
const MAX_DOMAIN: usize = 253;

/// What the router serves for one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Domains {
    /// Host names, lower case, in the order declared (the default one last).
    pub names: Vec<String>,
    /// Container port of the instance's `http` export.
    pub port: u16,
}

/// The container port of the first tcp export of type `http`.
pub fn http_port(spec: &ServiceSpec) -> Option<u16> {
    spec.exports
        .iter()
        .find(|e| e.kind == HTTP_EXPORT && e.protocol == Protocol::Tcp)
        .map(|e| e.port)
}

/// The names the router serves for an instance, or `None` when it serves none. Wrong names
/// and names without an `http` export to route to are reported.
pub(super) fn of_instance(
    stack: &StackModel,
    inst: &InstanceModel,
    spec: &ServiceSpec,
    diags: &mut Vec<Diagnostic>,
) -> Option<Domains> {
    let declared = spec.domains.as_deref().unwrap_or_default();
    let mut names = Vec::new();
    for (i, name) in declared.iter().enumerate() {
        match check(name) {
            Ok(n) if !names.contains(&n) => names.push(n),
            Ok(_) => {}
            Err(why) => diags.push(
                Diagnostic::new(
                    &inst.origin.file,
                    Some(inst.at(&format!("domains/{i}"))),
                    format!("{}/{}: domain {name:?} {why}", stack.name, inst.name),
                )
                .with_help("a host name such as `app.localhost` or `www.example.test`"),
            ),
        }
    }
    let Some(port) = http_port(spec) else {
        if !declared.is_empty() {
            diags.push(
                Diagnostic::new(
                    &inst.origin.file,
                    Some(inst.at("domains")),
                    format!(
                        "{}/{}: `domains` need an `http` export to route to, and the instance has none",
                        stack.name, inst.name
                    ),
                )
                .with_help("add `exports: [{name: http, type: http, port: 8080}]` with the port it serves on, or remove `domains`"),
            );
        }
        return None;
    };
    if stack.spec.default_domains {
        let default = identity::default_domain(&stack.name, &inst.name);
        if !names.contains(&default) {
            names.push(default);
        }
    }
    (!names.is_empty()).then_some(Domains { names, port })
}

/// The name in lower case, or why it is not a host name the router can serve.
pub fn check(name: &str) -> Result<String, &'static str> {
    let lower = name.to_ascii_lowercase();
    if lower.is_empty() || lower.len() > MAX_DOMAIN {
        return Err("is not 1 to 253 characters long");
    }
    if lower.starts_with("*.") {
        return Err("is a wildcard: name each host");
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !lower.split('.').all(label_ok) {
        return Err("is not a host name: dot-separated labels of letters, digits and inner `-`");
    }
    Ok(lower)
}

/// Reports every name claimed by two instances of the folder (naming both files) and drops
/// the stacks of the later claims from `out`.
pub(super) fn check_unique(
    model: &Model,
    out: &mut BTreeMap<String, ResolvedStack>,
    diags: &mut Vec<Diagnostic>,
) {
    let mut claims: BTreeMap<&str, (&str, &str)> = BTreeMap::new();
    let mut broken = BTreeSet::new();
    for s in out.values() {
        for i in s.instances.values() {
            for name in i.domains.iter().flat_map(|d| &d.names) {
                let Some(&(ps, pi)) = claims.get(name.as_str()) else {
                    claims.insert(name, (&s.name, &i.name));
                    continue;
                };
                let inst = &model.stacks[&s.name].instances[&i.name];
                let prev = &model.stacks[ps].instances[pi];
                let at = |m: &InstanceModel| {
                    if m.body.overrides.domains.is_some() {
                        m.at("domains")
                    } else {
                        m.at("")
                    }
                };
                diags.push(
                    Diagnostic::new(
                        &inst.origin.file,
                        Some(at(inst)),
                        format!(
                            "domain {name} of {}/{} is already claimed by {ps}/{pi}",
                            s.name, i.name
                        ),
                    )
                    .with_related(
                        &prev.origin.file,
                        at(prev),
                        format!("{ps}/{pi} claims it here"),
                    )
                    .with_help("a host name can be routed to one instance only: pick another name"),
                );
                broken.insert(s.name.clone());
            }
        }
    }
    for s in broken {
        out.remove(&s);
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn host_names_are_checked_and_lowered() {
        assert_eq!(check("Web.Blog.localhost").unwrap(), "web.blog.localhost");
        assert_eq!(check("a-b.test").unwrap(), "a-b.test");
        for bad in [
            "",
            "a..b",
            "-a.b",
            "a-.b",
            "a b",
            "*.x",
            "a_b.c",
            "é.localhost",
            "a.b.",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert!(check(&"a".repeat(64)).is_err());
    }
}

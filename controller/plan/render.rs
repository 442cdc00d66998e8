/*! Plans as people read them: Terraform-style lines with the reason after `#`, and the
`Plan: N to add, N to change, N to destroy.` summary. */

use std::fmt::Write as _;

use crate::printable;
use crate::resolve::desired::DesiredContainer;

use super::{HostAccess, StackPlan, Summary};

/// Renders plans as text, one block per stack, then the summary line of all of them.
///
/// ```text
/// stack blog:
///     + network devarch-blog-net      # create: does not exist
///   -/+ container devarch-blog-db     # recreate: env changed (postgres:16)
///
/// Plan: 2 to add, 0 to change, 1 to destroy.
/// ```
pub fn render(plans: &[StackPlan]) -> String {
    let mut out = String::new();
    for p in plans {
        render_stack(&mut out, p);
    }
    let _ = write!(out, "\n{}\n", Summary::of(plans));
    out
}

/// One stack's block: its actions aligned on the `#`, then its conflicts as errors. Text
/// from input or the engine (images, states, holders) is shown through [`printable::line`].
fn render_stack(out: &mut String, p: &StackPlan) {
    if p.is_up_to_date() {
        let _ = writeln!(out, "stack {}: up to date", p.stack);
        return;
    }
    let _ = writeln!(out, "stack {}:", p.stack);
    let rows: Vec<(String, String, Option<&HostAccess>)> = p
        .actions
        .iter()
        .map(|a| {
            let (kind, name) = a.object(&p.stack);
            let detail = if a.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", a.detail)
            };
            let left = format!("{:>3} {kind} {name}", a.symbol());
            let why = format!("{}: {}{detail}", a.op.verb(), a.reason);
            (
                printable::line(&left).into_owned(),
                printable::line(&why).into_owned(),
                a.host.as_ref(),
            )
        })
        .collect();
    let w = rows.iter().map(|r| r.0.chars().count()).max().unwrap_or(0);
    for (left, why, host) in rows {
        let _ = writeln!(out, "  {left:<w$}   # {why}");
        if let Some(h) = host {
            render_access(out, h);
        }
    }
    for c in &p.conflicts {
        let _ = writeln!(out, "  error: {}", printable::line(&c.to_string()));
    }
}

/// The host access under a container's line: its binds and user, then a `warning:` line
/// for each dangerous one.
///
/// ```text
///       bind /var/run/docker.sock -> /var/run/docker.sock
///       user 0:0
///       warning: bind /var/run/docker.sock is a container engine's socket: ...
/// ```
fn render_access(out: &mut String, h: &HostAccess) {
    for b in &h.binds {
        let ro = if b.read_only { " (read-only)" } else { "" };
        let (source, target) = (printable::line(&b.source), printable::line(&b.target));
        let _ = writeln!(out, "        bind {source} -> {target}{ro}");
    }
    if let Some(u) = &h.user {
        let _ = writeln!(out, "        user {}", printable::line(u));
    }
    for w in &h.warnings {
        let _ = writeln!(out, "        warning: {w}");
    }
}

/// The detail shown with a container to be created: its image and published ports
/// (`postgres:16, ports 127.0.0.1:5433->5432/tcp`).
pub fn container_detail(want: &DesiredContainer) -> String {
    let mut d = want.spec.image.clone();
    if !want.spec.ports.is_empty() {
        let ports: Vec<String> = want
            .spec
            .ports
            .iter()
            .map(|p| {
                let ip = p.host_ip.as_deref().map(|ip| format!("{ip}:"));
                format!(
                    "{}{}->{}/{}",
                    ip.unwrap_or_default(),
                    p.host_port,
                    p.container_port,
                    p.protocol
                )
            })
            .collect();
        let _ = write!(d, ", ports {}", ports.join(" "));
    }
    d
}

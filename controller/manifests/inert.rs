/*! Fields the manifests accept that have no effect yet: a warning from `validate` (and
wherever warnings are shown) for each one set, until it does something.
*/

use super::diagnostics::Diagnostic;
use super::load::Origin;
use super::service::ServiceSpec;
use super::validate::Model;

/// A warning for every inert field set in the folder's own templates and instances.
pub fn check_model(model: &Model) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for t in model.templates.values().filter(|t| !t.builtin) {
        check_service(&t.template.spec.service, &t.origin, "/spec", &mut out);
    }
    for s in model.stacks.values() {
        for i in s.instances.values() {
            check_service(&i.body.overrides, &i.origin, &i.pointer, &mut out);
        }
    }
    out
}

fn check_service(spec: &ServiceSpec, origin: &Origin, base: &str, out: &mut Vec<Diagnostic>) {
    if spec.domains.as_ref().is_some_and(|d| !d.is_empty()) {
        let pointer = format!("{base}/domains");
        out.push(
            Diagnostic::warning(
                &origin.file,
                Some(origin.key_at(&pointer)),
                "`domains` has no effect yet: devarch does not route host names to instances",
            )
            .with_help("reach the instance through its published `ports` for now"),
        );
    }
}

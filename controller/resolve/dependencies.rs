/*! Start-order dependencies: `dependsOn` entries resolved to instances (directly or through
a wired import), and cycles reported. */

use std::collections::{BTreeMap, HashMap};

use super::{DependencyEdge, EffectiveInstance, Wire};
use crate::manifests::diagnostics::Diagnostic;
use crate::manifests::types::{DependencyCondition, ServiceSpec};
use crate::manifests::validate::{InstanceModel, StackModel};

/// The instances `inst` depends on, with their conditions: `dependsOn` entries name an
/// instance of the stack or an import (meaning its provider); an optional import left unwired
/// is nothing to wait for.
pub(super) fn resolve(
    stack: &StackModel,
    inst: &InstanceModel,
    spec: &ServiceSpec,
    wires: &[Wire],
    diags: &mut Vec<Diagnostic>,
) -> Vec<DependencyEdge> {
    let mut out: Vec<DependencyEdge> = Vec::new();
    for dep in &spec.depends_on {
        let target = if stack.instances.contains_key(&dep.name) {
            Some(dep.name.clone())
        } else if let Some(w) = wires.iter().find(|w| w.import == dep.name) {
            Some(w.provider.clone())
        } else if spec.imports.iter().any(|i| i.name == dep.name) {
            None // an optional import left unwired: nothing to wait for
        } else {
            diags.push(
                Diagnostic::new(
                    &inst.origin.file,
                    Some(inst.at("")),
                    format!("instance {:?} depends on {:?}, which is neither an instance of stack {:?} nor one of its imports", inst.name, dep.name, stack.name),
                ),
            );
            None
        };
        if let Some(t) = target {
            if t == inst.name {
                diags.push(Diagnostic::new(
                    &inst.origin.file,
                    Some(inst.at("")),
                    format!("instance {:?} depends on itself", inst.name),
                ));
                continue;
            }
            match out.iter_mut().find(|e| e.instance == t) {
                Some(e) if dep.condition == DependencyCondition::Healthy => {
                    e.condition = DependencyCondition::Healthy
                }
                Some(_) => {}
                None => out.push(DependencyEdge {
                    instance: t,
                    condition: dep.condition,
                }),
            }
        }
    }
    out
}

/// Reports every `dependsOn` cycle of the stack.
pub(super) fn check_cycles(
    stack: &StackModel,
    instances: &BTreeMap<String, EffectiveInstance>,
    diags: &mut Vec<Diagnostic>,
) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Active,
        Done,
    }
    fn visit<'a>(
        n: &'a str,
        instances: &'a BTreeMap<String, EffectiveInstance>,
        marks: &mut HashMap<&'a str, Mark>,
        path: &mut Vec<&'a str>,
        cycles: &mut Vec<Vec<String>>,
    ) {
        match marks.get(n).copied().unwrap_or(Mark::New) {
            Mark::Done => return,
            Mark::Active => {
                let start = path.iter().position(|p| *p == n).unwrap_or(0);
                let mut c: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
                c.push(n.to_string());
                cycles.push(c);
                return;
            }
            Mark::New => {}
        }
        marks.insert(n, Mark::Active);
        path.push(n);
        if let Some(i) = instances.get(n) {
            for d in &i.depends_on {
                visit(&d.instance, instances, marks, path, cycles);
            }
        }
        path.pop();
        marks.insert(n, Mark::Done);
    }
    let mut marks = HashMap::new();
    let mut cycles = Vec::new();
    for n in instances.keys() {
        visit(n, instances, &mut marks, &mut Vec::new(), &mut cycles);
    }
    for c in cycles {
        let first = &stack.instances[&c[0]];
        diags.push(
            Diagnostic::new(
                &first.origin.file,
                Some(first.at("")),
                format!(
                    "dependsOn cycle in stack {:?}: {}",
                    stack.name,
                    c.join(" -> ")
                ),
            )
            .with_help("remove one of these dependencies"),
        );
    }
}

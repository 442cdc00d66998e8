/*! Runtime name collisions within a folder.

Runtime names join stack, instance and volume names with `-` ([`crate::identity`]), so two
different objects can ask for one name: stack `a` with instance `b-c` and stack `a-b` with
instance `c` both want container `devarch-a-b-c`; volume `c-d` of `a/b` and volume `d` of `a-b/c`
both want `devarch-a-b-c-d`. Applied, one create would fail or, worse, two instances would share
one volume's data. Every such pair is a diagnostic naming both definitions, and the stack of
the later one (in stack, then instance order) is left out, as for host ports claimed twice.
*/

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::identity::{self, ObjectKind, RuntimeObject};
use crate::manifests::diagnostics::Diagnostic;
use crate::manifests::validate::{InstanceModel, Model};
use crate::manifests::yaml::Pos;

use super::ResolvedStack;

/// Reports every pair of objects of the model whose runtime names collide, and leaves the
/// later one's stack out of `out`.
pub(super) fn check_runtime_names(
    model: &Model,
    out: &mut BTreeMap<String, ResolvedStack>,
    diags: &mut Vec<Diagnostic>,
) {
    // Logical volume names per instance, from the effective spec (template ⊕ overrides).
    let specs: Vec<(&str, &InstanceModel, Vec<String>)> = model
        .stacks
        .values()
        .flat_map(|s| s.instances.values().map(move |i| (s.name.as_str(), i)))
        .map(|(stack, inst)| {
            let spec = super::merged_spec(model, inst);
            let volumes = spec.volumes.iter().filter_map(|v| v.name.clone()).collect();
            (stack, inst, volumes)
        })
        .collect();
    let mut claims: HashMap<(ObjectKind, String), RuntimeObject<'_>> = HashMap::new();
    let mut broken = BTreeSet::new();
    // A recreate container collides exactly when its container does: one report for both.
    let mut reported = BTreeSet::new();
    for stack in model.stacks.keys() {
        for object in identity::stack_objects(stack) {
            claims.insert((object.kind(), object.runtime_name()), object);
        }
    }
    for (stack, inst, volumes) in &specs {
        let objects =
            identity::instance_objects(stack, &inst.name, volumes.iter().map(String::as_str));
        for object in objects {
            let key = (object.kind(), object.runtime_name());
            match claims.get(&key) {
                None => {
                    claims.insert(key, object);
                }
                Some(first) if *first == object => {} // one volume mounted at two targets
                Some(first) => {
                    if reported.insert((same_kind(first), same_kind(&object))) {
                        diags.push(collision(model, &object, first, &key.1));
                    }
                    broken.insert(stack.to_string());
                }
            }
        }
    }
    for s in broken {
        out.remove(&s);
    }
}

/// The diagnostic for `object` wanting the runtime name `first` already has.
fn collision(
    model: &Model,
    object: &RuntimeObject<'_>,
    first: &RuntimeObject<'_>,
    name: &str,
) -> Diagnostic {
    let (file, pos) = place(model, object);
    let (first_file, first_pos) = place(model, first);
    Diagnostic::new(
        file,
        Some(pos),
        format!("{object} would be named {name}, the same as {first}"),
    )
    .with_related(first_file, first_pos, format!("{first} is defined here"))
    .with_help(
        "runtime names join stack, instance and volume names with '-': rename one of them so the names differ",
    )
}

/// Where an object is defined: a volume at its entry in the instance's overrides, or at the
/// instance's `template` when the template declares it; a container at its instance.
fn place(model: &Model, object: &RuntimeObject<'_>) -> (std::path::PathBuf, Pos) {
    let stack = &model.stacks[object.stack()];
    let Some(instance) = object.instance() else {
        return (stack.origin.file.clone(), stack.origin.at("/metadata/name"));
    };
    let inst = &stack.instances[instance];
    let pos = match object {
        RuntimeObject::Volume { volume, .. } => {
            let own = inst
                .body
                .overrides
                .volumes
                .iter()
                .position(|v| v.name.as_deref() == Some(*volume));
            match own {
                Some(i) => inst.at(&format!("volumes/{i}")),
                None => inst.at("template"),
            }
        }
        _ => inst.at(""),
    };
    (inst.origin.file.clone(), pos)
}

/// A recreate container stands for its instance's container (for reporting a pair once).
fn same_kind<'a>(object: &RuntimeObject<'a>) -> RuntimeObject<'a> {
    match object {
        RuntimeObject::NextContainer { stack, instance } => {
            RuntimeObject::Container { stack, instance }
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use crate::workspace::Workspace;

    fn load(files: &[(&str, &str)]) -> (tempfile::TempDir, Workspace) {
        let tmp = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(tmp.path().join(name), text).unwrap();
        }
        let ws = Workspace::load(tmp.path()).unwrap();
        (tmp, ws)
    }

    fn stack(name: &str, instances: &str) -> String {
        format!(
            "apiVersion: devarch.io/v1alpha1\nkind: Stack\nmetadata:\n  name: {name}\nspec:\n  instances:\n{instances}"
        )
    }

    #[test]
    fn volumes_of_two_instances_of_one_stack_that_share_a_runtime_name_are_an_error() {
        let s = stack(
            "a",
            "    b:\n      template: nginx\n      volumes: [\"c-d:/srv\"]\n    \
             b-c:\n      template: nginx\n      volumes: [\"d:/srv\"]\n",
        );
        let (_tmp, ws) = load(&[("s.yaml", &s)]);
        let messages: Vec<String> = ws.diagnostics.iter().map(|d| d.message.clone()).collect();
        assert_eq!(
            messages,
            ["volume d of a/b-c would be named devarch-a-b-c-d, the same as volume c-d of a/b"]
        );
        assert_eq!(ws.diagnostics[0].pos.unwrap().line, 12);
        assert_eq!(ws.diagnostics[0].related[0].pos.line, 9);
        assert!(ws.stacks.is_empty(), "the stack is left out");
    }

    #[test]
    fn the_stack_of_the_later_claim_is_left_out_and_the_other_resolves() {
        let a = stack("a", "    b-c:\n      template: nginx\n");
        let ab = stack("a-b", "    c:\n      template: nginx\n");
        let (_tmp, ws) = load(&[("a.yaml", &a), ("ab.yaml", &ab)]);
        assert_eq!(ws.diagnostics.len(), 1, "{:?}", ws.diagnostics);
        assert_eq!(ws.stacks.keys().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn one_volume_mounted_twice_and_look_alike_names_that_differ_are_fine() {
        let s = stack(
            "a",
            "    b:\n      template: nginx\n      volumes: [\"c:/one\", \"c:/two\"]\n    \
             b-c:\n      template: nginx\n",
        );
        let t = stack("a-b", "    d:\n      template: postgres\n");
        let (_tmp, ws) = load(&[("s.yaml", &s), ("t.yaml", &t)]);
        assert!(ws.is_valid(), "{:?}", ws.diagnostics);
        assert_eq!(ws.stacks.len(), 2);
    }
}

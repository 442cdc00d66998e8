//! The instance editor: an instance's manifest fields as written (each also as YAML text), a
//! patch of those fields spliced into its file — tried first with `dry_run`, which answers the
//! effective config it would give and every problem at its field — and the stack's wiring
//! choices for the explicit-wiring picker.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::edit::{field_errors, refused};
use super::{AppState, Body, Path};
use crate::api::problem::{FieldError, Problem};
use crate::folder_edit::{self, EditRefused};
use crate::manifests::splice::Change;
use crate::manifests::validate::InstanceModel;
use crate::workspace::Workspace;

/// An instance as its manifest writes it, and what it gives.
#[derive(Debug, Serialize, ToSchema)]
pub struct InstanceManifest {
    /// Stack.
    pub stack: String,
    /// Instance.
    pub instance: String,
    /// The manifest file that defines it.
    pub file: String,
    /// 1-based line of its definition.
    pub line: u32,
    /// Its fields as written (`template`, `wires` and overrides such as `env`, `ports`).
    #[schema(value_type = Object)]
    pub fields: serde_json::Map<String, Value>,
    /// The same fields as YAML text (what the dashboard's editors show).
    pub yaml: BTreeMap<String, String>,
    /// The merged configuration (secrets redacted); absent while the stack does not resolve.
    #[schema(value_type = Option<Object>)]
    pub effective: Option<Value>,
    /// Problems of the file (warnings, errors it had already), each at its field.
    pub problems: Vec<FieldError>,
    /// Whether the patch was written (`false` for a dry run and a read).
    pub written: bool,
}

/// The instance `name` of `stack` in the folder's model (which holds stacks that do not
/// resolve, e.g. while an import is ambiguous).
fn instance_model<'a>(
    ws: &'a Workspace,
    stack: &str,
    name: &str,
) -> Result<&'a InstanceModel, Problem> {
    let s = ws.model.stacks.get(stack).ok_or_else(|| {
        Problem::not_found(format!("no stack {stack:?} (or its manifests are broken)"))
    })?;
    s.instances
        .get(name)
        .ok_or_else(|| Problem::not_found(format!("stack {stack:?} has no instance {name:?}")))
}

/// What `ws` says of instance `inst` (defined at `file`, document `doc`, `pointer`).
fn describe(
    ws: &Workspace,
    (stack, inst): (&str, &str),
    (file, doc, pointer): (&std::path::Path, usize, &str),
) -> Result<InstanceManifest, Problem> {
    let text = ws
        .set
        .sources
        .get(file)
        .ok_or_else(|| Problem::internal("the instance's file was not read"))?;
    let docs =
        crate::manifests::yaml::parse_documents(text).map_err(|e| Problem::internal(e.message))?;
    let fields = docs
        .get(doc)
        .and_then(|d| d.value.pointer(pointer))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let fields: serde_json::Map<String, Value> = fields
        .into_iter()
        // An Instance document's `spec` also holds its `stack`.
        .filter(|(k, _)| !(pointer == "/spec" && k == "stack"))
        .collect();
    let mut yaml = BTreeMap::new();
    for (k, v) in &fields {
        yaml.insert(
            k.clone(),
            serde_saphyr::to_string(v).map_err(Problem::internal)?,
        );
    }
    let effective = ws
        .stacks
        .get(stack)
        .and_then(|s| s.instances.get(inst))
        .and_then(|i| crate::resolve::effective_config(i).ok());
    let in_file = |d: &&crate::manifests::diagnostics::Diagnostic| d.file == file;
    let mut problems: Vec<_> = ws.diagnostics.iter().filter(in_file).cloned().collect();
    problems.extend(ws.warnings.iter().filter(in_file).cloned());
    let line = docs
        .get(doc)
        .map_or(1, |d| d.locations.key(pointer).line.max(1));
    Ok(InstanceManifest {
        stack: stack.to_string(),
        instance: inst.to_string(),
        file: file.display().to_string(),
        line,
        fields,
        yaml,
        effective,
        problems: field_errors(ws, &problems, Some(pointer)),
        written: false,
    })
}

/// An instance's fields as its manifest writes them, with its effective config.
#[utoipa::path(get, path = "/api/v1/stacks/{stack}/instances/{instance}", params(("stack" = String, Path), ("instance" = String, Path)), responses((status = 200, body = InstanceManifest), (status = 404, body = Problem)))]
pub async fn get_instance(
    State(state): State<AppState>,
    Path((stack, instance)): Path<(String, String)>,
) -> Result<Json<InstanceManifest>, Problem> {
    let ws = state.load()?;
    let inst = instance_model(&ws, &stack, &instance)?;
    let at = (
        inst.origin.file.as_path(),
        inst.origin.document,
        inst.pointer.as_str(),
    );
    Ok(Json(describe(&ws, (&stack, &instance), at)?))
}

/// Fields of an instance to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchInstance {
    /// Fields as JSON values (`{"env": {"A": "1"}}`); `null` removes the field.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub set: serde_json::Map<String, Value>,
    /// Fields as YAML text (what the dashboard's editors send); empty text removes the field.
    #[serde(default)]
    pub yaml: BTreeMap<String, String>,
    /// Check and preview only: nothing is written.
    #[serde(default)]
    pub dry_run: bool,
}

/// A field's YAML text as a value (`None`: remove the field), or the problem at that field.
fn parse_field(field: &str, text: &str) -> Result<Option<Value>, Box<FieldError>> {
    let at = |message: String, pos| Box::new(FieldError::in_field(field, message, pos));
    let docs = crate::manifests::yaml::parse_documents(text)
        .map_err(|e| at(format!("{field}: {}", e.message), e.pos))?;
    match docs.as_slice() {
        [] => Ok(None),
        [d] if d.value.is_null() => Ok(None),
        [d] => Ok(Some(d.value.clone())),
        _ => Err(at(
            format!("{field}: one YAML value, not several documents"),
            None,
        )),
    }
}

/// Changes fields of an instance in its manifest (spliced in, comments and formatting
/// elsewhere kept), after checking the folder with the change: `422` with each problem at its
/// field when it adds an error. With `dry_run`, nothing is written and the answer holds the
/// effective config the change would give.
#[utoipa::path(patch, path = "/api/v1/stacks/{stack}/instances/{instance}", params(("stack" = String, Path), ("instance" = String, Path)), request_body = PatchInstance, responses((status = 200, body = InstanceManifest), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn patch_instance(
    State(state): State<AppState>,
    Path((stack, instance)): Path<(String, String)>,
    Body(req): Body<PatchInstance>,
) -> Result<Json<InstanceManifest>, Problem> {
    let ws = state.load()?;
    let inst = instance_model(&ws, &stack, &instance)?;
    let (file, doc, pointer) = (
        inst.origin.file.clone(),
        inst.origin.document,
        inst.pointer.clone(),
    );
    let mut values: Vec<(String, Option<Value>)> = req
        .set
        .into_iter()
        .map(|(k, v)| (k, (!v.is_null()).then_some(v)))
        .collect();
    let mut bad = Vec::new();
    for (field, text) in &req.yaml {
        match parse_field(field, text) {
            Ok(v) => values.push((field.clone(), v)),
            Err(e) => bad.push(*e),
        }
    }
    for (field, _) in &values {
        if field.is_empty() || field.contains('/') || (pointer == "/spec" && field == "stack") {
            bad.push(FieldError::in_field(
                field,
                format!("{field:?} is not a field this editor changes"),
                None,
            ));
        }
    }
    if !bad.is_empty() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-fields",
            "some fields cannot be read; nothing was written",
        )
        .with_errors(bad));
    }
    let changes: Vec<Change> = values
        .into_iter()
        .map(|(field, v)| {
            let at = format!(
                "{pointer}/{}",
                crate::manifests::yaml::escape_segment(&field)
            );
            match v {
                Some(v) => Change::set(doc, at, v),
                None => Change::remove(doc, at),
            }
        })
        .collect();
    let fail = |e: EditRefused| refused(e, Some(&pointer));
    let (edited, after) =
        folder_edit::splice_checked(&ws, &state.dir, &file, &changes).map_err(fail)?;
    if !req.dry_run {
        folder_edit::write(&file, &edited, false).map_err(fail)?;
    }
    let mut out = describe(&after, (&stack, &instance), (&file, doc, &pointer))?;
    out.written = !req.dry_run;
    Ok(Json(out))
}

/// Every import of every instance of a stack with the instances that could provide it and
/// the explicit choice, if any (works while an ambiguous import keeps the stack from
/// resolving). Choose one by patching the instance's `wires`.
#[utoipa::path(get, path = "/api/v1/stacks/{stack}/wiring", params(("stack" = String, Path)), responses((status = 200, body = [crate::resolve::ImportChoice]), (status = 404, body = Problem)))]
pub async fn wiring(
    State(state): State<AppState>,
    Path(stack): Path<String>,
) -> Result<Json<Vec<crate::resolve::ImportChoice>>, Problem> {
    let ws = state.load()?;
    let s = ws.model.stacks.get(&stack).ok_or_else(|| {
        Problem::not_found(format!("no stack {stack:?} (or its manifests are broken)"))
    })?;
    Ok(Json(crate::resolve::import_choices(&ws.model, s)))
}

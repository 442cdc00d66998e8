//! The OpenAPI 3.1 document of the API, generated from the handlers' annotations; checked in
//! as `schemas/openapi.json` (`devarch schema` writes it, `--check` fails when it is stale).

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use super::handlers;
use super::problem::Problem;
use crate::identity::{self, NameKind};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "devarch API",
        description = "The local HTTP API of `devarch watch --listen`. Every request needs the token of `{home}/api.token` as `Authorization: Bearer TOKEN` (there is no cookie), a loopback Host, and writes a same-origin request. Every response carries `X-Frame-Options: DENY` and a Content-Security-Policy with `frame-ancestors 'none'`. Errors are RFC 9457 problem documents."
    ),
    paths(
        handlers::stacks,
        handlers::stack,
        handlers::delete_stack,
        handlers::enable,
        handlers::disable,
        handlers::export,
        handlers::compose,
        handlers::create_stack,
        handlers::add_instance,
        handlers::get_instance,
        handlers::patch_instance,
        handlers::wiring,
        handlers::clone_stack,
        handlers::import,
        handlers::logs,
        handlers::templates,
        handlers::effective_config,
        handlers::plan,
        handlers::apply,
        handlers::restart,
        handlers::secrets,
        handlers::set_secret,
        handlers::events,
    ),
    components(schemas(
        Problem,
        handlers::StackRow,
        handlers::TemplateRow,
        handlers::PlanResponse,
        handlers::ApplyRequest,
        handlers::ApplyResponse,
        handlers::RestartRequest,
        handlers::RestartResponse,
        handlers::CreateStack,
        handlers::Created,
        handlers::AddInstance,
        handlers::InstanceManifest,
        handlers::PatchInstance,
        handlers::CloneStack,
        handlers::ImportStack,
        handlers::ImportFormat,
        handlers::ImportNote,
        handlers::ImportedStack,
        crate::api::problem::FieldError,
        crate::resolve::ImportChoice,
        handlers::SecretRow,
        handlers::SetSecret,
    ))
)]
struct Api;

/// The document, pretty-printed, with a final newline: the handlers' annotations, then what
/// holds for every route ([`guarded`]) and for every name ([`named`]).
pub fn document() -> String {
    let mut doc = serde_json::to_value(Api::openapi()).expect("the OpenAPI document serializes");
    guarded(&mut doc);
    named(&mut doc);
    let mut text = serde_json::to_string_pretty(&doc).expect("the document serializes");
    text.push('\n');
    text
}

/// The methods of a path item.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every operation of `doc`, with its method.
fn operations(doc: &mut Value) -> impl Iterator<Item = (&'static str, &mut Map<String, Value>)> {
    doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| {
            item.iter_mut()
                .filter_map(|(m, op)| Some((METHODS.into_iter().find(|x| x == m)?, op)))
        })
        .filter_map(|(m, op)| Some((m, op.as_object_mut()?)))
}

/// A problem response: `application/problem+json` (what [`Problem`] answers).
fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

/// What [`super::auth::guard`], the body limit and the JSON body and query extractors answer,
/// on the operations they apply to; every error answer as a problem document; the bearer
/// token as the document's security scheme.
fn guarded(doc: &mut Value) {
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "The token of `{home}/api.token` (64 hex digits)."
        }
    });
    doc["security"] = json!([{"bearer": []}]);
    for (method, op) in operations(doc) {
        let body = op.contains_key("requestBody");
        // The event stream cannot fail once the guard let it through.
        let streams_events = op.get("operationId").is_some_and(|id| id == "events");
        let query = op
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
        let responses = op
            .entry("responses")
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("responses is an object");
        for (code, r) in responses.iter_mut() {
            if code.starts_with('4') || code.starts_with('5') {
                let description = r["description"].as_str().unwrap_or_default().to_string();
                *r = problem(&description);
            }
        }
        let mut add = |code: &str, description: &str| {
            responses
                .entry(code)
                .or_insert_with(|| problem(description));
        };
        add("401", "no valid token (`Authorization: Bearer TOKEN`)");
        add(
            "421",
            "the Host header does not name this machine (`foreign-host`)",
        );
        if !streams_events {
            add("500", "devarch or the engine failed (`internal`)");
        }
        if method != "get" {
            add(
                "403",
                "a write from another origin (`Origin` or `Sec-Fetch-Site`: `cross-origin`)",
            );
        }
        if body {
            add("400", "the body is not JSON (`bad-request`)");
            add("413", "the body is over 256 KiB (`too-large`)");
            add(
                "415",
                "the body is not `Content-Type: application/json` (`bad-request`)",
            );
            add(
                "422",
                "the body is JSON of the wrong shape, or what it asks is refused",
            );
        }
        if query {
            add("400", "a query parameter cannot be read (`bad-request`)");
        }
        for r in responses.values_mut() {
            if r["description"].as_str().is_some_and(str::is_empty) {
                r["description"] = json!("see the problem's `detail` and `code`");
            }
        }
    }
}

/// A name's schema: a DNS label within `kind`'s length limit; with `reserved`, not one of
/// the reserved words (what [`identity::check_name`] accepts).
fn name_schema(kind: NameKind, reserved: bool) -> Value {
    let mut schema = json!({
        "type": "string",
        "pattern": identity::DNS_LABEL_PATTERN,
        "minLength": 1,
        "maxLength": kind.max_len(),
    });
    if reserved {
        schema["not"] = json!({"enum": identity::RESERVED_NAMES});
    }
    schema
}

/// The names in paths and bodies, constrained as the binary checks them: path parameters
/// `stack` and `instance`, and the names of new stacks and instances in request bodies.
fn named(doc: &mut Value) {
    for (_, op) in operations(doc) {
        for p in op
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let kind = match (p["in"].as_str(), p["name"].as_str()) {
                (Some("path"), Some("stack")) => NameKind::Stack,
                (Some("path"), Some("instance")) => NameKind::Instance,
                _ => continue,
            };
            p["schema"] = name_schema(kind, false);
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    let fields = [
        ("CreateStack", "name", NameKind::Stack),
        ("CloneStack", "name", NameKind::Stack),
        ("AddInstance", "name", NameKind::Instance),
        ("AddInstance", "template", NameKind::Template),
    ];
    for (schema, field, kind) in fields {
        let property = &mut schemas[schema]["properties"][field];
        let description = property["description"].clone();
        *property = name_schema(kind, true);
        property["description"] = description;
    }
    let stack = &mut schemas["ImportStack"]["properties"]["stack"];
    let description = stack["description"].clone();
    *stack = json!({"oneOf": [name_schema(NameKind::Stack, true), {"type": "null"}], "description": description});
    let instances = &mut schemas["RestartRequest"]["properties"]["instances"];
    instances["items"] = name_schema(NameKind::Instance, false);
    let instances = &mut schemas["CreateStack"]["properties"]["instances"];
    instances["propertyNames"] = name_schema(NameKind::Instance, true);
    instances["additionalProperties"] = json!({
        "type": "object",
        "required": ["template"],
        "properties": {"template": name_schema(NameKind::Template, true)},
    });
    // The fields an instance editor changes: a name of its own, not a path (nor `stack`).
    for field in ["set", "yaml"] {
        schemas["PatchInstance"]["properties"][field]["propertyNames"] =
            json!({"minLength": 1, "pattern": "^[^/]+$", "not": {"const": "stack"}});
    }
}

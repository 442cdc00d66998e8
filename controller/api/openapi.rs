//! The OpenAPI 3.1 document of the API, generated from the handlers' annotations; checked in
//! as `schemas/openapi.json` (`devarch schema` writes it, `--check` fails when it is stale).

use utoipa::OpenApi;

use super::handlers;
use super::problem::Problem;

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

/// The document, pretty-printed, with a final newline.
pub fn document() -> String {
    let mut text = Api::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    text.push('\n');
    text
}

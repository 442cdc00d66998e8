//! Errors of the HTTP API as RFC 9457 problem documents (`application/problem+json`) with a
//! stable `code`; never a stack trace, never a secret.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the problem type: `urn:devarch:problem:{code}`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened, for people.
    pub detail: String,
    /// Stable machine-readable code (`unauthorized`, `stale-plan`, ...).
    pub code: &'static str,
    /// Manifest problems behind a `422`, each where it is (the diagnostics of
    /// `devarch validate`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// One manifest problem: what `devarch validate` reports, with the field it is about.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FieldError {
    /// `error` or `warning`.
    pub severity: String,
    /// The manifest file.
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// 1-based column, when known.
    pub column: Option<u32>,
    /// JSON pointer of the value in its document, when known (`/spec/instances/web/ports/0`).
    pub pointer: Option<String>,
    /// The field of the edited instance it is about (`ports`), when it is about one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

impl FieldError {
    /// An error in what was sent for `field` (not in a file), at `pos` of its text.
    pub fn in_field(
        field: &str,
        message: String,
        pos: Option<crate::manifests::yaml::Pos>,
    ) -> FieldError {
        FieldError {
            severity: "error".into(),
            file: String::new(),
            line: pos.map(|p| p.line),
            column: pos.map(|p| p.column),
            pointer: None,
            field: Some(field.to_string()),
            message,
            help: None,
        }
    }

    /// `d`, its pointer found in `docs` (the parsed text of `d.file`, when it is the file
    /// edited); `field` is the first segment under `prefix` (an instance body's pointer).
    pub fn of(
        d: &crate::manifests::diagnostics::Diagnostic,
        docs: &[crate::manifests::yaml::Document],
        prefix: Option<&str>,
    ) -> FieldError {
        let pointer = d.pos.and_then(|pos| {
            docs.iter()
                .find_map(|doc| doc.locations.pointer_at(pos).map(str::to_string))
        });
        let field = prefix.zip(pointer.as_deref()).and_then(|(prefix, p)| {
            let rest = p.strip_prefix(prefix)?.strip_prefix('/')?;
            Some(
                rest.split('/')
                    .next()?
                    .replace("~1", "/")
                    .replace("~0", "~"),
            )
        });
        FieldError {
            severity: d.severity.word().to_string(),
            file: d.file.display().to_string(),
            line: d.pos.map(|p| p.line),
            column: d.pos.map(|p| p.column),
            pointer,
            field,
            message: d.message.clone(),
            help: d.help.clone(),
        }
    }
}

impl Problem {
    /// A problem with `status`, stable `code` and `detail`.
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:devarch:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            code,
            errors: Vec::new(),
        }
    }

    /// With the manifest problems behind it.
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Problem {
        self.errors = errors;
        self
    }

    /// 404 for `what`.
    pub fn not_found(what: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, "not-found", what)
    }

    /// 400 for a bad request.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, "bad-request", detail)
    }

    /// 500 for a failure of devarch or the engine (the error's text, which never holds secrets).
    pub fn internal(error: impl std::fmt::Display) -> Problem {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            error.to_string(),
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}

impl From<anyhow::Error> for Problem {
    fn from(e: anyhow::Error) -> Problem {
        Problem::internal(crate::errors::chain(e.as_ref()))
    }
}

//! Refusals as HTTP answers: every one is a [`vault_core::Problem`] from vault-core's tables,
//! written by vault-tower's one writer. Handlers return [`ApiError`] and never pick a status.

use axum::extract::rejection::JsonRejection;
use axum::response::{IntoResponse, Response};
use vault_core::request::RequestDefect;
use vault_core::{Error, Problem};

/// A refused request: the problem vault-core's table gives for the error.
#[derive(Debug)]
pub struct ApiError(Problem);

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        let problem = Problem::from(&error);
        if problem.status() >= 500 {
            // The body says nothing of the cause; the log does (errors carry no secrets).
            tracing::error!(error = %error, "request failed");
        }
        Self(problem)
    }
}

impl From<RequestDefect> for ApiError {
    fn from(defect: RequestDefect) -> Self {
        Self::from(Error::Request(defect))
    }
}

impl ApiError {
    /// The refusal of a body axum could not read as JSON; `limit` is the configured body limit
    /// (an oversized body shows up as a failed read).
    pub(crate) fn from_json(rejection: JsonRejection, limit: usize) -> Self {
        let defect = match rejection {
            JsonRejection::MissingJsonContentType(_) => RequestDefect::UnsupportedMediaType,
            JsonRejection::JsonSyntaxError(_) => RequestDefect::MalformedBody {
                pointer: None,
                reason: "the body is not valid JSON",
            },
            JsonRejection::JsonDataError(err) => RequestDefect::MalformedBody {
                pointer: pointer_of(&err.body_text()),
                reason: "a field is missing, unknown, or of the wrong type",
            },
            JsonRejection::BytesRejection(_) => RequestDefect::BodyTooLarge { limit },
            _ => RequestDefect::MalformedBody {
                pointer: None,
                reason: "the body could not be read",
            },
        };
        Self::from(defect)
    }
}

/// The JSON pointer of the field axum's JSON error names, if any: its path (`name: invalid
/// type …` → `/name`), or the field a `missing field` / `unknown field` message quotes.
fn pointer_of(text: &str) -> Option<String> {
    let message = text.split_once(": ").map_or(text, |(_, rest)| rest);
    let quoted = |prefix: &str| {
        let rest = message.split(prefix).nth(1)?;
        rest.split('`').next().map(str::to_owned)
    };
    let path = match message.split_once(": ") {
        Some((path, _)) if is_path(path) => Some(path.to_owned()),
        _ => None,
    };
    let path = path
        .or_else(|| quoted("missing field `"))
        .or_else(|| quoted("unknown field `"))?;
    is_path(&path).then(|| format!("/{}", path.replace(['.', '['], "/").replace(']', "")))
}

fn is_path(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.[]".contains(c))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        vault_tower::problem_response::<axum::body::Body>(&self.0)
    }
}

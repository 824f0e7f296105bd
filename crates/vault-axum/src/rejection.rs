//! [`AuthRejection`]: why an extractor of this crate refused a request. A refusal from the
//! rejection table answers byte for byte like the layer; a missing layer is a programming
//! error and answers 500, never a silent 401.

use std::fmt;

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use vault_core::{NotPermitted, Problem, Rejection};

/// The rejection of [`crate::Caller`] and [`crate::RequirePermission`]. A handler can take
/// `Result<Caller, AuthRejection>` to look at it before answering.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthRejection {
    /// A row of the rejection table (401, 403 or 503), shaped by the layer's realm and body
    /// hook: the same answer the layer gives.
    Refused(Rejection),
    /// No [`crate::RequireApiKeyLayer`] ran for this request: the route is not protected.
    LayerMissing,
    /// A [`crate::PermissionName`] is not a valid permission.
    InvalidPermission(&'static str),
}

impl AuthRejection {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Refused(rejection) => StatusCode::from_u16(rejection.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Self::LayerMissing | Self::InvalidPermission(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(rejection) => write!(f, "{}", rejection.error()),
            Self::LayerMissing => f.write_str(
                "vault-axum: an API key extractor was used on a route without \
                 RequireApiKeyLayer (add it with Router::layer or route_layer)",
            ),
            Self::InvalidPermission(name) => {
                write!(f, "vault-axum: {name:?} is not a valid permission name")
            }
        }
    }
}

impl std::error::Error for AuthRejection {}

impl From<NotPermitted> for AuthRejection {
    fn from(refusal: NotPermitted) -> Self {
        match refusal {
            NotPermitted::Refused(rejection) => Self::Refused(rejection),
            NotPermitted::InvalidPermission(name) => Self::InvalidPermission(name),
        }
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match &self {
            Self::Refused(rejection) => vault_tower::problem_response(rejection.problem()),
            Self::LayerMissing | Self::InvalidPermission(_) => {
                vault_tower::problem_response(&Problem::misconfigured(&self.to_string()))
            }
        }
    }
}

//! [`AuthRejection`]: why an extractor or permission check of this crate refused, as an actix
//! [`ResponseError`] written by the crate's one [`problem_response`] writer.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use vault_core::{NotPermitted, Problem, Rejection};

use crate::problem::problem_response;

/// Why an extractor or a permission check of this crate refused a request. It is an actix
/// [`ResponseError`], so a handler can return it with `?` or take `Result<Caller, _>`.
///
/// ```
/// use actix_web::ResponseError;
/// use vault_actix::AuthRejection;
///
/// let missing = AuthRejection::MiddlewareMissing;
/// assert_eq!(missing.status_code().as_u16(), 500);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum AuthRejection {
    /// A row of the rejection table (401, 403 or 503), shaped by the middleware's realm and
    /// body hook: the same answer the middleware gives. (Boxed: the rare path, and it keeps
    /// `Result<Caller, _>` small.)
    Refused(Box<Rejection>),
    /// No [`RequireApiKey`](crate::RequireApiKey) ran for this request: the route is not
    /// protected. A programming error, answered with 500 rather than a misleading 401.
    MiddlewareMissing,
    /// A [`PermissionName`](crate::PermissionName) is not a valid permission (500).
    InvalidPermission(&'static str),
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(rejection) => write!(f, "{}", rejection.error()),
            Self::MiddlewareMissing => f.write_str(
                "vault-actix: an API key extractor was used on a route without the \
                 RequireApiKey middleware (add it with App, Scope or Resource::wrap)",
            ),
            Self::InvalidPermission(name) => {
                write!(f, "vault-actix: {name:?} is not a valid permission name")
            }
        }
    }
}

impl std::error::Error for AuthRejection {}

impl From<Rejection> for AuthRejection {
    fn from(rejection: Rejection) -> Self {
        Self::Refused(Box::new(rejection))
    }
}

impl From<NotPermitted> for AuthRejection {
    fn from(refusal: NotPermitted) -> Self {
        match refusal {
            NotPermitted::Refused(rejection) => rejection.into(),
            NotPermitted::InvalidPermission(name) => Self::InvalidPermission(name),
        }
    }
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        let status = match self {
            Self::Refused(rejection) => rejection.status(),
            Self::MiddlewareMissing | Self::InvalidPermission(_) => 500,
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Refused(rejection) => problem_response(rejection.problem()),
            // A programming error: the 500 says what is misconfigured.
            Self::MiddlewareMissing | Self::InvalidPermission(_) => {
                problem_response(&Problem::misconfigured(&self.to_string()))
            }
        }
    }
}

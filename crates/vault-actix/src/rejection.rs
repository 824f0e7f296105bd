//! From a vault-core [`Rejection`] to an actix-web answer. actix-web 4 speaks `http` 0.2, so
//! the status and headers cross over by number and by string; nothing is decided here.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use actix_web::{HttpResponse, ResponseError};
use vault_core::{NotPermitted, Rejection};

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
        match self {
            Self::Refused(rejection) => status_of(rejection),
            Self::MiddlewareMissing | Self::InvalidPermission(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Refused(rejection) => respond(rejection),
            Self::MiddlewareMissing | Self::InvalidPermission(_) => {
                HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body(self.to_string())
            }
        }
    }
}

fn status_of(rejection: &Rejection) -> StatusCode {
    // The table only holds 401, 403 and 503, all valid codes.
    StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The HTTP answer to `rejection`, header for header what vault-core says.
pub(crate) fn respond(rejection: &Rejection) -> HttpResponse {
    let mut response = HttpResponse::build(status_of(rejection));
    if let Some(challenge) = rejection.www_authenticate() {
        // The realm is sanitised by vault-core, so the challenge is always a valid value.
        if let Ok(value) = HeaderValue::from_str(challenge) {
            response.insert_header((WWW_AUTHENTICATE, value));
        }
    }
    if let Some(seconds) = rejection.retry_after() {
        response.insert_header((RETRY_AFTER, HeaderValue::from(seconds)));
    }
    match HeaderValue::from_str(rejection.content_type()) {
        Ok(value) => {
            response.insert_header((CONTENT_TYPE, value));
        }
        // Only a product's body hook can produce this; say so rather than guess a type.
        Err(_) => tracing::warn!(
            content_type = rejection.content_type(),
            "rejection body hook returned a content type that is not a valid header value"
        ),
    }
    response.body(rejection.body().to_owned())
}

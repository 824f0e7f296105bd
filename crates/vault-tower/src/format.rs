//! How a [`Rejection`] becomes a response: plain HTTP (the crate's one
//! [`problem_response`] writer) or gRPC (HTTP 200 with `grpc-status`). The verdict and its
//! table live in vault-core; this module only writes them out.

use http::header::{CONTENT_TYPE, HeaderName};
use http::{HeaderValue, Response};
use vault_core::Rejection;

use crate::problem::{add_challenge, problem_response};

/// Writes a [`Rejection`] as a response with body `B`. The layer is generic over it, so a
/// server whose body type neither [`Http`] nor [`Grpc`] can build may bring its own.
///
/// ```
/// use http::Response;
/// use vault_core::Rejection;
/// use vault_tower::RejectionFormat;
///
/// /// Answers with the status alone, for a body type that is only `Default`.
/// #[derive(Clone, Copy)]
/// struct StatusOnly;
///
/// impl<B: Default> RejectionFormat<B> for StatusOnly {
///     fn response(&self, rejection: &Rejection) -> Response<B> {
///         let mut response = Response::new(B::default());
///         *response.status_mut() = http::StatusCode::from_u16(rejection.status()).unwrap();
///         response
///     }
/// }
/// ```
pub trait RejectionFormat<B> {
    /// The response to `rejection`.
    fn response(&self, rejection: &Rejection) -> Response<B>;
}

/// Plain HTTP answers (the default): the rejection's status, `WWW-Authenticate`,
/// `Retry-After` and body (problem+json, or the product's body hook). For any body that can
/// be made from a `String` (axum's `Body`, `http_body_util::Full<Bytes>`, `String`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Http;

impl<B: From<String>> RejectionFormat<B> for Http {
    fn response(&self, rejection: &Rejection) -> Response<B> {
        problem_response(rejection.problem())
    }
}

/// gRPC answers for tonic servers: a trailers-only response (HTTP 200,
/// `content-type: application/grpc`, empty body) whose `grpc-status` is 16 (unauthenticated),
/// 7 (permission denied) or 14 (unavailable), with the rejection's title as `grpc-message`.
/// `WWW-Authenticate` is kept for clients that read it. For any `Default` body
/// (`tonic::body::Body`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Grpc;

static GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
static GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");

impl<B: Default> RejectionFormat<B> for Grpc {
    fn response(&self, rejection: &Rejection) -> Response<B> {
        let mut response = Response::new(B::default());
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert(
            GRPC_STATUS.clone(),
            HeaderValue::from(u16::from(rejection.grpc_status())),
        );
        if let Ok(message) = HeaderValue::from_str(&percent_encode(rejection.title())) {
            headers.insert(GRPC_MESSAGE.clone(), message);
        }
        add_challenge(headers, rejection.problem());
        response
    }
}

/// `grpc-message` is percent-encoded: every byte outside printable ASCII, and `%` itself
/// (gRPC over HTTP/2, "Responses"). Spaces are encoded too, as tonic does.
fn percent_encode(text: &str) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_graphic() && byte != b'%' {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
    use vault_core::{AuthError, Realm};

    fn rejection(error: AuthError) -> Rejection {
        Rejection::new(&error, &Realm::new("submit"))
    }

    #[test]
    fn http_answers_carry_the_table_row() {
        let response: Response<String> = Http.response(&rejection(AuthError::MissingKey));
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"Bearer realm="submit""#
        );
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        assert!(response.body().contains(r#""code":"missing_api_key""#));
    }

    #[test]
    fn unavailable_asks_to_retry_without_a_challenge() {
        let response: Response<String> = Http.response(&rejection(AuthError::Unavailable));
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        assert!(!response.headers().contains_key(WWW_AUTHENTICATE));
    }

    #[test]
    fn grpc_answers_are_trailers_only() {
        let permission = "jobs:create".parse().unwrap();
        let response: Response<String> =
            Grpc.response(&rejection(AuthError::InsufficientPermission(permission)));
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/grpc");
        assert_eq!(response.headers()[&GRPC_STATUS], "7");
        assert_eq!(
            response.headers()[&GRPC_MESSAGE],
            "Insufficient%20permission"
        );
        assert!(response.body().is_empty());
    }

    #[test]
    fn grpc_message_encoding_escapes_percent_and_non_ascii() {
        assert_eq!(percent_encode("50% é"), "50%25%20%C3%A9");
    }
}

//! The one writer of this crate: a vault-core [`Problem`] as an `http` response. Key
//! rejections ([`Http`](crate::Http)), callback refusals and any other refusal (a server's
//! own, from `vault_core::Error`) all go through it, so they are written alike.

use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use vault_core::Problem;

/// The response for `problem`: its status, `WWW-Authenticate`, `Retry-After`, content type
/// and body. For any body that can be made from a `String` (axum's `Body`,
/// `http_body_util::Full<Bytes>`, `String`).
///
/// ```
/// use vault_core::Problem;
/// use vault_core::callbacks::{CallbackDefect, CallbackRejection};
///
/// let rejection = CallbackRejection::from(CallbackDefect::TooOld);
/// let response: http::Response<String> = vault_tower::problem_response(rejection.problem());
/// assert_eq!(response.status(), 401);
/// assert!(response.body().contains("stale_timestamp"));
///
/// let throttled = Problem::from(vault_core::accounts::AccountDefect::Throttled { retry_after_secs: 9 });
/// let response: http::Response<String> = vault_tower::problem_response(&throttled);
/// assert_eq!(response.status(), 429);
/// assert_eq!(response.headers()["retry-after"], "9");
/// ```
pub fn problem_response<B: From<String>>(problem: &Problem) -> Response<B> {
    let mut response = Response::new(B::from(problem.body().to_owned()));
    *response.status_mut() =
        StatusCode::from_u16(problem.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    // vault-core checks both values when it sets them, so the conversions succeed.
    if let Ok(value) = HeaderValue::from_str(problem.content_type()) {
        headers.insert(CONTENT_TYPE, value);
    }
    add_challenge(headers, problem);
    if let Some(seconds) = problem.retry_after() {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// `WWW-Authenticate`, if `problem` carries one.
pub(crate) fn add_challenge(headers: &mut HeaderMap, problem: &Problem) {
    if let Some(value) = problem
        .www_authenticate()
        .and_then(|challenge| HeaderValue::from_str(challenge).ok())
    {
        headers.insert(WWW_AUTHENTICATE, value);
    }
}

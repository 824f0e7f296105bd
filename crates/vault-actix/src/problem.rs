//! The one writer of this crate: a vault-core [`Problem`] as an actix-web response. Key
//! rejections, callback refusals and any other refusal (a server's own, from
//! `vault_core::Error`) all go through it. actix-web 4 speaks `http` 0.2, so the status and
//! headers cross over by number and by string; nothing is decided here.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use vault_core::Problem;

/// The response for `problem`: its status, `WWW-Authenticate`, `Retry-After`, content type
/// and body, header for header what vault-core says (and what vault-tower writes).
///
/// ```
/// use vault_core::Problem;
/// use vault_core::accounts::AccountDefect;
///
/// let throttled = Problem::from(AccountDefect::Throttled { retry_after_secs: 9 });
/// let response = vault_actix::problem_response(&throttled);
/// assert_eq!(response.status().as_u16(), 429);
/// assert_eq!(response.headers().get("retry-after").unwrap(), "9");
/// assert_eq!(response.headers().get("content-type").unwrap(), "application/problem+json");
/// ```
pub fn problem_response(problem: &Problem) -> HttpResponse {
    let status =
        StatusCode::from_u16(problem.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = HttpResponse::build(status);
    // vault-core checks both values when it sets them, so the conversions succeed.
    if let Some(value) = problem
        .www_authenticate()
        .and_then(|challenge| HeaderValue::from_str(challenge).ok())
    {
        response.insert_header((WWW_AUTHENTICATE, value));
    }
    if let Some(seconds) = problem.retry_after() {
        response.insert_header((RETRY_AFTER, HeaderValue::from(seconds)));
    }
    if let Ok(value) = HeaderValue::from_str(problem.content_type()) {
        response.insert_header((CONTENT_TYPE, value));
    }
    response.body(problem.body().to_owned())
}

//! The CSRF guard of every unsafe request (vault-core's rule: [`vault_core::csrf`]), and the
//! route that hands out the token.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use vault_core::csrf::origin_allowed;
use vault_core::request::RequestDefect;

use crate::problem::ApiError;
use crate::session::{cookie_line, cookies, session_token};
use crate::vault::Vault;

/// The header an unsafe request carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

fn header(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether the unsafe request passes the origin rule and carries the token of its session
/// (or, without one, the signed token of its pre-session cookie).
fn passes(vault: &Vault, headers: &HeaderMap) -> bool {
    let config = vault.config();
    let origin = header(headers, ORIGIN);
    let site = header(headers, "sec-fetch-site");
    if !origin_allowed(&config.public_origin, origin, site) {
        return false;
    }
    let Some(presented) = header(headers, CSRF_HEADER) else {
        return false;
    };
    if let Some(session) = session_token(headers, config) {
        return vault.csrf().check_session(presented, &session);
    }
    match cookies(headers, config.csrf_cookie()).as_slice() {
        [nonce] => vault.csrf().check_pre_session(presented, nonce),
        _ => false,
    }
}

/// Refuses an unsafe request (`POST`, `PUT`, `PATCH`, `DELETE`) that fails the CSRF check
/// with 403 `csrf_failed`, with or without a session (login CSRF included).
pub(crate) async fn guard(State(vault): State<Vault>, request: Request, next: Next) -> Response {
    if request.method().is_safe() || passes(&vault, request.headers()) {
        return next.run(request).await;
    }
    ApiError::from(RequestDefect::CsrfFailed).into_response()
}

/// A CSRF token for the next unsafe requests.
#[derive(Serialize, ToSchema)]
pub(crate) struct CsrfToken {
    /// Send it as `X-CSRF-Token` (or the `csrf_token` form field).
    token: String,
}

/// The CSRF token for unsafe requests: the session's when signed in; before, a signed token
/// whose nonce this answer sets as a cookie. Ask again after signing in.
#[utoipa::path(get, path = "/v1/csrf", tag = "session",
    responses((status = 200, description = "The token", body = CsrfToken)))]
pub(crate) async fn token(
    State(vault): State<Vault>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let config = vault.config();
    let mut response = match session_token(&headers, config) {
        Some(session) => Json(CsrfToken {
            token: vault.csrf().session_token(&session),
        })
        .into_response(),
        None => {
            let pre = vault.csrf().pre_session()?;
            let mut response = Json(CsrfToken {
                token: pre.token().to_owned(),
            })
            .into_response();
            let cookie = cookie_line(config, config.csrf_cookie(), pre.nonce(), false);
            response.headers_mut().append(SET_COOKIE, cookie);
            response
        }
    };
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

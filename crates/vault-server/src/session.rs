//! The Vault's own session cookie: reading it (exactly one), the [`SignedIn`] extractor, and
//! the `Set-Cookie` lines that begin and end a session.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};
use vault_core::accounts::{SessionInfo, SessionToken};
use vault_core::request::RequestDefect;

use crate::config::ServerConfig;
use crate::problem::ApiError;
use crate::vault::Vault;

/// The values of every cookie named `name` in the request's `Cookie` headers.
pub(crate) fn cookies(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| {
            Cookie::split_parse(line)
                .filter_map(Result::ok)
                .filter(|c| c.name() == name)
                .map(|c| c.value().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The session token of the request: exactly one session cookie (two are refused, so a
/// planted cookie cannot ride beside the real one).
pub(crate) fn session_token(headers: &HeaderMap, config: &ServerConfig) -> Option<SessionToken> {
    match cookies(headers, config.session_cookie()).as_slice() {
        [one] if !one.is_empty() => Some(SessionToken::from(one.clone())),
        _ => None,
    }
}

/// A signed-in person: the session checked by the accounts service (ended, expired or
/// unknown sessions answer 401 `not_signed_in`).
pub struct SignedIn {
    /// The session's token (to renew or end it).
    pub token: SessionToken,
    /// The session.
    pub session: SessionInfo,
}

impl FromRequestParts<Vault> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, vault: &Vault) -> Result<Self, ApiError> {
        let token = session_token(&parts.headers, vault.config())
            .ok_or(ApiError::from(RequestDefect::NotSignedIn))?;
        let session = vault
            .services()
            .accounts
            .authenticate(&token)
            .await
            .map_err(|err| match err {
                vault_core::Error::Account(_) => ApiError::from(RequestDefect::NotSignedIn),
                other => ApiError::from(other),
            })?;
        Ok(Self { token, session })
    }
}

/// The `Set-Cookie` value that stores `token` as the session cookie.
pub(crate) fn set_session(config: &ServerConfig, token: &SessionToken) -> HeaderValue {
    cookie_line(
        config,
        config.session_cookie(),
        token.expose_secret(),
        false,
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub(crate) fn clear_session(config: &ServerConfig) -> HeaderValue {
    cookie_line(config, config.session_cookie(), "", true)
}

/// A cookie of the Vault's host only: `HttpOnly`, `SameSite=Lax`, `Path=/`, no `Domain`,
/// `Secure` outside dev mode.
pub(crate) fn cookie_line(
    config: &ServerConfig,
    name: &'static str,
    value: &str,
    remove: bool,
) -> HeaderValue {
    let mut cookie = Cookie::build((name, value.to_owned()))
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(!config.dev)
        .build();
    if remove {
        cookie.make_removal();
    }
    // Names and values are cookie-safe (base64url tokens), so the line is a valid header.
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

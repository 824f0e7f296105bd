//! The signed-in person's sessions and profile: list the sessions, end one, sign out
//! everywhere, change the name, change the password (which renews this session's cookie).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vault_core::request::RequestDefect;

use crate::extract::{Body, PathParam};
use crate::problem::ApiError;
use crate::routes::people::SessionAnswer;
use crate::session::{SignedIn, clear_session, set_session};
use crate::vault::Vault;

/// My sessions, oldest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct Sessions {
    /// Every live session of the account.
    sessions: Vec<SessionAnswer>,
    /// The id of the session this request came with.
    current: uuid::Uuid,
}

/// Lists my sessions.
#[utoipa::path(get, path = "/v1/sessions", tag = "people",
    responses((status = 200, description = "My sessions", body = Sessions),
              (status = 401, description = "Not signed in")))]
pub(crate) async fn list(
    State(vault): State<Vault>,
    signed: SignedIn,
) -> Result<Json<Sessions>, ApiError> {
    let all = vault
        .services()
        .accounts
        .list_sessions(&signed.token)
        .await?;
    Ok(Json(Sessions {
        sessions: all.iter().map(SessionAnswer::from).collect(),
        current: signed.session.id,
    }))
}

/// Ends one of my sessions (another device).
#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "people",
    params(("id" = uuid::Uuid, Path, description = "The session's public id")),
    responses((status = 204, description = "Ended"),
              (status = 404, description = "No such session of mine")))]
pub(crate) async fn end(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<uuid::Uuid>,
) -> Result<StatusCode, ApiError> {
    match vault
        .services()
        .accounts
        .end_session(&signed.token, id)
        .await?
    {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(RequestDefect::NotFound.into()),
    }
}

/// How many sessions ended.
#[derive(Serialize, ToSchema)]
pub(crate) struct Ended {
    /// Sessions ended, this one included.
    ended: u32,
}

/// Signs out everywhere: every session of the account ends, this one included.
#[utoipa::path(post, path = "/v1/sign-out/everywhere", tag = "people",
    responses((status = 200, description = "Signed out everywhere", body = Ended),
              (status = 401, description = "Not signed in")))]
pub(crate) async fn everywhere(
    State(vault): State<Vault>,
    signed: SignedIn,
) -> Result<Response, ApiError> {
    let ended = vault
        .services()
        .accounts
        .sign_out_everywhere(&signed.token)
        .await?;
    let mut response = Json(Ended { ended }).into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, clear_session(vault.config()));
    Ok(response)
}

/// A new display name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameBody {
    /// 1 to 100 characters, no control characters.
    name: String,
}

/// Changes my display name.
#[utoipa::path(put, path = "/v1/profile/name", tag = "people", request_body = NameBody,
    responses((status = 204, description = "Changed"),
              (status = 422, description = "Not a valid name")))]
pub(crate) async fn name(
    State(vault): State<Vault>,
    signed: SignedIn,
    Body(body): Body<NameBody>,
) -> Result<StatusCode, ApiError> {
    vault
        .services()
        .accounts
        .change_name(&signed.token, &body.name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The current password and the new one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PasswordBody {
    /// The current password.
    current: String,
    /// The new password.
    new: String,
}

/// Changes my password: every other session ends and this one gets a new cookie (and so a
/// new CSRF token).
#[utoipa::path(post, path = "/v1/password/change", tag = "people", request_body = PasswordBody,
    responses((status = 200, description = "Changed; this session renewed", body = SessionAnswer),
              (status = 401, description = "Not signed in"),
              (status = 403, description = "The current password is wrong"),
              (status = 422, description = "The new password is refused")))]
pub(crate) async fn password(
    State(vault): State<Vault>,
    signed: SignedIn,
    Body(body): Body<PasswordBody>,
) -> Result<Response, ApiError> {
    let renewed = vault
        .services()
        .accounts
        .change_password(
            &signed.token,
            SecretString::from(body.current),
            SecretString::from(body.new),
        )
        .await?;
    let mut response = Json(SessionAnswer::from(&renewed.session)).into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, set_session(vault.config(), &renewed.token));
    Ok(response)
}

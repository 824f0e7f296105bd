//! People: sign-up and its confirmation, sign-in (with the second step of 2FA or of a
//! mailed code), sign-out, who am I, "Forgot password?" and the reset. Each handler
//! translates JSON to one call of the accounts service and its answer back.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, SET_COOKIE};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vault_core::WorkspaceId;
use vault_core::accounts::{Challenge, Client, NewSession, Proof, SignIn};

use crate::extract::Body;
use crate::problem::ApiError;
use crate::session::{SignedIn, clear_session, set_session};
use crate::vault::Vault;

/// The client's address: the socket's peer (trusted proxies come with the configuration).
pub(crate) struct ClientAddress(pub(crate) Client);

impl FromRequestParts<Vault> for ClientAddress {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &Vault) -> Result<Self, ApiError> {
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(Client::unknown_address, |c| Client::at(c.0.ip()));
        Ok(Self(client))
    }
}

/// The answer of the steps that only acknowledge (mails are queued, never awaited).
#[derive(Serialize, ToSchema)]
pub(crate) struct Accepted {
    /// What happens next.
    status: &'static str,
}

fn accepted(status: &'static str) -> (StatusCode, Json<Accepted>) {
    (StatusCode::ACCEPTED, Json(Accepted { status }))
}

/// Sign-up: a name and an address.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignUpBody {
    /// The display name.
    name: String,
    /// The address to verify.
    email: String,
}

/// Starts a sign-up: the same answer whether the address is new or not; a mail goes out.
#[utoipa::path(post, path = "/v1/sign-up", tag = "people", request_body = SignUpBody,
    responses((status = 202, description = "Check your mail", body = Accepted)))]
pub(crate) async fn sign_up(
    State(vault): State<Vault>,
    Body(body): Body<SignUpBody>,
) -> Result<impl IntoResponse, ApiError> {
    vault
        .services()
        .accounts
        .sign_up(&body.name, &body.email)
        .await?;
    Ok(accepted("check_your_mail"))
}

/// An address, for the resend and "Forgot password?" steps.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmailBody {
    /// The address.
    email: String,
}

/// Sends the verification mail again (the same answer for any address).
#[utoipa::path(post, path = "/v1/sign-up/resend", tag = "people", request_body = EmailBody,
    responses((status = 202, description = "Check your mail", body = Accepted)))]
pub(crate) async fn resend(
    State(vault): State<Vault>,
    Body(body): Body<EmailBody>,
) -> Result<impl IntoResponse, ApiError> {
    vault
        .services()
        .accounts
        .resend_verification(&body.email)
        .await?;
    Ok(accepted("check_your_mail"))
}

/// A mailed proof and a new password: the link's `token`, or the `email` and the typed `code`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProofBody {
    /// The token from the link's fragment.
    token: Option<String>,
    /// The address the code was mailed to (with `code`).
    email: Option<String>,
    /// The 6-digit code (with `email`).
    code: Option<String>,
    /// The password to set.
    password: String,
}

impl ProofBody {
    fn proof(&self) -> Result<Proof, ApiError> {
        match (&self.token, &self.email, &self.code) {
            (Some(token), None, None) => Ok(Proof::Link(SecretString::from(token.clone()))),
            (None, Some(email), Some(code)) => Ok(Proof::Code {
                email: email.clone(),
                code: SecretString::from(code.clone()),
            }),
            _ => Err(vault_core::request::RequestDefect::MalformedBody {
                pointer: Some("/token".to_owned()),
                reason: "give either `token`, or `email` and `code`",
            }
            .into()),
        }
    }
}

/// The account a step completed.
#[derive(Serialize, ToSchema)]
pub(crate) struct Confirmed {
    /// The account's id.
    user_id: uuid::Uuid,
}

/// Completes sign-up: proves the address and sets the password; then sign in.
#[utoipa::path(post, path = "/v1/sign-up/confirm", tag = "people", request_body = ProofBody,
    responses((status = 200, description = "Confirmed", body = Confirmed),
              (status = 400, description = "Invalid or used link or code"),
              (status = 422, description = "The password is refused")))]
pub(crate) async fn confirm(
    State(vault): State<Vault>,
    Body(body): Body<ProofBody>,
) -> Result<Json<Confirmed>, ApiError> {
    let proof = body.proof()?;
    let user = vault
        .services()
        .accounts
        .complete_sign_up(&proof, SecretString::from(body.password))
        .await?;
    Ok(Json(Confirmed {
        user_id: *user.as_uuid(),
    }))
}

/// Sign-in with a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInBody {
    /// The address.
    email: String,
    /// The password.
    password: String,
}

/// Where a sign-in stands.
#[derive(Serialize, ToSchema)]
pub(crate) struct SignInAnswer {
    /// `signed_in`, `two_factor_required` or `mailed_code_required`.
    status: &'static str,
    /// The challenge of the next step (`two_factor_required`, `mailed_code_required`).
    challenge: Option<String>,
    /// The session, once signed in (its token is in the cookie, never here).
    session: Option<SessionAnswer>,
}

/// A session, without its token.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionAnswer {
    /// The session's public id.
    id: uuid::Uuid,
    /// Whose it is.
    user_id: uuid::Uuid,
    /// The active workspace.
    active_workspace: Option<uuid::Uuid>,
    /// Whether a second factor was passed.
    two_factor_passed: bool,
}

impl From<&vault_core::accounts::SessionInfo> for SessionAnswer {
    fn from(s: &vault_core::accounts::SessionInfo) -> Self {
        Self {
            id: s.id,
            user_id: *s.user_id.as_uuid(),
            active_workspace: s.active_workspace.map(|w| *w.as_uuid()),
            two_factor_passed: s.two_factor_passed,
        }
    }
}

/// The answer of a step that began a session: the cookie is set, the CSRF token changes.
fn signed_in(vault: &Vault, new: &NewSession) -> Response {
    let mut response = Json(SignInAnswer {
        status: "signed_in",
        challenge: None,
        session: Some(SessionAnswer::from(&new.session)),
    })
    .into_response();
    let headers = response.headers_mut();
    headers.append(SET_COOKIE, set_session(vault.config(), &new.token));
    headers.insert(
        CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

fn next_step(status: &'static str, challenge: &Challenge) -> Response {
    let mut response = Json(SignInAnswer {
        status,
        challenge: Some(challenge.expose_secret().to_owned()),
        session: None,
    })
    .into_response();
    response.headers_mut().insert(
        CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    response
}

fn sign_in_answer(vault: &Vault, outcome: SignIn) -> Response {
    match outcome {
        SignIn::Session(new) => signed_in(vault, &new),
        SignIn::TwoFactorRequired(c) => next_step("two_factor_required", &c),
        SignIn::MailedCodeRequired(c) => next_step("mailed_code_required", &c),
    }
}

/// Signs in. An unknown address and a wrong password answer alike (401
/// `invalid_credentials`); with 2FA the answer asks for the second factor.
#[utoipa::path(post, path = "/v1/sign-in", tag = "people", request_body = SignInBody,
    responses((status = 200, description = "Signed in, or the next step", body = SignInAnswer),
              (status = 401, description = "Wrong address or password"),
              (status = 429, description = "Throttled")))]
pub(crate) async fn sign_in(
    State(vault): State<Vault>,
    ClientAddress(client): ClientAddress,
    Body(body): Body<SignInBody>,
) -> Result<Response, ApiError> {
    let outcome = vault
        .services()
        .accounts
        .sign_in(&body.email, SecretString::from(body.password), client)
        .await?;
    Ok(sign_in_answer(&vault, outcome))
}

/// The second step of a sign-in: the challenge and a code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StepBody {
    /// The challenge of the first step.
    challenge: String,
    /// A TOTP code or a recovery code (2FA), or the mailed code.
    code: String,
}

/// Completes a sign-in that asked for the second factor (TOTP or a recovery code).
#[utoipa::path(post, path = "/v1/sign-in/two-factor", tag = "people", request_body = StepBody,
    responses((status = 200, description = "Signed in", body = SignInAnswer),
              (status = 401, description = "Wrong or replayed code")))]
pub(crate) async fn two_factor(
    State(vault): State<Vault>,
    Body(body): Body<StepBody>,
) -> Result<Response, ApiError> {
    let challenge = Challenge::from(body.challenge);
    let new = vault
        .services()
        .accounts
        .complete_two_factor(&challenge, &body.code)
        .await?;
    Ok(signed_in(&vault, &new))
}

/// Completes a sign-in that asked for the code mailed to the account.
#[utoipa::path(post, path = "/v1/sign-in/mailed-code", tag = "people", request_body = StepBody,
    responses((status = 200, description = "Signed in, or the 2FA step", body = SignInAnswer),
              (status = 400, description = "Wrong or used code")))]
pub(crate) async fn mailed_code(
    State(vault): State<Vault>,
    Body(body): Body<StepBody>,
) -> Result<Response, ApiError> {
    let challenge = Challenge::from(body.challenge);
    let outcome = vault
        .services()
        .accounts
        .complete_mailed_code(&challenge, &body.code)
        .await?;
    Ok(sign_in_answer(&vault, outcome))
}

/// Ends this session and removes its cookie.
#[utoipa::path(post, path = "/v1/sign-out", tag = "people",
    responses((status = 204, description = "Signed out"),
              (status = 401, description = "Not signed in")))]
pub(crate) async fn sign_out(
    State(vault): State<Vault>,
    signed: SignedIn,
) -> Result<Response, ApiError> {
    vault.services().accounts.sign_out(&signed.token).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .append(SET_COOKIE, clear_session(vault.config()));
    Ok(response)
}

/// One of my workspaces.
#[derive(Serialize, ToSchema)]
pub(crate) struct MyWorkspace {
    /// Its id.
    id: uuid::Uuid,
    /// My role there.
    role: String,
}

/// Who is signed in.
#[derive(Serialize, ToSchema)]
pub(crate) struct Me {
    /// The account's id.
    user_id: uuid::Uuid,
    /// The display name.
    name: String,
    /// The sign-in address.
    email: String,
    /// Whether two-factor authentication is on.
    two_factor_enabled: bool,
    /// The session.
    session: SessionAnswer,
    /// The active workspace, if one was chosen.
    active_workspace: Option<uuid::Uuid>,
    /// Every workspace I belong to.
    workspaces: Vec<MyWorkspace>,
}

/// Who am I: the session, the active workspace and my workspaces.
#[utoipa::path(get, path = "/v1/me", tag = "people",
    responses((status = 200, description = "Signed in", body = Me),
              (status = 401, description = "Not signed in")))]
pub(crate) async fn me(State(vault): State<Vault>, signed: SignedIn) -> Result<Json<Me>, ApiError> {
    let services = vault.services();
    let actor = services.accounts.actor(&signed.token).await?;
    let workspaces = services
        .access
        .workspaces(&actor)
        .await?
        .into_iter()
        .map(|m| MyWorkspace {
            id: *m.workspace.id.as_uuid(),
            role: m.role.to_string(),
        })
        .collect();
    let active: Option<WorkspaceId> = signed.session.active_workspace;
    let profile = services.accounts.profile(&signed.token).await?;
    Ok(Json(Me {
        user_id: *signed.session.user_id.as_uuid(),
        name: profile.name,
        email: profile.email.as_str().to_owned(),
        two_factor_enabled: profile.two_factor_enabled,
        session: SessionAnswer::from(&signed.session),
        active_workspace: active.map(|w| *w.as_uuid()),
        workspaces,
    }))
}

/// "Forgot password?": the same answer for any address; a reset mail when there is an account.
#[utoipa::path(post, path = "/v1/password/forgot", tag = "people", request_body = EmailBody,
    responses((status = 202, description = "Check your mail", body = Accepted)))]
pub(crate) async fn forgot(
    State(vault): State<Vault>,
    Body(body): Body<EmailBody>,
) -> Result<impl IntoResponse, ApiError> {
    vault
        .services()
        .accounts
        .forgot_password(&body.email)
        .await?;
    Ok(accepted("check_your_mail"))
}

/// Sets a new password with the reset link's token or the mailed code; every session ends.
#[utoipa::path(post, path = "/v1/password/reset", tag = "people", request_body = ProofBody,
    responses((status = 204, description = "Reset; sign in again"),
              (status = 400, description = "Invalid or used link or code"),
              (status = 422, description = "The password is refused")))]
pub(crate) async fn reset(
    State(vault): State<Vault>,
    Body(body): Body<ProofBody>,
) -> Result<StatusCode, ApiError> {
    let proof = body.proof()?;
    vault
        .services()
        .accounts
        .reset_password(&proof, SecretString::from(body.password))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

//! Members and invitations of a workspace: change a member's role, remove one, leave; invite
//! (the token in this one answer, `no-store`: the inviter passes the link on), list and
//! revoke invitations, and accept one with the signed-in account's verified address.

use axum::Json;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use vault_core::access::{InvitationId, WorkspaceRole};
use vault_core::{UserId, WorkspaceId};

use crate::extract::{Body, PathParam};
use crate::problem::ApiError;
use crate::routes::{actor, json};
use crate::session::SignedIn;
use crate::vault::Vault;

fn role(text: &str) -> Result<WorkspaceRole, ApiError> {
    text.parse::<WorkspaceRole>().map_err(|_| {
        vault_core::request::RequestDefect::MalformedBody {
            pointer: Some("/role".to_owned()),
            reason: "use owner, admin or member",
        }
        .into()
    })
}

/// A workspace role.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleBody {
    /// `owner`, `admin` or `member`.
    role: String,
}

/// Changes a member's role (owners and admins; never above one's own, never the last owner).
#[utoipa::path(put, path = "/v1/workspaces/{id}/members/{user_id}/role", tag = "workspaces",
    request_body = RoleBody,
    params(("id" = uuid::Uuid, Path, description = "The workspace"),
           ("user_id" = uuid::Uuid, Path, description = "The member")),
    responses((status = 200, description = "Changed", body = Value),
              (status = 403, description = "Not allowed"),
              (status = 409, description = "The last owner")))]
pub(crate) async fn change_role(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam((id, user)): PathParam<(uuid::Uuid, uuid::Uuid)>,
    Body(body): Body<RoleBody>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&vault, &signed).await?;
    let member = vault
        .services()
        .access
        .change_role(
            &actor,
            WorkspaceId::from_uuid(id),
            UserId::from_uuid(user),
            role(&body.role)?,
        )
        .await?;
    json(member)
}

/// Removes a member (owners and admins), or leaves when it is me; never the last owner.
#[utoipa::path(delete, path = "/v1/workspaces/{id}/members/{user_id}", tag = "workspaces",
    params(("id" = uuid::Uuid, Path, description = "The workspace"),
           ("user_id" = uuid::Uuid, Path, description = "The member (my own id: leave)")),
    responses((status = 204, description = "Removed"),
              (status = 403, description = "Not allowed"),
              (status = 409, description = "The last owner")))]
pub(crate) async fn remove(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam((id, user)): PathParam<(uuid::Uuid, uuid::Uuid)>,
) -> Result<StatusCode, ApiError> {
    let actor = actor(&vault, &signed).await?;
    vault
        .services()
        .access
        .remove_member(&actor, WorkspaceId::from_uuid(id), UserId::from_uuid(user))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whom to invite, as what.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct InviteBody {
    /// The invitee's address: only the account with this verified address can accept.
    email: String,
    /// `admin` or `member` (never above mine).
    role: String,
}

/// Invites someone (owners and admins). The answer carries the invitation token once.
#[utoipa::path(post, path = "/v1/workspaces/{id}/invitations", tag = "workspaces",
    request_body = InviteBody,
    params(("id" = uuid::Uuid, Path, description = "The workspace")),
    responses((status = 201, description = "Invited: the token, shown once", body = Value),
              (status = 403, description = "Not allowed")))]
pub(crate) async fn invite(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<uuid::Uuid>,
    Body(body): Body<InviteBody>,
) -> Result<Response, ApiError> {
    let actor = actor(&vault, &signed).await?;
    let issued = vault
        .services()
        .access
        .invite(
            &actor,
            WorkspaceId::from_uuid(id),
            &body.email,
            role(&body.role)?,
        )
        .await?;
    let mut answer = serde_json::to_value(&issued.invitation)
        .map_err(|err| vault_core::Error::Store(Box::new(err)))?;
    answer["token"] = Value::from(issued.token.expose_secret());
    let mut response = (StatusCode::CREATED, Json(answer)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Lists a workspace's invitations (owners and admins; never their tokens).
#[utoipa::path(get, path = "/v1/workspaces/{id}/invitations", tag = "workspaces",
    params(("id" = uuid::Uuid, Path, description = "The workspace")),
    responses((status = 200, description = "The invitations", body = Value)))]
pub(crate) async fn invitations(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<uuid::Uuid>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&vault, &signed).await?;
    json(
        vault
            .services()
            .access
            .invitations(&actor, WorkspaceId::from_uuid(id))
            .await?,
    )
}

/// Revokes a pending invitation (owners and admins).
#[utoipa::path(delete, path = "/v1/workspaces/{id}/invitations/{invitation_id}", tag = "workspaces",
    params(("id" = uuid::Uuid, Path, description = "The workspace"),
           ("invitation_id" = uuid::Uuid, Path, description = "The invitation")),
    responses((status = 200, description = "Revoked", body = Value)))]
pub(crate) async fn revoke(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam((id, invitation)): PathParam<(uuid::Uuid, uuid::Uuid)>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&vault, &signed).await?;
    let revoked = vault
        .services()
        .access
        .revoke_invitation(
            &actor,
            WorkspaceId::from_uuid(id),
            InvitationId::from_uuid(invitation),
        )
        .await?;
    json(revoked)
}

/// An invitation's token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptBody {
    /// The token from the invitation link.
    token: String,
}

/// Accepts an invitation with the signed-in account, whose verified address must be the
/// invited one.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "workspaces", request_body = AcceptBody,
    responses((status = 200, description = "A member now", body = Value),
              (status = 403, description = "For another account")))]
pub(crate) async fn accept(
    State(vault): State<Vault>,
    signed: SignedIn,
    Body(body): Body<AcceptBody>,
) -> Result<Json<Value>, ApiError> {
    let services = vault.services();
    let actor = actor(&vault, &signed).await?;
    let profile = services.accounts.profile(&signed.token).await?;
    let member = services
        .access
        .accept_invitation(&actor, &body.token, profile.email.as_str())
        .await?;
    json(member)
}

//! API keys through the minting rules of vault-core: mint (the token in this one answer,
//! `Cache-Control: no-store`), list (metadata only, never a hash), rotate with an overlap,
//! revoke at once.

use axum::Json;
use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use vault_core::access::KeyRequest;
use vault_core::{Environment, IssuedKey, KeyId, PermissionSet, WorkspaceId};

use crate::extract::{Body, PathParam};
use crate::problem::ApiError;
use crate::routes::json;
use crate::session::SignedIn;
use crate::vault::Vault;

/// A key to mint.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MintBody {
    /// The product the key calls.
    product: String,
    /// `development`, `staging` or `production`.
    environment: String,
    /// Permissions, each one I hold in the product.
    permissions: Vec<String>,
    /// A name to recognise it by.
    name: String,
    /// When it stops working (RFC 3339), if ever.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>)]
    expires_at: Option<OffsetDateTime>,
}

/// The answer that carries a token: shown once, never cached.
fn with_token(status: StatusCode, issued: &IssuedKey) -> Result<Response, ApiError> {
    let mut body = serde_json::to_value(&issued.metadata)
        .map_err(|err| vault_core::Error::Store(Box::new(err)))?;
    body["token"] = Value::from(issued.expose_token());
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Mints a key in a workspace, with only permissions I hold there; the token is in this
/// answer and nowhere else, ever.
#[utoipa::path(post, path = "/v1/workspaces/{id}/keys", tag = "keys", request_body = MintBody,
    params(("id" = uuid::Uuid, Path, description = "The workspace")),
    responses((status = 201, description = "Minted: the token, shown once", body = Value),
              (status = 403, description = "Not a member, no access to the product, or a permission I do not hold")))]
pub(crate) async fn mint(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<uuid::Uuid>,
    Body(body): Body<MintBody>,
) -> Result<Response, ApiError> {
    let services = vault.services();
    let actor = services.accounts.actor(&signed.token).await?;
    let request = KeyRequest {
        workspace_id: WorkspaceId::from_uuid(id),
        product: body.product.parse()?,
        environment: body.environment.parse::<Environment>()?,
        permissions: PermissionSet::parse(body.permissions.iter().map(String::as_str))?,
        name: body.name,
        expires_at: body.expires_at,
    };
    let issued = services.minting.issue(&actor, request).await?;
    with_token(StatusCode::CREATED, &issued)
}

/// Lists the keys of a workspace I may see (metadata only).
#[utoipa::path(get, path = "/v1/workspaces/{id}/keys", tag = "keys",
    params(("id" = uuid::Uuid, Path, description = "The workspace")),
    responses((status = 200, description = "The keys", body = Value)))]
pub(crate) async fn list(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<uuid::Uuid>,
) -> Result<Json<Value>, ApiError> {
    let services = vault.services();
    let actor = services.accounts.actor(&signed.token).await?;
    let keys = services
        .minting
        .list(&actor, WorkspaceId::from_uuid(id))
        .await?;
    serde_json::to_value(keys)
        .map(Json)
        .map_err(|err| vault_core::Error::Store(Box::new(err)).into())
}

/// How long the old key keeps working beside its successor.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RotateBody {
    /// Seconds of overlap (0: the old key stops at once).
    overlap_seconds: u32,
}

fn key_id(text: &str) -> Result<KeyId, ApiError> {
    Ok(text.parse::<KeyId>()?)
}

/// Rotates a key: a successor with the same scope, the old key valid for the overlap.
#[utoipa::path(post, path = "/v1/keys/{key_id}/rotate", tag = "keys", request_body = RotateBody,
    params(("key_id" = String, Path, description = "The key's id")),
    responses((status = 201, description = "The successor: its token, shown once", body = Value)))]
pub(crate) async fn rotate(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<String>,
    Body(body): Body<RotateBody>,
) -> Result<Response, ApiError> {
    let services = vault.services();
    let actor = services.accounts.actor(&signed.token).await?;
    let overlap = Duration::seconds(i64::from(body.overlap_seconds));
    let issued = services
        .minting
        .rotate(&actor, &key_id(&id)?, overlap)
        .await?;
    with_token(StatusCode::CREATED, &issued)
}

/// Revokes a key: refused from the next request on.
#[utoipa::path(post, path = "/v1/keys/{key_id}/revoke", tag = "keys",
    params(("key_id" = String, Path, description = "The key's id")),
    responses((status = 200, description = "Revoked", body = Value)))]
pub(crate) async fn revoke(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<String>,
) -> Result<Json<Value>, ApiError> {
    let services = vault.services();
    let actor = services.accounts.actor(&signed.token).await?;
    let revoked = services.minting.revoke(&actor, &key_id(&id)?).await?;
    json(revoked)
}

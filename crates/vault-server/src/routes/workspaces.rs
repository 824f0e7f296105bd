//! Workspaces and what is granted in them: my workspaces, create, switch, rename, members,
//! the product catalogue, subscriptions and grants. Each handler builds the actor from the
//! verified session and makes one call of the access service.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use vault_core::access::{Grantee, RoleName};
use vault_core::{ProductId, UserId, WorkspaceId};

use crate::extract::{Body, PathParam};
use crate::problem::ApiError;
use crate::routes::{actor, json};
use crate::session::SignedIn;
use crate::vault::Vault;

fn product(text: &str) -> Result<ProductId, ApiError> {
    Ok(text.parse::<ProductId>()?)
}

/// A workspace's name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameBody {
    /// 1 to 100 characters.
    name: String,
}

/// Lists my workspaces with my role in each.
#[utoipa::path(get, path = "/v1/workspaces", tag = "workspaces",
    responses((status = 200, description = "My workspaces", body = Value)))]
pub(crate) async fn mine(
    State(vault): State<Vault>,
    signed: SignedIn,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&vault, &signed).await?;
    let all = vault.services().access.workspaces(&actor).await?;
    let listed: Vec<Value> = all
        .iter()
        .map(|m| serde_json::json!({"workspace": m.workspace, "role": m.role.to_string()}))
        .collect();
    json(listed)
}

/// Creates a workspace; I become its owner.
#[utoipa::path(post, path = "/v1/workspaces", tag = "workspaces", request_body = NameBody,
    responses((status = 201, description = "Created", body = Value)))]
pub(crate) async fn create(
    State(vault): State<Vault>,
    signed: SignedIn,
    Body(body): Body<NameBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = actor(&vault, &signed).await?;
    let workspace = vault
        .services()
        .access
        .create_workspace(&actor, &body.name)
        .await?;
    Ok((StatusCode::CREATED, json(workspace)?))
}

/// Renames a workspace (owners and admins).
#[utoipa::path(patch, path = "/v1/workspaces/{id}", tag = "workspaces", request_body = NameBody,
    params(("id" = uuid::Uuid, Path, description = "The workspace")),
    responses((status = 200, description = "Renamed", body = Value),
              (status = 403, description = "Not allowed")))]
pub(crate) async fn rename(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<uuid::Uuid>,
    Body(body): Body<NameBody>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&vault, &signed).await?;
    let renamed = vault
        .services()
        .access
        .rename_workspace(&actor, WorkspaceId::from_uuid(id), &body.name)
        .await?;
    json(renamed)
}

/// The workspace to work in.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SwitchBody {
    /// One of my workspaces.
    workspace_id: uuid::Uuid,
}

/// Makes one of my workspaces the session's active one.
#[utoipa::path(post, path = "/v1/session/workspace", tag = "workspaces", request_body = SwitchBody,
    responses((status = 200, description = "Switched", body = Value),
              (status = 403, description = "Not one of my workspaces")))]
pub(crate) async fn switch(
    State(vault): State<Vault>,
    signed: SignedIn,
    Body(body): Body<SwitchBody>,
) -> Result<Json<Value>, ApiError> {
    let session = vault
        .services()
        .accounts
        .switch_workspace(&signed.token, WorkspaceId::from_uuid(body.workspace_id))
        .await?;
    json(session)
}

/// Lists the members of a workspace (any member).
#[utoipa::path(get, path = "/v1/workspaces/{id}/members", tag = "workspaces",
    params(("id" = uuid::Uuid, Path, description = "The workspace")),
    responses((status = 200, description = "The members", body = Value)))]
pub(crate) async fn members(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<uuid::Uuid>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&vault, &signed).await?;
    json(
        vault
            .services()
            .access
            .members(&actor, WorkspaceId::from_uuid(id))
            .await?,
    )
}

/// The products of the platform and their roles.
#[utoipa::path(get, path = "/v1/catalog", tag = "workspaces",
    responses((status = 200, description = "Products and roles", body = Value)))]
pub(crate) async fn catalog(State(vault): State<Vault>, _signed: SignedIn) -> Json<Value> {
    let products: Vec<Value> = vault
        .services()
        .access
        .catalog()
        .products()
        .map(|p| {
            let roles: Vec<Value> = p
                .roles()
                .iter()
                .map(|r| serde_json::json!({"name": r.name(), "permissions": r.permissions()}))
                .collect();
            serde_json::json!({"id": p.id(), "roles": roles})
        })
        .collect();
    Json(Value::from(products))
}

/// Activates a product in a workspace (owners).
#[utoipa::path(put, path = "/v1/workspaces/{id}/subscriptions/{product}", tag = "workspaces",
    params(("id" = uuid::Uuid, Path, description = "The workspace"),
           ("product" = String, Path, description = "The product id")),
    responses((status = 200, description = "Active", body = Value)))]
pub(crate) async fn activate(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam((id, product_id)): PathParam<(uuid::Uuid, String)>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&vault, &signed).await?;
    let subscription = vault
        .services()
        .access
        .activate_product(&actor, WorkspaceId::from_uuid(id), &product(&product_id)?)
        .await?;
    json(subscription)
}

/// Deactivates a product in a workspace (owners): its keys stop working until it is active.
#[utoipa::path(delete, path = "/v1/workspaces/{id}/subscriptions/{product}", tag = "workspaces",
    params(("id" = uuid::Uuid, Path, description = "The workspace"),
           ("product" = String, Path, description = "The product id")),
    responses((status = 200, description = "Inactive", body = Value)))]
pub(crate) async fn deactivate(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam((id, product_id)): PathParam<(uuid::Uuid, String)>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&vault, &signed).await?;
    let subscription = vault
        .services()
        .access
        .deactivate_product(&actor, WorkspaceId::from_uuid(id), &product(&product_id)?)
        .await?;
    json(subscription)
}

/// A product role for a member.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GrantBody {
    /// The member.
    user_id: uuid::Uuid,
    /// The product.
    product: String,
    /// One of the product's roles.
    role: String,
}

impl GrantBody {
    fn parts(&self) -> Result<(Grantee, ProductId, RoleName), ApiError> {
        Ok((
            Grantee::User(UserId::from_uuid(self.user_id)),
            product(&self.product)?,
            self.role.parse::<RoleName>()?,
        ))
    }
}

/// Grants a member a product role (owners and admins).
#[utoipa::path(post, path = "/v1/workspaces/{id}/grants", tag = "workspaces", request_body = GrantBody,
    params(("id" = uuid::Uuid, Path, description = "The workspace")),
    responses((status = 201, description = "Granted", body = Value)))]
pub(crate) async fn grant(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<uuid::Uuid>,
    Body(body): Body<GrantBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let actor = actor(&vault, &signed).await?;
    let (grantee, product, role) = body.parts()?;
    let grant = vault
        .services()
        .access
        .grant(&actor, WorkspaceId::from_uuid(id), grantee, &product, &role)
        .await?;
    Ok((StatusCode::CREATED, json(grant)?))
}

/// Lists the grants of a workspace (owners and admins).
#[utoipa::path(get, path = "/v1/workspaces/{id}/grants", tag = "workspaces",
    params(("id" = uuid::Uuid, Path, description = "The workspace")),
    responses((status = 200, description = "The grants", body = Value)))]
pub(crate) async fn grants(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<uuid::Uuid>,
) -> Result<Json<Value>, ApiError> {
    let actor = actor(&vault, &signed).await?;
    json(
        vault
            .services()
            .access
            .grants(&actor, WorkspaceId::from_uuid(id))
            .await?,
    )
}

/// Revokes a grant (owners and admins): its permissions end at once.
#[utoipa::path(post, path = "/v1/workspaces/{id}/grants/revoke", tag = "workspaces", request_body = GrantBody,
    params(("id" = uuid::Uuid, Path, description = "The workspace")),
    responses((status = 204, description = "Revoked"),
              (status = 404, description = "No such grant")))]
pub(crate) async fn revoke_grant(
    State(vault): State<Vault>,
    signed: SignedIn,
    PathParam(id): PathParam<uuid::Uuid>,
    Body(body): Body<GrantBody>,
) -> Result<StatusCode, ApiError> {
    let actor = actor(&vault, &signed).await?;
    let (grantee, product, role) = body.parts()?;
    let revoked = vault
        .services()
        .access
        .revoke_grant(&actor, WorkspaceId::from_uuid(id), grantee, &product, &role)
        .await?;
    match revoked {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(vault_core::request::RequestDefect::NotFound.into()),
    }
}

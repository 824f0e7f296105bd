//! `GET /health` (the process answers) and `GET /ready` (the store answers too).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use vault_core::accounts::Email;
use vault_core::store::Store;

use crate::problem::ApiError;
use crate::vault::Vault;

/// A health answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`.
    status: &'static str,
}

/// Alive: the process answers.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Alive", body = Health)))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready: the store answers (503 `service_unavailable` with `Retry-After` when it does not).
#[utoipa::path(get, path = "/ready", tag = "health",
    responses((status = 200, description = "Ready", body = Health),
              (status = 503, description = "The store does not answer")))]
pub(crate) async fn ready(State(vault): State<Vault>) -> Result<Json<Health>, ApiError> {
    let store: &dyn Store = vault.store();
    let probe = Email::parse("ready@vault.invalid")?;
    store.read().await?.user_by_email(&probe).await?;
    Ok(Json(Health { status: "ok" }))
}

//! The routes, one module per area; each handler only translates.

pub(crate) mod health;
pub(crate) mod keys;
pub(crate) mod members;
pub(crate) mod people;
pub(crate) mod sessions;
pub(crate) mod workspaces;

use axum::Json;
use serde_json::Value;
use vault_core::access::Actor;

use crate::problem::ApiError;
use crate::session::SignedIn;
use crate::vault::Vault;

/// Any value vault-core serializes, as the answer's JSON.
pub(crate) fn json(value: impl serde::Serialize) -> Result<Json<Value>, ApiError> {
    serde_json::to_value(value)
        .map(Json)
        .map_err(|err| vault_core::Error::Store(Box::new(err)).into())
}

/// The actor of a signed-in request, as the access service takes it (2FA bit from the session).
pub(crate) async fn actor(vault: &Vault, signed: &SignedIn) -> Result<Actor, ApiError> {
    Ok(vault.services().accounts.actor(&signed.token).await?)
}

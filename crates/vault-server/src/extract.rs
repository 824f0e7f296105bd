//! Extractors that refuse bad input as problem+json (vault-core's `RequestDefect` rows)
//! instead of axum's plain-text rejections.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use vault_core::request::RequestDefect;

use crate::problem::ApiError;
use crate::vault::Vault;

/// A JSON body, refused as problem+json (415, 400 with a pointer, 413) when it is not one.
pub(crate) struct Body<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned> FromRequest<Vault> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, vault: &Vault) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, vault).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::from_json(rejection, vault.config().body_limit)),
        }
    }
}

/// A path parameter, refused as 404 problem+json when it does not parse (an id that is not
/// a UUID names nothing).
pub(crate) struct PathParam<T>(pub(crate) T);

impl<T: serde::de::DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathParam<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(_) => Err(RequestDefect::NotFound.into()),
        }
    }
}

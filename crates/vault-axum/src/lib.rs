//! axum 0.8 integration for the Vault: [`RequireApiKeyLayer`] (from `vault-tower`) checks the
//! API key, then the [`Caller`] extractor hands the verified
//! [`Principal`](vault_core::Principal) to handlers, and [`RequirePermission`] checks a
//! permission per handler or per route. Every refusal answers like the layer.
//!
//! Receivers of signed callbacks take the [`VerifiedCallbackBody`] extractor behind
//! [`VerifyCallbackLayer`]: the body is verified before the handler runs, and each message is
//! handled once (a redelivery of a processed one is acknowledged, one during its handling
//! answers 409). Without a replay memory the extractor can also verify alone.
//!
//! ```
//! use axum::{Router, routing::{get, post}};
//! use vault_axum::{Caller, GuardOptions, RequireApiKeyLayer, RequirePermission};
//! use vault_core::testing::TestKeys;
//! use vault_core::{Environment, Requirement};
//!
//! vault_axum::permission!(JobsCreate = "jobs:create");
//!
//! async fn create_job(caller: RequirePermission<JobsCreate>) -> String {
//!     format!("job created by key {}", caller.key_id())
//! }
//!
//! async fn list_jobs(Caller(caller): Caller) -> String {
//!     format!("jobs of {:?}", caller.workspace_id())
//! }
//!
//! # fn main() -> Result<(), vault_core::Error> {
//! let kit = TestKeys::new();
//! let submit = Requirement::new("submit".parse()?, Environment::Production);
//! let auth = RequireApiKeyLayer::new(kit.keys().clone(), submit).realm("submit");
//!
//! let api: Router = Router::new()
//!     .route("/jobs", post(create_job))
//!     // A per-route rule: this route also needs `jobs:read`, checked by the layer.
//!     .route("/jobs", get(list_jobs).route_layer(auth.for_permission("jobs:read".parse()?)))
//!     .layer(auth);
//! let app = Router::new().route("/health", get(|| async { "ok" })).merge(api);
//! # let _ = app;
//! # Ok(()) }
//! ```

// Panic-freedom enforced, not hoped for: a justified site carries a commented `allow`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod callbacks;
mod extract;
mod rejection;

pub use callbacks::{CallbackRefused, VerifiedCallbackBody};
pub use extract::{Caller, RequirePermission};
pub use rejection::AuthRejection;
pub use vault_core::{GuardOptions, PermissionName, permission};
pub use vault_tower::{
    Grpc, Http, RejectionFormat, RequireApiKey, RequireApiKeyLayer, VerifyCallback,
    VerifyCallbackLayer, problem_response,
};

use axum::middleware::FromExtractorLayer;
use vault_core::{Requirement, VerifyKey};

/// A layer for a router or route: keys checked by `verifier` against `requirement`, answered
/// in plain HTTP. The same as [`RequireApiKeyLayer::new`].
pub fn require_api_key<V: VerifyKey>(
    verifier: V,
    requirement: Requirement,
) -> RequireApiKeyLayer<V> {
    RequireApiKeyLayer::new(verifier, requirement)
}

/// A per-route permission guard behind a router-wide [`RequireApiKeyLayer`]: checks the
/// already verified caller for `P` without verifying the key again.
///
/// ```
/// use axum::{Router, routing::post};
/// vault_axum::permission!(JobsCreate = "jobs:create");
///
/// let jobs: Router = Router::new()
///     .route("/jobs", post(|| async { "created" }))
///     .route_layer(vault_axum::require_permission::<JobsCreate>());
/// ```
pub fn require_permission<P: PermissionName + 'static>()
-> FromExtractorLayer<RequirePermission<P>, ()> {
    axum::middleware::from_extractor::<RequirePermission<P>>()
}

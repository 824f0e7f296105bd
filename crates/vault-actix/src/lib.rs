//! actix-web 4 integration of the Vault: the [`RequireApiKey`] middleware, the [`Caller`]
//! extractor and the [`RequirePermission`] per-handler check. Every decision (bearer parsing, verification, the rejection
//! table) is vault-core's [`Guard`](vault_core::Guard); this crate only translates, so an
//! actix server answers byte for byte like a tower or axum one.
//!
//! Receivers of signed callbacks wrap their routes in the [`VerifyCallback`] middleware and
//! take the [`VerifiedCallbackBody`] extractor: the payload is verified with vault-core's
//! `CallbackVerifier` before the handler runs, each message is handled once (a redelivery of
//! a processed one is acknowledged, one during its handling answers 409), and refusals are
//! the same problem+json answers as vault-axum's.
//!
//! ```
//! use actix_web::{App, HttpResponse, test, web};
//! use vault_actix::{Caller, GuardOptions, RequireApiKey};
//! use vault_core::testing::TestKeys;
//! use vault_core::{Environment, Requirement};
//!
//! async fn create_job(Caller(caller): Caller) -> HttpResponse {
//!     HttpResponse::Created().body(caller.workspace_id().to_string())
//! }
//!
//! # #[actix_web::main]
//! # async fn main() -> Result<(), vault_core::Error> {
//! let kit = TestKeys::new();
//! let create = Requirement::new("submit".parse()?, Environment::Production)
//!     .with_permission("jobs:create".parse()?);
//! let app = test::init_service(
//!     App::new().service(
//!         web::resource("/api/jobs")
//!             .wrap(RequireApiKey::new(kit.keys().clone(), create).realm("submit"))
//!             .route(web::post().to(create_job)),
//!     ),
//! )
//! .await;
//!
//! let anonymous = test::TestRequest::post().uri("/api/jobs").to_request();
//! assert_eq!(test::call_service(&app, anonymous).await.status(), 401);
//!
//! let token = kit.mint("submit", Environment::Production, &["jobs:create"]).await;
//! let request = test::TestRequest::post()
//!     .uri("/api/jobs")
//!     .insert_header(("Authorization", format!("Bearer {token}")))
//!     .to_request();
//! assert_eq!(test::call_service(&app, request).await.status(), 201);
//! # Ok(())
//! # }
//! ```

// Panic-freedom enforced, not hoped for: a justified site carries a commented `allow`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod callbacks;
mod extract;
mod middleware;
mod problem;
mod rejection;

pub use callbacks::{
    CallbackFuture, CallbackRefused, VerifiedCallbackBody, VerifyCallback, VerifyCallbackMiddleware,
};
pub use extract::{Caller, RequirePermission, require_permission};
pub use middleware::{RequireApiKey, RequireApiKeyMiddleware, ResponseFuture};
pub use problem::problem_response;
pub use rejection::AuthRejection;
pub use vault_core::guard::GuardOptions;
pub use vault_core::{PermissionName, permission};

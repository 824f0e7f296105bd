//! A tower [`Layer`](tower_layer::Layer) that enforces Vault API keys
//! (`Authorization: Bearer`) in front of any `http` 1.x service: hyper, axum, tonic.
//!
//! The check itself is vault-core's [`Guard`](vault_core::guard::Guard); this crate only
//! translates. On success the [`Principal`](vault_core::Principal) is put into the request
//! extensions and the inner service is called; otherwise the rejection (status,
//! `WWW-Authenticate`, problem+json, or gRPC status) is answered without calling it.
//!
//! For receivers of signed callbacks, [`VerifyCallbackLayer`] does the same with vault-core's
//! [`CallbackVerifier`](vault_core::callbacks::CallbackVerifier): the body is buffered up to a
//! limit and verified before the inner service runs.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use vault_core::testing::TestKeys;
//! use vault_core::{Environment, Principal, Requirement};
//! use vault_tower::RequireApiKeyLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let kit = TestKeys::new();
//! let create_jobs = Requirement::new("submit".parse()?, Environment::Production)
//!     .with_permission("jobs:create".parse()?);
//!
//! let service = ServiceBuilder::new()
//!     .layer(RequireApiKeyLayer::new(kit.keys().clone(), create_jobs))
//!     .service(service_fn(|request: Request<String>| async move {
//!         let caller = request.extensions().get::<Principal>().expect("set by the layer");
//!         Ok::<_, Infallible>(Response::new(caller.key_name().to_owned()))
//!     }));
//!
//! let token = kit.mint("submit", Environment::Production, &["jobs:create"]).await;
//! let request = Request::post("/jobs")
//!     .header("authorization", format!("Bearer {token}"))
//!     .body(String::new())?;
//! assert_eq!(service.clone().oneshot(request).await?.status(), StatusCode::OK);
//!
//! let anonymous = Request::post("/jobs").body(String::new())?;
//! let refused = service.oneshot(anonymous).await?;
//! assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(refused.headers()["www-authenticate"], r#"Bearer realm="api""#);
//! # Ok(()) }
//! ```

// Panic-freedom enforced, not hoped for: a justified site carries a commented `allow`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod callbacks;
mod format;
mod future;
mod layer;
mod problem;
mod service;

pub use callbacks::{CallbackFuture, VerifyCallback, VerifyCallbackLayer, verify_callback_body};
pub use format::{Grpc, Http, RejectionFormat};
pub use future::ResponseFuture;
pub use layer::RequireApiKeyLayer;
pub use problem::problem_response;
pub use service::RequireApiKey;
pub use vault_core::guard::GuardOptions;

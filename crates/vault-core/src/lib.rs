//! The Vault's domain and rules: API keys (issue, verify, rotate, revoke), bearer parsing,
//! the rejection table, and the store traits with an in-memory store. No web framework and
//! no database driver: adapters (`vault-tower`, `vault-axum`, `vault-actix`) and stores
//! (`vault-sqlx`) build on this crate.
//!
//! ```
//! use std::sync::Arc;
//! use vault_core::{ApiKeys, AuthError, Environment, MemoryStore, NewKey, Pepper, PermissionSet,
//!                  Requirement, UserId, WorkspaceId};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), vault_core::Error> {
//! let keys = ApiKeys::builder(Arc::new(MemoryStore::new()), &Pepper::generate()?).build();
//! let issued = keys.issue(NewKey {
//!     workspace_id: WorkspaceId::random(),
//!     product: "submit".parse()?,
//!     environment: Environment::Production,
//!     permissions: PermissionSet::parse(["jobs:read"])?,
//!     name: "reporting".into(),
//!     created_by: UserId::random(),
//!     expires_at: None,
//! }).await?;
//!
//! let create = Requirement::new("submit".parse()?, Environment::Production)
//!     .with_permission("jobs:create".parse()?);
//! let verdict = keys.verify(issued.expose_token(), &create).await;
//! assert!(matches!(verdict, Err(AuthError::InsufficientPermission(_))));
//! # Ok(()) }
//! ```

// Panic-freedom enforced, not hoped for: a justified site carries a commented `allow`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod access;
pub mod accounts;
pub mod audit;
pub mod bearer;
pub mod callbacks;
mod clock;
pub mod csrf;
mod digest;
mod environment;
mod error;
pub mod guard;
mod ids;
pub mod keys;
pub mod memory;
pub mod password;
mod permission;
pub mod permitted;
pub mod problem;
pub mod rejection;
pub mod request;
mod requirement;
mod services;
pub mod store;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod totp;
mod verdict;

pub use audit::{AuditEvent, AuditSink};
pub use clock::{Clock, ManualClock, SystemClock};
pub use environment::{Environment, EnvironmentSet};
pub use error::{BoxError, Error};
pub use guard::{Guard, GuardOptions};
pub use ids::{KeyId, ProductId, UserId, WorkspaceId};
pub use keys::{ApiKeys, IssuedKey, KeyMetadata, KeyPrefix, KeyStatus, NewKey, Pepper, VerifyKey};
pub use memory::MemoryStore;
pub use permission::{Permission, PermissionSet};
pub use permitted::{NotPermitted, PermissionName, Permitted};
pub use problem::Problem;
pub use rejection::{Realm, Rejection, RejectionBody};
pub use requirement::Requirement;
pub use services::{Services, ServicesBuilder, VaultStore};
pub use store::KeyStore;
pub use verdict::{AuthError, HeaderDefect, InvalidKeyReason, Principal};

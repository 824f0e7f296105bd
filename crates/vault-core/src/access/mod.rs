//! Access: workspaces and their members (owner, admin, member), invitations, groups, the
//! product catalogue the host application registers, subscriptions, product-role grants, the
//! access decision, and who may mint, rotate and revoke which API key.
//!
//! The rule (DESIGN.md "Access model"): a user may use permission P of product X in workspace
//! W only if they are a member of W, W subscribes to X, and a direct or group grant gives them
//! a role of X that holds P. Membership alone grants nothing.
//!
//! Every call names its [`Actor`] (the signed-in user and whether their session passed 2FA)
//! and is refused with a typed [`AccessDefect`] (inside [`crate::Error::Access`]) when the actor
//! lacks the right. Every change is recorded as an [`crate::AuditEvent`] named `access.*`.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), vault_core::Error> {
//! use std::sync::Arc;
//! use vault_core::access::{AccessControl, Catalog, Grantee, Product, ProductRole};
//! use vault_core::{MemoryStore, UserId};
//!
//! let catalog = Catalog::new([Product::new("submit")?
//!     .role(ProductRole::new("viewer", ["jobs:read"])?)
//!     .role(ProductRole::new("submitter", ["jobs:read", "jobs:create"])?)])?;
//! let access = AccessControl::builder(Arc::new(MemoryStore::new()), catalog).build();
//!
//! // In an application the actor comes from a verified session: `accounts.actor(&token)`.
//! let owner = vault_core::testing::actor(UserId::random(), true);
//! let workspace = access.create_workspace(&owner, "Acme").await?;
//! let submit = "submit".parse()?;
//! let jobs_read = "jobs:read".parse()?;
//!
//! // The owner is a member, yet membership alone grants no product.
//! assert!(access.check(&owner, workspace.id, &submit, &jobs_read).await.is_err());
//!
//! access.activate_product(&owner, workspace.id, &submit).await?;
//! access.grant(&owner, workspace.id, Grantee::User(owner.user_id()), &submit, &"viewer".parse()?).await?;
//! access.check(&owner, workspace.id, &submit, &jobs_read).await?;
//! # Ok(()) }
//! ```

mod actor;
mod catalog;
mod check;
mod defect;
mod grants;
mod groups;
mod ids;
mod invitations;
mod members;
mod minting;
mod roles;
mod service;
mod subscriptions;
mod workspaces;

pub use actor::Actor;
pub use catalog::{Catalog, Product, ProductRole, RoleName};
pub use check::{EffectivePermissions, EffectiveRole};
pub use defect::AccessDefect;
pub use grants::{Grant, GrantSource, Grantee, HeldGrant};
pub use groups::Group;
pub use ids::{GroupId, InvitationId};
pub use invitations::{Invitation, InvitationStatus, InvitationToken, IssuedInvitation};
pub use members::Member;
pub use minting::{KeyMinting, KeyRequest};
pub use roles::WorkspaceRole;
pub use service::{AccessControl, AccessControlBuilder};
pub use subscriptions::{StoreSubscriptions, Subscription, SubscriptionCheck};
pub use workspaces::{Membership, TwoFactorPolicy, Workspace};

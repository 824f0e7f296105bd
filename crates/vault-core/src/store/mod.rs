//! The store traits: what the services need from persistence. API keys have their own
//! [`KeyStore`] (the hot path of every request, kept outside transactions); accounts and
//! access are rows in small per-aggregate traits, read and written inside a [`Transaction`]
//! that a [`Store`] opens for a [`Scope`]. Every rule runs in vault-core; a store keeps rows.
//! `vault-sqlx` implements them for SQLite and PostgreSQL, [`crate::memory`] in memory.

mod grants;
mod groups;
mod invitations;
mod keys;
mod mail;
mod members;
mod sessions;
mod subscriptions;
mod throttle;
mod tokens;
mod transaction;
mod users;
mod workspaces;

pub use grants::GrantRows;
pub use groups::GroupRows;
pub use invitations::InvitationRows;
pub use keys::KeyStore;
pub use mail::MailRows;
pub use members::MemberRows;
pub use sessions::SessionRows;
pub use subscriptions::SubscriptionRows;
pub use throttle::ThrottleRows;
pub use tokens::TokenRows;
pub use transaction::{Scope, Store, Transaction, Tx};
pub use users::UserRows;
pub use workspaces::WorkspaceRows;

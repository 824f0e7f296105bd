//! The store traits: what the services need from persistence, one trait per aggregate.
//! `vault-sqlx` implements them for SQLite and PostgreSQL, [`crate::memory`] in memory.

mod access;
mod accounts;
mod keys;

pub use access::AccessStore;
pub use accounts::AccountStore;
pub use keys::KeyStore;

//! The store traits: what the services need from persistence, one trait per aggregate.
//! `vault-sqlx` implements them for SQLite and PostgreSQL, [`crate::memory`] in memory.

mod keys;

pub use keys::KeyStore;

//! SQL stores for the Vault: [`SqlStore`] implements [`vault_core::KeyStore`] and
//! [`vault_core::store::Store`] (accounts and access as rows, in transactions) on SQLite (one
//! file: the embedded default) or PostgreSQL (many app instances), chosen by URL, with
//! embedded migrations run at connect.
//! [`CachedKeyStore`] puts a bounded-time cache in front of key lookups, invalidated across
//! instances through PostgreSQL `LISTEN`/`NOTIFY`, with the id of every key in memory so a
//! forged key costs no round trip. [`SqlStore::spawn_usage_flusher`] writes the keys'
//! `last_used_at` in batches, off the verification path.
//!
//! ```no_run
//! use std::sync::Arc;
//! use vault_core::{ApiKeys, Pepper};
//! use vault_sqlx::{CachedKeyStore, KeyCacheConfig, SqlStore};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A file next to the app (created if missing), migrated to the current schema.
//! let store = SqlStore::connect("sqlite://vault.db").await?;
//! let cached = CachedKeyStore::listening(store.clone(), KeyCacheConfig::default());
//! let keys = ApiKeys::builder(Arc::new(cached), &Pepper::from_env("VAULT_PEPPER")?).build();
//! // `store` also keeps accounts and access: `Arc::new(store)` as a `vault_core::store::Store`.
//! # let _ = keys; Ok(()) }
//! ```
//!
//! Errors are [`SqlError`]; at the store traits they become [`vault_core::Error`]: an
//! unreachable, overloaded or timed-out database, or one that gave no answer within
//! [`StoreOptions::deadline`], is `StoreUnavailable` (verification answers 503 with
//! `Retry-After`), a taken identity is `Conflict`, anything else `Store`.

// Panic-freedom enforced, not hoped for: a justified site carries a commented `allow`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod arg;
mod cache;
mod deadline;
mod error;
mod key_index;
mod keys;
mod rows;
mod store;
mod transaction;
mod usage;

pub use cache::{CachedKeyStore, KeyCacheConfig};
pub use error::SqlError;
pub use keys::{KEY_CHANGES_CHANNEL, NEW_KEYS_CHANNEL};
pub use store::{BackendKind, SqlStore, StoreOptions};
pub use usage::UsageFlusher;

//! Persistence of accounts. (In progress.)

use async_trait::async_trait;

/// Persistence of accounts: implemented by the memory store and `vault-sqlx`.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {}

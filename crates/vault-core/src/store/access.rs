//! Persistence of access. (In progress.)

use async_trait::async_trait;

/// Persistence of access: implemented by the memory store and `vault-sqlx`.
#[async_trait]
pub trait AccessStore: Send + Sync + 'static {}

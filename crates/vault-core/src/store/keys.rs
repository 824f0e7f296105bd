//! Persistence of API keys.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Error;
use crate::ids::{KeyId, WorkspaceId};
use crate::keys::KeyRecord;

/// Persistence of API keys.
///
/// Failures to reach the store are [`Error::StoreUnavailable`]; verification turns them into
/// a 503, never a 401.
#[async_trait]
pub trait KeyStore: Send + Sync + 'static {
    /// Stores a new key. [`Error::Conflict`] if the id exists.
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error>;

    /// The key with this id, if any. The hot path of every API call.
    async fn find_key(&self, id: &KeyId) -> Result<Option<Arc<KeyRecord>>, Error>;

    /// The key with this id if the store can answer without I/O (memory, a warm cache);
    /// `None` means "ask [`KeyStore::find_key`]". Verification tries this first, so a hit
    /// costs no future and no allocation.
    fn find_key_now(&self, id: &KeyId) -> Option<Arc<KeyRecord>> {
        let _ = id;
        None
    }

    /// Every key of a workspace, oldest first.
    async fn list_keys(&self, workspace: WorkspaceId) -> Result<Vec<Arc<KeyRecord>>, Error>;

    /// Marks the key revoked at `at` (keeping an earlier revocation). `None` if unknown.
    async fn revoke_key(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<Option<Arc<KeyRecord>>, Error>;

    /// In one atomic step: sets the old key's expiry to `old_expires_at` and stores its
    /// successor. [`Error::KeyNotFound`] / [`Error::KeyRevoked`] if the old key is gone or
    /// revoked by then; [`Error::Conflict`] if the successor's id exists.
    async fn rotate_key(
        &self,
        old: &KeyId,
        old_expires_at: OffsetDateTime,
        successor: KeyRecord,
    ) -> Result<(), Error>;
}

//! API keys in memory.

use std::collections::hash_map::Entry;
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;
use rustc_hash::FxHashMap;
use time::OffsetDateTime;

use crate::Error;
use crate::ids::{KeyId, WorkspaceId};
use crate::keys::KeyRecord;
use crate::store::KeyStore;

use super::MemoryStore;

/// The key table.
///
/// Keys are indexed with the Fx hash: key ids are random and lookups never insert, so an
/// attacker choosing ids gains nothing, and the lookup is a few nanoseconds cheaper than
/// SipHash on the hot path.
#[derive(Debug, Default)]
pub(super) struct KeyTable {
    keys: RwLock<FxHashMap<KeyId, Arc<KeyRecord>>>,
}

#[async_trait]
impl KeyStore for MemoryStore {
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error> {
        let mut keys = self
            .keys
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match keys.entry(record.metadata.id) {
            Entry::Occupied(_) => Err(Error::Conflict(format!(
                "key {} exists",
                record.metadata.id
            ))),
            Entry::Vacant(slot) => {
                slot.insert(Arc::new(record));
                Ok(())
            }
        }
    }

    fn find_key_now(&self, id: &KeyId) -> Option<Arc<KeyRecord>> {
        // An unknown id is also a complete answer here, but `None` means "ask find_key",
        // which answers it the same way.
        let keys = self
            .keys
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        keys.get(id).cloned()
    }

    async fn find_key(&self, id: &KeyId) -> Result<Option<Arc<KeyRecord>>, Error> {
        let keys = self
            .keys
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        Ok(keys.get(id).cloned())
    }

    async fn list_keys(&self, workspace: WorkspaceId) -> Result<Vec<Arc<KeyRecord>>, Error> {
        let keys = self
            .keys
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut found: Vec<_> = keys
            .values()
            .filter(|r| r.metadata.workspace_id == workspace)
            .cloned()
            .collect();
        found.sort_by(|a, b| {
            (a.metadata.created_at, a.metadata.id).cmp(&(b.metadata.created_at, b.metadata.id))
        });
        Ok(found)
    }

    async fn revoke_key(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<Option<Arc<KeyRecord>>, Error> {
        let mut keys = self
            .keys
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(slot) = keys.get_mut(id) else {
            return Ok(None);
        };
        if slot.metadata.revoked_at.is_none() {
            let mut updated = KeyRecord::clone(slot);
            updated.metadata.revoked_at = Some(at);
            *slot = Arc::new(updated);
        }
        Ok(Some(Arc::clone(slot)))
    }

    async fn rotate_key(
        &self,
        old: &KeyId,
        old_expires_at: OffsetDateTime,
        successor: KeyRecord,
    ) -> Result<(), Error> {
        let mut keys = self
            .keys
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if keys.contains_key(&successor.metadata.id) {
            return Err(Error::Conflict(format!(
                "key {} exists",
                successor.metadata.id
            )));
        }
        let slot = keys.get_mut(old).ok_or(Error::KeyNotFound(*old))?;
        if slot.metadata.revoked_at.is_some() {
            return Err(Error::KeyRevoked(*old));
        }
        let mut updated = KeyRecord::clone(slot);
        updated.metadata.expires_at = Some(old_expires_at);
        *slot = Arc::new(updated);
        keys.insert(successor.metadata.id, Arc::new(successor));
        Ok(())
    }
}

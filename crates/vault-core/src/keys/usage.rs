//! [`UsageRecorder`]: when each key was last used, collected in memory on the verification
//! path and written by someone else in batches, so an accepted verification never waits on
//! a store write.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use time::OffsetDateTime;

use crate::ids::KeyId;

/// Pending key uses, the latest time per key, bounded in the number of keys.
///
/// [`crate::keys::ApiKeysBuilder::usage`] makes every accepted verification call
/// [`UsageRecorder::record`]: one map insert under a lock held for nothing else, no I/O, no
/// `.await`. A writer (for SQL, `vault_sqlx::SqlStore::spawn_usage_flusher`) takes the
/// batch with [`UsageRecorder::drain`] every few hundred milliseconds. When `capacity`
/// distinct keys are already pending, a use of another key is dropped and counted in
/// [`UsageRecorder::dropped`]: `last_used_at` is a hint, never worth stalling a request.
///
/// Cheap to clone: clones share the pending uses.
///
/// ```
/// use vault_core::KeyId;
/// use vault_core::keys::UsageRecorder;
///
/// let usage = UsageRecorder::new(10_000);
/// let key = KeyId::random()?;
/// let now = time::OffsetDateTime::now_utc();
/// usage.record(key, now);
/// usage.record(key, now - time::Duration::seconds(1)); // an older use changes nothing
/// assert_eq!(usage.drain(), [(key, now)]);
/// assert!(usage.drain().is_empty());
/// # Ok::<(), vault_core::Error>(())
/// ```
#[derive(Clone)]
pub struct UsageRecorder {
    shared: Arc<Shared>,
}

struct Shared {
    pending: Mutex<HashMap<KeyId, OffsetDateTime>>,
    capacity: usize,
    dropped: AtomicU64,
}

impl UsageRecorder {
    /// A recorder holding at most `capacity` distinct keys between drains (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                pending: Mutex::new(HashMap::new()),
                capacity: capacity.max(1),
                dropped: AtomicU64::new(0),
            }),
        }
    }

    /// Notes that `key` was used at `at`, keeping the latest time per key. Never waits on
    /// I/O; a use of a new key when the recorder is full is dropped.
    pub fn record(&self, key: KeyId, at: OffsetDateTime) {
        let mut pending = self.lock();
        let full = pending.len() >= self.shared.capacity;
        match pending.get_mut(&key) {
            Some(last) => *last = (*last).max(at),
            None if full => {
                drop(pending);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                pending.insert(key, at);
            }
        }
    }

    /// Takes every pending use, leaving the recorder empty.
    pub fn drain(&self) -> Vec<(KeyId, OffsetDateTime)> {
        let taken = std::mem::take(&mut *self.lock());
        taken.into_iter().collect()
    }

    /// How many keys have a use pending.
    pub fn pending(&self) -> usize {
        self.lock().len()
    }

    /// How many uses were dropped because the recorder was full, since it was made.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// The bound on pending keys.
    pub fn capacity(&self) -> usize {
        self.shared.capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<KeyId, OffsetDateTime>> {
        // A panic elsewhere cannot leave the map half-written: recover it.
        self.shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for UsageRecorder {
    /// Room for 100,000 distinct keys between drains.
    fn default() -> Self {
        Self::new(100_000)
    }
}

impl fmt::Debug for UsageRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageRecorder")
            .field("pending", &self.pending())
            .field("capacity", &self.shared.capacity)
            .field("dropped", &self.dropped())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2030-01-01 0:00 UTC);

    #[test]
    fn the_latest_use_of_each_key_is_kept() {
        let usage = UsageRecorder::new(8);
        let (a, b) = (KeyId::random().unwrap(), KeyId::random().unwrap());
        usage.record(a, T0 + Duration::seconds(2));
        usage.record(a, T0);
        usage.record(b, T0);
        usage.record(b, T0 + Duration::seconds(5));
        let mut batch = usage.drain();
        batch.sort();
        let mut expected = vec![
            (a, T0 + Duration::seconds(2)),
            (b, T0 + Duration::seconds(5)),
        ];
        expected.sort();
        assert_eq!(batch, expected);
        assert_eq!(usage.pending(), 0);
    }

    #[test]
    fn a_full_recorder_drops_new_keys_but_updates_pending_ones() {
        let usage = UsageRecorder::new(2);
        let keys: Vec<KeyId> = (0..3).map(|_| KeyId::random().unwrap()).collect();
        for key in &keys {
            usage.record(*key, T0);
        }
        assert_eq!((usage.pending(), usage.dropped()), (2, 1));
        usage.record(keys[0], T0 + Duration::seconds(1));
        assert_eq!(usage.dropped(), 1);
        assert_eq!(usage.drain().len(), 2);
        usage.record(keys[2], T0);
        assert_eq!(usage.pending(), 1, "room again after a drain");
    }
}

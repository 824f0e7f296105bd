//! [`KeyIndex`]: the id of every key in the store, in memory, so that a well-formed key whose
//! id nobody issued is refused without a store round trip. The checksum is public arithmetic:
//! anyone can mint such keys, each with a fresh random id, so a cache of unknown ids would not
//! help; a set of the known ones does.
//!
//! Exact (no false positives): a `HashSet` of the 12-byte ids in 16 shards, each under its own
//! read-write lock, loaded by a scan when the listener subscribes and kept in step by the
//! notifications of new keys. Memory: 13 bytes per bucket (the id and hashbrown's control
//! byte) at a load of 44–88 %, so 15–30 bytes per key: 26 MiB for a million keys. Ids
//! are only ever added (keys are revoked, never deleted; an id that is gone costs a lookup).

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use rustc_hash::FxBuildHasher;
use vault_core::KeyId;

/// Shards of the index and of the cache: enough that two cores rarely meet on one lock.
pub(crate) const SHARDS: usize = 16;

/// The shard of `id`, from the high bits of its FxHash (they are the best mixed).
pub(crate) fn shard_of(id: &KeyId) -> usize {
    (FxBuildHasher.hash_one(id) >> 60) as usize % SHARDS
}

pub(crate) struct KeyIndex {
    shards: Box<[RwLock<HashSet<KeyId, FxBuildHasher>>]>,
    /// Whether every id of the store is held: a scan ended since the listener subscribed,
    /// and the listener is still live (so no new key's notification was missed).
    complete: AtomicBool,
    budget: Budget,
}

impl KeyIndex {
    /// An empty, incomplete index that lets `unindexed_per_second` lookups of ids it does not
    /// hold through each second once it is complete.
    pub(crate) fn new(unindexed_per_second: u32) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            complete: AtomicBool::new(false),
            budget: Budget {
                per_second: unindexed_per_second,
                second: AtomicU64::new(u64::MAX),
                spent: AtomicU32::new(0),
            },
        }
    }

    pub(crate) fn insert(&self, id: KeyId) {
        self.shards[shard_of(&id)]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id);
    }

    pub(crate) fn contains(&self, id: &KeyId) -> bool {
        self.shards[shard_of(id)]
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(id)
    }

    pub(crate) fn set_complete(&self, complete: bool) {
        self.complete.store(complete, Ordering::SeqCst);
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.complete.load(Ordering::SeqCst)
    }

    /// Whether the store may hold `id`, so that it is worth asking: always while the index
    /// is incomplete; once complete, if the id is held, or else while this second's budget
    /// lasts (a key just issued by another instance, its notification still on the way).
    /// `now_ms` is any clock in milliseconds.
    pub(crate) fn may_exist(&self, id: &KeyId, now_ms: u64) -> bool {
        !self.is_complete() || self.contains(id) || self.budget.take(now_ms)
    }

    /// How many ids are held.
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

/// At most `per_second` lookups in each second of the clock (approximately: two threads
/// that start a second at once may each let one more through).
struct Budget {
    per_second: u32,
    second: AtomicU64,
    spent: AtomicU32,
}

impl Budget {
    fn take(&self, now_ms: u64) -> bool {
        if self.per_second == 0 {
            return false;
        }
        let second = now_ms / 1000;
        if self.second.load(Ordering::Acquire) != second
            && self.second.swap(second, Ordering::AcqRel) != second
        {
            self.spent.store(0, Ordering::Release);
        }
        self.spent.fetch_add(1, Ordering::AcqRel) < self.per_second
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_index_refuses_nothing() {
        let index = KeyIndex::new(0);
        assert!(index.may_exist(&KeyId::random().unwrap(), 0));
        index.set_complete(true);
        assert!(!index.may_exist(&KeyId::random().unwrap(), 0));
    }

    #[test]
    fn a_complete_index_admits_its_ids_and_a_few_others_a_second() {
        let index = KeyIndex::new(2);
        let known = KeyId::random().unwrap();
        index.insert(known);
        index.set_complete(true);
        for _ in 0..10 {
            assert!(index.may_exist(&known, 5_000));
        }
        let unknown = || KeyId::random().unwrap();
        assert!(index.may_exist(&unknown(), 5_000));
        assert!(index.may_exist(&unknown(), 5_999));
        assert!(
            !index.may_exist(&unknown(), 5_999),
            "the second's budget is spent"
        );
        assert!(
            index.may_exist(&unknown(), 6_000),
            "a new second, a new budget"
        );
        assert_eq!(index.len(), 1);
    }
}

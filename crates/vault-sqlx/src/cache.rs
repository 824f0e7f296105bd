//! [`CachedKeyStore`]: key records cached in front of any [`KeyStore`] for a bounded time, so
//! the hot path of an API call usually costs no database round trip.
//!
//! Invalidation: a revocation or rotation through the cache drops its entry at once; on
//! PostgreSQL every instance also listens for the `NOTIFY` the store sends in the same
//! transaction and drops its entry within milliseconds. The TTL bounds the damage of a lost
//! notification; while the listener is disconnected the cache serves nothing (reads go to
//! the database) and it is emptied when the listener reconnects.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rustc_hash::FxBuildHasher;
use sqlx::postgres::{PgListener, PgPoolOptions};
use time::OffsetDateTime;
use vault_core::keys::KeyRecord;
use vault_core::{Error, KeyId, KeyStore, WorkspaceId};

use crate::keys::KEY_CHANGES_CHANNEL;
use crate::store::{Backend, SqlStore};

/// Limits of a [`CachedKeyStore`].
#[derive(Clone, Copy, Debug)]
pub struct KeyCacheConfig {
    /// How long a record may be served from the cache: the longest a revocation made in
    /// another instance goes unseen if its notification is lost (default 30 s; kept to
    /// within about 20 ms).
    pub ttl: Duration,
    /// Most records kept (default 100,000; when full, expired records go first, then
    /// arbitrary ones).
    pub max_entries: u64,
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(30),
            max_entries: 100_000,
        }
    }
}

/// A [`KeyStore`] that caches [`KeyStore::find_key`] results of `S`.
///
/// Only found keys are cached: an unknown id always reaches the store, so a key issued by
/// another instance works at once and a flood of made-up ids cannot evict real keys.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use vault_core::{ApiKeys, Pepper};
/// use vault_sqlx::{CachedKeyStore, KeyCacheConfig, SqlStore};
///
/// let store = SqlStore::connect("postgres://postgres@127.0.0.1/vault").await?;
/// let cached = CachedKeyStore::listening(store, KeyCacheConfig::default());
/// let keys = ApiKeys::builder(Arc::new(cached), &Pepper::from_env("VAULT_PEPPER")?).build();
/// # let _ = keys; Ok(()) }
/// ```
pub struct CachedKeyStore<S> {
    inner: S,
    shared: Arc<Shared>,
}

struct Shared {
    cache: Entries,
    /// Bumped before every invalidation: a lookup that raced one does not keep its result.
    epoch: AtomicU64,
    /// Whether entries may be cached: always without a listener; with one, only while it is
    /// subscribed (otherwise a change in another instance could go unseen until the TTL).
    caching: AtomicBool,
    listener: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(task) = self
            .listener
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

impl Shared {
    fn invalidate(&self, id: &KeyId) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate(id);
    }

    fn invalidate_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cache.invalidate_all();
    }
}

impl<S: KeyStore> CachedKeyStore<S> {
    /// Caches in front of `inner`, invalidated only by changes made through this value (one
    /// instance, or several that accept `config.ttl` of staleness).
    pub fn new(inner: S, config: KeyCacheConfig) -> Self {
        Self::build(inner, config, true)
    }

    fn build(inner: S, config: KeyCacheConfig, caching: bool) -> Self {
        let cache = Entries::new(config);
        Self {
            inner,
            shared: Arc::new(Shared {
                cache,
                epoch: AtomicU64::new(0),
                caching: AtomicBool::new(caching),
                listener: Mutex::new(None),
            }),
        }
    }

    /// The store behind the cache.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Whether a record for `id` is cached now.
    pub fn is_cached(&self, id: &KeyId) -> bool {
        self.shared.cache.contains_key(id)
    }

    /// Whether lookups are being cached (with a listener: whether it is subscribed).
    pub fn is_caching(&self) -> bool {
        self.shared.caching.load(Ordering::SeqCst)
    }

    /// Drops the entry of `id`.
    pub fn invalidate(&self, id: &KeyId) {
        self.shared.invalidate(id);
    }

    /// Drops every entry.
    pub fn invalidate_all(&self) {
        self.shared.invalidate_all();
    }
}

impl CachedKeyStore<SqlStore> {
    /// Caches in front of `store`; on PostgreSQL also listens for other instances' key
    /// changes (a task on the current Tokio runtime with its own connection, reconnecting
    /// with backoff, ended when the last clone of the cache is dropped). On SQLite, which
    /// serves one machine, this is [`CachedKeyStore::new`].
    ///
    /// # Panics
    /// On PostgreSQL, outside a Tokio runtime.
    pub fn listening(store: SqlStore, config: KeyCacheConfig) -> Self {
        let Backend::Postgres { options, .. } = &store.backend else {
            return Self::new(store, config);
        };
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy_with(options.as_ref().clone());
        let cached = Self::build(store, config, false);
        let task = tokio::spawn(listen(Arc::downgrade(&cached.shared), pool));
        *cached
            .shared
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
        cached
    }
}

/// Keeps a subscription to [`KEY_CHANGES_CHANNEL`] and turns notifications into
/// invalidations; caching is off whenever the subscription is not known to be live.
async fn listen(shared: Weak<Shared>, pool: sqlx::PgPool) {
    const FIRST_BACKOFF: Duration = Duration::from_millis(100);
    const MAX_BACKOFF: Duration = Duration::from_secs(5);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let subscribed = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(KEY_CHANGES_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        match subscribed {
            Ok(mut listener) => {
                {
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    // Anything cached before now may have missed a notification.
                    shared.invalidate_all();
                    shared.caching.store(true, Ordering::SeqCst);
                }
                tracing::debug!("key cache listening for key changes");
                backoff = FIRST_BACKOFF;
                loop {
                    match listener.try_recv().await {
                        Ok(Some(note)) => {
                            let Some(shared) = shared.upgrade() else {
                                return;
                            };
                            match note.payload().parse::<KeyId>() {
                                Ok(id) => shared.invalidate(&id),
                                Err(_) => shared.invalidate_all(),
                            }
                        }
                        Ok(None) => {
                            tracing::warn!("key change listener lost its connection");
                            break;
                        }
                        Err(err) => {
                            tracing::warn!(error = %err, "key change listener failed");
                            break;
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "key change listener cannot subscribe"),
        }
        {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            shared.caching.store(false, Ordering::SeqCst);
            shared.invalidate_all();
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[async_trait]
impl<S: KeyStore> KeyStore for CachedKeyStore<S> {
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error> {
        let id = record.metadata.id;
        let result = self.inner.insert_key(record).await;
        self.shared.invalidate(&id);
        result
    }

    fn find_key_now(&self, id: &KeyId) -> Option<Arc<KeyRecord>> {
        // A hit needs no I/O: verification takes it without creating a future.
        self.shared.cache.get(id)
    }

    async fn find_key(&self, id: &KeyId) -> Result<Option<Arc<KeyRecord>>, Error> {
        let shared = &*self.shared;
        if let Some(hit) = shared.cache.get(id) {
            return Ok(Some(hit));
        }
        let epoch = shared.epoch.load(Ordering::SeqCst);
        let found = self.inner.find_key(id).await?;
        if let Some(record) = &found
            && shared.caching.load(Ordering::SeqCst)
        {
            shared.cache.insert(*id, Arc::clone(record));
            // An invalidation since the read began may concern this record: an invalidator
            // bumps the epoch before it removes, so one of the two removals wins.
            if shared.epoch.load(Ordering::SeqCst) != epoch {
                shared.cache.invalidate(id);
            }
        }
        Ok(found)
    }

    async fn list_keys(&self, workspace: WorkspaceId) -> Result<Vec<Arc<KeyRecord>>, Error> {
        self.inner.list_keys(workspace).await
    }

    async fn revoke_key(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<Option<Arc<KeyRecord>>, Error> {
        let result = self.inner.revoke_key(id, at).await;
        // Also on an error: the change may have committed before the answer was lost.
        self.shared.invalidate(id);
        result
    }

    async fn rotate_key(
        &self,
        old: &KeyId,
        old_expires_at: OffsetDateTime,
        successor: KeyRecord,
    ) -> Result<(), Error> {
        let result = self.inner.rotate_key(old, old_expires_at, successor).await;
        self.shared.invalidate(old);
        result
    }
}

impl<S: Clone> Clone for CachedKeyStore<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<S: std::fmt::Debug> std::fmt::Debug for CachedKeyStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedKeyStore")
            .field("inner", &self.inner)
            .field("entries", &self.shared.cache.entry_count())
            .field("caching", &self.is_caching_inner())
            .finish()
    }
}

impl<S> CachedKeyStore<S> {
    fn is_caching_inner(&self) -> bool {
        self.shared.caching.load(Ordering::SeqCst)
    }
}

/// The cached records: shards of a hash map, each under its own read-write lock, every entry
/// with its deadline. A hit is one shared lock, one hash lookup and one atomic load, with no
/// bookkeeping behind it (a general-purpose cache such as moka records every read for its
/// eviction policy and reads the clock, which together cost more than the rest of the
/// lookup). A full shard first drops its expired entries, then an arbitrary one: ids are
/// random, so this is close to random eviction, which suits a working set that fits (size
/// `max_entries` to it).
struct Entries {
    shards: Box<[RwLock<Shard>]>,
    per_shard: usize,
    ttl_ms: u64,
    clock: Arc<CoarseClock>,
}

type Shard = HashMap<KeyId, Entry, FxBuildHasher>;

struct Entry {
    record: Arc<KeyRecord>,
    /// On the [`CoarseClock`]'s scale.
    expires_ms: u64,
}

/// Enough shards that two cores rarely meet on one lock.
const SHARDS: usize = 16;

/// How often the coarse clock advances: an entry lives at most this much past its TTL.
const TICK: Duration = Duration::from_millis(20);

/// Milliseconds since the cache was made, advanced every [`TICK`] by a thread of its own,
/// so a hit reads an atomic instead of the system clock. The thread (a plain thread, so it
/// keeps ticking whatever happens to async runtimes) ends with the cache. If it cannot be
/// started, every read takes the precise time instead.
struct CoarseClock {
    start: Instant,
    now_ms: AtomicU64,
    ticking: AtomicBool,
}

impl CoarseClock {
    fn start() -> Arc<Self> {
        let clock = Arc::new(Self {
            start: Instant::now(),
            now_ms: AtomicU64::new(0),
            ticking: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&clock);
        let spawned = std::thread::Builder::new()
            .name("vault-key-cache-clock".into())
            .spawn(move || {
                while let Some(clock) = weak.upgrade() {
                    clock.now_ms.store(clock.precise_ms(), Ordering::Release);
                    drop(clock);
                    std::thread::sleep(TICK);
                }
            });
        clock.ticking.store(spawned.is_ok(), Ordering::Release);
        clock
    }

    fn precise_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Now, at most [`TICK`] (plus scheduling delay) behind.
    fn now_ms(&self) -> u64 {
        if self.ticking.load(Ordering::Relaxed) {
            self.now_ms.load(Ordering::Acquire)
        } else {
            self.precise_ms()
        }
    }
}

impl Entries {
    fn new(config: KeyCacheConfig) -> Self {
        let max = usize::try_from(config.max_entries)
            .unwrap_or(usize::MAX)
            .max(1);
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            per_shard: max.div_ceil(SHARDS),
            ttl_ms: u64::try_from(config.ttl.as_millis()).unwrap_or(u64::MAX),
            clock: CoarseClock::start(),
        }
    }

    fn shard(&self, id: &KeyId) -> &RwLock<Shard> {
        // The high bits: FxHash mixes them best.
        let hash = FxBuildHasher.hash_one(id);
        &self.shards[(hash >> 60) as usize % SHARDS]
    }

    fn get(&self, id: &KeyId) -> Option<Arc<KeyRecord>> {
        let shard = self
            .shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = shard.get(id)?;
        (entry.expires_ms > self.clock.now_ms()).then(|| Arc::clone(&entry.record))
    }

    fn insert(&self, id: KeyId, record: Arc<KeyRecord>) {
        // The precise time: the entry's life starts now, not up to a tick ago.
        let now_ms = self.clock.precise_ms();
        let mut shard = self
            .shard(&id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&id) {
            let coarse = self.clock.now_ms();
            shard.retain(|_, entry| entry.expires_ms > coarse);
            if shard.len() >= self.per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        let expires_ms = now_ms.saturating_add(self.ttl_ms);
        shard.insert(id, Entry { record, expires_ms });
    }

    fn invalidate(&self, id: &KeyId) {
        let mut shard = self
            .shard(id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        shard.remove(id);
    }

    fn invalidate_all(&self) {
        for shard in &self.shards {
            shard
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .clear();
        }
    }

    fn contains_key(&self, id: &KeyId) -> bool {
        self.get(id).is_some()
    }

    fn entry_count(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use vault_core::keys::KeyHash;
    use vault_core::{Environment, KeyMetadata, PermissionSet, UserId};

    use super::*;

    fn record() -> Arc<KeyRecord> {
        Arc::new(KeyRecord {
            metadata: KeyMetadata {
                id: KeyId::random().unwrap(),
                name: "k".into(),
                workspace_id: WorkspaceId::random(),
                product: "submit".parse().unwrap(),
                environment: Environment::Production,
                permissions: PermissionSet::parse(["jobs:read"]).unwrap(),
                created_by: UserId::random(),
                created_at: OffsetDateTime::UNIX_EPOCH,
                expires_at: None,
                revoked_at: None,
                last_used_at: None,
                rotated_from: None,
            },
            secret_hash: KeyHash::from_bytes([1; 32]),
        })
    }

    #[test]
    fn an_entry_is_served_until_its_ttl_and_not_after() {
        let entries = Entries::new(KeyCacheConfig {
            ttl: Duration::from_millis(100),
            max_entries: 10,
        });
        let r = record();
        entries.insert(r.metadata.id, Arc::clone(&r));
        assert!(entries.get(&r.metadata.id).is_some());
        std::thread::sleep(Duration::from_millis(100) + 3 * TICK);
        assert!(entries.get(&r.metadata.id).is_none());
    }

    #[test]
    fn the_cache_holds_at_most_its_bound() {
        let entries = Entries::new(KeyCacheConfig {
            ttl: Duration::from_secs(60),
            max_entries: 32,
        });
        for _ in 0..1_000 {
            let r = record();
            entries.insert(r.metadata.id, r);
        }
        assert!(entries.entry_count() <= 32);
        let kept = record();
        entries.insert(kept.metadata.id, Arc::clone(&kept));
        assert!(entries.contains_key(&kept.metadata.id));
        entries.invalidate(&kept.metadata.id);
        assert!(!entries.contains_key(&kept.metadata.id));
        entries.invalidate_all();
        assert_eq!(entries.entry_count(), 0);
    }
}

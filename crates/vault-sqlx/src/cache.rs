//! [`CachedKeyStore`]: key records cached in front of any [`KeyStore`] for a bounded time, so
//! the hot path of an API call usually costs no database round trip.
//!
//! Invalidation: a revocation or rotation through the cache drops its entry at once; on
//! PostgreSQL every instance also listens for the `NOTIFY` the store sends in the same
//! transaction and drops its entry within milliseconds. The TTL bounds the damage of a lost
//! notification. The listener pings its connection after a heartbeat of silence, so a link
//! that died without closing (a partition) is noticed within two heartbeats; whenever the
//! listener is not known to be live, an entry is served only up to the staleness bound after
//! it was read, older ones are read again (and answer 503 if the store cannot be reached);
//! the cache is emptied when the listener subscribes again.
//!
//! Unknown ids: on PostgreSQL the cache also keeps the id of every key in the store (a
//! [`KeyIndex`], loaded when the listener subscribes, told of new keys by their `NOTIFY`), so
//! a forged key whose id nobody issued is refused without a round trip.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rustc_hash::FxBuildHasher;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use time::OffsetDateTime;
use vault_core::keys::KeyRecord;
use vault_core::{Error, KeyId, KeyStore, WorkspaceId};

use crate::error::SqlError;
use crate::key_index::{KeyIndex, SHARDS, shard_of};
use crate::keys::{KEY_CHANGES_CHANNEL, NEW_KEYS_CHANNEL};
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
    /// How long after it was read a record may be served while the listener is not known
    /// to be live (before it first subscribes, after its connection failed or missed a
    /// heartbeat): the longest a revocation made elsewhere goes unseen once a dead link is
    /// noticed (default 5 s; never more than `ttl`). Older records are read again, so keys
    /// keep working for this long into an outage of the database and then answer 503;
    /// `Duration::ZERO` reads every key from the store until the listener is back.
    pub staleness: Duration,
    /// How long the listener waits in silence before it pings its connection, and how long
    /// it waits for the answer (default 1 s): a link that stops forwarding without closing
    /// is noticed within twice this. Each ping is one `SELECT 1` round trip.
    pub heartbeat: Duration,
    /// Whether to keep the id of every key in memory (with a listener only, on PostgreSQL;
    /// default `true`): a key whose id is not among them is refused without a store lookup.
    /// 15–30 bytes per key (26 MiB for a million). Until the listener has subscribed and
    /// read every id, and whenever it is not live, lookups go to the store as without it.
    pub index_key_ids: bool,
    /// Lookups of ids the index does not hold that still go to the store, per second
    /// (default 20): a key issued by another instance is in the index once its `NOTIFY`
    /// arrives (milliseconds); a request with it before then is looked up while this budget
    /// lasts, or refused as unknown. Forged keys spend the budget, so under a flood of them a
    /// key that new may be refused until its notification lands; a retry then succeeds.
    pub unindexed_lookups_per_second: u32,
}

impl Default for KeyCacheConfig {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(30),
            max_entries: 100_000,
            staleness: Duration::from_secs(5),
            heartbeat: Duration::from_secs(1),
            index_key_ids: true,
            unindexed_lookups_per_second: 20,
        }
    }
}

/// A [`KeyStore`] that caches [`KeyStore::find_key`] results of `S`.
///
/// Only found keys are cached, so a flood of made-up ids cannot evict real keys. With an
/// index of key ids ([`KeyCacheConfig::index_key_ids`]) an id the store does not hold is
/// refused without asking it; without one, an unknown id always reaches the store.
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
    /// Whether the listener is subscribed and its link answered within the last heartbeat
    /// (never without a listener). While it is not, entries are served for `staleness` only.
    listening: AtomicBool,
    ttl_ms: u64,
    staleness_ms: u64,
    /// Every key id of the store, when kept.
    index: Option<KeyIndex>,
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

    /// The listener's state: live, entries are served for the TTL (anything cached before
    /// may have missed a notification, so the cache starts empty); not live, for
    /// `staleness` after they were read, from this moment on.
    fn set_listening(&self, live: bool) {
        if live {
            self.invalidate_all();
            self.cache.set_max_age_ms(self.ttl_ms);
        } else {
            self.cache.set_max_age_ms(self.staleness_ms);
            // New keys' notifications may be missed from now on: the next subscription reads
            // every id again.
            if let Some(index) = &self.index {
                index.set_complete(false);
            }
        }
        self.listening.store(live, Ordering::SeqCst);
    }

    /// Tells the index of a key id the store holds or is about to.
    fn learn(&self, id: KeyId) {
        if let Some(index) = &self.index {
            index.insert(id);
        }
    }
}

impl<S: KeyStore> CachedKeyStore<S> {
    /// Caches in front of `inner`, invalidated only by changes made through this value (one
    /// instance, or several that accept `config.ttl` of staleness).
    pub fn new(inner: S, config: KeyCacheConfig) -> Self {
        Self::build(inner, config, false, false)
    }

    /// With `listener`, entries start at the staleness bound until it subscribes; with
    /// `indexed`, an empty, incomplete index of key ids (the listener fills it).
    fn build(inner: S, config: KeyCacheConfig, listener: bool, indexed: bool) -> Self {
        let ttl_ms = millis(config.ttl);
        let staleness_ms = millis(config.staleness).min(ttl_ms);
        let cache = Entries::new(&config, if listener { staleness_ms } else { ttl_ms });
        Self {
            inner,
            shared: Arc::new(Shared {
                cache,
                epoch: AtomicU64::new(0),
                listening: AtomicBool::new(false),
                ttl_ms,
                staleness_ms,
                index: indexed.then(|| KeyIndex::new(config.unindexed_lookups_per_second)),
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

    /// Whether the listener is subscribed and its link answered within the last heartbeat:
    /// then entries are served for the full TTL, otherwise for the staleness bound only.
    /// Always `false` without a listener ([`CachedKeyStore::new`]: entries live the TTL).
    pub fn is_listening(&self) -> bool {
        self.shared.listening.load(Ordering::SeqCst)
    }

    /// Whether the index of key ids holds every id of the store, so unknown ids are refused
    /// without a lookup (`false` without an index).
    pub fn is_index_complete(&self) -> bool {
        self.shared
            .index
            .as_ref()
            .is_some_and(KeyIndex::is_complete)
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
    /// changes (a task on the current Tokio runtime with its own connection, pinged every
    /// `config.heartbeat` of silence, reconnecting with backoff, ended when the last clone of
    /// the cache is dropped). On SQLite, which serves one machine, this is
    /// [`CachedKeyStore::new`].
    ///
    /// # Panics
    /// On PostgreSQL, outside a Tokio runtime.
    pub fn listening(store: SqlStore, config: KeyCacheConfig) -> Self {
        let Backend::Postgres { options, .. } = &store.backend else {
            return Self::new(store, config);
        };
        let link = Link {
            options: options.as_ref().clone(),
            store: store.clone(),
            heartbeat: config.heartbeat.max(MIN_HEARTBEAT),
        };
        let cached = Self::build(store, config, true, config.index_key_ids);
        let task = tokio::spawn(listen(Arc::downgrade(&cached.shared), link));
        *cached
            .shared
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
        cached
    }
}

/// The shortest heartbeat: a ping costs a round trip.
const MIN_HEARTBEAT: Duration = Duration::from_millis(10);

/// What the listener connects with.
struct Link {
    options: PgConnectOptions,
    /// For its deadline.
    store: SqlStore,
    heartbeat: Duration,
}

/// Keeps a subscription to [`KEY_CHANGES_CHANNEL`] and [`NEW_KEYS_CHANNEL`] and turns
/// notifications into invalidations and index entries; entries are served for the full TTL
/// only while the subscription is known to be live.
async fn listen(shared: Weak<Shared>, link: Link) {
    const FIRST_BACKOFF: Duration = Duration::from_millis(100);
    const MAX_BACKOFF: Duration = Duration::from_secs(5);
    let mut backoff = FIRST_BACKOFF;
    loop {
        // A pool for each subscription: dropping a listener sends `UNLISTEN` and waits for
        // the answer on its connection, which on a dead link takes as long as the link stays
        // dead; that wait must not hold the connection the next subscription needs.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(2))
            .connect_lazy_with(link.options.clone());
        let subscribed = link
            .store
            .deadline
            .start()
            .run(async {
                let mut listener = PgListener::connect_with(&pool).await?;
                // Reconnecting is this loop's work: it must know, to change how entries are
                // served.
                listener.eager_reconnect(false);
                listener
                    .listen_all([KEY_CHANGES_CHANNEL, NEW_KEYS_CHANNEL])
                    .await?;
                Ok::<_, sqlx::Error>(listener)
            })
            .await;
        match subscribed {
            Ok(listener) => {
                match shared.upgrade() {
                    Some(shared) => shared.set_listening(true),
                    None => return,
                }
                tracing::debug!("key cache listening for key changes");
                backoff = FIRST_BACKOFF;
                match follow(&shared, listener, &link).await {
                    Some(lost) => {
                        tracing::warn!(reason = %lost, "key change listener lost its link")
                    }
                    None => return,
                }
            }
            Err(err) => tracing::warn!(error = %err, "key change listener cannot subscribe"),
        }
        match shared.upgrade() {
            Some(shared) => shared.set_listening(false),
            None => return,
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Applies the notifications of a live subscription until its link fails: why it failed, or
/// `None` once the cache is gone. After a heartbeat of silence the link must answer a ping
/// within another heartbeat. Meanwhile the index of key ids (if kept) is read anew, again
/// a second after a failed attempt (until then unknown ids are looked up, as without it).
async fn follow(shared: &Weak<Shared>, mut listener: PgListener, link: &Link) -> Option<String> {
    const SCAN_RETRY: Duration = Duration::from_secs(1);
    let indexed = shared.upgrade()?.index.is_some();
    let scan = scan_key_ids(shared, &link.store, Duration::ZERO);
    tokio::pin!(scan);
    let mut scanning = indexed;
    loop {
        let next = tokio::select! {
            scanned = &mut scan, if scanning => {
                match scanned? {
                    Ok(count) => {
                        tracing::debug!(count, "every key id indexed");
                        scanning = false;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot read the key ids");
                        scan.set(scan_key_ids(shared, &link.store, SCAN_RETRY));
                    }
                }
                continue;
            }
            next = tokio::time::timeout(link.heartbeat, listener.try_recv()) => next,
        };
        match next {
            Ok(Ok(Some(note))) => {
                let cache = shared.upgrade()?;
                match note.payload().parse::<KeyId>() {
                    Ok(id) if note.channel() == NEW_KEYS_CHANNEL => cache.learn(id),
                    Ok(id) => {
                        cache.learn(id);
                        cache.invalidate(&id);
                    }
                    // Not ours: anything may have changed.
                    Err(_) => {
                        cache.invalidate_all();
                        if let Some(index) = &cache.index {
                            index.set_complete(false);
                            scan.set(scan_key_ids(shared, &link.store, Duration::ZERO));
                            scanning = true;
                        }
                    }
                }
            }
            Ok(Ok(None)) => return Some("connection closed".to_owned()),
            Ok(Err(err)) => return Some(err.to_string()),
            // Silence (waiting for a notification is cancel-safe): is the link still there?
            Err(_) => {
                let ping = sqlx::query("SELECT 1").execute(&mut listener);
                match tokio::time::timeout(link.heartbeat, ping).await {
                    Ok(Ok(_)) if shared.strong_count() == 0 => return None,
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => return Some(err.to_string()),
                    Err(_) => {
                        return Some(format!("no answer to a ping within {:?}", link.heartbeat));
                    }
                }
            }
        }
    }
}

/// After `delay`, reads every key id of the store into the index, then marks it complete:
/// how many ids it read, or `None` once the cache is gone. Started after subscribing, so a
/// key inserted meanwhile is either read here or announced to the listener.
async fn scan_key_ids(
    shared: &Weak<Shared>,
    store: &SqlStore,
    delay: Duration,
) -> Option<Result<usize, SqlError>> {
    const PAGE: u32 = 10_000;
    tokio::time::sleep(delay).await;
    let scanned = store
        .scan_key_ids(PAGE, |ids| match shared.upgrade() {
            Some(shared) => {
                ids.iter().for_each(|id| shared.learn(*id));
                true
            }
            None => false,
        })
        .await;
    let shared = shared.upgrade()?;
    let index = shared.index.as_ref()?;
    if scanned.is_ok() {
        index.set_complete(true);
    }
    Some(scanned)
}

#[async_trait]
impl<S: KeyStore> KeyStore for CachedKeyStore<S> {
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error> {
        let id = record.metadata.id;
        // Before the insert: the key must verify here from the moment it exists (an id held
        // for a failed insert costs a lookup, nothing more).
        self.shared.learn(id);
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
        if let Some(index) = &shared.index
            && !index.may_exist(id, shared.cache.clock.now_ms())
        {
            return Ok(None);
        }
        let epoch = shared.epoch.load(Ordering::SeqCst);
        // The record's age counts from before the read: it may be that old when it arrives.
        let read_ms = shared.cache.clock.precise_ms();
        let found = self.inner.find_key(id).await?;
        if let Some(record) = &found {
            // Found past the index (its notification still on the way): known from now on.
            shared.learn(*id);
            shared.cache.insert(*id, Arc::clone(record), read_ms);
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
        self.shared.learn(successor.metadata.id);
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
            .field("listening", &self.shared.listening.load(Ordering::SeqCst))
            .field(
                "indexed_key_ids",
                &self.shared.index.as_ref().map(KeyIndex::len),
            )
            .finish()
    }
}

/// The cached records: shards of a hash map, each under its own read-write lock, every entry
/// with the time it was read. A hit is one shared lock, one hash lookup and two atomic loads
/// (the clock, the longest age served now), with no
/// bookkeeping behind it (a general-purpose cache such as moka records every read for its
/// eviction policy and reads the clock, which together cost more than the rest of the
/// lookup). A full shard first drops its expired entries, then an arbitrary one: ids are
/// random, so this is close to random eviction, which suits a working set that fits (size
/// `max_entries` to it).
struct Entries {
    shards: Box<[RwLock<Shard>]>,
    per_shard: usize,
    /// The TTL, or the staleness bound while the listener is not live.
    max_age_ms: AtomicU64,
    clock: Arc<CoarseClock>,
}

type Shard = HashMap<KeyId, Entry, FxBuildHasher>;

struct Entry {
    record: Arc<KeyRecord>,
    /// When the store was asked for it, on the [`CoarseClock`]'s scale.
    read_ms: u64,
}

impl Entry {
    fn is_fresh(&self, now_ms: u64, max_age_ms: u64) -> bool {
        now_ms.saturating_sub(self.read_ms) < max_age_ms
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// How often the coarse clock advances: an entry lives at most this much past its age limit.
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
    fn new(config: &KeyCacheConfig, max_age_ms: u64) -> Self {
        let max = usize::try_from(config.max_entries)
            .unwrap_or(usize::MAX)
            .max(1);
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            per_shard: max.div_ceil(SHARDS),
            max_age_ms: AtomicU64::new(max_age_ms),
            clock: CoarseClock::start(),
        }
    }

    fn set_max_age_ms(&self, max_age_ms: u64) {
        self.max_age_ms.store(max_age_ms, Ordering::Release);
    }

    fn max_age_ms(&self) -> u64 {
        self.max_age_ms.load(Ordering::Acquire)
    }

    fn shard(&self, id: &KeyId) -> &RwLock<Shard> {
        &self.shards[shard_of(id)]
    }

    fn get(&self, id: &KeyId) -> Option<Arc<KeyRecord>> {
        let shard = self
            .shard(id)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = shard.get(id)?;
        entry
            .is_fresh(self.clock.now_ms(), self.max_age_ms())
            .then(|| Arc::clone(&entry.record))
    }

    /// Keeps `record`, read from the store at `read_ms` (the precise time, taken before the
    /// read: its age counts from then, not from up to a tick ago).
    fn insert(&self, id: KeyId, record: Arc<KeyRecord>, read_ms: u64) {
        let mut shard = self
            .shard(&id)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if shard.len() >= self.per_shard && !shard.contains_key(&id) {
            let (now_ms, max_age_ms) = (self.clock.now_ms(), self.max_age_ms());
            shard.retain(|_, entry| entry.is_fresh(now_ms, max_age_ms));
            if shard.len() >= self.per_shard
                && let Some(victim) = shard.keys().next().copied()
            {
                shard.remove(&victim);
            }
        }
        shard.insert(id, Entry { record, read_ms });
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

    fn entries(max_entries: u64, max_age: Duration) -> Entries {
        let config = KeyCacheConfig {
            max_entries,
            ..KeyCacheConfig::default()
        };
        Entries::new(&config, millis(max_age))
    }

    fn keep(entries: &Entries, r: &Arc<KeyRecord>) {
        entries.insert(r.metadata.id, Arc::clone(r), entries.clock.precise_ms());
    }

    #[test]
    fn an_entry_is_served_until_its_ttl_and_not_after() {
        let entries = entries(10, Duration::from_millis(100));
        let r = record();
        keep(&entries, &r);
        assert!(entries.get(&r.metadata.id).is_some());
        std::thread::sleep(Duration::from_millis(100) + 3 * TICK);
        assert!(entries.get(&r.metadata.id).is_none());
    }

    #[test]
    fn a_lower_age_limit_applies_at_once_to_entries_already_kept() {
        // Room for both in any shard: with one entry a shard (10 over 16 shards), two keys
        // landing in one shard (1 in 16) evicted the first, and the last check failed.
        let entries = entries(1_000, Duration::from_secs(60));
        let (old, young) = (record(), record());
        keep(&entries, &old);
        std::thread::sleep(Duration::from_millis(150) + 3 * TICK);
        keep(&entries, &young);
        // The listener is lost: the staleness bound replaces the TTL.
        entries.set_max_age_ms(150);
        assert!(entries.get(&old.metadata.id).is_none(), "read too long ago");
        assert!(entries.get(&young.metadata.id).is_some(), "read just now");
        entries.set_max_age_ms(0);
        assert!(
            entries.get(&young.metadata.id).is_none(),
            "a zero bound serves nothing"
        );
        // Back to the TTL: the old entry was kept, but `set_listening` empties the cache.
        entries.set_max_age_ms(60_000);
        assert!(entries.get(&old.metadata.id).is_some());
    }

    /// A memory store that counts its lookups.
    #[derive(Default)]
    struct Counting {
        store: vault_core::MemoryStore,
        lookups: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl KeyStore for Counting {
        async fn insert_key(&self, record: KeyRecord) -> Result<(), Error> {
            self.store.insert_key(record).await
        }
        async fn find_key(&self, id: &KeyId) -> Result<Option<Arc<KeyRecord>>, Error> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            self.store.find_key(id).await
        }
        async fn list_keys(&self, w: WorkspaceId) -> Result<Vec<Arc<KeyRecord>>, Error> {
            self.store.list_keys(w).await
        }
        async fn revoke_key(
            &self,
            id: &KeyId,
            at: OffsetDateTime,
        ) -> Result<Option<Arc<KeyRecord>>, Error> {
            self.store.revoke_key(id, at).await
        }
        async fn rotate_key(
            &self,
            old: &KeyId,
            at: OffsetDateTime,
            successor: KeyRecord,
        ) -> Result<(), Error> {
            self.store.rotate_key(old, at, successor).await
        }
    }

    #[tokio::test]
    async fn an_id_outside_a_complete_index_is_refused_without_a_lookup_past_the_budget() {
        let config = KeyCacheConfig {
            unindexed_lookups_per_second: 2,
            ..KeyCacheConfig::default()
        };
        let cached = CachedKeyStore::build(Counting::default(), config, false, true);
        let index = cached.shared.index.as_ref().unwrap();
        let lookups = || cached.inner().lookups.load(Ordering::SeqCst);
        // Issued elsewhere, its notification still on the way: not in the index.
        let elsewhere = record();
        let id = elsewhere.metadata.id;
        cached
            .inner()
            .store
            .insert_key((*elsewhere).clone())
            .await
            .unwrap();
        index.set_complete(true);

        assert!(
            cached.find_key(&id).await.unwrap().is_some(),
            "found within the budget"
        );
        assert!(index.contains(&id), "and known from now on");
        let forged = || KeyId::random().unwrap();
        assert!(cached.find_key(&forged()).await.unwrap().is_none());
        assert_eq!(lookups(), 2, "both within the budget of 2 a second");
        // The rest of this second (or the next, if it just began): refused unasked.
        for _ in 0..3 {
            let _ = cached.find_key(&forged()).await.unwrap();
        }
        assert!(lookups() <= 4, "{} lookups", lookups());
        let before = lookups();
        for _ in 0..100 {
            assert!(cached.find_key(&forged()).await.unwrap().is_none());
        }
        assert!(lookups() <= before + 2, "{} lookups", lookups() - before);

        // Issued here: in the index before it is in the store.
        let mine = record();
        cached.insert_key((*mine).clone()).await.unwrap();
        cached.invalidate(&mine.metadata.id);
        assert!(cached.find_key(&mine.metadata.id).await.unwrap().is_some());

        // Incomplete (the listener lost its link): every unknown id is asked again.
        index.set_complete(false);
        let before = lookups();
        for _ in 0..10 {
            assert!(cached.find_key(&forged()).await.unwrap().is_none());
        }
        assert_eq!(lookups(), before + 10);
    }

    #[test]
    fn the_cache_holds_at_most_its_bound() {
        let entries = entries(32, Duration::from_secs(60));
        for _ in 0..1_000 {
            keep(&entries, &record());
        }
        assert!(entries.entry_count() <= 32);
        let kept = record();
        keep(&entries, &kept);
        assert!(entries.contains_key(&kept.metadata.id));
        entries.invalidate(&kept.metadata.id);
        assert!(!entries.contains_key(&kept.metadata.id));
        entries.invalidate_all();
        assert_eq!(entries.entry_count(), 0);
    }
}

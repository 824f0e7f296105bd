//! `last_used_at` is written in batches off the request path: verification only hands the
//! use to a `UsageRecorder`; the flusher writes it to SQLite later.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use time::OffsetDateTime;
use time::macros::datetime;
use vault_core::keys::{KeyRecord, UsageRecorder};
use vault_core::{
    ApiKeys, Environment, Error, IssuedKey, KeyId, KeyStore, ManualClock, MemoryStore, NewKey,
    Pepper, PermissionSet, Requirement, UserId, WorkspaceId,
};
use vault_sqlx::SqlStore;

const T0: OffsetDateTime = datetime!(2030-01-02 03:04:05.123456789 UTC);

fn new_key() -> NewKey {
    NewKey {
        workspace_id: WorkspaceId::random(),
        product: "submit".parse().unwrap(),
        environment: Environment::Production,
        permissions: PermissionSet::parse(["jobs:read"]).unwrap(),
        name: "CI".into(),
        created_by: UserId::random(),
        expires_at: None,
    }
}

fn route() -> Requirement {
    Requirement::new("submit".parse().unwrap(), Environment::Production)
}

async fn sqlite() -> (tempfile::TempDir, SqlStore) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("vault.db").display());
    (dir, SqlStore::connect(&url).await.unwrap())
}

async fn last_used(store: &SqlStore, key: &IssuedKey) -> Option<OffsetDateTime> {
    let record = store.find_key(&key.metadata.id).await.unwrap().unwrap();
    record.metadata.last_used_at
}

#[tokio::test]
async fn verifications_reach_last_used_at_after_a_flush() {
    let (_dir, store) = sqlite().await;
    let clock = ManualClock::new(T0);
    let usage = UsageRecorder::new(1_000);
    let keys = ApiKeys::builder(Arc::new(store.clone()), &Pepper::generate().unwrap())
        .clock(clock.clone())
        .usage(usage.clone())
        .build();
    let key = keys.issue(new_key()).await.unwrap();
    let idle = keys.issue(new_key()).await.unwrap();
    let flusher = store.spawn_usage_flusher(usage.clone(), StdDuration::from_secs(3600));

    for _ in 0..10 {
        keys.verify(key.expose_token(), &route()).await.unwrap();
    }
    clock.advance(time::Duration::seconds(5));
    keys.verify(key.expose_token(), &route()).await.unwrap();
    // A refused verification is no use.
    let wrong = Requirement::new("manage".parse().unwrap(), Environment::Production);
    keys.verify(idle.expose_token(), &wrong).await.unwrap_err();

    assert_eq!(last_used(&store, &key).await, None, "nothing written yet");
    assert_eq!(usage.pending(), 1);
    assert_eq!(flusher.flush_now().await.unwrap(), 1);
    let expected = T0 + time::Duration::seconds(5);
    assert_eq!(last_used(&store, &key).await, Some(expected));
    assert_eq!(last_used(&store, &idle).await, None);

    // An older time arriving late never moves the stored one back.
    usage.record(key.metadata.id, T0);
    flusher.shutdown().await.unwrap();
    assert_eq!(last_used(&store, &key).await, Some(expected));
}

#[tokio::test]
async fn the_flusher_writes_on_its_own_every_interval() {
    let (_dir, store) = sqlite().await;
    let usage = UsageRecorder::default();
    let keys = ApiKeys::builder(Arc::new(store.clone()), &Pepper::generate().unwrap())
        .usage(usage.clone())
        .build();
    let key = keys.issue(new_key()).await.unwrap();
    let _flusher = store.spawn_usage_flusher(usage, StdDuration::from_millis(50));
    let before = OffsetDateTime::now_utc();
    keys.verify(key.expose_token(), &route()).await.unwrap();
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(5);
    loop {
        if let Some(at) = last_used(&store, &key).await {
            assert!(at >= before);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never flushed");
        tokio::time::sleep(StdDuration::from_millis(20)).await;
    }
}

/// A key store that counts every call, to show verification only reads.
#[derive(Default)]
struct Counting {
    inner: MemoryStore,
    reads: AtomicUsize,
    writes: AtomicUsize,
}

#[async_trait]
impl KeyStore for Counting {
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.insert_key(record).await
    }
    async fn find_key(&self, id: &KeyId) -> Result<Option<Arc<KeyRecord>>, Error> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.find_key(id).await
    }
    async fn list_keys(&self, workspace: WorkspaceId) -> Result<Vec<Arc<KeyRecord>>, Error> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.list_keys(workspace).await
    }
    async fn revoke_key(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<Option<Arc<KeyRecord>>, Error> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.revoke_key(id, at).await
    }
    async fn rotate_key(
        &self,
        old: &KeyId,
        old_expires_at: OffsetDateTime,
        successor: KeyRecord,
    ) -> Result<(), Error> {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.inner.rotate_key(old, old_expires_at, successor).await
    }
}

#[tokio::test]
async fn verification_writes_nothing_to_the_store() {
    let store = Arc::new(Counting::default());
    let usage = UsageRecorder::default();
    let keys = ApiKeys::builder(store.clone(), &Pepper::generate().unwrap())
        .usage(usage.clone())
        .build();
    let key = keys.issue(new_key()).await.unwrap();
    let writes_after_issue = store.writes.load(Ordering::Relaxed);
    for _ in 0..100 {
        keys.verify(key.expose_token(), &route()).await.unwrap();
    }
    assert_eq!(store.writes.load(Ordering::Relaxed), writes_after_issue);
    assert_eq!(store.reads.load(Ordering::Relaxed), 100, "one lookup each");
    assert_eq!(usage.pending(), 1);
}

#[tokio::test]
async fn a_failed_write_keeps_the_uses_for_the_next_round() {
    let (_dir, store) = sqlite().await;
    let usage = UsageRecorder::default();
    let keys = ApiKeys::builder(Arc::new(store.clone()), &Pepper::generate().unwrap())
        .usage(usage.clone())
        .build();
    let key = keys.issue(new_key()).await.unwrap();
    keys.verify(key.expose_token(), &route()).await.unwrap();
    let flusher = store.spawn_usage_flusher(usage.clone(), StdDuration::from_secs(3600));
    store.close().await;
    flusher.flush_now().await.unwrap_err();
    assert_eq!(usage.pending(), 1, "the use waits for the database");
}

//! The verification cache in front of the SQL key store: revocation is immediate in the
//! instance that revokes and reaches other instances on one PostgreSQL within a second;
//! an unreachable database answers `Unavailable`, never a panic or a 401.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::PgSchema;
use vault_core::{
    ApiKeys, AuthError, Environment, IssuedKey, NewKey, Pepper, PermissionSet, Requirement, UserId,
    WorkspaceId,
};
use vault_sqlx::{CachedKeyStore, KeyCacheConfig, SqlStore, StoreOptions};

fn pepper() -> Pepper {
    Pepper::from_bytes(vec![42; 32]).unwrap()
}

fn route() -> Requirement {
    Requirement::new("submit".parse().unwrap(), Environment::Production)
        .with_permission("jobs:create".parse().unwrap())
}

async fn issue(keys: &ApiKeys) -> IssuedKey {
    keys.issue(NewKey {
        workspace_id: WorkspaceId::random(),
        product: "submit".parse().unwrap(),
        environment: Environment::Production,
        permissions: PermissionSet::parse(["jobs:create"]).unwrap(),
        name: "CI".into(),
        created_by: UserId::random(),
        expires_at: None,
    })
    .await
    .unwrap()
}

/// Polls `$check` every 10 ms until it holds or `$limit` passes: how long it took, if it held.
macro_rules! within {
    ($limit:expr, $check:expr) => {{
        let start = Instant::now();
        let mut held = None;
        while start.elapsed() < $limit {
            if $check {
                held = Some(start.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        held
    }};
}

/// One app instance: its own pool, cache and listener.
async fn instance(url: &str) -> (Arc<CachedKeyStore<SqlStore>>, ApiKeys) {
    let store = SqlStore::connect(url).await.expect("connect");
    let config = KeyCacheConfig {
        ttl: Duration::from_secs(60),
        ..KeyCacheConfig::default()
    };
    let cached = Arc::new(CachedKeyStore::listening(store, config));
    let subscribed = within!(Duration::from_secs(5), cached.is_caching());
    assert!(subscribed.is_some(), "listener subscribed");
    let keys = ApiKeys::builder(cached.clone(), &pepper()).build();
    (cached, keys)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_reaches_another_instance_within_a_second() {
    let pg = PgSchema::create().await;
    let outcome = tokio::spawn({
        let url = pg.url.clone();
        async move {
            let (cache_a, a) = instance(&url).await;
            let (cache_b, b) = instance(&url).await;
            let key = issue(&a).await;
            let id = key.metadata.id;
            a.verify(key.expose_token(), &route())
                .await
                .expect("valid on A");
            b.verify(key.expose_token(), &route())
                .await
                .expect("valid on B");
            assert!(
                cache_a.is_cached(&id) && cache_b.is_cached(&id),
                "both caches warm"
            );

            a.revoke(&id).await.unwrap();
            assert!(
                a.verify(key.expose_token(), &route()).await.is_err(),
                "at once on A"
            );
            let seen = within!(
                Duration::from_secs(1),
                b.verify(key.expose_token(), &route()).await.is_err()
            );
            let seen = seen.expect("B rejects the revoked key within 1 s");
            eprintln!("revocation reached the other instance after {seen:?}");

            // Rotation too: the old key's new expiry reaches B's cache.
            let other = issue(&a).await;
            b.verify(other.expose_token(), &route()).await.unwrap();
            a.rotate(&other.metadata.id, time::Duration::ZERO)
                .await
                .unwrap();
            let seen = within!(
                Duration::from_secs(1),
                matches!(
                    b.verify(other.expose_token(), &route()).await,
                    Err(AuthError::ExpiredKey)
                )
            );
            assert!(seen.is_some(), "B sees the rotated key expire within 1 s");
        }
    })
    .await;
    pg.drop_now().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

#[tokio::test]
async fn revocation_through_the_cache_is_immediate_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("vault.db").display());
    let store = SqlStore::connect(&url).await.unwrap();
    let cached = Arc::new(CachedKeyStore::listening(store, KeyCacheConfig::default()));
    let keys = ApiKeys::builder(cached.clone(), &pepper()).build();
    let key = issue(&keys).await;
    keys.verify(key.expose_token(), &route()).await.unwrap();
    assert!(cached.is_cached(&key.metadata.id));
    keys.revoke(&key.metadata.id).await.unwrap();
    assert!(keys.verify(key.expose_token(), &route()).await.is_err());
}

#[tokio::test]
async fn a_closed_port_answers_unavailable() {
    let url = "postgres://postgres@127.0.0.1:1/x";
    let err = SqlStore::connect(url)
        .await
        .expect_err("nothing listens on port 1");
    assert!(err.is_unavailable(), "{err:?}");

    let options = StoreOptions {
        acquire_timeout: Duration::from_millis(500),
        ..StoreOptions::default()
    };
    let store = SqlStore::connect_lazy(url, &options).unwrap();
    let cached = CachedKeyStore::listening(store, KeyCacheConfig::default());
    let keys = ApiKeys::builder(Arc::new(cached), &pepper()).build();
    // A well-formed key (checksum and all) reaches the store lookup.
    let donor = ApiKeys::builder(Arc::new(vault_core::MemoryStore::new()), &pepper()).build();
    let key = issue(&donor).await;
    let verdict = keys.verify(key.expose_token(), &route()).await;
    assert_eq!(verdict.unwrap_err(), AuthError::Unavailable);
}

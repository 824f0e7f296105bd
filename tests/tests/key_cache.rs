//! The verification cache in front of the SQL key store: revocation is immediate in the
//! instance that revokes and reaches other instances on one PostgreSQL within a second;
//! an unreachable database answers `Unavailable`, never a panic or a 401; a listener whose
//! link stalls is noticed, and from then on entries past the staleness bound are read again;
//! a forged key (a fresh random id, a correct checksum) is refused without a round trip,
//! while keys issued elsewhere reach every instance's index of key ids.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use support::PgSchema;
use support::relay::Relay;
use vault_core::{
    ApiKeys, AuthError, Environment, InvalidKeyReason, IssuedKey, NewKey, Pepper, PermissionSet,
    Requirement, UserId, WorkspaceId,
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
    let subscribed = within!(Duration::from_secs(5), cached.is_listening());
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_listener_is_noticed_and_entries_past_the_staleness_bound_are_read_again() {
    const STALENESS: Duration = Duration::from_secs(3);
    const HEARTBEAT: Duration = Duration::from_millis(200);
    const DEADLINE: Duration = Duration::from_secs(1);
    let pg = PgSchema::create().await;
    let relay = Relay::start(&pg.url).await;
    let outcome = tokio::spawn({
        let url = pg.url.clone();
        async move {
            let (_, a) = instance(&url).await;
            // B reaches the database (pool and listener) through the relay only.
            let options = StoreOptions {
                deadline: DEADLINE,
                ..StoreOptions::default()
            };
            let store = SqlStore::connect_with(&relay.url(&url), &options)
                .await
                .unwrap();
            let config = KeyCacheConfig {
                ttl: Duration::from_secs(60),
                staleness: STALENESS,
                heartbeat: HEARTBEAT,
                ..KeyCacheConfig::default()
            };
            let cache_b = Arc::new(CachedKeyStore::listening(store, config));
            assert!(within!(Duration::from_secs(5), cache_b.is_listening()).is_some());
            let b = ApiKeys::builder(cache_b.clone(), &pepper()).build();
            let key = issue(&a).await;
            let read_at = Instant::now();
            b.verify(key.expose_token(), &route())
                .await
                .expect("valid on B");
            assert!(cache_b.is_cached(&key.metadata.id));

            relay.pause();
            let noticed = within!(4 * HEARTBEAT, !cache_b.is_listening());
            let noticed = noticed.expect("the dead link is noticed within two heartbeats");
            eprintln!("B noticed the stalled link after {noticed:?}");
            // Revoked where the database is reachable; B cannot hear of it.
            a.revoke(&key.metadata.id).await.unwrap();
            if read_at.elapsed() + Duration::from_millis(500) < STALENESS {
                b.verify(key.expose_token(), &route())
                    .await
                    .expect("a fresh entry is still served");
            }

            let wait = STALENESS.saturating_sub(read_at.elapsed());
            tokio::time::sleep(wait + Duration::from_millis(50)).await;
            let start = Instant::now();
            let verdict = b.verify(key.expose_token(), &route()).await;
            assert_eq!(
                verdict.unwrap_err(),
                AuthError::Unavailable,
                "past the staleness bound the entry is read again, and the store is stalled"
            );
            assert!(start.elapsed() < DEADLINE + Duration::from_millis(750));

            relay.unpause();
            let seen = within!(
                Duration::from_secs(10),
                matches!(
                    b.verify(key.expose_token(), &route()).await,
                    Err(AuthError::InvalidKey(_))
                )
            );
            assert!(
                seen.is_some(),
                "B sees the revocation once the link is back"
            );
            assert!(within!(Duration::from_secs(10), cache_b.is_listening()).is_some());
        }
    })
    .await;
    pg.drop_now().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_key_is_refused_without_a_round_trip_and_keys_issued_elsewhere_verify() {
    const DEADLINE: Duration = Duration::from_secs(1);
    let unknown = Err(AuthError::InvalidKey(InvalidKeyReason::UnknownKey));
    let pg = PgSchema::create().await;
    let relay = Relay::start(&pg.url).await;
    let outcome = tokio::spawn({
        let url = pg.url.clone();
        async move {
            let (_, a) = instance(&url).await;
            let before_b = issue(&a).await;
            // B reaches the database through the relay; it never looks up an id its index
            // does not hold, and its heartbeat is too slow to notice the stall below.
            let options = StoreOptions {
                deadline: DEADLINE,
                ..StoreOptions::default()
            };
            let store = SqlStore::connect_with(&relay.url(&url), &options)
                .await
                .unwrap();
            let config = KeyCacheConfig {
                heartbeat: Duration::from_secs(60),
                unindexed_lookups_per_second: 0,
                ..KeyCacheConfig::default()
            };
            let cache_b = Arc::new(CachedKeyStore::listening(store, config));
            let indexed = within!(Duration::from_secs(5), cache_b.is_index_complete());
            assert!(indexed.is_some(), "B read every key id");
            let b = ApiKeys::builder(cache_b.clone(), &pepper()).build();

            b.verify(before_b.expose_token(), &route())
                .await
                .expect("a key that existed when B started is in its index");
            // Announced by NOTIFY: with no lookups of unindexed ids, the only way B knows.
            let fresh = issue(&a).await;
            let seen = within!(
                Duration::from_secs(1),
                b.verify(fresh.expose_token(), &route()).await.is_ok()
            );
            let seen = seen.expect("a key issued on A verifies on B within a second");
            eprintln!("a key issued on A verified on B after {seen:?}");
            let successor = a
                .rotate(&fresh.metadata.id, time::Duration::hours(1))
                .await
                .unwrap();
            let seen = within!(
                Duration::from_secs(1),
                b.verify(successor.expose_token(), &route()).await.is_ok()
            );
            assert!(seen.is_some(), "a successor made on A verifies on B");
            assert_eq!(
                b.verify(&support::forged::key(), &route()).await.map(drop),
                unknown
            );

            // A round trip would now wait for the deadline and answer `Unavailable`.
            relay.pause();
            let start = Instant::now();
            for _ in 0..100 {
                let verdict = b.verify(&support::forged::key(), &route()).await;
                assert_eq!(verdict.map(drop), unknown);
            }
            let took = start.elapsed();
            assert!(took < DEADLINE, "100 forged keys took {took:?}");
            eprintln!("100 forged keys refused in {took:?} while the link stalled");
            relay.unpause();
        }
    })
    .await;
    pg.drop_now().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

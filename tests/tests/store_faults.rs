//! Faults of the database, through a relay in front of PostgreSQL: while it cannot be reached
//! (the relay stopped, every connection dropped) verification answers `Unavailable`, promptly
//! and without a panic, and the same store recovers by itself; while the link stalls (the
//! relay paused, connections open but nothing forwarded) every store call answers
//! `Unavailable` within the store's deadline, and the store recovers when the link does.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::Connection;
use support::PgSchema;
use support::relay::Relay;
use tokio::task::JoinSet;
use vault_core::store::{Scope, Store};
use vault_core::{
    ApiKeys, AuthError, Environment, Error, IssuedKey, NewKey, Pepper, PermissionSet, Requirement,
    UserId, WorkspaceId,
};
use vault_sqlx::{SqlStore, StoreOptions};

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

fn route() -> Requirement {
    Requirement::new("submit".parse().unwrap(), Environment::Production)
}

/// Verifies until the key is accepted again (at most 10 s): how long that took.
async fn recovery(keys: &ApiKeys, key: &IssuedKey) -> Duration {
    let start = Instant::now();
    loop {
        match keys.verify(key.expose_token(), &route()).await {
            Ok(_) => return start.elapsed(),
            Err(AuthError::Unavailable) if start.elapsed() < Duration::from_secs(10) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(other) => panic!("no recovery: {other:?}"),
        }
    }
}

/// Runs `case` with a fresh schema and a relay to its server, then drops the schema.
async fn with_relay<F, Fut>(case: F)
where
    F: FnOnce(String, Relay) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let pg = PgSchema::create().await;
    let relay = Relay::start(&pg.url).await;
    let outcome = tokio::spawn(case(pg.url.clone(), relay)).await;
    pg.drop_now().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_is_unavailable_while_the_database_is_down_and_recovers() {
    with_relay(|url, mut relay| async move {
        let options = StoreOptions {
            acquire_timeout: Duration::from_millis(500),
            statement_timeout: Duration::from_secs(1),
            ..StoreOptions::default()
        };
        let store = SqlStore::connect_with(&relay.url(&url), &options)
            .await
            .unwrap();
        let keys = ApiKeys::builder(Arc::new(store), &Pepper::generate().unwrap()).build();
        let key = issue(&keys).await;
        keys.verify(key.expose_token(), &route()).await.expect("up");

        relay.stop().await;
        for _ in 0..3 {
            let start = Instant::now();
            let verdict = keys.verify(key.expose_token(), &route()).await;
            assert_eq!(verdict.unwrap_err(), AuthError::Unavailable);
            assert!(
                start.elapsed() < Duration::from_secs(3),
                "{:?}",
                start.elapsed()
            );
        }

        relay.resume();
        let took = recovery(&keys, &key).await;
        eprintln!("recovered {took:?} after the database returned");
        relay.stop().await;
    })
    .await;
}

/// The deadline of the stalled-link tests, and how much later than it an answer may come
/// (scheduling on a loaded 2-core machine).
const DEADLINE: Duration = Duration::from_secs(1);
const SLACK: Duration = Duration::from_millis(750);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_verification_in_flight_answers_unavailable_within_the_deadline_while_the_link_stalls()
 {
    with_relay(|url, relay| async move {
        let options = StoreOptions {
            deadline: DEADLINE,
            ..StoreOptions::default()
        };
        let store = SqlStore::connect_with(&relay.url(&url), &options)
            .await
            .unwrap();
        // No cache: every verification is a round trip.
        let keys = ApiKeys::builder(Arc::new(store), &Pepper::generate().unwrap()).build();
        let key = issue(&keys).await;
        keys.verify(key.expose_token(), &route()).await.expect("up");

        // Queries already sent when the stall begins: the table is locked (directly, not
        // through the relay), so the lookups wait in the database, each on a connection of
        // the pool; then the link stops and the lock goes, so their answers never arrive.
        let mut locker = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("BEGIN; LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
            .execute(&mut locker)
            .await
            .unwrap();
        let mut in_flight = JoinSet::new();
        for _ in 0..16 {
            let (keys, token) = (keys.clone(), key.expose_token().to_owned());
            in_flight.spawn(async move {
                let start = Instant::now();
                let verdict = keys.verify(&token, &route()).await;
                (verdict.map(|_| ()), start.elapsed())
            });
        }
        let waiting = blocked_by(&url, &mut locker, 8).await;
        assert_eq!(
            waiting, 8,
            "a lookup in the database on every pooled connection"
        );
        relay.pause();
        sqlx::raw_sql("COMMIT").execute(&mut locker).await.unwrap();

        // Far past the deadline, but long before the pause ends: a call with no bound of its
        // own would still be waiting.
        let answers = tokio::time::timeout(DEADLINE * 4, in_flight.join_all())
            .await
            .expect("every verification answered while the link was still stalled");
        for (verdict, took) in &answers {
            assert_eq!(*verdict, Err(AuthError::Unavailable));
            assert!(*took < DEADLINE + SLACK, "answered after {took:?}");
        }
        let slowest = answers.iter().map(|(_, took)| *took).max().unwrap();
        eprintln!("16 verifications in flight answered 503 within {slowest:?}");

        relay.unpause();
        let took = recovery(&keys, &key).await;
        eprintln!("recovered {took:?} after the link forwarded again");
    })
    .await;
}

/// Polls (for at most 5 s) until `want` sessions wait for a lock `locker` holds: how many do.
async fn blocked_by(url: &str, locker: &mut sqlx::PgConnection, want: i64) -> i64 {
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *locker)
        .await
        .unwrap();
    // Another session: one transaction sees one snapshot of pg_stat_activity.
    let mut watcher = sqlx::PgConnection::connect(url).await.unwrap();
    let start = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
        )
        .bind(pid)
        .fetch_one(&mut watcher)
        .await
        .unwrap();
        if waiting >= want || start.elapsed() > Duration::from_secs(5) {
            return waiting;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `call` while the link stalls: it must answer `StoreUnavailable` within the deadline.
async fn unavailable_in_time<T: std::fmt::Debug>(
    what: &str,
    call: impl Future<Output = Result<T, Error>>,
) {
    let start = Instant::now();
    let outcome = tokio::time::timeout(DEADLINE * 4, call)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer while the link stalled"));
    assert!(
        matches!(outcome, Err(Error::StoreUnavailable(_))),
        "{what}: {outcome:?}"
    );
    let took = start.elapsed();
    assert!(took < DEADLINE + SLACK, "{what}: answered after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_and_read_views_answer_unavailable_within_the_deadline_while_the_link_stalls()
{
    with_relay(|url, relay| async move {
        let options = StoreOptions {
            deadline: DEADLINE,
            ..StoreOptions::default()
        };
        let store = SqlStore::connect_with(&relay.url(&url), &options)
            .await
            .unwrap();
        let user = UserId::random();
        // Begun while the link works; its statements and commit come after the stall began.
        let mut open = store.begin(Scope::user(user)).await.unwrap();
        let open_too = store.begin(Scope::user(UserId::random())).await.unwrap();
        let mut view = store.read().await.unwrap();
        view.user(user)
            .await
            .expect("a read view works while the link does");

        relay.pause();
        unavailable_in_time("a transaction's statement", open.user(user)).await;
        unavailable_in_time("a commit", open_too.commit()).await;
        unavailable_in_time("a read view's statement", view.user(user)).await;
        unavailable_in_time("a begin with its locks", async {
            store.begin(Scope::user(user)).await.map(drop)
        })
        .await;
        drop(open);

        relay.unpause();
        let start = Instant::now();
        loop {
            match store.read().await.unwrap().user(user).await {
                Ok(_) => break,
                Err(Error::StoreUnavailable(_)) if start.elapsed() < Duration::from_secs(10) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(other) => panic!("no recovery: {other:?}"),
            }
        }
    })
    .await;
}

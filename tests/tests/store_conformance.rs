//! The key store suite: every documented behaviour of `KeyStore` and the races the database
//! must settle, run against the memory store, SQLite (a temp file) and PostgreSQL (a schema
//! of its own per test, dropped at the end); and that data survives a reconnect. Accounts
//! and access rows have vault-core's row suite (`row_conformance.rs`).
//! PostgreSQL must be reachable (`VAULT_TEST_POSTGRES_URL`): without it these tests fail.

mod support;

use std::sync::Arc;

use support::{Ctx, Kind, Stores, run};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use vault_core::accounts::{Email, SecretHash, SessionRecord, User};
use vault_core::keys::{KeyHash, KeyRecord};
use vault_core::store::Scope;
use vault_core::{
    ApiKeys, Environment, Error, KeyId, KeyMetadata, NewKey, Pepper, PermissionSet, Requirement,
    UserId, WorkspaceId,
};

/// A fixed instant with a nanosecond part, so exact round trips are checked.
const T0: OffsetDateTime = datetime!(2030-01-02 03:04:05.123456789 UTC);

fn key(workspace: WorkspaceId, created_at: OffsetDateTime) -> KeyRecord {
    KeyRecord {
        metadata: KeyMetadata {
            id: KeyId::random().unwrap(),
            name: "CI deploys".into(),
            workspace_id: workspace,
            product: "submit".parse().unwrap(),
            environment: Environment::Production,
            permissions: PermissionSet::parse(["jobs:read", "jobs:create"]).unwrap(),
            created_by: UserId::random(),
            created_at,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            rotated_from: None,
        },
        secret_hash: KeyHash::from_bytes(rand_bytes()),
    }
}

fn rand_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out
}

// ---------------------------------------------------------------- keys

async fn key_round_trips_exactly(ctx: Ctx) {
    let s = &*ctx.store;
    let mut record = key(WorkspaceId::random(), T0);
    record.metadata.expires_at = Some(T0 + Duration::days(90));
    record.metadata.last_used_at = Some(T0 + Duration::nanoseconds(7));
    record.metadata.rotated_from = Some(KeyId::random().unwrap());
    s.insert_key(record.clone()).await.unwrap();
    let found = s
        .find_key(&record.metadata.id)
        .await
        .unwrap()
        .expect("found");
    assert_eq!(*found, record);
    assert!(
        s.find_key(&KeyId::random().unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

async fn inserting_an_existing_key_id_is_a_conflict(ctx: Ctx) {
    let s = &*ctx.store;
    let record = key(WorkspaceId::random(), T0);
    s.insert_key(record.clone()).await.unwrap();
    let mut other = key(WorkspaceId::random(), T0);
    other.metadata.id = record.metadata.id;
    assert!(matches!(s.insert_key(other).await, Err(Error::Conflict(_))));
    assert_eq!(
        *s.find_key(&record.metadata.id).await.unwrap().unwrap(),
        record
    );
}

async fn keys_are_listed_per_workspace_oldest_first(ctx: Ctx) {
    let s = &*ctx.store;
    let (ws, other) = (WorkspaceId::random(), WorkspaceId::random());
    let late = key(ws, T0 + Duration::seconds(2));
    let early = key(ws, T0);
    let middle = key(ws, T0 + Duration::nanoseconds(1));
    for r in [&late, &early, &middle, &key(other, T0)] {
        s.insert_key(r.clone()).await.unwrap();
    }
    let ids: Vec<_> = s
        .list_keys(ws)
        .await
        .unwrap()
        .iter()
        .map(|r| r.metadata.id)
        .collect();
    assert_eq!(
        ids,
        [early.metadata.id, middle.metadata.id, late.metadata.id]
    );
    assert!(s.list_keys(WorkspaceId::random()).await.unwrap().is_empty());
}

async fn revocation_keeps_the_first_time(ctx: Ctx) {
    let s = &*ctx.store;
    let record = key(WorkspaceId::random(), T0);
    let id = record.metadata.id;
    s.insert_key(record).await.unwrap();
    let first = s
        .revoke_key(&id, T0 + Duration::hours(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.metadata.revoked_at, Some(T0 + Duration::hours(1)));
    let again = s
        .revoke_key(&id, T0 + Duration::hours(2))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.metadata.revoked_at, Some(T0 + Duration::hours(1)));
    let stored = s.find_key(&id).await.unwrap().unwrap();
    assert_eq!(stored.metadata.revoked_at, Some(T0 + Duration::hours(1)));
    assert!(
        s.revoke_key(&KeyId::random().unwrap(), T0)
            .await
            .unwrap()
            .is_none()
    );
}

async fn rotation_moves_the_old_expiry_and_stores_the_successor(ctx: Ctx) {
    let s = &*ctx.store;
    let ws = WorkspaceId::random();
    let old = key(ws, T0);
    let old_id = old.metadata.id;
    s.insert_key(old.clone()).await.unwrap();
    let mut successor = key(ws, T0 + Duration::hours(1));
    successor.metadata.rotated_from = Some(old_id);
    let until = T0 + Duration::hours(25);
    s.rotate_key(&old_id, until, successor.clone())
        .await
        .unwrap();
    let stored = s.find_key(&old_id).await.unwrap().unwrap();
    assert_eq!(stored.metadata.expires_at, Some(until));
    assert_eq!(
        *s.find_key(&successor.metadata.id).await.unwrap().unwrap(),
        successor
    );

    // A successor whose id exists changes nothing: one atomic step.
    let mut clash = key(ws, T0);
    clash.metadata.id = successor.metadata.id;
    let later = T0 + Duration::days(9);
    assert!(matches!(
        s.rotate_key(&old_id, later, clash).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        s.find_key(&old_id)
            .await
            .unwrap()
            .unwrap()
            .metadata
            .expires_at,
        Some(until)
    );

    let unknown = KeyId::random().unwrap();
    assert!(matches!(
        s.rotate_key(&unknown, until, key(ws, T0)).await,
        Err(Error::KeyNotFound(id)) if id == unknown
    ));
    s.revoke_key(&old_id, T0).await.unwrap();
    let orphan = key(ws, T0);
    let orphan_id = orphan.metadata.id;
    assert!(matches!(
        s.rotate_key(&old_id, until, orphan).await,
        Err(Error::KeyRevoked(id)) if id == old_id
    ));
    assert!(
        s.find_key(&orphan_id).await.unwrap().is_none(),
        "no successor of a revoked key"
    );
}

async fn concurrent_key_inserts_never_collide(ctx: Ctx) {
    let ws = WorkspaceId::random();
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let s = Arc::clone(&ctx.store);
        tasks.push(tokio::spawn(async move { s.insert_key(key(ws, T0)).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(ctx.store.list_keys(ws).await.unwrap().len(), 40);

    // One id offered by many at once: exactly one insert wins.
    let contested = key(ws, T0);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (s, r) = (Arc::clone(&ctx.store), contested.clone());
        tasks.push(tokio::spawn(async move { s.insert_key(r).await }));
    }
    let mut won = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => won += 1,
            Err(Error::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
}

async fn api_keys_work_end_to_end_over_the_store(ctx: Ctx) {
    let keys = ApiKeys::builder(
        Arc::new(StoreKeys(Arc::clone(&ctx.store))),
        &Pepper::generate().unwrap(),
    )
    .build();
    let issued = keys
        .issue(NewKey {
            workspace_id: WorkspaceId::random(),
            product: "submit".parse().unwrap(),
            environment: Environment::Production,
            permissions: PermissionSet::parse(["jobs:create"]).unwrap(),
            name: "CI".into(),
            created_by: UserId::random(),
            expires_at: None,
        })
        .await
        .unwrap();
    let route = Requirement::new("submit".parse().unwrap(), Environment::Production)
        .with_permission("jobs:create".parse().unwrap());
    keys.verify(issued.expose_token(), &route)
        .await
        .expect("valid");
    let next = keys
        .rotate(&issued.metadata.id, Duration::hours(1))
        .await
        .unwrap();
    keys.verify(next.expose_token(), &route)
        .await
        .expect("successor valid");
    keys.verify(issued.expose_token(), &route)
        .await
        .expect("old valid in overlap");
    keys.revoke(&issued.metadata.id).await.unwrap();
    assert!(keys.verify(issued.expose_token(), &route).await.is_err());
}

/// The key half of a [`Stores`], as `ApiKeys` takes it.
struct StoreKeys(Arc<dyn Stores>);

#[async_trait::async_trait]
impl vault_core::KeyStore for StoreKeys {
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error> {
        self.0.insert_key(record).await
    }
    async fn find_key(&self, id: &KeyId) -> Result<Option<Arc<KeyRecord>>, Error> {
        self.0.find_key(id).await
    }
    async fn list_keys(&self, workspace: WorkspaceId) -> Result<Vec<Arc<KeyRecord>>, Error> {
        self.0.list_keys(workspace).await
    }
    async fn revoke_key(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<Option<Arc<KeyRecord>>, Error> {
        self.0.revoke_key(id, at).await
    }
    async fn rotate_key(
        &self,
        old: &KeyId,
        until: OffsetDateTime,
        successor: KeyRecord,
    ) -> Result<(), Error> {
        self.0.rotate_key(old, until, successor).await
    }
}

// ---------------------------------------------------------------- durability

async fn data_survives_a_reconnect(mut ctx: Ctx) {
    if ctx.kind == Kind::Memory {
        return; // nothing to reconnect to
    }
    let ada = User {
        id: UserId::random(),
        name: "Ada".into(),
        email: Email::parse("ada@example.com").unwrap(),
        email_verified: true,
        password_hash: None,
        two_factor: None,
        created_at: T0,
    };
    let login = SessionRecord {
        token_hash: SecretHash::from_bytes(rand_bytes()),
        id: uuid::Uuid::new_v4(),
        user_id: ada.id,
        created_at: T0,
        last_seen_at: T0,
        absolute_expires_at: T0 + Duration::days(30),
        active_workspace: None,
        two_factor_passed: false,
    };
    let record = key(WorkspaceId::random(), T0);
    ctx.store.insert_key(record.clone()).await.unwrap();
    let mut tx = ctx.store.begin(Scope::user(ada.id)).await.unwrap();
    tx.put_user(&ada).await.unwrap();
    tx.put_session(&login).await.unwrap();
    tx.commit().await.unwrap();
    ctx.reconnect().await;
    let s = &*ctx.store;
    assert_eq!(
        *s.find_key(&record.metadata.id).await.unwrap().unwrap(),
        record
    );
    let mut r = s.read().await.unwrap();
    let found = r.user(ada.id).await.unwrap().unwrap();
    assert_eq!((found.email, found.created_at), (ada.email, ada.created_at));
    assert_eq!(r.session(&login.token_hash).await.unwrap(), Some(login));
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::run(super::Kind::Memory, super::$case).await })*
        }
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::run(super::Kind::Sqlite, super::$case).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() { super::run(super::Kind::Postgres, super::$case).await })*
        }
    };
}

conformance!(
    key_round_trips_exactly,
    inserting_an_existing_key_id_is_a_conflict,
    keys_are_listed_per_workspace_oldest_first,
    revocation_keeps_the_first_time,
    rotation_moves_the_old_expiry_and_stores_the_successor,
    concurrent_key_inserts_never_collide,
    api_keys_work_end_to_end_over_the_store,
    data_survives_a_reconnect,
);

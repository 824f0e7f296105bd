//! One conformance suite for the stores: every documented behaviour of `KeyStore`,
//! `AccountStore` and `AccessStore`, and the races the database must settle, run against the
//! memory store, SQLite (a temp file) and PostgreSQL (a schema of its own per test, dropped
//! at the end).
//! PostgreSQL must be reachable (`VAULT_TEST_POSTGRES_URL`): without it these tests fail.

mod support;

use std::sync::Arc;

use support::{Ctx, Kind, Stores, run};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use vault_core::access::{
    AccessDefect, Grant, GrantSource, Grantee, Group, GroupId, HeldGrant, Invitation, InvitationId,
    InvitationStatus, Member, Subscription, TwoFactorPolicy, Workspace, WorkspaceRole,
};
use vault_core::accounts::{
    CodeAttempt, Email, SecretHash, SessionRecord, ThrottleRule, TokenPurpose, TokenRecord,
    TwoFactorState, User,
};
use vault_core::keys::{KeyHash, KeyRecord};
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

fn hash() -> SecretHash {
    SecretHash::from_bytes(rand_bytes())
}

fn new_user(email: &str) -> User {
    User {
        id: UserId::random(),
        name: "Ada".into(),
        email: Email::parse(email).unwrap(),
        email_verified: false,
        password_hash: None,
        two_factor: None,
        created_at: T0,
    }
}

async fn user(store: &dyn Stores) -> User {
    let user = new_user(&format!("{}@example.com", uuid::Uuid::new_v4().simple()));
    store.insert_user(user.clone()).await.unwrap();
    user
}

fn token(
    user: &User,
    purpose: TokenPurpose,
    code: Option<SecretHash>,
    at: OffsetDateTime,
) -> TokenRecord {
    TokenRecord {
        token_hash: hash(),
        code_hash: code,
        purpose,
        user_id: user.id,
        email: user.email.clone(),
        created_at: at,
        expires_at: at + Duration::minutes(30),
        failed_attempts: 0,
    }
}

fn session(user: &User, created_at: OffsetDateTime) -> SessionRecord {
    SessionRecord {
        token_hash: hash(),
        id: uuid::Uuid::new_v4(),
        user_id: user.id,
        created_at,
        last_seen_at: created_at,
        absolute_expires_at: created_at + Duration::days(30),
        active_workspace: None,
        two_factor_passed: false,
    }
}

fn users_eq(a: &User, b: &User) {
    assert_eq!(a.id, b.id);
    assert_eq!(a.name, b.name);
    assert_eq!(a.email.as_str(), b.email.as_str());
    assert_eq!(a.email_verified, b.email_verified);
    assert_eq!(a.password_hash, b.password_hash);
    assert_eq!(a.two_factor, b.two_factor);
    assert_eq!(a.created_at, b.created_at);
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

// ---------------------------------------------------------------- users

async fn users_are_found_by_id_and_by_email_case_insensitively(ctx: Ctx) {
    let s = &*ctx.store;
    let mut ada = new_user("Ada.Lovelace@Example.com");
    ada.password_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    s.insert_user(ada.clone()).await.unwrap();
    users_eq(&s.find_user(ada.id).await.unwrap().unwrap(), &ada);
    let by_email = Email::parse("ada.lovelace@EXAMPLE.COM").unwrap();
    users_eq(
        &s.find_user_by_email(&by_email).await.unwrap().unwrap(),
        &ada,
    );
    assert!(s.find_user(UserId::random()).await.unwrap().is_none());
    let nobody = Email::parse("nobody@example.com").unwrap();
    assert!(s.find_user_by_email(&nobody).await.unwrap().is_none());
}

async fn one_email_makes_one_account(ctx: Ctx) {
    let s = &*ctx.store;
    s.insert_user(new_user("grace@example.com")).await.unwrap();
    assert!(matches!(
        s.insert_user(new_user("GRACE@example.com")).await,
        Err(Error::Conflict(_))
    ));
}

async fn concurrent_sign_ups_with_one_email_make_one_account(ctx: Ctx) {
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let s = Arc::clone(&ctx.store);
        tasks.push(tokio::spawn(async move {
            s.insert_user(new_user("race@example.com")).await
        }));
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

async fn user_fields_update_and_unknown_users_say_false(ctx: Ctx) {
    let s = &*ctx.store;
    let ada = user(s).await;
    assert!(s.set_password(ada.id, "$argon2id$one").await.unwrap());
    assert!(s.set_name(ada.id, "Countess").await.unwrap());
    assert!(s.complete_sign_up(ada.id, "$argon2id$two").await.unwrap());
    let got = s.find_user(ada.id).await.unwrap().unwrap();
    assert_eq!(got.password_hash.as_deref(), Some("$argon2id$two"));
    assert_eq!(got.name, "Countess");
    assert!(got.email_verified);

    let taken = user(s).await;
    assert!(matches!(
        s.set_email(ada.id, &taken.email).await,
        Err(Error::Conflict(_))
    ));
    let fresh = Email::parse("New.Address@example.com").unwrap();
    assert!(s.set_email(ada.id, &fresh).await.unwrap());
    let moved = s
        .find_user_by_email(&Email::parse("new.address@example.com").unwrap())
        .await
        .unwrap();
    assert_eq!(moved.unwrap().id, ada.id);
    assert!(
        s.find_user_by_email(&ada.email).await.unwrap().is_none(),
        "old address freed"
    );
    assert!(
        s.set_email(ada.id, &fresh).await.unwrap(),
        "own address again"
    );

    let ghost = UserId::random();
    assert!(!s.set_password(ghost, "x").await.unwrap());
    assert!(!s.complete_sign_up(ghost, "x").await.unwrap());
    assert!(!s.set_name(ghost, "x").await.unwrap());
    assert!(
        !s.set_email(ghost, &Email::parse("ghost@example.com").unwrap())
            .await
            .unwrap()
    );
    assert!(!s.set_two_factor(ghost, None).await.unwrap());
}

fn two_factor(codes: usize) -> TwoFactorState {
    TwoFactorState {
        sealed_secret: vec![7; 48],
        enabled: true,
        last_step: None,
        recovery_codes: (0..codes).map(|i| Some(vec![i as u8; 32])).collect(),
    }
}

async fn two_factor_state_round_trips_and_steps_only_advance(ctx: Ctx) {
    let s = &*ctx.store;
    let ada = user(s).await;
    assert!(
        !s.advance_totp_step(ada.id, 5).await.unwrap(),
        "no state yet"
    );
    assert!(s.set_two_factor(ada.id, Some(two_factor(3))).await.unwrap());
    assert_eq!(
        s.find_user(ada.id).await.unwrap().unwrap().two_factor,
        Some(two_factor(3))
    );
    assert!(s.advance_totp_step(ada.id, 10).await.unwrap());
    assert!(!s.advance_totp_step(ada.id, 10).await.unwrap(), "replay");
    assert!(!s.advance_totp_step(ada.id, 9).await.unwrap(), "older");
    assert!(s.advance_totp_step(ada.id, 11).await.unwrap());
    let state = s
        .find_user(ada.id)
        .await
        .unwrap()
        .unwrap()
        .two_factor
        .unwrap();
    assert_eq!(state.last_step, Some(11));

    assert!(s.use_recovery_code(ada.id, 1).await.unwrap());
    assert!(!s.use_recovery_code(ada.id, 1).await.unwrap(), "single use");
    assert!(!s.use_recovery_code(ada.id, 99).await.unwrap());
    let state = s
        .find_user(ada.id)
        .await
        .unwrap()
        .unwrap()
        .two_factor
        .unwrap();
    assert_eq!(
        state.recovery_codes,
        vec![Some(vec![0; 32]), None, Some(vec![2; 32])]
    );

    let mut replaced = two_factor(2);
    replaced.enabled = false;
    assert!(
        s.set_two_factor(ada.id, Some(replaced.clone()))
            .await
            .unwrap()
    );
    assert_eq!(
        s.find_user(ada.id).await.unwrap().unwrap().two_factor,
        Some(replaced)
    );
    assert!(s.set_two_factor(ada.id, None).await.unwrap());
    assert_eq!(s.find_user(ada.id).await.unwrap().unwrap().two_factor, None);
    assert!(!s.use_recovery_code(ada.id, 0).await.unwrap());
}

async fn a_totp_step_and_a_recovery_code_are_accepted_once_under_races(ctx: Ctx) {
    let ada = user(&*ctx.store).await;
    ctx.store
        .set_two_factor(ada.id, Some(two_factor(1)))
        .await
        .unwrap();
    let mut steps = Vec::new();
    let mut codes = Vec::new();
    for _ in 0..8 {
        let s = Arc::clone(&ctx.store);
        steps.push(tokio::spawn(async move {
            s.advance_totp_step(ada.id, 42).await.unwrap()
        }));
        let s = Arc::clone(&ctx.store);
        codes.push(tokio::spawn(async move {
            s.use_recovery_code(ada.id, 0).await.unwrap()
        }));
    }
    let mut step_wins = 0;
    for t in steps {
        step_wins += usize::from(t.await.unwrap());
    }
    let mut code_wins = 0;
    for t in codes {
        code_wins += usize::from(t.await.unwrap());
    }
    assert_eq!((step_wins, code_wins), (1, 1));
}

// ---------------------------------------------------------------- tokens

async fn tokens_are_found_live_and_taken_once(ctx: Ctx) {
    let s = &*ctx.store;
    let ada = user(s).await;
    let t = token(&ada, TokenPurpose::ResetPassword, None, T0);
    s.insert_token(t.clone()).await.unwrap();
    let now = T0 + Duration::minutes(1);
    assert_eq!(
        s.find_token(&t.token_hash, t.purpose, now).await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(
        s.find_token(&t.token_hash, TokenPurpose::VerifyEmail, now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.find_token(&t.token_hash, t.purpose, t.expires_at)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        s.take_token(&t.token_hash, t.purpose, t.expires_at)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.take_token(&t.token_hash, TokenPurpose::ChangeEmail, now)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.take_token(&t.token_hash, t.purpose, now).await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(
        s.take_token(&t.token_hash, t.purpose, now).await.unwrap(),
        None,
        "single use"
    );
    assert_eq!(
        s.find_token(&t.token_hash, t.purpose, now).await.unwrap(),
        None
    );
}

async fn two_concurrent_takes_of_one_token_have_one_winner(ctx: Ctx) {
    let ada = user(&*ctx.store).await;
    for _ in 0..5 {
        let t = token(&ada, TokenPurpose::VerifyEmail, None, T0);
        ctx.store.insert_token(t.clone()).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let s = Arc::clone(&ctx.store);
            let h = t.token_hash;
            tasks.push(tokio::spawn(async move {
                s.take_token(&h, TokenPurpose::VerifyEmail, T0)
                    .await
                    .unwrap()
            }));
        }
        let mut won = 0;
        for task in tasks {
            won += usize::from(task.await.unwrap().is_some());
        }
        assert_eq!(won, 1);
    }
}

async fn typed_codes_take_the_newest_token_and_wear_out(ctx: Ctx) {
    let s = &*ctx.store;
    let ada = user(s).await;
    let purpose = TokenPurpose::TwoFactorChallenge;
    let now = T0 + Duration::minutes(1);
    let right = hash();
    assert_eq!(
        s.take_token_by_code(ada.id, purpose, &right, now, 3)
            .await
            .unwrap(),
        CodeAttempt::NoToken
    );
    let older = token(&ada, purpose, Some(hash()), T0);
    let newest = token(&ada, purpose, Some(right), T0 + Duration::seconds(1));
    let no_code = token(&ada, purpose, None, T0 + Duration::seconds(2));
    for t in [&older, &newest, &no_code] {
        s.insert_token(t.clone()).await.unwrap();
    }
    // Wrong codes count against the newest token with a code.
    assert_eq!(
        s.take_token_by_code(ada.id, purpose, &hash(), now, 3)
            .await
            .unwrap(),
        CodeAttempt::Wrong
    );
    let counted = s
        .find_token(&newest.token_hash, purpose, now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(counted.failed_attempts, 1);
    match s
        .take_token_by_code(ada.id, purpose, &right, now, 3)
        .await
        .unwrap()
    {
        CodeAttempt::Taken(t) => assert_eq!(t.token_hash, newest.token_hash),
        other => panic!("expected Taken, got {other:?}"),
    }
    assert!(
        s.find_token(&newest.token_hash, purpose, now)
            .await
            .unwrap()
            .is_none(),
        "consumed"
    );
    // Now `older` is the newest with a code: three wrong codes delete it.
    for _ in 0..3 {
        assert_eq!(
            s.take_token_by_code(ada.id, purpose, &hash(), now, 3)
                .await
                .unwrap(),
            CodeAttempt::Wrong
        );
    }
    assert!(
        s.find_token(&older.token_hash, purpose, now)
            .await
            .unwrap()
            .is_none(),
        "used up"
    );
    assert_eq!(
        s.take_token_by_code(ada.id, purpose, &right, now, 3)
            .await
            .unwrap(),
        CodeAttempt::NoToken
    );
    // Expired tokens are not offered.
    let late = newest.expires_at + Duration::seconds(1);
    s.insert_token(token(&ada, purpose, Some(right), T0))
        .await
        .unwrap();
    assert_eq!(
        s.take_token_by_code(ada.id, purpose, &right, late, 3)
            .await
            .unwrap(),
        CodeAttempt::NoToken
    );
}

async fn tokens_are_counted_and_deleted_per_user_and_purpose(ctx: Ctx) {
    let s = &*ctx.store;
    let (ada, bob) = (user(s).await, user(s).await);
    let reset = TokenPurpose::ResetPassword;
    for minutes in [0, 10, 20] {
        s.insert_token(token(&ada, reset, None, T0 + Duration::minutes(minutes)))
            .await
            .unwrap();
    }
    s.insert_token(token(&ada, TokenPurpose::VerifyEmail, None, T0))
        .await
        .unwrap();
    let bobs = token(&bob, reset, None, T0);
    s.insert_token(bobs.clone()).await.unwrap();
    assert_eq!(s.count_tokens_since(ada.id, reset, T0).await.unwrap(), 3);
    assert_eq!(
        s.count_tokens_since(ada.id, reset, T0 + Duration::minutes(10))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.count_tokens_since(ada.id, TokenPurpose::ChangeEmail, T0)
            .await
            .unwrap(),
        0
    );
    s.delete_tokens(ada.id, reset).await.unwrap();
    assert_eq!(s.count_tokens_since(ada.id, reset, T0).await.unwrap(), 0);
    assert_eq!(
        s.count_tokens_since(ada.id, TokenPurpose::VerifyEmail, T0)
            .await
            .unwrap(),
        1
    );
    assert!(
        s.find_token(&bobs.token_hash, reset, T0)
            .await
            .unwrap()
            .is_some(),
        "others' kept"
    );
}

// ---------------------------------------------------------------- sessions

async fn sessions_are_stored_found_and_changed(ctx: Ctx) {
    let s = &*ctx.store;
    let ada = user(s).await;
    let one = session(&ada, T0);
    s.insert_session(one.clone()).await.unwrap();
    assert!(matches!(
        s.insert_session(one.clone()).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        s.find_session(&one.token_hash).await.unwrap(),
        Some(one.clone())
    );
    assert_eq!(s.find_session(&hash()).await.unwrap(), None);

    s.touch_session(&one.token_hash, T0 + Duration::minutes(5))
        .await
        .unwrap();
    s.touch_session(&hash(), T0).await.unwrap();
    let ws = WorkspaceId::random();
    assert!(
        s.set_active_workspace(&one.token_hash, Some(ws))
            .await
            .unwrap()
    );
    assert!(!s.set_active_workspace(&hash(), Some(ws)).await.unwrap());
    let got = s.find_session(&one.token_hash).await.unwrap().unwrap();
    assert_eq!(got.last_seen_at, T0 + Duration::minutes(5));
    assert_eq!(got.active_workspace, Some(ws));

    let mut renewed = session(&ada, T0);
    renewed.two_factor_passed = true;
    assert!(
        s.replace_session(&one.token_hash, renewed.clone())
            .await
            .unwrap()
    );
    assert_eq!(s.find_session(&one.token_hash).await.unwrap(), None);
    assert_eq!(
        s.find_session(&renewed.token_hash).await.unwrap(),
        Some(renewed.clone())
    );
    assert!(
        !s.replace_session(&one.token_hash, session(&ada, T0))
            .await
            .unwrap(),
        "old gone"
    );

    assert!(s.delete_session(&renewed.token_hash).await.unwrap());
    assert!(!s.delete_session(&renewed.token_hash).await.unwrap());
}

async fn sessions_are_listed_and_ended_per_user(ctx: Ctx) {
    let s = &*ctx.store;
    let (ada, bob) = (user(s).await, user(s).await);
    let a3 = session(&ada, T0 + Duration::seconds(3));
    let a1 = session(&ada, T0 + Duration::seconds(1));
    let a2 = session(&ada, T0 + Duration::seconds(2));
    let b1 = session(&bob, T0);
    for x in [&a3, &a1, &a2, &b1] {
        s.insert_session(x.clone()).await.unwrap();
    }
    assert_eq!(
        s.list_sessions(ada.id).await.unwrap(),
        vec![a1.clone(), a2.clone(), a3.clone()]
    );

    assert!(
        !s.delete_session_by_id(bob.id, a1.id).await.unwrap(),
        "only the owner's"
    );
    assert!(s.delete_session_by_id(ada.id, a1.id).await.unwrap());
    assert!(!s.delete_session_by_id(ada.id, a1.id).await.unwrap());

    let ws = WorkspaceId::random();
    for x in [&a2, &a3, &b1] {
        s.set_active_workspace(&x.token_hash, Some(ws))
            .await
            .unwrap();
    }
    s.forget_workspace(ada.id, ws).await.unwrap();
    for x in [&a2, &a3] {
        assert_eq!(
            s.find_session(&x.token_hash)
                .await
                .unwrap()
                .unwrap()
                .active_workspace,
            None
        );
    }
    assert_eq!(
        s.find_session(&b1.token_hash)
            .await
            .unwrap()
            .unwrap()
            .active_workspace,
        Some(ws)
    );

    assert_eq!(
        s.delete_user_sessions(ada.id, Some(&a3.token_hash))
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.list_sessions(ada.id).await.unwrap().len(), 1);
    assert_eq!(s.delete_user_sessions(ada.id, None).await.unwrap(), 1);
    assert!(s.list_sessions(ada.id).await.unwrap().is_empty());
    assert_eq!(
        s.list_sessions(bob.id).await.unwrap(),
        vec![b1.clone()]
            .into_iter()
            .map(|mut b| {
                b.active_workspace = Some(ws);
                b
            })
            .collect::<Vec<_>>()
    );
}

// ---------------------------------------------------------------- throttling

fn rule(attempts: u32) -> ThrottleRule {
    ThrottleRule {
        attempts,
        window: Duration::minutes(10),
        first_lock: Duration::seconds(30),
        max_lock: Duration::minutes(2),
    }
}

async fn attempts_lock_at_the_limit_and_clear_on_success(ctx: Ctx) {
    let s = &*ctx.store;
    let r = rule(3);
    for _ in 0..3 {
        assert_eq!(s.reserve_attempt("acct:ada", &r, T0).await.unwrap(), Ok(()));
    }
    let until = T0 + Duration::seconds(30);
    assert_eq!(
        s.reserve_attempt("acct:ada", &r, T0).await.unwrap(),
        Err(until)
    );
    assert_eq!(
        s.reserve_attempt("acct:ada", &r, T0 + Duration::seconds(29))
            .await
            .unwrap(),
        Err(until)
    );
    assert_eq!(
        s.reserve_attempt("acct:other", &r, T0).await.unwrap(),
        Ok(()),
        "per key"
    );
    // After the lock the next lock doubles: the lock count is kept.
    for _ in 0..3 {
        assert_eq!(
            s.reserve_attempt("acct:ada", &r, until).await.unwrap(),
            Ok(())
        );
    }
    assert_eq!(
        s.reserve_attempt("acct:ada", &r, until).await.unwrap(),
        Err(until + Duration::seconds(60))
    );
    s.clear_attempts("acct:ada").await.unwrap();
    assert_eq!(
        s.reserve_attempt("acct:ada", &r, until).await.unwrap(),
        Ok(())
    );
    s.clear_attempts("never:seen").await.unwrap();
}

async fn concurrent_reservations_never_exceed_the_limit(ctx: Ctx) {
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = Arc::clone(&ctx.store);
        tasks.push(tokio::spawn(async move {
            s.reserve_attempt("addr:203.0.113.9", &rule(5), T0)
                .await
                .unwrap()
        }));
    }
    let mut allowed = 0;
    for t in tasks {
        allowed += usize::from(t.await.unwrap().is_ok());
    }
    assert_eq!(allowed, 5);
}

// ---------------------------------------------------------------- access

fn workspace_named(name: &str, owner: UserId) -> (Workspace, Member) {
    let id = WorkspaceId::random();
    let workspace = Workspace {
        id,
        name: name.into(),
        created_by: owner,
        created_at: T0,
        two_factor: TwoFactorPolicy::default(),
    };
    let member = Member {
        workspace_id: id,
        user_id: owner,
        role: WorkspaceRole::Owner,
        joined_at: T0,
    };
    (workspace, member)
}

/// A stored workspace and its owner.
async fn workspace(s: &dyn Stores) -> (WorkspaceId, UserId) {
    let owner = UserId::random();
    let (workspace, member) = workspace_named("Acme", owner);
    let id = workspace.id;
    s.create_workspace(workspace, member).await.unwrap();
    (id, owner)
}

fn invitation(
    workspace: WorkspaceId,
    role: WorkspaceRole,
    created_at: OffsetDateTime,
) -> Invitation {
    Invitation {
        id: InvitationId::random(),
        workspace_id: workspace,
        email: "ada@example.com".into(),
        role,
        invited_by: UserId::random(),
        created_at,
        expires_at: created_at + Duration::days(7),
        token_hash: rand_bytes(),
        accepted_at: None,
        accepted_by: None,
        revoked_at: None,
    }
}

/// A new member of `workspace` with `role`, brought in through an invitation.
async fn join(s: &dyn Stores, workspace: WorkspaceId, role: WorkspaceRole) -> UserId {
    let invited = invitation(workspace, role, T0);
    s.insert_invitation(invited.clone()).await.unwrap();
    let user = UserId::random();
    s.accept_invitation(invited.id, user, T0).await.unwrap();
    user
}

fn group(workspace: WorkspaceId, name: &str) -> Group {
    Group {
        id: GroupId::random(),
        workspace_id: workspace,
        name: name.into(),
        created_by: UserId::random(),
        created_at: T0,
    }
}

fn grant(workspace: WorkspaceId, grantee: Grantee, product: &str, role: &str) -> Grant {
    Grant {
        workspace_id: workspace,
        grantee,
        product: product.parse().unwrap(),
        role: role.parse().unwrap(),
        granted_by: UserId::random(),
        granted_at: T0,
    }
}

fn refusal<T: std::fmt::Debug>(result: Result<T, Error>) -> AccessDefect {
    match result {
        Err(Error::Access(defect)) => defect,
        other => panic!("expected an access refusal, got {other:?}"),
    }
}

async fn workspaces_round_trip_and_change(ctx: Ctx) {
    let s = &*ctx.store;
    let owner = UserId::random();
    let (zeta, zeta_owner) = workspace_named("Zeta", owner);
    let (acme, acme_owner) = workspace_named("Acme", owner);
    s.create_workspace(zeta.clone(), zeta_owner.clone())
        .await
        .unwrap();
    s.create_workspace(acme.clone(), acme_owner).await.unwrap();
    assert!(matches!(
        s.create_workspace(zeta.clone(), zeta_owner).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(s.find_workspace(zeta.id).await.unwrap(), Some(zeta.clone()));
    assert_eq!(s.find_workspace(WorkspaceId::random()).await.unwrap(), None);

    let renamed = s.rename_workspace(zeta.id, "Zeta Labs").await.unwrap();
    assert_eq!(renamed.name, "Zeta Labs");
    let policy = TwoFactorPolicy {
        owners_and_admins: true,
        sensitive_roles: false,
    };
    let changed = s.set_two_factor_policy(zeta.id, policy).await.unwrap();
    assert_eq!(changed.two_factor, policy);
    assert_eq!(changed.name, "Zeta Labs");
    assert_eq!(s.find_workspace(zeta.id).await.unwrap(), Some(changed));
    let unknown = WorkspaceId::random();
    assert_eq!(
        refusal(s.rename_workspace(unknown, "x").await),
        AccessDefect::NotAMember
    );
    assert_eq!(
        refusal(s.set_two_factor_policy(unknown, policy).await),
        AccessDefect::NotAMember
    );

    let names: Vec<_> = s
        .workspaces_of(owner)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.workspace.name, m.role))
        .collect();
    assert_eq!(
        names,
        [
            ("Acme".to_owned(), WorkspaceRole::Owner),
            ("Zeta Labs".to_owned(), WorkspaceRole::Owner)
        ]
    );
    assert!(s.workspaces_of(UserId::random()).await.unwrap().is_empty());
}

async fn members_keep_joining_order_and_the_last_owner(ctx: Ctx) {
    let s = &*ctx.store;
    let (ws, owner) = workspace(s).await;
    let ada = join(s, ws, WorkspaceRole::Member).await;
    let bob = join(s, ws, WorkspaceRole::Admin).await;
    let order: Vec<_> = s
        .list_members(ws)
        .await
        .unwrap()
        .iter()
        .map(|m| m.user_id)
        .collect();
    assert_eq!(order, [owner, ada, bob]);
    let found = s.find_member(ws, bob).await.unwrap().unwrap();
    assert_eq!((found.role, found.joined_at), (WorkspaceRole::Admin, T0));
    assert_eq!(s.find_member(ws, UserId::random()).await.unwrap(), None);

    assert_eq!(
        refusal(s.change_member_role(ws, owner, WorkspaceRole::Admin).await),
        AccessDefect::LastOwner
    );
    assert_eq!(
        refusal(s.remove_member(ws, owner).await),
        AccessDefect::LastOwner
    );
    // Promoting the last owner to owner is no demotion.
    s.change_member_role(ws, owner, WorkspaceRole::Owner)
        .await
        .unwrap();
    let before = s
        .change_member_role(ws, ada, WorkspaceRole::Owner)
        .await
        .unwrap();
    assert_eq!(before.role, WorkspaceRole::Member);
    // Two owners now: either may step down, not both.
    s.change_member_role(ws, owner, WorkspaceRole::Member)
        .await
        .unwrap();
    assert_eq!(
        refusal(s.remove_member(ws, ada).await),
        AccessDefect::LastOwner
    );
    assert_eq!(
        refusal(
            s.change_member_role(ws, UserId::random(), WorkspaceRole::Admin)
                .await
        ),
        AccessDefect::UserNotAMember
    );
    assert_eq!(
        refusal(s.remove_member(ws, UserId::random()).await),
        AccessDefect::UserNotAMember
    );
    assert_eq!(
        refusal(s.remove_member(WorkspaceId::random(), ada).await),
        AccessDefect::UserNotAMember
    );
    // Order is kept through a role change; a removed member who comes back is last.
    let removed = s.remove_member(ws, bob).await.unwrap();
    assert_eq!(removed.user_id, bob);
    let again = invitation(ws, WorkspaceRole::Member, T0);
    s.insert_invitation(again.clone()).await.unwrap();
    s.accept_invitation(again.id, bob, T0).await.unwrap();
    let order: Vec<_> = s
        .list_members(ws)
        .await
        .unwrap()
        .iter()
        .map(|m| (m.user_id, m.role))
        .collect();
    assert_eq!(
        order,
        [
            (owner, WorkspaceRole::Member),
            (ada, WorkspaceRole::Owner),
            (bob, WorkspaceRole::Member)
        ]
    );
}

async fn removing_a_member_takes_their_groups_and_direct_grants(ctx: Ctx) {
    let s = &*ctx.store;
    let (ws, _) = workspace(s).await;
    let ada = join(s, ws, WorkspaceRole::Member).await;
    let bob = join(s, ws, WorkspaceRole::Member).await;
    let team = group(ws, "Team");
    s.insert_group(team.clone()).await.unwrap();
    for user in [ada, bob] {
        assert!(s.add_group_member(ws, team.id, user).await.unwrap());
        s.insert_grant(grant(ws, Grantee::User(user), "submit", "viewer"))
            .await
            .unwrap();
    }
    s.insert_grant(grant(ws, Grantee::Group(team.id), "submit", "submitter"))
        .await
        .unwrap();
    assert_eq!(s.grants_held_by(ws, ada).await.unwrap().len(), 2);

    s.remove_member(ws, ada).await.unwrap();
    assert!(s.grants_held_by(ws, ada).await.unwrap().is_empty());
    assert_eq!(s.group_members(ws, team.id).await.unwrap(), [bob]);
    let left: Vec<_> = s
        .list_grants(ws)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.grantee)
        .collect();
    assert_eq!(left, [Grantee::User(bob), Grantee::Group(team.id)]);
    assert_eq!(s.grants_held_by(ws, bob).await.unwrap().len(), 2);
    assert_eq!(
        refusal(
            s.insert_grant(grant(ws, Grantee::User(ada), "submit", "viewer"))
                .await
        ),
        AccessDefect::UserNotAMember
    );
    assert_eq!(
        refusal(s.add_group_member(ws, team.id, ada).await),
        AccessDefect::UserNotAMember
    );
}

async fn invitations_are_stored_listed_and_revoked(ctx: Ctx) {
    let s = &*ctx.store;
    let (ws, _) = workspace(s).await;
    let late = invitation(ws, WorkspaceRole::Admin, T0 + Duration::seconds(1));
    let early = invitation(ws, WorkspaceRole::Member, T0);
    for i in [
        &late,
        &early,
        &invitation(WorkspaceId::random(), WorkspaceRole::Member, T0),
    ] {
        s.insert_invitation(i.clone()).await.unwrap();
    }
    assert!(matches!(
        s.insert_invitation(early.clone()).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        s.find_invitation(late.id).await.unwrap(),
        Some(late.clone())
    );
    assert_eq!(
        s.find_invitation(InvitationId::random()).await.unwrap(),
        None
    );
    let ids: Vec<_> = s
        .list_invitations(ws)
        .await
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [early.id, late.id]);

    let at = T0 + Duration::hours(1);
    let revoked = s.revoke_invitation(early.id, at).await.unwrap();
    assert_eq!(revoked.revoked_at, Some(at));
    assert_eq!(s.find_invitation(early.id).await.unwrap(), Some(revoked));
    assert_eq!(
        refusal(s.revoke_invitation(early.id, at).await),
        AccessDefect::InvitationRevoked
    );
    assert_eq!(
        refusal(s.revoke_invitation(late.id, late.expires_at).await),
        AccessDefect::InvitationExpired
    );
    assert_eq!(
        refusal(s.revoke_invitation(InvitationId::random(), at).await),
        AccessDefect::InvitationUnknown
    );
}

async fn accepting_rechecks_the_invitation_in_one_step(ctx: Ctx) {
    let s = &*ctx.store;
    let (ws, owner) = workspace(s).await;
    let used = invitation(ws, WorkspaceRole::Admin, T0);
    s.insert_invitation(used.clone()).await.unwrap();
    let ada = UserId::random();
    let at = T0 + Duration::minutes(5);
    let member = s.accept_invitation(used.id, ada, at).await.unwrap();
    assert_eq!(
        member,
        Member {
            workspace_id: ws,
            user_id: ada,
            role: WorkspaceRole::Admin,
            joined_at: at
        }
    );
    assert_eq!(s.find_member(ws, ada).await.unwrap(), Some(member));
    let stored = s.find_invitation(used.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.accepted_at, stored.accepted_by),
        (Some(at), Some(ada))
    );
    assert_eq!(
        refusal(s.accept_invitation(used.id, UserId::random(), at).await),
        AccessDefect::InvitationUsed
    );

    let late = invitation(ws, WorkspaceRole::Member, T0);
    s.insert_invitation(late.clone()).await.unwrap();
    assert_eq!(
        refusal(
            s.accept_invitation(late.id, UserId::random(), late.expires_at)
                .await
        ),
        AccessDefect::InvitationExpired
    );
    let revoked = invitation(ws, WorkspaceRole::Member, T0);
    s.insert_invitation(revoked.clone()).await.unwrap();
    s.revoke_invitation(revoked.id, T0).await.unwrap();
    assert_eq!(
        refusal(s.accept_invitation(revoked.id, UserId::random(), T0).await),
        AccessDefect::InvitationRevoked
    );
    assert_eq!(
        refusal(s.accept_invitation(InvitationId::random(), ada, T0).await),
        AccessDefect::InvitationUnknown
    );
    let nowhere = invitation(WorkspaceId::random(), WorkspaceRole::Member, T0);
    s.insert_invitation(nowhere.clone()).await.unwrap();
    assert_eq!(
        refusal(s.accept_invitation(nowhere.id, ada, T0).await),
        AccessDefect::InvitationUnknown
    );
    // A member accepting another invitation is refused, and the invitation stays pending.
    let for_owner = invitation(ws, WorkspaceRole::Member, T0);
    s.insert_invitation(for_owner.clone()).await.unwrap();
    assert_eq!(
        refusal(s.accept_invitation(for_owner.id, owner, T0).await),
        AccessDefect::AlreadyMember
    );
    let pending = s.find_invitation(for_owner.id).await.unwrap().unwrap();
    assert_eq!(pending.status(T0), InvitationStatus::Pending);
    assert_eq!(s.list_members(ws).await.unwrap().len(), 2);
}

async fn groups_have_unique_names_and_only_members(ctx: Ctx) {
    let s = &*ctx.store;
    let (ws, owner) = workspace(s).await;
    let ada = join(s, ws, WorkspaceRole::Member).await;
    let ops = group(ws, "Operations");
    s.insert_group(ops.clone()).await.unwrap();
    assert!(matches!(
        s.insert_group(ops.clone()).await,
        Err(Error::Conflict(_))
    ));
    assert_eq!(
        refusal(s.insert_group(group(ws, "OPERATIONS")).await),
        AccessDefect::NameTaken
    );
    // Another workspace may use the name.
    s.insert_group(group(WorkspaceId::random(), "Operations"))
        .await
        .unwrap();
    let billing = group(ws, "Billing");
    s.insert_group(billing.clone()).await.unwrap();
    assert_eq!(s.find_group(ws, ops.id).await.unwrap(), Some(ops.clone()));
    assert_eq!(
        s.find_group(WorkspaceId::random(), ops.id).await.unwrap(),
        None
    );
    let names: Vec<_> = s
        .list_groups(ws)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert_eq!(names, ["Billing", "Operations"]);

    assert_eq!(
        refusal(s.rename_group(ws, billing.id, "operations").await),
        AccessDefect::NameTaken
    );
    assert_eq!(
        refusal(s.rename_group(ws, GroupId::random(), "x").await),
        AccessDefect::GroupUnknown
    );
    let renamed = s.rename_group(ws, ops.id, "OPS").await.unwrap();
    assert_eq!(renamed.name, "OPS");
    s.rename_group(ws, ops.id, "ops").await.unwrap();

    assert!(s.add_group_member(ws, ops.id, ada).await.unwrap());
    assert!(!s.add_group_member(ws, ops.id, ada).await.unwrap());
    assert!(s.add_group_member(ws, ops.id, owner).await.unwrap());
    let mut expected = vec![ada, owner];
    expected.sort();
    assert_eq!(s.group_members(ws, ops.id).await.unwrap(), expected);
    assert_eq!(
        refusal(s.add_group_member(ws, ops.id, UserId::random()).await),
        AccessDefect::UserNotAMember
    );
    assert_eq!(
        refusal(s.add_group_member(ws, GroupId::random(), ada).await),
        AccessDefect::GroupUnknown
    );
    assert!(s.remove_group_member(ws, ops.id, ada).await.unwrap());
    assert!(!s.remove_group_member(ws, ops.id, ada).await.unwrap());
    assert_eq!(
        refusal(s.remove_group_member(ws, GroupId::random(), ada).await),
        AccessDefect::GroupUnknown
    );
    assert_eq!(
        refusal(s.group_members(ws, GroupId::random()).await),
        AccessDefect::GroupUnknown
    );
}

async fn deleting_a_group_takes_its_memberships_and_grants(ctx: Ctx) {
    let s = &*ctx.store;
    let (ws, _) = workspace(s).await;
    let ada = join(s, ws, WorkspaceRole::Member).await;
    let ops = group(ws, "Operations");
    s.insert_group(ops.clone()).await.unwrap();
    s.add_group_member(ws, ops.id, ada).await.unwrap();
    s.insert_grant(grant(ws, Grantee::Group(ops.id), "submit", "viewer"))
        .await
        .unwrap();
    s.insert_grant(grant(ws, Grantee::User(ada), "submit", "viewer"))
        .await
        .unwrap();
    assert_eq!(
        refusal(s.delete_group(WorkspaceId::random(), ops.id).await),
        AccessDefect::GroupUnknown
    );
    assert_eq!(s.delete_group(ws, ops.id).await.unwrap(), ops);
    assert_eq!(s.find_group(ws, ops.id).await.unwrap(), None);
    assert_eq!(
        refusal(s.group_members(ws, ops.id).await),
        AccessDefect::GroupUnknown
    );
    let left: Vec<_> = s
        .list_grants(ws)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.grantee)
        .collect();
    assert_eq!(left, [Grantee::User(ada)]);
    assert_eq!(
        refusal(s.delete_group(ws, ops.id).await),
        AccessDefect::GroupUnknown
    );
    // A new group of the same name starts empty.
    let again = group(ws, "Operations");
    s.insert_group(again.clone()).await.unwrap();
    assert!(s.group_members(ws, again.id).await.unwrap().is_empty());
}

async fn subscriptions_are_replaced_per_product(ctx: Ctx) {
    let s = &*ctx.store;
    let ws = WorkspaceId::random();
    let sub = |product: &str, active: bool, at: OffsetDateTime| Subscription {
        workspace_id: ws,
        product: product.parse().unwrap(),
        active,
        changed_by: UserId::random(),
        changed_at: at,
    };
    s.set_subscription(sub("submit", true, T0)).await.unwrap();
    s.set_subscription(sub("manage", true, T0)).await.unwrap();
    let off = sub("submit", false, T0 + Duration::hours(1));
    s.set_subscription(off.clone()).await.unwrap();
    let submit = "submit".parse().unwrap();
    assert_eq!(s.find_subscription(ws, &submit).await.unwrap(), Some(off));
    assert_eq!(
        s.find_subscription(WorkspaceId::random(), &submit)
            .await
            .unwrap(),
        None
    );
    let listed: Vec<_> = s
        .list_subscriptions(ws)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.product.as_str().to_owned(), s.active))
        .collect();
    assert_eq!(
        listed,
        [("manage".to_owned(), true), ("submit".to_owned(), false)]
    );
}

async fn grants_are_unique_oldest_first_and_held_through_groups(ctx: Ctx) {
    let s = &*ctx.store;
    let (ws, _) = workspace(s).await;
    let ada = join(s, ws, WorkspaceRole::Member).await;
    let ops = group(ws, "Operations");
    s.insert_group(ops.clone()).await.unwrap();
    s.add_group_member(ws, ops.id, ada).await.unwrap();
    let direct = grant(ws, Grantee::User(ada), "submit", "viewer");
    let through_group = grant(ws, Grantee::Group(ops.id), "submit", "submitter");
    let other_role = grant(ws, Grantee::User(ada), "manage", "reader");
    assert!(s.insert_grant(direct.clone()).await.unwrap());
    assert!(s.insert_grant(through_group.clone()).await.unwrap());
    let mut again = direct.clone();
    again.granted_at = T0 + Duration::days(1);
    assert!(!s.insert_grant(again).await.unwrap());
    assert!(s.insert_grant(other_role.clone()).await.unwrap());
    assert_eq!(
        s.list_grants(ws).await.unwrap(),
        [direct.clone(), through_group.clone(), other_role.clone()]
    );
    assert_eq!(
        refusal(
            s.insert_grant(grant(
                ws,
                Grantee::Group(GroupId::random()),
                "submit",
                "viewer"
            ))
            .await
        ),
        AccessDefect::GroupUnknown
    );

    let held = s.grants_held_by(ws, ada).await.unwrap();
    assert_eq!(
        held,
        [
            HeldGrant {
                grant: direct.clone(),
                source: GrantSource::Direct
            },
            HeldGrant {
                grant: through_group.clone(),
                source: GrantSource::Group {
                    id: ops.id,
                    name: "Operations".into()
                }
            },
            HeldGrant {
                grant: other_role.clone(),
                source: GrantSource::Direct
            },
        ]
    );
    assert!(
        s.grants_held_by(ws, UserId::random())
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.grants_held_by(WorkspaceId::random(), ada)
            .await
            .unwrap()
            .is_empty()
    );

    assert!(
        s.delete_grant(ws, &direct.grantee, &direct.product, &direct.role)
            .await
            .unwrap()
    );
    assert!(
        !s.delete_grant(ws, &direct.grantee, &direct.product, &direct.role)
            .await
            .unwrap()
    );
    assert_eq!(s.grants_held_by(ws, ada).await.unwrap().len(), 2);
    // Taken out of the group, the group's grant no longer reaches them.
    s.remove_group_member(ws, ops.id, ada).await.unwrap();
    assert_eq!(s.grants_held_by(ws, ada).await.unwrap().len(), 1);
}

async fn two_concurrent_acceptances_of_one_invitation_make_one_member(ctx: Ctx) {
    for _ in 0..5 {
        let (ws, _) = workspace(&*ctx.store).await;
        let invited = invitation(ws, WorkspaceRole::Member, T0);
        ctx.store.insert_invitation(invited.clone()).await.unwrap();
        let tasks: Vec<_> = (0..2)
            .map(|_| {
                let store = ctx.store.clone();
                tokio::spawn(async move {
                    store
                        .accept_invitation(invited.id, UserId::random(), T0)
                        .await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(member) => winners.push(member.user_id),
                Err(err) => assert_eq!(refusal::<()>(Err(err)), AccessDefect::InvitationUsed),
            }
        }
        assert_eq!(winners.len(), 1);
        assert_eq!(ctx.store.list_members(ws).await.unwrap().len(), 2);
        let stored = ctx
            .store
            .find_invitation(invited.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(stored.accepted_by, Some(winners[0]));
    }
}

async fn concurrent_demotions_of_the_last_two_owners_leave_one(ctx: Ctx) {
    for round in 0..5 {
        let (ws, first) = workspace(&*ctx.store).await;
        let second = join(&*ctx.store, ws, WorkspaceRole::Owner).await;
        let tasks: Vec<_> = [first, second]
            .into_iter()
            .map(|user| {
                let store = ctx.store.clone();
                tokio::spawn(async move {
                    if round % 2 == 0 {
                        store
                            .change_member_role(ws, user, WorkspaceRole::Admin)
                            .await
                            .map(|_| ())
                    } else {
                        store.remove_member(ws, user).await.map(|_| ())
                    }
                })
            })
            .collect();
        let mut refused = 0;
        for task in tasks {
            if let Err(err) = task.await.unwrap() {
                assert_eq!(refusal::<()>(Err(err)), AccessDefect::LastOwner);
                refused += 1;
            }
        }
        assert_eq!(refused, 1, "exactly one of the two steps down");
        let owners = ctx
            .store
            .list_members(ws)
            .await
            .unwrap()
            .into_iter()
            .filter(|m| m.role == WorkspaceRole::Owner)
            .count();
        assert_eq!(owners, 1);
    }
}

async fn a_member_removed_while_being_granted_holds_nothing(ctx: Ctx) {
    // Removal and a grant to the same member race; whatever the order, no grant outlives
    // the membership.
    for _ in 0..5 {
        let (ws, _) = workspace(&*ctx.store).await;
        let ada = join(&*ctx.store, ws, WorkspaceRole::Member).await;
        let (a, b) = (ctx.store.clone(), ctx.store.clone());
        let remove = tokio::spawn(async move { a.remove_member(ws, ada).await.map(|_| ()) });
        let give = tokio::spawn(async move {
            b.insert_grant(grant(ws, Grantee::User(ada), "submit", "viewer"))
                .await
                .map(|_| ())
        });
        remove.await.unwrap().unwrap();
        if let Err(err) = give.await.unwrap() {
            assert_eq!(refusal::<()>(Err(err)), AccessDefect::UserNotAMember);
        }
        assert!(ctx.store.list_grants(ws).await.unwrap().is_empty());
    }
}

// ---------------------------------------------------------------- durability

async fn data_survives_a_reconnect(mut ctx: Ctx) {
    if ctx.kind == Kind::Memory {
        return; // nothing to reconnect to
    }
    let ada = user(&*ctx.store).await;
    let record = key(WorkspaceId::random(), T0);
    ctx.store.insert_key(record.clone()).await.unwrap();
    let s1 = session(&ada, T0);
    ctx.store.insert_session(s1.clone()).await.unwrap();
    ctx.reconnect().await;
    let s = &*ctx.store;
    assert_eq!(
        *s.find_key(&record.metadata.id).await.unwrap().unwrap(),
        record
    );
    users_eq(&s.find_user(ada.id).await.unwrap().unwrap(), &ada);
    assert_eq!(s.find_session(&s1.token_hash).await.unwrap(), Some(s1));
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
    users_are_found_by_id_and_by_email_case_insensitively,
    one_email_makes_one_account,
    concurrent_sign_ups_with_one_email_make_one_account,
    user_fields_update_and_unknown_users_say_false,
    two_factor_state_round_trips_and_steps_only_advance,
    a_totp_step_and_a_recovery_code_are_accepted_once_under_races,
    tokens_are_found_live_and_taken_once,
    two_concurrent_takes_of_one_token_have_one_winner,
    typed_codes_take_the_newest_token_and_wear_out,
    tokens_are_counted_and_deleted_per_user_and_purpose,
    sessions_are_stored_found_and_changed,
    sessions_are_listed_and_ended_per_user,
    attempts_lock_at_the_limit_and_clear_on_success,
    concurrent_reservations_never_exceed_the_limit,
    data_survives_a_reconnect,
    workspaces_round_trip_and_change,
    members_keep_joining_order_and_the_last_owner,
    removing_a_member_takes_their_groups_and_direct_grants,
    invitations_are_stored_listed_and_revoked,
    accepting_rechecks_the_invitation_in_one_step,
    groups_have_unique_names_and_only_members,
    deleting_a_group_takes_its_memberships_and_grants,
    subscriptions_are_replaced_per_product,
    grants_are_unique_oldest_first_and_held_through_groups,
    two_concurrent_acceptances_of_one_invitation_make_one_member,
    concurrent_demotions_of_the_last_two_owners_leave_one,
    a_member_removed_while_being_granted_holds_nothing,
);

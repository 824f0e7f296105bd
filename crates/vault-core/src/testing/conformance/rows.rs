//! Cases of the row traits, one table family each: what is put comes back field for field,
//! a put replaces, a delete says whether the row was there, lists hold exactly what belongs
//! to them (in the declared order where there is one), and the store's conflicts.

use std::sync::Arc;

use time::Duration;

use super::records::{
    assert_same_user, at, bare_user, begin, email, grant, group, hash, invitation, member,
    product_id, read, session, sorted, subscription, throttle_key, throttle_state, token, user,
    workspace,
};
use crate::Error;
use crate::access::{
    Grant, Grantee, GroupId, InvitationId, Member, Subscription, Workspace, WorkspaceRole,
};
use crate::accounts::{Email, TokenPurpose, TokenRecord, TwoFactorState, User};
use crate::ids::{UserId, WorkspaceId};
use crate::store::{Scope, Store};

/// Stores `users` in one committed transaction.
async fn put_users(store: &dyn Store, users: &[&User]) {
    let mut tx = begin(store, Scope::none()).await;
    for user in users {
        tx.put_user(user).await.expect("put_user");
    }
    tx.commit().await.expect("commit");
}

/// Stores `workspace` in one committed transaction.
async fn put_workspace(store: &dyn Store, workspace: &Workspace) {
    let mut tx = begin(store, Scope::none()).await;
    tx.put_workspace(workspace).await.expect("put_workspace");
    tx.commit().await.expect("commit");
}

/// Every field of a user (two-factor state and recovery codes included) comes back, by id
/// and by its normalized email.
pub async fn users_round_trip_every_field_by_id_and_by_email(store: Arc<dyn Store>) {
    let s = &*store;
    let (ada, bare) = (user(), bare_user());
    put_users(s, &[&ada, &bare]).await;
    let mut r = read(s).await;
    assert_same_user(&r.user(ada.id).await.unwrap().expect("by id"), &ada);
    assert_same_user(&r.user(bare.id).await.unwrap().expect("by id"), &bare);
    let shouted = Email::parse(&ada.email.as_str().to_uppercase()).unwrap();
    let found = r.user_by_email(&shouted).await.unwrap().expect("by email");
    assert_same_user(&found, &ada);
    assert!(r.user(UserId::random()).await.unwrap().is_none());
    assert!(r.user_by_email(&email()).await.unwrap().is_none());
}

/// A put replaces every field, the recovery codes as a whole, and frees the old email;
/// `None` two-factor state clears it.
pub async fn putting_a_user_replaces_it_with_its_recovery_codes(store: Arc<dyn Store>) {
    let s = &*store;
    let ada = user();
    put_users(s, &[&ada]).await;
    let changed = User {
        name: "Ada L.".into(),
        email: email(),
        email_verified: false,
        password_hash: Some("$argon2id$other".into()),
        two_factor: Some(TwoFactorState {
            sealed_secret: vec![1, 2, 3],
            enabled: false,
            last_step: None,
            recovery_codes: vec![None],
        }),
        ..ada.clone()
    };
    put_users(s, &[&changed]).await;
    let mut r = read(s).await;
    assert_same_user(&r.user(ada.id).await.unwrap().unwrap(), &changed);
    assert!(r.user_by_email(&ada.email).await.unwrap().is_none());
    let by_new = r.user_by_email(&changed.email).await.unwrap().unwrap();
    assert_same_user(&by_new, &changed);

    let cleared = User {
        two_factor: None,
        ..changed
    };
    put_users(s, &[&cleared]).await;
    assert_same_user(
        &read(s).await.user(ada.id).await.unwrap().unwrap(),
        &cleared,
    );
}

/// Two users cannot share a normalized email: the second put is a conflict, whatever the
/// case of the address, and the first keeps it.
pub async fn a_taken_email_is_a_conflict(store: Arc<dyn Store>) {
    let s = &*store;
    let ada = user();
    put_users(s, &[&ada]).await;
    let other = User {
        email: Email::parse(&ada.email.as_str().to_lowercase()).unwrap(),
        ..user()
    };
    let mut tx = begin(s, Scope::none()).await;
    let taken = tx.put_user(&other).await;
    assert!(matches!(taken, Err(Error::Conflict(_))), "{taken:?}");
    drop(tx);
    let mut r = read(s).await;
    assert!(r.user(other.id).await.unwrap().is_none());
    let owner = r.user_by_email(&other.email).await.unwrap().unwrap();
    assert_eq!(owner.id, ada.id);
}

/// Tokens come back by hash with every field; a user's tokens of a purpose are exactly
/// those; a put replaces.
pub async fn tokens_round_trip_and_are_listed_per_user_and_purpose(store: Arc<dyn Store>) {
    let s = &*store;
    let (ada, bob) = (bare_user(), bare_user());
    put_users(s, &[&ada, &bob]).await;
    let mut first = token(ada.id, TokenPurpose::ResetPassword);
    let second = token(ada.id, TokenPurpose::ResetPassword);
    let other_purpose = token(ada.id, TokenPurpose::VerifyEmail);
    let other_user = token(bob.id, TokenPurpose::ResetPassword);
    let mut tx = begin(s, Scope::none()).await;
    for t in [&first, &second, &other_purpose, &other_user] {
        tx.put_token(t).await.unwrap();
    }
    tx.commit().await.unwrap();

    first.failed_attempts = 3;
    first.code_hash = None;
    let mut tx = begin(s, Scope::none()).await;
    tx.put_token(&first).await.unwrap();
    tx.commit().await.unwrap();

    let mut r = read(s).await;
    assert_eq!(
        r.token(&first.token_hash).await.unwrap(),
        Some(first.clone())
    );
    let key = |t: &TokenRecord| *t.token_hash.as_bytes();
    let listed = r
        .tokens_of(ada.id, TokenPurpose::ResetPassword)
        .await
        .unwrap();
    assert_eq!(sorted(&listed, key), sorted(&[first, second], key));
    let none = r
        .tokens_of(bob.id, TokenPurpose::ChangeEmail)
        .await
        .unwrap();
    assert!(none.is_empty());
    assert!(r.token(&hash()).await.unwrap().is_none());
}

/// Deleting a token says whether it was there; deleting a user's tokens of a purpose says
/// how many, and leaves the others.
pub async fn deleting_tokens_says_whether_they_were_there(store: Arc<dyn Store>) {
    let s = &*store;
    let ada = bare_user();
    put_users(s, &[&ada]).await;
    let one = token(ada.id, TokenPurpose::VerifyEmail);
    let resets = [
        token(ada.id, TokenPurpose::ResetPassword),
        token(ada.id, TokenPurpose::ResetPassword),
    ];
    let mut tx = begin(s, Scope::user(ada.id)).await;
    for t in resets.iter().chain([&one]) {
        tx.put_token(t).await.unwrap();
    }
    assert!(tx.delete_token(&one.token_hash).await.unwrap());
    assert!(!tx.delete_token(&one.token_hash).await.unwrap());
    let purpose = TokenPurpose::ResetPassword;
    assert_eq!(tx.delete_tokens_of(ada.id, purpose).await.unwrap(), 2);
    assert_eq!(tx.delete_tokens_of(ada.id, purpose).await.unwrap(), 0);
    tx.commit().await.unwrap();
    assert!(
        read(s)
            .await
            .token(&resets[0].token_hash)
            .await
            .unwrap()
            .is_none()
    );
}

/// Sessions come back by token hash with every field; a user's sessions are exactly those;
/// a put replaces.
pub async fn sessions_round_trip_and_are_listed_per_user(store: Arc<dyn Store>) {
    let s = &*store;
    let (ada, bob) = (bare_user(), bare_user());
    put_users(s, &[&ada, &bob]).await;
    let (mut first, second, other) = (session(ada.id), session(ada.id), session(bob.id));
    let mut tx = begin(s, Scope::none()).await;
    for one in [&first, &second, &other] {
        tx.put_session(one).await.unwrap();
    }
    first.active_workspace = None;
    first.two_factor_passed = false;
    first.last_seen_at += Duration::nanoseconds(1);
    tx.put_session(&first).await.unwrap();
    tx.commit().await.unwrap();

    let mut r = read(s).await;
    assert_eq!(
        r.session(&first.token_hash).await.unwrap(),
        Some(first.clone())
    );
    let listed = r.sessions_of(ada.id).await.unwrap();
    assert_eq!(
        sorted(&listed, |x| x.id),
        sorted(&[first, second], |x| x.id)
    );
    assert!(r.session(&hash()).await.unwrap().is_none());
    assert!(r.sessions_of(UserId::random()).await.unwrap().is_empty());
}

/// Deleting a session says whether it was there; ending a user's sessions keeps the one
/// asked for, says how many ended, and leaves other users' alone.
pub async fn deleting_sessions_keeps_the_one_asked_for(store: Arc<dyn Store>) {
    let s = &*store;
    let (ada, bob) = (bare_user(), bare_user());
    put_users(s, &[&ada, &bob]).await;
    let mine: Vec<_> = (0..4).map(|_| session(ada.id)).collect();
    let theirs = session(bob.id);
    let mut tx = begin(s, Scope::user(ada.id)).await;
    for one in mine.iter().chain([&theirs]) {
        tx.put_session(one).await.unwrap();
    }
    assert!(tx.delete_session(&mine[0].token_hash).await.unwrap());
    assert!(!tx.delete_session(&mine[0].token_hash).await.unwrap());
    let keep = &mine[1].token_hash;
    assert_eq!(tx.delete_sessions_of(ada.id, Some(keep)).await.unwrap(), 2);
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    assert_eq!(r.sessions_of(ada.id).await.unwrap(), vec![mine[1].clone()]);
    drop(r);

    let mut tx = begin(s, Scope::user(ada.id)).await;
    assert_eq!(tx.delete_sessions_of(ada.id, None).await.unwrap(), 1);
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    assert!(r.sessions_of(ada.id).await.unwrap().is_empty());
    assert_eq!(r.sessions_of(bob.id).await.unwrap(), vec![theirs]);
}

/// A counter comes back with every field, a put replaces it, a delete removes it; other
/// keys are untouched.
pub async fn throttle_counters_round_trip_and_are_replaced_and_deleted(store: Arc<dyn Store>) {
    let s = &*store;
    let (key, other) = (throttle_key(), throttle_key());
    let mut tx = begin(s, Scope::throttle(key.clone())).await;
    tx.put_throttle(&key, &throttle_state(1)).await.unwrap();
    tx.put_throttle(&other, &throttle_state(9)).await.unwrap();
    tx.put_throttle(&key, &throttle_state(2)).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    assert_eq!(r.throttle(&key).await.unwrap(), Some(throttle_state(2)));
    assert_eq!(r.throttle(&other).await.unwrap(), Some(throttle_state(9)));
    drop(r);

    let mut tx = begin(s, Scope::throttle(key.clone())).await;
    tx.delete_throttle(&key).await.unwrap();
    tx.delete_throttle(&throttle_key()).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    assert!(r.throttle(&key).await.unwrap().is_none());
    assert_eq!(r.throttle(&other).await.unwrap(), Some(throttle_state(9)));
}

/// A workspace comes back with every field; a put replaces it.
pub async fn workspaces_round_trip_and_are_replaced(store: Arc<dyn Store>) {
    let s = &*store;
    let mut acme = workspace();
    put_workspace(s, &acme).await;
    assert_eq!(
        read(s).await.workspace(acme.id).await.unwrap(),
        Some(acme.clone())
    );
    acme.name = "Acme Corp".into();
    acme.two_factor.owners_and_admins = false;
    acme.two_factor.sensitive_roles = true;
    put_workspace(s, &acme).await;
    let mut r = read(s).await;
    assert_eq!(r.workspace(acme.id).await.unwrap(), Some(acme));
    assert!(r.workspace(WorkspaceId::random()).await.unwrap().is_none());
}

/// Members are listed in the order first stored; a put of an existing member replaces its
/// role and time but keeps its place.
pub async fn members_keep_joining_order_when_replaced(store: Arc<dyn Store>) {
    let s = &*store;
    let acme = workspace();
    put_workspace(s, &acme).await;
    let mut joined: Vec<_> = [WorkspaceRole::Owner, WorkspaceRole::Member]
        .into_iter()
        .chain([WorkspaceRole::Admin, WorkspaceRole::Member])
        .map(|role| member(acme.id, role))
        .collect();
    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    for m in &joined {
        tx.put_member(m).await.unwrap();
    }
    tx.commit().await.unwrap();
    joined[0].role = WorkspaceRole::Admin;
    joined[0].joined_at += Duration::nanoseconds(5);
    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    tx.put_member(&joined[0]).await.unwrap();
    tx.commit().await.unwrap();

    let mut r = read(s).await;
    assert_eq!(r.members(acme.id).await.unwrap(), joined);
    let first = r.member(acme.id, joined[0].user_id).await.unwrap();
    assert_eq!(first, Some(joined[0].clone()));
    assert!(r.member(acme.id, UserId::random()).await.unwrap().is_none());
    assert!(r.members(WorkspaceId::random()).await.unwrap().is_empty());
}

/// A user's memberships are exactly theirs, over workspaces; deleting one says whether it
/// was there.
pub async fn memberships_are_listed_per_user_and_deleted_once(store: Arc<dyn Store>) {
    let s = &*store;
    let (acme, globex) = (workspace(), workspace());
    put_workspace(s, &acme).await;
    put_workspace(s, &globex).await;
    let here = member(acme.id, WorkspaceRole::Owner);
    let there = Member {
        workspace_id: globex.id,
        ..here.clone()
    };
    let someone = member(acme.id, WorkspaceRole::Member);
    let mut tx = begin(s, Scope::none()).await;
    for m in [&here, &there, &someone] {
        tx.put_member(m).await.unwrap();
    }
    tx.commit().await.unwrap();
    let key = |m: &Member| m.workspace_id;
    let listed = read(s).await.memberships(here.user_id).await.unwrap();
    assert_eq!(
        sorted(&listed, key),
        sorted(&[here.clone(), there.clone()], key)
    );

    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    assert!(tx.delete_member(acme.id, here.user_id).await.unwrap());
    assert!(!tx.delete_member(acme.id, here.user_id).await.unwrap());
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    assert_eq!(r.memberships(here.user_id).await.unwrap(), vec![there]);
    assert_eq!(r.members(acme.id).await.unwrap(), vec![someone]);
}

/// An invitation comes back with every field; a put replaces it; a workspace's
/// invitations are exactly its own.
pub async fn invitations_round_trip_and_are_listed_per_workspace(store: Arc<dyn Store>) {
    let s = &*store;
    let acme = workspace();
    put_workspace(s, &acme).await;
    let mut first = invitation(acme.id);
    let second = invitation(acme.id);
    let elsewhere = invitation(WorkspaceId::random());
    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    for i in [&first, &second, &elsewhere] {
        tx.put_invitation(i).await.unwrap();
    }
    first.accepted_at = None;
    first.accepted_by = None;
    first.revoked_at = Some(at(99));
    tx.put_invitation(&first).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    assert_eq!(r.invitation(first.id).await.unwrap(), Some(first.clone()));
    let listed = r.invitations(acme.id).await.unwrap();
    assert_eq!(
        sorted(&listed, |i| i.id),
        sorted(&[first, second], |i| i.id)
    );
    let unknown = InvitationId::random();
    assert!(r.invitation(unknown).await.unwrap().is_none());
}

/// A group comes back with every field, a put replaces it (a rename), a workspace's groups
/// are exactly its own, and deleting one takes its memberships and says whether it was
/// there.
pub async fn groups_round_trip_and_take_their_members_when_deleted(store: Arc<dyn Store>) {
    let s = &*store;
    let acme = workspace();
    put_workspace(s, &acme).await;
    let (mut ops, dev) = (group(acme.id, "Ops"), group(acme.id, "Dev"));
    let elsewhere = group(WorkspaceId::random(), "Ops");
    let member = UserId::random();
    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    for g in [&ops, &dev, &elsewhere] {
        tx.put_group(g).await.unwrap();
    }
    ops.name = "Operations".into();
    tx.put_group(&ops).await.unwrap();
    tx.put_group_member(ops.id, member).await.unwrap();
    tx.put_group_member(dev.id, member).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    assert_eq!(r.group(ops.id).await.unwrap(), Some(ops.clone()));
    let listed = r.groups(acme.id).await.unwrap();
    assert_eq!(
        sorted(&listed, |g| g.id),
        sorted(&[ops.clone(), dev.clone()], |g| g.id)
    );
    drop(r);

    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    assert!(tx.delete_group(ops.id).await.unwrap());
    assert!(!tx.delete_group(ops.id).await.unwrap());
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    assert!(r.group(ops.id).await.unwrap().is_none());
    assert!(r.group_members(ops.id).await.unwrap().is_empty());
    assert_eq!(r.groups_of(acme.id, member).await.unwrap(), vec![dev.id]);
    assert_eq!(r.groups(acme.id).await.unwrap(), vec![dev]);
}

/// Adding a member says whether they were new, removing one whether they were there; a
/// group's members and a user's groups in a workspace are exactly those.
pub async fn group_members_are_added_and_removed_once(store: Arc<dyn Store>) {
    let s = &*store;
    let (acme, globex) = (workspace(), workspace());
    put_workspace(s, &acme).await;
    put_workspace(s, &globex).await;
    let (ops, dev, theirs) = (
        group(acme.id, "Ops"),
        group(acme.id, "Dev"),
        group(globex.id, "Ops"),
    );
    let (ada, bob) = (UserId::random(), UserId::random());
    let mut tx = begin(s, Scope::workspace(acme.id).and_workspace(globex.id)).await;
    for g in [&ops, &dev, &theirs] {
        tx.put_group(g).await.unwrap();
    }
    assert!(tx.put_group_member(ops.id, ada).await.unwrap());
    assert!(!tx.put_group_member(ops.id, ada).await.unwrap());
    for (g, u) in [(ops.id, bob), (dev.id, ada), (theirs.id, ada)] {
        assert!(tx.put_group_member(g, u).await.unwrap());
    }
    assert!(tx.delete_group_member(dev.id, ada).await.unwrap());
    assert!(!tx.delete_group_member(dev.id, ada).await.unwrap());
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    let members = r.group_members(ops.id).await.unwrap();
    assert_eq!(sorted(&members, |u| *u), sorted(&[ada, bob], |u| *u));
    assert_eq!(r.groups_of(acme.id, ada).await.unwrap(), vec![ops.id]);
    assert_eq!(r.groups_of(globex.id, ada).await.unwrap(), vec![theirs.id]);
    assert!(r.group_members(dev.id).await.unwrap().is_empty());
}

/// A store that keeps group names unique per workspace ignoring ASCII case (the optional
/// safety net under vault-core's own check: SQL stores do, the memory store does not)
/// refuses a second such name with [`Error::Conflict`] and keeps the first; another
/// workspace may always use the name.
pub async fn a_group_name_differing_only_in_ascii_case_is_a_conflict(store: Arc<dyn Store>) {
    let s = &*store;
    let (acme, globex) = (workspace(), workspace());
    let ops = group(acme.id, "Ops Team");
    let mut tx = begin(s, Scope::none()).await;
    tx.put_group(&ops).await.unwrap();
    tx.put_group(&group(globex.id, "OPS team")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    match tx.put_group(&group(acme.id, "oPS TEAM")).await {
        Ok(()) => return, // no safety net in this store
        Err(Error::Conflict(_)) => drop(tx),
        Err(other) => panic!("a taken name is a conflict, not {other:?}"),
    }
    assert_eq!(read(s).await.groups(acme.id).await.unwrap(), vec![ops]);
}

/// Grants are listed in the order stored; deleting one says whether it was there; deleting
/// a grantee's says how many, leaving the others.
pub async fn grants_are_listed_oldest_first_and_deleted_per_grantee(store: Arc<dyn Store>) {
    let s = &*store;
    let acme = workspace();
    let (ada, ops) = (
        Grantee::User(UserId::random()),
        Grantee::Group(GroupId::random()),
    );
    let stored = [
        grant(acme.id, ada, "submit", "viewer"),
        grant(acme.id, ops, "billing", "admin"),
        grant(acme.id, ada, "billing", "viewer"),
        grant(acme.id, ada, "submit", "admin"),
    ];
    let elsewhere = grant(WorkspaceId::random(), ada, "submit", "viewer");
    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    for g in stored.iter().chain([&elsewhere]) {
        tx.insert_grant(g).await.unwrap();
    }
    tx.commit().await.unwrap();
    assert_eq!(
        read(s).await.grants(acme.id).await.unwrap(),
        stored.to_vec()
    );

    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    let (product, role) = (product_id("billing"), "admin".parse().unwrap());
    assert!(
        tx.delete_grant(acme.id, &ops, &product, &role)
            .await
            .unwrap()
    );
    assert!(
        !tx.delete_grant(acme.id, &ops, &product, &role)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    let left = [stored[0].clone(), stored[2].clone(), stored[3].clone()];
    assert_eq!(r.grants(acme.id).await.unwrap(), left.to_vec());
    drop(r);

    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    assert_eq!(tx.delete_grants_of(acme.id, &ada).await.unwrap(), 3);
    assert_eq!(tx.delete_grants_of(acme.id, &ada).await.unwrap(), 0);
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    assert!(r.grants(acme.id).await.unwrap().is_empty());
    assert_eq!(
        r.grants(elsewhere.workspace_id).await.unwrap(),
        vec![elsewhere]
    );
}

/// A second grant of the same (workspace, grantee, product, role) is a conflict, however
/// it differs otherwise; the first stays as it was.
pub async fn a_duplicate_grant_is_a_conflict(store: Arc<dyn Store>) {
    let s = &*store;
    let acme = workspace();
    let ada = Grantee::User(UserId::random());
    let first = grant(acme.id, ada, "submit", "viewer");
    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    tx.insert_grant(&first).await.unwrap();
    tx.commit().await.unwrap();
    let again = Grant {
        granted_by: UserId::random(),
        granted_at: at(77),
        ..first.clone()
    };
    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    let duplicate = tx.insert_grant(&again).await;
    assert!(
        matches!(duplicate, Err(Error::Conflict(_))),
        "{duplicate:?}"
    );
    drop(tx);
    assert_eq!(read(s).await.grants(acme.id).await.unwrap(), vec![first]);
}

/// A subscription comes back with every field, a put replaces the one of its product, and
/// a workspace's subscriptions are exactly its own.
pub async fn subscriptions_round_trip_and_are_replaced_per_product(store: Arc<dyn Store>) {
    let s = &*store;
    let acme = workspace();
    let submit = subscription(acme.id, "submit", true);
    let billing = subscription(acme.id, "billing", true);
    let elsewhere = subscription(WorkspaceId::random(), "submit", true);
    let mut tx = begin(s, Scope::workspace(acme.id)).await;
    for sub in [&submit, &billing, &elsewhere] {
        tx.put_subscription(sub).await.unwrap();
    }
    let paused = Subscription {
        active: false,
        changed_by: UserId::random(),
        changed_at: at(55),
        ..billing
    };
    tx.put_subscription(&paused).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = read(s).await;
    let found = r.subscription(acme.id, &paused.product).await.unwrap();
    assert_eq!(found, Some(paused.clone()));
    let listed = r.subscriptions(acme.id).await.unwrap();
    let key = |x: &Subscription| x.product.clone();
    assert_eq!(sorted(&listed, key), sorted(&[submit, paused], key));
    let nothing = r.subscription(acme.id, &product_id("other")).await.unwrap();
    assert!(nothing.is_none());
}

//! Records the cases store: every field set (optional ones too, times with a nanosecond
//! part), random ids, so each case starts from rows of its own.

use std::time::Duration as StdDuration;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate::access::{
    Grant, Grantee, Group, GroupId, Invitation, InvitationId, Member, RoleName, Subscription,
    TwoFactorPolicy, Workspace, WorkspaceRole,
};
use crate::accounts::{
    Email, SecretHash, SessionRecord, ThrottleKey, ThrottleState, TokenPurpose, TokenRecord,
    TwoFactorState, User,
};
use crate::ids::{ProductId, UserId, WorkspaceId};
use crate::store::{Scope, Store, Transaction};

/// A fixed instant with a nanosecond part, so round trips are checked to the nanosecond.
pub(super) const T0: OffsetDateTime = datetime!(2030-01-02 03:04:05.123456789 UTC);

/// How long a case with concurrent transactions may take before it counts as stuck.
pub(super) const PATIENCE: StdDuration = StdDuration::from_secs(60);

pub(super) fn at(nanos: i64) -> OffsetDateTime {
    T0 + Duration::nanoseconds(nanos)
}

pub(super) fn random_bytes() -> [u8; 32] {
    let mut out = [0; 32];
    out[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out
}

pub(super) fn hash() -> SecretHash {
    SecretHash::from_bytes(random_bytes())
}

pub(super) fn email() -> Email {
    let local = uuid::Uuid::new_v4().simple();
    Email::parse(&format!("Ada.{local}@Example.com")).expect("a valid address")
}

/// A user with a password, confirmed two-factor state and three recovery codes, one used.
pub(super) fn user() -> User {
    User {
        id: UserId::random(),
        name: "Ada".into(),
        email: email(),
        email_verified: true,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        two_factor: Some(TwoFactorState {
            sealed_secret: random_bytes().to_vec(),
            enabled: true,
            last_step: Some(59_000_123),
            recovery_codes: vec![Some(random_bytes().to_vec()), None, Some(vec![7; 32])],
        }),
        created_at: T0,
    }
}

/// A user without password or two-factor state, as a sign-up leaves it.
pub(super) fn bare_user() -> User {
    User {
        password_hash: None,
        two_factor: None,
        email_verified: false,
        ..user()
    }
}

/// Compares every field (`User` has no `PartialEq`: its `Debug` hides the secrets).
pub(super) fn assert_same_user(found: &User, expected: &User) {
    assert_eq!(found.id, expected.id);
    assert_eq!(found.name, expected.name);
    assert_eq!(found.email.as_str(), expected.email.as_str());
    assert_eq!(found.email_verified, expected.email_verified);
    assert_eq!(found.password_hash, expected.password_hash);
    assert_eq!(found.two_factor, expected.two_factor);
    assert_eq!(found.created_at, expected.created_at);
}

pub(super) fn token(user: UserId, purpose: TokenPurpose) -> TokenRecord {
    TokenRecord {
        token_hash: hash(),
        code_hash: Some(hash()),
        purpose,
        user_id: user,
        email: email(),
        created_at: at(1),
        expires_at: at(2) + Duration::minutes(30),
        failed_attempts: 2,
    }
}

pub(super) fn session(user: UserId) -> SessionRecord {
    SessionRecord {
        token_hash: hash(),
        id: uuid::Uuid::new_v4(),
        user_id: user,
        created_at: at(3),
        last_seen_at: at(4),
        absolute_expires_at: at(5) + Duration::days(30),
        active_workspace: Some(WorkspaceId::random()),
        two_factor_passed: true,
    }
}

pub(super) fn throttle_state(attempts: u32) -> ThrottleState {
    ThrottleState {
        attempts,
        window_start: Some(at(6)),
        locked_until: Some(at(7) + Duration::minutes(5)),
        locks: 3,
    }
}

/// A throttle key no other case uses.
pub(super) fn throttle_key() -> ThrottleKey {
    ThrottleKey::SecondFactor(UserId::random())
}

pub(super) fn workspace() -> Workspace {
    Workspace {
        id: WorkspaceId::random(),
        name: "Acme".into(),
        created_by: UserId::random(),
        created_at: at(8),
        two_factor: TwoFactorPolicy {
            owners_and_admins: true,
            sensitive_roles: false,
        },
    }
}

pub(super) fn member(workspace: WorkspaceId, role: WorkspaceRole) -> Member {
    Member {
        workspace_id: workspace,
        user_id: UserId::random(),
        role,
        joined_at: at(9),
    }
}

pub(super) fn invitation(workspace: WorkspaceId) -> Invitation {
    Invitation {
        id: InvitationId::random(),
        workspace_id: workspace,
        email: "grace@example.com".into(),
        role: WorkspaceRole::Admin,
        invited_by: UserId::random(),
        created_at: at(10),
        expires_at: at(11) + Duration::days(7),
        token_hash: random_bytes(),
        accepted_at: Some(at(12)),
        accepted_by: Some(UserId::random()),
        revoked_at: None,
    }
}

pub(super) fn group(workspace: WorkspaceId, name: &str) -> Group {
    Group {
        id: GroupId::random(),
        workspace_id: workspace,
        name: name.into(),
        created_by: UserId::random(),
        created_at: at(13),
    }
}

pub(super) fn grant(workspace: WorkspaceId, grantee: Grantee, product: &str, role: &str) -> Grant {
    Grant {
        workspace_id: workspace,
        grantee,
        product: product.parse().expect("a valid product"),
        role: RoleName::new(role).expect("a valid role"),
        granted_by: UserId::random(),
        granted_at: at(14),
    }
}

pub(super) fn subscription(workspace: WorkspaceId, product: &str, active: bool) -> Subscription {
    Subscription {
        workspace_id: workspace,
        product: product_id(product),
        active,
        changed_by: UserId::random(),
        changed_at: at(15),
    }
}

pub(super) fn product_id(product: &str) -> ProductId {
    product.parse().expect("a valid product")
}

/// A write transaction of `scope`.
pub(super) async fn begin(store: &dyn Store, scope: Scope) -> Box<dyn Transaction + '_> {
    store.begin(scope).await.expect("a transaction begins")
}

/// A read view.
pub(super) async fn read(store: &dyn Store) -> Box<dyn Transaction + '_> {
    store.read().await.expect("a read view opens")
}

/// Sorted, so a list in no particular order compares with what was put.
pub(super) fn sorted<T: Clone, K: Ord>(items: &[T], key: impl FnMut(&T) -> K) -> Vec<T> {
    let mut items = items.to_vec();
    items.sort_by_key(key);
    items
}

//! Cases of the unit of work: a read view writes nothing, a transaction sees its own writes,
//! a dropped one leaves nothing, a commit shows everything at once, and nobody sees what is
//! not committed.

use std::sync::Arc;

use super::records::{
    PATIENCE, assert_same_user, bare_user, begin, grant, group, invitation, member, read, session,
    subscription, throttle_key, throttle_state, token, workspace,
};
use crate::Error;
use crate::access::{
    Grant, Grantee, Group, Invitation, Member, Subscription, Workspace, WorkspaceRole,
};
use crate::accounts::{SessionRecord, ThrottleKey, TokenPurpose, TokenRecord, User};
use crate::store::{Scope, Store, Transaction};

/// One row in every table, linked as a store may require (token and session to the user,
/// member and group member to the workspace and group).
struct Rows {
    user: User,
    token: TokenRecord,
    session: SessionRecord,
    key: ThrottleKey,
    workspace: Workspace,
    member: Member,
    invitation: Invitation,
    group: Group,
    grant: Grant,
    subscription: Subscription,
}

impl Rows {
    fn new() -> Self {
        let user = bare_user();
        let workspace = workspace();
        let member = Member {
            user_id: user.id,
            ..member(workspace.id, WorkspaceRole::Owner)
        };
        let group = group(workspace.id, "Ops");
        Self {
            token: token(user.id, TokenPurpose::VerifyEmail),
            session: session(user.id),
            key: throttle_key(),
            grant: grant(workspace.id, Grantee::Group(group.id), "submit", "viewer"),
            invitation: invitation(workspace.id),
            subscription: subscription(workspace.id, "submit", true),
            member,
            group,
            user,
            workspace,
        }
    }

    fn scope(&self) -> Scope {
        Scope::user(self.user.id)
            .and_workspace(self.workspace.id)
            .and_throttle(self.key.clone())
    }

    /// Writes every row, parents first.
    async fn put(&self, tx: &mut dyn Transaction) {
        tx.put_user(&self.user).await.unwrap();
        tx.put_token(&self.token).await.unwrap();
        tx.put_session(&self.session).await.unwrap();
        tx.put_throttle(&self.key, &throttle_state(1))
            .await
            .unwrap();
        tx.put_workspace(&self.workspace).await.unwrap();
        tx.put_member(&self.member).await.unwrap();
        tx.put_invitation(&self.invitation).await.unwrap();
        tx.put_group(&self.group).await.unwrap();
        tx.put_group_member(self.group.id, self.user.id)
            .await
            .unwrap();
        tx.insert_grant(&self.grant).await.unwrap();
        tx.put_subscription(&self.subscription).await.unwrap();
    }

    /// Whether `tx` sees row `i` of [`Rows::put`]'s order.
    async fn sees(&self, tx: &mut dyn Transaction, i: usize) -> bool {
        let (w, product) = (self.workspace.id, &self.subscription.product);
        let found = match i {
            0 => tx.user(self.user.id).await.map(|u| u.is_some()),
            1 => tx.token(&self.token.token_hash).await.map(|t| t.is_some()),
            2 => tx
                .session(&self.session.token_hash)
                .await
                .map(|s| s.is_some()),
            3 => tx.throttle(&self.key).await.map(|t| t.is_some()),
            4 => tx.workspace(w).await.map(|w| w.is_some()),
            5 => tx.member(w, self.user.id).await.map(|m| m.is_some()),
            6 => tx.invitation(self.invitation.id).await.map(|i| i.is_some()),
            7 => tx.group(self.group.id).await.map(|g| g.is_some()),
            8 => tx.group_members(self.group.id).await.map(|m| !m.is_empty()),
            9 => tx.grants(w).await.map(|g| !g.is_empty()),
            _ => tx.subscription(w, product).await.map(|s| s.is_some()),
        };
        found.expect("a read")
    }

    /// Which of the rows `tx` sees, read in the order of `order`.
    async fn seen_in(&self, tx: &mut dyn Transaction, order: [usize; 11]) -> [bool; 11] {
        let mut seen = [false; 11];
        for (slot, i) in seen.iter_mut().zip(order) {
            *slot = self.sees(tx, i).await;
        }
        seen
    }

    /// Which of the rows `tx` sees, in [`Rows::put`]'s order.
    async fn seen(&self, tx: &mut dyn Transaction) -> [bool; 11] {
        self.seen_in(tx, FORWARD).await
    }
}

const FORWARD: [usize; 11] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
const NONE: [bool; 11] = [false; 11];
const ALL: [bool; 11] = [true; 11];

/// Every write of a read view is refused with [`Error::Store`] and stores nothing; its
/// commit does nothing.
pub async fn a_read_view_refuses_every_write(store: Arc<dyn Store>) {
    let s = &*store;
    let rows = Rows::new();
    let (user, w, g) = (rows.user.id, rows.workspace.id, rows.group.id);
    let grantee = rows.grant.grantee;
    let (product, role) = (&rows.grant.product, &rows.grant.role);
    let mut r = read(s).await;
    let refused = [
        r.put_user(&rows.user).await.err(),
        r.put_token(&rows.token).await.err(),
        r.delete_token(&rows.token.token_hash).await.err(),
        r.delete_tokens_of(user, TokenPurpose::VerifyEmail)
            .await
            .err(),
        r.put_session(&rows.session).await.err(),
        r.delete_session(&rows.session.token_hash).await.err(),
        r.delete_sessions_of(user, None).await.err(),
        r.put_throttle(&rows.key, &throttle_state(1)).await.err(),
        r.delete_throttle(&rows.key).await.err(),
        r.put_workspace(&rows.workspace).await.err(),
        r.put_member(&rows.member).await.err(),
        r.delete_member(w, user).await.err(),
        r.put_invitation(&rows.invitation).await.err(),
        r.put_group(&rows.group).await.err(),
        r.delete_group(g).await.err(),
        r.put_group_member(g, user).await.err(),
        r.delete_group_member(g, user).await.err(),
        r.insert_grant(&rows.grant).await.err(),
        r.delete_grant(w, &grantee, product, role).await.err(),
        r.delete_grants_of(w, &grantee).await.err(),
        r.put_subscription(&rows.subscription).await.err(),
    ];
    for (i, answer) in refused.iter().enumerate() {
        assert!(
            matches!(answer, Some(Error::Store(_))),
            "write {i}: {answer:?}"
        );
    }
    assert_eq!(rows.seen(&mut *r).await, NONE);
    r.commit().await.expect("a read view's commit does nothing");
    assert_eq!(rows.seen(&mut *read(s).await).await, NONE);
}

/// Inside a transaction, every read sees the transaction's own writes, deletes included.
pub async fn a_transaction_reads_its_own_writes(store: Arc<dyn Store>) {
    let s = &*store;
    let rows = Rows::new();
    let mut tx = begin(s, rows.scope()).await;
    rows.put(&mut *tx).await;
    assert_eq!(rows.seen(&mut *tx).await, ALL);
    let mut renamed = rows.user.clone();
    renamed.name = "Ada L.".into();
    tx.put_user(&renamed).await.unwrap();
    assert_same_user(&tx.user(renamed.id).await.unwrap().unwrap(), &renamed);
    assert!(tx.delete_session(&rows.session.token_hash).await.unwrap());
    assert!(
        tx.session(&rows.session.token_hash)
            .await
            .unwrap()
            .is_none()
    );
}

/// A transaction dropped without commit leaves nothing of what it wrote, in any table, and
/// its scope can be taken again at once.
pub async fn a_dropped_transaction_leaves_nothing(store: Arc<dyn Store>) {
    let s = &*store;
    let rows = Rows::new();
    let mut tx = begin(s, rows.scope()).await;
    rows.put(&mut *tx).await;
    drop(tx);
    assert_eq!(rows.seen(&mut *read(s).await).await, NONE);
    let again = tokio::time::timeout(PATIENCE, s.begin(rows.scope())).await;
    let mut tx = again.expect("the dropped scope is free").unwrap();
    assert_eq!(rows.seen(&mut *tx).await, NONE);
}

/// After a commit every write is visible; while it commits, a reader that sees one row of
/// it sees every other (none appears before the rest).
pub async fn a_commit_makes_every_write_visible_at_once(store: Arc<dyn Store>) {
    let rows = Arc::new(Rows::new());
    let (reader_store, reader_rows) = (Arc::clone(&store), Arc::clone(&rows));
    let reader = tokio::spawn(async move {
        let s = &*reader_store;
        for round in 0usize.. {
            // Read in both orders: whatever is seen first was committed, so everything
            // read after it must be there too.
            let mut order = FORWARD;
            if round % 2 == 1 {
                order.reverse();
            }
            let seen = reader_rows.seen_in(&mut *read(s).await, order).await;
            if let Some(first) = seen.iter().position(|&s| s) {
                assert!(seen[first..].iter().all(|&s| s), "half a commit: {seen:?}");
                return;
            }
            tokio::task::yield_now().await;
        }
    });
    let s = &*store;
    let mut tx = begin(s, rows.scope()).await;
    rows.put(&mut *tx).await;
    tx.commit().await.unwrap();
    tokio::time::timeout(PATIENCE, reader)
        .await
        .expect("the reader sees the commit")
        .unwrap();
    assert_eq!(rows.seen(&mut *read(s).await).await, ALL);
}

/// A read view never sees what an open transaction wrote (new rows, changes, deletes), only
/// what it commits.
pub async fn a_read_view_never_sees_uncommitted_writes(store: Arc<dyn Store>) {
    let s = &*store;
    let (old, new) = (Rows::new(), Rows::new());
    let mut tx = begin(s, old.scope()).await;
    old.put(&mut *tx).await;
    tx.commit().await.unwrap();

    let mut tx = begin(s, old.scope().and_user(new.user.id)).await;
    new.put(&mut *tx).await;
    let mut renamed = old.user.clone();
    renamed.name = "changed".into();
    tx.put_user(&renamed).await.unwrap();
    tx.delete_session(&old.session.token_hash).await.unwrap();
    let mut r = read(s).await;
    assert_eq!(new.seen(&mut *r).await, NONE);
    assert_eq!(old.seen(&mut *r).await, ALL);
    assert_eq!(
        r.user(old.user.id).await.unwrap().unwrap().name,
        old.user.name
    );
    drop(r);

    tx.commit().await.unwrap();
    let mut r = read(s).await;
    assert_eq!(new.seen(&mut *r).await, ALL);
    assert_eq!(r.user(old.user.id).await.unwrap().unwrap().name, "changed");
    assert!(r.session(&old.session.token_hash).await.unwrap().is_none());
}

/// Locking a throttle key that has no counter (a store may create a row to lock it) leaves
/// no counter, committed or not; a put then stores it.
pub async fn locking_a_throttle_key_leaves_no_counter(store: Arc<dyn Store>) {
    let s = &*store;
    let key = throttle_key();
    let mut tx = begin(s, Scope::throttle(key.clone())).await;
    assert!(tx.throttle(&key).await.unwrap().is_none());
    tx.commit().await.unwrap();
    assert!(read(s).await.throttle(&key).await.unwrap().is_none());
    let mut tx = begin(s, Scope::throttle(key.clone())).await;
    assert!(tx.throttle(&key).await.unwrap().is_none());
    tx.put_throttle(&key, &throttle_state(4)).await.unwrap();
    tx.commit().await.unwrap();
    let found = read(s).await.throttle(&key).await.unwrap();
    assert_eq!(found, Some(throttle_state(4)));
}

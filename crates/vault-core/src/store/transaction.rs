//! The unit of work: a [`Store`] opens a [`Transaction`] scoped to the users, workspaces and
//! throttle keys a flow touches; vault-core runs every rule inside it and commits. A
//! transaction dropped without [`Transaction::commit`] changes nothing.
//!
//! Scopes are locked in one fixed order (users, then workspaces, then throttle keys, each
//! sorted), so two transactions can never wait on each other in a cycle. A transaction writes
//! only rows that belong to its scope (or rows it creates), which keeps that promise.

use async_trait::async_trait;

use crate::Error;
use crate::accounts::ThrottleKey;
use crate::ids::{UserId, WorkspaceId};
use crate::store::{
    GrantRows, GroupRows, InvitationRows, MailRows, MemberRows, SessionRows, SubscriptionRows,
    ThrottleRows, TokenRows, UserRows, WorkspaceRows,
};

/// What a write transaction locks: the users, workspaces and throttle keys whose rows it
/// reads to decide and then writes. Kept sorted and without repeats, which is the lock order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    users: Vec<UserId>,
    workspaces: Vec<WorkspaceId>,
    throttles: Vec<ThrottleKey>,
}

impl Scope {
    /// A scope locking nothing: for writes that decide nothing on what they read (the store's
    /// own constraints, such as a unique email, still hold).
    pub fn none() -> Self {
        Self::default()
    }

    /// A scope of one user.
    pub fn user(user: UserId) -> Self {
        Self::none().and_user(user)
    }

    /// A scope of one workspace.
    pub fn workspace(workspace: WorkspaceId) -> Self {
        Self::none().and_workspace(workspace)
    }

    /// A scope of one throttle key.
    pub fn throttle(key: ThrottleKey) -> Self {
        Self::none().and_throttle(key)
    }

    /// Also locks `user`.
    pub fn and_user(mut self, user: UserId) -> Self {
        insert_sorted(&mut self.users, user);
        self
    }

    /// Also locks `workspace`.
    pub fn and_workspace(mut self, workspace: WorkspaceId) -> Self {
        insert_sorted(&mut self.workspaces, workspace);
        self
    }

    /// Also locks the throttle counter under `key`.
    pub fn and_throttle(mut self, key: ThrottleKey) -> Self {
        insert_sorted(&mut self.throttles, key);
        self
    }

    /// The users, in lock order.
    pub fn users(&self) -> &[UserId] {
        &self.users
    }

    /// The workspaces, in lock order (after every user).
    pub fn workspaces(&self) -> &[WorkspaceId] {
        &self.workspaces
    }

    /// The throttle keys, in lock order (after every workspace).
    pub fn throttles(&self) -> &[ThrottleKey] {
        &self.throttles
    }
}

fn insert_sorted<T: Ord>(items: &mut Vec<T>, item: T) {
    if let Err(at) = items.binary_search(&item) {
        items.insert(at, item);
    }
}

/// Persistence of accounts and access as rows, with transactions: implemented by the memory
/// store and `vault-sqlx`; [`crate::testing::conformance`] (feature `test-util`) checks an
/// implementation.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Opens a write transaction holding the locks of `scope` until it ends. On SQLite this
    /// is `BEGIN IMMEDIATE`; on PostgreSQL the scope's rows are locked `FOR UPDATE`; the memory
    /// store takes its one write lock.
    async fn begin(&self, scope: Scope) -> Result<Tx<'_>, Error>;

    /// A read view: every read sees committed data, nothing is locked, and writes are refused
    /// with [`Error::Store`]. [`Transaction::commit`] on it does nothing.
    async fn read(&self) -> Result<Tx<'_>, Error>;
}

/// A boxed transaction, as [`Store`] hands them out.
pub type Tx<'a> = Box<dyn Transaction + 'a>;

/// One unit of work over every row trait. Dropped without [`Transaction::commit`], it is
/// rolled back.
#[async_trait]
pub trait Transaction:
    UserRows
    + TokenRows
    + SessionRows
    + ThrottleRows
    + WorkspaceRows
    + MemberRows
    + InvitationRows
    + GroupRows
    + GrantRows
    + SubscriptionRows
    + MailRows
    + Send
{
    /// Makes every write of the transaction visible at once, or none of them.
    async fn commit(self: Box<Self>) -> Result<(), Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_keep_one_lock_order_whatever_the_order_of_the_calls() {
        let (a, b) = (UserId::random(), UserId::random());
        let (w, v) = (WorkspaceId::random(), WorkspaceId::random());
        let one = Scope::user(a).and_workspace(w).and_user(b).and_workspace(v);
        let two = Scope::workspace(v)
            .and_user(b)
            .and_workspace(w)
            .and_user(a)
            .and_user(a);
        assert_eq!(one, two);
        assert_eq!(one.users().len(), 2);
        assert!(one.users().windows(2).all(|p| p[0] < p[1]));
        assert!(one.workspaces().windows(2).all(|p| p[0] < p[1]));
    }
}

//! Transactions of the memory store: one writer at a time (the scope's locks all fold into
//! that one lock), copy-on-write tables, and a swap at commit.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use async_trait::async_trait;

use super::MemoryStore;
use crate::Error;
use crate::access::{
    Grant, Group, GroupId, Invitation, InvitationId, Member, Subscription, Workspace,
};
use crate::accounts::{
    QueuedMail, SecretHash, SessionRecord, ThrottleKey, ThrottleState, TokenRecord, User,
};
use crate::ids::{ProductId, UserId, WorkspaceId};
use crate::store::{Scope, Store, Transaction};

/// Every account and access table.
#[derive(Clone, Debug, Default)]
pub(super) struct Tables {
    pub(super) users: HashMap<UserId, User>,
    /// Normalized email → user: the unique constraint on addresses.
    pub(super) by_email: HashMap<String, UserId>,
    pub(super) tokens: HashMap<SecretHash, TokenRecord>,
    pub(super) sessions: HashMap<SecretHash, SessionRecord>,
    pub(super) throttle: HashMap<ThrottleKey, ThrottleState>,
    pub(super) workspaces: HashMap<WorkspaceId, Workspace>,
    /// Per workspace, in the order first stored.
    pub(super) members: HashMap<WorkspaceId, Vec<Member>>,
    pub(super) invitations: HashMap<InvitationId, Invitation>,
    pub(super) groups: HashMap<GroupId, Group>,
    pub(super) group_members: HashMap<GroupId, BTreeSet<UserId>>,
    pub(super) subscriptions: HashMap<(WorkspaceId, ProductId), Subscription>,
    /// Per workspace, in the order stored.
    pub(super) grants: HashMap<WorkspaceId, Vec<Grant>>,
    pub(super) mails: HashMap<uuid::Uuid, QueuedMail>,
}

/// The committed tables and the write lock.
#[derive(Debug, Default)]
pub(super) struct Rows {
    committed: RwLock<Arc<Tables>>,
    writer: tokio::sync::Mutex<()>,
}

impl Rows {
    fn snapshot(&self) -> Arc<Tables> {
        Arc::clone(
            &self
                .committed
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

/// A transaction or read view of the memory store.
pub(super) struct MemoryTransaction<'a> {
    tables: Arc<Tables>,
    writer: Option<Writer<'a>>,
}

struct Writer<'a> {
    _lock: tokio::sync::MutexGuard<'a, ()>,
    committed: &'a RwLock<Arc<Tables>>,
}

impl MemoryTransaction<'_> {
    pub(super) fn tables(&self) -> &Tables {
        &self.tables
    }

    /// The tables to write: the transaction's own copy. Refused in a read view.
    pub(super) fn tables_mut(&mut self) -> Result<&mut Tables, Error> {
        if self.writer.is_none() {
            return Err(Error::Store("a read view cannot write".into()));
        }
        Ok(Arc::make_mut(&mut self.tables))
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn begin(&self, scope: Scope) -> Result<Box<dyn Transaction + '_>, Error> {
        // One lock stands for every scope: writers queue, in one order by construction.
        let _ = scope;
        let lock = self.rows.writer.lock().await;
        Ok(Box::new(MemoryTransaction {
            tables: self.rows.snapshot(),
            writer: Some(Writer {
                _lock: lock,
                committed: &self.rows.committed,
            }),
        }))
    }

    async fn read(&self) -> Result<Box<dyn Transaction + '_>, Error> {
        Ok(Box::new(MemoryTransaction {
            tables: self.rows.snapshot(),
            writer: None,
        }))
    }
}

#[async_trait]
impl Transaction for MemoryTransaction<'_> {
    async fn commit(self: Box<Self>) -> Result<(), Error> {
        let this = *self;
        if let Some(writer) = this.writer {
            *writer
                .committed
                .write()
                .unwrap_or_else(PoisonError::into_inner) = this.tables;
        }
        Ok(())
    }
}

//! Fault injection for stores: [`FaultyStore`] wraps any [`Store`] and fails the Nth write or
//! commit from the moment it is armed, and [`Snapshot`] reads every row a flow can touch, so a
//! test can prove that a flow failing at any step leaves the store as it found it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;

use crate::Error;
use crate::access::{
    Grant, Grantee, Group, GroupId, Invitation, InvitationId, Member, RoleName, Subscription,
    Workspace,
};
use crate::accounts::{
    Email, QueuedMail, SecretHash, SessionRecord, ThrottleKey, ThrottleState, TokenPurpose,
    TokenRecord, User,
};
use crate::ids::{ProductId, UserId, WorkspaceId};
use crate::store::{
    GrantRows, GroupRows, InvitationRows, MailRows, MemberRows, Scope, SessionRows, Store,
    SubscriptionRows, ThrottleRows, TokenRows, Transaction, Tx, UserRows, WorkspaceRows,
};
use time::OffsetDateTime;

/// A [`Store`] that fails on demand: arm it with [`FaultyStore::fail_step`] and the Nth write
/// or commit after that answers [`Error::StoreUnavailable`] instead of reaching the store (a
/// failed commit rolls the transaction back). Every other call goes through unchanged.
pub struct FaultyStore {
    inner: Arc<dyn Store>,
    plan: FaultPlan,
}

#[derive(Default)]
struct FaultPlan {
    /// Writes and commits since the store was armed.
    steps: AtomicU64,
    /// The step that fails (1-based); 0: none.
    fail_at: AtomicU64,
    /// Whether the armed step was reached.
    tripped: AtomicU64,
}

impl FaultPlan {
    /// Counts a step; `Err` if it is the one to fail.
    fn step(&self, what: &'static str) -> Result<(), Error> {
        let n = self.steps.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_at.load(Ordering::SeqCst) {
            self.tripped.store(1, Ordering::SeqCst);
            return Err(Error::StoreUnavailable(
                format!("injected fault at step {n} ({what})").into(),
            ));
        }
        Ok(())
    }
}

impl FaultyStore {
    /// Wraps `inner`, unarmed.
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            plan: FaultPlan::default(),
        }
    }

    /// From now on, the `n`th write or commit (1-based) fails; `0` disarms. Resets the count.
    pub fn fail_step(&self, n: u64) {
        self.plan.steps.store(0, Ordering::SeqCst);
        self.plan.tripped.store(0, Ordering::SeqCst);
        self.plan.fail_at.store(n, Ordering::SeqCst);
    }

    /// Writes and commits since the last [`FaultyStore::fail_step`].
    pub fn steps(&self) -> u64 {
        self.plan.steps.load(Ordering::SeqCst)
    }

    /// Whether the armed step was reached (and failed).
    pub fn tripped(&self) -> bool {
        self.plan.tripped.load(Ordering::SeqCst) == 1
    }
}

impl std::fmt::Debug for FaultyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore")
            .field("steps", &self.steps())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for FaultyStore {
    async fn begin(&self, scope: Scope) -> Result<Tx<'_>, Error> {
        let inner = self.inner.begin(scope).await?;
        Ok(Box::new(FaultyTransaction {
            inner,
            plan: &self.plan,
        }))
    }

    async fn read(&self) -> Result<Tx<'_>, Error> {
        let inner = self.inner.read().await?;
        Ok(Box::new(FaultyTransaction {
            inner,
            plan: &self.plan,
        }))
    }
}

struct FaultyTransaction<'a> {
    inner: Tx<'a>,
    plan: &'a FaultPlan,
}

#[async_trait]
impl Transaction for FaultyTransaction<'_> {
    async fn commit(self: Box<Self>) -> Result<(), Error> {
        // The inner transaction is dropped (rolled back) when the commit "fails".
        self.plan.step("commit")?;
        self.inner.commit().await
    }
}

#[async_trait]
impl UserRows for FaultyTransaction<'_> {
    async fn user(&mut self, id: UserId) -> Result<Option<User>, Error> {
        self.inner.user(id).await
    }
    async fn user_by_email(&mut self, email: &Email) -> Result<Option<User>, Error> {
        self.inner.user_by_email(email).await
    }
    async fn put_user(&mut self, user: &User) -> Result<(), Error> {
        self.plan.step("put_user")?;
        self.inner.put_user(user).await
    }
}

#[async_trait]
impl TokenRows for FaultyTransaction<'_> {
    async fn token(&mut self, hash: &SecretHash) -> Result<Option<TokenRecord>, Error> {
        self.inner.token(hash).await
    }
    async fn tokens_of(
        &mut self,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<Vec<TokenRecord>, Error> {
        self.inner.tokens_of(user, purpose).await
    }
    async fn put_token(&mut self, token: &TokenRecord) -> Result<(), Error> {
        self.plan.step("put_token")?;
        self.inner.put_token(token).await
    }
    async fn delete_token(&mut self, hash: &SecretHash) -> Result<bool, Error> {
        self.plan.step("delete_token")?;
        self.inner.delete_token(hash).await
    }
    async fn delete_expired_tokens(&mut self, now: OffsetDateTime) -> Result<u32, Error> {
        self.plan.step("delete_expired_tokens")?;
        self.inner.delete_expired_tokens(now).await
    }
    async fn delete_tokens_of(
        &mut self,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<u32, Error> {
        self.plan.step("delete_tokens_of")?;
        self.inner.delete_tokens_of(user, purpose).await
    }
}

#[async_trait]
impl MailRows for FaultyTransaction<'_> {
    async fn put_mail(&mut self, mail: &QueuedMail) -> Result<(), Error> {
        self.plan.step("put_mail")?;
        self.inner.put_mail(mail).await
    }
    async fn claim_mails(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, Error> {
        self.plan.step("claim_mails")?;
        self.inner.claim_mails(now, lease_until, limit).await
    }
    async fn delete_mail(&mut self, id: uuid::Uuid) -> Result<bool, Error> {
        self.plan.step("delete_mail")?;
        self.inner.delete_mail(id).await
    }
    async fn queued_mails(&mut self, limit: u32) -> Result<Vec<QueuedMail>, Error> {
        self.inner.queued_mails(limit).await
    }
}

#[async_trait]
impl SessionRows for FaultyTransaction<'_> {
    async fn session(&mut self, hash: &SecretHash) -> Result<Option<SessionRecord>, Error> {
        self.inner.session(hash).await
    }
    async fn sessions_of(&mut self, user: UserId) -> Result<Vec<SessionRecord>, Error> {
        self.inner.sessions_of(user).await
    }
    async fn put_session(&mut self, session: &SessionRecord) -> Result<(), Error> {
        self.plan.step("put_session")?;
        self.inner.put_session(session).await
    }
    async fn delete_session(&mut self, hash: &SecretHash) -> Result<bool, Error> {
        self.plan.step("delete_session")?;
        self.inner.delete_session(hash).await
    }
    async fn delete_sessions_of(
        &mut self,
        user: UserId,
        keep: Option<&SecretHash>,
    ) -> Result<u32, Error> {
        self.plan.step("delete_sessions_of")?;
        self.inner.delete_sessions_of(user, keep).await
    }
}

#[async_trait]
impl ThrottleRows for FaultyTransaction<'_> {
    async fn throttle(&mut self, key: &ThrottleKey) -> Result<Option<ThrottleState>, Error> {
        self.inner.throttle(key).await
    }
    async fn put_throttle(
        &mut self,
        key: &ThrottleKey,
        state: &ThrottleState,
    ) -> Result<(), Error> {
        self.plan.step("put_throttle")?;
        self.inner.put_throttle(key, state).await
    }
    async fn delete_throttle(&mut self, key: &ThrottleKey) -> Result<(), Error> {
        self.plan.step("delete_throttle")?;
        self.inner.delete_throttle(key).await
    }
}

#[async_trait]
impl WorkspaceRows for FaultyTransaction<'_> {
    async fn workspace(&mut self, id: WorkspaceId) -> Result<Option<Workspace>, Error> {
        self.inner.workspace(id).await
    }
    async fn put_workspace(&mut self, workspace: &Workspace) -> Result<(), Error> {
        self.plan.step("put_workspace")?;
        self.inner.put_workspace(workspace).await
    }
}

#[async_trait]
impl MemberRows for FaultyTransaction<'_> {
    async fn member(
        &mut self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Member>, Error> {
        self.inner.member(workspace, user).await
    }
    async fn members(&mut self, workspace: WorkspaceId) -> Result<Vec<Member>, Error> {
        self.inner.members(workspace).await
    }
    async fn memberships(&mut self, user: UserId) -> Result<Vec<Member>, Error> {
        self.inner.memberships(user).await
    }
    async fn put_member(&mut self, member: &Member) -> Result<(), Error> {
        self.plan.step("put_member")?;
        self.inner.put_member(member).await
    }
    async fn delete_member(&mut self, workspace: WorkspaceId, user: UserId) -> Result<bool, Error> {
        self.plan.step("delete_member")?;
        self.inner.delete_member(workspace, user).await
    }
}

#[async_trait]
impl InvitationRows for FaultyTransaction<'_> {
    async fn invitation(&mut self, id: InvitationId) -> Result<Option<Invitation>, Error> {
        self.inner.invitation(id).await
    }
    async fn invitations(&mut self, workspace: WorkspaceId) -> Result<Vec<Invitation>, Error> {
        self.inner.invitations(workspace).await
    }
    async fn put_invitation(&mut self, invitation: &Invitation) -> Result<(), Error> {
        self.plan.step("put_invitation")?;
        self.inner.put_invitation(invitation).await
    }
}

#[async_trait]
impl GroupRows for FaultyTransaction<'_> {
    async fn group(&mut self, id: GroupId) -> Result<Option<Group>, Error> {
        self.inner.group(id).await
    }
    async fn groups(&mut self, workspace: WorkspaceId) -> Result<Vec<Group>, Error> {
        self.inner.groups(workspace).await
    }
    async fn put_group(&mut self, group: &Group) -> Result<(), Error> {
        self.plan.step("put_group")?;
        self.inner.put_group(group).await
    }
    async fn delete_group(&mut self, id: GroupId) -> Result<bool, Error> {
        self.plan.step("delete_group")?;
        self.inner.delete_group(id).await
    }
    async fn group_members(&mut self, group: GroupId) -> Result<Vec<UserId>, Error> {
        self.inner.group_members(group).await
    }
    async fn groups_of(
        &mut self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Vec<GroupId>, Error> {
        self.inner.groups_of(workspace, user).await
    }
    async fn put_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool, Error> {
        self.plan.step("put_group_member")?;
        self.inner.put_group_member(group, user).await
    }
    async fn delete_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool, Error> {
        self.plan.step("delete_group_member")?;
        self.inner.delete_group_member(group, user).await
    }
}

#[async_trait]
impl GrantRows for FaultyTransaction<'_> {
    async fn grants(&mut self, workspace: WorkspaceId) -> Result<Vec<Grant>, Error> {
        self.inner.grants(workspace).await
    }
    async fn insert_grant(&mut self, grant: &Grant) -> Result<(), Error> {
        self.plan.step("insert_grant")?;
        self.inner.insert_grant(grant).await
    }
    async fn delete_grant(
        &mut self,
        workspace: WorkspaceId,
        grantee: &Grantee,
        product: &ProductId,
        role: &RoleName,
    ) -> Result<bool, Error> {
        self.plan.step("delete_grant")?;
        self.inner
            .delete_grant(workspace, grantee, product, role)
            .await
    }
    async fn delete_grants_of(
        &mut self,
        workspace: WorkspaceId,
        grantee: &Grantee,
    ) -> Result<u32, Error> {
        self.plan.step("delete_grants_of")?;
        self.inner.delete_grants_of(workspace, grantee).await
    }
}

#[async_trait]
impl SubscriptionRows for FaultyTransaction<'_> {
    async fn subscription(
        &mut self,
        workspace: WorkspaceId,
        product: &ProductId,
    ) -> Result<Option<Subscription>, Error> {
        self.inner.subscription(workspace, product).await
    }
    async fn subscriptions(&mut self, workspace: WorkspaceId) -> Result<Vec<Subscription>, Error> {
        self.inner.subscriptions(workspace).await
    }
    async fn put_subscription(&mut self, subscription: &Subscription) -> Result<(), Error> {
        self.plan.step("put_subscription")?;
        self.inner.put_subscription(subscription).await
    }
}

/// Every row a flow can touch for some users and workspaces, in a fixed order, so two
/// snapshots compare equal exactly when the store holds the same rows. Throttle counters are
/// left out: a reservation is its own unit of work by design (it stands whatever the check
/// that follows says).
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    users: Vec<Option<User>>,
    tokens: Vec<TokenRecord>,
    sessions: Vec<SessionRecord>,
    workspaces: Vec<Option<Workspace>>,
    members: Vec<Vec<Member>>,
    memberships: Vec<Vec<Member>>,
    invitations: Vec<Invitation>,
    groups: Vec<(Group, Vec<UserId>)>,
    grants: Vec<Vec<Grant>>,
    subscriptions: Vec<Subscription>,
    mails: Vec<QueuedMail>,
}

impl Snapshot {
    /// Reads the rows of `users` and `workspaces` through a read view of `store`.
    pub async fn take(
        store: &dyn Store,
        users: &[UserId],
        workspaces: &[WorkspaceId],
    ) -> Result<Self, Error> {
        let mut tx = store.read().await?;
        let mut snapshot = Self {
            users: Vec::new(),
            tokens: Vec::new(),
            sessions: Vec::new(),
            workspaces: Vec::new(),
            members: Vec::new(),
            memberships: Vec::new(),
            invitations: Vec::new(),
            groups: Vec::new(),
            grants: Vec::new(),
            subscriptions: Vec::new(),
            mails: tx.queued_mails(u32::MAX).await?,
        };
        for user in users {
            snapshot.users.push(tx.user(*user).await?);
            for purpose in TokenPurpose::ALL {
                snapshot.tokens.extend(tx.tokens_of(*user, purpose).await?);
            }
            snapshot.sessions.extend(tx.sessions_of(*user).await?);
            let mut memberships = tx.memberships(*user).await?;
            memberships.sort_by_key(|m| m.workspace_id);
            snapshot.memberships.push(memberships);
        }
        snapshot
            .tokens
            .sort_by_key(|t| (t.created_at, t.token_hash.as_bytes().to_vec()));
        snapshot.sessions.sort_by_key(|s| (s.created_at, s.id));
        for workspace in workspaces {
            snapshot.workspaces.push(tx.workspace(*workspace).await?);
            snapshot.members.push(tx.members(*workspace).await?);
            snapshot
                .invitations
                .extend(tx.invitations(*workspace).await?);
            let mut groups = tx.groups(*workspace).await?;
            groups.sort_by_key(|g| g.id);
            for group in groups {
                let mut members = tx.group_members(group.id).await?;
                members.sort();
                snapshot.groups.push((group, members));
            }
            snapshot.grants.push(tx.grants(*workspace).await?);
            snapshot
                .subscriptions
                .extend(tx.subscriptions(*workspace).await?);
        }
        snapshot.invitations.sort_by_key(|i| i.id);
        snapshot
            .subscriptions
            .sort_by(|a, b| (a.workspace_id, &a.product).cmp(&(b.workspace_id, &b.product)));
        Ok(snapshot)
    }
}

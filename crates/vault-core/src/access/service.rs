//! [`AccessControl`]: the access service over a [`Store`], and the checks every call
//! starts with (is the actor a member, is their role high enough, does the workspace's 2FA
//! policy let them act). The operations live next to their types, one file per concept.

use std::fmt;
use std::sync::Arc;

use time::{Duration, OffsetDateTime};

use crate::Error;
use crate::access::{AccessDefect, Actor, Catalog, Member, Workspace, WorkspaceRole};
use crate::audit::{AuditEvent, AuditSink, TracingAuditSink};
use crate::clock::{Clock, SystemClock};
use crate::ids::WorkspaceId;
use crate::store::{Scope, Store, Transaction, Tx};

/// The access service: workspaces, members, invitations, groups, subscriptions, grants and
/// the access check. Cheap to clone: clones share one store, catalogue, clock and audit sink.
///
/// Every method takes the [`Actor`] it acts for and refuses with
/// [`crate::Error::Access`] when the actor lacks the right; every change is audited.
#[derive(Clone)]
pub struct AccessControl {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    catalog: Catalog,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn AuditSink>,
    invitation_ttl: Duration,
}

/// Configures an [`AccessControl`] service.
pub struct AccessControlBuilder {
    store: Arc<dyn Store>,
    catalog: Catalog,
    clock: Arc<dyn Clock>,
    audit: Arc<dyn AuditSink>,
    invitation_ttl: Duration,
}

impl AccessControlBuilder {
    /// Uses `clock` instead of the system clock (tests move time with [`crate::ManualClock`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Sends audit events to `sink` (default: [`TracingAuditSink`]).
    pub fn audit(mut self, sink: Arc<dyn AuditSink>) -> Self {
        self.audit = sink;
        self
    }

    /// How long an invitation stays valid (default 7 days).
    pub fn invitation_ttl(mut self, ttl: Duration) -> Self {
        self.invitation_ttl = ttl;
        self
    }

    /// Builds the service.
    pub fn build(self) -> AccessControl {
        AccessControl {
            inner: Arc::new(Inner {
                store: self.store,
                catalog: self.catalog,
                clock: self.clock,
                audit: self.audit,
                invitation_ttl: self.invitation_ttl,
            }),
        }
    }
}

impl AccessControl {
    /// Starts configuring a service over `store` with the host application's `catalog`.
    pub fn builder(store: Arc<dyn Store>, catalog: Catalog) -> AccessControlBuilder {
        AccessControlBuilder {
            store,
            catalog,
            clock: Arc::new(SystemClock),
            audit: Arc::new(TracingAuditSink),
            invitation_ttl: Duration::days(7),
        }
    }

    /// The product catalogue.
    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    /// The current time by the service's clock.
    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// A read view of the store.
    pub(super) async fn read(&self) -> Result<Tx<'_>, Error> {
        self.inner.store.read().await
    }

    /// A write transaction over `scope`.
    pub(super) async fn begin(&self, scope: Scope) -> Result<Tx<'_>, Error> {
        self.inner.store.begin(scope).await
    }

    /// A write transaction locking `workspace`: every change of a workspace's members,
    /// groups, grants, invitations or subscriptions runs in one, so they queue per workspace.
    pub(super) async fn begin_in(&self, workspace: WorkspaceId) -> Result<Tx<'_>, Error> {
        self.begin(Scope::workspace(workspace)).await
    }

    pub(super) fn invitation_ttl(&self) -> Duration {
        self.inner.invitation_ttl
    }

    /// In `tx`: the actor's membership of `workspace`, once the workspace's 2FA policy for
    /// owners and admins lets them act. [`AccessDefect::NotAMember`] for an unknown workspace
    /// too.
    pub(super) async fn acting_member(
        &self,
        tx: &mut (dyn Transaction + '_),
        actor: &Actor,
        workspace: WorkspaceId,
    ) -> Result<(Workspace, Member), Error> {
        let found = tx.workspace(workspace).await?;
        let Some(found) = found else {
            return Err(AccessDefect::NotAMember.into());
        };
        let member = tx
            .member(workspace, actor.user_id())
            .await?
            .ok_or(AccessDefect::NotAMember)?;
        if found.two_factor.owners_and_admins
            && member.role.is_admin()
            && !actor.two_factor_passed()
        {
            return Err(AccessDefect::TwoFactorRequired.into());
        }
        Ok((found, member))
    }

    /// Like [`Self::acting_member`], and the actor's role is at least `at_least`.
    pub(super) async fn require_role(
        &self,
        tx: &mut (dyn Transaction + '_),
        actor: &Actor,
        workspace: WorkspaceId,
        at_least: WorkspaceRole,
    ) -> Result<(Workspace, Member), Error> {
        let (found, member) = self.acting_member(tx, actor, workspace).await?;
        if member.role < at_least {
            return Err(AccessDefect::NotAllowed.into());
        }
        Ok((found, member))
    }

    /// An audit event of `action` by `actor` in `workspace`, stamped now.
    pub(super) fn event(
        &self,
        action: &'static str,
        actor: &Actor,
        workspace: WorkspaceId,
    ) -> AuditEvent {
        AuditEvent::new(action, self.now())
            .actor(actor.user_id())
            .workspace(workspace)
    }

    pub(super) async fn record(&self, event: AuditEvent) {
        self.inner.audit.record(event).await;
    }
}

impl fmt::Debug for AccessControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessControl")
            .field("catalog", &self.inner.catalog)
            .field("invitation_ttl", &self.inner.invitation_ttl)
            .finish_non_exhaustive()
    }
}

//! The audit trail: every security-relevant step (sign-in, lock, password and 2FA changes,
//! sessions, membership, grants, keys) as an [`AuditEvent`] handed to an [`AuditSink`].
//! Events carry ids and names, never a secret.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;

use crate::ids::{UserId, WorkspaceId};

/// One audited step.
///
/// `action` is a stable dotted name owned by the module that emits it, e.g.
/// `account.sign_in.failed` or `access.member.invited`; `details` holds extra non-secret facts
/// (ids, roles, reasons).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// What happened.
    pub action: &'static str,
    /// Who did it, when known.
    pub actor: Option<UserId>,
    /// The workspace it happened in, if any.
    pub workspace_id: Option<WorkspaceId>,
    /// What it was done to (a user id, key id, group id...), if anything.
    pub subject: Option<String>,
    /// Extra non-secret facts.
    pub details: BTreeMap<&'static str, String>,
}

impl AuditEvent {
    /// An event of `action` at `at`, with nothing else known yet.
    pub fn new(action: &'static str, at: OffsetDateTime) -> Self {
        Self {
            at,
            action,
            actor: None,
            workspace_id: None,
            subject: None,
            details: BTreeMap::new(),
        }
    }

    /// Sets who acted.
    pub fn actor(mut self, user: UserId) -> Self {
        self.actor = Some(user);
        self
    }

    /// Sets the workspace.
    pub fn workspace(mut self, workspace: WorkspaceId) -> Self {
        self.workspace_id = Some(workspace);
        self
    }

    /// Sets what was acted on.
    pub fn subject(mut self, subject: impl fmt::Display) -> Self {
        self.subject = Some(subject.to_string());
        self
    }

    /// Adds a non-secret fact.
    pub fn detail(mut self, name: &'static str, value: impl fmt::Display) -> Self {
        self.details.insert(name, value.to_string());
        self
    }
}

/// Where audit events go (a table, a log pipeline, a SIEM).
#[async_trait]
pub trait AuditSink: Send + Sync + 'static {
    /// Records one event. Failures are the sink's to handle: an audit outage must not turn
    /// into a sign-in outage, so this returns nothing.
    async fn record(&self, event: AuditEvent);
}

/// A shared sink is a sink: services built together send to one ([`crate::Services`]).
#[async_trait]
impl<S: AuditSink + ?Sized> AuditSink for std::sync::Arc<S> {
    async fn record(&self, event: AuditEvent) {
        (**self).record(event).await;
    }
}

/// Emits each event as a `tracing` event at INFO level (target `vault::audit`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingAuditSink;

#[async_trait]
impl AuditSink for TracingAuditSink {
    async fn record(&self, event: AuditEvent) {
        tracing::info!(
            target: "vault::audit",
            action = event.action,
            actor = ?event.actor,
            workspace_id = ?event.workspace_id,
            subject = ?event.subject,
            details = ?event.details,
            "audit"
        );
    }
}

/// Keeps events in memory (tests, demos). Clones share the same list.
#[derive(Clone, Debug, Default)]
pub struct MemoryAuditSink(Arc<Mutex<Vec<AuditEvent>>>);

impl MemoryAuditSink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<AuditEvent> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The actions recorded so far, oldest first.
    pub fn actions(&self) -> Vec<&'static str> {
        self.events().iter().map(|e| e.action).collect()
    }
}

#[async_trait]
impl AuditSink for MemoryAuditSink {
    async fn record(&self, event: AuditEvent) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_sink_keeps_events_in_order() {
        let sink = MemoryAuditSink::new();
        let at = OffsetDateTime::UNIX_EPOCH;
        let user = UserId::random();
        sink.record(
            AuditEvent::new("account.sign_in.failed", at)
                .actor(user)
                .detail("reason", "wrong_password"),
        )
        .await;
        sink.record(AuditEvent::new("account.locked", at).subject(user))
            .await;
        assert_eq!(
            sink.actions(),
            vec!["account.sign_in.failed", "account.locked"]
        );
        let first = &sink.events()[0];
        assert_eq!(first.actor, Some(user));
        assert_eq!(
            first.details.get("reason").map(String::as_str),
            Some("wrong_password")
        );
        let json = serde_json::to_value(first).unwrap();
        assert_eq!(json["action"], "account.sign_in.failed");
    }
}

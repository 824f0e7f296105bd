//! Workspaces: the tenant. Create (the creator becomes its owner), rename, the 2FA policy,
//! the workspaces of a user, and whether a session may switch to one.

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::access::{AccessControl, AccessDefect, Actor, Member, WorkspaceRole};
use crate::accounts::WorkspaceMembership;
use crate::ids::{UserId, WorkspaceId};
use crate::store::Scope;

/// A workspace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Workspace {
    /// Its id.
    pub id: WorkspaceId,
    /// Its display name.
    pub name: String,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Which actions need a session that passed 2FA.
    pub two_factor: TwoFactorPolicy,
}

/// A workspace's two-factor policy. Both off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TwoFactorPolicy {
    /// Owners and admins may act in the workspace (manage it, use products, mint keys) only
    /// from a session that passed 2FA. They may still switch to it, to be asked for 2FA.
    pub owners_and_admins: bool,
    /// A permission that comes only from a sensitive product role is usable only from a
    /// session that passed 2FA.
    pub sensitive_roles: bool,
}

/// A workspace a user belongs to, with their role there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Membership {
    /// The workspace.
    pub workspace: Workspace,
    /// The user's role in it.
    pub role: WorkspaceRole,
}

const MAX_NAME_CHARS: usize = 100;

/// Trims a workspace or group name and checks it.
pub(super) fn validate_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(AccessDefect::InvalidName.into());
    }
    Ok(name.to_owned())
}

impl AccessControl {
    /// Creates a workspace; the actor becomes its owner. Audited as `access.workspace.created`.
    pub async fn create_workspace(&self, actor: &Actor, name: &str) -> Result<Workspace, Error> {
        let name = validate_name(name)?;
        let now = self.now();
        let workspace = Workspace {
            id: WorkspaceId::random(),
            name,
            created_by: actor.user_id(),
            created_at: now,
            two_factor: TwoFactorPolicy::default(),
        };
        let owner = Member {
            workspace_id: workspace.id,
            user_id: actor.user_id(),
            role: WorkspaceRole::Owner,
            joined_at: now,
        };
        let mut tx = self
            .begin(Scope::user(actor.user_id()).and_workspace(workspace.id))
            .await?;
        if tx.workspace(workspace.id).await?.is_some() {
            return Err(Error::Conflict(format!(
                "workspace {} exists",
                workspace.id
            )));
        }
        tx.put_workspace(&workspace).await?;
        tx.put_member(&owner).await?;
        tx.commit().await?;
        self.record(
            self.event("access.workspace.created", actor, workspace.id)
                .subject(workspace.id)
                .detail("name", &workspace.name),
        )
        .await;
        Ok(workspace)
    }

    /// The workspace, for one of its members.
    pub async fn workspace(&self, actor: &Actor, id: WorkspaceId) -> Result<Workspace, Error> {
        let (workspace, _) = self
            .acting_member(&mut *self.read().await?, actor, id)
            .await?;
        Ok(workspace)
    }

    /// Renames a workspace (owners and admins). Audited as `access.workspace.renamed`.
    pub async fn rename_workspace(
        &self,
        actor: &Actor,
        id: WorkspaceId,
        name: &str,
    ) -> Result<Workspace, Error> {
        let name = validate_name(name)?;
        let mut tx = self.begin_in(id).await?;
        let (before, _) = self
            .require_role(&mut *tx, actor, id, WorkspaceRole::Admin)
            .await?;
        let after = Workspace {
            name,
            ..before.clone()
        };
        tx.put_workspace(&after).await?;
        tx.commit().await?;
        self.record(
            self.event("access.workspace.renamed", actor, id)
                .subject(id)
                .detail("from", &before.name)
                .detail("to", &after.name),
        )
        .await;
        Ok(after)
    }

    /// Sets the workspace's 2FA policy (owners only). Audited as
    /// `access.workspace.policy_changed`.
    pub async fn set_two_factor_policy(
        &self,
        actor: &Actor,
        id: WorkspaceId,
        policy: TwoFactorPolicy,
    ) -> Result<Workspace, Error> {
        let mut tx = self.begin_in(id).await?;
        let (before, _) = self
            .require_role(&mut *tx, actor, id, WorkspaceRole::Owner)
            .await?;
        let after = Workspace {
            two_factor: policy,
            ..before
        };
        tx.put_workspace(&after).await?;
        tx.commit().await?;
        self.record(
            self.event("access.workspace.policy_changed", actor, id)
                .subject(id)
                .detail("two_factor_owners_and_admins", policy.owners_and_admins)
                .detail("two_factor_sensitive_roles", policy.sensitive_roles),
        )
        .await;
        Ok(after)
    }

    /// The workspaces the actor belongs to, with their role in each, ordered by name.
    pub async fn workspaces(&self, actor: &Actor) -> Result<Vec<Membership>, Error> {
        let mut tx = self.read().await?;
        let mut found = Vec::new();
        for member in tx.memberships(actor.user_id()).await? {
            if let Some(workspace) = tx.workspace(member.workspace_id).await? {
                found.push(Membership {
                    workspace,
                    role: member.role,
                });
            }
        }
        found.sort_by(|a, b| {
            (&a.workspace.name, a.workspace.id).cmp(&(&b.workspace.name, b.workspace.id))
        });
        Ok(found)
    }

    /// Whether the actor's session may make `workspace` its active workspace: only if the
    /// actor is a member. The sessions code calls this on every switch, and should call it
    /// again (or drop the active workspace) when it sees `access.member.removed` or
    /// `access.member.left` for that user: a removed member's sessions lose the workspace.
    ///
    /// The 2FA policy is not applied here: an admin without 2FA may switch and is then asked
    /// for it by every action that needs it.
    pub async fn may_switch_to(&self, actor: &Actor, workspace: WorkspaceId) -> Result<(), Error> {
        self.read()
            .await?
            .member(workspace, actor.user_id())
            .await?
            .map(|_| ())
            .ok_or(AccessDefect::NotAMember.into())
    }
}

/// Sessions switch only to workspaces the user belongs to: give the access service to
/// [`crate::accounts::AccountsBuilder::membership`].
#[async_trait]
impl WorkspaceMembership for AccessControl {
    async fn is_member(&self, user: UserId, workspace: WorkspaceId) -> Result<bool, Error> {
        Ok(self.read().await?.member(workspace, user).await?.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("  Acme ").unwrap(), "Acme");
        for bad in ["", "   ", "a\u{0}b", &"x".repeat(101)] {
            assert!(matches!(
                validate_name(bad),
                Err(Error::Access(AccessDefect::InvalidName))
            ));
        }
    }
}

//! Members of a workspace and their roles: list, change a role, remove a member or leave.
//! The last owner can neither leave nor be demoted (checked inside the workspace's
//! transaction, so two concurrent demotions cannot both pass).

use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::access::{AccessControl, AccessDefect, Actor, Grantee, WorkspaceRole};
use crate::ids::{UserId, WorkspaceId};
use crate::store::Scope;

/// A user's membership of a workspace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Member {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The user.
    pub user_id: UserId,
    /// Their workspace role.
    pub role: WorkspaceRole,
    /// When they joined.
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

/// Whether `user` is the only owner among `members`: the last owner can neither leave, be
/// removed nor be demoted, so a workspace always has one.
fn is_last_owner(members: &[Member], user: UserId) -> bool {
    let mut owners = members.iter().filter(|m| m.role == WorkspaceRole::Owner);
    matches!((owners.next(), owners.next()), (Some(only), None) if only.user_id == user)
}

impl AccessControl {
    /// The members of a workspace, in joining order, for one of its members.
    pub async fn members(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
    ) -> Result<Vec<Member>, Error> {
        let mut tx = self.read().await?;
        self.acting_member(&mut *tx, actor, workspace).await?;
        tx.members(workspace).await
    }

    /// Changes a member's workspace role. Owners and admins only, and never above their own
    /// rank: an admin can neither make an owner nor change an owner's role. Demoting the last
    /// owner is refused with [`AccessDefect::LastOwner`]. Audited as
    /// `access.member.role_changed`.
    pub async fn change_role(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        user: UserId,
        role: WorkspaceRole,
    ) -> Result<Member, Error> {
        let mut tx = self.begin_in(workspace).await?;
        let (_, acting) = self
            .require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        let target = tx
            .member(workspace, user)
            .await?
            .ok_or(AccessDefect::UserNotAMember)?;
        if target.role > acting.role || role > acting.role {
            return Err(AccessDefect::NotAllowed.into());
        }
        if target.role == role {
            return Ok(target);
        }
        if role != WorkspaceRole::Owner && is_last_owner(&tx.members(workspace).await?, user) {
            return Err(AccessDefect::LastOwner.into());
        }
        let changed = Member {
            role,
            ..target.clone()
        };
        tx.put_member(&changed).await?;
        tx.commit().await?;
        self.record(
            self.event("access.member.role_changed", actor, workspace)
                .subject(user)
                .detail("from", target.role)
                .detail("to", role),
        )
        .await;
        Ok(changed)
    }

    /// Removes a member from a workspace, with their group memberships and direct grants, and
    /// returns the removed membership. Owners and admins may remove members up to their own
    /// rank; anyone may remove themselves (see [`Self::leave`]). Removing the last owner is
    /// refused with [`AccessDefect::LastOwner`].
    ///
    /// Audited as `access.member.removed` (`access.member.left` for oneself). The removed
    /// user's sessions must lose the workspace: pass the answer's `user_id` and
    /// `workspace_id` to [`crate::accounts::Accounts::forget_workspace`] (their next switch
    /// back is refused anyway, see [`Self::may_switch_to`]).
    pub async fn remove_member(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Member, Error> {
        let leaving = user == actor.user_id();
        let mut tx = self
            .begin(Scope::user(user).and_workspace(workspace))
            .await?;
        let acting = if leaving {
            self.acting_member(&mut *tx, actor, workspace).await?.1
        } else {
            self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
                .await?
                .1
        };
        let members = tx.members(workspace).await?;
        let removed = members
            .iter()
            .find(|m| m.user_id == user)
            .cloned()
            .ok_or(AccessDefect::UserNotAMember)?;
        if !leaving && removed.role > acting.role {
            return Err(AccessDefect::NotAllowed.into());
        }
        if is_last_owner(&members, user) {
            return Err(AccessDefect::LastOwner.into());
        }
        for group in tx.groups_of(workspace, user).await? {
            tx.delete_group_member(group, user).await?;
        }
        tx.delete_grants_of(workspace, &Grantee::User(user)).await?;
        tx.delete_member(workspace, user).await?;
        tx.commit().await?;
        let action = if leaving {
            "access.member.left"
        } else {
            "access.member.removed"
        };
        self.record(
            self.event(action, actor, workspace)
                .subject(user)
                .detail("role", removed.role),
        )
        .await;
        Ok(removed)
    }

    /// The actor leaves a workspace. The last owner cannot leave.
    pub async fn leave(&self, actor: &Actor, workspace: WorkspaceId) -> Result<Member, Error> {
        self.remove_member(actor, workspace, actor.user_id()).await
    }
}

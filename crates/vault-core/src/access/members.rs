//! Members of a workspace and their roles: list, change a role, remove a member or leave.
//! The last owner can neither leave nor be demoted (the store enforces it atomically).

use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::access::{AccessControl, AccessDefect, Actor, WorkspaceRole};
use crate::ids::{UserId, WorkspaceId};

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

impl AccessControl {
    /// The members of a workspace, for one of its members.
    pub async fn members(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
    ) -> Result<Vec<Member>, Error> {
        self.acting_member(actor, workspace).await?;
        self.store().list_members(workspace).await
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
        let (_, acting) = self
            .require_role(actor, workspace, WorkspaceRole::Admin)
            .await?;
        let target = self
            .store()
            .find_member(workspace, user)
            .await?
            .ok_or(AccessDefect::UserNotAMember)?;
        if target.role > acting.role || role > acting.role {
            return Err(AccessDefect::NotAllowed.into());
        }
        if target.role == role {
            return Ok(target);
        }
        let before = self
            .store()
            .change_member_role(workspace, user, role)
            .await?;
        self.record(
            self.event("access.member.role_changed", actor, workspace)
                .subject(user)
                .detail("from", before.role)
                .detail("to", role),
        )
        .await;
        Ok(Member { role, ..before })
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
        let leaving = user == actor.user_id;
        if leaving {
            self.acting_member(actor, workspace).await?;
        } else {
            let (_, acting) = self
                .require_role(actor, workspace, WorkspaceRole::Admin)
                .await?;
            let target = self
                .store()
                .find_member(workspace, user)
                .await?
                .ok_or(AccessDefect::UserNotAMember)?;
            if target.role > acting.role {
                return Err(AccessDefect::NotAllowed.into());
            }
        }
        let removed = self.store().remove_member(workspace, user).await?;
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
        self.remove_member(actor, workspace, actor.user_id).await
    }
}

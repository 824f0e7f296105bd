//! Groups inside a workspace: named sets of members that product roles can be granted to.
//! Only members of the workspace can be put into its groups.

use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::access::workspaces::validate_name;
use crate::access::{AccessControl, AccessDefect, Actor, Grantee, GroupId, WorkspaceRole};
use crate::ids::{UserId, WorkspaceId};
use crate::store::Transaction;

/// A group of a workspace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Group {
    /// Its id.
    pub id: GroupId,
    /// The workspace it belongs to.
    pub workspace_id: WorkspaceId,
    /// Its name, unique within the workspace.
    pub name: String,
    /// Who created it.
    pub created_by: UserId,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Group {
    /// The name as compared for uniqueness: two groups of a workspace may not have names
    /// that differ only in ASCII case.
    pub fn folded_name(&self) -> String {
        fold_name(&self.name)
    }
}

/// Group names are unique per workspace ignoring ASCII case.
pub(crate) fn fold_name(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// In `tx`: the group, if it exists in `workspace`; [`AccessDefect::GroupUnknown`] if not.
pub(super) async fn group_in(
    tx: &mut (dyn Transaction + '_),
    workspace: WorkspaceId,
    id: GroupId,
) -> Result<Group, Error> {
    tx.group(id)
        .await?
        .filter(|g| g.workspace_id == workspace)
        .ok_or_else(|| AccessDefect::GroupUnknown.into())
}

/// In `tx`: [`AccessDefect::NameTaken`] if another group of the workspace (not `except`) has
/// the name, ASCII case aside.
async fn ensure_name_free(
    tx: &mut (dyn Transaction + '_),
    group: &Group,
    except: Option<GroupId>,
) -> Result<(), Error> {
    let folded = group.folded_name();
    let taken = tx
        .groups(group.workspace_id)
        .await?
        .iter()
        .any(|g| Some(g.id) != except && g.folded_name() == folded);
    if taken {
        return Err(AccessDefect::NameTaken.into());
    }
    Ok(())
}

impl AccessControl {
    /// Creates a group (owners and admins). [`AccessDefect::NameTaken`] if another group of
    /// the workspace has the name. Audited as `access.group.created`.
    ///
    /// [`AccessDefect::NameTaken`]: crate::access::AccessDefect::NameTaken
    pub async fn create_group(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        name: &str,
    ) -> Result<Group, Error> {
        let name = validate_name(name)?;
        let mut tx = self.begin_in(workspace).await?;
        self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        let group = Group {
            id: GroupId::random(),
            workspace_id: workspace,
            name,
            created_by: actor.user_id(),
            created_at: self.now(),
        };
        ensure_name_free(&mut *tx, &group, None).await?;
        tx.put_group(&group).await?;
        tx.commit().await?;
        self.record(
            self.event("access.group.created", actor, workspace)
                .subject(group.id)
                .detail("name", &group.name),
        )
        .await;
        Ok(group)
    }

    /// The groups of a workspace, ordered by name, for one of its members.
    pub async fn groups(&self, actor: &Actor, workspace: WorkspaceId) -> Result<Vec<Group>, Error> {
        let mut tx = self.read().await?;
        self.acting_member(&mut *tx, actor, workspace).await?;
        let mut groups = tx.groups(workspace).await?;
        groups.sort_by(|a, b| (&a.name, a.id).cmp(&(&b.name, b.id)));
        Ok(groups)
    }

    /// The members of a group, for a member of the workspace.
    pub async fn group_members(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        group: GroupId,
    ) -> Result<Vec<UserId>, Error> {
        let mut tx = self.read().await?;
        self.acting_member(&mut *tx, actor, workspace).await?;
        group_in(&mut *tx, workspace, group).await?;
        let mut members = tx.group_members(group).await?;
        members.sort();
        Ok(members)
    }

    /// Renames a group (owners and admins). Audited as `access.group.renamed`.
    pub async fn rename_group(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        group: GroupId,
        name: &str,
    ) -> Result<Group, Error> {
        let name = validate_name(name)?;
        let mut tx = self.begin_in(workspace).await?;
        self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        let renamed = Group {
            name,
            ..group_in(&mut *tx, workspace, group).await?
        };
        ensure_name_free(&mut *tx, &renamed, Some(group)).await?;
        tx.put_group(&renamed).await?;
        tx.commit().await?;
        self.record(
            self.event("access.group.renamed", actor, workspace)
                .subject(group)
                .detail("name", &renamed.name),
        )
        .await;
        Ok(renamed)
    }

    /// Deletes a group with its memberships and grants (owners and admins): what its members
    /// held through it ends at once. Audited as `access.group.deleted`.
    pub async fn delete_group(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        group: GroupId,
    ) -> Result<Group, Error> {
        let mut tx = self.begin_in(workspace).await?;
        self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        let deleted = group_in(&mut *tx, workspace, group).await?;
        tx.delete_grants_of(workspace, &Grantee::Group(group))
            .await?;
        tx.delete_group(group).await?;
        tx.commit().await?;
        self.record(
            self.event("access.group.deleted", actor, workspace)
                .subject(group)
                .detail("name", &deleted.name),
        )
        .await;
        Ok(deleted)
    }

    /// Puts a member of the workspace into a group (owners and admins);
    /// [`AccessDefect::UserNotAMember`] for anyone else. `false` if they were in it already.
    /// Audited as `access.group.member_added`.
    ///
    /// [`AccessDefect::UserNotAMember`]: crate::access::AccessDefect::UserNotAMember
    pub async fn add_to_group(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        group: GroupId,
        user: UserId,
    ) -> Result<bool, Error> {
        let mut tx = self.begin_in(workspace).await?;
        self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        group_in(&mut *tx, workspace, group).await?;
        if tx.member(workspace, user).await?.is_none() {
            return Err(AccessDefect::UserNotAMember.into());
        }
        let added = tx.put_group_member(group, user).await?;
        tx.commit().await?;
        if added {
            self.record(
                self.event("access.group.member_added", actor, workspace)
                    .subject(user)
                    .detail("group", group),
            )
            .await;
        }
        Ok(added)
    }

    /// Takes a user out of a group (owners and admins). `false` if they were not in it.
    /// Audited as `access.group.member_removed`.
    pub async fn remove_from_group(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        group: GroupId,
        user: UserId,
    ) -> Result<bool, Error> {
        let mut tx = self.begin_in(workspace).await?;
        self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        group_in(&mut *tx, workspace, group).await?;
        let removed = tx.delete_group_member(group, user).await?;
        tx.commit().await?;
        if removed {
            self.record(
                self.event("access.group.member_removed", actor, workspace)
                    .subject(user)
                    .detail("group", group),
            )
            .await;
        }
        Ok(removed)
    }
}

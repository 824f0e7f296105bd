//! Groups inside a workspace: named sets of members that product roles can be granted to.
//! Only members of the workspace can be put into its groups.

use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::access::workspaces::validate_name;
use crate::access::{AccessControl, Actor, GroupId, WorkspaceRole};
use crate::ids::{UserId, WorkspaceId};

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
        self.require_role(actor, workspace, WorkspaceRole::Admin)
            .await?;
        let group = Group {
            id: GroupId::random(),
            workspace_id: workspace,
            name,
            created_by: actor.user_id,
            created_at: self.now(),
        };
        self.store().insert_group(group.clone()).await?;
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
        self.acting_member(actor, workspace).await?;
        self.store().list_groups(workspace).await
    }

    /// The members of a group, for a member of the workspace.
    pub async fn group_members(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        group: GroupId,
    ) -> Result<Vec<UserId>, Error> {
        self.acting_member(actor, workspace).await?;
        self.store().group_members(workspace, group).await
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
        self.require_role(actor, workspace, WorkspaceRole::Admin)
            .await?;
        let renamed = self.store().rename_group(workspace, group, &name).await?;
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
        self.require_role(actor, workspace, WorkspaceRole::Admin)
            .await?;
        let deleted = self.store().delete_group(workspace, group).await?;
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
        self.require_role(actor, workspace, WorkspaceRole::Admin)
            .await?;
        let added = self
            .store()
            .add_group_member(workspace, group, user)
            .await?;
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
        self.require_role(actor, workspace, WorkspaceRole::Admin)
            .await?;
        let removed = self
            .store()
            .remove_group_member(workspace, group, user)
            .await?;
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

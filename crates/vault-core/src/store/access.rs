//! Persistence of access: workspaces, members, invitations, groups, subscriptions, grants.
//!
//! Small methods, one step each; the steps that must not be split (accepting an invitation,
//! removing a member, a role change guarded by "last owner", deleting a group) are single
//! methods so a SQL store runs each in one transaction.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Error;
use crate::access::{
    Grant, Grantee, Group, GroupId, HeldGrant, Invitation, InvitationId, Member, Membership,
    RoleName, Subscription, TwoFactorPolicy, Workspace, WorkspaceRole,
};
use crate::ids::{ProductId, UserId, WorkspaceId};

/// Persistence of access: implemented by the memory store and `vault-sqlx`.
///
/// Refusals that depend on the stored state at the moment of writing come back as
/// [`Error::Access`] (e.g. [`crate::access::AccessDefect::LastOwner`]); failures to reach the
/// store as [`Error::StoreUnavailable`]. An unknown workspace is
/// [`crate::access::AccessDefect::NotAMember`].
#[async_trait]
pub trait AccessStore: Send + Sync + 'static {
    // Workspaces.

    /// Stores a new workspace and its first owner, together. [`Error::Conflict`] if the id
    /// exists.
    async fn create_workspace(&self, workspace: Workspace, owner: Member) -> Result<(), Error>;

    /// The workspace with this id, if any.
    async fn find_workspace(&self, id: WorkspaceId) -> Result<Option<Workspace>, Error>;

    /// Renames a workspace; answers the renamed workspace.
    async fn rename_workspace(&self, id: WorkspaceId, name: &str) -> Result<Workspace, Error>;

    /// Sets a workspace's 2FA policy; answers the changed workspace.
    async fn set_two_factor_policy(
        &self,
        id: WorkspaceId,
        policy: TwoFactorPolicy,
    ) -> Result<Workspace, Error>;

    /// The workspaces `user` belongs to, with their role, ordered by name.
    async fn workspaces_of(&self, user: UserId) -> Result<Vec<Membership>, Error>;

    // Members.

    /// `user`'s membership of `workspace`, if any.
    async fn find_member(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Member>, Error>;

    /// The members of a workspace, in joining order.
    async fn list_members(&self, workspace: WorkspaceId) -> Result<Vec<Member>, Error>;

    /// In one atomic step: sets `user`'s role, unless that would leave the workspace without
    /// an owner (`LastOwner`). Answers the membership as it was before. `UserNotAMember` if
    /// `user` is not a member.
    async fn change_member_role(
        &self,
        workspace: WorkspaceId,
        user: UserId,
        role: WorkspaceRole,
    ) -> Result<Member, Error>;

    /// In one atomic step: removes `user` from the workspace with their group memberships
    /// and direct grants there, unless they are its last owner (`LastOwner`). Answers the
    /// removed membership. `UserNotAMember` if `user` is not a member.
    async fn remove_member(&self, workspace: WorkspaceId, user: UserId) -> Result<Member, Error>;

    // Invitations.

    /// Stores a new invitation. [`Error::Conflict`] if the id exists.
    async fn insert_invitation(&self, invitation: Invitation) -> Result<(), Error>;

    /// The invitation with this id, if any.
    async fn find_invitation(&self, id: InvitationId) -> Result<Option<Invitation>, Error>;

    /// The invitations of a workspace, oldest first.
    async fn list_invitations(&self, workspace: WorkspaceId) -> Result<Vec<Invitation>, Error>;

    /// Marks a pending invitation revoked at `at`; answers it. `InvitationUnknown`, or the
    /// reason it is not pending (`InvitationUsed`, `InvitationRevoked`, `InvitationExpired`).
    async fn revoke_invitation(
        &self,
        id: InvitationId,
        at: OffsetDateTime,
    ) -> Result<Invitation, Error>;

    /// In one atomic step: checks the invitation is still pending at `at`, makes `user` a
    /// member of its workspace with its role, and marks it accepted by `user`. Answers the
    /// new membership. Refused as in [`Self::revoke_invitation`], or `AlreadyMember` (the
    /// invitation then stays pending).
    async fn accept_invitation(
        &self,
        id: InvitationId,
        user: UserId,
        at: OffsetDateTime,
    ) -> Result<Member, Error>;

    // Groups.

    /// Stores a new group. `NameTaken` if the workspace has a group of that name.
    async fn insert_group(&self, group: Group) -> Result<(), Error>;

    /// The group, if it exists in this workspace.
    async fn find_group(&self, workspace: WorkspaceId, id: GroupId)
    -> Result<Option<Group>, Error>;

    /// The groups of a workspace, ordered by name.
    async fn list_groups(&self, workspace: WorkspaceId) -> Result<Vec<Group>, Error>;

    /// Renames a group; answers it. `GroupUnknown`, `NameTaken`.
    async fn rename_group(
        &self,
        workspace: WorkspaceId,
        id: GroupId,
        name: &str,
    ) -> Result<Group, Error>;

    /// In one atomic step: deletes a group with its memberships and grants; answers it.
    /// `GroupUnknown`.
    async fn delete_group(&self, workspace: WorkspaceId, id: GroupId) -> Result<Group, Error>;

    /// In one atomic step: checks `user` is a member of the workspace (`UserNotAMember`) and
    /// the group exists there (`GroupUnknown`), and adds them. `false` if already in it.
    async fn add_group_member(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
        user: UserId,
    ) -> Result<bool, Error>;

    /// Takes `user` out of a group. `false` if they were not in it; `GroupUnknown`.
    async fn remove_group_member(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
        user: UserId,
    ) -> Result<bool, Error>;

    /// The members of a group. `GroupUnknown`.
    async fn group_members(
        &self,
        workspace: WorkspaceId,
        group: GroupId,
    ) -> Result<Vec<UserId>, Error>;

    // Subscriptions.

    /// Stores a subscription, replacing the one of the same workspace and product.
    async fn set_subscription(&self, subscription: Subscription) -> Result<(), Error>;

    /// The workspace's subscription to `product`, if any. On the key verification path when
    /// [`crate::access::StoreSubscriptions`] is configured: keep it one indexed lookup.
    async fn find_subscription(
        &self,
        workspace: WorkspaceId,
        product: &ProductId,
    ) -> Result<Option<Subscription>, Error>;

    /// Every subscription of a workspace, ordered by product.
    async fn list_subscriptions(&self, workspace: WorkspaceId) -> Result<Vec<Subscription>, Error>;

    // Grants.

    /// In one atomic step: checks the grantee (a member: `UserNotAMember`; a group of the
    /// workspace: `GroupUnknown`) and stores the grant. `false` if the same grant (workspace,
    /// grantee, product, role) exists; it is kept as it was.
    async fn insert_grant(&self, grant: Grant) -> Result<bool, Error>;

    /// Deletes a grant. `false` if there was none.
    async fn delete_grant(
        &self,
        workspace: WorkspaceId,
        grantee: &Grantee,
        product: &ProductId,
        role: &RoleName,
    ) -> Result<bool, Error>;

    /// Every grant of a workspace, oldest first.
    async fn list_grants(&self, workspace: WorkspaceId) -> Result<Vec<Grant>, Error>;

    /// The grants `user` holds in a workspace: direct ones and those of their groups (with
    /// the group's name), oldest first. Empty for a non-member.
    async fn grants_held_by(
        &self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Vec<HeldGrant>, Error>;
}

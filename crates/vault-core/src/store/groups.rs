//! Rows of groups and of their members.

use async_trait::async_trait;

use crate::Error;
use crate::access::{Group, GroupId};
use crate::ids::{UserId, WorkspaceId};

/// Groups and group memberships.
#[async_trait]
pub trait GroupRows: Send {
    /// The group with this id, in whichever workspace.
    async fn group(&mut self, id: GroupId) -> Result<Option<Group>, Error>;

    /// The groups of a workspace, in no particular order.
    async fn groups(&mut self, workspace: WorkspaceId) -> Result<Vec<Group>, Error>;

    /// Stores the group, replacing the one with its id. A store may keep
    /// [`Group::folded_name`] unique per workspace as a safety net ([`Error::Conflict`]).
    async fn put_group(&mut self, group: &Group) -> Result<(), Error>;

    /// Deletes the group and its memberships; whether it was there.
    async fn delete_group(&mut self, id: GroupId) -> Result<bool, Error>;

    /// The members of a group, in no particular order.
    async fn group_members(&mut self, group: GroupId) -> Result<Vec<UserId>, Error>;

    /// The groups of `workspace` that `user` is in, in no particular order.
    async fn groups_of(
        &mut self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Vec<GroupId>, Error>;

    /// Adds `user` to a group; `false` if they were in it.
    async fn put_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool, Error>;

    /// Takes `user` out of a group; `false` if they were not in it.
    async fn delete_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool, Error>;
}

//! Rows of workspace memberships.

use async_trait::async_trait;

use crate::Error;
use crate::access::Member;
use crate::ids::{UserId, WorkspaceId};

/// Memberships, one per (workspace, user).
#[async_trait]
pub trait MemberRows: Send {
    /// `user`'s membership of `workspace`.
    async fn member(
        &mut self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Member>, Error>;

    /// The members of a workspace in the order they were first stored (joining order; a
    /// later [`MemberRows::put_member`] of the same member keeps its place).
    async fn members(&mut self, workspace: WorkspaceId) -> Result<Vec<Member>, Error>;

    /// Every membership of `user`, in no particular order.
    async fn memberships(&mut self, user: UserId) -> Result<Vec<Member>, Error>;

    /// Stores the membership, replacing the one of the same workspace and user.
    async fn put_member(&mut self, member: &Member) -> Result<(), Error>;

    /// Deletes `user`'s membership of `workspace`; whether there was one.
    async fn delete_member(&mut self, workspace: WorkspaceId, user: UserId) -> Result<bool, Error>;
}

//! Rows of invitations.

use async_trait::async_trait;

use crate::Error;
use crate::access::{Invitation, InvitationId};
use crate::ids::WorkspaceId;

/// Invitations.
#[async_trait]
pub trait InvitationRows: Send {
    /// The invitation with this id.
    async fn invitation(&mut self, id: InvitationId) -> Result<Option<Invitation>, Error>;

    /// The invitations of a workspace, in no particular order.
    async fn invitations(&mut self, workspace: WorkspaceId) -> Result<Vec<Invitation>, Error>;

    /// Stores the invitation, replacing the one with its id.
    async fn put_invitation(&mut self, invitation: &Invitation) -> Result<(), Error>;
}

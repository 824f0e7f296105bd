//! Rows of workspaces.

use async_trait::async_trait;

use crate::Error;
use crate::access::Workspace;
use crate::ids::WorkspaceId;

/// Workspaces.
#[async_trait]
pub trait WorkspaceRows: Send {
    /// The workspace with this id.
    async fn workspace(&mut self, id: WorkspaceId) -> Result<Option<Workspace>, Error>;

    /// Stores the workspace, replacing the one with its id.
    async fn put_workspace(&mut self, workspace: &Workspace) -> Result<(), Error>;
}

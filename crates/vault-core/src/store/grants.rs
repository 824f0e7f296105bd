//! Rows of product-role grants.

use async_trait::async_trait;

use crate::Error;
use crate::access::{Grant, Grantee, RoleName};
use crate::ids::{ProductId, WorkspaceId};

/// Grants, one per (workspace, grantee, product, role).
#[async_trait]
pub trait GrantRows: Send {
    /// The grants of a workspace in the order they were stored (oldest first).
    async fn grants(&mut self, workspace: WorkspaceId) -> Result<Vec<Grant>, Error>;

    /// Stores a new grant. [`Error::Conflict`] if the same (workspace, grantee, product, role)
    /// exists.
    async fn insert_grant(&mut self, grant: &Grant) -> Result<(), Error>;

    /// Deletes one grant; whether it was there.
    async fn delete_grant(
        &mut self,
        workspace: WorkspaceId,
        grantee: &Grantee,
        product: &ProductId,
        role: &RoleName,
    ) -> Result<bool, Error>;

    /// Deletes every grant of `grantee` in the workspace; how many there were.
    async fn delete_grants_of(
        &mut self,
        workspace: WorkspaceId,
        grantee: &Grantee,
    ) -> Result<u32, Error>;
}

//! Workspaces, one row each, with their two-factor policy in two columns.

use async_trait::async_trait;
use vault_core::access::{TwoFactorPolicy, Workspace};
use vault_core::store::WorkspaceRows;
use vault_core::{Error, UserId, WorkspaceId};

use crate::arg::args;
use crate::error::SqlError;
use crate::store::from_nanos;
use crate::transaction::SqlTransaction;

table! {
    workspaces (id) [name, created_by, created_at, two_factor_admins,
        two_factor_sensitive_roles] put "($1, $2, $3, $4, $5, $6)";
    BY_ID = "WHERE id = $1";
}

#[derive(sqlx::FromRow)]
struct WorkspaceRow {
    id: uuid::Uuid,
    name: String,
    created_by: uuid::Uuid,
    created_at: i64,
    two_factor_admins: bool,
    two_factor_sensitive_roles: bool,
}

impl WorkspaceRow {
    fn into_workspace(self) -> Result<Workspace, SqlError> {
        Ok(Workspace {
            id: WorkspaceId::from_uuid(self.id),
            name: self.name,
            created_by: UserId::from_uuid(self.created_by),
            created_at: from_nanos("workspaces", self.created_at)?,
            two_factor: TwoFactorPolicy {
                owners_and_admins: self.two_factor_admins,
                sensitive_roles: self.two_factor_sensitive_roles,
            },
        })
    }
}

#[async_trait]
impl WorkspaceRows for SqlTransaction {
    async fn workspace(&mut self, id: WorkspaceId) -> Result<Option<Workspace>, Error> {
        self.one(BY_ID, args![id], WorkspaceRow::into_workspace)
            .await
    }

    async fn put_workspace(&mut self, workspace: &Workspace) -> Result<(), Error> {
        let values = args![
            workspace.id,
            workspace.name.as_str(),
            workspace.created_by,
            workspace.created_at,
            workspace.two_factor.owners_and_admins,
            workspace.two_factor.sensitive_roles,
        ];
        self.put(PUT, values).await
    }
}

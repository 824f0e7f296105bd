//! Product-role grants, one row per (workspace, grantee, product, role); the `seq` column
//! (migration 0002) keeps them oldest first.

use async_trait::async_trait;
use vault_core::access::{Grant, Grantee, GroupId, RoleName};
use vault_core::store::GrantRows;
use vault_core::{Error, ProductId, UserId, WorkspaceId};

use super::count;
use crate::arg::{Arg, args};
use crate::error::SqlError;
use crate::store::from_nanos;
use crate::transaction::SqlTransaction;

const TABLE: &str = "grants";

table! {
    grants (workspace_id, grantee_kind, grantee_id, product, role) [granted_by, granted_at]
        insert "($1, $2, $3, $4, $5, $6, $7)";
    OF_WORKSPACE = "WHERE workspace_id = $1 ORDER BY seq";
}

/// The two grantee columns: its kind, and the id of the user or group.
fn grantee_columns<'a>(grantee: &Grantee) -> [Arg<'a>; 2] {
    match *grantee {
        Grantee::User(id) => ["user".into(), id.into()],
        Grantee::Group(id) => ["group".into(), id.into()],
    }
}

#[derive(sqlx::FromRow)]
struct GrantRow {
    workspace_id: uuid::Uuid,
    grantee_kind: String,
    grantee_id: uuid::Uuid,
    product: String,
    role: String,
    granted_by: uuid::Uuid,
    granted_at: i64,
}

impl GrantRow {
    fn into_grant(self) -> Result<Grant, SqlError> {
        let grantee = match self.grantee_kind.as_str() {
            "user" => Grantee::User(UserId::from_uuid(self.grantee_id)),
            "group" => Grantee::Group(GroupId::from_uuid(self.grantee_id)),
            _ => return Err(SqlError::corrupt(TABLE, "grantee_kind")),
        };
        Ok(Grant {
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            grantee,
            product: ProductId::new(&self.product)
                .map_err(|_| SqlError::corrupt(TABLE, "product"))?,
            role: RoleName::new(&self.role).map_err(|_| SqlError::corrupt(TABLE, "role"))?,
            granted_by: UserId::from_uuid(self.granted_by),
            granted_at: from_nanos(TABLE, self.granted_at)?,
        })
    }
}

#[async_trait]
impl GrantRows for SqlTransaction {
    async fn grants(&mut self, workspace: WorkspaceId) -> Result<Vec<Grant>, Error> {
        self.all(OF_WORKSPACE, args![workspace], GrantRow::into_grant)
            .await
    }

    async fn insert_grant(&mut self, grant: &Grant) -> Result<(), Error> {
        // `DO NOTHING` rather than a unique violation: the transaction stays usable.
        let [kind, id] = grantee_columns(&grant.grantee);
        let values = args![
            grant.workspace_id,
            kind,
            id,
            grant.product.as_str(),
            grant.role.as_str(),
            grant.granted_by,
            grant.granted_at,
        ];
        match self.execute(INSERT, values).await? {
            0 => Err(Error::Conflict("grant exists".into())),
            _ => Ok(()),
        }
    }

    async fn delete_grant(
        &mut self,
        workspace: WorkspaceId,
        grantee: &Grantee,
        product: &ProductId,
        role: &RoleName,
    ) -> Result<bool, Error> {
        let sql = "DELETE FROM grants WHERE workspace_id = $1 AND grantee_kind = $2 \
             AND grantee_id = $3 AND product = $4 AND role = $5";
        let [kind, id] = grantee_columns(grantee);
        let values = args![workspace, kind, id, product.as_str(), role.as_str()];
        Ok(self.execute(sql, values).await? > 0)
    }

    async fn delete_grants_of(
        &mut self,
        workspace: WorkspaceId,
        grantee: &Grantee,
    ) -> Result<u32, Error> {
        let sql = "DELETE FROM grants \
             WHERE workspace_id = $1 AND grantee_kind = $2 AND grantee_id = $3";
        let [kind, id] = grantee_columns(grantee);
        Ok(count(self.execute(sql, args![workspace, kind, id]).await?))
    }
}

//! Workspace memberships, one row per (workspace, user). The `seq` column (migration 0002)
//! keeps joining order: a replaced membership keeps its row, so its place.

use async_trait::async_trait;
use vault_core::access::Member;
use vault_core::store::MemberRows;
use vault_core::{Error, UserId, WorkspaceId};

use super::role_from;
use crate::arg::args;
use crate::error::SqlError;
use crate::store::from_nanos;
use crate::transaction::SqlTransaction;

const TABLE: &str = "workspace_members";

table! {
    workspace_members (workspace_id, user_id) [role, joined_at] put "($1, $2, $3, $4)";
    ONE = "WHERE workspace_id = $1 AND user_id = $2";
    OF_WORKSPACE = "WHERE workspace_id = $1 ORDER BY seq";
    OF_USER = "WHERE user_id = $1";
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    workspace_id: uuid::Uuid,
    user_id: uuid::Uuid,
    role: String,
    joined_at: i64,
}

impl MemberRow {
    fn into_member(self) -> Result<Member, SqlError> {
        Ok(Member {
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            user_id: UserId::from_uuid(self.user_id),
            role: role_from(TABLE, &self.role)?,
            joined_at: from_nanos(TABLE, self.joined_at)?,
        })
    }
}

#[async_trait]
impl MemberRows for SqlTransaction {
    async fn member(
        &mut self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Option<Member>, Error> {
        self.one(ONE, args![workspace, user], MemberRow::into_member)
            .await
    }

    async fn members(&mut self, workspace: WorkspaceId) -> Result<Vec<Member>, Error> {
        self.all(OF_WORKSPACE, args![workspace], MemberRow::into_member)
            .await
    }

    async fn memberships(&mut self, user: UserId) -> Result<Vec<Member>, Error> {
        self.all(OF_USER, args![user], MemberRow::into_member).await
    }

    async fn put_member(&mut self, member: &Member) -> Result<(), Error> {
        let values = args![
            member.workspace_id,
            member.user_id,
            member.role.as_str(),
            member.joined_at,
        ];
        self.put(PUT, values).await
    }

    async fn delete_member(&mut self, workspace: WorkspaceId, user: UserId) -> Result<bool, Error> {
        let sql = "DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2";
        Ok(self.execute(sql, args![workspace, user]).await? > 0)
    }
}

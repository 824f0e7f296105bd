//! Groups (`workspace_groups`, with the folded name vault-core compares names by, unique per
//! workspace as a safety net) and their members (`group_members`, removed with their group by
//! `ON DELETE CASCADE`).

use async_trait::async_trait;
use vault_core::access::{Group, GroupId};
use vault_core::store::GroupRows;
use vault_core::{Error, UserId, WorkspaceId};

use crate::arg::args;
use crate::error::{SqlError, Unique};
use crate::store::from_nanos;
use crate::transaction::SqlTransaction;

table! {
    workspace_groups (id) [workspace_id, name, name_folded, created_by, created_at]
        put "($1, $2, $3, $4, $5, $6)";
    BY_ID = "WHERE id = $1";
    OF_WORKSPACE = "WHERE workspace_id = $1";
}

static NAME: Unique = Unique {
    what: "group name taken",
    postgres: "workspace_groups_workspace_id_name_folded_key",
    sqlite: "workspace_groups.workspace_id, workspace_groups.name_folded",
};

#[derive(sqlx::FromRow)]
struct GroupRow {
    id: uuid::Uuid,
    workspace_id: uuid::Uuid,
    name: String,
    created_by: uuid::Uuid,
    created_at: i64,
}

impl GroupRow {
    fn into_group(self) -> Result<Group, SqlError> {
        Ok(Group {
            id: GroupId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            name: self.name,
            created_by: UserId::from_uuid(self.created_by),
            created_at: from_nanos("workspace_groups", self.created_at)?,
        })
    }
}

#[async_trait]
impl GroupRows for SqlTransaction {
    async fn group(&mut self, id: GroupId) -> Result<Option<Group>, Error> {
        self.one(BY_ID, args![id], GroupRow::into_group).await
    }

    async fn groups(&mut self, workspace: WorkspaceId) -> Result<Vec<Group>, Error> {
        self.all(OF_WORKSPACE, args![workspace], GroupRow::into_group)
            .await
    }

    async fn put_group(&mut self, group: &Group) -> Result<(), Error> {
        let folded = group.folded_name();
        let values = args![
            group.id,
            group.workspace_id,
            group.name.as_str(),
            folded.as_str(),
            group.created_by,
            group.created_at,
        ];
        self.execute(PUT, values)
            .await
            .map_err(NAME.or_conflict())?;
        Ok(())
    }

    async fn delete_group(&mut self, id: GroupId) -> Result<bool, Error> {
        let sql = "DELETE FROM workspace_groups WHERE id = $1";
        Ok(self.execute(sql, args![id]).await? > 0)
    }

    async fn group_members(&mut self, group: GroupId) -> Result<Vec<UserId>, Error> {
        let sql = "SELECT user_id FROM group_members WHERE group_id = $1";
        let rows: Vec<(uuid::Uuid,)> = self.fetch_all(sql, args![group]).await?;
        Ok(rows
            .into_iter()
            .map(|(id,)| UserId::from_uuid(id))
            .collect())
    }

    async fn groups_of(
        &mut self,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<Vec<GroupId>, Error> {
        let sql = "SELECT m.group_id FROM group_members m \
             JOIN workspace_groups g ON g.id = m.group_id \
             WHERE g.workspace_id = $1 AND m.user_id = $2";
        let rows: Vec<(uuid::Uuid,)> = self.fetch_all(sql, args![workspace, user]).await?;
        Ok(rows
            .into_iter()
            .map(|(id,)| GroupId::from_uuid(id))
            .collect())
    }

    async fn put_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool, Error> {
        let sql = "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING";
        Ok(self.execute(sql, args![group, user]).await? > 0)
    }

    async fn delete_group_member(&mut self, group: GroupId, user: UserId) -> Result<bool, Error> {
        let sql = "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2";
        Ok(self.execute(sql, args![group, user]).await? > 0)
    }
}

//! Sessions, keyed by the hash of the session token.

use async_trait::async_trait;
use vault_core::accounts::{SecretHash, SessionRecord};
use vault_core::store::SessionRows;
use vault_core::{Error, UserId, WorkspaceId};

use super::count;
use crate::arg::args;
use crate::error::SqlError;
use crate::store::from_nanos;
use crate::transaction::SqlTransaction;

const TABLE: &str = "sessions";

table! {
    sessions (token_hash) [id, user_id, created_at, last_seen_at, absolute_expires_at,
        active_workspace, two_factor_passed] put "($1, $2, $3, $4, $5, $6, $7, $8)";
    BY_HASH = "WHERE token_hash = $1";
    OF_USER = "WHERE user_id = $1";
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    token_hash: Vec<u8>,
    id: uuid::Uuid,
    user_id: uuid::Uuid,
    created_at: i64,
    last_seen_at: i64,
    absolute_expires_at: i64,
    active_workspace: Option<uuid::Uuid>,
    two_factor_passed: bool,
}

impl SessionRow {
    fn into_record(self) -> Result<SessionRecord, SqlError> {
        Ok(SessionRecord {
            token_hash: SecretHash::from_slice(&self.token_hash)
                .ok_or_else(|| SqlError::corrupt(TABLE, "token_hash"))?,
            id: self.id,
            user_id: UserId::from_uuid(self.user_id),
            created_at: from_nanos(TABLE, self.created_at)?,
            last_seen_at: from_nanos(TABLE, self.last_seen_at)?,
            absolute_expires_at: from_nanos(TABLE, self.absolute_expires_at)?,
            active_workspace: self.active_workspace.map(WorkspaceId::from_uuid),
            two_factor_passed: self.two_factor_passed,
        })
    }
}

#[async_trait]
impl SessionRows for SqlTransaction {
    async fn session(&mut self, hash: &SecretHash) -> Result<Option<SessionRecord>, Error> {
        self.one(BY_HASH, args![hash], SessionRow::into_record)
            .await
    }

    async fn sessions_of(&mut self, user: UserId) -> Result<Vec<SessionRecord>, Error> {
        self.all(OF_USER, args![user], SessionRow::into_record)
            .await
    }

    async fn put_session(&mut self, session: &SessionRecord) -> Result<(), Error> {
        let values = args![
            &session.token_hash,
            session.id,
            session.user_id,
            session.created_at,
            session.last_seen_at,
            session.absolute_expires_at,
            session.active_workspace,
            session.two_factor_passed,
        ];
        self.put(PUT, values).await
    }

    async fn delete_session(&mut self, hash: &SecretHash) -> Result<bool, Error> {
        let sql = "DELETE FROM sessions WHERE token_hash = $1";
        Ok(self.execute(sql, args![hash]).await? > 0)
    }

    async fn delete_sessions_of(
        &mut self,
        user: UserId,
        keep: Option<&SecretHash>,
    ) -> Result<u32, Error> {
        // `IS DISTINCT FROM`: with no session to keep (`NULL`), every session ends.
        let sql = "DELETE FROM sessions WHERE user_id = $1 AND token_hash IS DISTINCT FROM $2";
        Ok(count(self.execute(sql, args![user, keep]).await?))
    }
}

//! Invitations, one row each: never the token, only its hash.

use async_trait::async_trait;
use vault_core::access::{Invitation, InvitationId};
use vault_core::store::InvitationRows;
use vault_core::{Error, UserId, WorkspaceId};

use super::role_from;
use crate::arg::args;
use crate::error::SqlError;
use crate::store::{from_nanos, from_opt_nanos};
use crate::transaction::SqlTransaction;

const TABLE: &str = "invitations";

table! {
    invitations (id) [workspace_id, email, role, invited_by, created_at, expires_at, token_hash,
        accepted_at, accepted_by, revoked_at] put "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    BY_ID = "WHERE id = $1";
    OF_WORKSPACE = "WHERE workspace_id = $1";
}

#[derive(sqlx::FromRow)]
struct InvitationRow {
    id: uuid::Uuid,
    workspace_id: uuid::Uuid,
    email: String,
    role: String,
    invited_by: uuid::Uuid,
    created_at: i64,
    expires_at: i64,
    token_hash: Vec<u8>,
    accepted_at: Option<i64>,
    accepted_by: Option<uuid::Uuid>,
    revoked_at: Option<i64>,
}

impl InvitationRow {
    fn into_invitation(self) -> Result<Invitation, SqlError> {
        Ok(Invitation {
            id: InvitationId::from_uuid(self.id),
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            email: self.email,
            role: role_from(TABLE, &self.role)?,
            invited_by: UserId::from_uuid(self.invited_by),
            created_at: from_nanos(TABLE, self.created_at)?,
            expires_at: from_nanos(TABLE, self.expires_at)?,
            token_hash: self
                .token_hash
                .try_into()
                .map_err(|_| SqlError::corrupt(TABLE, "token_hash"))?,
            accepted_at: from_opt_nanos(TABLE, self.accepted_at)?,
            accepted_by: self.accepted_by.map(UserId::from_uuid),
            revoked_at: from_opt_nanos(TABLE, self.revoked_at)?,
        })
    }
}

#[async_trait]
impl InvitationRows for SqlTransaction {
    async fn invitation(&mut self, id: InvitationId) -> Result<Option<Invitation>, Error> {
        self.one(BY_ID, args![id], InvitationRow::into_invitation)
            .await
    }

    async fn invitations(&mut self, workspace: WorkspaceId) -> Result<Vec<Invitation>, Error> {
        self.all(
            OF_WORKSPACE,
            args![workspace],
            InvitationRow::into_invitation,
        )
        .await
    }

    async fn put_invitation(&mut self, invitation: &Invitation) -> Result<(), Error> {
        let values = args![
            invitation.id,
            invitation.workspace_id,
            invitation.email.as_str(),
            invitation.role.as_str(),
            invitation.invited_by,
            invitation.created_at,
            invitation.expires_at,
            invitation.token_hash.as_slice(),
            invitation.accepted_at,
            invitation.accepted_by,
            invitation.revoked_at,
        ];
        self.put(PUT, values).await
    }
}

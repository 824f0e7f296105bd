//! The mail queue, one `mail_queue` row per queued mail (sealed by vault-core; only the id and
//! the timing are readable here).

use async_trait::async_trait;
use time::OffsetDateTime;
use vault_core::Error;
use vault_core::accounts::QueuedMail;
use vault_core::store::MailRows;

use super::counter;
use crate::arg::args;
use crate::error::SqlError;
use crate::store::from_nanos;
use crate::transaction::SqlTransaction;

const TABLE: &str = "mail_queue";

table! {
    mail_queue (id) [sealed, created_at, due_at, attempts] put "($1, $2, $3, $4, $5)";
    QUEUED = "ORDER BY due_at, id LIMIT $1";
}

/// The due mails, oldest due first, leased in the same statement. PostgreSQL skips the rows
/// other transactions hold, so claims of several instances never overlap; SQLite has one
/// writer, whose `BEGIN IMMEDIATE` already excludes every other claim.
const CLAIM_POSTGRES: &str = "UPDATE mail_queue SET due_at = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM mail_queue WHERE due_at <= $1 ORDER BY due_at, id LIMIT $3 \
     FOR UPDATE SKIP LOCKED) \
     RETURNING id, sealed, created_at, due_at, attempts";
const CLAIM_SQLITE: &str = "UPDATE mail_queue SET due_at = $2, attempts = attempts + 1 \
     WHERE id IN (SELECT id FROM mail_queue WHERE due_at <= $1 ORDER BY due_at, id LIMIT $3) \
     RETURNING id, sealed, created_at, due_at, attempts";

#[derive(sqlx::FromRow)]
struct MailRow {
    id: uuid::Uuid,
    sealed: Vec<u8>,
    created_at: i64,
    due_at: i64,
    attempts: i32,
}

impl MailRow {
    fn into_record(self) -> Result<QueuedMail, SqlError> {
        Ok(QueuedMail {
            id: self.id,
            sealed: self.sealed,
            created_at: from_nanos(TABLE, self.created_at)?,
            due_at: from_nanos(TABLE, self.due_at)?,
            attempts: counter(TABLE, self.attempts)?,
        })
    }
}

#[async_trait]
impl MailRows for SqlTransaction {
    async fn put_mail(&mut self, mail: &QueuedMail) -> Result<(), Error> {
        let values = args![
            mail.id,
            mail.sealed.as_slice(),
            mail.created_at,
            mail.due_at,
            mail.attempts,
        ];
        self.put(PUT, values).await
    }

    async fn claim_mails(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, Error> {
        let sql = if self.is_postgres() {
            CLAIM_POSTGRES
        } else {
            CLAIM_SQLITE
        };
        self.all_written(sql, args![now, lease_until, limit], MailRow::into_record)
            .await
    }

    async fn delete_mail(&mut self, id: uuid::Uuid) -> Result<bool, Error> {
        let sql = "DELETE FROM mail_queue WHERE id = $1";
        Ok(self.execute(sql, args![id]).await? > 0)
    }

    async fn queued_mails(&mut self, limit: u32) -> Result<Vec<QueuedMail>, Error> {
        self.all(QUEUED, args![limit], MailRow::into_record).await
    }
}

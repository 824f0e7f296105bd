//! Rows of the mail queue: account mails waiting for the worker, sealed
//! ([`crate::accounts::QueuedMail`]).

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Error;
use crate::accounts::QueuedMail;

/// The persisted mail queue. A flow queues its mail in the transaction that writes the token
/// the mail carries; a worker claims due mails, sends them and deletes them.
#[async_trait]
pub trait MailRows: Send {
    /// Stores the mail, replacing the one with its id.
    async fn put_mail(&mut self, mail: &QueuedMail) -> Result<(), Error>;

    /// Claims up to `limit` mails due at `now` (`due_at <= now`), the oldest due first: each
    /// is written back with `due_at = lease_until` and one more attempt, and returned as
    /// written (in no particular order).
    /// Of two transactions claiming at once, none gets a mail the other got: PostgreSQL
    /// skips the rows another transaction holds (`FOR UPDATE SKIP LOCKED`), so instances
    /// share the work; SQLite and the memory store have one writer.
    async fn claim_mails(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, Error>;

    /// Deletes the mail with this id; whether it was there.
    async fn delete_mail(&mut self, id: uuid::Uuid) -> Result<bool, Error>;

    /// Up to `limit` queued mails, oldest due first, claimed or not (the queue's depth, tests).
    async fn queued_mails(&mut self, limit: u32) -> Result<Vec<QueuedMail>, Error>;
}

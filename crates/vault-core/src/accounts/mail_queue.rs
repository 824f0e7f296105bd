//! The persisted mail queue. A flow queues its mail in the transaction that writes the token
//! the mail carries, so the answer never waits for SMTP and a crash after the commit loses no
//! mail; a worker ([`Accounts::deliver_mail`], [`Accounts::spawn_mail_worker`]) claims due
//! mails (`FOR UPDATE SKIP LOCKED` on PostgreSQL: instances share the work), sends them at
//! least once under a stable `Message-ID`, and deletes them once sent.
//!
//! Queued bodies hold live link tokens and codes: they are sealed at rest with the server's
//! sealing key (as TOTP secrets are), under a domain of their own and the mail's id as
//! associated data. Where a flow must not tell whether an account exists, the path without
//! a mail writes a token of nobody and queues a decoy sealed alike, which the worker deletes
//! unsent: both paths do the same work.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use time::Duration;
use zeroize::{Zeroize, Zeroizing};

use crate::Error;
use crate::accounts::email::Email;
use crate::accounts::mailer::{MailKind, Message};
use crate::accounts::records::QueuedMail;
use crate::accounts::service::Accounts;
use crate::store::{Scope, Transaction};

/// Domain separation of mail bodies from every other use of the sealing key.
const DOMAIN: &[u8] = b"vault/mail/v1";
/// The longest wait between two attempts of a failing mail.
const LONGEST_RETRY: Duration = Duration::hours(1);

/// A mail a flow is about to queue (the queue gives it its id and `Message-ID`).
pub(crate) struct Draft {
    pub(crate) kind: MailKind,
    pub(crate) to: Email,
    pub(crate) subject: &'static str,
    pub(crate) text: String,
    pub(crate) token: Option<SecretString>,
    pub(crate) code: Option<SecretString>,
}

impl Draft {
    /// A mail without a link or code (a notice).
    pub(crate) fn notice(kind: MailKind, to: &Email, subject: &'static str, text: String) -> Self {
        Self {
            kind,
            to: to.clone(),
            subject,
            text,
            token: None,
            code: None,
        }
    }

    /// A mail carrying a link token and a code.
    pub(crate) fn with_proof(
        kind: MailKind,
        to: &Email,
        subject: &'static str,
        text: String,
        token: &SecretString,
        code: &SecretString,
    ) -> Self {
        Self {
            token: Some(token.clone()),
            code: Some(code.clone()),
            ..Self::notice(kind, to, subject, text)
        }
    }
}

/// What is sealed in a queued mail. Wiped when dropped.
#[derive(Serialize, Deserialize)]
struct Sealed {
    decoy: bool,
    message_id: String,
    kind: MailKind,
    to: String,
    subject: String,
    text: String,
    token: Option<String>,
    code: Option<String>,
}

impl Drop for Sealed {
    fn drop(&mut self) {
        self.to.zeroize();
        self.text.zeroize();
        self.token.zeroize();
        self.code.zeroize();
    }
}

/// What one [`Accounts::deliver_mail`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailDelivery {
    /// Mails handed to the mailer, and deleted.
    pub sent: u32,
    /// Decoys deleted unsent.
    pub decoys: u32,
    /// Mails the mailer refused, queued again for later.
    pub retried: u32,
    /// Mails given up: refused [`crate::accounts::AccountsConfig::mail_attempts`] times, or
    /// sealed under another key (logged as errors).
    pub dropped: u32,
}

/// The background mail worker of [`Accounts::spawn_mail_worker`]; dropping it stops it.
#[derive(Debug)]
pub struct MailWorker(tokio::task::JoinHandle<()>);

impl Drop for MailWorker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Accounts {
    /// In `tx`: queues `draft`, or when `decoy`, a look-alike sealed the same way that the
    /// worker deletes unsent. Call [`Accounts::mail_queued`] after the commit.
    pub(crate) async fn queue_mail(
        &self,
        tx: &mut (dyn Transaction + '_),
        draft: Draft,
        decoy: bool,
    ) -> Result<(), Error> {
        let id = uuid::Uuid::new_v4();
        let sealed = Sealed {
            decoy,
            message_id: format!("<{id}@{}>", self.config().links.host()),
            kind: draft.kind,
            to: draft.to.as_str().to_owned(),
            subject: draft.subject.to_owned(),
            text: draft.text,
            token: draft.token.map(|t| t.expose_secret().to_owned()),
            code: draft.code.map(|c| c.expose_secret().to_owned()),
        };
        let plain =
            Zeroizing::new(serde_json::to_vec(&sealed).map_err(|err| Error::Store(Box::new(err)))?);
        let sealed = self
            .inner
            .totp
            .sealing_key()
            .seal_in(DOMAIN, id.as_bytes(), &plain)?
            .ok_or_else(|| Error::Store("a mail too large to seal".into()))?;
        let now = self.now();
        tx.put_mail(&QueuedMail {
            id,
            sealed,
            created_at: now,
            due_at: now,
            attempts: 0,
        })
        .await
    }

    /// Wakes this instance's mail worker: a transaction that queued mail was committed.
    pub(crate) fn mail_queued(&self) {
        self.inner.mail_wake.notify_one();
    }

    /// Sends every queued mail that is due, in batches of
    /// [`crate::accounts::AccountsConfig::mail_batch`]: each is claimed (leased for
    /// [`crate::accounts::AccountsConfig::mail_lease`]), opened, handed to the mailer and
    /// deleted; a decoy is deleted unsent; a mail the mailer refuses is tried again later,
    /// waiting longer each time, and given up after
    /// [`crate::accounts::AccountsConfig::mail_attempts`] claims. A worker that dies between
    /// the send and the delete leaves the mail to be claimed again when its lease ends: mail
    /// goes out at least once, with the same `Message-ID` each time.
    ///
    /// [`Accounts::spawn_mail_worker`] runs this in the background; tests call it directly.
    pub async fn deliver_mail(&self) -> Result<MailDelivery, Error> {
        let mut done = MailDelivery::default();
        let batch = self.config().mail_batch.max(1);
        loop {
            let now = self.now();
            let mut tx = self.begin(Scope::none()).await?;
            let claimed = tx
                .claim_mails(now, now + self.config().mail_lease, batch)
                .await?;
            tx.commit().await?;
            let full = claimed.len() >= usize::try_from(batch).unwrap_or(usize::MAX);
            for mail in claimed {
                self.deliver_one(mail, &mut done).await?;
            }
            if !full {
                return Ok(done);
            }
        }
    }

    async fn deliver_one(&self, mail: QueuedMail, done: &mut MailDelivery) -> Result<(), Error> {
        let Some(sealed) = self.open_mail(&mail) else {
            tracing::error!(mail_id = %mail.id, "a queued mail does not open (sealed under another key?): dropped");
            done.dropped += 1;
            return self.delete_mail(mail.id).await;
        };
        if sealed.decoy {
            done.decoys += 1;
            return self.delete_mail(mail.id).await;
        }
        let Ok(to) = Email::parse(&sealed.to) else {
            tracing::error!(mail_id = %mail.id, "a queued mail has no valid recipient: dropped");
            done.dropped += 1;
            return self.delete_mail(mail.id).await;
        };
        let message = Message {
            message_id: sealed.message_id.clone(),
            kind: sealed.kind,
            to,
            subject: sealed.subject.clone(),
            text: sealed.text.clone(),
            token: sealed.token.clone().map(SecretString::from),
            code: sealed.code.clone().map(SecretString::from),
        };
        match self.inner.mailer.send(message).await {
            Ok(()) => {
                done.sent += 1;
                self.delete_mail(mail.id).await
            }
            Err(err) if mail.attempts >= self.config().mail_attempts => {
                tracing::error!(mail_id = %mail.id, kind = sealed.kind.as_str(), attempts = mail.attempts, error = %err, "a mail was refused on every attempt: dropped");
                done.dropped += 1;
                self.delete_mail(mail.id).await
            }
            Err(err) => {
                tracing::warn!(mail_id = %mail.id, kind = sealed.kind.as_str(), attempts = mail.attempts, error = %err, "sending a mail failed: it is tried again later");
                done.retried += 1;
                let wait = retry_wait(self.config().mail_retry, mail.attempts);
                let mut tx = self.begin(Scope::none()).await?;
                tx.put_mail(&QueuedMail {
                    due_at: self.now() + wait,
                    ..mail
                })
                .await?;
                tx.commit().await
            }
        }
    }

    fn open_mail(&self, mail: &QueuedMail) -> Option<Sealed> {
        let key = self.inner.totp.sealing_key();
        let plain = key.open_in(DOMAIN, mail.id.as_bytes(), &mail.sealed)?;
        serde_json::from_slice(&plain).ok()
    }

    async fn delete_mail(&self, id: uuid::Uuid) -> Result<(), Error> {
        let mut tx = self.begin(Scope::none()).await?;
        tx.delete_mail(id).await?;
        tx.commit().await
    }

    /// Deletes the tokens that expired more than a mail window ago (the decoys among them):
    /// every mail limit counts only tokens of the last window. Answers how many went.
    pub async fn purge_expired_tokens(&self) -> Result<u32, Error> {
        let mut tx = self.begin(Scope::none()).await?;
        let purged = tx
            .delete_expired_tokens(self.now() - self.config().mail_window)
            .await?;
        tx.commit().await?;
        Ok(purged)
    }

    /// Runs [`Accounts::deliver_mail`] in the background on the current Tokio runtime: at
    /// once when a flow of this instance queues a mail, and every
    /// [`crate::accounts::AccountsConfig::mail_poll`] for the mails of other instances and
    /// retries; expired tokens are purged every [`crate::accounts::AccountsConfig::token_purge`].
    /// A failed pass is logged and retried. Dropping the [`MailWorker`] stops it.
    pub fn spawn_mail_worker(&self) -> MailWorker {
        let accounts = self.clone();
        let wake = Arc::clone(&self.inner.mail_wake);
        MailWorker(tokio::spawn(async move {
            let poll = std_duration(accounts.config().mail_poll);
            let mut since_purge = None::<time::OffsetDateTime>;
            loop {
                if let Err(err) = accounts.deliver_mail().await {
                    tracing::warn!(error = %err, "a mail delivery pass failed");
                }
                let now = accounts.now();
                if since_purge.is_none_or(|at| now - at >= accounts.config().token_purge) {
                    since_purge = Some(now);
                    if let Err(err) = accounts.purge_expired_tokens().await {
                        tracing::warn!(error = %err, "purging expired tokens failed");
                    }
                }
                let _ = tokio::time::timeout(poll, wake.notified()).await;
            }
        }))
    }
}

/// The wait before attempt `attempts + 1`: `base`, doubled per attempt, at most an hour.
fn retry_wait(base: Duration, attempts: u32) -> Duration {
    let factor = 2i32.saturating_pow(attempts.saturating_sub(1).min(16));
    (base * factor).min(LONGEST_RETRY)
}

fn std_duration(d: Duration) -> std::time::Duration {
    std::time::Duration::try_from(d).unwrap_or(std::time::Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_longer_each_time_up_to_an_hour() {
        let base = Duration::seconds(30);
        assert_eq!(retry_wait(base, 1), Duration::seconds(30));
        assert_eq!(retry_wait(base, 2), Duration::seconds(60));
        assert_eq!(retry_wait(base, 4), Duration::seconds(240));
        assert_eq!(retry_wait(base, 30), LONGEST_RETRY);
    }
}

//! Account rows in memory: users, tokens, sessions, throttle counters, queued mail.

use async_trait::async_trait;

use super::transaction::MemoryTransaction;
use crate::Error;
use time::OffsetDateTime;

use crate::accounts::{
    Email, QueuedMail, SecretHash, SessionRecord, ThrottleKey, ThrottleState, TokenPurpose,
    TokenRecord, User,
};
use crate::ids::UserId;
use crate::store::{MailRows, SessionRows, ThrottleRows, TokenRows, UserRows};

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[async_trait]
impl UserRows for MemoryTransaction<'_> {
    async fn user(&mut self, id: UserId) -> Result<Option<User>, Error> {
        Ok(self.tables().users.get(&id).cloned())
    }

    async fn user_by_email(&mut self, email: &Email) -> Result<Option<User>, Error> {
        let t = self.tables();
        Ok(t.by_email
            .get(email.normalized())
            .and_then(|id| t.users.get(id))
            .cloned())
    }

    async fn put_user(&mut self, user: &User) -> Result<(), Error> {
        let t = self.tables_mut()?;
        let key = user.email.normalized().to_owned();
        if t.by_email.get(&key).is_some_and(|owner| *owner != user.id) {
            return Err(Error::Conflict("email taken".into()));
        }
        if let Some(old) = t.users.get(&user.id) {
            let old = old.email.normalized().to_owned();
            t.by_email.remove(&old);
        }
        t.by_email.insert(key, user.id);
        t.users.insert(user.id, user.clone());
        Ok(())
    }
}

#[async_trait]
impl TokenRows for MemoryTransaction<'_> {
    async fn token(&mut self, hash: &SecretHash) -> Result<Option<TokenRecord>, Error> {
        Ok(self.tables().tokens.get(hash).cloned())
    }

    async fn tokens_of(
        &mut self,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<Vec<TokenRecord>, Error> {
        Ok(self
            .tables()
            .tokens
            .values()
            .filter(|t| t.user_id == user && t.purpose == purpose)
            .cloned()
            .collect())
    }

    async fn put_token(&mut self, token: &TokenRecord) -> Result<(), Error> {
        self.tables_mut()?
            .tokens
            .insert(token.token_hash, token.clone());
        Ok(())
    }

    async fn delete_token(&mut self, hash: &SecretHash) -> Result<bool, Error> {
        Ok(self.tables_mut()?.tokens.remove(hash).is_some())
    }

    async fn delete_expired_tokens(&mut self, now: OffsetDateTime) -> Result<u32, Error> {
        let tokens = &mut self.tables_mut()?.tokens;
        let before = tokens.len();
        tokens.retain(|_, t| t.expires_at >= now);
        Ok(count(before - tokens.len()))
    }

    async fn delete_tokens_of(
        &mut self,
        user: UserId,
        purpose: TokenPurpose,
    ) -> Result<u32, Error> {
        let tokens = &mut self.tables_mut()?.tokens;
        let before = tokens.len();
        tokens.retain(|_, t| !(t.user_id == user && t.purpose == purpose));
        Ok(count(before - tokens.len()))
    }
}

#[async_trait]
impl SessionRows for MemoryTransaction<'_> {
    async fn session(&mut self, hash: &SecretHash) -> Result<Option<SessionRecord>, Error> {
        Ok(self.tables().sessions.get(hash).cloned())
    }

    async fn sessions_of(&mut self, user: UserId) -> Result<Vec<SessionRecord>, Error> {
        Ok(self
            .tables()
            .sessions
            .values()
            .filter(|s| s.user_id == user)
            .cloned()
            .collect())
    }

    async fn put_session(&mut self, session: &SessionRecord) -> Result<(), Error> {
        self.tables_mut()?
            .sessions
            .insert(session.token_hash, session.clone());
        Ok(())
    }

    async fn delete_session(&mut self, hash: &SecretHash) -> Result<bool, Error> {
        Ok(self.tables_mut()?.sessions.remove(hash).is_some())
    }

    async fn delete_sessions_of(
        &mut self,
        user: UserId,
        keep: Option<&SecretHash>,
    ) -> Result<u32, Error> {
        let sessions = &mut self.tables_mut()?.sessions;
        let before = sessions.len();
        sessions.retain(|hash, s| s.user_id != user || keep.is_some_and(|k| k.ct_eq(hash)));
        Ok(count(before - sessions.len()))
    }
}

#[async_trait]
impl ThrottleRows for MemoryTransaction<'_> {
    async fn throttle(&mut self, key: &ThrottleKey) -> Result<Option<ThrottleState>, Error> {
        Ok(self.tables().throttle.get(key).copied())
    }

    async fn put_throttle(
        &mut self,
        key: &ThrottleKey,
        state: &ThrottleState,
    ) -> Result<(), Error> {
        self.tables_mut()?.throttle.insert(key.clone(), *state);
        Ok(())
    }

    async fn delete_throttle(&mut self, key: &ThrottleKey) -> Result<(), Error> {
        self.tables_mut()?.throttle.remove(key);
        Ok(())
    }
}

/// Mails in due order (then id, so equal due times keep one order).
fn by_due(mails: &mut [QueuedMail]) {
    mails.sort_by(|a, b| a.due_at.cmp(&b.due_at).then(a.id.cmp(&b.id)));
}

#[async_trait]
impl MailRows for MemoryTransaction<'_> {
    async fn put_mail(&mut self, mail: &QueuedMail) -> Result<(), Error> {
        self.tables_mut()?.mails.insert(mail.id, mail.clone());
        Ok(())
    }

    async fn claim_mails(
        &mut self,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<QueuedMail>, Error> {
        let mails = &mut self.tables_mut()?.mails;
        let mut due: Vec<QueuedMail> = mails
            .values()
            .filter(|m| m.due_at <= now)
            .cloned()
            .collect();
        by_due(&mut due);
        due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        for mail in &mut due {
            mail.due_at = lease_until;
            mail.attempts = mail.attempts.saturating_add(1);
            mails.insert(mail.id, mail.clone());
        }
        Ok(due)
    }

    async fn delete_mail(&mut self, id: uuid::Uuid) -> Result<bool, Error> {
        Ok(self.tables_mut()?.mails.remove(&id).is_some())
    }

    async fn queued_mails(&mut self, limit: u32) -> Result<Vec<QueuedMail>, Error> {
        let mut all: Vec<QueuedMail> = self.tables().mails.values().cloned().collect();
        by_due(&mut all);
        all.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(all)
    }
}

//! Accounts in memory.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use async_trait::async_trait;
use time::OffsetDateTime;

use super::MemoryStore;
use crate::Error;
use crate::accounts::throttle::reserve;
use crate::accounts::{
    CodeAttempt, Email, SecretHash, SessionRecord, ThrottleRule, ThrottleState, TokenPurpose,
    TokenRecord, TwoFactorState, User,
};
use crate::ids::{UserId, WorkspaceId};
use crate::store::AccountStore;

/// The account tables, behind one lock: every method is one short critical section, which
/// makes each of them atomic as the trait asks.
#[derive(Debug, Default)]
pub(super) struct AccountTables(Mutex<Tables>);

#[derive(Debug, Default)]
struct Tables {
    users: HashMap<UserId, User>,
    by_email: HashMap<String, UserId>,
    tokens: Vec<TokenRecord>,
    sessions: HashMap<SecretHash, SessionRecord>,
    throttle: HashMap<String, ThrottleState>,
}

impl MemoryStore {
    fn accounts(&self) -> std::sync::MutexGuard<'_, Tables> {
        self.accounts
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Tables {
    fn user_mut(&mut self, id: UserId) -> Option<&mut User> {
        self.users.get_mut(&id)
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn insert_user(&self, user: User) -> Result<(), Error> {
        let mut t = self.accounts();
        let key = user.email.normalized().to_owned();
        if t.by_email.contains_key(&key) || t.users.contains_key(&user.id) {
            return Err(Error::Conflict("email taken".into()));
        }
        t.by_email.insert(key, user.id);
        t.users.insert(user.id, user);
        Ok(())
    }

    async fn find_user(&self, id: UserId) -> Result<Option<User>, Error> {
        Ok(self.accounts().users.get(&id).cloned())
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, Error> {
        let t = self.accounts();
        Ok(t.by_email
            .get(email.normalized())
            .and_then(|id| t.users.get(id))
            .cloned())
    }

    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<bool, Error> {
        let mut t = self.accounts();
        Ok(t.user_mut(id)
            .map(|u| u.password_hash = Some(password_hash.to_owned()))
            .is_some())
    }

    async fn complete_sign_up(&self, id: UserId, password_hash: &str) -> Result<bool, Error> {
        let mut t = self.accounts();
        Ok(t.user_mut(id)
            .map(|u| {
                u.password_hash = Some(password_hash.to_owned());
                u.email_verified = true;
            })
            .is_some())
    }

    async fn set_name(&self, id: UserId, name: &str) -> Result<bool, Error> {
        let mut t = self.accounts();
        Ok(t.user_mut(id).map(|u| u.name = name.to_owned()).is_some())
    }

    async fn set_email(&self, id: UserId, email: &Email) -> Result<bool, Error> {
        let mut t = self.accounts();
        let key = email.normalized().to_owned();
        if t.by_email.get(&key).is_some_and(|owner| *owner != id) {
            return Err(Error::Conflict("email taken".into()));
        }
        let Some(user) = t.users.get_mut(&id) else {
            return Ok(false);
        };
        let old = user.email.normalized().to_owned();
        user.email = email.clone();
        user.email_verified = true;
        t.by_email.remove(&old);
        t.by_email.insert(key, id);
        Ok(true)
    }

    async fn set_two_factor(
        &self,
        id: UserId,
        state: Option<TwoFactorState>,
    ) -> Result<bool, Error> {
        let mut t = self.accounts();
        Ok(t.user_mut(id).map(|u| u.two_factor = state).is_some())
    }

    async fn advance_totp_step(&self, id: UserId, step: u64) -> Result<bool, Error> {
        let mut t = self.accounts();
        let Some(state) = t.user_mut(id).and_then(|u| u.two_factor.as_mut()) else {
            return Ok(false);
        };
        if state.last_step.is_some_and(|last| step <= last) {
            return Ok(false);
        }
        state.last_step = Some(step);
        Ok(true)
    }

    async fn use_recovery_code(&self, id: UserId, index: usize) -> Result<bool, Error> {
        let mut t = self.accounts();
        let Some(slot) = t
            .user_mut(id)
            .and_then(|u| u.two_factor.as_mut())
            .and_then(|s| s.recovery_codes.get_mut(index))
        else {
            return Ok(false);
        };
        Ok(slot.take().is_some())
    }

    async fn insert_token(&self, token: TokenRecord) -> Result<(), Error> {
        self.accounts().tokens.push(token);
        Ok(())
    }

    async fn find_token(
        &self,
        hash: &SecretHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, Error> {
        let t = self.accounts();
        Ok(t.tokens
            .iter()
            .find(|r| r.token_hash.ct_eq(hash) && r.purpose == purpose && r.expires_at > now)
            .cloned())
    }

    async fn take_token(
        &self,
        hash: &SecretHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, Error> {
        let mut t = self.accounts();
        let found = t
            .tokens
            .iter()
            .position(|r| r.token_hash.ct_eq(hash) && r.purpose == purpose && r.expires_at > now);
        Ok(found.map(|i| t.tokens.remove(i)))
    }

    async fn take_token_by_code(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        code_hash: &SecretHash,
        now: OffsetDateTime,
        max_attempts: u32,
    ) -> Result<CodeAttempt, Error> {
        let mut t = self.accounts();
        let newest = t
            .tokens
            .iter()
            .enumerate()
            .filter(|(_, r)| r.user_id == user && r.purpose == purpose && r.expires_at > now)
            .filter(|(_, r)| r.code_hash.is_some())
            .max_by_key(|(_, r)| r.created_at)
            .map(|(i, _)| i);
        let Some(i) = newest else {
            return Ok(CodeAttempt::NoToken);
        };
        if t.tokens[i].code_hash.is_some_and(|h| h.ct_eq(code_hash)) {
            return Ok(CodeAttempt::Taken(t.tokens.remove(i)));
        }
        t.tokens[i].failed_attempts += 1;
        if t.tokens[i].failed_attempts >= max_attempts {
            t.tokens.remove(i);
        }
        Ok(CodeAttempt::Wrong)
    }

    async fn count_tokens_since(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        since: OffsetDateTime,
    ) -> Result<u32, Error> {
        let t = self.accounts();
        let n = t
            .tokens
            .iter()
            .filter(|r| r.user_id == user && r.purpose == purpose && r.created_at >= since)
            .count();
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn delete_tokens(&self, user: UserId, purpose: TokenPurpose) -> Result<(), Error> {
        self.accounts()
            .tokens
            .retain(|r| !(r.user_id == user && r.purpose == purpose));
        Ok(())
    }

    async fn insert_session(&self, session: SessionRecord) -> Result<(), Error> {
        let mut t = self.accounts();
        if t.sessions.contains_key(&session.token_hash) {
            return Err(Error::Conflict("session exists".into()));
        }
        t.sessions.insert(session.token_hash, session);
        Ok(())
    }

    async fn find_session(&self, hash: &SecretHash) -> Result<Option<SessionRecord>, Error> {
        Ok(self.accounts().sessions.get(hash).cloned())
    }

    async fn replace_session(&self, old: &SecretHash, new: SessionRecord) -> Result<bool, Error> {
        let mut t = self.accounts();
        if t.sessions.remove(old).is_none() {
            return Ok(false);
        }
        t.sessions.insert(new.token_hash, new);
        Ok(true)
    }

    async fn touch_session(&self, hash: &SecretHash, at: OffsetDateTime) -> Result<(), Error> {
        if let Some(s) = self.accounts().sessions.get_mut(hash) {
            s.last_seen_at = at;
        }
        Ok(())
    }

    async fn set_active_workspace(
        &self,
        hash: &SecretHash,
        workspace: Option<WorkspaceId>,
    ) -> Result<bool, Error> {
        Ok(self
            .accounts()
            .sessions
            .get_mut(hash)
            .map(|s| s.active_workspace = workspace)
            .is_some())
    }

    async fn delete_session(&self, hash: &SecretHash) -> Result<bool, Error> {
        Ok(self.accounts().sessions.remove(hash).is_some())
    }

    async fn delete_session_by_id(&self, user: UserId, id: uuid::Uuid) -> Result<bool, Error> {
        let mut t = self.accounts();
        let before = t.sessions.len();
        t.sessions.retain(|_, s| !(s.user_id == user && s.id == id));
        Ok(t.sessions.len() < before)
    }

    async fn delete_user_sessions(
        &self,
        user: UserId,
        keep: Option<&SecretHash>,
    ) -> Result<u32, Error> {
        let mut t = self.accounts();
        let before = t.sessions.len();
        t.sessions
            .retain(|hash, s| s.user_id != user || keep.is_some_and(|k| k == hash));
        Ok(u32::try_from(before - t.sessions.len()).unwrap_or(u32::MAX))
    }

    async fn list_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>, Error> {
        let t = self.accounts();
        let mut found: Vec<_> = t
            .sessions
            .values()
            .filter(|s| s.user_id == user)
            .cloned()
            .collect();
        found.sort_by_key(|s| (s.created_at, s.id));
        Ok(found)
    }

    async fn forget_workspace(&self, user: UserId, workspace: WorkspaceId) -> Result<(), Error> {
        for s in self.accounts().sessions.values_mut() {
            if s.user_id == user && s.active_workspace == Some(workspace) {
                s.active_workspace = None;
            }
        }
        Ok(())
    }

    async fn reserve_attempt(
        &self,
        key: &str,
        rule: &ThrottleRule,
        now: OffsetDateTime,
    ) -> Result<Result<(), OffsetDateTime>, Error> {
        let mut t = self.accounts();
        let state = t.throttle.entry(key.to_owned()).or_default();
        Ok(reserve(state, rule, now))
    }

    async fn clear_attempts(&self, key: &str) -> Result<(), Error> {
        self.accounts().throttle.remove(key);
        Ok(())
    }
}

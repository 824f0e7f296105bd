//! Sessions: opaque tokens stored hashed, idle and absolute timeouts, the active workspace,
//! listing, sign-out here and everywhere.

use crate::Error;
use crate::access::Actor;
use crate::accounts::AccountDefect;
use crate::accounts::email::Email;
use crate::accounts::records::{SessionRecord, User};
use crate::accounts::secrets;
use crate::accounts::service::{Accounts, NewSession, SessionInfo, SessionToken, refused};
use crate::ids::{UserId, WorkspaceId};
use crate::store::{Scope, Transaction};

/// Last-use times are written at most this often, so reads do not become writes.
const TOUCH_EVERY: time::Duration = time::Duration::seconds(60);

impl Accounts {
    /// The session a token opens, if it is live (known, not idle too long, not past its
    /// absolute end). An expired session is deleted.
    pub async fn authenticate(&self, token: &SessionToken) -> Result<SessionInfo, Error> {
        self.live_session(token)
            .await
            .map(|s| SessionInfo::from(&s))
    }

    /// The [`Actor`] a live session acts as, for the access service: the only way outside
    /// vault-core to get one, so the 2FA bit workspace policies trust is the session's own.
    pub async fn actor(&self, token: &SessionToken) -> Result<Actor, Error> {
        let session = self.live_session(token).await?;
        Ok(Actor::new(session.user_id, session.two_factor_passed))
    }

    pub(crate) async fn live_session(&self, token: &SessionToken) -> Result<SessionRecord, Error> {
        let hash = secrets::hash_token(&token.0);
        let mut session = self
            .read()
            .await?
            .session(&hash)
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidSession))?;
        let now = self.now();
        if now >= session.absolute_expires_at
            || now - session.last_seen_at >= self.config().session_idle_timeout
        {
            let mut tx = self.begin(Scope::user(session.user_id)).await?;
            tx.delete_session(&hash).await?;
            tx.commit().await?;
            self.audit(
                self.event("account.session.expired")
                    .actor(session.user_id)
                    .subject(session.id),
            )
            .await;
            return Err(refused(AccountDefect::InvalidSession));
        }
        let touch = now - session.last_seen_at >= TOUCH_EVERY;
        // A user removed from (or leaving) a workspace loses it in every session at their next
        // request, whoever removed them and wherever.
        let gone = match session.active_workspace {
            Some(workspace) => !self.is_member(session.user_id, workspace).await?,
            None => false,
        };
        if touch || gone {
            let mut tx = self.begin(Scope::user(session.user_id)).await?;
            // Written from the stored row, so a concurrent change of the session is kept.
            if let Some(mut stored) = tx.session(&hash).await? {
                if touch {
                    stored.last_seen_at = now;
                }
                if gone {
                    stored.active_workspace = None;
                    session.active_workspace = None;
                }
                tx.put_session(&stored).await?;
            }
            tx.commit().await?;
        }
        Ok(session)
    }

    async fn is_member(
        &self,
        user: crate::ids::UserId,
        workspace: WorkspaceId,
    ) -> Result<bool, Error> {
        match &self.inner.membership {
            Some(membership) => membership.is_member(user, workspace).await,
            None => Ok(false),
        }
    }

    /// The signed-in user's profile (for "who am I" and for steps that need the verified
    /// address, such as accepting an invitation).
    pub async fn profile(&self, token: &SessionToken) -> Result<Profile, Error> {
        let (_, user) = self.session_user(token).await?;
        Ok(Profile {
            user_id: user.id,
            two_factor_enabled: user.two_factor.as_ref().is_some_and(|t| t.enabled),
            name: user.name,
            email: user.email,
            email_verified: user.email_verified,
        })
    }

    pub(crate) async fn session_user(
        &self,
        token: &SessionToken,
    ) -> Result<(SessionRecord, User), Error> {
        let session = self.live_session(token).await?;
        let user = self
            .read()
            .await?
            .user(session.user_id)
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidSession))?;
        Ok((session, user))
    }

    /// In `tx`: a new token for the same session (after a privilege change), the old one dead.
    pub(crate) async fn renew_session(
        &self,
        tx: &mut (dyn Transaction + '_),
        old: &SessionRecord,
        two_factor_passed: bool,
    ) -> Result<NewSession, Error> {
        let (token, record) = self.fresh_session(old.user_id, two_factor_passed, Some(old))?;
        if !tx.delete_session(&old.token_hash).await? {
            return Err(refused(AccountDefect::InvalidSession));
        }
        tx.put_session(&record).await?;
        Ok(NewSession {
            token: SessionToken(token),
            session: SessionInfo::from(&record),
        })
    }

    /// Ends this session.
    pub async fn sign_out(&self, token: &SessionToken) -> Result<(), Error> {
        let hash = secrets::hash_token(&token.0);
        let Some(session) = self.read().await?.session(&hash).await? else {
            return Ok(());
        };
        let mut tx = self.begin(Scope::user(session.user_id)).await?;
        tx.delete_session(&hash).await?;
        tx.commit().await?;
        self.audit(
            self.event("account.session.ended")
                .actor(session.user_id)
                .subject(session.id),
        )
        .await;
        Ok(())
    }

    /// Ends every session of the user, this one included; returns how many ended.
    pub async fn sign_out_everywhere(&self, token: &SessionToken) -> Result<u32, Error> {
        let session = self.live_session(token).await?;
        let mut tx = self.begin(Scope::user(session.user_id)).await?;
        let ended = tx.delete_sessions_of(session.user_id, None).await?;
        tx.commit().await?;
        self.audit(
            self.event("account.sessions.ended_all")
                .actor(session.user_id)
                .detail("count", ended),
        )
        .await;
        Ok(ended)
    }

    /// Ends one of the user's sessions by its public id.
    pub async fn end_session(&self, token: &SessionToken, id: uuid::Uuid) -> Result<bool, Error> {
        let session = self.live_session(token).await?;
        let mut tx = self.begin(Scope::user(session.user_id)).await?;
        let mut ended = false;
        for other in tx.sessions_of(session.user_id).await? {
            if other.id == id {
                ended |= tx.delete_session(&other.token_hash).await?;
            }
        }
        tx.commit().await?;
        if ended {
            self.audit(
                self.event("account.session.ended")
                    .actor(session.user_id)
                    .subject(id),
            )
            .await;
        }
        Ok(ended)
    }

    /// The user's sessions, oldest first.
    pub async fn list_sessions(&self, token: &SessionToken) -> Result<Vec<SessionInfo>, Error> {
        let session = self.live_session(token).await?;
        let mut all = self.read().await?.sessions_of(session.user_id).await?;
        all.sort_by_key(|s| (s.created_at, s.id));
        Ok(all.iter().map(SessionInfo::from).collect())
    }

    /// Makes `workspace` the session's active one, if the user belongs to it (asked of the
    /// configured [`crate::accounts::WorkspaceMembership`]; without one, every switch is
    /// refused).
    pub async fn switch_workspace(
        &self,
        token: &SessionToken,
        workspace: WorkspaceId,
    ) -> Result<SessionInfo, Error> {
        let session = self.live_session(token).await?;
        if !self.is_member(session.user_id, workspace).await? {
            return Err(refused(AccountDefect::NotAMember));
        }
        let mut tx = self.begin(Scope::user(session.user_id)).await?;
        let mut stored = tx
            .session(&session.token_hash)
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidSession))?;
        stored.active_workspace = Some(workspace);
        tx.put_session(&stored).await?;
        tx.commit().await?;
        let mut info = SessionInfo::from(&session);
        info.active_workspace = Some(workspace);
        Ok(info)
    }

    /// Clears `workspace` from the user's sessions at once (sessions also drop a workspace the
    /// user no longer belongs to by themselves, at their next request).
    pub async fn forget_workspace(
        &self,
        user: crate::ids::UserId,
        workspace: WorkspaceId,
    ) -> Result<(), Error> {
        let mut tx = self.begin(Scope::user(user)).await?;
        for mut session in tx.sessions_of(user).await? {
            if session.active_workspace == Some(workspace) {
                session.active_workspace = None;
                tx.put_session(&session).await?;
            }
        }
        tx.commit().await
    }
}

/// A user's profile, as the signed-in user sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Profile {
    /// The account's id.
    pub user_id: UserId,
    /// The display name.
    pub name: String,
    /// The sign-in address.
    pub email: Email,
    /// Whether the address was proven.
    pub email_verified: bool,
    /// Whether TOTP two-factor authentication is on.
    pub two_factor_enabled: bool,
}

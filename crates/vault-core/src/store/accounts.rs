//! Persistence of accounts: users, single-use tokens, sessions, throttling and two-factor
//! state. Every method that decides a race (single use, uniqueness, replay) is one atomic step,
//! so a SQL store makes it one statement or transaction.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Error;
use crate::accounts::{
    CodeAttempt, Email, SecretHash, SessionRecord, ThrottleRule, TokenPurpose, TokenRecord,
    TwoFactorState, User,
};
use crate::ids::{UserId, WorkspaceId};

/// Persistence of accounts: implemented by the memory store and `vault-sqlx`.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    // --- users ---

    /// Stores a new user. [`Error::Conflict`] if the normalized email is taken (two sign-ups
    /// with one address make one account).
    async fn insert_user(&self, user: User) -> Result<(), Error>;

    /// The user with this id.
    async fn find_user(&self, id: UserId) -> Result<Option<User>, Error>;

    /// The user with this normalized email.
    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, Error>;

    /// Sets the password hash (PHC string). `false` if the user is unknown.
    async fn set_password(&self, id: UserId, password_hash: &str) -> Result<bool, Error>;

    /// Marks the address verified and sets the password in one step.
    async fn complete_sign_up(&self, id: UserId, password_hash: &str) -> Result<bool, Error>;

    /// Sets the display name.
    async fn set_name(&self, id: UserId, name: &str) -> Result<bool, Error>;

    /// Moves the account to a verified new address. [`Error::Conflict`] if it is taken.
    async fn set_email(&self, id: UserId, email: &Email) -> Result<bool, Error>;

    /// Replaces (or clears) the two-factor state.
    async fn set_two_factor(
        &self,
        id: UserId,
        state: Option<TwoFactorState>,
    ) -> Result<bool, Error>;

    /// Records `step` as the last accepted TOTP step if it is newer than the stored one;
    /// `false` if it is not (a replay, also between parallel requests).
    async fn advance_totp_step(&self, id: UserId, step: u64) -> Result<bool, Error>;

    /// Marks recovery code `index` used if it is unused; `false` if it was already used.
    async fn use_recovery_code(&self, id: UserId, index: usize) -> Result<bool, Error>;

    // --- single-use tokens ---

    /// Stores a token.
    async fn insert_token(&self, token: TokenRecord) -> Result<(), Error>;

    /// The live (unexpired) token with this hash and purpose, without consuming it.
    async fn find_token(
        &self,
        hash: &SecretHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, Error>;

    /// Consumes the live token with this hash and purpose: of two concurrent calls, exactly
    /// one gets it.
    async fn take_token(
        &self,
        hash: &SecretHash,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<TokenRecord>, Error>;

    /// Checks a typed code against the user's newest live token of `purpose`: on a match the
    /// token is consumed; on a miss its failure count grows, and at `max_attempts` it is
    /// deleted.
    async fn take_token_by_code(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        code_hash: &SecretHash,
        now: OffsetDateTime,
        max_attempts: u32,
    ) -> Result<CodeAttempt, Error>;

    /// How many tokens of `purpose` the user received since `since` (mail rate limits).
    async fn count_tokens_since(
        &self,
        user: UserId,
        purpose: TokenPurpose,
        since: OffsetDateTime,
    ) -> Result<u32, Error>;

    /// Deletes every token of `purpose` of the user.
    async fn delete_tokens(&self, user: UserId, purpose: TokenPurpose) -> Result<(), Error>;

    // --- sessions ---

    /// Stores a session.
    async fn insert_session(&self, session: SessionRecord) -> Result<(), Error>;

    /// The session with this token hash.
    async fn find_session(&self, hash: &SecretHash) -> Result<Option<SessionRecord>, Error>;

    /// Replaces the session stored under `old` by `new` (a new token on a privilege change);
    /// `false` if `old` is gone.
    async fn replace_session(&self, old: &SecretHash, new: SessionRecord) -> Result<bool, Error>;

    /// Updates the last use.
    async fn touch_session(&self, hash: &SecretHash, at: OffsetDateTime) -> Result<(), Error>;

    /// Sets the active workspace.
    async fn set_active_workspace(
        &self,
        hash: &SecretHash,
        workspace: Option<WorkspaceId>,
    ) -> Result<bool, Error>;

    /// Deletes one session by token hash.
    async fn delete_session(&self, hash: &SecretHash) -> Result<bool, Error>;

    /// Deletes one session of the user by its public id.
    async fn delete_session_by_id(&self, user: UserId, id: uuid::Uuid) -> Result<bool, Error>;

    /// Deletes every session of the user but `keep`; returns how many ended.
    async fn delete_user_sessions(
        &self,
        user: UserId,
        keep: Option<&SecretHash>,
    ) -> Result<u32, Error>;

    /// Every session of the user, oldest first.
    async fn list_sessions(&self, user: UserId) -> Result<Vec<SessionRecord>, Error>;

    /// Clears `workspace` as the active one in every session of the user (after the user left
    /// or was removed from it).
    async fn forget_workspace(&self, user: UserId, workspace: WorkspaceId) -> Result<(), Error>;

    // --- throttling ---

    /// Reserves one attempt under `key` by `rule` (see [`crate::accounts::throttle::reserve`]),
    /// atomically. `Err(until)` inside the `Ok` while locked.
    async fn reserve_attempt(
        &self,
        key: &str,
        rule: &ThrottleRule,
        now: OffsetDateTime,
    ) -> Result<Result<(), OffsetDateTime>, Error>;

    /// Clears the attempts of `key` (after a success).
    async fn clear_attempts(&self, key: &str) -> Result<(), Error>;
}

//! What the account store keeps: users, single-use tokens, sessions and two-factor state.
//! Secrets appear only as hashes or sealed bytes.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use crate::accounts::email::Email;
use crate::accounts::secrets::SecretHash;
use crate::ids::{UserId, WorkspaceId};

/// A person's account.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The account id.
    pub id: UserId,
    /// The display name.
    pub name: String,
    /// The sign-in address.
    pub email: Email,
    /// Whether the address was proven by a verification step.
    pub email_verified: bool,
    /// The password hash as a PHC string (`$argon2id$…`); `None` until sign-up is completed.
    pub password_hash: Option<String>,
    /// Two-factor state, once enrolment began.
    pub two_factor: Option<TwoFactorState>,
    /// When the account was created.
    pub created_at: OffsetDateTime,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("has_password", &self.password_hash.is_some())
            .field(
                "two_factor_enabled",
                &self.two_factor.as_ref().is_some_and(|t| t.enabled),
            )
            .finish()
    }
}

/// A user's TOTP state: the sealed secret, whether enrolment was confirmed, the last time step
/// accepted (replay guard) and the recovery codes (hashes; `None` once used).
#[derive(Clone, PartialEq, Eq)]
pub struct TwoFactorState {
    /// The secret, sealed under the server's TOTP key.
    pub sealed_secret: Vec<u8>,
    /// Whether a first valid code confirmed the enrolment.
    pub enabled: bool,
    /// The last accepted time step.
    pub last_step: Option<u64>,
    /// Recovery code hashes; a used one is `None`.
    pub recovery_codes: Vec<Option<Vec<u8>>>,
}

impl fmt::Debug for TwoFactorState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwoFactorState")
            .field("enabled", &self.enabled)
            .field("last_step", &self.last_step)
            .field(
                "recovery_codes_left",
                &self.recovery_codes.iter().flatten().count(),
            )
            .finish_non_exhaustive()
    }
}

/// What a single-use token is for.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    /// Completing sign-up: proves the address, then sets the password.
    VerifyEmail,
    /// "Forgot password?".
    ResetPassword,
    /// Moving the account to a new address.
    ChangeEmail,
    /// The second step of a sign-in with 2FA.
    TwoFactorChallenge,
    /// A sign-in code mailed because the account's pool of password checks is spent.
    SignInCode,
    /// The notice that someone tried to sign up with a verified address: it carries no link,
    /// its token is never sent and only counts the notice against the mail limit.
    SignUpNotice,
}

impl TokenPurpose {
    /// Every purpose, so a store can map its stored names back without a list of its own.
    pub const ALL: [Self; 6] = [
        Self::VerifyEmail,
        Self::ResetPassword,
        Self::ChangeEmail,
        Self::TwoFactorChallenge,
        Self::SignInCode,
        Self::SignUpNotice,
    ];

    /// A stable name for stores.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::ChangeEmail => "change_email",
            Self::TwoFactorChallenge => "two_factor_challenge",
            Self::SignInCode => "sign_in_code",
            Self::SignUpNotice => "sign_up_notice",
        }
    }
}

/// A stored single-use token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    /// SHA-256 of the token.
    pub token_hash: SecretHash,
    /// SHA-256 of the typed code offered beside the link, if any.
    pub code_hash: Option<SecretHash>,
    /// What it is for.
    pub purpose: TokenPurpose,
    /// Whose it is.
    pub user_id: UserId,
    /// The address it was sent to (for an email change: the new address).
    pub email: Email,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it stops working.
    pub expires_at: OffsetDateTime,
    /// Wrong codes typed against it so far.
    pub failed_attempts: u32,
}

/// The outcome of typing a code against a user's newest live token of a purpose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeAttempt {
    /// The code matched: the token is consumed and returned.
    Taken(TokenRecord),
    /// Wrong code; the token stays while attempts remain.
    Wrong,
    /// No live token (none, expired, or used up by wrong codes).
    NoToken,
}

/// A stored session: the hash of its opaque token and what it grants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session token.
    pub token_hash: SecretHash,
    /// A public id, to list and end one session.
    pub id: uuid::Uuid,
    /// Whose session it is.
    pub user_id: UserId,
    /// When it began.
    pub created_at: OffsetDateTime,
    /// When it was last used.
    pub last_seen_at: OffsetDateTime,
    /// When it ends, however active.
    pub absolute_expires_at: OffsetDateTime,
    /// The workspace the user works in.
    pub active_workspace: Option<WorkspaceId>,
    /// Whether a second factor was passed in this session.
    pub two_factor_passed: bool,
}

/// Throttling state of one key (an account, an address, or both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ThrottleState {
    /// Attempts counted in the current window (reserved before checking, cleared on success).
    pub attempts: u32,
    /// When the current window began.
    pub window_start: Option<OffsetDateTime>,
    /// Locked until then.
    pub locked_until: Option<OffsetDateTime>,
    /// How many locks so far (each doubles the next).
    pub locks: u32,
}

/// A mail in the persisted queue. Everything about it but its id and timing is sealed (the
/// recipient, the text, the link token and the code), under the server's sealing key with
/// the id as associated data; a decoy, written where no mail is sent so that both paths of a
/// flow do the same work, is sealed alike and only the worker, opening it, knows.
#[derive(Clone, PartialEq, Eq)]
pub struct QueuedMail {
    /// The mail's id: also its `Message-ID`, the same on every attempt.
    pub id: uuid::Uuid,
    /// The sealed message.
    pub sealed: Vec<u8>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When a worker may claim it next (a claim leases it until then).
    pub due_at: OffsetDateTime,
    /// Claims so far.
    pub attempts: u32,
}

impl fmt::Debug for QueuedMail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueuedMail")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("due_at", &self.due_at)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

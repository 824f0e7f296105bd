//! Accounts: sign-up with email verification, passwords, sign-in with brute-force protection
//! and optional TOTP, "Forgot password?", sessions and the profile. Library services over the
//! [`crate::store::Store`] and its transactions; mail goes through a [`Mailer`].

mod email;
mod mailer;
mod passwords;
mod profile;
mod records;
mod secrets;
mod service;
mod sessions;
mod signin;
mod signup;
#[cfg(feature = "smtp")]
mod smtp;
pub mod throttle;
mod two_factor;

pub use email::Email;
pub use mailer::{Links, Mailer, Message, Outbox};
pub use records::{
    CodeAttempt, SessionRecord, ThrottleState, TokenPurpose, TokenRecord, TwoFactorState, User,
};
pub use secrets::{CODE_DIGITS, SecretHash};
pub use service::{
    Accounts, AccountsBuilder, AccountsConfig, Client, NewSession, Proof, SessionInfo,
    SessionToken, WorkspaceMembership,
};
pub use signin::{Challenge, SignIn};
#[cfg(feature = "smtp")]
pub use smtp::SmtpMailer;
pub use throttle::{AddressBlock, ThrottleKey, ThrottlePolicy, ThrottleRule};
pub use two_factor::TwoFactorEnabled;

/// Why an account operation was refused. Sign-in failures are deliberately vague: an unknown
/// address and a wrong password are the same `InvalidCredentials`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountDefect {
    /// The email address is not valid.
    #[error("the email address is not valid")]
    InvalidEmail,
    /// The name is empty, too long or holds control characters.
    #[error("the name must be 1 to 100 characters without control characters")]
    InvalidName,
    /// Unknown address, wrong password, or an account that cannot sign in yet.
    #[error("the email address or password is not correct")]
    InvalidCredentials,
    /// Too many attempts: try again after the given number of seconds.
    #[error("too many attempts: try again in {retry_after_secs} s")]
    Throttled {
        /// Seconds until the next attempt is accepted.
        retry_after_secs: u32,
    },
    /// The link or code is unknown, expired or already used.
    #[error("the link or code is not valid (expired or already used)")]
    InvalidToken,
    /// The session is unknown, ended or expired.
    #[error("the session is not valid: sign in again")]
    InvalidSession,
    /// The current password given for a change is wrong.
    #[error("the current password is not correct")]
    WrongCurrentPassword,
    /// The address is used by another account.
    #[error("the email address is not available")]
    EmailUnavailable,
    /// The two-factor code is wrong, replayed or expired.
    #[error("the two-factor code is not correct")]
    InvalidSecondFactor,
    /// Two-factor authentication is not set up (or already is).
    #[error("two-factor authentication is not in the needed state for this step")]
    TwoFactorState,
    /// A mail could not be handed to the mail server.
    #[error("the mail could not be sent")]
    MailNotSent,
    /// The workspace cannot be switched to (not a member).
    #[error("the workspace is not one of the user's workspaces")]
    NotAMember,
}

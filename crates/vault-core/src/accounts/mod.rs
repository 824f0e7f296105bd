//! Accounts: sign-up with email verification, passwords, sign-in with brute-force protection
//! and optional TOTP, "Forgot password?", sessions and the profile. Library services over the
//! [`crate::store::Store`] and its transactions. Mail is queued in the transaction of its
//! flow and sent by a worker through a [`Mailer`] ([`Accounts::spawn_mail_worker`]), so no
//! answer waits for SMTP or tells by its time whether an account exists.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use std::sync::Arc;
//! use secrecy::SecretString;
//! use vault_core::MemoryStore;
//! use vault_core::accounts::{Accounts, Client, MailKind, Outbox, Proof, SignIn};
//! use vault_core::password::{HashParams, Passwords};
//! use vault_core::totp::{SealingKey, Totp};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), vault_core::Error> {
//! let outbox = Outbox::new(); // an SmtpMailer (feature `smtp`) in production
//! let passwords = Passwords::builder().params(HashParams::INSECURE_FAST).build()?;
//! let totp = Totp::new("Vault", SealingKey::generate()?)?; // seals TOTP secrets and queued mail
//! let accounts = Accounts::builder(Arc::new(MemoryStore::new()), passwords, totp, Arc::new(outbox.clone()))
//!     .build();
//! // In a server: `let _worker = accounts.spawn_mail_worker();` sends mail in the background.
//!
//! // Sign up: the answer is the same whether the address is new or not.
//! accounts.sign_up("Ada Lovelace", "ada@example.com").await?;
//! accounts.deliver_mail().await?; // what the worker does
//! let mail = outbox.last_of(MailKind::VerifyEmail, "ada@example.com").expect("mailed");
//! let token = mail.token.expect("a link");
//!
//! // The confirm page posts the link's token back with the chosen password.
//! let password = "violet-otter-planet-92-saxophone";
//! accounts.complete_sign_up(&Proof::Link(token), SecretString::from(password)).await?;
//!
//! // Sign in from the client's address (throttling counts per address and per account).
//! let client = Client::at(Ipv4Addr::new(192, 0, 2, 1).into());
//! let SignIn::Session(session) = accounts
//!     .sign_in("ada@example.com", SecretString::from(password), client)
//!     .await?
//! else {
//!     unreachable!("no second factor was enrolled");
//! };
//! let me = accounts.authenticate(&session.token).await?; // on every later request
//! assert_eq!(me.user_id, session.session.user_id);
//! # Ok(())
//! # }
//! ```

mod email;
mod import;
mod mail_queue;
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
pub use import::ImportedUser;
pub use mail_queue::{MailDelivery, MailWorker};
pub use mailer::{Links, MailKind, Mailer, Message, Outbox};
pub use records::{
    CodeAttempt, QueuedMail, SessionRecord, ThrottleState, TokenPurpose, TokenRecord,
    TwoFactorState, User,
};
pub use secrets::{CODE_DIGITS, SecretHash};
pub use service::{
    Accounts, AccountsBuilder, AccountsConfig, Client, NewSession, Proof, SessionInfo,
    SessionToken, WorkspaceMembership,
};
pub use sessions::Profile;
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

//! Passwords: Argon2id hashing on the blocking pool with a bound on concurrent hashes, the
//! NIST SP 800-63B rev 4 policy for new passwords, and an optional breached-password check by
//! k-anonymity range query.
//!
//! ```
//! use secrecy::SecretString;
//! use vault_core::password::{Passwords, PolicyContext};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), vault_core::Error> {
//! let passwords = Passwords::builder().build()?;
//! let chosen = SecretString::from("a bicycle leaning on the old barn");
//! let context = PolicyContext::new(Some("ada@example.com"), Some("Ada Lovelace"), false);
//!
//! passwords.check_new(&chosen, &context).await?;
//! let stored = passwords.hash(chosen).await?;
//!
//! let verified = passwords
//!     .verify(SecretString::from("a bicycle leaning on the old barn"), Some(&stored))
//!     .await?;
//! assert!(verified.matched && !verified.needs_rehash);
//! # Ok(()) }
//! ```

mod blocklist;
mod breach;
#[cfg(feature = "breach-http")]
mod breach_http;
mod hash;
mod memory;
mod normalize;
mod params;
mod passwords;
mod patterns;
mod policy;

pub use breach::{
    BreachCheck, BreachCheckFailed, OnBreachCheckFailure, PasswordDigest, times_seen_in_range,
};
#[cfg(feature = "breach-http")]
pub use breach_http::HibpRange;
pub use hash::{PasswordHash, Verified};
pub use params::HashParams;
pub use passwords::{HashingStats, Passwords, PasswordsBuilder};
pub use policy::{PasswordPolicy, PolicyContext};

/// Why a password or a password operation was refused.
///
/// The policy variants are safe to show to the person choosing a password; none carries the
/// password or any part of it.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordDefect {
    /// Fewer code points (after NFKC normalisation) than the policy's minimum.
    #[error("the password is too short: use at least {min} characters")]
    TooShort {
        /// The minimum that applied (it depends on whether a second factor is on).
        min: usize,
    },
    /// More code points (after NFKC normalisation) than the policy's maximum.
    #[error("the password is too long: use at most {max} characters")]
    TooLong {
        /// The maximum.
        max: usize,
    },
    /// One of the commonly used passwords of the bundled list, or one of them with a
    /// predictable suffix.
    #[error("the password is one of the most commonly used passwords")]
    Common,
    /// Known from public data breaches (the breached-password check found it).
    #[error("the password has appeared in a data breach")]
    Breached,
    /// Made of one character or one short unit repeated (`aaaaaaaa`, `abcabcabc`).
    #[error("the password is repetitive")]
    Repetitive,
    /// Made of runs of consecutive characters or keys (`abcdefgh`, `12345678`, `qwertyuiop`).
    #[error("the password is made of sequential characters")]
    Sequential,
    /// Contains the account's email address or local part, or one of their words (or the
    /// domain's name) as a word.
    #[error("the password contains the email address, or its user name or domain as a word")]
    ContainsEmail,
    /// Contains the account holder's name, or one of its words as a word.
    #[error("the password contains the account's name, or a word of it")]
    ContainsName,
    /// The breached-password check could not be asked and the configuration fails closed.
    #[error("the breached-password check is unavailable: try again later")]
    BreachCheckUnavailable,
    /// A stored hash is not a PHC string of Argon2 (argon2id, argon2i or argon2d).
    #[error("the stored password hash is malformed")]
    MalformedHash,
    /// A stored hash asks for more memory or time than this library agrees to spend.
    #[error("the stored password hash uses parameters beyond the verification limits")]
    UnsupportedHash,
    /// Policy limits that contradict each other or NIST SP 800-63B (a minimum of 0, a maximum
    /// below 64 or below a minimum).
    #[error("invalid password policy limits")]
    InvalidPolicy,
    /// Argon2 parameters that Argon2 refuses (memory below 8 blocks per lane, zero time...).
    #[error("invalid Argon2 parameters")]
    InvalidParameters,
    /// The hash computation failed or its blocking task was lost (a bug, not user input).
    #[error("password hashing failed")]
    HashingFailed,
}

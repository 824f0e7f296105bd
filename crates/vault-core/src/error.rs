//! The one error type of `vault-core`: everything that can go wrong in configuration,
//! input validation and store access. The verdict of a key check is [`crate::AuthError`].

use crate::access::AccessDefect;
use crate::accounts::AccountDefect;
use crate::callbacks::CallbackDefect;
use crate::ids::KeyId;
use crate::keys::TokenDefect;
use crate::password::PasswordDefect;
use crate::totp::TotpDefect;

/// Boxed source of a store failure, so store implementations can keep their own errors.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of a `vault-core` operation.
///
/// Messages never contain a secret: not a key, a pepper, a password or a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No server pepper was configured.
    #[error("the server pepper is missing: set it to at least {min} random bytes (base64)")]
    MissingPepper {
        /// The minimum length in bytes.
        min: usize,
    },
    /// The server pepper is shorter than the minimum.
    #[error("the server pepper is too short: {got} bytes, at least {min} are needed")]
    PepperTooShort {
        /// The minimum length in bytes.
        min: usize,
        /// The length that was given.
        got: usize,
    },
    /// The server pepper is not valid base64.
    #[error("the server pepper is not valid base64")]
    PepperEncoding,
    /// The vendor prefix of keys is not 2 to 12 lowercase ASCII letters and digits.
    #[error(
        "invalid key prefix {0:?}: use 2 to 12 lowercase ASCII letters or digits, starting with a letter"
    )]
    InvalidKeyPrefix(String),
    /// A string is not an API key of this library.
    #[error("malformed API key: {0}")]
    MalformedToken(TokenDefect),
    /// A key id is not 12 base62 characters.
    #[error("invalid key id: expected {len} base62 characters", len = KeyId::LEN)]
    InvalidKeyId,
    /// A workspace or user id is not a UUID.
    #[error("invalid {kind} id {value:?}")]
    InvalidId {
        /// Which kind of id.
        kind: &'static str,
        /// The rejected input.
        value: String,
    },
    /// A product id is not a slug.
    #[error(
        "invalid product id {0:?}: use 1 to 32 characters a-z, 0-9 and '-', starting with a letter"
    )]
    InvalidProductId(String),
    /// A permission is not `resource:action`, `resource:*` or `*`.
    #[error(
        "invalid permission {0:?}: use `resource:action`, `resource:*` or `*` (a-z, 0-9, '_', '-')"
    )]
    InvalidPermission(String),
    /// An environment name is not `development`, `staging` or `production`.
    #[error("unknown environment {0:?}: use development, staging or production")]
    UnknownEnvironment(String),
    /// A key name is empty, too long or holds control characters.
    #[error("invalid key name: {0}")]
    InvalidKeyName(&'static str),
    /// A rotation overlap below zero.
    #[error("the rotation overlap must not be negative")]
    NegativeOverlap,
    /// An expiry that is not in the future.
    #[error("the expiry must be in the future")]
    ExpiryNotInFuture,
    /// No key with this id exists.
    #[error("API key {0} was not found")]
    KeyNotFound(KeyId),
    /// The key is revoked, so it cannot be rotated.
    #[error("API key {0} is revoked")]
    KeyRevoked(KeyId),
    /// The key has expired, so it cannot be rotated.
    #[error("API key {0} has expired")]
    KeyExpired(KeyId),
    /// A record with the same identity already exists.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Randomness,
    /// A password was refused (policy, breach, hashing).
    #[error("password refused: {0}")]
    Password(PasswordDefect),
    /// A two-factor step was refused.
    #[error("two-factor authentication refused: {0}")]
    Totp(TotpDefect),
    /// An account operation was refused.
    #[error("account operation refused: {0}")]
    Account(AccountDefect),
    /// An access operation was refused (not allowed, not a member, last owner...).
    #[error("access refused: {0}")]
    Access(AccessDefect),
    /// The store could not be reached (network, pool exhausted, timeout): retry later.
    #[error("the store is unavailable")]
    StoreUnavailable(#[source] BoxError),
    /// The store answered with an unexpected failure.
    #[error("the store failed")]
    Store(#[source] BoxError),
    /// A request to the Vault's own API was refused before any service ran.
    #[error("request refused: {0}")]
    Request(crate::request::RequestDefect),
    /// A signed callback could not be signed, verified or sent (see [`CallbackDefect`]).
    #[error("callback: {0}")]
    Callback(#[from] CallbackDefect),
}

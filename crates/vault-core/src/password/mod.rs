//! Passwords: Argon2id hashing off the async runtime with a bound on concurrent hashes, the
//! NIST SP 800-63B policy, and an optional breached-password check. (Issue 4; in progress.)

/// Why a password or a password operation was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordDefect {}

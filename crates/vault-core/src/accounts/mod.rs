//! Accounts: sign-up, email verification, sign-in, recovery, sessions. (Issue 4; in progress.)

/// Why an account operation was refused.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountDefect {}

//! [`RequestDefect`]: why the Vault's own HTTP API refuses a request before any service runs
//! (no session, a failed CSRF check, a stale sign-in, a body it cannot read). Its rows of the
//! one [`crate::Problem`] table are in `problem/refusals.rs`, beside every other refusal.

/// Why a request to the Vault's API was refused before reaching a service.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestDefect {
    /// No session cookie, or one of an ended or expired session (or a product's read-only
    /// cookie, which the Vault's API never accepts).
    #[error("sign in first")]
    NotSignedIn,
    /// The origin check or the CSRF token failed on an unsafe request.
    #[error("the request failed the CSRF check")]
    CsrfFailed,
    /// A sensitive change needs a recent sign-in: re-authenticate first.
    #[error("this change needs a recent sign-in")]
    ReauthenticationRequired,
    /// The body is not `application/json`.
    #[error("the body must be application/json")]
    UnsupportedMediaType,
    /// The body is larger than the limit.
    #[error("the body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not the JSON the route takes; `pointer` names the field when there is one
    /// (RFC 6901, e.g. `/email`).
    #[error("the body is not valid for this route")]
    MalformedBody {
        /// Where in the body, when known.
        pointer: Option<String>,
        /// What is wrong, in words that never echo the input.
        reason: &'static str,
    },
    /// No such route, or no such thing at it.
    #[error("not found")]
    NotFound,
}

//! Everything that can go wrong with a signed callback, one named variant per failure. The
//! verifier returns a [`CallbackDefect`] directly (receivers answer it from the rejection
//! table: 401 for most, 409 while a delivery is in progress); the signer and the sender wrap
//! it in [`crate::Error::Callback`]. No variant carries a secret, a signature or a body.

use std::fmt;

/// One of the three Standard Webhooks headers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum CallbackHeader {
    /// `webhook-id`: the message id, the same on every retry of one message.
    Id,
    /// `webhook-timestamp`: seconds since the Unix epoch when the attempt was signed.
    Timestamp,
    /// `webhook-signature`: one or more space-separated `v1,<base64>` signatures.
    Signature,
}

impl CallbackHeader {
    /// The header name, lowercase.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Id => super::HEADER_ID,
            Self::Timestamp => super::HEADER_TIMESTAMP,
            Self::Signature => super::HEADER_SIGNATURE,
        }
    }
}

impl fmt::Display for CallbackHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a callback was not signed, not accepted or not sent.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackDefect {
    /// A required header is absent (or not visible ASCII).
    #[error("the {0} header is missing")]
    MissingHeader(CallbackHeader),
    /// The message id is empty, longer than 256 bytes or not visible ASCII (or, when
    /// signing, holds a `.`).
    #[error("the webhook-id is malformed")]
    MalformedId,
    /// The timestamp is not a whole number of seconds since the Unix epoch.
    #[error("the webhook-timestamp is not a number of seconds")]
    BadTimestamp,
    /// The timestamp is older than the tolerance: a stale or replayed message.
    #[error("the webhook-timestamp is too old")]
    TooOld,
    /// The timestamp is further in the future than the tolerance.
    #[error("the webhook-timestamp is too far in the future")]
    TooNew,
    /// The signature header holds no well-formed `v1,<base64 of 32 bytes>` entry.
    #[error("the webhook-signature is malformed")]
    MalformedSignature,
    /// No signature in the header matches any accepted secret.
    #[error("no signature matches")]
    NoMatchingSignature,
    /// The body is larger than the verifier accepts.
    #[error("the body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Another delivery of this id is being handled right now: retry after
    /// `retry_after_secs`, by when it has succeeded (the retry is then acknowledged as a
    /// duplicate), failed (the retry runs the handler) or lost its lease.
    #[error("a delivery of this webhook-id is being handled; retry in {retry_after_secs} s")]
    InProgress {
        /// Seconds until the running delivery's claim on the id ends at the latest.
        retry_after_secs: u32,
    },
    /// The body (or the id) holds an API key of this library: callbacks must never carry one.
    #[error("the callback contains an API key; refusing to sign it")]
    BodyContainsApiKey,
    /// A secret is not `whsec_` followed by base64.
    #[error("the callback secret is not `whsec_` followed by base64")]
    MalformedSecret,
    /// A secret decodes to fewer than 24 or more than 64 bytes.
    #[error("the callback secret must be 24 to 64 bytes")]
    SecretLength,
    /// The callback URL is not an absolute `http` or `https` URL.
    #[error("the callback URL is not an absolute http(s) URL")]
    InvalidUrl,
    /// The HTTP client could not be built (TLS setup).
    #[error("the HTTP client could not be built")]
    HttpClient,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_failure_and_nothing_secret() {
        assert_eq!(
            CallbackDefect::MissingHeader(CallbackHeader::Signature).to_string(),
            "the webhook-signature header is missing"
        );
        assert_eq!(
            CallbackDefect::BodyTooLarge { limit: 10 }.to_string(),
            "the body is larger than 10 bytes"
        );
        let wrapped = crate::Error::from(CallbackDefect::TooOld);
        assert_eq!(
            wrapped.to_string(),
            "callback: the webhook-timestamp is too old"
        );
    }
}

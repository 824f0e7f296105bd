//! Signed outbound callbacks, Standard Webhooks v1: secrets, the signer (with a guard against
//! leaking API keys), the verifier with its replay memory, and (feature `delivery`) the
//! sender that POSTs with retries. Receivers in any language verify them with the public
//! Standard Webhooks libraries.
//!
//! A receiver here handles each message once: the verifier's [`Delivery`] is fresh (a
//! [`Claim`] on the id; the handler runs, and the id counts as received only if it succeeded)
//! or a duplicate of one processed (acknowledged 2xx, the handler not run again); a
//! redelivery while the first is handled is refused 409 with `Retry-After`
//! ([`CallbackDefect::InProgress`]). The adapters' layer and middleware settle the claim from
//! the handler's status: 2xx processed, anything else (or a panic, a dropped request)
//! released, so the sender's retry runs the handler again.
//!
//! The signature is `v1,` + base64 of HMAC-SHA256(secret, `{webhook-id}.{webhook-timestamp}.{body}`);
//! a header may hold several, space-separated, while a secret is being rotated.

mod defect;
#[cfg(feature = "delivery")]
mod delivery;
mod rejection;
mod replay;
mod secret;
mod signer;
mod verifier;

pub use defect::{CallbackDefect, CallbackHeader};
#[cfg(feature = "delivery")]
pub use delivery::{
    Attempt, AttemptFailure, CallbackSender, DeliveryOutcome, DeliveryReport, RetryPolicy,
};
pub use rejection::{CALLBACK_CHALLENGE, CallbackRejection, DuplicateAcknowledgement};
pub use replay::{Claim, Delivery, ReplayGuard};
pub use secret::CallbackSecret;
pub use signer::{CallbackSigner, SignedHeaders};
pub use verifier::{CallbackHeaders, CallbackVerifier, VerifiedCallback};

/// The message id header: the same on every retry of one message.
pub const HEADER_ID: &str = "webhook-id";
/// The timestamp header: unix seconds when the attempt was signed.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The signature header: `v1,<base64>`, space-separated if several.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// A valid API key under `prefix`, built by hand: unit tests need one without a key service.
#[cfg(test)]
pub(crate) fn test_token(prefix: &crate::keys::KeyPrefix) -> String {
    use crate::keys::{SECRET_LEN, base62};
    let mut text = format!("{}_prod_", prefix.as_str());
    text.push_str("AbCdEf012345");
    text.extend(std::iter::repeat_n('k', SECRET_LEN));
    let checksum = base62::encode_fixed::<6>(u64::from(crc32fast::hash(text.as_bytes())));
    text.extend(checksum.iter().map(|b| char::from(*b)));
    assert!(crate::keys::contains_token(&text, prefix));
    text
}

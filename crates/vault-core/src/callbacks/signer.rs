//! The sending side: [`CallbackSigner`] turns (message id, timestamp, body) into the three
//! Standard Webhooks headers, with one signature per secret during a rotation, and refuses
//! any callback that would carry an API key of this library.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use memchr::memmem::Finder;
use time::OffsetDateTime;

use super::verifier::CallbackHeaders;
use super::{CallbackDefect, CallbackSecret, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use crate::keys::{KeyPrefix, KeyToken, contains_token};
use crate::{Clock, Environment, Error, SystemClock};

/// The longest message id accepted, in bytes.
pub(crate) const MAX_ID_LEN: usize = 256;

/// Signs outbound callbacks.
///
/// ```
/// use vault_core::callbacks::{CallbackSecret, CallbackSigner, CallbackVerifier};
///
/// let secret: CallbackSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// let signer = CallbackSigner::new(secret.clone());
/// let body = br#"{"type":"job.created"}"#;
/// let headers = signer.sign(&CallbackSigner::new_message_id(), body)?;
/// for (name, value) in headers.iter() {
///     assert!(name.starts_with("webhook-") && !value.is_empty());
/// }
///
/// let verified = CallbackVerifier::new(secret).verify(&headers.as_headers(), body)?;
/// assert_eq!(verified.id(), headers.id());
/// # Ok::<(), vault_core::Error>(())
/// ```
#[derive(Clone)]
pub struct CallbackSigner {
    secrets: Vec<CallbackSecret>,
    prefix: KeyPrefix,
    // `{prefix}_`: what every key starts with, and its precompiled searcher.
    marker: String,
    finder: Finder<'static>,
    clock: Arc<dyn Clock>,
}

impl CallbackSigner {
    /// A signer with one secret, the system clock and the default key prefix (`vlt`).
    pub fn new(secret: CallbackSecret) -> Self {
        Self {
            secrets: vec![secret],
            prefix: KeyPrefix::default(),
            marker: String::new(),
            finder: Finder::new(b"").into_owned(),
            clock: Arc::new(SystemClock),
        }
        .key_prefix(KeyPrefix::default())
    }

    /// Also signs with `secret`, for a rotation: every callback then carries one signature
    /// per secret, so receivers that know either one accept it.
    pub fn also_sign_with(mut self, secret: CallbackSecret) -> Self {
        self.secrets.push(secret);
        self
    }

    /// The vendor prefix of this deployment's API keys, for the leak guard.
    pub fn key_prefix(mut self, prefix: KeyPrefix) -> Self {
        self.marker = format!("{}_", prefix.as_str());
        self.finder = Finder::new(self.marker.as_bytes()).into_owned();
        self.prefix = prefix;
        self
    }

    /// The clock that stamps [`CallbackSigner::sign`] (tests move a `ManualClock`).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// A fresh message id, `msg_` and 32 hex digits of a random UUID. Keep it for every
    /// retry of the same message: receivers deduplicate on it.
    pub fn new_message_id() -> String {
        format!("msg_{}", uuid::Uuid::new_v4().simple())
    }

    /// Signs `body` as message `id`, stamped with the clock's current time.
    pub fn sign(&self, id: &str, body: &[u8]) -> Result<SignedHeaders, Error> {
        self.sign_at(id, self.clock.now(), body)
    }

    /// Signs `body` as message `id` stamped `timestamp` (whole seconds are kept).
    ///
    /// Refuses an id that is empty, longer than 256 bytes, not visible ASCII or holds a `.`
    /// (the signed text is `{id}.{timestamp}.{body}`: a dot in the id would make it
    /// ambiguous), and an id or body that contains an API key of this library.
    pub fn sign_at(
        &self,
        id: &str,
        timestamp: OffsetDateTime,
        body: &[u8],
    ) -> Result<SignedHeaders, Error> {
        if !is_valid_id(id) || id.contains('.') {
            return Err(CallbackDefect::MalformedId.into());
        }
        if self.carries_key(id, body) {
            return Err(CallbackDefect::BodyContainsApiKey.into());
        }
        let timestamp = timestamp.unix_timestamp();
        let mut signature = String::with_capacity(self.secrets.len() * 48);
        for secret in &self.secrets {
            if !signature.is_empty() {
                signature.push(' ');
            }
            signature.push_str("v1,");
            STANDARD.encode_string(secret.mac(id, timestamp, body), &mut signature);
        }
        Ok(SignedHeaders {
            id: id.to_owned(),
            timestamp: timestamp.to_string(),
            signature,
        })
    }

    fn carries_key(&self, id: &str, body: &[u8]) -> bool {
        // Fast path: almost no payload holds `{prefix}_` at all, and a vectorised substring
        // search over the raw bytes says so without even validating UTF-8.
        if self.finder.find(body).is_none() && self.finder.find(id.as_bytes()).is_none() {
            return false;
        }
        // Invalid UTF-8 becomes U+FFFD, which ends a token like any other non-word character,
        // so a key inside a binary body is still found.
        let text: Cow<'_, str> = String::from_utf8_lossy(body);
        leaks_key(&text, &self.prefix, &self.marker) || leaks_key(id, &self.prefix, &self.marker)
    }
}

/// Whether `text` holds an API key under `prefix` anywhere, even glued to other word
/// characters (`api_key_vlt_prod_…`, `msg_vlt_prod_…`), which the word-bounded
/// [`contains_token`] does not report: every occurrence of the prefix is tried at the exact
/// token length of each environment, and only a valid checksum counts.
fn leaks_key(text: &str, prefix: &KeyPrefix, marker: &str) -> bool {
    contains_token(text, prefix)
        || text.match_indices(marker).any(|(start, _)| {
            Environment::ALL.iter().any(|&env| {
                text.get(start..start + prefix.token_len(env))
                    .is_some_and(|candidate| KeyToken::parse(candidate, prefix).is_ok())
            })
        })
}

impl fmt::Debug for CallbackSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackSigner")
            .field("secrets", &self.secrets.len())
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// Whether `id` is 1 to 256 bytes of visible ASCII (what fits a header unchanged).
pub(crate) fn is_valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The three headers of a signed callback. `Debug` hides the signature.
#[derive(Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    id: String,
    timestamp: String,
    signature: String,
}

impl SignedHeaders {
    /// The `webhook-id` value.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `webhook-timestamp` value (unix seconds).
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// The `webhook-signature` value: `v1,<base64>`, space-separated if several secrets.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// `(name, value)` of the three headers, to copy into a request.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            (HEADER_ID, self.id.as_str()),
            (HEADER_TIMESTAMP, self.timestamp.as_str()),
            (HEADER_SIGNATURE, self.signature.as_str()),
        ]
        .into_iter()
    }

    /// The same values as a receiver sees them, for [`super::CallbackVerifier::verify`].
    pub fn as_headers(&self) -> CallbackHeaders<'_> {
        CallbackHeaders {
            id: Some(&self.id),
            timestamp: Some(&self.timestamp),
            signature: Some(&self.signature),
        }
    }
}

impl fmt::Debug for SignedHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedHeaders")
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .field("signature", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::callbacks::test_token;

    fn signer() -> CallbackSigner {
        CallbackSigner::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap())
    }

    #[test]
    fn signs_the_spec_vector() {
        let headers = signer()
            .sign_at(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                OffsetDateTime::from_unix_timestamp(1614265330).unwrap(),
                br#"{"test": 2432232314}"#,
            )
            .unwrap();
        assert_eq!(headers.id(), "msg_p5jXN8AQM9LWM0D4loKWxJek");
        assert_eq!(headers.timestamp(), "1614265330");
        assert_eq!(
            headers.signature(),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_rotation_signs_with_every_secret() {
        let new = CallbackSecret::generate().unwrap();
        let headers = signer()
            .also_sign_with(new)
            .sign_at("msg_1", datetime!(2026-01-01 0:00 UTC), b"{}")
            .unwrap();
        let parts: Vec<_> = headers.signature().split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,") && p.len() == 47));
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn the_clock_stamps_the_message() {
        let clock = crate::ManualClock::new(datetime!(2026-03-01 12:00:00.75 UTC));
        let headers = signer().clock(clock).sign("msg_1", b"{}").unwrap();
        assert_eq!(headers.timestamp(), "1772366400");
    }

    #[test]
    fn a_key_in_the_payload_is_refused() {
        let token = test_token(&KeyPrefix::default());
        let body = format!(r#"{{"job":"j_1","api_key":"{token}"}}"#);
        let refused = signer().sign("msg_1", body.as_bytes());
        assert!(matches!(
            refused,
            Err(Error::Callback(CallbackDefect::BodyContainsApiKey))
        ));
        // Inside a binary body, and in the id.
        let mut binary = vec![0xff, 0xfe];
        binary.extend_from_slice(token.as_bytes());
        binary.push(0x80);
        assert!(signer().sign("msg_1", &binary).is_err());
        assert!(signer().sign(&format!("msg_{token}"), b"{}").is_err());
        // Glued to other word characters.
        let glued = format!(r#"{{"x":"api_key_{token}abc"}}"#);
        assert!(signer().sign("msg_1", glued.as_bytes()).is_err());
        // Another deployment's prefix does not match ours.
        let other = signer().key_prefix(KeyPrefix::new("acme").unwrap());
        assert!(other.sign("msg_1", body.as_bytes()).is_ok());
        // Text that merely looks like a key is fine.
        assert!(signer().sign("msg_1", br#"{"note":"vlt_prod_x"}"#).is_ok());
    }

    #[test]
    fn malformed_ids_are_refused() {
        let long = "m".repeat(MAX_ID_LEN + 1);
        for id in ["", "msg 1", "msg.1", "msg\n", "msg_é", long.as_str()] {
            assert!(
                matches!(
                    signer().sign(id, b"{}"),
                    Err(Error::Callback(CallbackDefect::MalformedId))
                ),
                "{id:?}"
            );
        }
        assert!(signer().sign(&"m".repeat(MAX_ID_LEN), b"{}").is_ok());
    }

    #[test]
    fn message_ids_are_fresh_and_valid() {
        let a = CallbackSigner::new_message_id();
        assert!(a.starts_with("msg_") && a.len() == 36 && is_valid_id(&a));
        assert_ne!(a, CallbackSigner::new_message_id());
    }

    #[test]
    fn debug_hides_the_signature() {
        let headers = signer().sign("msg_1", b"{}").unwrap();
        let shown = format!("{headers:?} {:?}", signer());
        assert!(!shown.contains(&headers.signature()[3..]), "{shown}");
        assert!(shown.contains("[redacted]") && shown.contains("msg_1"));
        let names: Vec<_> = headers.iter().map(|(name, _)| name).collect();
        assert_eq!(
            names,
            ["webhook-id", "webhook-timestamp", "webhook-signature"]
        );
    }
}

//! The receiving side: [`CallbackVerifier`] checks the three headers and the raw body of a
//! callback (timestamp window, size, signatures under any accepted secret in constant time)
//! and names the first failure as a [`CallbackDefect`]; with a replay memory it then says
//! whether the message is fresh, a duplicate or still being handled ([`Delivery`]).

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use subtle::{Choice, ConstantTimeEq};
use time::{Duration, OffsetDateTime};

use super::secret::{LENIENT_BASE64, Signature};
use super::signer::is_valid_id;
use super::{
    CallbackDefect, CallbackHeader, CallbackSecret, Claim, Delivery, HEADER_ID, HEADER_SIGNATURE,
    HEADER_TIMESTAMP, ReplayGuard,
};
use crate::{Clock, SystemClock};

/// The header values of a received callback, borrowed from the request. `None` for a header
/// that is absent (or not valid ASCII).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct CallbackHeaders<'a> {
    /// The `webhook-id` value.
    pub id: Option<&'a str>,
    /// The `webhook-timestamp` value.
    pub timestamp: Option<&'a str>,
    /// The `webhook-signature` value.
    pub signature: Option<&'a str>,
}

impl<'a> CallbackHeaders<'a> {
    /// Reads the three headers through `get(name)`, whatever the framework's header map:
    ///
    /// ```
    /// use vault_core::callbacks::CallbackHeaders;
    ///
    /// let request = [("webhook-id", "msg_1"), ("webhook-timestamp", "1700000000")];
    /// let headers = CallbackHeaders::from_lookup(|name| {
    ///     request.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| *v)
    /// });
    /// assert_eq!(headers.id, Some("msg_1"));
    /// assert_eq!(headers.signature, None);
    /// ```
    pub fn from_lookup(mut get: impl FnMut(&'static str) -> Option<&'a str>) -> Self {
        Self {
            id: get(HEADER_ID),
            timestamp: get(HEADER_TIMESTAMP),
            signature: get(HEADER_SIGNATURE),
        }
    }
}

impl fmt::Debug for CallbackHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackHeaders")
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .field("signature", &self.signature.map(|_| "[redacted]"))
            .finish()
    }
}

/// A callback whose signature verified: its message id and timestamp, and whether it is a
/// redelivery of an id already processed. The body is the one the caller passed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedCallback {
    id: String,
    timestamp: OffsetDateTime,
    duplicate: bool,
}

impl VerifiedCallback {
    pub(crate) fn new(id: String, timestamp: OffsetDateTime) -> Self {
        Self {
            id,
            timestamp,
            duplicate: false,
        }
    }

    pub(crate) fn into_duplicate(self) -> Self {
        Self {
            duplicate: true,
            ..self
        }
    }

    /// The `webhook-id`: deduplicate processing on it (retries repeat it).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// When the sender signed this attempt.
    pub fn timestamp(&self) -> OffsetDateTime {
        self.timestamp
    }

    /// Whether a handler already processed this id: a redelivery (see [`Delivery::Duplicate`]).
    /// Receivers answer those without running the handler, unless asked to hand them on.
    pub fn is_duplicate(&self) -> bool {
        self.duplicate
    }
}

/// Verifies received callbacks.
///
/// Accepts a message when its timestamp is within the tolerance of now (default 5 minutes,
/// both directions), its body is within the size limit (default 1 MiB), and one `v1`
/// signature in the header matches one accepted secret. Signatures of other versions are
/// ignored, as the spec asks.
///
/// Every accepted message is a [`Delivery`]. Without a replay memory it is always fresh and
/// its [`Claim`] holds nothing. With a [`ReplayGuard`] the verifier also asks it about the id:
/// fresh (claimed: run the handler, then [`Claim::processed`], or drop the claim on failure),
/// a duplicate of one processed (acknowledge it without running the handler), or
/// [`CallbackDefect::InProgress`] while another delivery of it is being handled. A replay
/// outside the timestamp window stays [`CallbackDefect::TooOld`].
///
/// ```
/// use time::Duration;
/// use vault_core::ManualClock;
/// use vault_core::callbacks::{
///     CallbackDefect, CallbackSigner, CallbackVerifier, Delivery, ReplayGuard,
/// };
///
/// let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// let new = vault_core::callbacks::CallbackSecret::generate()?;
/// let clock = ManualClock::default();
/// let signer = CallbackSigner::new(new.clone()).clock(clock.clone());
/// let verifier = CallbackVerifier::new(new)
///     .also_accept(old) // until every sender has the new secret
///     .clock(clock.clone())
///     .replay_guard(ReplayGuard::new(10_000));
///
/// let headers = signer.sign("msg_1", b"{}")?;
/// let Ok(Delivery::Fresh(claim)) = verifier.verify(&headers.as_headers(), b"{}") else {
///     panic!("the first delivery is fresh");
/// };
/// // While the handler runs, a redelivery is told to come back later (409, Retry-After)...
/// assert!(matches!(
///     verifier.verify(&headers.as_headers(), b"{}"),
///     Err(CallbackDefect::InProgress { .. })
/// ));
/// claim.processed(); // ...and once it succeeded, a redelivery is a duplicate (2xx).
/// assert!(verifier.verify(&headers.as_headers(), b"{}")?.is_duplicate());
/// clock.advance(Duration::minutes(6));
/// assert_eq!(
///     verifier.verify(&headers.as_headers(), b"{}").map(|d| d.is_duplicate()),
///     Err(CallbackDefect::TooOld)
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CallbackVerifier {
    secrets: Vec<CallbackSecret>,
    tolerance_secs: i64,
    max_body_len: usize,
    clock: Arc<dyn Clock>,
    replay: Option<Arc<ReplayGuard>>,
}

impl CallbackVerifier {
    /// The default timestamp tolerance, in each direction.
    pub const DEFAULT_TOLERANCE: Duration = Duration::minutes(5);
    /// The default largest body, in bytes (1 MiB).
    pub const DEFAULT_MAX_BODY_LEN: usize = 1 << 20;

    /// A verifier accepting `secret`, with the defaults and the system clock.
    pub fn new(secret: CallbackSecret) -> Self {
        Self {
            secrets: vec![secret],
            tolerance_secs: Self::DEFAULT_TOLERANCE.whole_seconds(),
            max_body_len: Self::DEFAULT_MAX_BODY_LEN,
            clock: Arc::new(SystemClock),
            replay: None,
        }
    }

    /// Also accepts signatures made with `secret` (a rotation: the previous secret).
    pub fn also_accept(mut self, secret: CallbackSecret) -> Self {
        self.secrets.push(secret);
        self
    }

    /// How far a timestamp may lie from now, in either direction (whole seconds, at least 0).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance_secs = tolerance.whole_seconds().max(0);
        self
    }

    /// The largest body accepted, in bytes. Receivers should stop buffering beyond it.
    pub fn max_body_len(mut self, bytes: usize) -> Self {
        self.max_body_len = bytes;
        self
    }

    /// The clock the timestamp window is measured by.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Remembers message ids in `guard`: each id runs a handler once at a time and, once a
    /// handler succeeded, no more (share one `Arc` between verifiers of one endpoint).
    pub fn replay_guard(mut self, guard: impl Into<Arc<ReplayGuard>>) -> Self {
        self.replay = Some(guard.into());
        self
    }

    /// The body limit in bytes, for receivers that buffer the body.
    pub fn body_limit(&self) -> usize {
        self.max_body_len
    }

    /// The replay memory, if any. With one, a fresh delivery's [`Claim`] must be settled by
    /// whoever sees the handler's outcome (a layer or middleware, not an extractor).
    pub fn replay_memory(&self) -> Option<&Arc<ReplayGuard>> {
        self.replay.as_ref()
    }

    /// Verifies a callback from its headers and raw body (the exact bytes received), then
    /// asks the replay memory, if any, about its id.
    pub fn verify(
        &self,
        headers: &CallbackHeaders<'_>,
        body: &[u8],
    ) -> Result<Delivery, CallbackDefect> {
        let id = headers
            .id
            .ok_or(CallbackDefect::MissingHeader(CallbackHeader::Id))?;
        let timestamp = headers
            .timestamp
            .ok_or(CallbackDefect::MissingHeader(CallbackHeader::Timestamp))?;
        let signatures = headers
            .signature
            .ok_or(CallbackDefect::MissingHeader(CallbackHeader::Signature))?;
        if !is_valid_id(id) {
            return Err(CallbackDefect::MalformedId);
        }
        let timestamp = parse_timestamp(timestamp)?;
        let now = self.clock.now().unix_timestamp();
        // i128: no overflow whatever the header says.
        let age = i128::from(now) - i128::from(timestamp);
        if age > i128::from(self.tolerance_secs) {
            return Err(CallbackDefect::TooOld);
        }
        if -age > i128::from(self.tolerance_secs) {
            return Err(CallbackDefect::TooNew);
        }
        if body.len() > self.max_body_len {
            return Err(CallbackDefect::BodyTooLarge {
                limit: self.max_body_len,
            });
        }
        self.check_signatures(id, timestamp, body, signatures)?;
        let signed_at = OffsetDateTime::from_unix_timestamp(timestamp)
            .map_err(|_| CallbackDefect::BadTimestamp)?;
        let callback = VerifiedCallback::new(id.to_owned(), signed_at);
        match &self.replay {
            None => Ok(Delivery::Fresh(Claim::unheld(callback))),
            Some(memory) => {
                memory.admit(callback, now, timestamp.saturating_add(self.tolerance_secs))
            }
        }
    }

    fn check_signatures(
        &self,
        id: &str,
        timestamp: i64,
        body: &[u8],
        header: &str,
    ) -> Result<(), CallbackDefect> {
        let mut matched = Choice::from(0);
        let mut well_formed = false;
        for secret in &self.secrets {
            let expected = secret.mac(id, timestamp, body);
            for candidate in header.split(' ').filter_map(parse_v1) {
                well_formed = true;
                // Every candidate is compared, in constant time: nothing about how close a
                // forgery came leaks through timing.
                matched |= candidate.ct_eq(&expected);
            }
            if !well_formed {
                // No secret can change that: don't hash the body again.
                return Err(CallbackDefect::MalformedSignature);
            }
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(CallbackDefect::NoMatchingSignature)
        }
    }
}

impl fmt::Debug for CallbackVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackVerifier")
            .field("secrets", &self.secrets.len())
            .field("tolerance_secs", &self.tolerance_secs)
            .field("max_body_len", &self.max_body_len)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

/// Seconds since the epoch: ASCII digits only (no sign, no spaces), at most 12 of them.
fn parse_timestamp(text: &str) -> Result<i64, CallbackDefect> {
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CallbackDefect::BadTimestamp);
    }
    text.parse().map_err(|_| CallbackDefect::BadTimestamp)
}

/// `v1,<base64 of 32 bytes>` → the bytes; anything else (other versions, garbage) → `None`.
fn parse_v1(entry: &str) -> Option<Signature> {
    let encoded = entry.strip_prefix("v1,")?;
    // 32 bytes are 43 or 44 base64 characters; refuse anything longer before decoding.
    if encoded.len() > 44 {
        return None;
    }
    let mut out = [0u8; 33];
    match LENIENT_BASE64.decode_slice(encoded, &mut out) {
        Ok(32) => out[..32].try_into().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::ManualClock;
    use crate::callbacks::CallbackSigner;

    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn at(unix: i64) -> ManualClock {
        ManualClock::new(OffsetDateTime::from_unix_timestamp(unix).unwrap())
    }

    fn verifier(clock: &ManualClock) -> CallbackVerifier {
        CallbackVerifier::new(SPEC_SECRET.parse().unwrap()).clock(clock.clone())
    }

    #[test]
    fn the_spec_vector_verifies_at_its_time() {
        let headers = CallbackHeaders {
            id: Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
            timestamp: Some("1614265330"),
            signature: Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        };
        let verified = verifier(&at(1614265330))
            .verify(&headers, br#"{"test": 2432232314}"#)
            .unwrap();
        assert_eq!(verified.id(), "msg_p5jXN8AQM9LWM0D4loKWxJek");
        assert_eq!(verified.callback().timestamp().unix_timestamp(), 1614265330);
    }

    #[test]
    fn each_missing_header_is_named() {
        let clock = ManualClock::default();
        let signed = CallbackSigner::new(SPEC_SECRET.parse().unwrap())
            .clock(clock.clone())
            .sign("msg_1", b"{}")
            .unwrap();
        let full = signed.as_headers();
        for (header, cut) in [
            (CallbackHeader::Id, CallbackHeaders { id: None, ..full }),
            (
                CallbackHeader::Timestamp,
                CallbackHeaders {
                    timestamp: None,
                    ..full
                },
            ),
            (
                CallbackHeader::Signature,
                CallbackHeaders {
                    signature: None,
                    ..full
                },
            ),
        ] {
            assert_eq!(
                verifier(&clock).verify(&cut, b"{}").err(),
                Some(CallbackDefect::MissingHeader(header))
            );
        }
        assert!(verifier(&clock).verify(&full, b"{}").is_ok());
    }

    #[test]
    fn timestamps_must_be_plain_seconds() {
        assert_eq!(parse_timestamp("1614265330"), Ok(1614265330));
        for bad in [
            "",
            "hello",
            "+1614265330",
            "-5",
            " 1",
            "1.5",
            "1614265330000",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                Err(CallbackDefect::BadTimestamp),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_window_is_inclusive_at_the_tolerance() {
        let clock = ManualClock::new(datetime!(2026-01-01 0:00 UTC));
        let signer = CallbackSigner::new(SPEC_SECRET.parse().unwrap()).clock(clock.clone());
        let signed = signer.sign("msg_1", b"{}").unwrap();
        let v = verifier(&clock).tolerance(Duration::seconds(60));
        clock.advance(Duration::seconds(60));
        assert!(v.verify(&signed.as_headers(), b"{}").is_ok());
        clock.advance(Duration::seconds(1));
        assert_eq!(
            v.verify(&signed.as_headers(), b"{}").err(),
            Some(CallbackDefect::TooOld)
        );
        clock.advance(Duration::seconds(-122));
        assert_eq!(
            v.verify(&signed.as_headers(), b"{}").err(),
            Some(CallbackDefect::TooNew)
        );
    }

    #[test]
    fn signature_entries_are_parsed_strictly() {
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(parse_v1(good).is_some());
        assert!(parse_v1(good.trim_end_matches('=')).is_some());
        for bad in [
            "",
            "v1,",
            "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O==",
            "v1,AAAA",
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=AAAA",
            "v1,!0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ] {
            assert_eq!(parse_v1(bad), None, "{bad}");
        }
    }

    #[test]
    fn malformed_and_mismatched_signatures_are_told_apart() {
        let clock = at(1614265330);
        let mut headers = CallbackHeaders {
            id: Some("msg_p5jXN8AQM9LWM0D4loKWxJek"),
            timestamp: Some("1614265330"),
            signature: Some("v2,abc garbage"),
        };
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            verifier(&clock).verify(&headers, body).err(),
            Some(CallbackDefect::MalformedSignature)
        );
        // The spec suite's "invalid signature": well formed, one bit off.
        headers.signature = Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=");
        assert_eq!(
            verifier(&clock).verify(&headers, body).err(),
            Some(CallbackDefect::NoMatchingSignature)
        );
    }

    #[test]
    fn oversized_bodies_are_refused_before_hashing() {
        let clock = ManualClock::default();
        let body = vec![b'x'; 101];
        let signed = CallbackSigner::new(SPEC_SECRET.parse().unwrap())
            .clock(clock.clone())
            .sign("msg_1", &body)
            .unwrap();
        let v = verifier(&clock).max_body_len(100);
        assert_eq!(v.body_limit(), 100);
        assert_eq!(
            v.verify(&signed.as_headers(), &body).err(),
            Some(CallbackDefect::BodyTooLarge { limit: 100 })
        );
        assert!(v.verify(&signed.as_headers(), &body[..100]).is_err());
        assert!(
            v.max_body_len(101)
                .verify(&signed.as_headers(), &body)
                .is_ok()
        );
    }

    #[test]
    fn debug_hides_signatures_and_secrets() {
        let headers = CallbackHeaders {
            id: Some("msg_1"),
            timestamp: Some("1"),
            signature: Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
        };
        let shown = format!("{headers:?} {:?}", verifier(&ManualClock::default()));
        assert!(
            !shown.contains("g0hM") && !shown.contains("MfKQ"),
            "{shown}"
        );
        assert!(shown.contains("[redacted]"));
    }
}

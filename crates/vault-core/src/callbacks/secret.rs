//! Callback secrets: `whsec_` + base64 of 24 to 64 random bytes, shared by the sender and
//! the receiver, and the one MAC both sides compute with them:
//! HMAC-SHA256 over `{id}.{timestamp}.{body}`.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;

use super::CallbackDefect;
use crate::Error;

/// Standard base64 that decodes with or without `=` padding (encoders differ).
pub(crate) const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A MAC of one message: 32 bytes of HMAC-SHA256.
pub(crate) type Signature = [u8; 32];

/// A shared callback secret. `Debug` prints `[redacted]`; the text form is reachable only
/// through [`CallbackSecret::expose_secret`].
///
/// ```
/// use vault_core::callbacks::CallbackSecret;
///
/// let secret = CallbackSecret::generate()?;
/// let text = secret.expose_secret();
/// assert!(text.starts_with("whsec_"));
/// let again: CallbackSecret = text.parse()?;
/// assert_eq!(format!("{again:?}"), "CallbackSecret([redacted])");
/// # Ok::<(), vault_core::Error>(())
/// ```
pub struct CallbackSecret {
    bytes: SecretBox<[u8]>,
    /// The `whsec_` text, made once so [`CallbackSecret::expose_secret`] can lend it.
    text: SecretString,
    // HMAC keyed once: every message then costs only the hash of its own bytes.
    keyed: Hmac<Sha256>,
}

impl CallbackSecret {
    /// The text prefix of a secret.
    pub const PREFIX: &'static str = "whsec_";
    /// The length of a generated secret in bytes (256 bits).
    pub const DEFAULT_LEN: usize = 32;
    /// The shortest secret accepted, in bytes (the Standard Webhooks lower bound).
    pub const MIN_LEN: usize = 24;
    /// The longest secret accepted, in bytes (the Standard Webhooks upper bound).
    pub const MAX_LEN: usize = 64;

    /// A new secret of [`CallbackSecret::DEFAULT_LEN`] bytes from the OS CSPRNG.
    pub fn generate() -> Result<Self, Error> {
        use rand::TryRng;
        let mut bytes = vec![0u8; Self::DEFAULT_LEN];
        rand::rngs::SysRng
            .try_fill_bytes(&mut bytes)
            .map_err(|_| Error::Randomness)?;
        Self::from_bytes(bytes)
    }

    /// Takes raw secret bytes (24 to 64 of them).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Error> {
        let bytes = SecretBox::new(bytes.into_boxed_slice());
        let len = bytes.expose_secret().len();
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&len) {
            return Err(CallbackDefect::SecretLength.into());
        }
        // HMAC takes keys of any length, so this cannot fail.
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(bytes.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        let text = SecretString::from(format!(
            "{}{}",
            Self::PREFIX,
            STANDARD.encode(bytes.expose_secret())
        ));
        Ok(Self { bytes, text, keyed })
    }

    /// Parses `whsec_<base64>`, with or without `=` padding. The prefix is optional, as in
    /// the other Standard Webhooks libraries; surrounding whitespace is ignored.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let encoded = text.strip_prefix(Self::PREFIX).unwrap_or(text);
        let bytes = LENIENT_BASE64
            .decode(encoded)
            .map_err(|_| CallbackDefect::MalformedSecret)?;
        Self::from_bytes(bytes)
    }

    /// The secret as `whsec_<base64>` (padded), to hand to the receiver. Show it once.
    pub fn expose_secret(&self) -> &str {
        self.text.expose_secret()
    }

    /// HMAC-SHA256 over `{id}.{timestamp}.{body}`, fed piece by piece (no copy of the body).
    pub(crate) fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Signature {
        let mut digits = itoa_buf();
        let timestamp = write_decimal(timestamp, &mut digits);
        let mut mac = self.keyed.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp);
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

impl Clone for CallbackSecret {
    fn clone(&self) -> Self {
        Self {
            bytes: SecretBox::new(self.bytes.expose_secret().into()),
            text: self.text.clone(),
            keyed: self.keyed.clone(),
        }
    }
}

impl FromStr for CallbackSecret {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        Self::parse(text)
    }
}

impl fmt::Debug for CallbackSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackSecret([redacted])")
    }
}

fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// Writes `value` in decimal into the end of `buf` and returns the digits (an `i64` has at
/// most 19 digits and a sign).
fn write_decimal(value: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut magnitude = value.unsigned_abs();
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    if value < 0 {
        start -= 1;
        buf[start] = b'-';
    }
    &buf[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    // The secret of the Standard Webhooks test suite: 24 bytes, 32 base64 characters.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    #[test]
    fn generated_secrets_are_32_random_bytes_and_parse_back() {
        let a = CallbackSecret::generate().unwrap();
        let b = CallbackSecret::generate().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        let text = a.expose_secret();
        let decoded = STANDARD
            .decode(&text[CallbackSecret::PREFIX.len()..])
            .unwrap();
        assert_eq!(decoded.len(), CallbackSecret::DEFAULT_LEN);
        let back = CallbackSecret::parse(text).unwrap();
        assert_eq!(back.expose_secret(), text);
        assert_eq!(back.mac("m", 1, b"x"), a.mac("m", 1, b"x"));
    }

    #[test]
    fn padding_and_prefix_are_optional() {
        // 32 bytes encode to 43 characters and one `=`.
        let generated = CallbackSecret::generate().unwrap();
        let padded = generated.expose_secret();
        assert!(padded.ends_with('='));
        let unpadded = padded.trim_end_matches('=');
        let bare = &padded[CallbackSecret::PREFIX.len()..];
        let reference = CallbackSecret::parse(padded).unwrap().mac("id", 7, b"b");
        for text in [unpadded, bare, &format!(" {padded}\n")] {
            let secret = CallbackSecret::parse(text).unwrap();
            assert_eq!(secret.mac("id", 7, b"b"), reference, "{text}");
        }
    }

    #[test]
    fn malformed_and_weak_secrets_are_refused() {
        for text in [
            "whsec_",
            "whsec_!!!!",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",
        ] {
            assert!(
                matches!(
                    CallbackSecret::parse(text),
                    Err(Error::Callback(CallbackDefect::MalformedSecret))
                        | Err(Error::Callback(CallbackDefect::SecretLength))
                ),
                "{text}"
            );
        }
        let short = format!("whsec_{}", STANDARD.encode([7u8; 23]));
        assert!(matches!(
            CallbackSecret::parse(&short),
            Err(Error::Callback(CallbackDefect::SecretLength))
        ));
        assert!(matches!(
            CallbackSecret::from_bytes(vec![1; 65]),
            Err(Error::Callback(CallbackDefect::SecretLength))
        ));
        assert!(CallbackSecret::parse(SPEC_SECRET).is_ok());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = CallbackSecret::parse(SPEC_SECRET).unwrap();
        let shown = format!("{secret:?} {:?}", secret.clone());
        assert!(!shown.contains("MfKQ"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }

    #[test]
    fn mac_matches_the_spec_vector() {
        let secret = CallbackSecret::parse(SPEC_SECRET).unwrap();
        let mac = secret.mac(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(
            STANDARD.encode(mac),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn decimal_writer_matches_to_string() {
        for value in [0, 7, 10, 1614265330, -1, -42, i64::MAX, i64::MIN] {
            let mut buf = itoa_buf();
            assert_eq!(write_decimal(value, &mut buf), value.to_string().as_bytes());
        }
    }
}

//! Hashing of key secrets: HMAC-SHA256 under a server pepper, compared in constant time.
//!
//! Key secrets carry 256 bits of entropy, so a fast keyed hash is the right tool (Argon2 is
//! for low-entropy passwords). The pepper lives only in server configuration: a stolen
//! database alone cannot test guesses.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

use crate::Error;

/// The server-side secret mixed into every key hash. At least [`Pepper::MIN_LEN`] bytes.
pub struct Pepper(SecretBox<[u8]>);

impl Pepper {
    /// Minimum length in bytes (256 bits).
    pub const MIN_LEN: usize = 32;

    /// Takes raw bytes.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, Error> {
        if bytes.len() < Self::MIN_LEN {
            return Err(Error::PepperTooShort {
                min: Self::MIN_LEN,
                got: bytes.len(),
            });
        }
        Ok(Self(SecretBox::new(bytes.into_boxed_slice())))
    }

    /// Decodes standard base64 (as in an environment variable or a config file).
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::MissingPepper { min: Self::MIN_LEN });
        }
        let bytes = STANDARD.decode(text).map_err(|_| Error::PepperEncoding)?;
        Self::from_bytes(bytes)
    }

    /// Reads base64 from the environment variable `name`; a clear error when it is unset.
    pub fn from_env(name: &str) -> Result<Self, Error> {
        match std::env::var(name) {
            Ok(text) => Self::from_base64(&text),
            Err(_) => Err(Error::MissingPepper { min: Self::MIN_LEN }),
        }
    }

    /// A new random pepper from the OS CSPRNG (for demos and tests: persist it, or every key
    /// stops verifying at the next start).
    pub fn generate() -> Result<Self, Error> {
        use rand::TryRng;
        let mut bytes = vec![0u8; Self::MIN_LEN];
        rand::rngs::SysRng
            .try_fill_bytes(&mut bytes)
            .map_err(|_| Error::Randomness)?;
        Self::from_bytes(bytes)
    }

    /// The pepper as standard base64, to store it in configuration.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0.expose_secret())
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper([redacted])")
    }
}

crate::digest::secret_digest! {
    /// The stored hash of a key secret: HMAC-SHA256(pepper, secret). Compared only in
    /// constant time; `Debug` prints `[redacted]`.
    pub struct KeyHash;
}

/// Hashes and checks key secrets. The keyed HMAC state is computed once from the pepper and
/// cloned per call, which saves two SHA-256 blocks on every verification.
#[derive(Clone)]
pub struct KeyHasher {
    keyed: Hmac<Sha256>,
}

impl KeyHasher {
    /// A hasher under `pepper`.
    pub fn new(pepper: &Pepper) -> Self {
        // HMAC accepts a key of any length, so this cannot fail.
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(pepper.0.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        Self { keyed }
    }

    /// HMAC-SHA256(pepper, secret).
    pub fn hash(&self, secret: &str) -> KeyHash {
        let mut mac = self.keyed.clone();
        mac.update(secret.as_bytes());
        KeyHash(mac.finalize().into_bytes().into())
    }

    /// Whether `secret` hashes to `stored`, compared in constant time.
    pub fn matches(&self, secret: &str, stored: &KeyHash) -> bool {
        self.hash(secret).ct_eq(stored)
    }
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHasher([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pepper_must_be_present_long_and_base64() {
        assert!(matches!(
            Pepper::from_base64(""),
            Err(Error::MissingPepper { min: 32 })
        ));
        assert!(matches!(
            Pepper::from_base64("not base64!"),
            Err(Error::PepperEncoding)
        ));
        let short = STANDARD.encode([7u8; 16]);
        assert!(matches!(
            Pepper::from_base64(&short),
            Err(Error::PepperTooShort { min: 32, got: 16 })
        ));
        let ok = STANDARD.encode([7u8; 32]);
        assert_eq!(Pepper::from_base64(&ok).unwrap().to_base64(), ok);
        assert!(matches!(
            Pepper::from_env("VAULT_TEST_PEPPER_THAT_IS_NEVER_SET"),
            Err(Error::MissingPepper { .. })
        ));
    }

    #[test]
    fn hashes_match_only_the_same_secret_and_pepper() {
        let a = KeyHasher::new(&Pepper::from_bytes(vec![1; 32]).unwrap());
        let b = KeyHasher::new(&Pepper::from_bytes(vec![2; 32]).unwrap());
        let stored = a.hash("secret-one");
        assert!(a.matches("secret-one", &stored));
        assert!(!a.matches("secret-two", &stored));
        assert!(!b.matches("secret-one", &stored));
    }

    #[test]
    fn hash_is_standard_hmac_sha256() {
        // RFC 4231, test case 6 (a key longer than one block).
        let hasher = KeyHasher::new(&Pepper::from_bytes(vec![0xaa; 131]).unwrap());
        let hash = hasher.hash("Test Using Larger Than Block-Size Key - Hash Key First");
        let hex: String = hash.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn debug_output_is_redacted() {
        let pepper = Pepper::from_bytes(vec![0x41; 32]).unwrap();
        let hasher = KeyHasher::new(&pepper);
        let hash = hasher.hash("s");
        for shown in [
            format!("{pepper:?}"),
            format!("{hasher:?}"),
            format!("{hash:?}"),
        ] {
            assert!(shown.contains("[redacted]"), "{shown}");
            assert!(
                !shown.contains("AAAA") && !shown.contains("65, 65"),
                "{shown}"
            );
        }
    }
}

//! Single-use secrets of the account flows: opaque tokens (256 bits, stored as SHA-256) and
//! the short typed codes offered beside each emailed link.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;
use rand::rngs::SysRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::Error;

crate::digest::secret_digest! {
    /// SHA-256 of a token or code: what stores keep. High-entropy tokens need no slow hash.
    /// Compared only in constant time; `Debug` prints `[redacted]`.
    pub struct SecretHash;
}

impl SecretHash {
    /// Hashes `text`.
    pub fn of(text: &str) -> Self {
        Self(Sha256::digest(text.as_bytes()).into())
    }
}

/// A fresh opaque token: 32 bytes from the OS CSPRNG, base64url (43 characters).
pub(crate) fn new_token() -> Result<SecretString, Error> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    SysRng
        .try_fill_bytes(bytes.as_mut())
        .map_err(|_| Error::Randomness)?;
    Ok(SecretString::from(URL_SAFE_NO_PAD.encode(bytes.as_ref())))
}

/// Digits of a typed code.
pub const CODE_DIGITS: usize = 6;

/// A fresh typed code: 6 decimal digits, uniform. Guessing is bounded by an attempt limit.
pub(crate) fn new_code() -> Result<SecretString, Error> {
    loop {
        let mut bytes = [0u8; 4];
        SysRng
            .try_fill_bytes(&mut bytes)
            .map_err(|_| Error::Randomness)?;
        let n = u32::from_le_bytes(bytes);
        // Reject the top sliver so `n % 10^6` is uniform.
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return Ok(SecretString::from(format!("{:06}", n % 1_000_000)));
        }
    }
}

/// Normalises a typed code (spaces and dashes ignored).
pub(crate) fn normalize_code(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

/// The hash of `token`, for lookups.
pub(crate) fn hash_token(token: &SecretString) -> SecretHash {
    SecretHash::of(token.expose_secret())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_distinct_and_url_safe() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_eq!(a.expose_secret().len(), 43);
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(
            a.expose_secret()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(hash_token(&a), hash_token(&b));
        assert!(hash_token(&a).ct_eq(&SecretHash::of(a.expose_secret())));
    }

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..50 {
            let code = new_code().unwrap();
            assert_eq!(code.expose_secret().len(), CODE_DIGITS);
            assert!(code.expose_secret().bytes().all(|c| c.is_ascii_digit()));
        }
        assert_eq!(normalize_code(" 123-456 "), "123456");
    }
}

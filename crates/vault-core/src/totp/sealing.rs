//! TOTP secrets at rest: sealed with XChaCha20-Poly1305 under a server key, a random 192-bit
//! nonce per seal, and the user id as associated data, so a sealed secret copied into
//! another account does not open there.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::{ExposeSecret, SecretBox, SecretSlice, SecretString};
use zeroize::Zeroizing;

use super::TotpDefect;
use crate::{Error, UserId};

/// Version byte of the sealed format (first byte of [`SealedSecret::as_bytes`]).
const VERSION: u8 = 1;
/// Prefix of the text form: the version, readable in a database column.
const TEXT_PREFIX: &str = "v1.";
/// Domain separation for the associated data: no other use of the key can produce a
/// ciphertext that opens here.
const DOMAIN: &[u8] = b"vault/totp-secret/v1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Accepted TOTP secret lengths: RFC 4226 asks for at least 128 bits.
const SECRET_LEN: std::ops::RangeInclusive<usize> = 16..=64;

/// The server key that seals TOTP secrets at rest: exactly 32 random bytes, kept in
/// configuration (never in the database). `Debug` prints `[redacted]`.
///
/// ```
/// use vault_core::totp::SealingKey;
///
/// let key = SealingKey::generate()?;
/// let text = key.to_base64();
/// # use secrecy::ExposeSecret;
/// let again = SealingKey::from_base64(text.expose_secret())?;
/// assert_eq!(format!("{again:?}"), "SealingKey([redacted])");
/// # Ok::<(), vault_core::Error>(())
/// ```
pub struct SealingKey(SecretBox<[u8; 32]>);

impl SealingKey {
    /// Length in bytes (256 bits).
    pub const LEN: usize = 32;

    /// Takes raw bytes; exactly [`SealingKey::LEN`] of them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let array: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Totp(TotpDefect::InvalidKeyLength { got: bytes.len() }))?;
        Ok(Self(SecretBox::new(Box::new(array))))
    }

    /// Decodes standard base64 (as in an environment variable or a config file).
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        if text.is_empty() {
            return Err(Error::Totp(TotpDefect::MissingKey));
        }
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text)
                .map_err(|_| Error::Totp(TotpDefect::KeyEncoding))?,
        );
        Self::from_bytes(&bytes)
    }

    /// Reads base64 from the environment variable `name`; a clear error when it is unset.
    pub fn from_env(name: &str) -> Result<Self, Error> {
        match std::env::var(name) {
            Ok(text) => Self::from_base64(&Zeroizing::new(text)),
            Err(_) => Err(Error::Totp(TotpDefect::MissingKey)),
        }
    }

    /// A new random key from the OS CSPRNG (persist it: without it no sealed secret opens).
    pub fn generate() -> Result<Self, Error> {
        let mut bytes = Box::new([0u8; 32]);
        fill_random(&mut bytes[..])?;
        Ok(Self(SecretBox::new(bytes)))
    }

    /// The key as standard base64, to store it in configuration.
    pub fn to_base64(&self) -> SecretString {
        STANDARD.encode(self.0.expose_secret()).into()
    }

    /// Seals a TOTP secret (16 to 64 bytes) for `user`. Enrolment calls this; use it
    /// directly to import secrets from another system.
    pub fn seal(&self, user: UserId, secret: &[u8]) -> Result<SealedSecret, Error> {
        if !SECRET_LEN.contains(&secret.len()) {
            return Err(Error::Totp(TotpDefect::InvalidSecretLength {
                got: secret.len(),
            }));
        }
        let bytes = self
            .seal_in(DOMAIN, user.as_uuid().as_bytes(), secret)?
            // Only plaintexts of gigabytes fail; a TOTP secret is at most 64 bytes.
            .ok_or(Error::Totp(TotpDefect::InvalidSecretLength {
                got: secret.len(),
            }))?;
        Ok(SealedSecret(bytes))
    }

    /// Opens a sealed secret of `user`. The plaintext stays in a zeroizing box.
    pub(crate) fn open(
        &self,
        user: UserId,
        sealed: &SealedSecret,
    ) -> Result<SecretSlice<u8>, Error> {
        let mut plain = self
            .open_in(DOMAIN, user.as_uuid().as_bytes(), sealed.as_bytes())
            .ok_or(Error::Totp(TotpDefect::SealedSecretUnreadable))?;
        let plain = SecretSlice::from(std::mem::take(&mut *plain));
        if !SECRET_LEN.contains(&plain.expose_secret().len()) {
            return Err(Error::Totp(TotpDefect::SealedSecretUnreadable));
        }
        Ok(plain)
    }

    /// Opens `sealed` with this key and seals it again under `new_key`, for a key rotation:
    /// re-seal every stored secret, then retire the old key.
    pub fn reseal(
        &self,
        user: UserId,
        sealed: &SealedSecret,
        new_key: &SealingKey,
    ) -> Result<SealedSecret, Error> {
        let plain = self.open(user, sealed)?;
        new_key.seal(user, plain.expose_secret())
    }

    /// Seals `plain` for one use of the key: `domain` names the use and `context` binds the
    /// ciphertext to its row (a user id, a mail id), both as associated data. The format is
    /// the version byte, a random 192-bit nonce, the ciphertext and its tag. `None` only for
    /// plaintexts the cipher refuses (gigabytes).
    pub(crate) fn seal_in(
        &self,
        domain: &[u8],
        context: &[u8],
        plain: &[u8],
    ) -> Result<Option<Vec<u8>>, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce)?;
        let aad = associated_data(domain, context);
        let Ok(ciphertext) = self.cipher().encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plain,
                aad: &aad,
            },
        ) else {
            return Ok(None);
        };
        let mut bytes = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        bytes.push(VERSION);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Ok(Some(bytes))
    }

    /// Opens what [`SealingKey::seal_in`] sealed with the same `domain` and `context`; `None`
    /// when it does not open (another key, use or row, or altered bytes).
    pub(crate) fn open_in(
        &self,
        domain: &[u8],
        context: &[u8],
        sealed: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.first() != Some(&VERSION) || sealed.len() < 1 + NONCE_LEN + TAG_LEN {
            return None;
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1..1 + NONCE_LEN]);
        let aad = associated_data(domain, context);
        self.cipher()
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad: &aad,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&(*self.0.expose_secret()).into())
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey([redacted])")
    }
}

/// The associated data: the use's domain, the format version and the row's context (for a
/// TOTP secret, the user's UUID).
fn associated_data(domain: &[u8], context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(domain.len() + 1 + context.len());
    aad.extend_from_slice(domain);
    aad.push(VERSION);
    aad.extend_from_slice(context);
    aad
}

/// Fills `buf` from the OS CSPRNG.
pub(super) fn fill_random(buf: &mut [u8]) -> Result<(), Error> {
    use rand::TryRng;
    rand::rngs::SysRng
        .try_fill_bytes(buf)
        .map_err(|_| Error::Randomness)
}

/// A TOTP secret sealed for one user: version byte, nonce, ciphertext and tag. Store it as
/// bytes ([`SealedSecret::as_bytes`]) or as text ([`SealedSecret::encode`], `v1.` + base64url).
///
/// It is ciphertext, yet `Debug` prints `[redacted]`: a log is no place for it either.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedSecret(Vec<u8>);

impl SealedSecret {
    /// Reads the byte form (a database column); checks the version and the length only, the
    /// contents are checked when the secret is opened.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let shortest = 1 + NONCE_LEN + SECRET_LEN.start() + TAG_LEN;
        let longest = 1 + NONCE_LEN + SECRET_LEN.end() + TAG_LEN;
        if bytes.first() != Some(&VERSION) || !(shortest..=longest).contains(&bytes.len()) {
            return Err(Error::Totp(TotpDefect::MalformedSealedSecret));
        }
        Ok(Self(bytes.to_vec()))
    }

    /// The byte form, to store.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text form, to store: `v1.` followed by base64url (no padding) of the sealed bytes
    /// after the version byte.
    pub fn encode(&self) -> String {
        format!("{TEXT_PREFIX}{}", URL_SAFE_NO_PAD.encode(&self.0[1..]))
    }

    /// Reads the text form written by [`SealedSecret::encode`].
    pub fn decode(text: &str) -> Result<Self, Error> {
        let body = text
            .strip_prefix(TEXT_PREFIX)
            .ok_or(Error::Totp(TotpDefect::MalformedSealedSecret))?;
        let rest = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| Error::Totp(TotpDefect::MalformedSealedSecret))?;
        let mut bytes = Vec::with_capacity(1 + rest.len());
        bytes.push(VERSION);
        bytes.extend_from_slice(&rest);
        Self::from_bytes(&bytes)
    }
}

impl FromStr for SealedSecret {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::decode(s)
    }
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealedSecret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_version_nonce_ciphertext_tag() {
        let key = SealingKey::from_bytes(&[9; 32]).unwrap();
        let sealed = key.seal(UserId::random(), &[1; 20]).unwrap();
        assert_eq!(sealed.as_bytes()[0], VERSION);
        assert_eq!(sealed.as_bytes().len(), 1 + NONCE_LEN + 20 + TAG_LEN);
        assert!(sealed.encode().starts_with("v1."));
    }

    #[test]
    fn two_seals_of_one_secret_differ() {
        let key = SealingKey::from_bytes(&[9; 32]).unwrap();
        let user = UserId::random();
        let a = key.seal(user, &[1; 20]).unwrap();
        let b = key.seal(user, &[1; 20]).unwrap();
        assert_ne!(a, b, "a fresh nonce per seal");
        assert_eq!(key.open(user, &a).unwrap().expose_secret(), &[1; 20]);
        assert_eq!(key.open(user, &b).unwrap().expose_secret(), &[1; 20]);
    }

    #[test]
    fn secrets_of_the_wrong_length_are_not_sealed() {
        let key = SealingKey::from_bytes(&[9; 32]).unwrap();
        for len in [0, 15, 65] {
            assert!(matches!(
                key.seal(UserId::random(), &vec![1; len]),
                Err(Error::Totp(TotpDefect::InvalidSecretLength { got })) if got == len
            ));
        }
    }
}

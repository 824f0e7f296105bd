//! The breached-password check by k-anonymity range query (the Have I Been Pwned "range"
//! format): only the first 5 hex characters of the password's SHA-1 leave the process; the
//! service answers every suffix it knows under that prefix as `SUFFIX:COUNT` lines.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use sha1::{Digest, Sha1};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::normalize::nfkc;
use crate::BoxError;

/// A source of breached passwords. The HTTP one is [`HibpRange`](super::HibpRange) (feature
/// `breach-http`); tests and air-gapped deployments can answer from memory.
#[async_trait::async_trait]
pub trait BreachCheck: Send + Sync {
    /// How many times the password with this digest was seen in breaches (0: never).
    /// Implementations that ask a remote service send only [`PasswordDigest::prefix`].
    async fn times_seen(&self, digest: &PasswordDigest) -> Result<u64, BreachCheckFailed>;
}

/// The breached-password source could not answer (network, timeout, bad response).
#[derive(Debug, thiserror::Error)]
#[error("the breached-password check failed")]
pub struct BreachCheckFailed(#[source] pub BoxError);

/// What to do when the breached-password check cannot answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum OnBreachCheckFailure {
    /// Fail open: accept the password on the local rules alone (and log a warning). Sign-up
    /// keeps working while the service is down.
    #[default]
    Accept,
    /// Fail closed: refuse with [`PasswordDefect::BreachCheckUnavailable`](super::PasswordDefect::BreachCheckUnavailable).
    Refuse,
}

/// SHA-1 of a password's NFKC form, as 40 uppercase hex characters. A fast hash of a password
/// is as good as the password against a dictionary: `Debug` shows only the public prefix and
/// the digits are wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PasswordDigest([u8; 40]);

impl PasswordDigest {
    /// The digest of `password` after NFKC normalisation (the form that is also hashed).
    pub fn of(password: &SecretString) -> Self {
        Self::of_normalized(&nfkc(password.expose_secret()))
    }

    pub(crate) fn of_normalized(normalized: &str) -> Self {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let mut sha = Sha1::digest(normalized.as_bytes());
        let mut hex = [0u8; 40];
        for (i, byte) in sha.iter().enumerate() {
            hex[2 * i] = HEX[usize::from(byte >> 4)];
            hex[2 * i + 1] = HEX[usize::from(byte & 0xf)];
        }
        sha.zeroize();
        Self(hex)
    }

    /// The first 5 hex characters: the only part that is sent.
    pub fn prefix(&self) -> &str {
        self.hex(..5)
    }

    /// The other 35 hex characters, to look for in the response.
    pub fn suffix(&self) -> &str {
        self.hex(5..)
    }

    fn hex(&self, range: impl std::slice::SliceIndex<[u8], Output = [u8]>) -> &str {
        // Only ASCII hex digits are ever written into the array.
        std::str::from_utf8(&self.0[range]).unwrap_or_default()
    }
}

impl fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PasswordDigest({}…)", self.prefix())
    }
}

/// The count for `digest` in a range response (`SUFFIX:COUNT` lines, any case, CRLF or LF);
/// 0 when absent. Padding lines (count 0) and malformed lines are skipped.
pub fn times_seen_in_range(body: &str, digest: &PasswordDigest) -> u64 {
    body.lines()
        .filter_map(|line| line.trim().split_once(':'))
        .find(|(suffix, _)| suffix.eq_ignore_ascii_case(digest.suffix()))
        .and_then(|(_, count)| count.trim().parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_splits_into_the_public_prefix_and_the_private_suffix() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8
        let digest = PasswordDigest::of(&SecretString::from("password"));
        assert_eq!(digest.prefix(), "5BAA6");
        assert_eq!(digest.suffix(), "1E4C9B93F3F0682250B6CF8331B7EE68FD8");
        assert_eq!(format!("{digest:?}"), "PasswordDigest(5BAA6…)");
    }

    #[test]
    fn range_responses_are_searched_for_the_suffix() {
        let digest = PasswordDigest::of(&SecretString::from("password"));
        let body = "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n1e4c9b93f3f0682250b6cf8331b7ee68fd8:9659365\r\nnot a line\r\n";
        assert_eq!(times_seen_in_range(body, &digest), 9_659_365);
        assert_eq!(
            times_seen_in_range("0018A45C4D1DEF81644B54AB7F969B88D65:1", &digest),
            0
        );
        assert_eq!(
            times_seen_in_range("1E4C9B93F3F0682250B6CF8331B7EE68FD8:0", &digest),
            0
        );
    }
}

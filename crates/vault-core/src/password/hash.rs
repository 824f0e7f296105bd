//! Stored password hashes (PHC strings) and the blocking work on them: hashing with a fresh
//! salt, verifying against any Argon2 variant, and deciding whether a hash needs an upgrade.

use std::fmt;
use std::str::FromStr;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

use super::PasswordDefect;
use super::params::{
    HashParams, MAX_STORED_ITERATIONS, MAX_STORED_MEMORY_KIB, MAX_STORED_PARALLELISM,
};
use crate::Error;

/// Salt length for new hashes: 16 bytes, as RFC 9106 recommends.
const SALT_LEN: usize = 16;
/// Output length of new hashes (Argon2's default): 32 bytes.
const OUTPUT_LEN: usize = Params::DEFAULT_OUTPUT_LEN;

/// A stored password hash: a PHC string of Argon2 (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
///
/// Hashes made by other Argon2 implementations (argon2id, argon2i, argon2d; any parameters
/// within the verification limits) parse and verify, so users can be imported. Not a secret,
/// but not for display either: `Debug` shows only the algorithm and parameters.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Parses a stored PHC string; refuses anything that is not Argon2 with a salt and a hash.
    pub fn parse(phc: &str) -> Result<Self, Error> {
        parsed(phc)?;
        Ok(Self(phc.to_owned()))
    }

    /// The PHC string, to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The PHC string, to store.
    pub fn into_string(self) -> String {
        self.0
    }

    /// `$argon2id$v=19$m=19456,t=2,p=1`: everything before the salt.
    fn head(&self) -> &str {
        let mut end = 0;
        for (i, part) in self.0.split('$').enumerate().take(4) {
            end += part.len() + usize::from(i > 0);
        }
        &self.0[..end.min(self.0.len())]
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PasswordHash({}$…)", self.head())
    }
}

impl FromStr for PasswordHash {
    type Err = Error;
    fn from_str(phc: &str) -> Result<Self, Error> {
        Self::parse(phc)
    }
}

impl TryFrom<String> for PasswordHash {
    type Error = Error;
    fn try_from(phc: String) -> Result<Self, Error> {
        parsed(&phc)?;
        Ok(Self(phc))
    }
}

impl From<PasswordHash> for String {
    fn from(hash: PasswordHash) -> String {
        hash.0
    }
}

/// The outcome of a verification.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Verified {
    /// The password matches the stored hash. Always `false` for an unknown user.
    pub matched: bool,
    /// The password matched, but the stored hash uses another algorithm or other parameters
    /// than the current ones: store [`Passwords::hash`](super::Passwords::hash) of the same
    /// password now, while it is at hand.
    pub needs_rehash: bool,
}

impl Verified {
    pub(crate) const NO_MATCH: Self = Self {
        matched: false,
        needs_rehash: false,
    };
}

fn malformed() -> Error {
    Error::Password(PasswordDefect::MalformedHash)
}

/// Parses and checks a PHC string: an Argon2 variant, a known version, a salt and an output,
/// parameters within the verification limits.
fn parsed(phc: &str) -> Result<argon2::PasswordHash, Error> {
    let hash = argon2::PasswordHash::new(phc).map_err(|_| malformed())?;
    Algorithm::try_from(hash.algorithm.as_str()).map_err(|_| malformed())?;
    if let Some(version) = hash.version {
        Version::try_from(version).map_err(|_| malformed())?;
    }
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(malformed());
    }
    let params = Params::try_from(&hash).map_err(|_| malformed())?;
    if params.m_cost() > MAX_STORED_MEMORY_KIB
        || params.t_cost() > MAX_STORED_ITERATIONS
        || params.p_cost() > MAX_STORED_PARALLELISM
    {
        return Err(Error::Password(PasswordDefect::UnsupportedHash));
    }
    Ok(hash)
}

/// Hashes `password` (already NFKC) with a fresh salt from the OS CSPRNG. Blocking.
pub(crate) fn hash_blocking(params: &HashParams, password: &[u8]) -> Result<PasswordHash, Error> {
    use rand::TryRng;
    let mut salt = [0u8; SALT_LEN];
    rand::rngs::SysRng
        .try_fill_bytes(&mut salt)
        .map_err(|_| Error::Randomness)?;
    let argon2 = params.argon2().map_err(Error::Password)?;
    let hash = argon2
        .hash_password_with_salt(password, &salt)
        .map_err(|_| Error::Password(PasswordDefect::HashingFailed))?;
    Ok(PasswordHash(hash.to_string()))
}

/// Whether `password` matches `stored`, with the stored hash's own algorithm and parameters.
/// Blocking.
pub(crate) fn verify_blocking(stored: &PasswordHash, password: &[u8]) -> Result<bool, Error> {
    let hash = parsed(stored.as_str())?;
    // The parameters come from the PHC string; the instance's own are ignored.
    match Argon2::default().verify_password(password, &hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(_) => Err(Error::Password(PasswordDefect::HashingFailed)),
    }
}

/// Whether `stored` was made with anything but argon2id v19 at exactly `current`, a 16-byte
/// salt or more and a 32-byte output.
pub(crate) fn needs_rehash(stored: &PasswordHash, current: &HashParams) -> bool {
    let Ok(hash) = parsed(stored.as_str()) else {
        return true;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return true;
    };
    hash.algorithm.as_str() != "argon2id"
        || hash.version != Some(0x13)
        || params.m_cost() != current.memory_kib
        || params.t_cost() != current.iterations
        || params.p_cost() != current.parallelism
        || hash.salt.as_ref().is_none_or(|salt| salt.len() < SALT_LEN)
        || hash
            .hash
            .as_ref()
            .is_none_or(|output| output.len() != OUTPUT_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_the_algorithm_and_parameters_only() {
        let hash = hash_blocking(&HashParams::INSECURE_FAST, b"hunter2 but longer").unwrap();
        let debug = format!("{hash:?}");
        assert_eq!(debug, "PasswordHash($argon2id$v=19$m=64,t=1,p=1$…)");
    }

    #[test]
    fn other_algorithms_and_garbage_do_not_parse() {
        for phc in [
            "",
            "plaintext",
            "$2b$12$abcdefghijklmnopqrstuu3MVvA4cIbx6nU2fFrSF8Si4mnuxl4fe", // bcrypt
            "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ", // no output
            "$argon2id$v=7$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$YWJjZGVmZ2hpamtsbW5vcA",
        ] {
            assert!(
                matches!(
                    PasswordHash::parse(phc),
                    Err(Error::Password(PasswordDefect::MalformedHash))
                ),
                "{phc}"
            );
        }
    }

    #[test]
    fn hashes_beyond_the_verification_limits_are_refused() {
        let phc = "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$YWJjZGVmZ2hpamtsbW5vcA";
        assert!(matches!(
            PasswordHash::parse(phc),
            Err(Error::Password(PasswordDefect::UnsupportedHash))
        ));
    }

    #[test]
    fn serde_round_trips_and_validates() {
        let hash = hash_blocking(&HashParams::INSECURE_FAST, b"serialised").unwrap();
        let json = serde_json::to_string(&hash).unwrap();
        assert_eq!(serde_json::from_str::<PasswordHash>(&json).unwrap(), hash);
        assert!(serde_json::from_str::<PasswordHash>("\"not a hash\"").is_err());
    }
}

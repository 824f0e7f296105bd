//! Stored password hashes (PHC strings) and the blocking work on them: hashing with a fresh
//! salt, verifying against any Argon2 variant, and deciding whether a hash needs an upgrade.
//! Both compute in a slot's pooled memory (`memory`), never in a fresh allocation per hash.

use std::fmt;
use std::str::FromStr;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Params, Version};
use subtle::ConstantTimeEq;

use super::PasswordDefect;
use super::memory::Slot;
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

fn hashing_failed() -> Error {
    Error::Password(PasswordDefect::HashingFailed)
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

/// Hashes `password` (already NFKC) with a fresh salt from the OS CSPRNG, in the slot's
/// memory. Blocking.
pub(crate) fn hash_blocking(
    params: &HashParams,
    password: &[u8],
    slot: &mut Slot,
) -> Result<PasswordHash, Error> {
    use rand::TryRng;
    let mut salt = [0u8; SALT_LEN];
    rand::rngs::SysRng
        .try_fill_bytes(&mut salt)
        .map_err(|_| Error::Randomness)?;
    hash_with_salt(params, password, &salt, slot)
}

fn hash_with_salt(
    params: &HashParams,
    password: &[u8],
    salt: &[u8],
    slot: &mut Slot,
) -> Result<PasswordHash, Error> {
    let argon2 = params.argon2().map_err(Error::Password)?;
    let mut output = [0u8; OUTPUT_LEN];
    slot.with_blocks(argon2.params().block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password, salt, &mut output, blocks)
    })
    .map_err(|_| hashing_failed())?;
    let phc = argon2::PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(|_| hashing_failed())?,
        salt: Some(Salt::new(salt).map_err(|_| hashing_failed())?),
        hash: Some(Output::new(&output).map_err(|_| hashing_failed())?),
    };
    Ok(PasswordHash(phc.to_string()))
}

/// Whether `password` matches `stored`: Argon2 again with the stored hash's own algorithm,
/// version, parameters, salt and output length, in the slot's memory, compared in constant
/// time. Blocking.
pub(crate) fn verify_blocking(
    stored: &PasswordHash,
    password: &[u8],
    slot: &mut Slot,
) -> Result<bool, Error> {
    let hash = parsed(stored.as_str())?;
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return Err(malformed());
    };
    let algorithm = Algorithm::try_from(hash.algorithm.as_str()).map_err(|_| malformed())?;
    // No `v=` field means version 0x13, as in the reference implementation and argon2.
    let version = hash
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|_| malformed())?
        .unwrap_or_default();
    // Carries the stored output length, so the output computed below has the same.
    let params = Params::try_from(&hash).map_err(|_| malformed())?;
    let argon2 = Argon2::new(algorithm, version, params);
    let mut computed = [0u8; Output::MAX_LENGTH];
    let computed = &mut computed[..expected.len()];
    slot.with_blocks(argon2.params().block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password, salt, computed, blocks)
    })
    .map_err(|_| hashing_failed())?;
    Ok(computed.ct_eq(expected.as_bytes()).into())
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
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;
    use crate::password::memory::HashingSlots;

    fn in_a_slot<T>(work: impl FnOnce(&mut Slot) -> T) -> T {
        let slots = HashingSlots::new(1, HashParams::INSECURE_FAST.memory_kib as usize);
        work(&mut slots.try_acquire().unwrap())
    }

    fn hash_blocking(params: &HashParams, password: &[u8]) -> Result<PasswordHash, Error> {
        in_a_slot(|slot| super::hash_blocking(params, password, slot))
    }

    #[test]
    fn pooled_hashes_are_exactly_the_argon2_crateʼs() {
        let salt = *b"sixteen byte sal";
        for params in [
            HashParams::INSECURE_FAST,
            HashParams {
                memory_kib: 256,
                iterations: 3,
                parallelism: 2,
            },
        ] {
            // Bigger than the slot's buffer for the second: a temporary buffer, same result.
            let ours = in_a_slot(|slot| hash_with_salt(&params, b"same input", &salt, slot));
            let theirs = params
                .argon2()
                .unwrap()
                .hash_password_with_salt(b"same input", &salt)
                .unwrap()
                .to_string();
            assert_eq!(ours.unwrap().as_str(), theirs);
        }
    }

    #[test]
    fn pooled_verification_agrees_with_the_argon2_crate() {
        let stored = hash_blocking(&HashParams::INSECURE_FAST, b"right password").unwrap();
        let parsed = argon2::PasswordHash::new(stored.as_str()).unwrap();
        for (password, expected) in [(&b"right password"[..], true), (b"wrong password", false)] {
            let ours = in_a_slot(|slot| verify_blocking(&stored, password, slot)).unwrap();
            let theirs = Argon2::default().verify_password(password, &parsed).is_ok();
            assert_eq!((ours, theirs), (expected, expected));
        }
    }

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

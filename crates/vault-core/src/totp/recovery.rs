//! Recovery codes: ten single-use codes of 80 bits each, shown once and stored as salted
//! SHA-256 hashes. They carry enough entropy that a fast hash is right (Argon2 is for
//! passwords), and the user id as salt keeps one brute-force run from covering every user.
//! No server key is involved, so rotating the sealing key leaves them valid.

use secrecy::SecretString;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use super::sealing::fill_random;
use crate::{Error, UserId};

/// How many codes one generation yields.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// Crockford's base32, lowercase: no `i`, `l`, `o`, `u`, so nothing reads as something else.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Symbols per code: 80 bits / 5 bits per symbol.
const SYMBOLS: usize = 16;
/// Random bytes per code.
const CODE_BYTES: usize = 10;
/// Symbols per dash-separated group in the displayed form.
const GROUP: usize = 4;
/// The longest input looked at.
const MAX_INPUT: usize = 64;
/// Domain separation of the hash.
const DOMAIN: &[u8] = b"vault/totp-recovery-code/v1";

crate::digest::secret_digest! {
    /// The stored hash of one recovery code: SHA-256 over a domain tag, the user id and the
    /// normalised code. Compared only in constant time; `Debug` prints `[redacted]`.
    pub struct RecoveryCodeHash;
}

/// Ten new recovery codes for `user` (`xxxx-xxxx-xxxx-xxxx`, 80 bits each from the OS
/// CSPRNG), and their hashes in the same order. Show the codes once; store the hashes,
/// replacing any earlier set.
pub fn generate_recovery_codes(
    user: UserId,
) -> Result<(Vec<SecretString>, Vec<RecoveryCodeHash>), Error> {
    let mut codes = Vec::with_capacity(RECOVERY_CODE_COUNT);
    let mut hashes: Vec<RecoveryCodeHash> = Vec::with_capacity(RECOVERY_CODE_COUNT);
    while codes.len() < RECOVERY_CODE_COUNT {
        let mut bytes = Zeroizing::new([0u8; CODE_BYTES]);
        fill_random(&mut bytes[..])?;
        let symbols = to_symbols(&bytes);
        let hash = hash(user, &symbols);
        // A repeat is a 2^-80 event; skipping it keeps "ten distinct codes" unconditional.
        if hashes.contains(&hash) {
            continue;
        }
        let mut shown = String::with_capacity(SYMBOLS + SYMBOLS / GROUP);
        for (i, symbol) in symbols.iter().enumerate() {
            if i > 0 && i % GROUP == 0 {
                shown.push('-');
            }
            shown.push(char::from(*symbol));
        }
        codes.push(SecretString::from(shown));
        hashes.push(hash);
    }
    Ok((codes, hashes))
}

/// The index in `stored` of the hash `code` matches, or `None`. Pass only the unused hashes
/// (or mark the returned one used at once): each code works once.
///
/// The input is normalised: case, spaces and dashes are ignored, and `i`/`l` read as `1`,
/// `o` as `0`. Every stored hash is compared in constant time, with no early exit.
pub fn match_recovery_code(user: UserId, code: &str, stored: &[RecoveryCodeHash]) -> Option<usize> {
    let symbols = normalise(code)?;
    let candidate = hash(user, &symbols);
    let mut found = Choice::from(0);
    let mut index = 0u64;
    for (i, hash) in stored.iter().enumerate() {
        let equal = candidate.0.ct_eq(&hash.0);
        // Keep the first match; later equal hashes (none, in practice) change nothing.
        index.conditional_assign(&(i as u64), equal & !found);
        found |= equal;
    }
    bool::from(found).then_some(index as usize)
}

/// 80 bits as 16 base32 symbols, most significant first.
fn to_symbols(bytes: &[u8; CODE_BYTES]) -> Zeroizing<[u8; SYMBOLS]> {
    let mut wide = [0u8; 16];
    wide[16 - CODE_BYTES..].copy_from_slice(bytes);
    let value = Zeroizing::new(u128::from_be_bytes(wide));
    let mut symbols = Zeroizing::new([0u8; SYMBOLS]);
    for (i, symbol) in symbols.iter_mut().enumerate() {
        let shift = 5 * (SYMBOLS - 1 - i);
        *symbol = ALPHABET[((*value >> shift) & 0x1f) as usize];
    }
    symbols
}

/// The canonical 16 symbols of a typed code, or `None` when it cannot be one.
fn normalise(input: &str) -> Option<Zeroizing<[u8; SYMBOLS]>> {
    if input.len() > MAX_INPUT {
        return None;
    }
    let mut symbols = Zeroizing::new([0u8; SYMBOLS]);
    let mut len = 0;
    for byte in input.bytes() {
        let symbol = match byte.to_ascii_lowercase() {
            b' ' | b'-' | b'\t' => continue,
            b'i' | b'l' => b'1',
            b'o' => b'0',
            other if ALPHABET.contains(&other) => other,
            _ => return None,
        };
        if len == SYMBOLS {
            return None;
        }
        symbols[len] = symbol;
        len += 1;
    }
    (len == SYMBOLS).then_some(symbols)
}

fn hash(user: UserId, symbols: &[u8; SYMBOLS]) -> RecoveryCodeHash {
    let digest = Sha256::new()
        .chain_update(DOMAIN)
        .chain_update(user.as_uuid().as_bytes())
        .chain_update(symbols)
        .finalize();
    RecoveryCodeHash(digest.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_cover_all_eighty_bits() {
        assert_eq!(&*to_symbols(&[0; 10]), b"0000000000000000");
        assert_eq!(&*to_symbols(&[0xff; 10]), b"zzzzzzzzzzzzzzzz");
        assert_eq!(
            &*to_symbols(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            b"0000000000000001"
        );
        assert_eq!(
            &*to_symbols(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            b"g000000000000000"
        );
    }

    #[test]
    fn normalisation_reads_what_people_type() {
        let canonical = b"01abcdefgh1jk0mn";
        for typed in [
            "01ab-cdef-gh1j-k0mn",
            "01AB CDEF GH1J K0MN",
            "olab-cdef-ghij-kOmn",
            "  01abcdefgh1jk0mn ",
        ] {
            assert_eq!(normalise(typed).as_deref(), Some(canonical), "{typed:?}");
        }
        for bad in [
            "",
            "01ab-cdef-gh1j-k0m",
            "01ab-cdef-gh1j-k0mnp",
            "01ab-cdef-gh1j-k0mu",
            "01ab_cdef_gh1j_k0mn",
        ] {
            assert!(normalise(bad).is_none(), "{bad:?}");
        }
    }
}

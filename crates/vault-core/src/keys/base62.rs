//! The base62 alphabet of keys: characters that survive headers, URLs, shells and a
//! double-click. Random characters come straight from the operating system's CSPRNG.

use rand::TryRng;
use rand::rngs::SysRng;

use crate::Error;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Whether `b` is a base62 character.
pub(crate) fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn value(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'A'..=b'Z' => Some(u64::from(b - b'A') + 10),
        b'a'..=b'z' => Some(u64::from(b - b'a') + 36),
        _ => None,
    }
}

/// Fills `out` with uniformly random base62 characters from the OS CSPRNG.
///
/// Bytes of 248 and above are dropped so that `byte % 62` stays uniform (248 = 4 * 62).
pub(crate) fn fill_random(out: &mut [u8]) -> Result<(), Error> {
    let mut filled = 0;
    let mut pool = [0u8; 64];
    while filled < out.len() {
        SysRng
            .try_fill_bytes(&mut pool)
            .map_err(|_| Error::Randomness)?;
        for byte in pool {
            if filled == out.len() {
                break;
            }
            if byte < 248 {
                out[filled] = ALPHABET[usize::from(byte % 62)];
                filled += 1;
            }
        }
    }
    Ok(())
}

/// Writes `n` as exactly `N` base62 digits, most significant first.
pub(crate) fn encode_fixed<const N: usize>(mut n: u64) -> [u8; N] {
    let mut out = [b'0'; N];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Reads base62 digits; `None` on a foreign character or overflow.
pub(crate) fn decode(digits: &[u8]) -> Option<u64> {
    digits
        .iter()
        .try_fold(0u64, |acc, b| acc.checked_mul(62)?.checked_add(value(*b)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_encoding_round_trips() {
        for n in [0u64, 1, 61, 62, 12_345_678, u64::from(u32::MAX)] {
            let digits = encode_fixed::<6>(n);
            assert_eq!(decode(&digits), Some(n));
        }
        assert_eq!(&encode_fixed::<3>(61), b"00z");
        assert_eq!(decode(b"0-"), None);
    }

    #[test]
    fn random_characters_are_base62_and_vary() {
        let mut a = [0u8; 43];
        let mut b = [0u8; 43];
        fill_random(&mut a).unwrap();
        fill_random(&mut b).unwrap();
        assert!(a.iter().all(|c| is_base62(*c)));
        assert_ne!(a, b);
    }
}

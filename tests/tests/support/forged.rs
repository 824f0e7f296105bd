//! Forged keys: well-formed production keys (prefix, environment tag, a fresh random id, a
//! random secret, a correct checksum) that no store issued. The checksum is a CRC32 over the
//! text, public arithmetic, so anyone can mint them.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A forged `vlt_prod_` key with a fresh random id.
pub fn key() -> String {
    let mut text = String::from("vlt_prod_");
    // 12 characters of id and 43 of secret (a v4 UUID is 16 mostly random bytes).
    let random = (0..4).flat_map(|_| uuid::Uuid::new_v4().into_bytes());
    text.extend(
        random
            .take(12 + 43)
            .map(|b| char::from(ALPHABET[usize::from(b) % 62])),
    );
    let mut crc = crc32fast::hash(text.as_bytes());
    let mut checksum = [b'0'; 6];
    for slot in checksum.iter_mut().rev() {
        *slot = ALPHABET[(crc % 62) as usize];
        crc /= 62;
    }
    text.extend(checksum.iter().map(|b| char::from(*b)));
    text
}

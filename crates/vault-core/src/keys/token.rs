//! The API key format: `{prefix}_{env}_{key id}{secret}{checksum}`.
//!
//! A vendor prefix secret scanners can match, the environment tag (`dev`, `stg`, `prod`), the
//! public 12-character key id, 43 base62 characters of secret (256 bits) and 6 base62
//! characters of CRC32 over everything before them. A CRC32 over the text catches every
//! single-character change, so typos and garbage are rejected without touching the store.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::environment::Environment;
use crate::ids::KeyId;
use crate::keys::base62;

/// Characters of secret: 43 base62 characters hold 256.03 bits.
pub const SECRET_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
const BODY_LEN: usize = KeyId::LEN + SECRET_LEN + CHECKSUM_LEN;

/// The vendor prefix of keys (default `vlt`): 2 to 12 lowercase ASCII letters and digits,
/// starting with a letter.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KeyPrefix(Box<str>);

impl KeyPrefix {
    /// Validates a prefix.
    pub fn new(prefix: &str) -> Result<Self, Error> {
        let bytes = prefix.as_bytes();
        let valid = (2..=12).contains(&bytes.len())
            && bytes[0].is_ascii_lowercase()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if valid {
            Ok(Self(prefix.into()))
        } else {
            Err(Error::InvalidKeyPrefix(prefix.chars().take(32).collect()))
        }
    }

    /// The prefix text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The exact length of a token of `env` under this prefix.
    pub fn token_len(&self, env: Environment) -> usize {
        self.0.len() + 1 + env.tag().len() + 1 + BODY_LEN
    }
}

impl Default for KeyPrefix {
    fn default() -> Self {
        Self("vlt".into())
    }
}

/// What is wrong with a string that is not a key of this library.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenDefect {
    /// The string does not start with the configured prefix and `_`.
    #[error("it does not start with the key prefix")]
    WrongPrefix,
    /// The environment tag is missing or unknown.
    #[error("the environment tag is missing or unknown")]
    UnknownEnvironment,
    /// The string is too short or too long.
    #[error("it has the wrong length")]
    WrongLength,
    /// A character outside base62 where base62 is expected.
    #[error("it holds a character outside base62")]
    BadCharacter,
    /// The checksum does not match: a typo or a made-up key.
    #[error("the checksum does not match")]
    BadChecksum,
}

/// A parsed API key, borrowed from the presented text. The secret is only reachable through
/// [`KeyToken::secret`]; `Debug` and `Display` redact it.
#[derive(Clone, Copy)]
pub struct KeyToken<'a> {
    environment: Environment,
    key_id: KeyId,
    secret: &'a str,
}

impl<'a> KeyToken<'a> {
    /// Parses `text` as a key under `prefix`. Never panics; every way it can be wrong has a
    /// [`TokenDefect`].
    pub fn parse(text: &'a str, prefix: &KeyPrefix) -> Result<Self, TokenDefect> {
        let rest = text
            .strip_prefix(prefix.as_str())
            .and_then(|rest| rest.strip_prefix('_'))
            .ok_or(TokenDefect::WrongPrefix)?;
        // Tags are at most 4 characters: look for their `_` only that far.
        let separator = rest
            .bytes()
            .take(5)
            .position(|b| b == b'_')
            .ok_or(TokenDefect::UnknownEnvironment)?;
        let (tag, body) = (&rest[..separator], &rest[separator + 1..]);
        let environment = Environment::from_tag(tag).ok_or(TokenDefect::UnknownEnvironment)?;
        if body.len() != BODY_LEN {
            return Err(TokenDefect::WrongLength);
        }
        if !body.bytes().all(base62::is_base62) {
            return Err(TokenDefect::BadCharacter);
        }
        // All ASCII from here: byte offsets are character boundaries.
        let (signed, checksum) = text.split_at(text.len() - CHECKSUM_LEN);
        let expected = base62::decode(checksum.as_bytes()).ok_or(TokenDefect::BadChecksum)?;
        if expected != u64::from(crc32fast::hash(signed.as_bytes())) {
            return Err(TokenDefect::BadChecksum);
        }
        let mut id = [0u8; KeyId::LEN];
        id.copy_from_slice(&body.as_bytes()[..KeyId::LEN]);
        // Checked above: every byte of the body is base62.
        let key_id = KeyId::from_checked(id);
        let secret = &body[KeyId::LEN..KeyId::LEN + SECRET_LEN];
        Ok(Self {
            environment,
            key_id,
            secret,
        })
    }

    /// The environment named by the tag (a pre-check; the stored record decides).
    pub fn environment(&self) -> Environment {
        self.environment
    }

    /// The public key id.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// The secret characters: hash them, never log them.
    pub fn secret(&self) -> &'a str {
        self.secret
    }
}

impl fmt::Debug for KeyToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyToken")
            .field("environment", &self.environment)
            .field("key_id", &self.key_id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl fmt::Display for KeyToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}[redacted]", self.environment.tag(), self.key_id)
    }
}

/// A freshly generated key: the full token text, held as a secret until it is shown once.
pub(crate) struct GeneratedToken {
    pub(crate) key_id: KeyId,
    pub(crate) token: SecretString,
}

impl GeneratedToken {
    /// The secret characters, for hashing.
    pub(crate) fn secret(&self) -> &str {
        let text = self.token.expose_secret();
        let end = text.len() - CHECKSUM_LEN;
        &text[end - SECRET_LEN..end]
    }
}

/// Generates a new token for `env` under `prefix`, from the OS CSPRNG.
pub(crate) fn generate(prefix: &KeyPrefix, env: Environment) -> Result<GeneratedToken, Error> {
    let key_id = KeyId::random()?;
    let mut secret = zeroize::Zeroizing::new([0u8; SECRET_LEN]);
    base62::fill_random(secret.as_mut())?;
    let mut text = String::with_capacity(prefix.token_len(env));
    text.push_str(prefix.as_str());
    text.push('_');
    text.push_str(env.tag());
    text.push('_');
    text.push_str(key_id.as_str());
    text.extend(secret.iter().map(|b| char::from(*b)));
    let checksum =
        base62::encode_fixed::<CHECKSUM_LEN>(u64::from(crc32fast::hash(text.as_bytes())));
    text.extend(checksum.iter().map(|b| char::from(*b)));
    Ok(GeneratedToken {
        key_id,
        token: SecretString::from(text),
    })
}

/// Whether `haystack` contains something shaped like a key under `prefix` with a valid
/// checksum. Used to refuse payloads (callbacks, logs) that would leak a key.
pub fn contains_token(haystack: &str, prefix: &KeyPrefix) -> bool {
    let needle = prefix.as_str();
    haystack.match_indices(needle).any(|(start, _)| {
        // A token starts at a word boundary and runs over [A-Za-z0-9_].
        let boundary = haystack[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let end = haystack[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(haystack.len(), |len| start + len);
        boundary && KeyToken::parse(&haystack[start..end], prefix).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh(env: Environment) -> String {
        generate(&KeyPrefix::default(), env)
            .unwrap()
            .token
            .expose_secret()
            .to_owned()
    }

    #[test]
    fn generated_tokens_parse_back() {
        let prefix = KeyPrefix::default();
        for env in Environment::ALL {
            let generated = generate(&prefix, env).unwrap();
            let text = generated.token.expose_secret();
            assert_eq!(text.len(), prefix.token_len(env));
            let token = KeyToken::parse(text, &prefix).unwrap();
            assert_eq!(token.environment(), env);
            assert_eq!(token.key_id(), generated.key_id);
            assert_eq!(token.secret(), generated.secret());
            assert_eq!(token.secret().len(), SECRET_LEN);
            assert!(text.starts_with(&format!("vlt_{}_", env.tag())));
        }
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let prefix = KeyPrefix::default();
        let text = fresh(Environment::Production);
        let replacements: Vec<char> = ('0'..='9')
            .chain('A'..='Z')
            .chain('a'..='z')
            .chain(['_', '-', ' ', '.', 'é'])
            .collect();
        let chars: Vec<char> = text.chars().collect();
        let mut tried = 0;
        for i in 0..chars.len() {
            for &r in &replacements {
                if r == chars[i] {
                    continue;
                }
                let mut changed = chars.clone();
                changed[i] = r;
                let changed: String = changed.into_iter().collect();
                assert!(
                    KeyToken::parse(&changed, &prefix).is_err(),
                    "position {i} changed to {r:?} was accepted"
                );
                tried += 1;
            }
        }
        assert!(tried > 60 * 60);
    }

    #[test]
    fn each_defect_is_named() {
        let prefix = KeyPrefix::default();
        let text = fresh(Environment::Staging);
        let parse = |s: &str| KeyToken::parse(s, &prefix).map(|_| ());
        assert_eq!(parse(""), Err(TokenDefect::WrongPrefix));
        assert_eq!(
            parse(&text.replacen("vlt", "abc", 1)),
            Err(TokenDefect::WrongPrefix)
        );
        assert_eq!(
            parse(&text.replacen("_stg_", "_xyz_", 1)),
            Err(TokenDefect::UnknownEnvironment)
        );
        assert_eq!(parse("vlt_stg"), Err(TokenDefect::UnknownEnvironment));
        assert_eq!(
            parse(&text[..text.len() - 1]),
            Err(TokenDefect::WrongLength)
        );
        assert_eq!(parse(&format!("{text}x")), Err(TokenDefect::WrongLength));
        let mut bad_char = text.clone();
        bad_char.replace_range(20..21, "-");
        assert_eq!(parse(&bad_char), Err(TokenDefect::BadCharacter));
        let last = text.chars().last().unwrap();
        let swapped = if last == '0' { '1' } else { '0' };
        let bad_sum = format!("{}{swapped}", &text[..text.len() - 1]);
        assert_eq!(parse(&bad_sum), Err(TokenDefect::BadChecksum));
        // A checksum bigger than any u32 is not a crash.
        let huge = format!("{}zzzzzz", &text[..text.len() - 6]);
        assert_eq!(parse(&huge), Err(TokenDefect::BadChecksum));
    }

    #[test]
    fn a_custom_prefix_is_enforced() {
        let prefix = KeyPrefix::new("atx").unwrap();
        let text = generate(&prefix, Environment::Development).unwrap();
        let text = text.token.expose_secret();
        assert!(text.starts_with("atx_dev_"));
        assert!(KeyToken::parse(text, &prefix).is_ok());
        assert_eq!(
            KeyToken::parse(text, &KeyPrefix::default()).map(|_| ()),
            Err(TokenDefect::WrongPrefix)
        );
        for bad in ["", "a", "ATX", "a_b", "1ab", "abcdefghijklm"] {
            assert!(KeyPrefix::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn debug_and_display_redact_the_secret() {
        let prefix = KeyPrefix::default();
        let text = fresh(Environment::Production);
        let token = KeyToken::parse(&text, &prefix).unwrap();
        for shown in [format!("{token:?}"), format!("{token}")] {
            assert!(!shown.contains(token.secret()), "{shown}");
            assert!(shown.contains("[redacted]"));
            assert!(shown.contains(token.key_id().as_str()));
        }
    }

    #[test]
    fn keys_are_found_inside_text() {
        let prefix = KeyPrefix::default();
        let text = fresh(Environment::Production);
        assert!(contains_token(&format!("{{\"note\":\"{text}\"}}"), &prefix));
        assert!(contains_token(&text, &prefix));
        assert!(!contains_token("vlt_prod_nothing here", &prefix));
        assert!(!contains_token(&format!("x{text}"), &prefix));
        let mut broken = text.clone();
        broken.pop();
        broken.push('!');
        assert!(!contains_token(&broken, &prefix));
    }
}

//! The rules for a new password, after NIST SP 800-63B rev 4: a length floor (15 characters
//! when the password is the only factor, 8 with a second one), a generous ceiling, no
//! composition rules, no truncation; refuse common, predictable and personal passwords.
//! Length is counted in code points after NFKC normalisation.

use secrecy::{ExposeSecret, SecretString};

use super::normalize::{folded, nfkc};
use super::{PasswordDefect, blocklist, patterns};

/// What is known about the account whose password is being chosen.
#[derive(Clone, Copy, Default)]
pub struct PolicyContext<'a> {
    /// The account's email address, if known: the password must not contain it or its local part.
    pub email: Option<&'a str>,
    /// The account holder's name, if known: the password must not contain it.
    pub name: Option<&'a str>,
    /// Whether a second factor (TOTP) is on, which lowers the minimum length.
    pub two_factor: bool,
}

impl<'a> PolicyContext<'a> {
    /// A context with the account's email, name and whether a second factor is on.
    pub fn new(email: Option<&'a str>, name: Option<&'a str>, two_factor: bool) -> Self {
        Self {
            email,
            name,
            two_factor,
        }
    }
}

impl std::fmt::Debug for PolicyContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Personal data stays out of logs.
        f.debug_struct("PolicyContext")
            .field("email", &self.email.map(|_| "[redacted]"))
            .field("name", &self.name.map(|_| "[redacted]"))
            .field("two_factor", &self.two_factor)
            .finish()
    }
}

/// Length limits of new passwords, in code points after NFKC normalisation.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct PasswordPolicy {
    /// Minimum when the password is the only factor (NIST: 15).
    pub min_single_factor: usize,
    /// Minimum when a second factor is on (NIST: 8).
    pub min_with_second_factor: usize,
    /// Maximum (NIST: at least 64 must be allowed). Bounds the cost of normalising and hashing.
    pub max: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_single_factor: 15,
            min_with_second_factor: 8,
            max: 256,
        }
    }
}

/// Email and name fragments shorter than this are not searched for: "Al" or "jo@…" would
/// refuse half of all passphrases.
const MIN_PERSONAL_FRAGMENT: usize = 4;

impl PasswordPolicy {
    /// Checks a new password against every local rule (not the breached-password check, which
    /// [`Passwords::check_new`](super::Passwords::check_new) adds). Returns the first defect.
    pub fn check(
        &self,
        password: &SecretString,
        context: &PolicyContext<'_>,
    ) -> Result<(), PasswordDefect> {
        let raw = password.expose_secret();
        // NFKC can shrink a string, but not by 16 bytes per code point: refuse the absurd
        // before spending time normalising it.
        if raw.len() > self.max.saturating_mul(16) {
            return Err(PasswordDefect::TooLong { max: self.max });
        }
        self.check_normalized(&nfkc(raw), context)
    }

    /// The rules on the NFKC form.
    pub(crate) fn check_normalized(
        &self,
        normalized: &str,
        context: &PolicyContext<'_>,
    ) -> Result<(), PasswordDefect> {
        let length = normalized.chars().count();
        let min = if context.two_factor {
            self.min_with_second_factor
        } else {
            self.min_single_factor
        };
        if length < min {
            return Err(PasswordDefect::TooShort { min });
        }
        if length > self.max {
            return Err(PasswordDefect::TooLong { max: self.max });
        }
        let folded = folded(normalized);
        if context
            .email
            .is_some_and(|email| contains_email(&folded, email))
        {
            return Err(PasswordDefect::ContainsEmail);
        }
        if context
            .name
            .is_some_and(|name| contains_name(&folded, name))
        {
            return Err(PasswordDefect::ContainsName);
        }
        if is_common(&folded) {
            return Err(PasswordDefect::Common);
        }
        if let Some(defect) = patterns::predictable(&folded) {
            return Err(defect);
        }
        Ok(())
    }
}

/// The email in a password, as NIST SP 800-63B asks (context words, not every substring):
/// the whole address or the whole local part anywhere, or, as a whole word of the password,
/// a word of the local part (`ada.lovelace+x` gives `ada`, `lovelace`) or the domain's first
/// label (`example`). `race.team@…` thus refuses `race4ever` but not `embrace the tide`.
fn contains_email(folded_password: &str, email: &str) -> bool {
    let email = folded(&nfkc(email.trim()));
    let (local, domain) = email.rsplit_once('@').unwrap_or((email.as_str(), ""));
    let local = local.split('+').next().unwrap_or(local);
    let label = domain.split('.').next().unwrap_or_default();
    let anywhere = [email.as_str(), local]
        .into_iter()
        .any(|whole| long_enough(whole) && folded_password.contains(whole));
    anywhere
        || local
            .split(|c: char| !c.is_alphanumeric())
            .chain(std::iter::once(label))
            .any(|word| has_word(folded_password, word))
}

/// The name in a password: the whole name (with or without its spaces) anywhere, or one of
/// its words as a whole word of the password.
fn contains_name(folded_password: &str, name: &str) -> bool {
    let name = folded(&nfkc(name.trim()));
    let joined: String = name.chars().filter(|c| c.is_alphanumeric()).collect();
    let anywhere = [name.as_str(), joined.as_str()]
        .into_iter()
        .any(|whole| long_enough(whole) && folded_password.contains(whole));
    anywhere
        || name
            .split(|c: char| !c.is_alphanumeric())
            .any(|word| has_word(folded_password, word))
}

/// Whether `word` (long enough) is a whole word of the password, cut at anything that is not
/// a letter or a digit, or at anything that is not a letter (`lovelace` in `Lovelace1815`).
fn has_word(folded_password: &str, word: &str) -> bool {
    long_enough(word)
        && (folded_password
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| w == word)
            || folded_password
                .split(|c: char| !c.is_alphabetic())
                .any(|w| w == word))
}

fn long_enough(fragment: &str) -> bool {
    fragment.chars().count() >= MIN_PERSONAL_FRAGMENT
}

/// On the list as is, or a listed password followed (or preceded) by a predictable run of
/// non-letters: `football12345678`, `!!!!iloveyou`.
fn is_common(folded: &str) -> bool {
    if blocklist::contains(folded) {
        return true;
    }
    let core_end = folded.trim_end_matches(|c: char| !c.is_alphabetic()).len();
    let (core, suffix) = folded.split_at(core_end);
    if !suffix.is_empty() && blocklist::contains(core) && patterns::is_predictable(suffix) {
        return true;
    }
    let prefix_len = folded.len()
        - folded
            .trim_start_matches(|c: char| !c.is_alphabetic())
            .len();
    let (prefix, core) = folded.split_at(prefix_len);
    !prefix.is_empty() && blocklist::contains(core) && patterns::is_predictable(prefix)
}

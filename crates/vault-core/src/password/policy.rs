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

/// Whole address, local part, and the words of the local part (`ada.lovelace+x` gives `ada`,
/// `lovelace`), each when long enough.
fn contains_email(folded_password: &str, email: &str) -> bool {
    let email = folded(&nfkc(email.trim()));
    let local = email
        .rsplit_once('@')
        .map_or(email.as_str(), |(local, _)| local);
    let local = local.split('+').next().unwrap_or(local);
    std::iter::once(email.as_str())
        .chain(std::iter::once(local))
        .chain(local.split(|c: char| !c.is_alphanumeric()))
        .any(|fragment| long_enough(fragment) && folded_password.contains(fragment))
}

/// Whole name (with or without its spaces) and each of its words, when long enough.
fn contains_name(folded_password: &str, name: &str) -> bool {
    let name = folded(&nfkc(name.trim()));
    let joined: String = name.chars().filter(|c| c.is_alphanumeric()).collect();
    std::iter::once(name.as_str())
        .chain(std::iter::once(joined.as_str()))
        .chain(name.split(|c: char| !c.is_alphanumeric()))
        .any(|fragment| long_enough(fragment) && folded_password.contains(fragment))
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

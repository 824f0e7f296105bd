//! Email addresses: trimmed, validated, and compared case-insensitively.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::accounts::AccountDefect;

/// A syntactically valid email address, as typed (trimmed). Two addresses are the same account
/// when their [`Email::normalized`] forms are equal (ASCII case-insensitive).
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email {
    display: Box<str>,
    normalized: Box<str>,
}

impl Email {
    /// Trims and validates: one `@`, a local part of 1 to 64 characters without spaces or
    /// control characters, a domain of dot-separated labels (letters, digits, `-`) with at
    /// least one dot, 254 characters in all.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let invalid = || Error::Account(AccountDefect::InvalidEmail);
        if text.is_empty() || text.len() > 254 {
            return Err(invalid());
        }
        let (local, domain) = text.rsplit_once('@').ok_or_else(invalid)?;
        let local_ok = (1..=64).contains(&local.len())
            && !local.contains('@')
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !"<>()[]\\,;:\"".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                (1..=63).contains(&label.len())
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !(local_ok && domain_ok) {
            return Err(invalid());
        }
        Ok(Self {
            display: text.into(),
            normalized: text.to_ascii_lowercase().into(),
        })
    }

    /// The address as typed (trimmed).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The form accounts are unique by.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The part before the `@` (for the password policy).
    pub fn local_part(&self) -> &str {
        self.normalized.rsplit_once('@').map_or("", |(l, _)| l)
    }
}

impl PartialEq for Email {
    fn eq(&self, other: &Self) -> bool {
        self.normalized == other.normalized
    }
}

impl Eq for Email {}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.display)
    }
}

impl TryFrom<String> for Email {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        Self::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.display.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_addresses_are_trimmed_and_compared_without_case() {
        let a = Email::parse("  Ada.Lovelace@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "Ada.Lovelace@Example.COM");
        assert_eq!(a.normalized(), "ada.lovelace@example.com");
        assert_eq!(a, Email::parse("ada.lovelace@example.com").unwrap());
        assert_eq!(a.local_part(), "ada.lovelace");
        for ok in ["a@b.co", "first+tag@sub.domain.org", "x_y-z@a-b.io"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn malformed_addresses_are_refused() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        for bad in [
            "",
            "   ",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a b@example.com",
            "a@exa mple.com",
            "a@@example.com",
            "a@-example.com",
            "a@example-.com",
            ".a@example.com",
            "a..b@example.com",
            "a@example..com",
            "a\n@example.com",
            "<a>@example.com",
            &long_local,
        ] {
            assert!(
                matches!(
                    Email::parse(bad),
                    Err(Error::Account(AccountDefect::InvalidEmail))
                ),
                "{bad:?} accepted"
            );
        }
    }
}

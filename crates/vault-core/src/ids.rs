//! Identifiers of the domain: workspaces, users, products and API keys.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;
use crate::keys::base62;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random (version 4) id.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps an existing UUID (from a store).
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                Uuid::parse_str(s).map(Self).map_err(|_| Error::InvalidId {
                    kind: $kind,
                    value: s.chars().take(64).collect(),
                })
            }
        }
    };
}

/// Id types over a UUID, for every aggregate that needs one (access uses it for groups and
/// invitations).
pub(crate) use uuid_id;

uuid_id!(
    /// A workspace: the tenant that owns members, subscriptions and API keys.
    WorkspaceId,
    "workspace"
);
uuid_id!(
    /// A user account: a personal identity.
    UserId,
    "user"
);

/// A product of the platform, as a slug: `submit`, `manage`, `prepare`.
///
/// 1 to 32 characters of `a-z`, `0-9` and `-`, starting with a letter and not ending with `-`.
/// Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductId(Arc<str>);

impl ProductId {
    /// Validates a product slug.
    pub fn new(slug: &str) -> Result<Self, Error> {
        let bytes = slug.as_bytes();
        let valid = (1..=32).contains(&bytes.len())
            && bytes[0].is_ascii_lowercase()
            && bytes[bytes.len() - 1] != b'-'
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if valid {
            Ok(Self(Arc::from(slug)))
        } else {
            Err(Error::InvalidProductId(slug.chars().take(64).collect()))
        }
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ProductId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ProductId({})", self.0)
    }
}

impl FromStr for ProductId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for ProductId {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(&s)
    }
}

impl From<ProductId> for String {
    fn from(id: ProductId) -> String {
        id.0.to_string()
    }
}

/// The public id of an API key: 12 base62 characters, part of the token, used for an O(1)
/// lookup. Not a secret: it is shown in key lists and logs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyId([u8; KeyId::LEN]);

impl KeyId {
    /// Length of a key id in characters.
    pub const LEN: usize = 12;

    /// A new random key id from the operating system's CSPRNG.
    pub fn random() -> Result<Self, Error> {
        let mut id = [0u8; Self::LEN];
        base62::fill_random(&mut id)?;
        Ok(Self(id))
    }

    /// Parses a key id from its characters.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let id: [u8; Self::LEN] = bytes.try_into().map_err(|_| Error::InvalidKeyId)?;
        if id.iter().all(|b| base62::is_base62(*b)) {
            Ok(Self(id))
        } else {
            Err(Error::InvalidKeyId)
        }
    }

    /// An id whose bytes the caller has already checked to be base62.
    pub(crate) fn from_checked(id: [u8; Self::LEN]) -> Self {
        debug_assert!(id.iter().all(|b| base62::is_base62(*b)));
        Self(id)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        // Every byte is base62 ASCII: checked at construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.as_str())
    }
}

impl FromStr for KeyId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::from_bytes(s.as_bytes())
    }
}

impl TryFrom<String> for KeyId {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<KeyId> for String {
    fn from(id: KeyId) -> String {
        id.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_slugs_are_validated() {
        for ok in ["submit", "manage", "a", "prepare-2"] {
            assert_eq!(ProductId::new(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "Submit",
            "2fa",
            "sub mit",
            "submit-",
            "a".repeat(33).as_str(),
            "sübmit",
        ] {
            assert!(ProductId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn key_ids_round_trip_and_reject_garbage() {
        let id = KeyId::random().unwrap();
        assert_eq!(id.as_str().parse::<KeyId>().unwrap(), id);
        assert!("short".parse::<KeyId>().is_err());
        assert!("abcdefghijk!".parse::<KeyId>().is_err());
        assert!("abcdefghijklm".parse::<KeyId>().is_err());
    }

    #[test]
    fn uuid_ids_parse_and_reject_garbage() {
        let w = WorkspaceId::random();
        assert_eq!(w.to_string().parse::<WorkspaceId>().unwrap(), w);
        assert!(matches!(
            "nope".parse::<UserId>(),
            Err(Error::InvalidId { kind: "user", .. })
        ));
    }
}

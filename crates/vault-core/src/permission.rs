//! Permissions (`resource:action`) and the sets of them that keys and roles hold.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Error;

/// One permission within a product: `resource:action` (`jobs:create`), a whole resource
/// (`jobs:*`) or the whole product (`*`).
///
/// Resource and action are 1 to 64 characters of `a-z`, `0-9`, `_` and `-`, starting with a
/// letter. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Permission(Arc<str>);

const WILDCARD: &str = "*";

/// Whether `bytes[start..end]` is a resource or action name. A `const fn` (hence the index
/// loop), so [`permission!`](crate::permission!) can check names at compile time.
const fn is_name(bytes: &[u8], start: usize, end: usize) -> bool {
    let len = end - start;
    if len < 1 || len > 64 || !bytes[start].is_ascii_lowercase() {
        return false;
    }
    let mut i = start;
    while i < end {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-') {
            return false;
        }
        i += 1;
    }
    true
}

impl Permission {
    /// Whether `text` is a valid permission: the one rule behind [`Permission::new`], usable
    /// in constants (the [`permission!`](crate::permission!) macro checks its name with it).
    ///
    /// ```
    /// use vault_core::Permission;
    ///
    /// const CREATE: bool = Permission::is_valid("jobs:create");
    /// assert!(CREATE && Permission::is_valid("jobs:*") && Permission::is_valid("*"));
    /// assert!(!Permission::is_valid("Jobs:create") && !Permission::is_valid("jobs"));
    /// ```
    pub const fn is_valid(text: &str) -> bool {
        let bytes = text.as_bytes();
        if bytes.len() == 1 && bytes[0] == b'*' {
            return true;
        }
        // The first `:` splits resource from action; a second one fails the action's check.
        let mut colon = 0;
        while colon < bytes.len() && bytes[colon] != b':' {
            colon += 1;
        }
        if colon == bytes.len() {
            return false;
        }
        let action_is_wildcard = bytes.len() - colon == 2 && bytes[colon + 1] == b'*';
        is_name(bytes, 0, colon) && (action_is_wildcard || is_name(bytes, colon + 1, bytes.len()))
    }

    /// Validates a permission.
    pub fn new(text: &str) -> Result<Self, Error> {
        if Self::is_valid(text) {
            Ok(Self(Arc::from(text)))
        } else {
            Err(Error::InvalidPermission(text.chars().take(64).collect()))
        }
    }

    /// The permission as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The resource (`jobs`), or `*` for the whole product.
    pub fn resource(&self) -> &str {
        self.0.split_once(':').map_or(WILDCARD, |(r, _)| r)
    }

    /// The action (`create`), or `*`.
    pub fn action(&self) -> &str {
        self.0.split_once(':').map_or(WILDCARD, |(_, a)| a)
    }

    /// Whether holding `self` grants `other`: equal, or `self` is a wildcard over it.
    /// A wildcard is granted only by an equal or wider wildcard.
    pub fn covers(&self, other: &Permission) -> bool {
        if self.as_str() == WILDCARD || self == other {
            return true;
        }
        self.action() == WILDCARD && self.resource() == other.resource()
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Permission({})", self.0)
    }
}

impl FromStr for Permission {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for Permission {
    type Error = Error;

    fn try_from(s: String) -> Result<Self, Error> {
        Self::new(&s)
    }
}

impl From<Permission> for String {
    fn from(p: Permission) -> String {
        p.0.to_string()
    }
}

/// A set of permissions, sorted and without duplicates.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(from = "Vec<Permission>", into = "Vec<Permission>")]
pub struct PermissionSet(Vec<Permission>);

impl PermissionSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses every permission in `texts`.
    pub fn parse<I, S>(texts: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        texts
            .into_iter()
            .map(|t| Permission::new(t.as_ref()))
            .collect()
    }

    /// Whether some permission of the set covers `required`.
    pub fn allows(&self, required: &Permission) -> bool {
        self.0.iter().any(|held| held.covers(required))
    }

    /// Whether every permission of `other` is allowed by this set (e.g. a user minting a key
    /// may only hand out what they hold).
    pub fn allows_all(&self, other: &PermissionSet) -> bool {
        other.iter().all(|p| self.allows(p))
    }

    /// The permissions, sorted.
    pub fn iter(&self) -> std::slice::Iter<'_, Permission> {
        self.0.iter()
    }

    /// How many permissions the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `permission`, keeping the set sorted and without duplicates.
    pub fn insert(&mut self, permission: Permission) {
        if let Err(at) = self.0.binary_search(&permission) {
            self.0.insert(at, permission);
        }
    }
}

/// The set as an RFC 6750 `scope`: the permissions, sorted, separated by one space.
impl fmt::Display for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, permission) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(permission.as_str())?;
        }
        Ok(())
    }
}

/// Parses a `scope`: permissions separated by white space (the form [`Display`](fmt::Display)
/// writes). Every one must be valid.
impl FromStr for PermissionSet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s.split_whitespace())
    }
}

impl From<Permission> for PermissionSet {
    fn from(permission: Permission) -> Self {
        Self(vec![permission])
    }
}

impl From<Vec<Permission>> for PermissionSet {
    fn from(mut permissions: Vec<Permission>) -> Self {
        permissions.sort();
        permissions.dedup();
        Self(permissions)
    }
}

impl From<PermissionSet> for Vec<Permission> {
    fn from(set: PermissionSet) -> Self {
        set.0
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl<'a> IntoIterator for &'a PermissionSet {
    type Item = &'a Permission;
    type IntoIter = std::slice::Iter<'a, Permission>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.0.iter().map(|p| p.as_str()))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Permission {
        Permission::new(s).unwrap()
    }

    #[test]
    fn valid_and_invalid_permissions() {
        for ok in ["jobs:create", "jobs:*", "*", "api_keys:manage", "a:b-c"] {
            assert_eq!(p(ok).as_str(), ok);
        }
        for bad in [
            "",
            "jobs",
            "jobs:",
            ":create",
            "Jobs:create",
            "jobs:create:x",
            "*:create",
            "jobs: create",
            "jobs:crëate",
            "**",
            "1jobs:create",
        ] {
            assert!(Permission::new(bad).is_err(), "{bad:?} accepted");
            assert!(!Permission::is_valid(bad), "{bad:?} valid");
        }
        let longest = format!("{}:{}", "a".repeat(64), "b".repeat(64));
        assert!(Permission::is_valid(&longest));
        assert!(!Permission::is_valid(&format!("{longest}b")));
        assert!(!Permission::is_valid(&format!("a{longest}")));
    }

    #[test]
    fn wildcards_cover_what_they_name_and_nothing_more() {
        assert!(p("*").covers(&p("jobs:create")));
        assert!(p("*").covers(&p("jobs:*")));
        assert!(p("jobs:*").covers(&p("jobs:create")));
        assert!(p("jobs:*").covers(&p("jobs:*")));
        assert!(!p("jobs:*").covers(&p("files:read")));
        assert!(!p("jobs:*").covers(&p("*")));
        assert!(!p("jobs:read").covers(&p("jobs:*")));
        assert!(!p("jobs:read").covers(&p("jobs:create")));
        assert!(p("jobs:read").covers(&p("jobs:read")));
    }

    #[test]
    fn sets_allow_by_any_member_and_dedup() {
        let set = PermissionSet::parse(["jobs:read", "files:*", "jobs:read"]).unwrap();
        assert_eq!(set.len(), 2);
        assert!(set.allows(&p("jobs:read")));
        assert!(set.allows(&p("files:delete")));
        assert!(!set.allows(&p("jobs:create")));
        assert!(set.allows_all(&PermissionSet::parse(["files:read", "jobs:read"]).unwrap()));
        assert!(!set.allows_all(&PermissionSet::parse(["jobs:create"]).unwrap()));
        assert!(!PermissionSet::new().allows(&p("jobs:read")));
    }

    #[test]
    fn insert_keeps_the_set_sorted_and_without_duplicates() {
        let mut set = PermissionSet::new();
        for text in ["jobs:read", "files:*", "jobs:read", "jobs:create"] {
            set.insert(p(text));
        }
        assert_eq!(
            set,
            PermissionSet::parse(["jobs:create", "files:*", "jobs:read"]).unwrap()
        );
        assert_eq!(set.to_string(), "files:* jobs:create jobs:read");
    }

    #[test]
    fn a_set_reads_and_writes_as_a_scope() {
        let set: PermissionSet = " jobs:read  jobs:create ".parse().unwrap();
        assert_eq!(set.len(), 2);
        assert_eq!(set.to_string(), "jobs:create jobs:read");
        assert_eq!(set.to_string().parse::<PermissionSet>().unwrap(), set);
        assert_eq!(PermissionSet::from(p("jobs:read")).to_string(), "jobs:read");
        assert!("jobs:read JOBS".parse::<PermissionSet>().is_err());
        assert!("".parse::<PermissionSet>().unwrap().is_empty());
    }

    #[test]
    fn serde_rejects_invalid_permissions() {
        let set: PermissionSet = serde_json::from_str(r#"["jobs:read","jobs:create"]"#).unwrap();
        assert_eq!(set.len(), 2);
        assert!(serde_json::from_str::<PermissionSet>(r#"["JOBS"]"#).is_err());
    }
}

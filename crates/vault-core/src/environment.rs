//! Deployment environments of an API key, and sets of them for a route's requirement.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The environment an API key belongs to.
///
/// Parsed from its name (`development`, `staging`, `production`) or its short tag in a key
/// (`dev`, `stg`, `prod`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Local development and experiments.
    Development,
    /// Pre-production testing.
    Staging,
    /// Live traffic.
    Production,
}

impl Environment {
    /// Every environment, in order.
    pub const ALL: [Environment; 3] = [Self::Development, Self::Staging, Self::Production];

    /// The full name: `development`, `staging` or `production`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Staging => "staging",
            Self::Production => "production",
        }
    }

    /// The short tag written into keys: `dev`, `stg` or `prod`.
    pub const fn tag(self) -> &'static str {
        match self {
            Self::Development => "dev",
            Self::Staging => "stg",
            Self::Production => "prod",
        }
    }

    /// The environment of a key tag, if it is one.
    pub fn from_tag(tag: &str) -> Option<Self> {
        match tag {
            "dev" => Some(Self::Development),
            "stg" => Some(Self::Staging),
            "prod" => Some(Self::Production),
            _ => None,
        }
    }

    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::ALL
            .into_iter()
            .find(|env| env.as_str() == s || env.tag() == s)
            .ok_or_else(|| Error::UnknownEnvironment(s.chars().take(32).collect()))
    }
}

/// A set of environments, e.g. the ones a route accepts. `Copy`, one byte.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EnvironmentSet(u8);

impl EnvironmentSet {
    /// No environment.
    pub const EMPTY: Self = Self(0);
    /// Every environment.
    pub const ALL: Self = Self(0b111);

    /// Only `env`.
    pub const fn only(env: Environment) -> Self {
        Self(env.bit())
    }

    /// This set with `env` added.
    pub const fn with(self, env: Environment) -> Self {
        Self(self.0 | env.bit())
    }

    /// Whether `env` is in the set.
    pub const fn contains(self, env: Environment) -> bool {
        self.0 & env.bit() != 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The environments in the set, in order.
    pub fn iter(self) -> impl Iterator<Item = Environment> {
        Environment::ALL
            .into_iter()
            .filter(move |env| self.contains(*env))
    }
}

impl From<Environment> for EnvironmentSet {
    fn from(env: Environment) -> Self {
        Self::only(env)
    }
}

impl FromIterator<Environment> for EnvironmentSet {
    fn from_iter<I: IntoIterator<Item = Environment>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

impl fmt::Debug for EnvironmentSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags_round_trip() {
        for env in Environment::ALL {
            assert_eq!(env.as_str().parse::<Environment>().unwrap(), env);
            assert_eq!(env.tag().parse::<Environment>().unwrap(), env);
            assert_eq!(Environment::from_tag(env.tag()), Some(env));
            assert_eq!(env.to_string(), env.as_str());
        }
        assert!("Production".parse::<Environment>().is_err());
        assert!("".parse::<Environment>().is_err());
        assert_eq!(Environment::from_tag("production"), None);
    }

    #[test]
    fn serde_uses_full_lowercase_names() {
        let json = serde_json::to_string(&Environment::Staging).unwrap();
        assert_eq!(json, "\"staging\"");
        let back: Environment = serde_json::from_str("\"production\"").unwrap();
        assert_eq!(back, Environment::Production);
    }

    #[test]
    fn sets_hold_exactly_what_was_added() {
        let set: EnvironmentSet = [Environment::Staging, Environment::Production]
            .into_iter()
            .collect();
        assert!(!set.contains(Environment::Development));
        assert!(set.contains(Environment::Staging));
        assert!(set.contains(Environment::Production));
        assert_eq!(set.iter().count(), 2);
        assert!(EnvironmentSet::EMPTY.is_empty());
        assert_eq!(EnvironmentSet::ALL.iter().count(), 3);
    }
}

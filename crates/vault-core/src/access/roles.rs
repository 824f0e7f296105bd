//! [`WorkspaceRole`]: owner, admin, member, ranked.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::access::AccessDefect;

/// A member's role in a workspace. Ordered by rank: `Member < Admin < Owner`.
///
/// Owners and admins manage members, groups and grants; only owners manage subscriptions,
/// the 2FA policy and other owners. No role by itself grants any product permission.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkspaceRole {
    /// A plain member: sees the workspace, uses the products granted to them.
    Member,
    /// Manages members (up to admin), groups, grants and other people's keys.
    Admin,
    /// Everything an admin does, plus owners, subscriptions and the 2FA policy.
    Owner,
}

impl WorkspaceRole {
    /// The role's name: `owner`, `admin` or `member`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Member => "member",
        }
    }

    /// Whether the role manages the workspace (owner or admin).
    pub fn is_admin(self) -> bool {
        self >= Self::Admin
    }
}

impl fmt::Display for WorkspaceRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorkspaceRole {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "owner" => Ok(Self::Owner),
            "admin" => Ok(Self::Admin),
            "member" => Ok(Self::Member),
            _ => Err(AccessDefect::RoleUnknown.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_rank_member_admin_owner_and_round_trip() {
        assert!(WorkspaceRole::Member < WorkspaceRole::Admin);
        assert!(WorkspaceRole::Admin < WorkspaceRole::Owner);
        assert!(!WorkspaceRole::Member.is_admin());
        assert!(WorkspaceRole::Admin.is_admin());
        for role in [
            WorkspaceRole::Owner,
            WorkspaceRole::Admin,
            WorkspaceRole::Member,
        ] {
            assert_eq!(role.as_str().parse::<WorkspaceRole>().unwrap(), role);
        }
        assert!("root".parse::<WorkspaceRole>().is_err());
    }
}

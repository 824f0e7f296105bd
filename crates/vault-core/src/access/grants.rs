//! Grants: a product role given to a user or a group in a workspace, and their revocation.
//! A grant is the only source of product permissions; membership alone gives none.

use std::fmt;

use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::access::groups::group_in;
use crate::access::{AccessControl, AccessDefect, Actor, GroupId, RoleName, WorkspaceRole};
use crate::ids::{ProductId, UserId, WorkspaceId};
use crate::store::Transaction;

/// Who a grant is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Grantee {
    /// One member.
    User(UserId),
    /// Every member of a group.
    Group(GroupId),
}

impl fmt::Display for Grantee {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => write!(f, "user:{id}"),
            Self::Group(id) => write!(f, "group:{id}"),
        }
    }
}

/// A product role granted in a workspace. Identified by (workspace, grantee, product, role).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// Who holds it.
    pub grantee: Grantee,
    /// The product.
    pub product: ProductId,
    /// The role of the product.
    pub role: RoleName,
    /// Who granted it.
    pub granted_by: UserId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub granted_at: OffsetDateTime,
}

/// Where a user's grant comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GrantSource {
    /// Granted to the user.
    Direct,
    /// Granted to a group the user is in.
    Group {
        /// The group.
        id: GroupId,
        /// Its name.
        name: String,
    },
}

/// A grant a user holds, directly or through a group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeldGrant {
    /// The grant.
    pub grant: Grant,
    /// How the user holds it.
    pub source: GrantSource,
}

impl AccessControl {
    /// Grants a product role to a member or a group of the workspace (owners and admins).
    /// The product and role must be in the catalogue; the workspace need not subscribe yet,
    /// but the grant gives nothing until it does. Granting twice keeps the first grant.
    /// Audited as `access.grant.created`.
    pub async fn grant(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        grantee: Grantee,
        product: &ProductId,
        role: &RoleName,
    ) -> Result<Grant, Error> {
        let mut tx = self.begin_in(workspace).await?;
        self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        self.catalog()
            .product(product)
            .ok_or(AccessDefect::ProductUnknown)?
            .find_role(role)
            .ok_or(AccessDefect::RoleUnknown)?;
        let grant = Grant {
            workspace_id: workspace,
            grantee,
            product: product.clone(),
            role: role.clone(),
            granted_by: actor.user_id(),
            granted_at: self.now(),
        };
        // Checked inside the workspace's transaction: a member being removed meanwhile
        // cannot end up holding a grant.
        match grantee {
            Grantee::User(user) => {
                tx.member(workspace, user)
                    .await?
                    .ok_or(AccessDefect::UserNotAMember)?;
            }
            Grantee::Group(group) => {
                group_in(&mut *tx, workspace, group).await?;
            }
        }
        let exists = tx.grants(workspace).await?.iter().any(|g| {
            g.grantee == grant.grantee && g.product == grant.product && g.role == grant.role
        });
        let created = !exists;
        if created {
            tx.insert_grant(&grant).await?;
            tx.commit().await?;
        }
        if created {
            self.record(
                self.event("access.grant.created", actor, workspace)
                    .subject(grantee)
                    .detail("product", product)
                    .detail("role", role),
            )
            .await;
        }
        Ok(grant)
    }

    /// Revokes a grant (owners and admins); it takes effect at the next check. `false` if
    /// there was no such grant. Audited as `access.grant.revoked`.
    pub async fn revoke_grant(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        grantee: Grantee,
        product: &ProductId,
        role: &RoleName,
    ) -> Result<bool, Error> {
        let mut tx = self.begin_in(workspace).await?;
        self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        let revoked = tx.delete_grant(workspace, &grantee, product, role).await?;
        tx.commit().await?;
        if revoked {
            self.record(
                self.event("access.grant.revoked", actor, workspace)
                    .subject(grantee)
                    .detail("product", product)
                    .detail("role", role),
            )
            .await;
        }
        Ok(revoked)
    }

    /// Every grant of a workspace (owners and admins).
    pub async fn grants(&self, actor: &Actor, workspace: WorkspaceId) -> Result<Vec<Grant>, Error> {
        let mut tx = self.read().await?;
        self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Admin)
            .await?;
        tx.grants(workspace).await
    }
}

/// In `tx`: the grants `user` holds in a workspace, direct ones and those of their groups
/// (with the group's name), oldest first. Empty for a non-member.
pub(super) async fn grants_held_by(
    tx: &mut (dyn Transaction + '_),
    workspace: WorkspaceId,
    user: UserId,
) -> Result<Vec<HeldGrant>, Error> {
    if tx.member(workspace, user).await?.is_none() {
        return Ok(Vec::new());
    }
    let groups = tx.groups_of(workspace, user).await?;
    let mut held = Vec::new();
    for grant in tx.grants(workspace).await? {
        let source = match grant.grantee {
            Grantee::User(id) if id == user => GrantSource::Direct,
            Grantee::Group(id) if groups.contains(&id) => match tx.group(id).await? {
                Some(group) => GrantSource::Group {
                    id,
                    name: group.name,
                },
                None => continue,
            },
            _ => continue,
        };
        held.push(HeldGrant { grant, source });
    }
    Ok(held)
}

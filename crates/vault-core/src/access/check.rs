//! The access decision: may the actor use permission P of product X in workspace W? Only if
//! they are a member of W, W has X active, and a direct or group grant gives them a role of X
//! holding P (DESIGN.md "Access model"). Also: a user's effective permissions, each with the
//! grant it comes from.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::Error;
use crate::access::grants::grants_held_by;
use crate::access::{
    AccessControl, AccessDefect, Actor, Catalog, GrantSource, HeldGrant, Member, RoleName,
    Workspace,
};
use crate::ids::{ProductId, UserId, WorkspaceId};
use crate::permission::{Permission, PermissionSet};

/// A product role a user holds in a workspace that has the product active, and where the
/// grant comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EffectiveRole {
    /// The product.
    pub product: ProductId,
    /// The role.
    pub role: RoleName,
    /// What the role holds (from the catalogue).
    pub permissions: PermissionSet,
    /// Whether the role is sensitive (a workspace policy may require 2FA to use it).
    pub sensitive: bool,
    /// The direct grant or the group it comes through.
    pub source: GrantSource,
}

/// What a user may do in a workspace: every effective role, with its source.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EffectivePermissions {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The user.
    pub user_id: UserId,
    /// The roles, in grant order. Grants of inactive products and of roles no longer in the
    /// catalogue are left out: they give nothing.
    pub roles: Vec<EffectiveRole>,
}

impl EffectivePermissions {
    /// Every permission the user holds in `product`.
    pub fn permissions(&self, product: &ProductId) -> PermissionSet {
        self.roles
            .iter()
            .filter(|r| r.product == *product)
            .flat_map(|r| r.permissions.iter().cloned())
            .collect()
    }

    /// Whether some role gives `permission` of `product` (2FA policies aside).
    pub fn allows(&self, product: &ProductId, permission: &Permission) -> bool {
        self.sources(product, permission).next().is_some()
    }

    /// The roles that give `permission` of `product`: where the permission comes from.
    pub fn sources<'a>(
        &'a self,
        product: &'a ProductId,
        permission: &'a Permission,
    ) -> impl Iterator<Item = &'a EffectiveRole> + 'a {
        self.roles
            .iter()
            .filter(move |r| r.product == *product && r.permissions.allows(permission))
    }
}

/// Turns held grants into effective roles: only roles the catalogue still knows, of
/// products `active` lets through.
fn effective_roles(
    catalog: &Catalog,
    held: Vec<HeldGrant>,
    active: impl Fn(&ProductId) -> bool,
) -> Vec<EffectiveRole> {
    held.into_iter()
        .filter(|h| active(&h.grant.product))
        .filter_map(|h| {
            let role = catalog.role(&h.grant.product, &h.grant.role)?;
            Some(EffectiveRole {
                permissions: role.permissions().clone(),
                sensitive: role.is_sensitive(),
                product: h.grant.product,
                role: h.grant.role,
                source: h.source,
            })
        })
        .collect()
}

/// The actor's roles in one active product of a workspace, for checks and minting.
pub(super) struct ProductAccess {
    pub(super) workspace: Workspace,
    pub(super) member: Member,
    pub(super) roles: Vec<EffectiveRole>,
}

impl ProductAccess {
    /// The roles the actor may use from this session: sensitive ones only after 2FA when the
    /// workspace's policy says so.
    pub(super) fn usable<'a>(
        &'a self,
        actor: &'a Actor,
    ) -> impl Iterator<Item = &'a EffectiveRole> {
        let gate = self.workspace.two_factor.sensitive_roles && !actor.two_factor_passed();
        self.roles.iter().filter(move |r| !(gate && r.sensitive))
    }

    /// Every permission the actor may use from this session.
    pub(super) fn usable_permissions(&self, actor: &Actor) -> PermissionSet {
        self.usable(actor)
            .flat_map(|r| r.permissions.iter().cloned())
            .collect()
    }

    /// Every permission the actor holds, 2FA aside.
    pub(super) fn held_permissions(&self) -> PermissionSet {
        self.roles
            .iter()
            .flat_map(|r| r.permissions.iter().cloned())
            .collect()
    }

    /// Why `wanted` is refused when the usable permissions do not cover it: 2FA if the
    /// sensitive roles would, otherwise not held.
    pub(super) fn refusal(&self, wanted: &PermissionSet) -> AccessDefect {
        if !wanted.is_empty() && self.held_permissions().allows_all(wanted) {
            AccessDefect::TwoFactorRequired
        } else {
            AccessDefect::PermissionNotHeld
        }
    }
}

impl AccessControl {
    /// The actor's membership and roles in `product` of `workspace`: refused unless member
    /// (and past the owners/admins 2FA policy), the product is known and active.
    pub(super) async fn product_access(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        product: &ProductId,
    ) -> Result<ProductAccess, Error> {
        let mut tx = self.read().await?;
        let (found, member) = self.acting_member(&mut *tx, actor, workspace).await?;
        if self.catalog().product(product).is_none() {
            return Err(AccessDefect::ProductUnknown.into());
        }
        let subscription = tx.subscription(workspace, product).await?;
        if !subscription.is_some_and(|s| s.active) {
            return Err(AccessDefect::ProductNotSubscribed.into());
        }
        let held = grants_held_by(&mut *tx, workspace, actor.user_id()).await?;
        let roles = effective_roles(self.catalog(), held, |p| p == product);
        Ok(ProductAccess {
            workspace: found,
            member,
            roles,
        })
    }

    /// May the actor use `permission` of `product` in `workspace`? `Ok` with the role that
    /// allows it, or the refusal: [`AccessDefect::NotAMember`],
    /// [`AccessDefect::ProductUnknown`], [`AccessDefect::ProductNotSubscribed`],
    /// [`AccessDefect::PermissionNotHeld`], or [`AccessDefect::TwoFactorRequired`] when only a
    /// sensitive role (or the actor's owner/admin role) needs a 2FA the session lacks.
    ///
    /// Decided from the store on every call: a revoked grant or removed member is refused at
    /// once.
    pub async fn check(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        product: &ProductId,
        permission: &Permission,
    ) -> Result<EffectiveRole, Error> {
        let access = self.product_access(actor, workspace, product).await?;
        if let Some(role) = access
            .usable(actor)
            .find(|r| r.permissions.allows(permission))
        {
            return Ok(role.clone());
        }
        let wanted = PermissionSet::from(vec![permission.clone()]);
        Err(access.refusal(&wanted).into())
    }

    /// `user`'s effective permissions in `workspace`, each with the grant it comes from. The
    /// actor may ask about themselves; owners and admins about any member.
    pub async fn effective_permissions(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        user: UserId,
    ) -> Result<EffectivePermissions, Error> {
        let mut tx = self.read().await?;
        let (_, acting) = self.acting_member(&mut *tx, actor, workspace).await?;
        if user != actor.user_id() {
            if !acting.role.is_admin() {
                return Err(AccessDefect::NotAllowed.into());
            }
            tx.member(workspace, user)
                .await?
                .ok_or(AccessDefect::UserNotAMember)?;
        }
        let active: BTreeSet<ProductId> = tx
            .subscriptions(workspace)
            .await?
            .into_iter()
            .filter(|s| s.active)
            .map(|s| s.product)
            .collect();
        let held = grants_held_by(&mut *tx, workspace, user).await?;
        Ok(EffectivePermissions {
            workspace_id: workspace,
            user_id: user,
            roles: effective_roles(self.catalog(), held, |p| active.contains(p)),
        })
    }
}

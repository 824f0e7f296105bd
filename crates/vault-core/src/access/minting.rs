//! API keys through the access layer: a user mints a key only in a workspace and product they
//! can use, only with permissions they hold there; they manage their own keys, and only
//! owners, admins or holders of `keys:manage` in the key's product manage other people's.

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::Error;
use crate::access::{AccessControl, AccessDefect, Actor};
use crate::environment::Environment;
use crate::ids::{KeyId, ProductId, WorkspaceId};
use crate::keys::{ApiKeys, IssuedKey, KeyMetadata, NewKey};
use crate::permission::{Permission, PermissionSet};

/// The permission of a product role that lets its holders list, rotate and revoke other
/// people's keys of that product.
const KEYS_MANAGE: &str = "keys:manage";

/// What a user asks to mint. The issuer is the actor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyRequest {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The product the key may call.
    pub product: ProductId,
    /// Its environment.
    pub environment: Environment,
    /// What it may do: at most what the actor holds there.
    pub permissions: PermissionSet,
    /// A human name.
    pub name: String,
    /// When it stops working, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// Why the actor may act on a key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyRight {
    /// They issued it.
    Own,
    /// They manage the workspace's keys of that product.
    Manage,
}

/// [`ApiKeys`] behind the access rules. Cheap to clone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), vault_core::Error> {
/// use std::sync::Arc;
/// use vault_core::access::{AccessControl, Catalog, Grantee, KeyMinting, KeyRequest,
///                          Product, ProductRole, StoreSubscriptions};
/// use vault_core::{ApiKeys, Environment, MemoryStore, Pepper, PermissionSet, UserId};
///
/// let store = Arc::new(MemoryStore::new());
/// let catalog = Catalog::new([Product::new("submit")?
///     .role(ProductRole::new("submitter", ["jobs:read", "jobs:create"])?)])?;
/// let access = AccessControl::builder(store.clone(), catalog).build();
/// let keys = ApiKeys::builder(store.clone(), &Pepper::generate()?)
///     .subscriptions(Arc::new(StoreSubscriptions::new(store)))
///     .build();
/// let minting = KeyMinting::new(access.clone(), keys);
///
/// // In an application the actor comes from a verified session: `accounts.actor(&token)`.
/// let owner = vault_core::testing::actor(UserId::random(), true);
/// let workspace = access.create_workspace(&owner, "Acme").await?;
/// let submit = "submit".parse()?;
/// access.activate_product(&owner, workspace.id, &submit).await?;
/// access.grant(&owner, workspace.id, Grantee::User(owner.user_id()), &submit, &"submitter".parse()?).await?;
///
/// let request = KeyRequest {
///     workspace_id: workspace.id,
///     product: submit,
///     environment: Environment::Production,
///     permissions: PermissionSet::parse(["jobs:read"])?,
///     name: "reporting".into(),
///     expires_at: None,
/// };
/// let issued = minting.issue(&owner, request.clone()).await?;
/// assert_eq!(issued.metadata.created_by, owner.user_id());
///
/// // Nobody mints more than they hold.
/// let greedy = KeyRequest { permissions: PermissionSet::parse(["jobs:delete"])?, ..request };
/// assert!(minting.issue(&owner, greedy).await.is_err());
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct KeyMinting {
    access: AccessControl,
    keys: ApiKeys,
}

impl KeyMinting {
    /// Puts `keys` behind the rules of `access`.
    pub fn new(access: AccessControl, keys: ApiKeys) -> Self {
        Self { access, keys }
    }

    /// The key service underneath (for verification).
    pub fn keys(&self) -> &ApiKeys {
        &self.keys
    }

    /// Mints a key for the actor: member of the workspace, the product active there, and
    /// every requested permission held through a grant usable from this session (a
    /// permission only a sensitive role gives needs 2FA when the policy says so). At least
    /// one permission. Audited as `access.key.issued`.
    pub async fn issue(&self, actor: &Actor, request: KeyRequest) -> Result<IssuedKey, Error> {
        let access = self
            .access
            .product_access(actor, request.workspace_id, &request.product)
            .await?;
        if request.permissions.is_empty() {
            return Err(AccessDefect::PermissionNotHeld.into());
        }
        if !access
            .usable_permissions(actor)
            .allows_all(&request.permissions)
        {
            return Err(access.refusal(&request.permissions).into());
        }
        let issued = self
            .keys
            .issue(NewKey {
                workspace_id: request.workspace_id,
                product: request.product,
                environment: request.environment,
                permissions: request.permissions,
                name: request.name,
                created_by: actor.user_id(),
                expires_at: request.expires_at,
            })
            .await?;
        let m = &issued.metadata;
        self.access
            .record(
                self.access
                    .event("access.key.issued", actor, m.workspace_id)
                    .subject(m.id)
                    .detail("product", &m.product)
                    .detail("environment", m.environment)
                    .detail("permissions", permissions_text(&m.permissions)),
            )
            .await;
        Ok(issued)
    }

    /// The keys of a workspace the actor may see: all of them for owners and admins; their
    /// own and those of products where they hold `keys:manage` for everyone else.
    pub async fn list(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
    ) -> Result<Vec<KeyMetadata>, Error> {
        let (_, member) = self
            .access
            .acting_member(&mut *self.access.read().await?, actor, workspace)
            .await?;
        let all = self.keys.list(workspace).await?;
        if member.role.is_admin() {
            return Ok(all);
        }
        let mut managed: Vec<ProductId> = Vec::new();
        let mut unmanaged: Vec<ProductId> = Vec::new();
        let mut visible = Vec::with_capacity(all.len());
        for key in all {
            let seen = if key.created_by == actor.user_id() || managed.contains(&key.product) {
                true
            } else if unmanaged.contains(&key.product) {
                false
            } else if self.manages_product(actor, workspace, &key.product).await? {
                managed.push(key.product.clone());
                true
            } else {
                unmanaged.push(key.product.clone());
                false
            };
            if seen {
                visible.push(key);
            }
        }
        Ok(visible)
    }

    /// Rotates a key (see [`ApiKeys::rotate`]). The issuer may rotate their own key while
    /// they still hold its permissions; owners, admins and `keys:manage` holders any key of
    /// the workspace. Audited as `access.key.rotated`.
    pub async fn rotate(
        &self,
        actor: &Actor,
        id: &KeyId,
        overlap: Duration,
    ) -> Result<IssuedKey, Error> {
        let key = self.keys.get(id).await?;
        if self.right(actor, &key).await? == KeyRight::Own {
            // A successor lives on: it must not outlast its issuer's own rights.
            let access = self
                .access
                .product_access(actor, key.workspace_id, &key.product)
                .await?;
            if !access
                .usable_permissions(actor)
                .allows_all(&key.permissions)
            {
                return Err(access.refusal(&key.permissions).into());
            }
        }
        let issued = self.keys.rotate(id, overlap).await?;
        self.access
            .record(
                self.access
                    .event("access.key.rotated", actor, key.workspace_id)
                    .subject(issued.metadata.id)
                    .detail("rotated_from", id)
                    .detail("overlap_seconds", overlap.whole_seconds()),
            )
            .await;
        Ok(issued)
    }

    /// Revokes a key at once: the issuer their own, owners, admins and `keys:manage` holders
    /// any key of the workspace. Audited as `access.key.revoked`.
    pub async fn revoke(&self, actor: &Actor, id: &KeyId) -> Result<KeyMetadata, Error> {
        let key = self.keys.get(id).await?;
        self.right(actor, &key).await?;
        let revoked = self.keys.revoke(id).await?;
        self.access
            .record(
                self.access
                    .event("access.key.revoked", actor, key.workspace_id)
                    .subject(id)
                    .detail("created_by", key.created_by),
            )
            .await;
        Ok(revoked)
    }

    /// Why the actor may act on `key`, or the refusal. Outside the key's workspace the key
    /// is reported as not found: key ids of other workspaces are not confirmed.
    async fn right(&self, actor: &Actor, key: &KeyMetadata) -> Result<KeyRight, Error> {
        let member = match self
            .access
            .acting_member(&mut *self.access.read().await?, actor, key.workspace_id)
            .await
        {
            Ok((_, member)) => member,
            Err(Error::Access(AccessDefect::NotAMember)) => return Err(Error::KeyNotFound(key.id)),
            Err(other) => return Err(other),
        };
        if member.role.is_admin() {
            return Ok(KeyRight::Manage);
        }
        if self
            .manages_product(actor, key.workspace_id, &key.product)
            .await?
        {
            return Ok(KeyRight::Manage);
        }
        if key.created_by == actor.user_id() {
            return Ok(KeyRight::Own);
        }
        Err(AccessDefect::NotAllowed.into())
    }

    /// Whether the actor holds `keys:manage` in `product` of `workspace` (usable from this
    /// session).
    async fn manages_product(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        product: &ProductId,
    ) -> Result<bool, Error> {
        let manage = Permission::new(KEYS_MANAGE)?;
        match self.access.product_access(actor, workspace, product).await {
            Ok(access) => Ok(access.member.role.is_admin()
                || access.usable(actor).any(|r| r.permissions.allows(&manage))),
            Err(Error::Access(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }
}

fn permissions_text(set: &PermissionSet) -> String {
    set.iter()
        .map(Permission::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

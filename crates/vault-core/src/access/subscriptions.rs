//! Subscriptions: which catalogue products a workspace has active. Only owners change them.
//! Key verification asks [`SubscriptionCheck`] so a deactivated product's keys stop working
//! until it is active again.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;
use time::OffsetDateTime;

use crate::Error;
use crate::access::{AccessControl, AccessDefect, Actor, WorkspaceRole};
use crate::ids::{ProductId, UserId, WorkspaceId};
use crate::store::Store;

/// A workspace's subscription to a product, active or not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Subscription {
    /// The workspace.
    pub workspace_id: WorkspaceId,
    /// The product.
    pub product: ProductId,
    /// Whether the product is active in the workspace.
    pub active: bool,
    /// Who last activated or deactivated it.
    pub changed_by: UserId,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub changed_at: OffsetDateTime,
}

/// Whether a workspace's subscription to a product is active: the question key verification
/// asks after the product check when configured with
/// [`crate::keys::ApiKeysBuilder::subscriptions`].
#[async_trait]
pub trait SubscriptionCheck: Send + Sync + 'static {
    /// `true` while `workspace` has `product` active. A store failure makes verification
    /// answer "unavailable", never "valid".
    async fn is_active(&self, workspace: WorkspaceId, product: &ProductId) -> Result<bool, Error>;
}

/// [`SubscriptionCheck`] answered by a [`Store`] (one indexed read per check).
///
/// ```
/// use std::sync::Arc;
/// use vault_core::access::StoreSubscriptions;
/// use vault_core::{ApiKeys, MemoryStore, Pepper};
///
/// let store = Arc::new(MemoryStore::new());
/// let keys = ApiKeys::builder(store.clone(), &Pepper::generate()?)
///     .subscriptions(Arc::new(StoreSubscriptions::new(store)))
///     .build();
/// # Ok::<(), vault_core::Error>(())
/// ```
#[derive(Clone)]
pub struct StoreSubscriptions(Arc<dyn Store>);

impl StoreSubscriptions {
    /// Answers from `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self(store)
    }
}

impl fmt::Debug for StoreSubscriptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreSubscriptions")
    }
}

#[async_trait]
impl SubscriptionCheck for StoreSubscriptions {
    async fn is_active(&self, workspace: WorkspaceId, product: &ProductId) -> Result<bool, Error> {
        let found = self
            .0
            .read()
            .await?
            .subscription(workspace, product)
            .await?;
        Ok(found.is_some_and(|s| s.active))
    }
}

impl AccessControl {
    /// Activates a catalogue product in a workspace (owners only). Audited as
    /// `access.subscription.activated`.
    pub async fn activate_product(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        product: &ProductId,
    ) -> Result<Subscription, Error> {
        self.set_active(actor, workspace, product, true).await
    }

    /// Deactivates a product in a workspace (owners only): its checks fail and its keys stop
    /// verifying until it is active again; grants are kept. Audited as
    /// `access.subscription.deactivated`.
    pub async fn deactivate_product(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        product: &ProductId,
    ) -> Result<Subscription, Error> {
        self.set_active(actor, workspace, product, false).await
    }

    async fn set_active(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
        product: &ProductId,
        active: bool,
    ) -> Result<Subscription, Error> {
        let mut tx = self.begin_in(workspace).await?;
        self.require_role(&mut *tx, actor, workspace, WorkspaceRole::Owner)
            .await?;
        if self.catalog().product(product).is_none() {
            return Err(AccessDefect::ProductUnknown.into());
        }
        let subscription = Subscription {
            workspace_id: workspace,
            product: product.clone(),
            active,
            changed_by: actor.user_id(),
            changed_at: self.now(),
        };
        tx.put_subscription(&subscription).await?;
        tx.commit().await?;
        let action = if active {
            "access.subscription.activated"
        } else {
            "access.subscription.deactivated"
        };
        self.record(self.event(action, actor, workspace).subject(product))
            .await;
        Ok(subscription)
    }

    /// The subscriptions of a workspace, active or not, for one of its members.
    pub async fn subscriptions(
        &self,
        actor: &Actor,
        workspace: WorkspaceId,
    ) -> Result<Vec<Subscription>, Error> {
        let mut tx = self.read().await?;
        self.acting_member(&mut *tx, actor, workspace).await?;
        let mut subscriptions = tx.subscriptions(workspace).await?;
        subscriptions.sort_by(|a, b| a.product.cmp(&b.product));
        Ok(subscriptions)
    }
}

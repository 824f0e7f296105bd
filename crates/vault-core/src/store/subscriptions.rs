//! Rows of product subscriptions.

use async_trait::async_trait;

use crate::Error;
use crate::access::Subscription;
use crate::ids::{ProductId, WorkspaceId};

/// Subscriptions, one per (workspace, product).
#[async_trait]
pub trait SubscriptionRows: Send {
    /// The workspace's subscription to `product`. On the key verification path when
    /// [`crate::access::StoreSubscriptions`] is configured: keep it one indexed lookup.
    async fn subscription(
        &mut self,
        workspace: WorkspaceId,
        product: &ProductId,
    ) -> Result<Option<Subscription>, Error>;

    /// Every subscription of a workspace, in no particular order.
    async fn subscriptions(&mut self, workspace: WorkspaceId) -> Result<Vec<Subscription>, Error>;

    /// Stores the subscription, replacing the one of the same workspace and product.
    async fn put_subscription(&mut self, subscription: &Subscription) -> Result<(), Error>;
}

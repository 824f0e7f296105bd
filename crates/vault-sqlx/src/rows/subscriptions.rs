//! Product subscriptions, one row per (workspace, product): the primary key is the one
//! lookup of key verification when subscriptions are checked.

use async_trait::async_trait;
use vault_core::access::Subscription;
use vault_core::store::SubscriptionRows;
use vault_core::{Error, ProductId, UserId, WorkspaceId};

use crate::arg::args;
use crate::error::SqlError;
use crate::store::from_nanos;
use crate::transaction::SqlTransaction;

const TABLE: &str = "subscriptions";

table! {
    subscriptions (workspace_id, product) [active, changed_by, changed_at]
        put "($1, $2, $3, $4, $5)";
    ONE = "WHERE workspace_id = $1 AND product = $2";
    OF_WORKSPACE = "WHERE workspace_id = $1";
}

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    workspace_id: uuid::Uuid,
    product: String,
    active: bool,
    changed_by: uuid::Uuid,
    changed_at: i64,
}

impl SubscriptionRow {
    fn into_subscription(self) -> Result<Subscription, SqlError> {
        Ok(Subscription {
            workspace_id: WorkspaceId::from_uuid(self.workspace_id),
            product: ProductId::new(&self.product)
                .map_err(|_| SqlError::corrupt(TABLE, "product"))?,
            active: self.active,
            changed_by: UserId::from_uuid(self.changed_by),
            changed_at: from_nanos(TABLE, self.changed_at)?,
        })
    }
}

#[async_trait]
impl SubscriptionRows for SqlTransaction {
    async fn subscription(
        &mut self,
        workspace: WorkspaceId,
        product: &ProductId,
    ) -> Result<Option<Subscription>, Error> {
        let values = args![workspace, product.as_str()];
        self.one(ONE, values, SubscriptionRow::into_subscription)
            .await
    }

    async fn subscriptions(&mut self, workspace: WorkspaceId) -> Result<Vec<Subscription>, Error> {
        self.all(
            OF_WORKSPACE,
            args![workspace],
            SubscriptionRow::into_subscription,
        )
        .await
    }

    async fn put_subscription(&mut self, subscription: &Subscription) -> Result<(), Error> {
        let values = args![
            subscription.workspace_id,
            subscription.product.as_str(),
            subscription.active,
            subscription.changed_by,
            subscription.changed_at,
        ];
        self.put(PUT, values).await
    }
}

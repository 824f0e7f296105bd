//! API keys in SQL: the key id is the primary key (the O(1) lookup of every API call);
//! rotation is one transaction; on PostgreSQL a revocation or rotation also sends a
//! `NOTIFY` in its transaction, so other instances drop their cached record, and every new
//! key (issued or a successor) is announced the same way, so they add its id to their index
//! of key ids (see [`crate::CachedKeyStore`]). Each call answers within the store's deadline.

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;
use vault_core::keys::{KeyHash, KeyRecord};
use vault_core::{
    Environment, Error, KeyId, KeyMetadata, KeyStore, PermissionSet, ProductId, UserId, WorkspaceId,
};

use crate::deadline::pooled;
use crate::error::{SqlError, conflict_if_unique, conflict_on_unique};
use crate::store::{
    SqlStore, begin_write, from_nanos, from_opt_nanos, opt_nanos, to_nanos, with_pool,
};

/// The PostgreSQL channel on which key changes are announced; the payload is the key id.
pub const KEY_CHANGES_CHANNEL: &str = "vault_key_changes";

/// The PostgreSQL channel on which new keys are announced; the payload is the key id.
pub const NEW_KEYS_CHANNEL: &str = "vault_new_keys";

const TABLE: &str = "api_keys";

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: String,
    name: String,
    workspace_id: uuid::Uuid,
    product: String,
    environment: String,
    permissions: String,
    created_by: uuid::Uuid,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    rotated_from: Option<String>,
    secret_hash: Vec<u8>,
}

impl KeyRow {
    fn into_record(self) -> Result<KeyRecord, SqlError> {
        let bad = |what: &str| SqlError::corrupt(TABLE, what.to_owned());
        Ok(KeyRecord {
            metadata: KeyMetadata {
                id: self.id.parse().map_err(|_| bad("id"))?,
                name: self.name,
                workspace_id: WorkspaceId::from_uuid(self.workspace_id),
                product: ProductId::new(&self.product).map_err(|_| bad("product"))?,
                environment: self
                    .environment
                    .parse::<Environment>()
                    .map_err(|_| bad("environment"))?,
                permissions: PermissionSet::parse(self.permissions.split_whitespace())
                    .map_err(|_| bad("permissions"))?,
                created_by: UserId::from_uuid(self.created_by),
                created_at: from_nanos(TABLE, self.created_at)?,
                expires_at: from_opt_nanos(TABLE, self.expires_at)?,
                revoked_at: from_opt_nanos(TABLE, self.revoked_at)?,
                last_used_at: from_opt_nanos(TABLE, self.last_used_at)?,
                rotated_from: self
                    .rotated_from
                    .map(|id| id.parse::<KeyId>())
                    .transpose()
                    .map_err(|_| bad("rotated_from"))?,
            },
            secret_hash: KeyHash::from_slice(&self.secret_hash)
                .ok_or_else(|| bad("secret_hash"))?,
        })
    }
}

/// The bound values of one key row, in column order.
struct KeyValues {
    id: String,
    name: String,
    workspace_id: uuid::Uuid,
    product: String,
    environment: &'static str,
    permissions: String,
    created_by: uuid::Uuid,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
    rotated_from: Option<String>,
    secret_hash: Vec<u8>,
}

impl KeyValues {
    fn of(record: &KeyRecord) -> Result<Self, SqlError> {
        let m = &record.metadata;
        Ok(Self {
            id: m.id.as_str().to_owned(),
            name: m.name.clone(),
            workspace_id: *m.workspace_id.as_uuid(),
            product: m.product.as_str().to_owned(),
            environment: m.environment.as_str(),
            permissions: m
                .permissions
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            created_by: *m.created_by.as_uuid(),
            created_at: to_nanos(m.created_at)?,
            expires_at: opt_nanos(m.expires_at)?,
            revoked_at: opt_nanos(m.revoked_at)?,
            last_used_at: opt_nanos(m.last_used_at)?,
            rotated_from: m.rotated_from.map(|id| id.as_str().to_owned()),
            secret_hash: record.secret_hash.as_bytes().to_vec(),
        })
    }
}

/// The columns and placeholders of a new key row.
macro_rules! insert_key_sql {
    () => {
        "INSERT INTO api_keys (id, name, workspace_id, product, environment, permissions, \
         created_by, created_at, expires_at, revoked_at, last_used_at, rotated_from, \
         secret_hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    };
}

const INSERT: &str = insert_key_sql!();

/// [`INSERT`] and its announcement on `$14` in one statement, so in one transaction: sent at
/// commit, never for a failed insert.
const INSERT_AND_ANNOUNCE: &str = concat!(
    "WITH inserted AS (",
    insert_key_sql!(),
    " RETURNING id) SELECT pg_notify($14, id) FROM inserted"
);

/// Binds a [`KeyValues`] to the 13 placeholders of [`INSERT`].
macro_rules! bind_key {
    ($query:expr, $v:expr) => {
        $query
            .bind($v.id)
            .bind($v.name)
            .bind($v.workspace_id)
            .bind($v.product)
            .bind($v.environment)
            .bind($v.permissions)
            .bind($v.created_by)
            .bind($v.created_at)
            .bind($v.expires_at)
            .bind($v.revoked_at)
            .bind($v.last_used_at)
            .bind($v.rotated_from)
            .bind($v.secret_hash)
    };
}

impl SqlStore {
    async fn insert_key_row(&self, record: &KeyRecord) -> Result<(), SqlError> {
        let values = KeyValues::of(record)?;
        let call = self.deadline.start();
        with_pool!(self, |pool, pg| {
            let insert = if pg {
                bind_key!(sqlx::query(INSERT_AND_ANNOUNCE), values).bind(NEW_KEYS_CHANNEL)
            } else {
                bind_key!(sqlx::query(INSERT), values)
            };
            pooled!(&call, pool, |conn| insert.execute(conn))
                .map_err(conflict_if_unique("key id exists"))?;
        });
        Ok(())
    }

    async fn find_key_row(&self, id: &KeyId) -> Result<Option<KeyRecord>, SqlError> {
        const SQL: &str = "SELECT id, name, workspace_id, product, environment, permissions, \
             created_by, created_at, expires_at, revoked_at, last_used_at, rotated_from, \
             secret_hash FROM api_keys WHERE id = $1";
        let call = self.deadline.start();
        let row: Option<KeyRow> = with_pool!(self, |pool, pg| {
            pooled!(&call, pool, |conn| sqlx::query_as(SQL)
                .bind(id.as_str())
                .fetch_optional(conn))?
        });
        row.map(KeyRow::into_record).transpose()
    }

    async fn list_key_rows(&self, workspace: WorkspaceId) -> Result<Vec<KeyRecord>, SqlError> {
        const SQL: &str = "SELECT id, name, workspace_id, product, environment, permissions, \
             created_by, created_at, expires_at, revoked_at, last_used_at, rotated_from, \
             secret_hash FROM api_keys WHERE workspace_id = $1 ORDER BY created_at, id";
        let call = self.deadline.start();
        let rows: Vec<KeyRow> = with_pool!(self, |pool, pg| {
            pooled!(&call, pool, |conn| sqlx::query_as(SQL)
                .bind(*workspace.as_uuid())
                .fetch_all(conn))?
        });
        rows.into_iter().map(KeyRow::into_record).collect()
    }

    /// Reads every key id, in pages of `page` ids in id order (each page a call within the
    /// deadline, so at most a page is held), handing each page to `each` until it answers
    /// `false`: how many ids were read.
    pub(crate) async fn scan_key_ids(
        &self,
        page: u32,
        mut each: impl FnMut(&[KeyId]) -> bool + Send,
    ) -> Result<usize, SqlError> {
        const SQL: &str = "SELECT id FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2";
        let mut after = String::new();
        let mut count = 0;
        loop {
            let call = self.deadline.start();
            let ids: Vec<String> = with_pool!(self, |pool, pg| {
                pooled!(&call, pool, |conn| sqlx::query_scalar(SQL)
                    .bind(after.as_str())
                    .bind(i64::from(page))
                    .fetch_all(conn))?
            });
            let ids = ids
                .iter()
                .map(|id| id.parse().map_err(|_| SqlError::corrupt(TABLE, "id")))
                .collect::<Result<Vec<KeyId>, _>>()?;
            count += ids.len();
            if !each(&ids) || ids.len() < page as usize {
                return Ok(count);
            }
            if let Some(last) = ids.last() {
                last.as_str().clone_into(&mut after);
            }
        }
    }

    async fn revoke_key_row(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<Option<KeyRecord>, SqlError> {
        // COALESCE keeps an earlier revocation.
        const SQL: &str = "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 \
             RETURNING id, name, workspace_id, product, environment, permissions, created_by, \
             created_at, expires_at, revoked_at, last_used_at, rotated_from, secret_hash";
        let at = to_nanos(at)?;
        let call = self.deadline.start();
        let row: Option<KeyRow> = with_pool!(self, |pool, pg| {
            call.run(async {
                let mut tx = pool.begin().await?;
                let row: Option<KeyRow> = sqlx::query_as(SQL)
                    .bind(id.as_str())
                    .bind(at)
                    .fetch_optional(&mut *tx)
                    .await?;
                if pg && row.is_some() {
                    // Delivered to the listeners at commit, never for a rolled-back change.
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(KEY_CHANGES_CHANNEL)
                        .bind(id.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok::<_, SqlError>(row)
            })
            .await?
        });
        row.map(KeyRow::into_record).transpose()
    }

    async fn rotate_key_rows(
        &self,
        old: &KeyId,
        old_expires_at: OffsetDateTime,
        successor: &KeyRecord,
    ) -> Result<Result<(), Error>, SqlError> {
        let values = KeyValues::of(successor)?;
        let successor = successor.metadata.id;
        let old_expires_at = to_nanos(old_expires_at)?;
        let call = self.deadline.start();
        with_pool!(self, |pool, pg| {
            call.run(async {
                let mut tx = begin_write!(pool, pg)?;
                let revoked: Option<Option<i64>> = sqlx::query_scalar(if pg {
                    "SELECT revoked_at FROM api_keys WHERE id = $1 FOR UPDATE"
                } else {
                    "SELECT revoked_at FROM api_keys WHERE id = $1"
                })
                .bind(old.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                match revoked {
                    None => return Ok(Err(Error::KeyNotFound(*old))),
                    Some(Some(_)) => return Ok(Err(Error::KeyRevoked(*old))),
                    Some(None) => {}
                }
                bind_key!(sqlx::query(INSERT), values)
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict_on_unique("key id exists"))?;
                sqlx::query("UPDATE api_keys SET expires_at = $2 WHERE id = $1")
                    .bind(old.as_str())
                    .bind(old_expires_at)
                    .execute(&mut *tx)
                    .await?;
                if pg {
                    sqlx::query("SELECT pg_notify($1, $2), pg_notify($3, $4)")
                        .bind(KEY_CHANGES_CHANNEL)
                        .bind(old.as_str())
                        .bind(NEW_KEYS_CHANNEL)
                        .bind(successor.as_str())
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok::<_, SqlError>(Ok(()))
            })
            .await
        })
    }

    /// Records when keys were last used, a batch in one transaction (for a writer that
    /// collects uses off the request path). A stored later time is never moved back. Each
    /// statement, the begin and the commit answer within the store's deadline.
    pub async fn record_last_used(&self, uses: &[(KeyId, OffsetDateTime)]) -> Result<(), SqlError> {
        const SQL: &str = "UPDATE api_keys SET last_used_at = $2 \
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)";
        if uses.is_empty() {
            return Ok(());
        }
        let deadline = self.deadline;
        with_pool!(self, |pool, pg| {
            let mut tx = deadline.start().run(pool.begin()).await?;
            for (id, at) in uses {
                let update = sqlx::query(SQL)
                    .bind(id.as_str())
                    .bind(to_nanos(*at)?)
                    .execute(&mut *tx);
                deadline.start().run(update).await?;
            }
            deadline.start().run(tx.commit()).await?;
        });
        Ok(())
    }
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn insert_key(&self, record: KeyRecord) -> Result<(), Error> {
        Ok(self.insert_key_row(&record).await?)
    }

    async fn find_key(&self, id: &KeyId) -> Result<Option<Arc<KeyRecord>>, Error> {
        Ok(self.find_key_row(id).await?.map(Arc::new))
    }

    async fn list_keys(&self, workspace: WorkspaceId) -> Result<Vec<Arc<KeyRecord>>, Error> {
        let rows = self.list_key_rows(workspace).await?;
        Ok(rows.into_iter().map(Arc::new).collect())
    }

    async fn revoke_key(
        &self,
        id: &KeyId,
        at: OffsetDateTime,
    ) -> Result<Option<Arc<KeyRecord>>, Error> {
        Ok(self.revoke_key_row(id, at).await?.map(Arc::new))
    }

    async fn rotate_key(
        &self,
        old: &KeyId,
        old_expires_at: OffsetDateTime,
        successor: KeyRecord,
    ) -> Result<(), Error> {
        self.rotate_key_rows(old, old_expires_at, &successor)
            .await?
    }
}

#[cfg(test)]
mod tests {
    use vault_core::keys::KeyHash;

    use super::*;

    fn record() -> KeyRecord {
        KeyRecord {
            metadata: KeyMetadata {
                id: KeyId::random().unwrap(),
                name: "k".into(),
                workspace_id: WorkspaceId::random(),
                product: "submit".parse().unwrap(),
                environment: Environment::Production,
                permissions: PermissionSet::parse(["jobs:read"]).unwrap(),
                created_by: UserId::random(),
                created_at: OffsetDateTime::UNIX_EPOCH,
                expires_at: None,
                revoked_at: None,
                last_used_at: None,
                rotated_from: None,
            },
            secret_hash: KeyHash::from_bytes([1; 32]),
        }
    }

    #[tokio::test]
    async fn a_scan_reads_every_key_id_once_a_page_at_a_time() {
        let dir = std::env::temp_dir().join(format!("vault-scan-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqlStore::connect(&format!("sqlite://{}", dir.join("v.db").display()))
            .await
            .unwrap();
        let mut ids = Vec::new();
        for _ in 0..25 {
            let record = record();
            ids.push(record.metadata.id);
            store.insert_key(record).await.unwrap();
        }
        let (mut seen, mut pages) = (Vec::new(), 0);
        let count = store
            .scan_key_ids(10, |page| {
                pages += 1;
                seen.extend_from_slice(page);
                true
            })
            .await
            .unwrap();
        assert_eq!((count, pages), (25, 3));
        ids.sort();
        seen.sort();
        assert_eq!(seen, ids);
        let stopped = store.scan_key_ids(10, |_| false).await.unwrap();
        assert_eq!(stopped, 10, "no page after `each` said stop");
        store.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

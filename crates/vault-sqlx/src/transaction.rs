//! The unit of work of [`SqlStore`]: [`SqlTransaction`], a SQLite or PostgreSQL transaction
//! holding the locks of its [`Scope`], or a read view whose statements each run on the pool.
//! Every statement of the row traits goes through [`SqlTransaction::execute`] (refused in a
//! read view) or a fetch; the traits themselves are implemented in [`crate::rows`]. Each
//! statement, the begin (with its locks) and the commit answer within the store's deadline.

use std::ops::{Deref, DerefMut};

use async_trait::async_trait;
use sqlx::pool::PoolConnection;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, PgConnection, Pool, Postgres, Sqlite};
use vault_core::Error;
use vault_core::store::{Scope, Store, Transaction};

use crate::arg::Arg;
use crate::deadline::{self, Deadline};
use crate::error::SqlError;
use crate::store::{Backend, SqlStore, opt_nanos};

/// A write transaction or a read view, of either backend, and the deadline of each call.
pub(crate) struct SqlTransaction {
    link: AnyLink,
    deadline: Deadline,
}

/// The link of a [`SqlTransaction`], by backend.
enum AnyLink {
    Sqlite(Link<Sqlite>),
    Postgres(Link<Postgres>),
}

/// Where the statements of a [`SqlTransaction`] run.
pub(crate) enum Link<DB: Database> {
    /// The connection of an open transaction (rolled back by sqlx when dropped).
    Write(sqlx::Transaction<'static, DB>),
    /// Any connection of the pool, one statement at a time: committed data, no locks.
    Read(Pool<DB>),
}

/// What a statement needs: a read, or a write (refused in a read view).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
}

/// A connection to run statements on: borrowed from the transaction, or taken from the pool
/// for the length of one trait call.
enum Conn<'a, DB: Database> {
    Transaction(&'a mut DB::Connection),
    Pooled(PoolConnection<DB>),
}

impl<DB: Database> Link<DB> {
    async fn conn(&mut self, access: Access) -> Result<Conn<'_, DB>, SqlError> {
        match self {
            Self::Write(tx) => Ok(Conn::Transaction(&mut **tx)),
            Self::Read(_) if access == Access::Write => Err(SqlError::ReadView),
            Self::Read(pool) => Ok(Conn::Pooled(pool.acquire().await?)),
        }
    }
}

impl<DB: Database> Conn<'_, DB> {
    /// Ends the use of the connection for one statement: a pooled one goes back to the pool
    /// (or is closed, see [`deadline::settle`]); a transaction's stays with it (cut off, the
    /// transaction fails as a whole and sqlx rolls it back when it is dropped).
    fn settle<T>(self, outcome: Result<T, SqlError>) -> Result<T, SqlError> {
        match self {
            Self::Transaction(_) => outcome,
            Self::Pooled(conn) => deadline::settle(conn, outcome),
        }
    }
}

impl<DB: Database> Deref for Conn<'_, DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        match self {
            Self::Transaction(conn) => conn,
            Self::Pooled(conn) => conn,
        }
    }
}

impl<DB: Database> DerefMut for Conn<'_, DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match self {
            Self::Transaction(conn) => conn,
            Self::Pooled(conn) => conn,
        }
    }
}

/// Runs `$body` with `$conn` bound to a `&mut` connection of the transaction `$tx` for
/// `$access`, the wait for a connection and the statement within one deadline: each arm is
/// type-checked against its own driver, the SQL written once.
macro_rules! on_conn {
    ($tx:expr, $access:expr, |$conn:ident| $body:expr) => {{
        let call = $tx.deadline.start();
        match &mut $tx.link {
            AnyLink::Sqlite(link) => {
                let mut held = call.run(link.conn($access)).await?;
                let done = {
                    let $conn: &mut sqlx::SqliteConnection = &mut held;
                    call.run(async { $body }).await
                };
                held.settle(done)
            }
            AnyLink::Postgres(link) => {
                let mut held = call.run(link.conn($access)).await?;
                let done = {
                    let $conn: &mut sqlx::PgConnection = &mut held;
                    call.run(async { $body }).await
                };
                held.settle(done)
            }
        }
    }};
}

/// Binds every [`Arg`] of `$args` to `$query`, in order (`$1`, `$2`, …).
macro_rules! bind {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match *arg {
                Arg::Id(v) => query.bind(v),
                Arg::Bytes(v) => query.bind(v),
                Arg::Text(v) => query.bind(v),
                Arg::Int(v) => query.bind(v),
                // An INTEGER column: counters and code indexes never come near 2^31.
                Arg::Count(v) => query.bind(i32::try_from(v).unwrap_or(i32::MAX)),
                Arg::Bool(v) => query.bind(v),
                Arg::Time(v) => query.bind(opt_nanos(v)?),
            };
        }
        query
    }};
}

/// A row type both drivers can read.
pub(crate) trait Row:
    for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}

impl<T> Row for T where
    T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin
{
}

/// The statements of the row traits, each a `&'static str` and its bound values.
impl SqlTransaction {
    /// Runs a write statement; how many rows it changed. Refused in a read view.
    pub(crate) async fn execute(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<u64, SqlError> {
        on_conn!(self, Access::Write, |conn| {
            let done = bind!(sqlx::query(sql), args).execute(conn).await?;
            Ok::<_, SqlError>(done.rows_affected())
        })
    }

    /// Runs a writing statement that returns rows (`RETURNING`); every row. Refused in a
    /// read view.
    pub(crate) async fn fetch_written<R: Row>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<R>, SqlError> {
        on_conn!(self, Access::Write, |conn| {
            Ok::<_, SqlError>(bind!(sqlx::query_as(sql), args).fetch_all(conn).await?)
        })
    }

    /// Whether the statements run on PostgreSQL (for the few whose SQL differs).
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.link, AnyLink::Postgres(_))
    }

    /// Runs a query; every row it returns.
    pub(crate) async fn fetch_all<R: Row>(
        &mut self,
        sql: &'static str,
        args: &[Arg<'_>],
    ) -> Result<Vec<R>, SqlError> {
        on_conn!(self, Access::Read, |conn| {
            Ok::<_, SqlError>(bind!(sqlx::query_as(sql), args).fetch_all(conn).await?)
        })
    }
}

#[async_trait]
impl Store for SqlStore {
    async fn begin(&self, scope: Scope) -> Result<Box<dyn Transaction + '_>, Error> {
        let call = self.deadline.start();
        let link = match &self.backend {
            // SQLite has one writer: taking the write lock up front is the whole scope (a
            // read-then-write transaction could otherwise fail to upgrade).
            Backend::Sqlite(pool) => {
                let tx = call.run(pool.begin_with("BEGIN IMMEDIATE")).await?;
                AnyLink::Sqlite(Link::Write(tx))
            }
            Backend::Postgres { pool, .. } => {
                let tx = call
                    .run(async {
                        let mut tx = pool.begin().await?;
                        lock(&mut tx, &scope).await?;
                        Ok::<_, SqlError>(tx)
                    })
                    .await?;
                AnyLink::Postgres(Link::Write(tx))
            }
        };
        Ok(Box::new(SqlTransaction {
            link,
            deadline: self.deadline,
        }))
    }

    async fn read(&self) -> Result<Box<dyn Transaction + '_>, Error> {
        let link = match &self.backend {
            Backend::Sqlite(pool) => AnyLink::Sqlite(Link::Read(pool.clone())),
            Backend::Postgres { pool, .. } => AnyLink::Postgres(Link::Read(pool.clone())),
        };
        Ok(Box::new(SqlTransaction {
            link,
            deadline: self.deadline,
        }))
    }
}

/// Locks the rows of `scope` in its order (users, workspaces, throttle keys), so two
/// transactions never wait on each other in a cycle. A missing user or workspace locks
/// nothing; a throttle counter is created first, so even a new key is locked.
async fn lock(conn: &mut PgConnection, scope: &Scope) -> Result<(), SqlError> {
    for user in scope.users() {
        sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE")
            .bind(*user.as_uuid())
            .execute(&mut *conn)
            .await?;
    }
    for workspace in scope.workspaces() {
        sqlx::query("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE")
            .bind(*workspace.as_uuid())
            .execute(&mut *conn)
            .await?;
    }
    for key in scope.throttles() {
        let key = key.storage_key();
        // A concurrent transaction may delete the row between the insert and the lock:
        // then insert again.
        loop {
            sqlx::query("INSERT INTO throttle (key) VALUES ($1) ON CONFLICT DO NOTHING")
                .bind(&key)
                .execute(&mut *conn)
                .await?;
            let locked: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM throttle WHERE key = $1 FOR UPDATE")
                    .bind(&key)
                    .fetch_optional(&mut *conn)
                    .await?;
            if locked.is_some() {
                break;
            }
        }
    }
    Ok(())
}

#[async_trait]
impl Transaction for SqlTransaction {
    async fn commit(self: Box<Self>) -> Result<(), Error> {
        let call = self.deadline.start();
        match self.link {
            AnyLink::Sqlite(Link::Write(tx)) => call.run(tx.commit()).await?,
            AnyLink::Postgres(Link::Write(tx)) => call.run(tx.commit()).await?,
            AnyLink::Sqlite(Link::Read(_)) | AnyLink::Postgres(Link::Read(_)) => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use vault_core::UserId;

    use super::*;
    use crate::StoreOptions;

    #[tokio::test]
    async fn an_unreachable_database_is_unavailable_to_transactions_and_read_views() {
        let options = StoreOptions {
            acquire_timeout: Duration::from_millis(300),
            ..StoreOptions::default()
        };
        let store = SqlStore::connect_lazy("postgres://vault@127.0.0.1:1/vault", &options)
            .expect("a lazy pool");
        let begun = store.begin(Scope::user(UserId::random())).await;
        assert!(matches!(begun, Err(Error::StoreUnavailable(_))));
        let mut view = store.read().await.expect("a read view needs no connection");
        let read = view.user(UserId::random()).await;
        assert!(matches!(read, Err(Error::StoreUnavailable(_))), "{read:?}");
    }
}

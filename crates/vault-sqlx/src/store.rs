//! [`SqlStore`]: one handle over a SQLite or PostgreSQL pool, chosen by URL, with the pool
//! and statement limits that keep a slow database from stalling requests.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use time::OffsetDateTime;

use crate::deadline::Deadline;
use crate::error::SqlError;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Pool and timeout settings. The defaults suit an API server: every store call answers
/// within [`StoreOptions::deadline`], whatever the database or the link to it does, and past
/// it the store answers [`vault_core::Error::StoreUnavailable`] (a 503 with `Retry-After`),
/// never a hang.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Most connections in the pool (default 8).
    pub max_connections: u32,
    /// Connections kept open while idle (default 1).
    pub min_connections: u32,
    /// How long to wait for a free connection (default 2 s; the deadline bounds it too).
    pub acquire_timeout: Duration,
    /// PostgreSQL `statement_timeout` and SQLite busy timeout (default 5 s): what the database
    /// enforces on a statement it received, to spare itself the work.
    pub statement_timeout: Duration,
    /// The longest one store call may take, measured here: a key lookup, each statement of a
    /// transaction, its begin and its commit, the wait for a connection included (default
    /// 2 s). Unlike `statement_timeout` it holds when the query or its answer is stuck on the
    /// way (a partition that keeps TCP connections open). A connection whose statement was
    /// cut off is closed, not reused; a commit cut off may still have committed.
    pub deadline: Duration,
    /// Whether to run the embedded migrations on connect (default `true`).
    pub migrate: bool,
    /// PostgreSQL only: the schema the store's tables live in (default `None`: the URL's or
    /// the server's `search_path`, usually `public`). One database can then hold the Vaults
    /// of several tenants or tests. A lowercase identifier (`[a-z_][a-z0-9_]*`, at most 63
    /// characters); created on connect when `migrate` is on. Notifications (`LISTEN`/`NOTIFY`)
    /// are per database: stores in two schemas of one database hear each other's key
    /// notices, which costs a cache refresh, never a wrong answer.
    pub postgres_schema: Option<String>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            min_connections: 1,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
            deadline: Duration::from_secs(2),
            migrate: true,
            postgres_schema: None,
        }
    }
}

/// A SQL store implementing [`vault_core::KeyStore`] and [`vault_core::store::Store`].
///
/// Cheap to clone: clones share one pool.
#[derive(Clone, Debug)]
pub struct SqlStore {
    pub(crate) backend: Backend,
    pub(crate) deadline: Deadline,
}

#[derive(Clone, Debug)]
pub(crate) enum Backend {
    Sqlite(SqlitePool),
    Postgres {
        pool: PgPool,
        options: Box<PgConnectOptions>,
    },
}

/// Which database a [`SqlStore`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// SQLite: one file, one machine.
    Sqlite,
    /// PostgreSQL: many app instances.
    Postgres,
}

impl SqlStore {
    /// Connects with [`StoreOptions::default`] and migrates the schema forward.
    ///
    /// `sqlite://vault.db` (a file, created if missing; WAL, foreign keys on, busy timeout)
    /// or `postgres://user@host/db` (also `postgresql://`).
    pub async fn connect(url: &str) -> Result<Self, SqlError> {
        Self::connect_with(url, &StoreOptions::default()).await
    }

    /// Connects with `options`.
    pub async fn connect_with(url: &str, options: &StoreOptions) -> Result<Self, SqlError> {
        let store = if url.starts_with("sqlite:") {
            Self::connect_sqlite(url, options).await?
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Self::connect_postgres(url, options).await?
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            return Err(SqlError::UnsupportedUrl(scheme.chars().take(32).collect()));
        };
        if options.migrate {
            store.create_schema(options).await?;
            store.migrate().await?;
        }
        Ok(store)
    }

    /// A store whose pool connects on first use, without migrating: start-up does not wait
    /// for (or fail on) an unreachable database, and every call until it is reachable
    /// answers [`vault_core::Error::StoreUnavailable`]. Run [`SqlStore::migrate`] once it is.
    pub fn connect_lazy(url: &str, options: &StoreOptions) -> Result<Self, SqlError> {
        if url.starts_with("sqlite:") {
            let pool =
                Self::sqlite_pool(options).connect_lazy_with(Self::sqlite_options(url, options)?);
            Ok(Self {
                backend: Backend::Sqlite(pool),
                deadline: Deadline::new(options.deadline),
            })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let connect = Self::postgres_options(url, options)?;
            let pool = Self::postgres_pool(options).connect_lazy_with(connect.clone());
            Ok(Self {
                backend: Backend::Postgres {
                    pool,
                    options: Box::new(connect),
                },
                deadline: Deadline::new(options.deadline),
            })
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(SqlError::UnsupportedUrl(scheme.chars().take(32).collect()))
        }
    }

    fn sqlite_options(url: &str, options: &StoreOptions) -> Result<SqliteConnectOptions, SqlError> {
        Ok(SqliteConnectOptions::from_str(url)
            .map_err(SqlError::InvalidUrl)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a revocation that was acknowledged survives a power loss.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.statement_timeout))
    }

    fn sqlite_pool(options: &StoreOptions) -> SqlitePoolOptions {
        SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
    }

    fn postgres_options(url: &str, options: &StoreOptions) -> Result<PgConnectOptions, SqlError> {
        let timeout_ms = options.statement_timeout.as_millis().to_string();
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(SqlError::InvalidUrl)?
            .options([
                ("statement_timeout", timeout_ms.as_str()),
                ("lock_timeout", timeout_ms.as_str()),
                ("idle_in_transaction_session_timeout", "60000"),
            ])
            .application_name("vault");
        if let Some(schema) = &options.postgres_schema {
            connect = connect.options([("search_path", schema_name(schema)?)]);
        }
        Ok(connect)
    }

    /// Creates [`StoreOptions::postgres_schema`] if it is set and missing.
    async fn create_schema(&self, options: &StoreOptions) -> Result<(), SqlError> {
        let (Backend::Postgres { pool, .. }, Some(schema)) =
            (&self.backend, &options.postgres_schema)
        else {
            return Ok(());
        };
        // A checked identifier: lowercase letters, digits and `_` only, so it needs no quoting.
        let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", schema_name(schema)?);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(pool)
            .await?;
        Ok(())
    }

    fn postgres_pool(options: &StoreOptions) -> PgPoolOptions {
        PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .min_connections(options.min_connections)
            .acquire_timeout(options.acquire_timeout)
    }

    async fn connect_sqlite(url: &str, options: &StoreOptions) -> Result<Self, SqlError> {
        let pool = Self::sqlite_pool(options)
            .connect_with(Self::sqlite_options(url, options)?)
            .await?;
        Ok(Self {
            backend: Backend::Sqlite(pool),
            deadline: Deadline::new(options.deadline),
        })
    }

    async fn connect_postgres(url: &str, options: &StoreOptions) -> Result<Self, SqlError> {
        let connect = Self::postgres_options(url, options)?;
        let pool = Self::postgres_pool(options)
            .connect_with(connect.clone())
            .await?;
        Ok(Self {
            backend: Backend::Postgres {
                pool,
                options: Box::new(connect),
            },
            deadline: Deadline::new(options.deadline),
        })
    }

    /// Runs the embedded migrations of this backend (idempotent; safe with several
    /// instances starting at once: PostgreSQL serialises them with an advisory lock).
    pub async fn migrate(&self) -> Result<(), SqlError> {
        match &self.backend {
            Backend::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Backend::Postgres { pool, .. } => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// The database behind this store.
    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite(_) => BackendKind::Sqlite,
            Backend::Postgres { .. } => BackendKind::Postgres,
        }
    }

    /// Closes every connection; later calls fail with
    /// [`vault_core::Error::StoreUnavailable`].
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres { pool, .. } => pool.close().await,
        }
    }
}

/// A schema name as [`StoreOptions::postgres_schema`] accepts it.
fn schema_name(name: &str) -> Result<&str, SqlError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && name.len() <= 63 && !name.starts_with("pg_") {
        Ok(name)
    } else {
        Err(SqlError::InvalidSchema(name.chars().take(64).collect()))
    }
}

/// Runs `$body` with `$pool` bound to the concrete pool and `$pg` telling whether it is
/// PostgreSQL: the SQL is written once, in the dialect both backends share (`$n` binds,
/// `RETURNING`, `ON CONFLICT`), and each arm is type-checked against its own driver.
macro_rules! with_pool {
    ($store:expr, |$pool:ident, $pg:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite($pool) => {
                #[allow(unused_variables)]
                let $pg = false;
                $body
            }
            $crate::store::Backend::Postgres { pool: $pool, .. } => {
                #[allow(unused_variables)]
                let $pg = true;
                $body
            }
        }
    };
}

/// Begins a write transaction: on SQLite `BEGIN IMMEDIATE` takes the write lock up front (a
/// read-then-write transaction could otherwise fail to upgrade), on PostgreSQL rows are
/// locked with `FOR UPDATE` by the statements inside.
macro_rules! begin_write {
    ($pool:expr, $pg:expr) => {
        if $pg {
            $pool.begin().await
        } else {
            $pool.begin_with("BEGIN IMMEDIATE").await
        }
    };
}

pub(crate) use {begin_write, with_pool};

/// A timestamp as stored: Unix nanoseconds (UTC).
pub(crate) fn to_nanos(at: OffsetDateTime) -> Result<i64, SqlError> {
    i64::try_from(at.unix_timestamp_nanos()).map_err(|_| SqlError::TimestampOutOfRange)
}

pub(crate) fn opt_nanos(at: Option<OffsetDateTime>) -> Result<Option<i64>, SqlError> {
    at.map(to_nanos).transpose()
}

pub(crate) fn from_nanos(table: &'static str, nanos: i64) -> Result<OffsetDateTime, SqlError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map_err(|err| SqlError::corrupt(table, err.to_string()))
}

pub(crate) fn from_opt_nanos(
    table: &'static str,
    nanos: Option<i64>,
) -> Result<Option<OffsetDateTime>, SqlError> {
    nanos.map(|n| from_nanos(table, n)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_call_is_bounded_to_two_seconds_by_default() {
        assert_eq!(StoreOptions::default().deadline, Duration::from_secs(2));
    }
}

//! Store fixtures shared by the store test files: a fresh memory store, SQLite file or
//! PostgreSQL schema per test, always cleaned up, even when the test panics.
//!
//! PostgreSQL is read from `VAULT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); an unreachable server fails the test, never
//! skips it.

#![allow(dead_code)]

pub mod forged;
pub mod relay;

use std::future::Future;
use std::sync::Arc;

use sqlx::Connection;
use vault_core::MemoryStore;
use vault_core::testing::conformance::Fixture;
/// Every store trait the suites exercise.
pub use vault_core::testing::conformance::StoreUnderTest as Stores;
use vault_sqlx::SqlStore;

/// The backend of a fixture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Sqlite,
    Postgres,
}

/// What a test gets: the store, and for SQL stores the URL to connect again.
pub struct Ctx {
    pub kind: Kind,
    pub store: Arc<dyn Stores>,
    pub sql: Option<SqlStore>,
    pub url: Option<String>,
}

impl Ctx {
    /// Closes the pool and connects anew to the same database (SQL stores only).
    pub async fn reconnect(&mut self) {
        let (Some(sql), Some(url)) = (&self.sql, &self.url) else {
            return;
        };
        sql.close().await;
        let again = SqlStore::connect(url).await.expect("reconnect");
        self.store = Arc::new(again.clone());
        self.sql = Some(again);
    }
}

pub fn postgres_url() -> String {
    std::env::var("VAULT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A PostgreSQL schema of its own, dropped by [`PgSchema::drop_now`].
pub struct PgSchema {
    pub name: String,
    pub url: String,
    base: String,
}

impl PgSchema {
    pub async fn create() -> Self {
        let base = postgres_url();
        let name = format!("vault_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::PgConnection::connect(&base)
            .await
            .unwrap_or_else(|err| {
                panic!(
                    "PostgreSQL is required for the store suite and is unreachable at \
                 VAULT_TEST_POSTGRES_URL ({base}): {err}"
                )
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut admin)
            .await
            .expect("create schema");
        admin.close().await.ok();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Self { name, url, base }
    }

    pub async fn drop_now(&self) {
        let mut admin = sqlx::PgConnection::connect(&self.base)
            .await
            .expect("connect to drop the test schema");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        )))
        .execute(&mut admin)
        .await
        .expect("drop schema");
        admin.close().await.ok();
    }
}

/// A fresh store of some kind, and what to remove once a test is over.
pub struct Fresh {
    ctx: Ctx,
    dir: Option<tempfile::TempDir>,
    schema: Option<PgSchema>,
}

impl Fresh {
    /// A fresh memory store, SQLite file or PostgreSQL schema.
    pub async fn open(kind: Kind) -> Self {
        match kind {
            Kind::Memory => Self {
                ctx: Ctx {
                    kind,
                    store: Arc::new(MemoryStore::new()),
                    sql: None,
                    url: None,
                },
                dir: None,
                schema: None,
            },
            Kind::Sqlite => {
                let tmp = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", tmp.path().join("vault.db").display());
                let sql = SqlStore::connect(&url).await.expect("open SQLite");
                Self {
                    ctx: Ctx::sql(kind, sql, url),
                    dir: Some(tmp),
                    schema: None,
                }
            }
            Kind::Postgres => {
                let pg = PgSchema::create().await;
                let sql = match SqlStore::connect(&pg.url).await {
                    Ok(sql) => sql,
                    Err(err) => {
                        pg.drop_now().await;
                        panic!("connect to PostgreSQL: {err:?}");
                    }
                };
                Self {
                    ctx: Ctx::sql(kind, sql, pg.url.clone()),
                    dir: None,
                    schema: Some(pg),
                }
            }
        }
    }

    /// Removes the store's data: the PostgreSQL schema, the SQLite file.
    pub async fn remove(self) {
        if let Some(pg) = self.schema {
            pg.drop_now().await;
        }
        drop(self.dir);
    }
}

impl Ctx {
    fn sql(kind: Kind, sql: SqlStore, url: String) -> Self {
        Self {
            kind,
            store: Arc::new(sql.clone()),
            sql: Some(sql),
            url: Some(url),
        }
    }
}

/// vault-core's row conformance suite runs each case on a [`Fresh`] store, removed after.
impl Fixture for Fresh {
    fn store(&self) -> Arc<dyn Stores> {
        Arc::clone(&self.ctx.store)
    }

    async fn finish(self) {
        self.remove().await;
    }
}

/// Runs `case` against a fresh store of `kind`, then removes the store's data whatever the
/// outcome, then re-raises a panic of the case.
pub async fn run<F, Fut>(kind: Kind, case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let fresh = Fresh::open(kind).await;
    let ctx = Ctx {
        kind,
        store: Arc::clone(&fresh.ctx.store),
        sql: fresh.ctx.sql.clone(),
        url: fresh.ctx.url.clone(),
    };
    // Spawned, so a panic comes back as a JoinError and the cleanup below still runs.
    let outcome = tokio::spawn(case(ctx)).await;
    fresh.remove().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

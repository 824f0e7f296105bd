//! Store fixtures shared by the store test files: a fresh memory store, SQLite file or
//! PostgreSQL schema per test, always cleaned up, even when the test panics.
//!
//! PostgreSQL is read from `VAULT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); an unreachable server fails the test, never
//! skips it.

#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;

use sqlx::Connection;
use vault_core::store::{AccessStore, AccountStore};
use vault_core::{KeyStore, MemoryStore};
use vault_sqlx::SqlStore;

/// Every store trait the suite exercises.
pub trait Stores: KeyStore + AccountStore + AccessStore {}
impl<T: KeyStore + AccountStore + AccessStore> Stores for T {}

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

/// Runs `case` against a fresh store of `kind`, then removes the store's data whatever the
/// outcome, then re-raises a panic of the case.
pub async fn run<F, Fut>(kind: Kind, case: F)
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut dir = None;
    let mut schema = None;
    let ctx = match kind {
        Kind::Memory => Ctx {
            kind,
            store: Arc::new(MemoryStore::new()),
            sql: None,
            url: None,
        },
        Kind::Sqlite => {
            let tmp = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", tmp.path().join("vault.db").display());
            dir = Some(tmp);
            let sql = SqlStore::connect(&url).await.expect("open SQLite");
            Ctx {
                kind,
                store: Arc::new(sql.clone()),
                sql: Some(sql),
                url: Some(url),
            }
        }
        Kind::Postgres => {
            let pg = PgSchema::create().await;
            let sql = SqlStore::connect(&pg.url).await;
            let url = pg.url.clone();
            schema = Some(pg);
            let sql = match sql {
                Ok(sql) => sql,
                Err(err) => {
                    schema.as_ref().expect("schema").drop_now().await;
                    panic!("connect to PostgreSQL: {err:?}");
                }
            };
            Ctx {
                kind,
                store: Arc::new(sql.clone()),
                sql: Some(sql),
                url: Some(url),
            }
        }
    };
    // Spawned, so a panic comes back as a JoinError and the cleanup below still runs.
    let outcome = tokio::spawn(case(ctx)).await;
    if let Some(pg) = schema {
        pg.drop_now().await;
    }
    drop(dir);
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

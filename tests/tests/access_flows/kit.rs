// The kit of vault-core's `tests/access_support`, over a fresh SQL store per test (a SQLite
// file or a PostgreSQL schema, removed when the kit is dropped). Included by
// `access_flows_sql.rs` with `KIND` set; keep its items in step with vault-core's kit.

use std::fmt::Debug;
use std::sync::Arc;

use vault_core::access::{
    AccessControl, AccessDefect, Actor, Catalog, Product, ProductRole, RoleName, WorkspaceRole,
};
use vault_core::audit::MemoryAuditSink;
use vault_core::{Error, ManualClock, Permission, ProductId, UserId, WorkspaceId};
use vault_sqlx::SqlStore;

use crate::support::{Kind, postgres_url};

pub struct Kit {
    pub store: Arc<SqlStore>,
    pub access: AccessControl,
    pub audit: MemoryAuditSink,
    pub clock: ManualClock,
    pub owner: Actor,
    pub workspace: WorkspaceId,
    pub submit: ProductId,
}

/// The kit's audit sink, which also owns the database: the flows take the kit apart
/// (`let Kit { access, .. } = kit().await`), and the access service they keep holds the
/// sink, so the data lives exactly as long as the service that uses it.
struct AuditKeepingDatabase {
    audit: MemoryAuditSink,
    _database: Database,
}

#[async_trait::async_trait]
impl vault_core::AuditSink for AuditKeepingDatabase {
    async fn record(&self, event: vault_core::AuditEvent) {
        self.audit.record(event).await;
    }
}

/// Where the kit's data lives; removed on drop, panics included.
enum Database {
    Sqlite(tempfile::TempDir),
    Postgres { base: String, schema: String },
}

impl Drop for Database {
    fn drop(&mut self) {
        let Database::Postgres { base, schema } = self else {
            return;
        };
        let (base, schema) = (base.clone(), schema.clone());
        // Its own thread and runtime: a test's runtime may be shutting down.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async {
                use sqlx::Connection;
                let mut admin = sqlx::PgConnection::connect(&base).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {schema} CASCADE"
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await
            })
        })
        .join();
        assert!(matches!(dropped, Ok(Ok(()))), "drop the test schema");
    }
}

async fn fresh_store() -> (Arc<SqlStore>, Database) {
    match KIND {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("vault.db").display());
            let store = SqlStore::connect(&url).await.expect("open SQLite");
            (Arc::new(store), Database::Sqlite(dir))
        }
        Kind::Memory => panic!("these flows are for SQL stores; vault-core runs them in memory"),
        Kind::Postgres => {
            let pg = crate::support::PgSchema::create().await;
            let database = Database::Postgres {
                base: postgres_url(),
                schema: pg.name.clone(),
            };
            let store = SqlStore::connect(&pg.url)
                .await
                .expect("connect PostgreSQL");
            (Arc::new(store), database)
        }
    }
}

pub fn catalog() -> Catalog {
    Catalog::new([
        Product::new("submit")
            .unwrap()
            .role(ProductRole::new("viewer", ["jobs:read"]).unwrap())
            .role(ProductRole::new("submitter", ["jobs:read", "jobs:create"]).unwrap())
            .role(ProductRole::new("key-manager", ["jobs:read", "keys:manage"]).unwrap())
            .role(ProductRole::new("operator", ["*"]).unwrap().sensitive()),
        Product::new("manage")
            .unwrap()
            .role(ProductRole::new("reader", ["projects:read"]).unwrap()),
    ])
    .unwrap()
}

pub fn role(name: &str) -> RoleName {
    name.parse().unwrap()
}

pub fn perm(text: &str) -> Permission {
    text.parse().unwrap()
}

pub fn product(id: &str) -> ProductId {
    id.parse().unwrap()
}

/// The refusal inside an access error; panics on success or any other error.
pub fn refusal<T: Debug>(result: Result<T, Error>) -> AccessDefect {
    match result {
        Err(Error::Access(defect)) => defect,
        other => panic!("expected an access refusal, got {other:?}"),
    }
}

/// A signed-in user whose session passed 2FA.
pub fn user() -> Actor {
    Actor::new(UserId::random(), true)
}

/// The same user from a session without 2FA.
pub fn without_2fa(actor: Actor) -> Actor {
    Actor::new(actor.user_id, false)
}

pub async fn kit() -> Kit {
    let (store, database) = fresh_store().await;
    let audit = MemoryAuditSink::new();
    let clock = ManualClock::default();
    let access = AccessControl::builder(store.clone(), catalog())
        .clock(clock.clone())
        .audit(Arc::new(AuditKeepingDatabase {
            audit: audit.clone(),
            _database: database,
        }))
        .build();
    let owner = user();
    let workspace = access.create_workspace(&owner, "Acme").await.unwrap().id;
    let submit = product("submit");
    access
        .activate_product(&owner, workspace, &submit)
        .await
        .unwrap();
    Kit {
        store,
        access,
        audit,
        clock,
        owner,
        workspace,
        submit,
    }
}

impl Kit {
    /// A new user invited by the owner with `role`, accepted with the invited address.
    pub async fn join(&self, role: WorkspaceRole) -> Actor {
        let actor = user();
        let email = format!("{}@example.com", actor.user_id);
        let invited = self
            .access
            .invite(&self.owner, self.workspace, &email, role)
            .await
            .unwrap();
        self.access
            .accept_invitation(&actor, invited.token.expose_secret(), &email)
            .await
            .unwrap();
        actor
    }

    /// The owner grants `role` of Submit to `actor` directly.
    pub async fn grant(&self, actor: &Actor, role_name: &str) {
        self.access
            .grant(
                &self.owner,
                self.workspace,
                vault_core::access::Grantee::User(actor.user_id),
                &self.submit,
                &role(role_name),
            )
            .await
            .unwrap();
    }

    /// The actor's check of a Submit permission.
    pub async fn may(&self, actor: &Actor, permission: &str) -> Result<(), AccessDefect> {
        match self
            .access
            .check(actor, self.workspace, &self.submit, &perm(permission))
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(refusal::<()>(Err(err))),
        }
    }
}

//! A database written by an older version migrates forward without data loss: a SQLite file
//! and a PostgreSQL schema with only the first migration applied get keys and users, then
//! the current `SqlStore` connects, migrates, and reads them back.

mod support;

use std::path::{Path, PathBuf};

use support::PgSchema;
use time::macros::datetime;
use vault_core::access::{Member, TwoFactorPolicy, Workspace, WorkspaceRole};
use vault_core::accounts::{Email, User};
use vault_core::keys::{KeyHash, KeyRecord};
use vault_core::store::{Scope, Store};
use vault_core::{Environment, KeyId, KeyMetadata, KeyStore, PermissionSet, UserId, WorkspaceId};
use vault_sqlx::{SqlStore, StoreOptions};

/// A migrations directory holding only the first migration of `backend`, as the first
/// release shipped it.
fn first_migration_only(backend: &str) -> tempfile::TempDir {
    let source: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "crates", "vault-sqlx"]
        .iter()
        .collect::<PathBuf>()
        .join("migrations")
        .join(backend)
        .join("0001_keys_and_accounts.sql");
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(&source, dir.path().join("0001_keys_and_accounts.sql")).expect("copy 0001");
    dir
}

fn old_key() -> KeyRecord {
    KeyRecord {
        metadata: KeyMetadata {
            id: KeyId::random().unwrap(),
            name: "written by v1".into(),
            workspace_id: WorkspaceId::random(),
            product: "submit".parse().unwrap(),
            environment: Environment::Production,
            permissions: PermissionSet::parse(["jobs:read"]).unwrap(),
            created_by: UserId::random(),
            created_at: datetime!(2030-01-02 03:04:05.123456789 UTC),
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            rotated_from: None,
        },
        secret_hash: KeyHash::from_bytes([7; 32]),
    }
}

fn old_user() -> User {
    User {
        id: UserId::random(),
        name: "Ada".into(),
        email: Email::parse("ada@example.com").unwrap(),
        email_verified: true,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        two_factor: None,
        created_at: datetime!(2030-01-02 03:04:05 UTC),
    }
}

/// Writes a key and a user through a store that does not migrate (the schema stays at the
/// first version), then connects as the current version and checks everything is there.
async fn migrates_forward(url: &str, first_version_applied: impl AsyncFnOnce(&Path)) {
    let backend = if url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    let dir = first_migration_only(backend);
    first_version_applied(dir.path()).await;
    let old = SqlStore::connect_with(
        url,
        &StoreOptions {
            migrate: false,
            ..StoreOptions::default()
        },
    )
    .await
    .expect("connect to the old schema");
    let (key, user) = (old_key(), old_user());
    old.insert_key(key.clone()).await.unwrap();
    let mut tx = old.begin(Scope::user(user.id)).await.unwrap();
    tx.put_user(&user).await.unwrap();
    tx.commit().await.unwrap();
    assert!(
        old.read()
            .await
            .unwrap()
            .workspace(WorkspaceId::random())
            .await
            .is_err(),
        "the first version has no access tables"
    );
    old.close().await;

    let current = SqlStore::connect(url).await.expect("migrate forward");
    assert_eq!(
        *current.find_key(&key.metadata.id).await.unwrap().unwrap(),
        key
    );
    let found = current
        .read()
        .await
        .unwrap()
        .user(user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.email.as_str(), found.password_hash, found.created_at),
        (user.email.as_str(), user.password_hash, user.created_at)
    );
    // The new tables are there and usable beside the old data.
    let workspace = Workspace {
        id: key.metadata.workspace_id,
        name: "Acme".into(),
        created_by: user.id,
        created_at: user.created_at,
        two_factor: TwoFactorPolicy::default(),
    };
    let owner = Member {
        workspace_id: workspace.id,
        user_id: user.id,
        role: WorkspaceRole::Owner,
        joined_at: user.created_at,
    };
    let mut tx = current.begin(Scope::workspace(workspace.id)).await.unwrap();
    tx.put_workspace(&workspace).await.unwrap();
    tx.put_member(&owner).await.unwrap();
    tx.commit().await.unwrap();
    let mut r = current.read().await.unwrap();
    assert_eq!(
        r.workspace(workspace.id).await.unwrap(),
        Some(workspace.clone())
    );
    assert_eq!(r.members(workspace.id).await.unwrap(), vec![owner]);
    drop(r);
    // Connecting again finds nothing left to do.
    current.close().await;
    let again = SqlStore::connect(url)
        .await
        .expect("migrations are idempotent");
    assert_eq!(
        again
            .list_keys(key.metadata.workspace_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_sqlite_file_of_the_first_version_migrates_forward() {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", tmp.path().join("vault.db").display());
    migrates_forward(&url, async |migrations: &Path| {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
            .await
            .unwrap();
        let first = sqlx::migrate::Migrator::new(migrations).await.unwrap();
        assert_eq!(first.iter().count(), 1);
        first.run(&pool).await.unwrap();
        pool.close().await;
    })
    .await;
}

#[tokio::test]
async fn a_postgres_schema_of_the_first_version_migrates_forward() {
    let schema = PgSchema::create().await;
    let url = schema.url.clone();
    let outcome = tokio::spawn(async move {
        migrates_forward(&url, async |migrations: &Path| {
            let pool = sqlx::PgPool::connect(&url).await.unwrap();
            let first = sqlx::migrate::Migrator::new(migrations).await.unwrap();
            assert_eq!(first.iter().count(), 1);
            first.run(&pool).await.unwrap();
            pool.close().await;
        })
        .await;
    })
    .await;
    schema.drop_now().await;
    if let Err(err) = outcome {
        std::panic::resume_unwind(err.into_panic());
    }
}

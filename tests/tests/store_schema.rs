//! `StoreOptions::postgres_schema`: two stores in two schemas of one PostgreSQL database
//! each create and migrate their own schema and see only their own rows; a name that is not
//! a plain identifier is refused before anything is sent.

mod support;

use sqlx::Connection;
use time::macros::datetime;
use vault_core::UserId;
use vault_core::accounts::{Email, User};
use vault_core::store::{Scope, Store};
use vault_sqlx::{SqlError, SqlStore, StoreOptions};

fn options(schema: &str) -> StoreOptions {
    StoreOptions {
        postgres_schema: Some(schema.to_owned()),
        ..StoreOptions::default()
    }
}

fn user(email: &str) -> User {
    User {
        id: UserId::random(),
        name: "Ada".into(),
        email: Email::parse(email).unwrap(),
        email_verified: true,
        password_hash: None,
        two_factor: None,
        created_at: datetime!(2026-05-01 12:00 UTC),
    }
}

async fn drop_schemas(names: &[String]) {
    let mut admin = sqlx::PgConnection::connect(&support::postgres_url())
        .await
        .expect("PostgreSQL at VAULT_TEST_POSTGRES_URL");
    for name in names {
        let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .expect("drop schema");
    }
    admin.close().await.ok();
}

#[tokio::test]
async fn stores_in_two_schemas_keep_apart() {
    let names: Vec<String> = (0..2)
        .map(|_| format!("vault_tenant_{}", uuid::Uuid::new_v4().simple()))
        .collect();
    let case = tokio::spawn({
        let names = names.clone();
        async move {
            let url = support::postgres_url();
            let a = SqlStore::connect_with(&url, &options(&names[0]))
                .await
                .expect("schema a created and migrated");
            let b = SqlStore::connect_with(&url, &options(&names[1]))
                .await
                .expect("schema b created and migrated");
            let ada = user("ada@example.com");
            let mut tx = a.begin(Scope::user(ada.id)).await.unwrap();
            tx.put_user(&ada).await.unwrap();
            tx.commit().await.unwrap();
            // The same address is free in the other schema.
            let other = user("ada@example.com");
            let mut tx = b.begin(Scope::user(other.id)).await.unwrap();
            tx.put_user(&other).await.unwrap();
            tx.commit().await.unwrap();
            let mut in_a = a.read().await.unwrap();
            let mut in_b = b.read().await.unwrap();
            assert!(in_a.user(ada.id).await.unwrap().is_some());
            assert!(in_b.user(ada.id).await.unwrap().is_none());
            let found = in_b.user_by_email(&ada.email).await.unwrap().unwrap();
            assert_eq!(found.id, other.id);
            // Connecting again finds the schema and its migrations in place.
            SqlStore::connect_with(&url, &options(&names[0]))
                .await
                .expect("reconnect");
        }
    })
    .await;
    drop_schemas(&names).await;
    if let Err(failed) = case {
        std::panic::resume_unwind(failed.into_panic());
    }
}

#[tokio::test]
async fn a_schema_name_that_is_not_an_identifier_is_refused() {
    for bad in [
        "",
        "Tenant",
        "a-b",
        "a;drop table users",
        "1abc",
        "pg_catalog",
        &"a".repeat(64),
    ] {
        let refused = SqlStore::connect_lazy(&support::postgres_url(), &options(bad));
        assert!(
            matches!(refused, Err(SqlError::InvalidSchema(_))),
            "{bad:?}: {refused:?}"
        );
    }
    let fine = SqlStore::connect_lazy(&support::postgres_url(), &options("tenant_42"));
    assert!(fine.is_ok());
}

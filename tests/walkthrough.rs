//! README's walkthrough (`examples/walkthrough.sh`) against the demo binary as a process:
//! sign-up to a revoked key with curl alone, on a fresh SQLite file and on a PostgreSQL
//! schema of its own (dropped afterwards).

use std::process::Command;

use sqlx::Connection;

fn walkthrough() -> Command {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/walkthrough.sh");
    let mut command = Command::new("bash");
    command
        .arg(script)
        .env("VAULT_DEMO_BIN", env!("CARGO_BIN_EXE_vault-demo"))
        .env_remove("VAULT_URL")
        .env_remove("WALKTHROUGH_DATABASE_URL");
    command
}

fn check(out: std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("walkthrough: ok"),
        "the walkthrough failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for step in [
        "with it: 201",
        "both keys work in the overlap",
        "the old key now: 401",
    ] {
        assert!(stderr.contains(step), "missing step {step:?}:\n{stderr}");
    }
}

#[test]
fn the_walkthrough_runs_on_sqlite() {
    check(walkthrough().output().unwrap());
}

#[tokio::test]
async fn the_walkthrough_runs_on_postgresql() {
    let base = std::env::var("VAULT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("vault_walk_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::PgConnection::connect(&base)
        .await
        .unwrap_or_else(|err| panic!("PostgreSQL is required at {base}: {err}"));
    let create = format!("CREATE SCHEMA {schema}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut admin)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let out = walkthrough()
        .env("WALKTHROUGH_DATABASE_URL", &url)
        .env(
            "VAULT_PEPPER",
            "c2VjcmV0LXBlcHBlci1mb3ItdGhlLXdhbGt0aHJvdWdoLXRlc3Q=",
        )
        .env(
            "VAULT_TOTP_KEY",
            "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
        .output()
        .unwrap();
    let drop = format!("DROP SCHEMA IF EXISTS {schema} CASCADE");
    sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.ok();
    check(out);
}

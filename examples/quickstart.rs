//! The Vault in one minute: issue a key, verify it, rotate one and revoke one, and print what
//! happened. `cargo run --example quickstart`
//!
//! Keys live in memory here and the pepper is generated at start, so nothing survives the
//! process; the `vault-sqlx` stores keep them in SQLite or PostgreSQL.

use std::sync::Arc;

use time::Duration;
use vault_core::Clock as _;
use vault_core::{
    ApiKeys, Environment, ManualClock, MemoryStore, NewKey, Pepper, PermissionSet, Requirement,
    UserId, WorkspaceId,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();

    // A manual clock lets the demo show a rotation overlap ending without waiting a day.
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    let pepper = match Pepper::from_env("VAULT_PEPPER") {
        Ok(pepper) => pepper,
        Err(_) => {
            println!("VAULT_PEPPER is not set: using a pepper generated for this run");
            Pepper::generate()?
        }
    };
    let keys = ApiKeys::builder(Arc::new(MemoryStore::new()), &pepper)
        .clock(clock.clone())
        .build();

    let workspace = WorkspaceId::random();
    let issued = keys
        .issue(NewKey {
            workspace_id: workspace,
            product: "submit".parse()?,
            environment: Environment::Production,
            permissions: PermissionSet::parse(["jobs:create", "jobs:read"])?,
            name: "quickstart".into(),
            created_by: UserId::random(),
            expires_at: None,
        })
        .await?;
    println!("issued key {} (shown once):", issued.metadata.id);
    println!("  {}", issued.expose_token());

    let create_jobs = Requirement::new("submit".parse()?, Environment::Production)
        .with_permission("jobs:create".parse()?);
    let verdict = |result: Result<vault_core::Principal, vault_core::AuthError>| match result {
        Ok(p) => format!(
            "accepted (key {}, workspace {})",
            p.key_id(),
            p.workspace_id()
        ),
        Err(e) => format!("refused: {} ({e})", e.code()),
    };
    println!(
        "verify for POST /api/jobs: {}",
        verdict(keys.verify(issued.expose_token(), &create_jobs).await)
    );
    let staging_only = create_jobs.clone().with_environments(Environment::Staging);
    println!(
        "verify on a staging-only route: {}",
        verdict(keys.verify(issued.expose_token(), &staging_only).await)
    );

    let rotated = keys
        .rotate(&issued.metadata.id, Duration::hours(24))
        .await?;
    println!("rotated to key {} with a 24 h overlap", rotated.metadata.id);
    println!(
        "  old key during the overlap: {}",
        verdict(keys.verify(issued.expose_token(), &create_jobs).await)
    );
    clock.advance(Duration::hours(24));
    println!(
        "  old key after the overlap:  {}",
        verdict(keys.verify(issued.expose_token(), &create_jobs).await)
    );
    println!(
        "  new key after the overlap:  {}",
        verdict(keys.verify(rotated.expose_token(), &create_jobs).await)
    );

    keys.revoke(&rotated.metadata.id).await?;
    println!(
        "revoked key {}: {}",
        rotated.metadata.id,
        verdict(keys.verify(rotated.expose_token(), &create_jobs).await)
    );

    println!("keys of the workspace:");
    for key in keys.list(workspace).await? {
        println!(
            "  {}  {:<11} {:<8} {:?}",
            key.id,
            key.environment,
            format!("{:?}", key.status(clock.now())).to_lowercase(),
            key.permissions
        );
    }
    Ok(())
}

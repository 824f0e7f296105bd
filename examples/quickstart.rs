//! The Vault in one minute: `cargo run --example quickstart`.
//!
//! First a tour in memory (issue a key, verify it, rotate one and revoke one, with a clock
//! moved by hand so a rotation overlap ends at once), then the Submit example API served on
//! `--addr` (default `127.0.0.1:8080`) with its keys in `--database-url` (default the SQLite
//! file `vault.db`, pepper beside it in `vault.db.pepper`). Demo keys are issued on the first
//! run into `vault-demo-keys.json` (or `--demo-keys FILE`) and keep working after restarts.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::sync::Arc;

use time::Duration;
use vault_core::Clock as _;
use vault_core::{
    ApiKeys, Environment, ManualClock, MemoryStore, NewKey, Pepper, PermissionSet, Requirement,
    UserId, WorkspaceId,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = vault_examples::ServerArgs::from_env();
    // Logs go to stderr; stdout is the tour and the server's lines.
    vault_examples::log_to_stderr();

    // A manual clock lets the demo show a rotation overlap ending without waiting a day.
    let clock = ManualClock::new(time::OffsetDateTime::now_utc());
    // The tour's keys live in memory under a pepper of its own; the server below keeps its
    // keys (and pepper) in the database.
    println!("a tour in memory:");
    let keys = ApiKeys::builder(Arc::new(MemoryStore::new()), &Pepper::generate()?)
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

    println!("keys of the tour's workspace:");
    for key in keys.list(workspace).await? {
        println!(
            "  {}  {:<11} {:<8} {:?}",
            key.id,
            key.environment,
            format!("{:?}", key.status(clock.now())).to_lowercase(),
            key.permissions
        );
    }
    serve(args).await
}

/// Serves the Submit API on the persistent store, with demo keys issued on the first run.
async fn serve(
    args: vault_examples::ServerArgs,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let keys_file = args
        .demo_keys
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("vault-demo-keys.json"));
    let first_run = !keys_file.exists();
    let start_args = vault_examples::ServerArgs {
        demo_keys: first_run.then(|| keys_file.clone()),
        ..args.clone()
    };
    let submit = Arc::new(vault_examples::Submit::start(&start_args).await?);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let addr = listener.local_addr()?;
    println!();
    println!("the Submit API, keys in {}:", args.database_url);
    vault_examples::announce(addr);
    if first_run {
        println!(
            "demo keys written to {} (shown once: keep the file private)",
            keys_file.display()
        );
    } else {
        println!(
            "demo keys from an earlier run: {} (still valid: they live in the database)",
            keys_file.display()
        );
    }
    println!("try it:");
    println!(
        "  KEY=$(sed -n 's/.*\"production_full\": \"\\(.*\\)\".*/\\1/p' {})",
        keys_file.display()
    );
    println!(
        "  curl -i -X POST http://{addr}/api/jobs -H \"Authorization: Bearer $KEY\" -d '{{\"kind\":\"report\"}}'"
    );
    println!("  curl -i -X POST http://{addr}/api/jobs   # no key: 401 missing_api_key");
    println!("stop with Ctrl-C");
    let router = vault_examples::axum_app::router(submit);
    vault_examples::serve::serve_router(listener, router, args.serve, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

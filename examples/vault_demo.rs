//! `cargo run`: the Vault in `--dev` mode on the SQLite file `vault.db` at
//! `http://localhost:8080`, with the Submit example API mounted in the same process at
//! `/submit` (its jobs at `/submit/api/jobs`, behind the Bearer middleware), checking the
//! keys minted in the Vault. Mails (with their codes) are printed here, on stdout; README's
//! walkthrough goes from sign-up to a rotated and revoked key with curl alone.
//!
//! Flags: `--addr HOST:PORT` (default `127.0.0.1:8080`, port 0 allowed), `--database-url URL`
//! (default `sqlite://vault.db`), `--public-origin URL` (default `http://localhost:PORT`).
//! Secrets: `VAULT_PEPPER` and `VAULT_TOTP_KEY`, or for SQLite files beside the database.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::process::ExitCode;
use std::sync::Arc;

use vault_core::Services;
use vault_core::access::{Catalog, Product, ProductRole};
use vault_core::accounts::{AccountsConfig, Links};
use vault_core::csrf::CsrfKey;
use vault_core::password::Passwords;
use vault_core::totp::Totp;
use vault_examples::serve::{ServeOptions, serve_router};
use vault_examples::{Submit, announce, axum_app, database, log_to_stderr};
use vault_server::{DevMailSink, ServerConfig, Vault};
use vault_sqlx::SqlStore;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    addr: std::net::SocketAddr,
    database_url: String,
    public_origin: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        addr: ([127, 0, 0, 1], 8080).into(),
        database_url: database::DEFAULT_DATABASE_URL.to_owned(),
        public_origin: None,
    };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => args.addr = value()?.parse().map_err(|e| format!("--addr: {e}"))?,
            "--database-url" => args.database_url = value()?,
            "--public-origin" => args.public_origin = Some(value()?),
            other => {
                return Err(format!(
                    "unknown flag {other}: use --addr, --database-url, --public-origin"
                ));
            }
        }
    }
    Ok(args)
}

/// The platform's products as the demo knows them: Submit with its two roles.
fn catalog() -> Result<Catalog, vault_core::Error> {
    Catalog::new([Product::new("submit")?
        .role(ProductRole::new("submitter", ["jobs:create", "jobs:read"])?)
        .role(ProductRole::new("viewer", ["jobs:read"])?)])
}

async fn run(args: Args) -> Result<(), BoxError> {
    let (pepper, sealing) = database::vault_secrets(&args.database_url)?;
    let store = Arc::new(SqlStore::connect(&args.database_url).await?);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let local = listener.local_addr()?;
    let origin = args
        .public_origin
        .unwrap_or_else(|| format!("http://localhost:{}", local.port()));
    let services = Services::builder(
        store.clone(),
        &pepper,
        catalog()?,
        Passwords::builder().build()?,
        Totp::new("Vault", sealing)?,
        Arc::new(DevMailSink),
    )
    .accounts_config(AccountsConfig {
        links: Links::new(&origin),
        ..AccountsConfig::default()
    })
    .check_subscriptions()
    .build();
    let _mail = services.accounts.spawn_mail_worker();
    let submit = Arc::new(Submit::with_keys(services.keys.clone()));
    let mut config = ServerConfig::new(&origin);
    config.dev = true;
    let vault = Vault::new(store, services, config, CsrfKey::generate()?);
    let app = vault_server::router(vault).nest("/submit", axum_app::router(submit));
    announce(local);
    eprintln!(
        "dev mode: the Vault at {origin} (cookies without Secure, mails printed on stdout), \
         the Submit API at {origin}/submit/api/jobs; never in production\n\
         try it: README.md \"Two commands\" walks from sign-up to a revoked key with curl, \
         the API is described at {origin}/v1/openapi.json"
    );
    serve_router(
        listener,
        app,
        ServeOptions::default(),
        std::future::pending(),
    )
    .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    log_to_stderr();
    let outcome = match args() {
        Ok(args) => run(args).await,
        Err(usage) => Err(usage.into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("vault-demo: {error}");
            ExitCode::FAILURE
        }
    }
}

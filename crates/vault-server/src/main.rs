//! `vault`: the Vault's binary. `vault serve` runs the API; a bare `vault` prints help and
//! exits 2 (it never serves by default).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use vault_core::access::Catalog;
use vault_core::csrf::CsrfKey;
use vault_core::password::Passwords;
use vault_core::totp::{SealingKey, Totp};
use vault_core::{Pepper, Services};
use vault_server::{DevMailSink, ServerConfig, Vault};
use vault_sqlx::SqlStore;

/// The Vault: identity, access control and API keys of the platform.
#[derive(Parser)]
#[command(name = "vault", version, arg_required_else_help = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the Vault's API (`listening on http://HOST:PORT` is the first line of stdout).
    Serve(Serve),
    /// Migrates the database to the current schema, then exits.
    Migrate {
        /// The database: `sqlite://FILE` or `postgres://…`.
        #[arg(long, env = "VAULT_DATABASE_URL", default_value = "sqlite://vault.db")]
        database_url: String,
    },
}

#[derive(clap::Args)]
struct Serve {
    /// Where to listen (port 0: any free port).
    #[arg(long, env = "VAULT_ADDR", default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The database: `sqlite://FILE` or `postgres://…`.
    #[arg(long, env = "VAULT_DATABASE_URL", default_value = "sqlite://vault.db")]
    database_url: String,
    /// The origin people reach the Vault at; unsafe requests from other origins are refused.
    #[arg(
        long,
        env = "VAULT_PUBLIC_ORIGIN",
        default_value = "http://localhost:8080"
    )]
    public_origin: String,
    /// Development mode: plain-HTTP cookies, generated secrets, mails printed to stdout.
    #[arg(long, env = "VAULT_DEV")]
    dev: bool,
}

/// A secret from the environment, or in dev mode a generated one (announced).
fn secret<T>(
    name: &str,
    dev: bool,
    from_env: impl FnOnce(&str) -> Result<T, vault_core::Error>,
    generate: impl FnOnce() -> Result<T, vault_core::Error>,
) -> Result<T, String> {
    match from_env(name) {
        Ok(value) => Ok(value),
        Err(_) if dev => {
            eprintln!("dev mode: {name} is not set; using a generated one (gone at restart)");
            generate().map_err(|err| format!("generating {name}: {err}"))
        }
        Err(err) => Err(format!("{name} is required outside --dev: {err}")),
    }
}

async fn serve(args: Serve) -> Result<(), String> {
    let pepper = secret("VAULT_PEPPER", args.dev, Pepper::from_env, Pepper::generate)?;
    let sealing = secret(
        "VAULT_TOTP_KEY",
        args.dev,
        SealingKey::from_env,
        SealingKey::generate,
    )?;
    let store = Arc::new(
        SqlStore::connect(&args.database_url)
            .await
            .map_err(|err| format!("database {}: {err}", redact(&args.database_url)))?,
    );
    let passwords = Passwords::builder().build().map_err(|e| e.to_string())?;
    let totp = Totp::new("Vault", sealing).map_err(|e| e.to_string())?;
    let catalog = Catalog::new([]).map_err(|e| e.to_string())?;
    let services = Services::builder(
        store.clone(),
        &pepper,
        catalog,
        passwords,
        totp,
        Arc::new(DevMailSink),
    )
    .accounts_config(vault_core::accounts::AccountsConfig {
        links: vault_core::accounts::Links::new(&args.public_origin),
        ..Default::default()
    })
    .build();
    let _worker = services.accounts.spawn_mail_worker();
    let mut config = ServerConfig::new(&args.public_origin);
    config.dev = args.dev;
    let csrf = CsrfKey::generate().map_err(|e| e.to_string())?;
    let app = vault_server::router(Vault::new(store, services, config, csrf));
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(|err| format!("cannot listen on {}: {err}", args.addr))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{local}");
    if args.dev {
        eprintln!("dev mode: cookies without Secure, mails printed here; never in production");
    }
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .map_err(|err| format!("serving failed: {err}"))
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://…@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate { database_url } => SqlStore::connect(&database_url)
            .await
            .map(|_| println!("migrated"))
            .map_err(|err| format!("database {}: {err}", redact(&database_url))),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => {
            eprintln!("vault: {line}");
            ExitCode::FAILURE
        }
    }
}

//! The servers of the HTTP load comparison: one tiny handler behind five front doors.
//!
//! `http-targets VARIANT --addr HOST:PORT --key-file FILE`, VARIANT one of `axum-none`,
//! `axum-static` (tower-http's static bearer check: the floor of any bearer check),
//! `axum-vault`, `actix-none`, `actix-vault`. Each runs one worker thread, so the comparison
//! is per core, and each is served by `vault_examples::serve` with its default timeouts, as
//! the example servers are. The key every variant accepts is written to FILE; the first stdout line is
//! `listening on http://HOST:PORT`.

use std::net::SocketAddr;

use vault_core::testing::TestKeys;
use vault_core::{Environment, Requirement};

const USAGE: &str = "usage: http-targets (axum-none|axum-static|axum-vault|actix-none|actix-vault) --addr HOST:PORT --key-file FILE";

struct Args {
    variant: String,
    addr: SocketAddr,
    key_file: std::path::PathBuf,
}

fn args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let variant = args.next().ok_or(USAGE)?;
    let (mut addr, mut key_file) = (None, None);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(USAGE)?;
        match flag.as_str() {
            "--addr" => addr = Some(value.parse().map_err(|_| format!("bad --addr; {USAGE}"))?),
            "--key-file" => key_file = Some(value.into()),
            _ => return Err(USAGE.into()),
        }
    }
    Ok(Args {
        variant,
        addr: addr.ok_or(USAGE)?,
        key_file: key_file.ok_or(USAGE)?,
    })
}

fn requirement() -> Requirement {
    Requirement::new(
        vault_core::ProductId::new("submit").expect("slug"),
        Environment::Production,
    )
    .with_permission("jobs:read".parse().expect("permission"))
}

fn main() {
    let args = args().unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let kit = TestKeys::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let token = runtime.block_on(kit.mint("submit", Environment::Production, &["jobs:read"]));
    std::fs::write(&args.key_file, &token).expect("write the key file");
    match args.variant.as_str() {
        "axum-none" | "axum-static" | "axum-vault" => {
            runtime.block_on(serve_axum(&args, kit, &token))
        }
        "actix-none" | "actix-vault" => serve_actix(&args, kit),
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2)
        }
    }
}

async fn handler() -> &'static str {
    "ok"
}

async fn serve_axum(args: &Args, kit: TestKeys, token: &str) {
    use axum::{Router, routing::get};
    let router = Router::new().route("/", get(handler));
    let router = match args.variant.as_str() {
        "axum-static" => {
            // The baseline the issue names: deprecated upstream as "too basic" (non-constant-time
            // compare, no WWW-Authenticate), which is exactly why it is the floor.
            #[allow(deprecated)]
            let layer = tower_http::validate_request::ValidateRequestHeaderLayer::bearer(token);
            router.layer(layer)
        }
        "axum-vault" => router.layer(vault_axum::RequireApiKeyLayer::new(
            kit.keys().clone(),
            requirement(),
        )),
        _ => router,
    };
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .expect("bind");
    vault_examples::announce(listener.local_addr().expect("local addr"));
    let options = vault_examples::ServeOptions::default();
    vault_examples::serve::serve_router(listener, router, options, std::future::pending())
        .await
        .expect("serve");
}

fn serve_actix(args: &Args, kit: TestKeys) {
    use actix_web::{App, web};
    let vault = args.variant == "actix-vault";
    let app = move || {
        App::new()
            .wrap(actix_web::middleware::Condition::new(
                vault,
                vault_actix::RequireApiKey::new(kit.keys().clone(), requirement()),
            ))
            .route("/", web::get().to(handler))
    };
    let listener = std::net::TcpListener::bind(args.addr).expect("bind");
    let addr = listener.local_addr().expect("local addr");
    actix_web::rt::System::new().block_on(async move {
        let options = vault_examples::ServeOptions::default();
        let server = vault_examples::serve::actix_server(listener, options, app).expect("serve");
        vault_examples::announce(addr);
        server.workers(1).run().await.expect("serve");
    });
}

//! The Vault as a service: its JSON API under `/v1` (every route in the OpenAPI 3.1 document
//! at `GET /v1/openapi.json`, generated from the handlers), the Vault's own session cookie
//! with CSRF protection on every unsafe request, `/health` and `/ready`. Handlers translate
//! HTTP to the services of vault-core and back; every refusal is a problem+json answer from
//! vault-core's tables.
//!
//! ```
//! use std::sync::Arc;
//! use vault_core::access::Catalog;
//! use vault_core::accounts::Outbox;
//! use vault_core::csrf::CsrfKey;
//! use vault_core::password::{HashParams, Passwords};
//! use vault_core::totp::{SealingKey, Totp};
//! use vault_core::{MemoryStore, Pepper, Services};
//! use vault_server::{ServerConfig, Vault};
//!
//! # fn main() -> Result<(), vault_core::Error> {
//! let store = Arc::new(MemoryStore::new());
//! let services = Services::builder(
//!     store.clone(),
//!     &Pepper::generate()?,
//!     Catalog::new([])?,
//!     Passwords::builder().params(HashParams::INSECURE_FAST).build()?,
//!     Totp::new("Vault", SealingKey::generate()?)?,
//!     Arc::new(Outbox::new()),
//! )
//! .build();
//! let vault = Vault::new(store, services, ServerConfig::new("https://vault.example"), CsrfKey::generate()?);
//! let app: axum::Router = vault_server::router(vault);
//! # let _ = app;
//! # Ok(()) }
//! ```

// Panic-freedom enforced, not hoped for: a justified site carries a commented `allow`.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod config;
mod csrf;
mod dev_mail;
mod extract;
mod problem;
mod routes;
mod session;
mod vault;

use axum::Json;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use config::ServerConfig;
pub use csrf::CSRF_HEADER;
pub use dev_mail::DevMailSink;
pub use problem::ApiError;
pub use session::SignedIn;
pub use vault::Vault;

use routes::{health, keys, members, people, sessions, workspaces};

/// The OpenAPI document's head; the paths come from the routes.
#[derive(OpenApi)]
#[openapi(
    info(title = "Vault", description = "Identity, access control and API keys of the platform."),
    tags(
        (name = "people", description = "Sign-up, sign-in, sessions, recovery"),
        (name = "session", description = "CSRF tokens"),
        (name = "health", description = "Liveness and readiness"),
        (name = "workspaces", description = "Workspaces, members, subscriptions, grants"),
        (name = "keys", description = "API keys"),
    )
)]
struct ApiDoc;

/// Every route with its documentation: routes exist only through this documenting router,
/// so none can be missing from the OpenAPI document.
fn documented() -> OpenApiRouter<Vault> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(csrf::token))
        .routes(routes!(people::sign_up))
        .routes(routes!(people::resend))
        .routes(routes!(people::confirm))
        .routes(routes!(people::sign_in))
        .routes(routes!(people::two_factor))
        .routes(routes!(people::mailed_code))
        .routes(routes!(people::sign_out))
        .routes(routes!(people::me))
        .routes(routes!(people::forgot))
        .routes(routes!(people::reset))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::end))
        .routes(routes!(sessions::everywhere))
        .routes(routes!(sessions::name))
        .routes(routes!(sessions::password))
        .routes(routes!(workspaces::mine, workspaces::create))
        .routes(routes!(workspaces::rename))
        .routes(routes!(workspaces::switch))
        .routes(routes!(workspaces::members))
        .routes(routes!(workspaces::catalog))
        .routes(routes!(workspaces::activate, workspaces::deactivate))
        .routes(routes!(workspaces::grant, workspaces::grants))
        .routes(routes!(workspaces::revoke_grant))
        .routes(routes!(keys::mint, keys::list))
        .routes(routes!(keys::rotate))
        .routes(routes!(keys::revoke))
        .routes(routes!(members::change_role))
        .routes(routes!(members::remove))
        .routes(routes!(members::invite, members::invitations))
        .routes(routes!(members::revoke))
        .routes(routes!(members::accept))
}

/// The OpenAPI 3.1 document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().into_openapi()
}

/// The Vault's router: mount it, or serve it (`vault serve`).
pub fn router(vault: Vault) -> axum::Router {
    let (router, api) = documented().split_for_parts();
    let api = Json(api);
    let limit = vault.config().body_limit;
    let hsts = !vault.config().dev;
    router
        .route(
            "/v1/openapi.json",
            axum::routing::get(move || async move { api }),
        )
        .fallback(|| async { ApiError::from(vault_core::request::RequestDefect::NotFound) })
        .layer(axum::middleware::from_fn_with_state(
            vault.clone(),
            csrf::guard,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::map_response(
            move |mut response: axum::response::Response| async move {
                if hsts {
                    // Outside dev mode the Vault is HTTPS only: browsers remember it for two
                    // years (RFC 6797), sibling subdomains included.
                    response.headers_mut().insert(
                        axum::http::header::STRICT_TRANSPORT_SECURITY,
                        axum::http::HeaderValue::from_static("max-age=63072000; includeSubDomains"),
                    );
                }
                response
            },
        ))
        .with_state(vault)
}

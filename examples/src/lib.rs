//! What the example programs share, so each framework's server only wires routes: flags,
//! logging, the Submit job store and its rules, demo keys, the `job.created` callbacks, and
//! the `listening on` line.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod args;
pub mod axum_app;
pub mod callbacks;
pub mod database;
pub mod demo;
pub mod jobs;
pub mod serve;
pub mod submit;

pub use args::{ReceiverArgs, ServerArgs};
pub use callbacks::JobCallbacks;
pub use demo::DemoKeys;
pub use jobs::{Job, JobError, Jobs};
pub use serve::ServeOptions;
pub use submit::{Reply, Submit};

use vault_core::{Environment, Permission, ProductId, Requirement};

/// The product the Submit examples protect.
pub const PRODUCT: &str = "submit";

fn submit() -> ProductId {
    ProductId::new(PRODUCT).unwrap_or_else(|_| unreachable!("`submit` is a valid slug"))
}

fn permission(text: &str) -> Permission {
    Permission::new(text).unwrap_or_else(|_| unreachable!("a valid permission literal"))
}

/// `POST /api/jobs`: Submit, production, `jobs:create`.
pub fn create_requirement() -> Requirement {
    Requirement::new(submit(), Environment::Production).with_permission(permission("jobs:create"))
}

/// `GET /api/jobs/{id}`: Submit, production, `jobs:read`.
pub fn read_requirement() -> Requirement {
    Requirement::new(submit(), Environment::Production).with_permission(permission("jobs:read"))
}

/// Sends logs to stderr, filtered by `RUST_LOG` (default `warn`): stdout is kept for the
/// `listening on` line the contract tests wait for.
pub fn log_to_stderr() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
}

/// Prints the first stdout line the contract tests wait for.
pub fn announce(addr: std::net::SocketAddr) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "listening on http://{addr}");
    let _ = out.flush();
}

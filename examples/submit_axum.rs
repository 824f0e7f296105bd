//! The Submit API on axum, behind `vault-axum`. Routes only (see
//! `vault_examples::axum_app`): the rules are vault-core's, the answers
//! `vault_examples::Submit`'s, so this server and `submit-actix` answer alike.
//!
//! `cargo run -p vault-examples --bin submit-axum -- --addr 127.0.0.1:0 --demo-keys keys.json`
//!
//! Keys live in `--database-url` (default `sqlite://vault.db`). With `--callback-url URL
//! [--callback-secret whsec_...]` every new job is announced by a signed `job.created`
//! callback (see `callback-receiver`), sent after the 201 in the background. Slow and idle
//! clients are cut off after `--header-read-timeout` / `--idle-timeout` seconds (see
//! `vault_examples::serve`).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::sync::Arc;

use vault_examples::axum_app::router;
use vault_examples::serve::serve_router;
use vault_examples::{ServerArgs, Submit, announce, log_to_stderr};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    log_to_stderr();

    let args = ServerArgs::from_env();
    let submit = Arc::new(Submit::start(&args).await?);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    announce(listener.local_addr()?);
    serve_router(listener, router(submit), args.serve, std::future::pending()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    use vault_core::Environment;
    use vault_core::testing::TestKeys;

    use axum::Router;
    use axum::http::StatusCode;

    use super::*;

    async fn submit() -> Arc<Submit> {
        let args = ServerArgs::parse(["--database-url".to_owned(), "memory:".to_owned()]).unwrap();
        Arc::new(Submit::start(&args).await.unwrap())
    }

    async fn send(app: Router, request: Request<Body>) -> (StatusCode, String) {
        let response = app.oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn health_needs_no_key_and_jobs_do() {
        let app = router(submit().await);
        let health = Request::get("/health").body(Body::empty()).unwrap();
        assert_eq!(send(app.clone(), health).await.0, StatusCode::OK);
        let create = Request::post("/api/jobs").body(Body::from("{}")).unwrap();
        let (status, body) = send(app.clone(), create).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("missing_api_key"));
        // Another method on a protected path is still behind the key check.
        let list = Request::get("/api/jobs").body(Body::empty()).unwrap();
        assert_eq!(send(app, list).await.0, StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn a_key_of_another_store_is_invalid() {
        let stranger = TestKeys::new()
            .mint("submit", Environment::Production, &["jobs:create"])
            .await;
        let create = Request::post("/api/jobs")
            .header("authorization", format!("Bearer {stranger}"))
            .body(Body::from("{}"))
            .unwrap();
        let (status, body) = send(router(submit().await), create).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("invalid_api_key"));
        assert!(!body.contains(&stranger));
    }
}

//! The Submit API on axum, behind `vault-axum`. Routes only: the rules are vault-core's, the
//! answers `vault_examples::Submit`'s, so this server and `submit-actix` answer alike.
//!
//! `cargo run -p vault-examples --bin submit-axum -- --addr 127.0.0.1:0 --demo-keys keys.json`
//!
//! With `--callback-url URL [--callback-secret whsec_...]` every new job is announced by a
//! signed `job.created` callback (see `callback-receiver`), sent after the 201 in the
//! background.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use vault_axum::{Caller, RequireApiKeyLayer};
use vault_examples::submit::REALM;
use vault_examples::{
    Reply, ServerArgs, Submit, announce, create_requirement, log_to_stderr, read_requirement,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    log_to_stderr();

    let args = ServerArgs::from_env();
    let submit = Arc::new(Submit::start(&args).await?);
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    announce(listener.local_addr()?);
    axum::serve(listener, app(submit)).await?;
    Ok(())
}

fn app(submit: Arc<Submit>) -> Router {
    let create = RequireApiKeyLayer::new(submit.keys().clone(), create_requirement()).realm(REALM);
    let read = create.for_requirement(read_requirement());
    Router::new()
        .route("/health", get(health))
        // `layer`, not `route_layer`: a method the path does not serve is still behind the
        // key check (401/403 before 405), as on actix where the middleware wraps the resource.
        .route("/api/jobs", post(create_job).layer(create))
        .route("/api/jobs/{id}", get(get_job).layer(read))
        .with_state(submit)
}

async fn health(State(submit): State<Arc<Submit>>) -> Response {
    respond(submit.health())
}

/// The body is read as bytes so `Submit` decides what bad JSON gets, not axum's extractor.
async fn create_job(
    State(submit): State<Arc<Submit>>,
    Caller(caller): Caller,
    body: Bytes,
) -> Response {
    respond(submit.create_job(&caller, &body))
}

async fn get_job(
    State(submit): State<Arc<Submit>>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Response {
    respond(submit.get_job(&caller, &id))
}

fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(CONTENT_TYPE, reply.content_type)], reply.body).into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    use vault_core::Environment;
    use vault_core::testing::TestKeys;

    use super::*;

    async fn submit() -> Arc<Submit> {
        let args = ServerArgs::parse(Vec::new()).unwrap();
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
        let app = app(submit().await);
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
        let (status, body) = send(app(submit().await), create).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(body.contains("invalid_api_key"));
        assert!(!body.contains(&stranger));
    }
}

//! The Submit API as an axum `Router` behind `vault-axum`: routes only, the answers are
//! [`Submit`]'s. Used by the `submit-axum` server and the quickstart.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use vault_axum::{Caller, GuardOptions, RequireApiKeyLayer};

use crate::submit::REALM;
use crate::{Reply, Submit, create_requirement, read_requirement};

/// The Submit routes: `GET /health`, `POST /api/jobs`, `GET /api/jobs/{id}`.
pub fn router(submit: Arc<Submit>) -> Router {
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

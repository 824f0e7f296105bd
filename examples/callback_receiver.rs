//! A receiver of signed callbacks (Standard Webhooks v1) on axum, behind `vault-axum`'s
//! `VerifyCallbackLayer` and `VerifiedCallbackBody` extractor: answers 204 to a verified
//! callback and prints it as one JSON line on stdout (`id`, `timestamp`, `body`); anything
//! else gets 401 (413 if too large) with a problem+json body and is not printed. Each message
//! is printed once: a redelivery of one printed is acknowledged (200) without printing it
//! again, one arriving while it is being printed gets 409 with `Retry-After`.
//!
//! `cargo run -p vault-examples --bin callback-receiver -- --addr 127.0.0.1:0 --secret whsec_...`
//! and point a Submit server at it with `--callback-url http://HOST:PORT/callbacks
//! --callback-secret whsec_...` (any path is accepted).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::io::Write;
use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use vault_axum::{VerifiedCallbackBody, VerifyCallbackLayer};
use vault_core::callbacks::{CallbackVerifier, ReplayGuard};
use vault_examples::serve::serve_router;
use vault_examples::{ReceiverArgs, announce, log_to_stderr};

/// Ids remembered for replay detection (each for the 5-minute window of its timestamp).
const REPLAY_MEMORY: usize = 10_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    log_to_stderr();

    let args = ReceiverArgs::from_env();
    let verifier = CallbackVerifier::new(args.secret).replay_guard(ReplayGuard::new(REPLAY_MEMORY));
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    announce(listener.local_addr()?);
    serve_router(
        listener,
        app(Arc::new(verifier)),
        args.serve,
        std::future::pending(),
    )
    .await?;
    Ok(())
}

fn app(verifier: Arc<CallbackVerifier>) -> Router {
    // Every path and method: the layer decides, so a wrong path is a 401, not a 404 that
    // would tell a prober what exists. The layer also settles each message with the
    // handler's answer (the replay memory needs it).
    Router::new()
        .fallback(receive)
        .layer(VerifyCallbackLayer::from_arc(Arc::clone(&verifier)))
        .with_state(verifier)
}

async fn receive(callback: VerifiedCallbackBody) -> StatusCode {
    println_callback(&record(&callback));
    StatusCode::NO_CONTENT
}

/// The line printed for a verified callback: its JSON body as JSON, any other body as text.
fn record(callback: &VerifiedCallbackBody) -> serde_json::Value {
    let body = serde_json::from_slice(callback.body()).unwrap_or_else(|_| {
        serde_json::Value::from(String::from_utf8_lossy(callback.body()).into_owned())
    });
    serde_json::json!({
        "id": callback.id(),
        "timestamp": callback.timestamp().unix_timestamp(),
        "body": body,
    })
}

/// One whole line per callback, flushed: tests read stdout line by line.
fn println_callback(record: &serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{record}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;
    use vault_core::callbacks::{CallbackSecret, CallbackSigner};

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn signed_request(secret: &str, id: &str, body: &'static str) -> Request<Body> {
        let secret: CallbackSecret = secret.parse().unwrap();
        let signed = CallbackSigner::new(secret)
            .sign(id, body.as_bytes())
            .unwrap();
        let mut request = Request::post("/callbacks");
        for (name, value) in signed.iter() {
            request = request.header(name, value);
        }
        request.body(Body::from(body)).unwrap()
    }

    fn verifier() -> Arc<CallbackVerifier> {
        Arc::new(CallbackVerifier::new(SECRET.parse().unwrap()).replay_guard(ReplayGuard::new(16)))
    }

    #[tokio::test]
    async fn a_verified_callback_is_204_and_its_redelivery_acknowledged() {
        let app = app(verifier());
        let body = r#"{"type":"job.created"}"#;
        let first = app
            .clone()
            .oneshot(signed_request(SECRET, "msg_1", body))
            .await
            .unwrap();
        assert_eq!(first.status(), StatusCode::NO_CONTENT);
        let again = app
            .oneshot(signed_request(SECRET, "msg_1", body))
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::OK);
        assert_eq!(again.headers()["content-type"], "application/json");
    }

    #[tokio::test]
    async fn another_secret_is_refused_with_a_problem() {
        let other = CallbackSecret::generate().unwrap();
        let other = other.expose_secret();
        let response = app(verifier())
            .oneshot(signed_request(other, "msg_1", "{}"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
}

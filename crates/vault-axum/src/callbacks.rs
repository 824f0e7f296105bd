//! Receiving signed callbacks in axum: the [`VerifiedCallbackBody`] extractor buffers the
//! body up to the verifier's limit and verifies it (vault-tower's
//! [`verify_callback_body`](vault_tower::verify_callback_body), so it answers exactly like
//! [`VerifyCallbackLayer`](crate::VerifyCallbackLayer)); a refusal is [`CallbackRefused`].

use std::fmt;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use time::OffsetDateTime;
use vault_core::callbacks::{CallbackRejection, CallbackVerifier, VerifiedCallback};

/// The body of a callback whose signature verified, with its message id and timestamp.
///
/// The verifier comes from the router state: `Arc<CallbackVerifier>` itself, or any state
/// it can be taken from ([`FromRef`]). A refusal answers 401 (413 for a body over
/// [`CallbackVerifier::body_limit`]) with `application/problem+json` before the handler runs;
/// take `Result<VerifiedCallbackBody, CallbackRefused>` to answer otherwise. Behind a
/// [`VerifyCallbackLayer`](crate::VerifyCallbackLayer) it takes the layer's verdict instead
/// of verifying again. Being a body extractor, it must be the handler's last argument.
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, http::StatusCode, routing::post};
/// use vault_axum::VerifiedCallbackBody;
/// use vault_core::callbacks::{CallbackVerifier, ReplayGuard};
///
/// async fn job_events(callback: VerifiedCallbackBody) -> StatusCode {
///     let event: serde_json::Value = match serde_json::from_slice(callback.body()) {
///         Ok(event) => event,
///         Err(_) => return StatusCode::BAD_REQUEST,
///     };
///     println!("{} at {}: {event}", callback.id(), callback.timestamp());
///     StatusCode::NO_CONTENT
/// }
///
/// # fn main() -> Result<(), vault_core::Error> {
/// let verifier = CallbackVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?)
///     .replay_guard(ReplayGuard::new(10_000));
/// let app: Router = Router::new()
///     .route("/callbacks/jobs", post(job_events))
///     .with_state(Arc::new(verifier));
/// # let _ = app;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct VerifiedCallbackBody {
    callback: VerifiedCallback,
    body: Bytes,
}

impl VerifiedCallbackBody {
    /// The `webhook-id`: deduplicate processing on it (retries repeat it).
    pub fn id(&self) -> &str {
        self.callback.id()
    }

    /// When the sender signed this attempt.
    pub fn timestamp(&self) -> OffsetDateTime {
        self.callback.timestamp()
    }

    /// The verified body, exactly as received.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The verdict and the body.
    pub fn into_parts(self) -> (VerifiedCallback, Bytes) {
        (self.callback, self.body)
    }
}

impl<S> FromRequest<S> for VerifiedCallbackBody
where
    Arc<CallbackVerifier>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = CallbackRefused;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        if let Some(callback) = parts.extensions.remove::<VerifiedCallback>() {
            // The layer verified and buffered it already; verifying again would see a replay.
            return already_verified(callback, body).await;
        }
        let verifier = Arc::<CallbackVerifier>::from_ref(state);
        let (callback, body) =
            vault_tower::verify_callback_body(&verifier, &parts.headers, body).await?;
        Ok(Self { callback, body })
    }
}

async fn already_verified(
    callback: VerifiedCallback,
    body: Body,
) -> Result<VerifiedCallbackBody, CallbackRefused> {
    let body = body
        .collect()
        .await
        .map_err(|_| CallbackRejection::unreadable_body())?
        .to_bytes();
    Ok(VerifiedCallbackBody { callback, body })
}

/// A callback that was not accepted: vault-core's [`CallbackRejection`] as an axum response
/// (status, `WWW-Authenticate` on 401, problem+json), the same answer as
/// [`VerifyCallbackLayer`](crate::VerifyCallbackLayer).
///
/// ```
/// use axum::response::IntoResponse;
/// use vault_axum::CallbackRefused;
/// use vault_core::callbacks::CallbackDefect;
///
/// let refused = CallbackRefused::from(CallbackDefect::Replayed);
/// assert_eq!(refused.rejection().code(), "replayed");
/// assert_eq!(refused.into_response().status(), 401);
/// ```
#[derive(Clone, Debug)]
pub struct CallbackRefused(pub CallbackRejection);

impl CallbackRefused {
    /// The framework-free answer.
    pub fn rejection(&self) -> &CallbackRejection {
        &self.0
    }
}

impl From<CallbackRejection> for CallbackRefused {
    fn from(rejection: CallbackRejection) -> Self {
        Self(rejection)
    }
}

impl From<vault_core::callbacks::CallbackDefect> for CallbackRefused {
    fn from(defect: vault_core::callbacks::CallbackDefect) -> Self {
        Self(defect.into())
    }
}

impl fmt::Display for CallbackRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for CallbackRefused {}

impl IntoResponse for CallbackRefused {
    fn into_response(self) -> Response {
        vault_tower::problem_response::<Body>(self.0.problem())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::extract::State;
    use axum::routing::post;
    use http::header::{CONTENT_LENGTH, CONTENT_TYPE, WWW_AUTHENTICATE};
    use http::{HeaderValue, StatusCode};
    use time::Duration;
    use tower::ServiceExt;
    use vault_core::callbacks::{CallbackSigner, ReplayGuard, SignedHeaders};
    use vault_core::{Clock, ManualClock};

    use super::*;
    use crate::VerifyCallbackLayer;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &str = r#"{"type":"job.created","job_id":"j1"}"#;

    /// An application state the verifier is taken from, beside the handler's own counter.
    #[derive(Clone)]
    struct AppState {
        verifier: Arc<CallbackVerifier>,
        calls: Arc<AtomicUsize>,
    }

    impl FromRef<AppState> for Arc<CallbackVerifier> {
        fn from_ref(state: &AppState) -> Self {
            state.verifier.clone()
        }
    }

    async fn receive(State(state): State<AppState>, callback: VerifiedCallbackBody) -> String {
        state.calls.fetch_add(1, Ordering::SeqCst);
        let body = String::from_utf8(callback.body().to_vec()).unwrap();
        format!("{} {body}", callback.id())
    }

    struct Receiver {
        clock: ManualClock,
        state: AppState,
    }

    impl Receiver {
        fn new(configure: impl FnOnce(CallbackVerifier) -> CallbackVerifier) -> Self {
            let clock = ManualClock::default();
            let verifier = CallbackVerifier::new(SECRET.parse().unwrap()).clock(clock.clone());
            Self {
                clock,
                state: AppState {
                    verifier: Arc::new(configure(verifier)),
                    calls: Arc::default(),
                },
            }
        }

        fn app(&self) -> Router {
            Router::new()
                .route("/callbacks", post(receive))
                .with_state(self.state.clone())
        }

        fn sign(&self, id: &str, body: &str) -> SignedHeaders {
            CallbackSigner::new(SECRET.parse().unwrap())
                .clock(self.clock.clone())
                .sign(id, body.as_bytes())
                .unwrap()
        }

        async fn send(&self, router: Router, request: Request) -> (StatusCode, String, String) {
            let response = router.oneshot(request).await.unwrap();
            let status = response.status();
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let body = response.into_body().collect().await.unwrap().to_bytes();
            (
                status,
                content_type,
                String::from_utf8(body.to_vec()).unwrap(),
            )
        }

        /// The status and problem code of a refused request.
        async fn refusal(&self, request: Request) -> (StatusCode, String) {
            let (status, content_type, body) = self.send(self.app(), request).await;
            assert_eq!(content_type, "application/problem+json", "{body}");
            let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(problem["status"], status.as_u16());
            (status, problem["code"].as_str().unwrap().to_owned())
        }

        fn calls(&self) -> usize {
            self.state.calls.load(Ordering::SeqCst)
        }
    }

    fn request(signed: &SignedHeaders, body: &str) -> Request {
        let mut builder = Request::post("/callbacks");
        for (name, value) in signed.iter() {
            builder = builder.header(name, value);
        }
        builder.body(Body::from(body.to_owned())).unwrap()
    }

    #[tokio::test]
    async fn a_valid_callback_reaches_the_handler_with_its_body() {
        let receiver = Receiver::new(|v| v);
        let signed = receiver.sign("msg_1", BODY);
        let (status, _, body) = receiver.send(receiver.app(), request(&signed, BODY)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, format!("msg_1 {BODY}"));
        assert_eq!(receiver.calls(), 1);
    }

    #[tokio::test]
    async fn tampering_with_the_body_id_or_timestamp_is_refused() {
        let receiver = Receiver::new(|v| v);
        let signed = receiver.sign("msg_1", BODY);
        let mut tampered_id = request(&signed, BODY);
        tampered_id
            .headers_mut()
            .insert("webhook-id", HeaderValue::from_static("msg_2"));
        let mut tampered_time = request(&signed, BODY);
        let later = (receiver.clock.now().unix_timestamp() - 1).to_string();
        tampered_time
            .headers_mut()
            .insert("webhook-timestamp", later.parse().unwrap());
        for tampered in [request(&signed, "{}"), tampered_id, tampered_time] {
            let answer = receiver.refusal(tampered).await;
            assert_eq!(
                answer,
                (StatusCode::UNAUTHORIZED, "invalid_signature".to_owned())
            );
        }
        assert_eq!(receiver.calls(), 0);
    }

    #[tokio::test]
    async fn stale_missing_and_replayed_callbacks_are_refused() {
        let receiver = Receiver::new(|v| v.replay_guard(ReplayGuard::new(16)));
        let signed = receiver.sign("msg_1", BODY);

        let mut unsigned = request(&signed, BODY);
        unsigned.headers_mut().remove("webhook-timestamp");
        assert_eq!(
            receiver.refusal(unsigned).await,
            (
                StatusCode::UNAUTHORIZED,
                "missing_webhook_timestamp".to_owned()
            )
        );

        let (status, _, _) = receiver.send(receiver.app(), request(&signed, BODY)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            receiver.refusal(request(&signed, BODY)).await,
            (StatusCode::UNAUTHORIZED, "replayed".to_owned())
        );

        receiver.clock.advance(Duration::minutes(6));
        let stale = receiver.sign("msg_2", BODY);
        receiver.clock.advance(Duration::minutes(6));
        assert_eq!(
            receiver.refusal(request(&stale, BODY)).await,
            (StatusCode::UNAUTHORIZED, "stale_timestamp".to_owned())
        );
        assert_eq!(receiver.calls(), 1);
    }

    #[tokio::test]
    async fn an_oversized_body_is_413_before_the_handler() {
        let receiver = Receiver::new(|v| v.max_body_len(16));
        let big = "x".repeat(17);
        let signed = receiver.sign("msg_1", &big);
        let mut oversized = request(&signed, &big);
        oversized
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(17));
        assert_eq!(
            receiver.refusal(oversized).await,
            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large".to_owned())
        );
        assert_eq!(
            receiver.refusal(request(&signed, &big)).await,
            (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large".to_owned())
        );
        assert_eq!(receiver.calls(), 0);
    }

    #[tokio::test]
    async fn a_refusal_carries_the_callback_challenge() {
        let receiver = Receiver::new(|v| v);
        let response = receiver
            .app()
            .oneshot(Request::post("/callbacks").body(Body::from(BODY)).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            vault_core::callbacks::CALLBACK_CHALLENGE
        );
    }

    #[tokio::test]
    async fn behind_the_layer_the_extractor_takes_its_verdict() {
        // With a replay guard, verifying twice would refuse the first delivery as a replay.
        let receiver = Receiver::new(|v| v.replay_guard(ReplayGuard::new(16)));
        let layered = receiver.app().layer(VerifyCallbackLayer::from_arc(
            receiver.state.verifier.clone(),
        ));
        let signed = receiver.sign("msg_1", BODY);
        let (status, _, body) = receiver.send(layered, request(&signed, BODY)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body, format!("msg_1 {BODY}"));
    }
}

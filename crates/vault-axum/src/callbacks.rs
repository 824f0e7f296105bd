//! Receiving signed callbacks in axum: the [`VerifiedCallbackBody`] extractor hands a handler
//! the verified body. Behind [`VerifyCallbackLayer`](crate::VerifyCallbackLayer) it takes the
//! layer's verdict, and the layer settles each message with the handler's status (a
//! verifier with a replay memory needs it: only a layer sees the handler's answer); alone it
//! buffers and verifies itself with vault-tower's
//! [`verify_callback_body`](vault_tower::verify_callback_body), refusing alike. A refusal is
//! [`CallbackRefused`].

use std::fmt;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{FromRef, FromRequest, Request};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use time::OffsetDateTime;
use vault_core::Problem;
use vault_core::callbacks::{CallbackRejection, CallbackVerifier, VerifiedCallback};

/// The body of a callback whose signature verified, with its message id and timestamp.
///
/// Behind a [`VerifyCallbackLayer`](crate::VerifyCallbackLayer) it takes the layer's verdict:
/// the handler runs for a fresh message, its 2xx makes the id processed and anything else
/// lets the sender's retry run it again; a redelivery of a processed id is acknowledged by
/// the layer (the handler sees it, [`is_duplicate`](Self::is_duplicate), only with
/// [`handle_duplicates`](crate::VerifyCallbackLayer::handle_duplicates)); one arriving while
/// the first is handled answers 409 with `Retry-After`. Use the layer whenever the verifier
/// has a replay memory: without it, the extractor answers 500 `server_misconfigured`.
///
/// Without a layer, the verifier comes from the router state: `Arc<CallbackVerifier>` itself,
/// or any state it can be taken from ([`FromRef`]). A refusal answers 401 (413 for a body over
/// [`CallbackVerifier::body_limit`]) with `application/problem+json` before the handler runs;
/// take `Result<VerifiedCallbackBody, CallbackRefused>` to answer otherwise. Being a body
/// extractor, it must be the handler's last argument.
///
/// ```
/// use std::sync::Arc;
/// use axum::{Router, http::StatusCode, routing::post};
/// use vault_axum::{VerifiedCallbackBody, VerifyCallbackLayer};
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
/// let verifier = Arc::new(
///     CallbackVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?)
///         .replay_guard(ReplayGuard::new(10_000)),
/// );
/// let app: Router = Router::new()
///     .route("/callbacks/jobs", post(job_events))
///     // 204 marks the id processed; a 400 (or a 5xx) lets the sender's retry in.
///     .layer(VerifyCallbackLayer::from_arc(verifier.clone()))
///     .with_state(verifier);
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

    /// Whether a handler already processed this id: only behind a layer that
    /// [hands duplicates on](crate::VerifyCallbackLayer::handle_duplicates).
    pub fn is_duplicate(&self) -> bool {
        self.callback.is_duplicate()
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
        if verifier.replay_memory().is_some() {
            // Claiming here would leave nobody to report the handler's outcome.
            return Err(CallbackRefused::LayerMissing);
        }
        let (delivery, body) =
            vault_tower::verify_callback_body(&verifier, &parts.headers, body).await?;
        // Without a replay memory every delivery is fresh and its claim holds nothing.
        Ok(Self {
            callback: delivery.callback().clone(),
            body,
        })
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

/// Why [`VerifiedCallbackBody`] refused a request: vault-core's [`CallbackRejection`] as an
/// axum response (status, `WWW-Authenticate` on 401, `Retry-After` on 409, problem+json), the
/// same answer as [`VerifyCallbackLayer`](crate::VerifyCallbackLayer); or a missing layer.
///
/// ```
/// use axum::response::IntoResponse;
/// use vault_axum::CallbackRefused;
/// use vault_core::callbacks::CallbackDefect;
///
/// let refused = CallbackRefused::from(CallbackDefect::TooOld);
/// assert_eq!(refused.rejection().map(|r| r.code()), Some("stale_timestamp"));
/// assert_eq!(refused.into_response().status(), 401);
/// assert_eq!(CallbackRefused::LayerMissing.into_response().status(), 500);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CallbackRefused {
    /// A row of vault-core's callback rejection table (401, 413, 409 or 400).
    Refused(CallbackRejection),
    /// The verifier has a replay memory but no [`VerifyCallbackLayer`](crate::VerifyCallbackLayer)
    /// wraps the route: nothing would report the handler's outcome. A programming error (500).
    LayerMissing,
}

impl CallbackRefused {
    /// The framework-free answer, for a refusal of the table.
    pub fn rejection(&self) -> Option<&CallbackRejection> {
        match self {
            Self::Refused(rejection) => Some(rejection),
            Self::LayerMissing => None,
        }
    }
}

impl From<CallbackRejection> for CallbackRefused {
    fn from(rejection: CallbackRejection) -> Self {
        Self::Refused(rejection)
    }
}

impl From<vault_core::callbacks::CallbackDefect> for CallbackRefused {
    fn from(defect: vault_core::callbacks::CallbackDefect) -> Self {
        Self::Refused(defect.into())
    }
}

impl fmt::Display for CallbackRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(rejection) => fmt::Display::fmt(rejection, f),
            Self::LayerMissing => f.write_str(
                "vault-axum: VerifiedCallbackBody with a replay memory needs a \
                 VerifyCallbackLayer around the route, to settle each message with the \
                 handler's answer",
            ),
        }
    }
}

impl std::error::Error for CallbackRefused {}

impl IntoResponse for CallbackRefused {
    fn into_response(self) -> Response {
        let problem = match &self {
            Self::Refused(rejection) => rejection.problem().clone(),
            Self::LayerMissing => Problem::misconfigured(&self.to_string()),
        };
        vault_tower::problem_response::<Body>(&problem)
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
    async fn stale_and_missing_callbacks_are_refused() {
        let receiver = Receiver::new(|v| v);
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
    async fn with_a_replay_memory_but_no_layer_the_extractor_is_a_500() {
        let receiver = with_replay_memory();
        let signed = receiver.sign("msg_1", BODY);
        let (status, _, body) = receiver.send(receiver.app(), request(&signed, BODY)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("server_misconfigured"), "{body}");
        assert!(body.contains("VerifyCallbackLayer"), "{body}");
        assert_eq!(receiver.calls(), 0);
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

    /// A handler the test scripts: it answers the statuses queued (200 once they run out),
    /// and, when gated, says it started and waits for the test to open the gate.
    #[derive(Clone, Default)]
    struct Script {
        verifier: Option<Arc<CallbackVerifier>>,
        calls: Arc<AtomicUsize>,
        answers: Arc<std::sync::Mutex<Vec<StatusCode>>>,
        started: Arc<tokio::sync::Notify>,
        open: Option<Arc<tokio::sync::Notify>>,
    }

    impl FromRef<Script> for Arc<CallbackVerifier> {
        fn from_ref(script: &Script) -> Self {
            script.verifier.clone().unwrap()
        }
    }

    async fn scripted(State(script): State<Script>, _: VerifiedCallbackBody) -> StatusCode {
        script.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(open) = &script.open {
            script.started.notify_one();
            open.notified().await;
        }
        script
            .answers
            .lock()
            .unwrap()
            .pop()
            .unwrap_or(StatusCode::OK)
    }

    impl Script {
        /// A receiver with a replay memory behind the layer, answering `statuses` in order.
        fn new(receiver: &Receiver, statuses: &[StatusCode]) -> Self {
            Self {
                verifier: Some(receiver.state.verifier.clone()),
                answers: Arc::new(std::sync::Mutex::new(
                    statuses.iter().rev().copied().collect(),
                )),
                ..Self::default()
            }
        }

        fn gated(receiver: &Receiver) -> (Self, Arc<tokio::sync::Notify>) {
            let open = Arc::new(tokio::sync::Notify::new());
            let script = Self {
                open: Some(Arc::clone(&open)),
                ..Self::new(receiver, &[])
            };
            (script, open)
        }

        fn app(&self) -> Router {
            let verifier = self.verifier.clone().unwrap();
            Router::new()
                .route("/callbacks", post(scripted))
                .layer(VerifyCallbackLayer::from_arc(verifier))
                .with_state(self.clone())
        }

        async fn send(&self, request: Request) -> Response {
            self.app().oneshot(request).await.unwrap()
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    async fn problem_code(response: Response) -> String {
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        body["code"].as_str().unwrap_or_default().to_owned()
    }

    fn with_replay_memory() -> Receiver {
        Receiver::new(|v| v.replay_guard(ReplayGuard::new(16)))
    }

    #[tokio::test]
    async fn a_redelivery_after_a_failed_handler_runs_the_handler_again() {
        let receiver = with_replay_memory();
        let script = Script::new(&receiver, &[StatusCode::SERVICE_UNAVAILABLE]);
        let first = receiver.sign("msg_1", BODY);
        let response = script.send(request(&first, BODY)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        receiver.clock.advance(Duration::seconds(30));
        let retry = receiver.sign("msg_1", BODY);
        assert_eq!(
            script.send(request(&retry, BODY)).await.status(),
            StatusCode::OK
        );
        assert_eq!(script.calls(), 2);
    }

    #[tokio::test]
    async fn a_redelivery_of_a_processed_id_is_acknowledged_without_running_the_handler() {
        let receiver = with_replay_memory();
        let script = Script::new(&receiver, &[]);
        let first = receiver.sign("msg_1", BODY);
        assert_eq!(
            script.send(request(&first, BODY)).await.status(),
            StatusCode::OK
        );
        receiver.clock.advance(Duration::seconds(30));
        for again in [first, receiver.sign("msg_1", BODY)] {
            let response = script.send(request(&again, BODY)).await;
            assert!(response.status().is_success(), "{response:?}");
            assert_eq!(problem_code(response).await, "duplicate");
        }
        assert_eq!(script.calls(), 1);
    }

    #[tokio::test]
    async fn a_redelivery_during_a_slow_handler_is_409_with_retry_after_and_runs_once() {
        let receiver = with_replay_memory();
        let (script, open) = Script::gated(&receiver);
        let signed = receiver.sign("msg_1", BODY);
        let first = script.send(request(&signed, BODY));
        let meanwhile = async {
            script.started.notified().await;
            receiver.clock.advance(Duration::seconds(10));
            let retry = receiver.sign("msg_1", BODY);
            let response = script.send(request(&retry, BODY)).await;
            open.notify_one();
            response
        };
        let (first, concurrent) = tokio::join!(first, meanwhile);
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(concurrent.status(), StatusCode::CONFLICT);
        let retry_after: u64 = concurrent.headers()[http::header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(problem_code(concurrent).await, "delivery_in_progress");
        assert_eq!(script.calls(), 1);
    }

    #[tokio::test]
    async fn a_replay_outside_the_window_is_still_refused() {
        let receiver = with_replay_memory();
        let script = Script::new(&receiver, &[]);
        let signed = receiver.sign("msg_1", BODY);
        assert_eq!(
            script.send(request(&signed, BODY)).await.status(),
            StatusCode::OK
        );
        receiver.clock.advance(Duration::minutes(6));
        let response = script.send(request(&signed, BODY)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(problem_code(response).await, "stale_timestamp");
        assert_eq!(script.calls(), 1);
    }
}

//! Receiving signed callbacks in actix-web: the [`VerifyCallback`] middleware buffers the
//! payload up to the verifier's limit, verifies it with vault-core's [`CallbackVerifier`] and
//! settles each message with the wrapped service's status (vault-tower's layer, one to one);
//! the [`VerifiedCallbackBody`] extractor hands a handler the verified body, taking the
//! middleware's verdict or, without a replay memory, verifying alone. Refusals answer
//! vault-core's [`CallbackRejection`], translated by status number and header strings, so an
//! actix receiver answers like vault-axum's and vault-tower's.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::{self, BodyStream, EitherBody, MessageBody};
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::StatusCode;
use actix_web::http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError};
use vault_core::Problem;
use vault_core::callbacks::{
    CallbackDefect, CallbackHeaders, CallbackRejection, CallbackVerifier, Claim, Delivery,
    DuplicateAcknowledgement, VerifiedCallback,
};

use crate::problem::problem_response;

/// Verifies every request it wraps (an `App`, `Scope` or `Resource`) as a signed callback
/// before the wrapped service sees it: vault-tower's `VerifyCallbackLayer` for actix-web.
///
/// The payload is buffered up to [`CallbackVerifier::body_limit`] (a larger declared
/// `Content-Length` is refused before reading). On success the wrapped service gets the same
/// bytes as its payload and the [`VerifiedCallback`] in the request extensions, where
/// [`VerifiedCallbackBody`] finds both; otherwise it is not called and the answer is
/// vault-core's [`CallbackRejection`]. With a [replay
/// memory](CallbackVerifier::replay_guard), each message is handled once:
///
/// - the id counts as received only when the wrapped service answered 2xx. Any other status,
///   an error, a panic or a dropped request releases it, so the sender's retry runs the
///   handler again;
/// - a redelivery of a processed id is answered 200 ([`DuplicateAcknowledgement`]) without
///   calling the wrapped service, unless [`handle_duplicates`](Self::handle_duplicates) hands
///   it on marked [`VerifiedCallback::is_duplicate`];
/// - a redelivery while the first is still handled answers 409 `delivery_in_progress` with
///   `Retry-After`;
/// - a replayed attempt outside the timestamp window stays 401 `stale_timestamp`.
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use vault_actix::{VerifiedCallbackBody, VerifyCallback};
/// use vault_core::callbacks::{CallbackVerifier, ReplayGuard};
///
/// async fn job_events(callback: VerifiedCallbackBody) -> HttpResponse {
///     match serde_json::from_slice::<serde_json::Value>(callback.body()) {
///         // 204: the id is processed, a redelivery is acknowledged without this handler.
///         Ok(_event) => HttpResponse::NoContent().finish(),
///         // Anything else: the sender's retry runs this handler again.
///         Err(_) => HttpResponse::BadRequest().finish(),
///     }
/// }
///
/// # fn main() -> Result<(), vault_core::Error> {
/// let verifier = CallbackVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?)
///     .replay_guard(ReplayGuard::new(10_000));
/// let app = App::new().service(
///     web::resource("/callbacks/jobs")
///         .wrap(VerifyCallback::new(verifier))
///         .route(web::post().to(job_events)),
/// );
/// # let _ = app;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct VerifyCallback {
    verifier: Arc<CallbackVerifier>,
    handle_duplicates: bool,
}

impl VerifyCallback {
    /// Verifies with `verifier` (its secrets, tolerance, body limit, replay memory).
    pub fn new(verifier: CallbackVerifier) -> Self {
        Self::from_arc(Arc::new(verifier))
    }

    /// Verifies with a shared `verifier` (a `web::Data<CallbackVerifier>` gives one with
    /// `into_inner`).
    pub fn from_arc(verifier: Arc<CallbackVerifier>) -> Self {
        Self {
            verifier,
            handle_duplicates: false,
        }
    }

    /// Whether a redelivery of a processed id reaches the wrapped service (marked
    /// [`VerifiedCallback::is_duplicate`]) instead of being acknowledged here. For a handler
    /// that answers duplicates itself; it must not redo the work. Its answer changes nothing
    /// in the replay memory. Default `false`.
    pub fn handle_duplicates(mut self, handle: bool) -> Self {
        self.handle_duplicates = handle;
        self
    }

    /// The verifier this middleware runs.
    pub fn verifier(&self) -> &Arc<CallbackVerifier> {
        &self.verifier
    }
}

impl fmt::Debug for VerifyCallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyCallback")
            .field("verifier", &self.verifier)
            .field("handle_duplicates", &self.handle_duplicates)
            .finish()
    }
}

impl<S, B> Transform<S, ServiceRequest> for VerifyCallback
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = VerifyCallbackMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(VerifyCallbackMiddleware {
            service: Rc::new(service),
            verifier: Arc::clone(&self.verifier),
            handle_duplicates: self.handle_duplicates,
        }))
    }
}

/// The [`Service`] built by [`VerifyCallback`] around the wrapped service.
pub struct VerifyCallbackMiddleware<S> {
    // `Rc`: the wrapped service is called only after the payload is read, from the future.
    service: Rc<S>,
    verifier: Arc<CallbackVerifier>,
    handle_duplicates: bool,
}

impl<S> fmt::Debug for VerifyCallbackMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyCallbackMiddleware")
            .field("verifier", &self.verifier)
            .field("handle_duplicates", &self.handle_duplicates)
            .finish_non_exhaustive()
    }
}

/// The response future of [`VerifyCallbackMiddleware`]: reading the payload, then the wrapped
/// service's response (or the answer without it). Dropping it drops the claim: released.
pub type CallbackFuture<B> =
    Pin<Box<dyn Future<Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>>>;

impl<S, B> Service<ServiceRequest> for VerifyCallbackMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = CallbackFuture<B>;

    forward_ready!(service);

    fn call(&self, mut request: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let verifier = Arc::clone(&self.verifier);
        let handle_duplicates = self.handle_duplicates;
        Box::pin(async move {
            let payload = request.take_payload();
            let (delivery, body) =
                match read_and_verify(&verifier, request.headers(), payload).await {
                    Ok(verified) => verified,
                    Err(rejection) => {
                        return Ok(answer(request, problem_response(rejection.problem())));
                    }
                };
            let claim = match delivery {
                Delivery::Fresh(claim) => {
                    request.extensions_mut().insert(claim.callback().clone());
                    Some(claim)
                }
                Delivery::Duplicate(callback) if handle_duplicates => {
                    request.extensions_mut().insert(callback);
                    None
                }
                Delivery::Duplicate(_) => {
                    return Ok(answer(request, acknowledgement(&DuplicateAcknowledgement)));
                }
            };
            request.extensions_mut().insert(VerifiedBody(body.clone()));
            request.set_payload(Payload::from(body));
            let response = service.call(request).await;
            if let Some(claim) = claim {
                settle(claim, response.as_ref().map(ServiceResponse::status).ok());
            }
            response.map(ServiceResponse::map_into_left_body)
        })
    }
}

/// The verified bytes, beside the [`VerifiedCallback`], for the extractor behind the
/// middleware (the payload itself is left for any other extractor).
#[derive(Clone)]
struct VerifiedBody(Bytes);

/// Reports the handler's outcome: a 2xx status makes the id processed; any other status, or
/// none (an error), releases it for the sender's retry.
fn settle(claim: Claim, status: Option<StatusCode>) {
    if status.is_some_and(|status| status.is_success()) {
        claim.processed();
    } else {
        claim.release();
    }
}

fn answer<B>(request: ServiceRequest, response: HttpResponse) -> ServiceResponse<EitherBody<B>> {
    request.into_response(response).map_into_right_body()
}

/// The response acknowledging a duplicate without calling the wrapped service.
fn acknowledgement(ack: &DuplicateAcknowledgement) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(ack.status()).unwrap_or(StatusCode::OK))
        .insert_header((CONTENT_TYPE, ack.content_type()))
        .body(ack.body())
}

/// Buffers `payload` up to the verifier's limit and verifies it with `headers`: the
/// middleware's check and the lone extractor's, one code.
async fn read_and_verify(
    verifier: &CallbackVerifier,
    headers: &HeaderMap,
    payload: Payload,
) -> Result<(Delivery, Bytes), CallbackRejection> {
    let limit = verifier.body_limit();
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok());
    CallbackRejection::check_content_length(declared, limit)?;
    let body = match body::to_bytes_limited(BodyStream::new(payload), limit).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => return Err(CallbackRejection::unreadable_body()),
        Err(_) => return Err(CallbackDefect::BodyTooLarge { limit }.into()),
    };
    let lookup = CallbackHeaders::from_lookup(|name| {
        headers.get(name).and_then(|value| value.to_str().ok())
    });
    let delivery = verifier.verify(&lookup, &body)?;
    Ok((delivery, body))
}

/// The body of a callback whose signature verified, with its message id and timestamp.
///
/// Behind [`VerifyCallback`] it takes the middleware's verdict (and the middleware settles
/// the message with the handler's status: see there). Use the middleware whenever the
/// verifier has a replay memory: only it sees the handler's answer, and without it the
/// extractor answers 500 `server_misconfigured`.
///
/// Without the middleware, the verifier is the app's `web::Data<CallbackVerifier>`. A refusal
/// answers 401 (413 for a body over [`CallbackVerifier::body_limit`]) with
/// `application/problem+json` before the handler runs; without the verifier in app data, 500
/// (a programming error, not a 401).
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use vault_actix::VerifiedCallbackBody;
/// use vault_core::callbacks::CallbackVerifier;
///
/// async fn job_events(callback: VerifiedCallbackBody) -> HttpResponse {
///     println!("{} at {}: {} bytes", callback.id(), callback.timestamp(), callback.body().len());
///     HttpResponse::NoContent().finish()
/// }
///
/// # fn main() -> Result<(), vault_core::Error> {
/// let verifier = CallbackVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?);
/// let verifier = web::Data::new(verifier);
/// let app = App::new()
///     .app_data(verifier.clone())
///     .route("/callbacks/jobs", web::post().to(job_events));
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
    pub fn timestamp(&self) -> time::OffsetDateTime {
        self.callback.timestamp()
    }

    /// The verified body, exactly as received.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether a handler already processed this id: only behind a middleware that
    /// [hands duplicates on](VerifyCallback::handle_duplicates).
    pub fn is_duplicate(&self) -> bool {
        self.callback.is_duplicate()
    }

    /// The verdict and the body.
    pub fn into_parts(self) -> (VerifiedCallback, Bytes) {
        (self.callback, self.body)
    }
}

impl FromRequest for VerifiedCallbackBody {
    type Error = CallbackRefused;
    type Future = Pin<Box<dyn Future<Output = Result<Self, CallbackRefused>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let verified = {
            let extensions = request.extensions();
            extensions
                .get::<VerifiedCallback>()
                .cloned()
                .zip(extensions.get::<VerifiedBody>().cloned())
        };
        if let Some((callback, VerifiedBody(body))) = verified {
            // The middleware verified and buffered it; verifying again would see it in
            // progress.
            return Box::pin(std::future::ready(Ok(Self { callback, body })));
        }
        let request = request.clone();
        let payload = payload.take();
        Box::pin(async move {
            let verifier = request
                .app_data::<web::Data<CallbackVerifier>>()
                .cloned()
                .ok_or(CallbackRefused::VerifierMissing)?;
            if verifier.replay_memory().is_some() {
                // Claiming here would leave nobody to report the handler's outcome.
                return Err(CallbackRefused::MiddlewareMissing);
            }
            let (delivery, body) = read_and_verify(&verifier, request.headers(), payload).await?;
            // Without a replay memory every delivery is fresh and its claim holds nothing.
            Ok(Self {
                callback: delivery.callback().clone(),
                body,
            })
        })
    }
}

/// Why [`VerifiedCallbackBody`] refused a request. An actix [`ResponseError`], so a handler
/// can take `Result<VerifiedCallbackBody, CallbackRefused>` to answer otherwise.
///
/// ```
/// use actix_web::ResponseError;
/// use vault_actix::CallbackRefused;
/// use vault_core::callbacks::CallbackDefect;
///
/// let refused = CallbackRefused::from(CallbackDefect::TooOld);
/// assert_eq!(refused.status_code().as_u16(), 401);
/// assert_eq!(CallbackRefused::VerifierMissing.status_code().as_u16(), 500);
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum CallbackRefused {
    /// A row of vault-core's callback rejection table (401, 413, 409 or 400).
    Refused(CallbackRejection),
    /// No [`VerifyCallback`] middleware and no `web::Data<CallbackVerifier>` in the app data:
    /// a programming error (500).
    VerifierMissing,
    /// The verifier has a replay memory but no [`VerifyCallback`] middleware wraps the route:
    /// nothing would report the handler's outcome. A programming error (500).
    MiddlewareMissing,
}

impl From<CallbackRejection> for CallbackRefused {
    fn from(rejection: CallbackRejection) -> Self {
        Self::Refused(rejection)
    }
}

impl From<CallbackDefect> for CallbackRefused {
    fn from(defect: CallbackDefect) -> Self {
        Self::Refused(defect.into())
    }
}

impl fmt::Display for CallbackRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused(rejection) => fmt::Display::fmt(rejection, f),
            Self::VerifierMissing => f.write_str(
                "vault-actix: VerifiedCallbackBody needs the VerifyCallback middleware or a \
                 web::Data<CallbackVerifier> in the app data (App::app_data)",
            ),
            Self::MiddlewareMissing => f.write_str(
                "vault-actix: VerifiedCallbackBody with a replay memory needs the \
                 VerifyCallback middleware around the route, to settle each message with the \
                 handler's answer",
            ),
        }
    }
}

impl std::error::Error for CallbackRefused {}

impl ResponseError for CallbackRefused {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Refused(rejection) => StatusCode::from_u16(rejection.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Self::VerifierMissing | Self::MiddlewareMissing => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Refused(rejection) => problem_response(rejection.problem()),
            Self::VerifierMissing | Self::MiddlewareMissing => {
                problem_response(&Problem::misconfigured(&self.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use actix_web::{App, test};
    use time::Duration;
    use vault_core::callbacks::{CALLBACK_CHALLENGE, CallbackSigner, ReplayGuard, SignedHeaders};
    use vault_core::{Clock, ManualClock};

    use actix_web::http::header::WWW_AUTHENTICATE;

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &str = r#"{"type":"job.created","job_id":"j1"}"#;

    #[derive(Default)]
    struct Calls(AtomicUsize);

    async fn receive(calls: web::Data<Calls>, callback: VerifiedCallbackBody) -> HttpResponse {
        calls.0.fetch_add(1, Ordering::SeqCst);
        let body = String::from_utf8(callback.body().to_vec()).unwrap();
        HttpResponse::Ok().body(format!("{} {body}", callback.id()))
    }

    struct Receiver {
        clock: ManualClock,
        verifier: web::Data<CallbackVerifier>,
        calls: web::Data<Calls>,
    }

    impl Receiver {
        fn new(configure: impl FnOnce(CallbackVerifier) -> CallbackVerifier) -> Self {
            let clock = ManualClock::default();
            let verifier = CallbackVerifier::new(SECRET.parse().unwrap()).clock(clock.clone());
            Self {
                clock,
                verifier: web::Data::new(configure(verifier)),
                calls: web::Data::new(Calls::default()),
            }
        }

        fn sign(&self, id: &str, body: &str) -> SignedHeaders {
            CallbackSigner::new(SECRET.parse().unwrap())
                .clock(self.clock.clone())
                .sign(id, body.as_bytes())
                .unwrap()
        }

        /// Status, headers' content type and challenge, and body of the answer.
        async fn send(&self, request: test::TestRequest) -> (u16, Option<String>, String) {
            let app = test::init_service(
                App::new()
                    .app_data(self.verifier.clone())
                    .app_data(self.calls.clone())
                    .route("/callbacks", web::post().to(receive)),
            )
            .await;
            let response = test::call_service(&app, request.uri("/callbacks").to_request()).await;
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get(WWW_AUTHENTICATE)
                .map(|v| v.to_str().unwrap().to_owned());
            let body = test::read_body(response).await;
            (status, challenge, String::from_utf8(body.to_vec()).unwrap())
        }

        async fn refusal(&self, request: test::TestRequest) -> (u16, String) {
            let (status, _, body) = self.send(request).await;
            let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(problem["status"], status);
            (status, problem["code"].as_str().unwrap().to_owned())
        }

        fn calls(&self) -> usize {
            self.calls.0.load(Ordering::SeqCst)
        }
    }

    fn request(signed: &SignedHeaders, body: &str) -> test::TestRequest {
        let mut request = test::TestRequest::post().set_payload(body.to_owned());
        for (name, value) in signed.iter() {
            request = request.insert_header((name, value));
        }
        request
    }

    #[actix_web::test]
    async fn a_valid_callback_reaches_the_handler_with_its_body() {
        let receiver = Receiver::new(|v| v);
        let signed = receiver.sign("msg_1", BODY);
        let (status, _, body) = receiver.send(request(&signed, BODY)).await;
        assert_eq!(status, 200);
        assert_eq!(body, format!("msg_1 {BODY}"));
        assert_eq!(receiver.calls(), 1);
    }

    #[actix_web::test]
    async fn tampering_with_the_body_id_or_timestamp_is_refused() {
        let receiver = Receiver::new(|v| v);
        let signed = receiver.sign("msg_1", BODY);
        let later = (receiver.clock.now().unix_timestamp() + 1).to_string();
        for tampered in [
            request(&signed, "{}"),
            request(&signed, BODY).insert_header(("webhook-id", "msg_2")),
            request(&signed, BODY).insert_header(("webhook-timestamp", later.as_str())),
        ] {
            let (status, challenge, body) = receiver.send(tampered).await;
            assert_eq!(status, 401);
            assert_eq!(challenge.as_deref(), Some(CALLBACK_CHALLENGE));
            assert!(body.contains(r#""code":"invalid_signature""#), "{body}");
        }
        assert_eq!(receiver.calls(), 0);
    }

    #[actix_web::test]
    async fn stale_and_missing_callbacks_are_refused() {
        let receiver = Receiver::new(|v| v);
        let signed = receiver.sign("msg_1", BODY);
        let mut unsigned = test::TestRequest::post().set_payload(BODY);
        for (name, value) in signed.iter().filter(|(n, _)| *n != "webhook-signature") {
            unsigned = unsigned.insert_header((name, value));
        }
        assert_eq!(
            receiver.refusal(unsigned).await,
            (401, "missing_webhook_signature".to_owned())
        );

        assert_eq!(receiver.send(request(&signed, BODY)).await.0, 200);

        let stale = receiver.sign("msg_2", BODY);
        receiver.clock.advance(Duration::minutes(6));
        assert_eq!(
            receiver.refusal(request(&stale, BODY)).await,
            (401, "stale_timestamp".to_owned())
        );
        assert_eq!(receiver.calls(), 1);
    }

    #[actix_web::test]
    async fn an_oversized_body_is_413_before_the_handler() {
        let receiver = Receiver::new(|v| v.max_body_len(16));
        let big = "x".repeat(17);
        let signed = receiver.sign("msg_1", &big);
        let (status, challenge, body) = receiver.send(request(&signed, &big)).await;
        assert_eq!(status, 413);
        assert_eq!(challenge, None);
        assert!(body.contains(r#""code":"body_too_large""#), "{body}");
        // A declared length over the limit is refused before reading.
        let declared = request(&signed, "x").insert_header((CONTENT_LENGTH, "17"));
        assert_eq!(
            receiver.refusal(declared).await,
            (413, "body_too_large".to_owned())
        );
        assert_eq!(receiver.calls(), 0);
    }

    #[actix_web::test]
    async fn with_a_replay_memory_but_no_middleware_the_extractor_is_a_500() {
        let receiver = Receiver::new(|v| v.replay_guard(Arc::new(ReplayGuard::new(16))));
        let signed = receiver.sign("msg_1", BODY);
        let (status, _, body) = receiver.send(request(&signed, BODY)).await;
        assert_eq!(status, 500);
        assert!(body.contains("server_misconfigured"), "{body}");
        assert!(body.contains("VerifyCallback middleware"), "{body}");
        assert_eq!(receiver.calls(), 0);
    }

    #[actix_web::test]
    async fn without_a_verifier_the_extractor_is_a_500() {
        let app = test::init_service(App::new().route(
            "/callbacks",
            web::post().to(|_: VerifiedCallbackBody| async { HttpResponse::Ok().finish() }),
        ))
        .await;
        let request = test::TestRequest::post().uri("/callbacks").to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status().as_u16(), 500);
    }

    /// A handler the test scripts: it answers the statuses queued (200 once they run out),
    /// and, when gated, says it started and waits for the test to open the gate.
    #[derive(Default)]
    struct Script {
        calls: AtomicUsize,
        duplicates: std::sync::Mutex<Vec<bool>>,
        answers: std::sync::Mutex<Vec<u16>>,
        started: tokio::sync::Notify,
        open: Option<tokio::sync::Notify>,
    }

    async fn scripted(script: web::Data<Script>, callback: VerifiedCallbackBody) -> HttpResponse {
        assert_eq!(callback.body(), BODY.as_bytes());
        script
            .duplicates
            .lock()
            .unwrap()
            .push(callback.is_duplicate());
        script.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(open) = &script.open {
            script.started.notify_one();
            open.notified().await;
        }
        let status = script.answers.lock().unwrap().pop().unwrap_or(200);
        HttpResponse::build(StatusCode::from_u16(status).unwrap()).body("handled")
    }

    struct Scripted {
        receiver: Receiver,
        script: web::Data<Script>,
        middleware: VerifyCallback,
    }

    impl Scripted {
        fn new(statuses: &[u16]) -> Self {
            Self::with(Script {
                answers: std::sync::Mutex::new(statuses.iter().rev().copied().collect()),
                ..Script::default()
            })
        }

        fn gated() -> Self {
            Self::with(Script {
                open: Some(tokio::sync::Notify::new()),
                ..Script::default()
            })
        }

        fn with(script: Script) -> Self {
            let receiver = Receiver::new(|v| v.replay_guard(ReplayGuard::new(16)));
            Self {
                middleware: VerifyCallback::from_arc(receiver.verifier.clone().into_inner()),
                receiver,
                script: web::Data::new(script),
            }
        }

        /// Status, `Retry-After` and problem code (if any) of the answer.
        async fn send(&self, signed: &SignedHeaders) -> (u16, Option<String>, String) {
            let app = test::init_service(
                App::new().app_data(self.script.clone()).service(
                    web::resource("/callbacks")
                        .wrap(self.middleware.clone())
                        .route(web::post().to(scripted)),
                ),
            )
            .await;
            let request = request(signed, BODY).uri("/callbacks").to_request();
            let response = test::call_service(&app, request).await;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(actix_web::http::header::RETRY_AFTER)
                .map(|v| v.to_str().unwrap().to_owned());
            let body = test::read_body(response).await;
            let code = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|body| body["code"].as_str().map(str::to_owned))
                .unwrap_or_default();
            (status, retry_after, code)
        }

        fn sign(&self) -> SignedHeaders {
            self.receiver.sign("msg_1", BODY)
        }

        fn calls(&self) -> usize {
            self.script.calls.load(Ordering::SeqCst)
        }
    }

    #[actix_web::test]
    async fn a_redelivery_after_a_failed_handler_runs_the_handler_again() {
        let scripted = Scripted::new(&[500]);
        assert_eq!(scripted.send(&scripted.sign()).await.0, 500);
        scripted.receiver.clock.advance(Duration::seconds(30));
        assert_eq!(scripted.send(&scripted.sign()).await.0, 200);
        assert_eq!(scripted.calls(), 2);
    }

    #[actix_web::test]
    async fn a_redelivery_of_a_processed_id_is_acknowledged_without_running_the_handler() {
        let scripted = Scripted::new(&[]);
        let first = scripted.sign();
        assert_eq!(scripted.send(&first).await.0, 200);
        scripted.receiver.clock.advance(Duration::seconds(30));
        for again in [first, scripted.sign()] {
            let (status, _, code) = scripted.send(&again).await;
            assert!((200..300).contains(&status), "{status} {code}");
            assert_eq!(code, "duplicate");
        }
        assert_eq!(scripted.calls(), 1);
    }

    #[actix_web::test]
    async fn a_redelivery_during_a_slow_handler_is_409_with_retry_after_and_runs_once() {
        let scripted = Scripted::gated();
        let signed = scripted.sign();
        let first = scripted.send(&signed);
        let meanwhile = async {
            scripted.script.started.notified().await;
            scripted.receiver.clock.advance(Duration::seconds(10));
            let answer = scripted.send(&scripted.sign()).await;
            scripted.script.open.as_ref().unwrap().notify_one();
            answer
        };
        let (first, (status, retry_after, code)) = tokio::join!(first, meanwhile);
        assert_eq!(first.0, 200);
        assert_eq!((status, code.as_str()), (409, "delivery_in_progress"));
        let retry_after: u64 = retry_after.unwrap().parse().unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(scripted.calls(), 1);
    }

    #[actix_web::test]
    async fn a_replay_outside_the_window_is_still_refused() {
        let scripted = Scripted::new(&[]);
        let signed = scripted.sign();
        assert_eq!(scripted.send(&signed).await.0, 200);
        scripted.receiver.clock.advance(Duration::minutes(6));
        let (status, _, code) = scripted.send(&signed).await;
        assert_eq!((status, code.as_str()), (401, "stale_timestamp"));
        assert_eq!(scripted.calls(), 1);
    }

    #[actix_web::test]
    async fn a_middleware_asked_to_hands_duplicates_on_marked_as_such() {
        let mut scripted = Scripted::new(&[200, 500, 500]);
        scripted.middleware = scripted.middleware.clone().handle_duplicates(true);
        for expected in [200, 500, 500] {
            assert_eq!(scripted.send(&scripted.sign()).await.0, expected);
        }
        // The failed answers to duplicates changed nothing: the id stays processed.
        assert_eq!(
            *scripted.script.duplicates.lock().unwrap(),
            [false, true, true]
        );
    }

    #[actix_web::test]
    async fn a_cancelled_request_leaves_the_id_free() {
        let scripted = Scripted::gated();
        let signed = scripted.sign();
        tokio::select! {
            _ = scripted.send(&signed) => panic!("the gate is closed"),
            () = scripted.script.started.notified() => {}
        }
        // The client went away mid-handler; the retry runs the handler (its gate open).
        scripted.script.open.as_ref().unwrap().notify_one();
        assert_eq!(scripted.send(&scripted.sign()).await.0, 200);
        assert_eq!(scripted.calls(), 2);
    }
}

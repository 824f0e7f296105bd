//! Receiving signed callbacks: [`VerifyCallbackLayer`] buffers the body up to the verifier's
//! limit, checks it with vault-core's [`CallbackVerifier`], and either calls the inner
//! service with the verified body or answers without it: vault-core's [`CallbackRejection`],
//! or its [`DuplicateAcknowledgement`] for a message already processed. It settles the
//! delivery's [`Claim`] with the inner service's status. The verdict and the answer table
//! are vault-core's; this module only reads bodies, writes responses and reports back.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use vault_core::BoxError;
use vault_core::callbacks::{
    CallbackDefect, CallbackHeaders, CallbackRejection, CallbackVerifier, Claim, Delivery,
    DuplicateAcknowledgement,
};

use crate::problem::problem_response;

/// Verifies every request as a signed callback (Standard Webhooks v1) before the inner
/// service sees it.
///
/// The body is buffered up to [`CallbackVerifier::body_limit`] (a larger declared
/// `Content-Length` is refused before reading). On success the inner service gets the
/// request with the same bytes as a [`Full`] body and the
/// [`VerifiedCallback`](vault_core::callbacks::VerifiedCallback) (message id, timestamp) in
/// its extensions; otherwise it is not called and the answer is vault-core's
/// [`CallbackRejection`]: 401 (413 for an oversized body) with `application/problem+json`.
///
/// With a [replay memory](CallbackVerifier::replay_guard), each message is handled once:
///
/// - the id counts as received only when the inner service answered 2xx. Any other status,
///   an error, a panic or a dropped request releases it, so the sender's retry runs the
///   inner service again;
/// - a redelivery of a processed id is answered 200 ([`DuplicateAcknowledgement`]) without
///   calling the inner service, unless [`handle_duplicates`](Self::handle_duplicates) hands it
///   on marked [`is_duplicate`](vault_core::callbacks::VerifiedCallback::is_duplicate);
/// - a redelivery while the inner service still handles the first answers 409
///   `delivery_in_progress` with `Retry-After`;
/// - a replayed attempt outside the timestamp window stays 401 `stale_timestamp`.
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use http_body_util::{BodyExt, Full};
/// use tower::{ServiceBuilder, ServiceExt, service_fn};
/// use vault_core::callbacks::{CallbackSigner, CallbackVerifier, VerifiedCallback};
/// use vault_tower::VerifyCallbackLayer;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let secret: vault_core::callbacks::CallbackSecret =
///     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// let service = ServiceBuilder::new()
///     .layer(VerifyCallbackLayer::new(CallbackVerifier::new(secret.clone())))
///     .service(service_fn(|request: Request<Full<bytes::Bytes>>| async move {
///         let id = request.extensions().get::<VerifiedCallback>().unwrap().id().to_owned();
///         let body = request.into_body().collect().await?.to_bytes();
///         Ok::<_, Infallible>(Response::new(format!("{id}: {} bytes", body.len())))
///     }));
///
/// let body = r#"{"type":"job.created"}"#;
/// let signed = CallbackSigner::new(secret).sign("msg_1", body.as_bytes())?;
/// let mut request = Request::post("/callbacks");
/// for (name, value) in signed.iter() {
///     request = request.header(name, value);
/// }
/// let response = service.clone().oneshot(request.body(body.to_owned())?).await?;
/// assert_eq!(response.into_body(), "msg_1: 22 bytes");
///
/// let forged = Request::post("/callbacks").body(body.to_owned())?;
/// assert_eq!(service.oneshot(forged).await?.status(), 401);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct VerifyCallbackLayer {
    verifier: Arc<CallbackVerifier>,
    handle_duplicates: bool,
}

impl VerifyCallbackLayer {
    /// A layer verifying with `verifier` (its secrets, tolerance, body limit, replay memory).
    pub fn new(verifier: CallbackVerifier) -> Self {
        Self::from_arc(Arc::new(verifier))
    }

    /// A layer verifying with a shared `verifier`.
    pub fn from_arc(verifier: Arc<CallbackVerifier>) -> Self {
        Self {
            verifier,
            handle_duplicates: false,
        }
    }

    /// Whether a redelivery of a processed id reaches the inner service, marked
    /// [`is_duplicate`](vault_core::callbacks::VerifiedCallback::is_duplicate), instead of
    /// being acknowledged by the layer. For a handler that answers duplicates itself (say,
    /// with what it answered the first time); it must not redo the work. Its answer changes
    /// nothing in the replay memory. Default `false`.
    pub fn handle_duplicates(mut self, handle: bool) -> Self {
        self.handle_duplicates = handle;
        self
    }

    /// The verifier this layer runs.
    pub fn verifier(&self) -> &Arc<CallbackVerifier> {
        &self.verifier
    }
}

impl<S> Layer<S> for VerifyCallbackLayer {
    type Service = VerifyCallback<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyCallback {
            inner,
            verifier: self.verifier.clone(),
            handle_duplicates: self.handle_duplicates,
        }
    }
}

impl fmt::Debug for VerifyCallbackLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyCallbackLayer")
            .field("verifier", &self.verifier)
            .field("handle_duplicates", &self.handle_duplicates)
            .finish()
    }
}

/// The service built by [`VerifyCallbackLayer`] around `inner`.
#[derive(Clone)]
pub struct VerifyCallback<S> {
    inner: S,
    verifier: Arc<CallbackVerifier>,
    handle_duplicates: bool,
}

impl<S> VerifyCallback<S> {
    /// Wraps `inner`, verifying with `verifier`; duplicates are acknowledged without it.
    pub fn new(inner: S, verifier: Arc<CallbackVerifier>) -> Self {
        Self {
            inner,
            verifier,
            handle_duplicates: false,
        }
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for VerifyCallback<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyCallback")
            .field("inner", &self.inner)
            .field("verifier", &self.verifier)
            .field("handle_duplicates", &self.handle_duplicates)
            .finish()
    }
}

impl<S, B, ResBody> Service<Request<B>> for VerifyCallback<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone,
    B: Body,
    B::Error: Into<BoxError>,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CallbackFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let limit = self.verifier.body_limit();
        if let Err(rejection) = check_declared_size(request.headers(), request.body(), limit) {
            return CallbackFuture::answered(problem_response(rejection.problem()));
        }
        let (parts, body) = request.into_parts();
        // The service polled ready is the one to call; a clone takes its place.
        let clone = self.inner.clone();
        let ready = mem::replace(&mut self.inner, clone);
        CallbackFuture {
            state: State::Collecting {
                collect: Limited::new(body, limit).collect(),
                parts: Some(parts),
                inner: Some(ready),
                verifier: self.verifier.clone(),
                handle_duplicates: self.handle_duplicates,
            },
        }
    }
}

pin_project! {
    /// The future of [`VerifyCallback`]: collecting the body, then calling the inner service
    /// and settling the claim with its status (or answering without it).
    pub struct CallbackFuture<S, B>
    where
        S: Service<Request<Full<Bytes>>>,
        B: Body,
        B::Error: Into<BoxError>,
    {
        #[pin]
        state: State<Collect<Limited<B>>, S, S::Future, S::Response>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<Col, S, Fut, Res> {
        // Buffering the body; the request head and the ready `inner` wait for it.
        Collecting {
            #[pin]
            collect: Col,
            parts: Option<Parts>,
            inner: Option<S>,
            verifier: Arc<CallbackVerifier>,
            handle_duplicates: bool,
        },
        // Verified: the inner service answers; its status settles the claim (none for a
        // duplicate handed on). Dropping the future mid-call drops the claim: released.
        Calling {
            #[pin]
            future: Fut,
            claim: Option<Claim>,
        },
        // Refused before buffering; taken on the first poll.
        Answered {
            response: Option<Res>,
        },
    }
}

impl<S, B> CallbackFuture<S, B>
where
    S: Service<Request<Full<Bytes>>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    fn answered(response: S::Response) -> Self {
        Self {
            state: State::Answered {
                response: Some(response),
            },
        }
    }
}

impl<S, B, ResBody> Future for CallbackFuture<S, B>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>>,
    B: Body,
    B::Error: Into<BoxError>,
    ResBody: From<String>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    // Polling a future after it completed is the caller's bug; the `Future` contract lets it
    // panic, as the standard library's futures do.
    #[allow(clippy::panic, clippy::expect_used)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Collecting {
                    collect,
                    parts,
                    inner,
                    verifier,
                    handle_duplicates,
                } => {
                    let collected = ready!(collect.poll(cx));
                    let (Some(mut parts), Some(mut inner)) = (parts.take(), inner.take()) else {
                        panic!("CallbackFuture polled after completion");
                    };
                    let verdict = collected
                        .map(|collected| collected.to_bytes())
                        .map_err(|error| read_failure(&error, verifier.body_limit()))
                        .and_then(|body| verify_collected(verifier, &parts.headers, body));
                    let (claim, body) = match verdict {
                        Ok((Delivery::Fresh(claim), body)) => {
                            parts.extensions.insert(claim.callback().clone());
                            (Some(claim), body)
                        }
                        Ok((Delivery::Duplicate(callback), body)) if *handle_duplicates => {
                            parts.extensions.insert(callback);
                            (None, body)
                        }
                        Ok((Delivery::Duplicate(_), _)) => {
                            return Poll::Ready(Ok(acknowledgement(&DuplicateAcknowledgement)));
                        }
                        Err(rejection) => {
                            return Poll::Ready(Ok(problem_response(rejection.problem())));
                        }
                    };
                    let future = inner.call(Request::from_parts(parts, Full::new(body)));
                    this.state.set(State::Calling { future, claim });
                }
                StateProj::Calling { future, claim } => {
                    let answer = ready!(future.poll(cx));
                    if let Some(claim) = claim.take() {
                        settle(claim, answer.as_ref().map(Response::status).ok());
                    }
                    return Poll::Ready(answer);
                }
                StateProj::Answered { response } => {
                    let response = response
                        .take()
                        .expect("CallbackFuture polled after completion");
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

impl<S, B> fmt::Debug for CallbackFuture<S, B>
where
    S: Service<Request<Full<Bytes>>>,
    B: Body,
    B::Error: Into<BoxError>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Collecting { .. } => "Collecting",
            State::Calling { .. } => "Calling",
            State::Answered { .. } => "Answered",
        };
        f.debug_struct("CallbackFuture")
            .field("state", &state)
            .finish()
    }
}

/// Reports the handler's outcome: a 2xx status makes the id processed; any other status,
/// or none (an error), releases it for the sender's retry.
fn settle(claim: Claim, status: Option<StatusCode>) {
    if status.is_some_and(|status| status.is_success()) {
        claim.processed();
    } else {
        claim.release();
    }
}

/// The response acknowledging a duplicate without calling the inner service.
fn acknowledgement<B: From<String>>(ack: &DuplicateAcknowledgement) -> Response<B> {
    let mut response = Response::new(B::from(ack.body().to_owned()));
    *response.status_mut() = StatusCode::from_u16(ack.status()).unwrap_or(StatusCode::OK);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ack.content_type()));
    response
}

/// Buffers `body` up to the verifier's limit and verifies it with `headers`: the whole
/// receiver check as one call, for extractors (vault-axum's) that hold the body themselves.
/// Refuses exactly as [`VerifyCallbackLayer`] does. With a replay memory, the caller settles
/// the [`Delivery`]: runs its handler for a fresh one and then [`Claim::processed`] (or drops
/// the claim), and acknowledges a duplicate without running it.
///
/// ```
/// use vault_core::callbacks::{CallbackSigner, CallbackVerifier};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), vault_core::Error> {
/// let secret: vault_core::callbacks::CallbackSecret =
///     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// let signed = CallbackSigner::new(secret.clone()).sign("msg_1", b"{}")?;
/// let mut headers = http::HeaderMap::new();
/// for (name, value) in signed.iter() {
///     headers.insert(name, value.parse().unwrap());
/// }
/// let verifier = CallbackVerifier::new(secret);
/// let (delivery, body) = vault_tower::verify_callback_body(&verifier, &headers, String::from("{}"))
///     .await
///     .unwrap();
/// assert_eq!((delivery.id(), &body[..]), ("msg_1", &b"{}"[..]));
/// # Ok(()) }
/// ```
pub async fn verify_callback_body<B>(
    verifier: &CallbackVerifier,
    headers: &HeaderMap,
    body: B,
) -> Result<(Delivery, Bytes), CallbackRejection>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let limit = verifier.body_limit();
    check_declared_size(headers, &body, limit)?;
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|error| read_failure(&error, limit))?
        .to_bytes();
    verify_collected(verifier, headers, body)
}

/// Refuses, before reading, a body declared (by `Content-Length` or its size hint) to be over
/// `limit`.
fn check_declared_size<B: Body>(
    headers: &HeaderMap,
    body: &B,
    limit: usize,
) -> Result<(), CallbackRejection> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok());
    CallbackRejection::check_content_length(declared, limit)?;
    if body.size_hint().lower() > limit as u64 {
        return Err(CallbackDefect::BodyTooLarge { limit }.into());
    }
    Ok(())
}

/// Why buffering stopped: over the limit (413), or the body broke off (400).
fn read_failure(error: &BoxError, limit: usize) -> CallbackRejection {
    if error.downcast_ref::<LengthLimitError>().is_some() {
        CallbackDefect::BodyTooLarge { limit }.into()
    } else {
        CallbackRejection::unreadable_body()
    }
}

fn verify_collected(
    verifier: &CallbackVerifier,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<(Delivery, Bytes), CallbackRejection> {
    let lookup = CallbackHeaders::from_lookup(|name| {
        headers.get(name).and_then(|value| value.to_str().ok())
    });
    let delivery = verifier.verify(&lookup, &body)?;
    Ok((delivery, body))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
    use http::{HeaderValue, StatusCode};
    use http_body::Frame;
    use time::Duration;
    use tower::{ServiceExt, service_fn};
    use vault_core::callbacks::{
        CALLBACK_CHALLENGE, CallbackSigner, ReplayGuard, SignedHeaders, VerifiedCallback,
    };
    use vault_core::{Clock, ManualClock};

    use super::*;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const BODY: &str = r#"{"type":"job.created","job_id":"j1"}"#;

    struct Receiver {
        clock: ManualClock,
        layer: VerifyCallbackLayer,
        calls: Arc<AtomicUsize>,
    }

    impl Receiver {
        fn new() -> Self {
            Self::with(|verifier| verifier)
        }

        fn with(configure: impl FnOnce(CallbackVerifier) -> CallbackVerifier) -> Self {
            let clock = ManualClock::default();
            let verifier = CallbackVerifier::new(SECRET.parse().unwrap()).clock(clock.clone());
            Self {
                clock,
                layer: VerifyCallbackLayer::new(configure(verifier)),
                calls: Arc::default(),
            }
        }

        fn sign(&self, id: &str, body: &str) -> SignedHeaders {
            CallbackSigner::new(SECRET.parse().unwrap())
                .clock(self.clock.clone())
                .sign(id, body.as_bytes())
                .unwrap()
        }

        /// Sends `request` through the layer to a handler that echoes what it was given.
        async fn send<B>(&self, request: Request<B>) -> Response<String>
        where
            B: Body + Send + 'static,
            B::Error: Into<BoxError>,
        {
            let calls = self.calls.clone();
            let handler = service_fn(move |request: Request<Full<Bytes>>| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    let id = request
                        .extensions()
                        .get::<VerifiedCallback>()
                        .map(|v| v.id().to_owned())
                        .unwrap_or_default();
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    let body = String::from_utf8(body.to_vec()).unwrap();
                    Ok::<_, Infallible>(Response::new(format!("{id} {body}")))
                }
            });
            self.layer.layer(handler).oneshot(request).await.unwrap()
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    fn request<B>(signed: &SignedHeaders, body: B) -> Request<B> {
        let mut builder = Request::post("/callbacks");
        for (name, value) in signed.iter() {
            builder = builder.header(name, value);
        }
        builder.body(body).unwrap()
    }

    fn code(response: &Response<String>) -> String {
        let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        assert_eq!(body["status"], response.status().as_u16());
        body["code"].as_str().unwrap().to_owned()
    }

    /// A body streamed in chunks with no declared size (or one that breaks off).
    struct Chunks(VecDeque<Result<Bytes, std::io::Error>>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(|chunk| chunk.map(Frame::data)))
        }
    }

    #[tokio::test]
    async fn a_valid_callback_reaches_the_handler_with_its_body_and_id() {
        let receiver = Receiver::new();
        let signed = receiver.sign("msg_1", BODY);
        let response = receiver.send(request(&signed, BODY.to_owned())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), &format!("msg_1 {BODY}"));
        assert_eq!(receiver.calls(), 1);
    }

    #[tokio::test]
    async fn a_tampered_body_id_or_timestamp_is_an_invalid_signature() {
        let receiver = Receiver::new();
        let signed = receiver.sign("msg_1", BODY);
        let tampered_body = request(&signed, BODY.replace("j1", "j2"));
        let mut tampered_id = request(&signed, BODY.to_owned());
        tampered_id
            .headers_mut()
            .insert("webhook-id", HeaderValue::from_static("msg_2"));
        let mut tampered_time = request(&signed, BODY.to_owned());
        let later = (receiver.clock.now().unix_timestamp() + 1).to_string();
        tampered_time
            .headers_mut()
            .insert("webhook-timestamp", later.parse().unwrap());
        for tampered in [tampered_body, tampered_id, tampered_time] {
            let response = receiver.send(tampered).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert_eq!(response.headers()[WWW_AUTHENTICATE], CALLBACK_CHALLENGE);
            assert_eq!(code(&response), "invalid_signature");
        }
        assert_eq!(receiver.calls(), 0);
    }

    #[tokio::test]
    async fn stale_and_future_timestamps_are_refused() {
        let receiver = Receiver::new();
        let signed = receiver.sign("msg_1", BODY);
        receiver.clock.advance(Duration::minutes(6));
        let response = receiver.send(request(&signed, BODY.to_owned())).await;
        assert_eq!(code(&response), "stale_timestamp");
        receiver.clock.advance(Duration::minutes(-12));
        let response = receiver.send(request(&signed, BODY.to_owned())).await;
        assert_eq!(code(&response), "future_timestamp");
        assert_eq!(receiver.calls(), 0);
    }

    #[tokio::test]
    async fn a_missing_signature_header_is_named() {
        let receiver = Receiver::new();
        let signed = receiver.sign("msg_1", BODY);
        let mut unsigned = request(&signed, BODY.to_owned());
        unsigned.headers_mut().remove("webhook-signature");
        let response = receiver.send(unsigned).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(code(&response), "missing_webhook_signature");
        assert_eq!(receiver.calls(), 0);
    }

    #[tokio::test]
    async fn an_oversized_body_is_413_whether_declared_or_streamed() {
        let receiver = Receiver::with(|v| v.max_body_len(16));
        let big = "x".repeat(17);
        let signed = receiver.sign("msg_1", &big);
        // Declared by its size (String's exact size hint).
        let response = receiver.send(request(&signed, big.clone())).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(code(&response), "body_too_large");
        assert!(!response.headers().contains_key(WWW_AUTHENTICATE));
        // Declared by Content-Length, body never read.
        let mut declared = request(&signed, Chunks(VecDeque::new()));
        declared
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(17));
        assert_eq!(code(&receiver.send(declared).await), "body_too_large");
        // Streamed without a size: buffering stops at the limit.
        let chunks = (0..17).map(|_| Ok(Bytes::from_static(b"x"))).collect();
        let streamed = receiver.send(request(&signed, Chunks(chunks))).await;
        assert_eq!(streamed.status(), StatusCode::PAYLOAD_TOO_LARGE);
        // Exactly at the limit is fine.
        let fits = "y".repeat(16);
        let signed = receiver.sign("msg_2", &fits);
        let chunks = (0..16).map(|_| Ok(Bytes::from_static(b"y"))).collect();
        let response = receiver.send(request(&signed, Chunks(chunks))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(receiver.calls(), 1);
    }

    #[tokio::test]
    async fn a_body_that_breaks_off_is_a_bad_request() {
        let receiver = Receiver::new();
        let signed = receiver.sign("msg_1", BODY);
        let chunks = [
            Ok(Bytes::from_static(b"{")),
            Err(std::io::Error::other("connection reset")),
        ];
        let response = receiver
            .send(request(&signed, Chunks(chunks.into_iter().collect())))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(code(&response), "unreadable_body");
        assert_eq!(receiver.calls(), 0);
    }

    #[tokio::test]
    async fn the_helper_answers_like_the_layer() {
        let receiver = Receiver::new();
        let signed = receiver.sign("msg_1", BODY);
        let verifier = receiver.layer.verifier();
        let (ok, body) = request(&signed, BODY.to_owned()).into_parts();
        let (verified, body) = verify_callback_body(verifier, &ok.headers, body)
            .await
            .unwrap();
        assert_eq!((verified.id(), &body[..]), ("msg_1", BODY.as_bytes()));
        let (bad, body) = request(&signed, "{}".to_owned()).into_parts();
        let refused = verify_callback_body(verifier, &bad.headers, body)
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "invalid_signature");
    }

    /// A handler whose answers and pace the test scripts: it answers the statuses queued in
    /// `answers` (200 once they run out), and, with a gate, tells the test it started and
    /// waits for the test to open the gate before answering.
    #[derive(Clone, Default)]
    struct Script {
        calls: Arc<AtomicUsize>,
        answers: Arc<std::sync::Mutex<VecDeque<StatusCode>>>,
        gate: Option<(Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>)>,
    }

    impl Script {
        fn answering(statuses: &[StatusCode]) -> Self {
            Self {
                answers: Arc::new(std::sync::Mutex::new(statuses.iter().copied().collect())),
                ..Self::default()
            }
        }

        fn gated() -> (Self, Arc<tokio::sync::Notify>, Arc<tokio::sync::Notify>) {
            let (started, open) = (Arc::default(), Arc::default());
            let script = Self {
                gate: Some((Arc::clone(&started), Arc::clone(&open))),
                ..Self::default()
            };
            (script, started, open)
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        fn service(
            &self,
            layer: &VerifyCallbackLayer,
        ) -> VerifyCallback<
            impl Service<
                Request<Full<Bytes>>,
                Response = Response<String>,
                Error = Infallible,
                Future = impl Send,
            > + Clone
            + Send,
        > {
            let script = self.clone();
            layer.layer(service_fn(move |_: Request<Full<Bytes>>| {
                let script = script.clone();
                async move {
                    script.calls.fetch_add(1, Ordering::SeqCst);
                    if let Some((started, open)) = &script.gate {
                        started.notify_one();
                        open.notified().await;
                    }
                    let status = script
                        .answers
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or(StatusCode::OK);
                    let mut response = Response::new("handled".to_owned());
                    *response.status_mut() = status;
                    Ok::<_, Infallible>(response)
                }
            }))
        }
    }

    fn with_replay_memory() -> Receiver {
        Receiver::with(|v| v.replay_guard(ReplayGuard::new(100)))
    }

    #[tokio::test]
    async fn a_redelivery_after_a_failed_handler_runs_the_handler_again() {
        let receiver = with_replay_memory();
        let script = Script::answering(&[StatusCode::INTERNAL_SERVER_ERROR]);
        let first = receiver.sign("msg_1", BODY);
        let response = script
            .service(&receiver.layer)
            .oneshot(request(&first, BODY.to_owned()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        // The sender's retry: the same id, signed afresh a little later.
        receiver.clock.advance(Duration::seconds(30));
        let retry = receiver.sign("msg_1", BODY);
        let response = script
            .service(&receiver.layer)
            .oneshot(request(&retry, BODY.to_owned()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(script.calls(), 2);
    }

    #[tokio::test]
    async fn a_redelivery_of_a_processed_id_is_acknowledged_without_running_the_handler() {
        let receiver = with_replay_memory();
        let script = Script::default();
        let first = receiver.sign("msg_1", BODY);
        let response = script
            .service(&receiver.layer)
            .oneshot(request(&first, BODY.to_owned()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        receiver.clock.advance(Duration::seconds(30));
        // The same attempt again, and the sender's retry signed afresh: both acknowledged.
        for again in [first, receiver.sign("msg_1", BODY)] {
            let response = script
                .service(&receiver.layer)
                .oneshot(request(&again, BODY.to_owned()))
                .await
                .unwrap();
            assert!(response.status().is_success(), "{response:?}");
            let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
            assert_eq!(body["code"], "duplicate");
        }
        assert_eq!(script.calls(), 1);
    }

    #[tokio::test]
    async fn a_redelivery_during_a_slow_handler_is_409_with_retry_after_and_runs_once() {
        let receiver = with_replay_memory();
        let (script, started, open) = Script::gated();
        let signed = receiver.sign("msg_1", BODY);
        let first = script
            .service(&receiver.layer)
            .oneshot(request(&signed, BODY.to_owned()));
        let meanwhile = async {
            started.notified().await;
            receiver.clock.advance(Duration::seconds(10));
            let retry = receiver.sign("msg_1", BODY);
            let response = script
                .service(&receiver.layer)
                .oneshot(request(&retry, BODY.to_owned()))
                .await
                .unwrap();
            open.notify_one();
            response
        };
        let (first, concurrent) = tokio::join!(first, meanwhile);
        assert_eq!(first.unwrap().status(), StatusCode::OK);
        assert_eq!(concurrent.status(), StatusCode::CONFLICT);
        assert_eq!(code(&concurrent), "delivery_in_progress");
        let retry_after: u64 = concurrent.headers()[RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after), "{retry_after}");
        assert_eq!(script.calls(), 1);
    }

    #[tokio::test]
    async fn a_handler_that_panics_or_is_cancelled_leaves_the_id_free() {
        let receiver = with_replay_memory();
        let panicking = receiver
            .layer
            .layer(service_fn(|_: Request<Full<Bytes>>| async {
                panic!("handler bug");
                #[allow(unreachable_code)]
                Ok::<_, Infallible>(Response::new(String::new()))
            }));
        let signed = receiver.sign("msg_1", BODY);
        let crashed = tokio::spawn(panicking.oneshot(request(&signed, BODY.to_owned()))).await;
        assert!(crashed.unwrap_err().is_panic());

        let (script, started, _never_opened) = Script::gated();
        let retry = receiver.sign("msg_1", BODY);
        let cancelled = script
            .service(&receiver.layer)
            .oneshot(request(&retry, BODY.to_owned()));
        tokio::select! {
            _ = cancelled => unreachable!("the gate never opens"),
            () = started.notified() => {}
        }

        let script = Script::default();
        let last = receiver.sign("msg_1", BODY);
        let response = script
            .service(&receiver.layer)
            .oneshot(request(&last, BODY.to_owned()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(script.calls(), 1);
    }

    #[tokio::test]
    async fn a_replay_outside_the_window_is_still_refused() {
        let receiver = with_replay_memory();
        let script = Script::default();
        let signed = receiver.sign("msg_1", BODY);
        let response = script
            .service(&receiver.layer)
            .oneshot(request(&signed, BODY.to_owned()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        receiver.clock.advance(Duration::minutes(6));
        let response = script
            .service(&receiver.layer)
            .oneshot(request(&signed, BODY.to_owned()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(code(&response), "stale_timestamp");
        assert_eq!(script.calls(), 1);
    }

    #[tokio::test]
    async fn a_layer_asked_to_hands_duplicates_on_marked_as_such() {
        let receiver = with_replay_memory();
        let layer = receiver.layer.clone().handle_duplicates(true);
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let handler = {
            let seen = Arc::clone(&seen);
            service_fn(move |request: Request<Full<Bytes>>| {
                let duplicate = request
                    .extensions()
                    .get::<VerifiedCallback>()
                    .is_some_and(VerifiedCallback::is_duplicate);
                seen.lock().unwrap().push(duplicate);
                // A failed answer to a duplicate changes nothing: the id stays processed.
                let status = if duplicate {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                };
                let mut response = Response::new(String::new());
                *response.status_mut() = status;
                async move { Ok::<_, Infallible>(response) }
            })
        };
        let service = layer.layer(handler);
        for expected in [
            StatusCode::OK,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            let signed = receiver.sign("msg_1", BODY);
            let response = service
                .clone()
                .oneshot(request(&signed, BODY.to_owned()))
                .await
                .unwrap();
            assert_eq!(response.status(), expected);
        }
        assert_eq!(*seen.lock().unwrap(), [false, true, true]);
    }
}

//! Receiving signed callbacks: [`VerifyCallbackLayer`] buffers the body up to the verifier's
//! limit, checks it with vault-core's [`CallbackVerifier`], and either calls the inner
//! service with the verified body or answers vault-core's [`CallbackRejection`]. The verdict
//! and the answer table are vault-core's; this module only reads bodies and writes responses.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use http::{HeaderMap, Request, Response};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use vault_core::BoxError;
use vault_core::callbacks::{
    CallbackDefect, CallbackHeaders, CallbackRejection, CallbackVerifier, VerifiedCallback,
};

use crate::problem::problem_response;

/// Verifies every request as a signed callback (Standard Webhooks v1) before the inner
/// service sees it.
///
/// The body is buffered up to [`CallbackVerifier::body_limit`] (a larger declared
/// `Content-Length` is refused before reading). On success the inner service gets the
/// request with the same bytes as a [`Full`] body and the [`VerifiedCallback`] (message id,
/// timestamp) in its extensions; otherwise it is not called and the answer is vault-core's
/// [`CallbackRejection`]: 401 (413 for an oversized body) with `application/problem+json`.
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
}

impl VerifyCallbackLayer {
    /// A layer verifying with `verifier` (its secrets, tolerance, body limit, replay memory).
    pub fn new(verifier: CallbackVerifier) -> Self {
        Self::from_arc(Arc::new(verifier))
    }

    /// A layer verifying with a shared `verifier`.
    pub fn from_arc(verifier: Arc<CallbackVerifier>) -> Self {
        Self { verifier }
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
        }
    }
}

impl fmt::Debug for VerifyCallbackLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyCallbackLayer")
            .field("verifier", &self.verifier)
            .finish()
    }
}

/// The service built by [`VerifyCallbackLayer`] around `inner`.
#[derive(Clone)]
pub struct VerifyCallback<S> {
    inner: S,
    verifier: Arc<CallbackVerifier>,
}

impl<S> VerifyCallback<S> {
    /// Wraps `inner`, verifying with `verifier`.
    pub fn new(inner: S, verifier: Arc<CallbackVerifier>) -> Self {
        Self { inner, verifier }
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
            },
        }
    }
}

pin_project! {
    /// The future of [`VerifyCallback`]: collecting the body, then calling the inner service
    /// (or answering the rejection).
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
        },
        // Verified: the inner service answers.
        Calling {
            #[pin]
            future: Fut,
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
                } => {
                    let collected = ready!(collect.poll(cx));
                    let (Some(mut parts), Some(mut inner)) = (parts.take(), inner.take()) else {
                        panic!("CallbackFuture polled after completion");
                    };
                    let verdict = collected
                        .map(|collected| collected.to_bytes())
                        .map_err(|error| read_failure(&error, verifier.body_limit()))
                        .and_then(|body| verify_collected(verifier, &parts.headers, body));
                    match verdict {
                        Ok((verified, body)) => {
                            parts.extensions.insert(verified);
                            let future = inner.call(Request::from_parts(parts, Full::new(body)));
                            this.state.set(State::Calling { future });
                        }
                        Err(rejection) => {
                            return Poll::Ready(Ok(problem_response(rejection.problem())));
                        }
                    }
                }
                StateProj::Calling { future } => return future.poll(cx),
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

/// Buffers `body` up to the verifier's limit and verifies it with `headers`: the whole
/// receiver check as one call, for extractors (vault-axum's) that hold the body themselves.
/// Answers exactly as [`VerifyCallbackLayer`] does.
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
/// let (verified, body) = vault_tower::verify_callback_body(&verifier, &headers, String::from("{}"))
///     .await
///     .unwrap();
/// assert_eq!((verified.id(), &body[..]), ("msg_1", &b"{}"[..]));
/// # Ok(()) }
/// ```
pub async fn verify_callback_body<B>(
    verifier: &CallbackVerifier,
    headers: &HeaderMap,
    body: B,
) -> Result<(VerifiedCallback, Bytes), CallbackRejection>
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
) -> Result<(VerifiedCallback, Bytes), CallbackRejection> {
    let lookup = CallbackHeaders::from_lookup(|name| {
        headers.get(name).and_then(|value| value.to_str().ok())
    });
    let verified = verifier.verify(&lookup, &body)?;
    Ok((verified, body))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::header::{CONTENT_TYPE, WWW_AUTHENTICATE};
    use http::{HeaderValue, StatusCode};
    use http_body::Frame;
    use time::Duration;
    use tower::{ServiceExt, service_fn};
    use vault_core::callbacks::{CALLBACK_CHALLENGE, CallbackSigner, ReplayGuard, SignedHeaders};
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
    async fn a_replay_is_refused_once_the_first_was_accepted() {
        let receiver = Receiver::with(|v| v.replay_guard(ReplayGuard::new(100)));
        let signed = receiver.sign("msg_1", BODY);
        let first = receiver.send(request(&signed, BODY.to_owned())).await;
        assert_eq!(first.status(), StatusCode::OK);
        let again = receiver.send(request(&signed, BODY.to_owned())).await;
        assert_eq!(again.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(code(&again), "replayed");
        assert_eq!(receiver.calls(), 1);
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
}

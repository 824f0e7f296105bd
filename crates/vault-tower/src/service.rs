//! [`RequireApiKey`]: the service that runs the guard in front of `inner`. It translates only:
//! the request's method and headers go to [`Guard::inspect`], the token to [`Guard::verify`],
//! and the verdict comes back as extensions or a response.

use std::fmt;
use std::mem;
use std::task::{Context, Poll};

use http::header::{ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION};
use http::{HeaderValue, Request, Response};
use tower_service::Service;
use vault_core::VerifyKey;
use vault_core::guard::{Answers, Guard, Inspection};

use crate::format::{Http, RejectionFormat};
use crate::future::ResponseFuture;
use crate::layer::RequireApiKeyLayer;

/// Checks the API key of every request before `inner` sees it. Built by
/// [`RequireApiKeyLayer`].
///
/// ```
/// use std::convert::Infallible;
/// use http::{Request, Response};
/// use tower::{ServiceExt, service_fn};
/// use vault_core::guard::Guard;
/// use vault_core::testing::TestKeys;
/// use vault_core::{Environment, Requirement};
/// use vault_tower::{Http, RequireApiKey};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let kit = TestKeys::new();
/// let guard = Guard::new(kit.keys().clone(), Requirement::new("submit".parse()?, Environment::Production));
/// let hello = service_fn(|_: Request<()>| async { Ok::<_, Infallible>(Response::new(String::from("hi"))) });
/// let response = RequireApiKey::new(hello, guard, Http).oneshot(Request::new(())).await?;
/// assert_eq!(response.status(), 401);
/// # Ok(()) }
/// ```
pub struct RequireApiKey<S, V: ?Sized, F = Http> {
    inner: S,
    guard: Guard<V>,
    answers: Answers,
    format: F,
}

impl<S, V: VerifyKey + ?Sized, F> RequireApiKey<S, V, F> {
    /// Wraps `inner` with `guard`, answering rejections in `format`.
    pub fn new(inner: S, guard: Guard<V>, format: F) -> Self {
        let answers = guard.answers();
        Self {
            inner,
            guard,
            answers,
            format,
        }
    }

    /// A layer that wraps services with `guard`, answering in plain HTTP.
    pub fn layer(guard: Guard<V>) -> RequireApiKeyLayer<V> {
        RequireApiKeyLayer::from_guard(guard)
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, V, F, ReqBody, ResBody> Service<Request<ReqBody>> for RequireApiKey<S, V, F>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    V: VerifyKey + ?Sized,
    F: RejectionFormat<ResBody> + Clone,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody, F>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Back-pressure is the inner service's: a key check holds no capacity of its own.
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        let headers = request.headers();
        let inspection = self.guard.inspect(
            request.method().as_str().as_bytes(),
            headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD),
            headers
                .get_all(AUTHORIZATION)
                .iter()
                .map(HeaderValue::as_bytes),
        );
        let verify = match inspection {
            // Refused before any key was looked at: `inner` is not called, and keeps the
            // readiness it was polled for.
            Inspection::Reject(rejection) => {
                return ResponseFuture::answered(self.format.response(&rejection));
            }
            Inspection::Pass => None,
            Inspection::Token(token) => Some(Box::pin(self.guard.verify(token.to_owned()))),
        };
        request.extensions_mut().insert(self.answers.clone());
        match verify {
            None => ResponseFuture::calling(self.inner.call(request)),
            Some(verify) => {
                // The service polled ready is the one that must be called; it goes into the
                // future and a clone takes its place (tower's "cloning inner services").
                let clone = self.inner.clone();
                let ready = mem::replace(&mut self.inner, clone);
                ResponseFuture::verifying(verify, request, ready, self.format.clone())
            }
        }
    }
}

impl<S: Clone, V: ?Sized, F: Clone> Clone for RequireApiKey<S, V, F> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            guard: self.guard.clone(),
            answers: self.answers.clone(),
            format: self.format.clone(),
        }
    }
}

impl<S: fmt::Debug, V: ?Sized, F: fmt::Debug> fmt::Debug for RequireApiKey<S, V, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireApiKey")
            .field("inner", &self.inner)
            .field("guard", &self.guard)
            .field("format", &self.format)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::StatusCode;
    use http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
    use tower::{ServiceExt, service_fn};
    use vault_core::guard::GuardOptions;
    use vault_core::testing::TestKeys;
    use vault_core::{AuthError, Environment, Principal, RejectionBody, Requirement, VerifyKey};

    use super::*;

    fn submit() -> Requirement {
        Requirement::new("submit".parse().unwrap(), Environment::Production)
    }

    fn create_jobs() -> Requirement {
        submit().with_permission("jobs:create".parse().unwrap())
    }

    /// A handler that counts its calls and echoes the caller's key name.
    #[derive(Clone, Default)]
    struct Handler {
        calls: Arc<AtomicUsize>,
    }

    impl Handler {
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        fn service(
            self,
        ) -> impl Service<
            Request<String>,
            Response = Response<String>,
            Error = Infallible,
            Future = impl Send,
        > + Clone
        + Send
        + Sync {
            let calls = self.calls;
            service_fn(move |request: Request<String>| {
                calls.fetch_add(1, Ordering::SeqCst);
                let caller = request
                    .extensions()
                    .get::<Principal>()
                    .map_or("anonymous".to_owned(), |p| p.key_name().to_owned());
                async move { Ok::<_, Infallible>(Response::new(caller)) }
            })
        }
    }

    fn request(authorization: Option<&str>) -> Request<String> {
        let mut builder = Request::post("/jobs");
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(String::new()).unwrap()
    }

    fn bearer(token: &str) -> Option<String> {
        Some(format!("Bearer {token}"))
    }

    async fn send(
        layer: &RequireApiKeyLayer<vault_core::ApiKeys>,
        handler: &Handler,
        request: Request<String>,
    ) -> Response<String> {
        use tower_layer::Layer;
        layer
            .layer(handler.clone().service())
            .oneshot(request)
            .await
            .unwrap()
    }

    fn code(response: &Response<String>) -> String {
        let body: serde_json::Value = serde_json::from_str(response.body()).unwrap();
        body["code"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn valid_key_reaches_the_handler_with_its_principal() {
        let kit = TestKeys::new();
        let token = kit
            .mint("submit", Environment::Production, &["jobs:create"])
            .await;
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), create_jobs());
        let handler = Handler::default();
        let response = send(&layer, &handler, request(bearer(&token).as_deref())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "test key for submit");
        assert_eq!(handler.calls(), 1);
    }

    #[tokio::test]
    async fn missing_key_is_refused_without_calling_the_handler() {
        let kit = TestKeys::new();
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), create_jobs()).realm("submit");
        let handler = Handler::default();
        let response = send(&layer, &handler, request(None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"Bearer realm="submit""#
        );
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        assert_eq!(code(&response), "missing_api_key");
        assert_eq!(handler.calls(), 0);
    }

    #[tokio::test]
    async fn basic_scheme_and_several_headers_are_malformed() {
        let kit = TestKeys::new();
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), submit());
        let handler = Handler::default();
        let response = send(&layer, &handler, request(Some("Basic dXNlcjpwYXNz"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"Bearer realm="api", error="invalid_request""#
        );
        assert_eq!(code(&response), "malformed_authorization");

        let mut twice = request(Some("Bearer a"));
        twice
            .headers_mut()
            .append(AUTHORIZATION, HeaderValue::from_static("Bearer b"));
        let response = send(&layer, &handler, twice).await;
        assert_eq!(code(&response), "malformed_authorization");
        assert_eq!(handler.calls(), 0);
    }

    #[tokio::test]
    async fn unknown_and_revoked_keys_answer_alike_and_never_echo_the_token() {
        let kit = TestKeys::new();
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), submit());
        let handler = Handler::default();
        let revoked = kit
            .mint_revoked("submit", Environment::Production, &["jobs:read"])
            .await;
        let other_kit = TestKeys::new();
        let unknown = other_kit
            .mint("submit", Environment::Production, &["jobs:read"])
            .await;
        let mut answers = Vec::new();
        for token in [&revoked, &unknown] {
            let response = send(&layer, &handler, request(bearer(token).as_deref())).await;
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            assert!(!response.body().contains(token.as_str()));
            let challenge = response.headers()[WWW_AUTHENTICATE].clone();
            answers.push((challenge, response.into_body()));
        }
        assert_eq!(answers[0], answers[1]);
        assert!(answers[0].1.contains("invalid_api_key"));
        assert_eq!(handler.calls(), 0);
    }

    #[tokio::test]
    async fn expired_and_other_environment_keys_are_refused() {
        let kit = TestKeys::new();
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), submit());
        let handler = Handler::default();
        let expiring = kit
            .issue(
                "submit",
                Environment::Production,
                &["jobs:read"],
                Some(time::Duration::minutes(1)),
            )
            .await;
        kit.clock().advance(time::Duration::minutes(2));
        let response = send(
            &layer,
            &handler,
            request(bearer(expiring.expose_token()).as_deref()),
        )
        .await;
        assert_eq!(code(&response), "expired_api_key");

        let staging = kit
            .mint("submit", Environment::Staging, &["jobs:read"])
            .await;
        let response = send(&layer, &handler, request(bearer(&staging).as_deref())).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(code(&response), "wrong_environment");
        assert_eq!(handler.calls(), 0);
    }

    #[tokio::test]
    async fn key_without_the_permission_is_forbidden_with_its_scope() {
        let kit = TestKeys::new();
        let token = kit
            .mint("submit", Environment::Production, &["jobs:read"])
            .await;
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), create_jobs());
        let handler = Handler::default();
        let response = send(&layer, &handler, request(bearer(&token).as_deref())).await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"Bearer realm="api", error="insufficient_scope", scope="jobs:create""#
        );
        assert_eq!(code(&response), "insufficient_permission");
        assert_eq!(handler.calls(), 0);
    }

    #[tokio::test]
    async fn per_route_requirements_share_one_verifier() {
        let kit = TestKeys::new();
        let token = kit
            .mint("submit", Environment::Production, &["jobs:read"])
            .await;
        let api = RequireApiKeyLayer::new(kit.keys().clone(), submit()).realm("submit");
        let read = api.for_requirement(submit().with_permission("jobs:read".parse().unwrap()));
        let create = api.for_requirement(create_jobs());
        let handler = Handler::default();
        let ok = send(&read, &handler, request(bearer(&token).as_deref())).await;
        assert_eq!(ok.status(), StatusCode::OK);
        let forbidden = send(&create, &handler, request(bearer(&token).as_deref())).await;
        assert_eq!(forbidden.status(), StatusCode::FORBIDDEN);
        // The realm set before `for_requirement` carries over.
        assert!(
            forbidden.headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with(r#"Bearer realm="submit""#)
        );
    }

    #[tokio::test]
    async fn for_permission_twice_needs_both_and_the_scope_names_both() {
        let kit = TestKeys::new();
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), submit())
            .for_permission("jobs:create".parse().unwrap())
            .for_permission("jobs:read".parse().unwrap());
        let handler = Handler::default();
        for held in [&["jobs:create"][..], &["jobs:read"][..]] {
            let token = kit.mint("submit", Environment::Production, held).await;
            let response = send(&layer, &handler, request(bearer(&token).as_deref())).await;
            assert_eq!(response.status(), StatusCode::FORBIDDEN, "{held:?}");
            assert_eq!(
                response.headers()[WWW_AUTHENTICATE],
                r#"Bearer realm="api", error="insufficient_scope", scope="jobs:create jobs:read""#
            );
            assert_eq!(code(&response), "insufficient_permission");
        }
        assert_eq!(handler.calls(), 0);
        let token = kit
            .mint(
                "submit",
                Environment::Production,
                &["jobs:read", "jobs:create"],
            )
            .await;
        let response = send(&layer, &handler, request(bearer(&token).as_deref())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(handler.calls(), 1);
    }

    fn preflight() -> Request<String> {
        Request::options("/jobs")
            .header(ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(String::new())
            .unwrap()
    }

    #[tokio::test]
    async fn cors_preflight_passes_without_a_key_unless_disabled() {
        let kit = TestKeys::new();
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), create_jobs());
        let handler = Handler::default();
        let response = send(&layer, &handler, preflight()).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "anonymous");

        // A plain OPTIONS is no preflight.
        let options = Request::options("/jobs").body(String::new()).unwrap();
        let response = send(&layer, &handler, options).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

        let strict = layer.allow_preflight(false);
        let response = send(&strict, &handler, preflight()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(handler.calls(), 1);
    }

    #[tokio::test]
    async fn anonymous_callers_pass_when_allowed_but_bad_keys_do_not() {
        let kit = TestKeys::new();
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), submit()).allow_anonymous(true);
        let handler = Handler::default();
        let response = send(&layer, &handler, request(None)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.body(), "anonymous");
        let response = send(&layer, &handler, request(Some("Bearer nope"))).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(code(&response), "invalid_api_key");
    }

    #[tokio::test]
    async fn body_hook_reshapes_only_the_body() {
        let kit = TestKeys::new();
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), submit()).rejection_body(|r| {
            RejectionBody {
                content_type: "application/json".into(),
                body: format!(r#"{{"error":"{}"}}"#, r.code()),
            }
        });
        let handler = Handler::default();
        let response = send(&layer, &handler, request(None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[WWW_AUTHENTICATE],
            r#"Bearer realm="api""#
        );
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(response.body(), r#"{"error":"missing_api_key"}"#);
    }

    #[tokio::test]
    async fn a_hook_content_type_that_cannot_be_a_header_keeps_the_problem_body() {
        let kit = TestKeys::new();
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), submit()).rejection_body(|r| {
            RejectionBody {
                content_type: "application/json\r\nx-injected: 1".into(),
                body: format!(r#"{{"error":"{}"}}"#, r.code()),
            }
        });
        let response = send(&layer, &Handler::default(), request(None)).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
        assert!(!response.headers().contains_key("x-injected"));
        assert_eq!(code(&response), "missing_api_key");
        // Exactly the answer without a hook.
        let plain = RequireApiKeyLayer::new(kit.keys().clone(), submit());
        let expected = send(&plain, &Handler::default(), request(None)).await;
        assert_eq!(response.headers(), expected.headers());
        assert_eq!(response.body(), expected.body());
    }

    /// A key store that is down.
    struct Outage;

    #[async_trait::async_trait]
    impl VerifyKey for Outage {
        async fn verify(&self, _: &str, _: &Requirement) -> Result<Principal, AuthError> {
            Err(AuthError::Unavailable)
        }
    }

    #[tokio::test]
    async fn store_outage_asks_to_retry() {
        let layer = RequireApiKeyLayer::new(Outage, submit());
        let handler = Handler::default();
        let response = tower_layer::Layer::layer(&layer, handler.clone().service())
            .oneshot(request(Some("Bearer abc")))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
        assert!(!response.headers().contains_key(WWW_AUTHENTICATE));
        assert_eq!(handler.calls(), 0);
    }

    /// An inner service that is ready only when told, and remembers per clone whether it was
    /// polled ready before being called.
    #[derive(Clone)]
    struct Gate {
        open: Arc<std::sync::atomic::AtomicBool>,
        polled_ready: bool,
    }

    impl Service<Request<String>> for Gate {
        type Response = Response<String>;
        type Error = Infallible;
        type Future = std::future::Ready<Result<Response<String>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self.open.load(Ordering::SeqCst) {
                self.polled_ready = true;
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        }

        fn call(&mut self, _: Request<String>) -> Self::Future {
            assert!(self.polled_ready, "called without being polled ready");
            self.polled_ready = false;
            std::future::ready(Ok(Response::new("ok".into())))
        }
    }

    #[tokio::test]
    async fn readiness_is_the_inner_services_and_the_ready_clone_is_called() {
        let kit = TestKeys::new();
        let token = kit.mint("submit", Environment::Production, &[]).await;
        let open = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let gate = Gate {
            open: Arc::clone(&open),
            polled_ready: false,
        };
        let mut service = RequireApiKey::new(gate, Guard::new(kit.keys().clone(), submit()), Http);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        assert!(service.poll_ready(&mut cx).is_pending());
        open.store(true, Ordering::SeqCst);
        // `ready` then `call`: the Gate asserts the called clone is the one polled ready.
        let response = service
            .ready()
            .await
            .unwrap()
            .call(request(bearer(&token).as_deref()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // A refusal leaves the readiness with the service for the next request.
        let refused = service.call(request(None)).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let response = service
            .call(request(bearer(&token).as_deref()))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[test]
    fn meets_the_bounds_of_axum_and_hyper() {
        fn clone_send_sync<T: Clone + Send + Sync + 'static>(_: &T) {}
        fn send<T: Send + 'static>(_: &T) {}
        let kit = TestKeys::new();
        let handler = Handler::default();
        let mut service = tower_layer::Layer::layer(
            &RequireApiKeyLayer::new(kit.keys().clone(), submit()),
            handler.clone().service(),
        );
        clone_send_sync(&service);
        send(&service.call(request(None)));
    }
}

#[cfg(test)]
mod grpc_tests {
    //! The gRPC mode in front of a real tonic service (the standard health service), called
    //! in-process through tonic's generated client.

    use tonic::Code;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    use tower_layer::Layer;
    use vault_core::testing::TestKeys;
    use vault_core::{Environment, Requirement};

    use crate::RequireApiKeyLayer;

    fn check(token: Option<&str>) -> tonic::Request<HealthCheckRequest> {
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: String::new(),
        });
        if let Some(token) = token {
            let value = format!("Bearer {token}").parse().unwrap();
            request.metadata_mut().insert("authorization", value);
        }
        request
    }

    async fn client(
        kit: &TestKeys,
    ) -> HealthClient<
        crate::RequireApiKey<
            tonic_health::pb::health_server::HealthServer<
                impl tonic_health::pb::health_server::Health,
            >,
            vault_core::ApiKeys,
            crate::Grpc,
        >,
    > {
        let (_reporter, health) = tonic_health::server::health_reporter();
        let requirement = Requirement::new("submit".parse().unwrap(), Environment::Production)
            .with_permission("health:read".parse().unwrap());
        let layer = RequireApiKeyLayer::new(kit.keys().clone(), requirement).grpc();
        HealthClient::new(layer.layer(health))
    }

    #[tokio::test]
    async fn missing_key_is_unauthenticated() {
        let kit = TestKeys::new();
        let status = client(&kit).await.check(check(None)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "API key required");
    }

    #[tokio::test]
    async fn key_without_the_permission_is_permission_denied() {
        let kit = TestKeys::new();
        let token = kit.mint("submit", Environment::Production, &[]).await;
        let status = client(&kit)
            .await
            .check(check(Some(&token)))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::PermissionDenied);
    }

    #[tokio::test]
    async fn valid_key_reaches_the_service() {
        let kit = TestKeys::new();
        let token = kit
            .mint("submit", Environment::Production, &["health:read"])
            .await;
        let response = client(&kit).await.check(check(Some(&token))).await.unwrap();
        assert_eq!(response.into_inner().status(), ServingStatus::Serving);
    }
}

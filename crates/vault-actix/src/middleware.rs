//! [`RequireApiKey`]: the actix-web middleware in front of a scope, resource or app. It hands
//! the request's method and `Authorization` values to vault-core's [`Guard`] and translates
//! the verdict: the [`Principal`] into request extensions, or the rejection as the answer.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::{ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, CONTENT_LENGTH};
use pin_project_lite::pin_project;
use vault_core::guard::{Answers, Guard, GuardOptions, Inspection};
use vault_core::{Principal, Rejection, Requirement, VerifyKey};

use crate::problem::problem_response;

/// The largest unread body read (and dropped) before a refusal goes out, so the connection
/// stays open for the next request: actix-http closes one whose announced body was not read.
/// Larger bodies are left unread and the connection closes, at the client's cost, not ours.
const DRAIN_LIMIT: usize = 64 * 1024;

/// How long a refusal waits for that small body before it goes out anyway (and the connection
/// closes).
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(1);

/// Requires a valid API key on every request it wraps (an `App`, `Scope` or `Resource`).
///
/// On success the [`Principal`] (and the [`Answers`] extractors answer with) goes into the
/// request extensions, where the [`Caller`](crate::Caller) extractor finds it; otherwise the request is
/// answered with vault-core's rejection and the wrapped service is not called. CORS preflight
/// requests pass without a key unless [`allow_preflight(false)`](GuardOptions::allow_preflight);
/// requests without a key pass only with
/// [`allow_anonymous(true)`](GuardOptions::allow_anonymous).
/// Each wrap carries its own requirement, so scopes and resources can differ.
///
/// The options are named as in `vault-tower`'s layer, because both are vault-core's
/// [`GuardOptions`]: [`realm`](GuardOptions::realm),
/// [`allow_preflight`](GuardOptions::allow_preflight),
/// [`allow_anonymous`](GuardOptions::allow_anonymous),
/// [`rejection_body`](GuardOptions::rejection_body),
/// [`for_requirement`](GuardOptions::for_requirement),
/// [`for_permission`](GuardOptions::for_permission).
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use vault_actix::{Caller, GuardOptions, RequireApiKey};
/// use vault_core::testing::TestKeys;
/// use vault_core::{Environment, Requirement};
///
/// # fn main() -> Result<(), vault_core::Error> {
/// let kit = TestKeys::new();
/// let read = RequireApiKey::new(
///     kit.keys().clone(),
///     Requirement::new("submit".parse()?, Environment::Production)
///         .with_permission("jobs:read".parse()?),
/// )
/// .realm("submit");
/// let app = App::new().service(
///     web::scope("/api")
///         .wrap(read)
///         .route("/jobs", web::get().to(|caller: Caller| async move {
///             HttpResponse::Ok().body(caller.key_id().to_string())
///         })),
/// );
/// # let _ = app;
/// # Ok(())
/// # }
/// ```
pub struct RequireApiKey<V: ?Sized> {
    guard: Guard<V>,
}

impl<V: VerifyKey> RequireApiKey<V> {
    /// Requires keys meeting `requirement`, checked by `verifier` (e.g. an `ApiKeys`).
    pub fn new(verifier: V, requirement: Requirement) -> Self {
        Self::from_guard(Guard::new(verifier, requirement))
    }
}

impl<V: VerifyKey + ?Sized> RequireApiKey<V> {
    /// Requires keys meeting `requirement`, checked by a shared `verifier`.
    pub fn from_arc(verifier: Arc<V>, requirement: Requirement) -> Self {
        Self::from_guard(Guard::from_arc(verifier, requirement))
    }

    /// Runs an already configured vault-core [`Guard`].
    pub fn from_guard(guard: Guard<V>) -> Self {
        Self { guard }
    }
}

impl<V: VerifyKey + ?Sized> GuardOptions for RequireApiKey<V> {
    type Verifier = V;

    fn guard(&self) -> &Guard<V> {
        &self.guard
    }

    fn with_guard(&self, guard: Guard<V>) -> Self {
        Self::from_guard(guard)
    }
}

impl<V: ?Sized> Clone for RequireApiKey<V> {
    fn clone(&self) -> Self {
        Self {
            guard: self.guard.clone(),
        }
    }
}

impl<V: ?Sized> std::fmt::Debug for RequireApiKey<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireApiKey")
            .field("guard", &self.guard)
            .finish()
    }
}

impl<S, B, V> Transform<S, ServiceRequest> for RequireApiKey<V>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody,
    V: VerifyKey + ?Sized,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireApiKeyMiddleware<S, V>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireApiKeyMiddleware {
            service: Rc::new(service),
            answers: self.guard.answers(),
            guard: self.guard.clone(),
        }))
    }
}

/// The [`Service`] built by [`RequireApiKey`] around the wrapped service.
///
/// A refusal of a request with a small body (64 KiB at most) is sent once that body is read
/// (waiting 1 s at most), so the connection stays open for the next request: actix-http
/// closes one whose body was left unread. A request that expects `100 Continue` is refused
/// without its body being read, which would invite it.
pub struct RequireApiKeyMiddleware<S, V: ?Sized> {
    // `Rc`: the inner service is called only after verification, from the response future.
    service: Rc<S>,
    // What extractors need to answer like the guard (realm, body hook); cheap to clone.
    answers: Answers,
    guard: Guard<V>,
}

impl<S, V: ?Sized> std::fmt::Debug for RequireApiKeyMiddleware<S, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequireApiKeyMiddleware")
            .field("guard", &self.guard)
            .finish_non_exhaustive()
    }
}

impl<S, B, V> Service<ServiceRequest> for RequireApiKeyMiddleware<S, V>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody,
    V: VerifyKey + ?Sized,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = ResponseFuture<S, B>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let headers = request.headers();
        let inspection = self.guard.inspect(
            request.method().as_str().as_bytes(),
            headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD),
            // Every value, so that two `Authorization` headers are refused as malformed.
            headers.get_all(AUTHORIZATION).map(|value| value.as_bytes()),
        );
        let state = match inspection {
            Inspection::Pass => {
                request.extensions_mut().insert(self.answers.clone());
                State::Calling {
                    response: self.service.call(request),
                }
            }
            Inspection::Token(token) => State::Verifying {
                verify: Box::pin(self.guard.verify(token.to_owned())),
                request: Some(request),
                service: Rc::clone(&self.service),
                answers: self.answers.clone(),
            },
            Inspection::Reject(rejection) => refuse(request, rejection),
        };
        ResponseFuture { state }
    }
}

/// The state that answers `rejection`: at once, or once a small body is read (see
/// `DRAIN_LIMIT`). A request that expects `100 Continue` is answered at once: reading its
/// body would invite it.
fn refuse<S, B>(mut request: ServiceRequest, rejection: Rejection) -> State<S, B>
where
    S: Service<ServiceRequest>,
{
    let small_body = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok())
        .is_some_and(|length| length > 0 && length <= DRAIN_LIMIT);
    if !small_body || request.head().expect() {
        return State::Answered {
            response: Some(answer(request, &rejection)),
        };
    }
    let body = actix_web::body::BodyStream::new(request.take_payload());
    State::Draining {
        drain: Box::pin(async move {
            // The body is dropped unread past the limit, on a read error or after the time:
            // actix-http then closes the connection, as before.
            let read = actix_web::body::to_bytes_limited(body, DRAIN_LIMIT);
            let _ = actix_web::rt::time::timeout(DRAIN_TIME, read).await;
        }),
        request: Some(request),
        rejection: Some(Box::new(rejection)),
    }
}

fn answer<B>(request: ServiceRequest, rejection: &Rejection) -> ServiceResponse<EitherBody<B>> {
    request
        .into_response(problem_response(rejection.problem()))
        .map_into_right_body()
}

type Verification = Pin<Box<dyn Future<Output = Result<Principal, Rejection>>>>;

pin_project! {
    /// The response future of [`RequireApiKeyMiddleware`]: verifying the key, then the
    /// wrapped service's response, or the rejection at once.
    pub struct ResponseFuture<S, B>
    where
        S: Service<ServiceRequest>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, B>
    where
        S: Service<ServiceRequest>,
    {
        Verifying {
            verify: Verification,
            request: Option<ServiceRequest>,
            service: Rc<S>,
            answers: Answers,
        },
        Calling {
            #[pin]
            response: S::Future,
        },
        Draining {
            drain: Pin<Box<dyn Future<Output = ()>>>,
            request: Option<ServiceRequest>,
            rejection: Option<Box<Rejection>>,
        },
        Answered {
            response: Option<ServiceResponse<EitherBody<B>>>,
        },
    }
}

impl<S, B> std::fmt::Debug for ResponseFuture<S, B>
where
    S: Service<ServiceRequest>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseFuture")
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
{
    type Output = Result<ServiceResponse<EitherBody<B>>, actix_web::Error>;

    // Polling a future after it completed is the caller's bug; the `Future` contract lets it
    // panic, as the standard library's futures do.
    #[allow(clippy::panic, clippy::expect_used)]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let mut state = self.as_mut().project().state;
            match state.as_mut().project() {
                StateProj::Verifying {
                    verify,
                    request,
                    service,
                    answers,
                } => {
                    let verdict = std::task::ready!(verify.as_mut().poll(cx));
                    let request = request
                        .take()
                        .expect("ResponseFuture polled after it ended");
                    match verdict {
                        Ok(principal) => {
                            {
                                let mut extensions = request.extensions_mut();
                                extensions.insert(principal);
                                extensions.insert(answers.clone());
                            }
                            // actix services are ready when `call` is; readiness was polled
                            // for this request before `call` (as `forward_ready!` does).
                            let response = service.call(request);
                            state.set(State::Calling { response });
                        }
                        Err(rejection) => state.set(refuse(request, rejection)),
                    }
                }
                StateProj::Draining {
                    drain,
                    request,
                    rejection,
                } => {
                    std::task::ready!(drain.as_mut().poll(cx));
                    let (request, rejection) = request
                        .take()
                        .zip(rejection.take())
                        .expect("ResponseFuture polled after it ended");
                    return Poll::Ready(Ok(answer(request, &rejection)));
                }
                StateProj::Calling { response } => {
                    return response
                        .poll(cx)
                        .map_ok(ServiceResponse::map_into_left_body);
                }
                StateProj::Answered { response } => {
                    let response = response
                        .take()
                        .expect("ResponseFuture polled after it ended");
                    return Poll::Ready(Ok(response));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use actix_web::http::header::HeaderValue;
    use actix_web::test::{self, TestRequest};
    use actix_web::{App, HttpResponse, web};
    use vault_core::testing::TestKeys;
    use vault_core::{ApiKeys, AuthError, Environment, HeaderDefect, RejectionBody};

    use super::*;
    use crate::Caller;

    fn jobs(permission: &str) -> Requirement {
        Requirement::new("submit".parse().unwrap(), Environment::Production)
            .with_permission(permission.parse().unwrap())
    }

    fn require(kit: &TestKeys, permission: &str) -> RequireApiKey<ApiKeys> {
        RequireApiKey::new(kit.keys().clone(), jobs(permission)).realm("submit")
    }

    /// What came back, with the headers the contract compares.
    #[derive(Debug, PartialEq)]
    struct Answer {
        status: u16,
        www_authenticate: Option<String>,
        retry_after: Option<String>,
        content_type: Option<String>,
        body: String,
    }

    impl Answer {
        fn of(rejection: &Rejection) -> Self {
            Self {
                status: rejection.status(),
                www_authenticate: rejection.www_authenticate().map(str::to_owned),
                retry_after: rejection.retry_after().map(|s| s.to_string()),
                content_type: Some(rejection.content_type().to_owned()),
                body: rejection.body().to_owned(),
            }
        }
    }

    /// Sends `request` to `/jobs` behind `middleware`; the handler echoes the key id and
    /// counts its calls.
    async fn send<V: VerifyKey + ?Sized>(
        middleware: RequireApiKey<V>,
        calls: &Arc<AtomicUsize>,
        request: TestRequest,
    ) -> Answer {
        let counter = web::Data::from(Arc::clone(calls));
        let app = test::init_service(App::new().app_data(counter).service(
            web::resource("/jobs").wrap(middleware).to(
                |caller: Caller, calls: web::Data<AtomicUsize>| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    HttpResponse::Ok().body(caller.key_id().to_string())
                },
            ),
        ))
        .await;
        let response = test::call_service(&app, request.uri("/jobs").to_request()).await;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        let (status, www_authenticate, retry_after, content_type) = (
            response.status().as_u16(),
            header("www-authenticate"),
            header("retry-after"),
            header("content-type"),
        );
        let body = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
        Answer {
            status,
            www_authenticate,
            retry_after,
            content_type,
            body,
        }
    }

    fn bearer(token: &str) -> (&'static str, String) {
        ("Authorization", format!("Bearer {token}"))
    }

    #[actix_web::test]
    async fn every_rejection_is_answered_exactly_as_the_guard_says() {
        let kit = TestKeys::new();
        let middleware = require(&kit, "jobs:create");
        let guard = middleware.guard().clone();
        let prod = Environment::Production;
        let full = &["jobs:create", "jobs:read"];
        let expired = kit
            .issue("submit", prod, full, Some(time::Duration::seconds(1)))
            .await;
        kit.clock().advance(time::Duration::seconds(2));
        let cases = [
            ("no header", TestRequest::post(), AuthError::MissingKey),
            (
                "token in the query string only",
                TestRequest::post().uri("/jobs?access_token=abc"),
                AuthError::MissingKey,
            ),
            (
                "Basic scheme",
                TestRequest::post().insert_header(("Authorization", "Basic dXNlcjpwYXNz")),
                AuthError::MalformedHeader(HeaderDefect::NotBearer),
            ),
            (
                "garbage token",
                TestRequest::post().insert_header(bearer("vk_prod_nope")),
                guard_error(&guard, "vk_prod_nope").await,
            ),
            (
                "expired",
                TestRequest::post().insert_header(bearer(expired.expose_token())),
                AuthError::ExpiredKey,
            ),
            (
                "revoked",
                TestRequest::post()
                    .insert_header(bearer(&kit.mint_revoked("submit", prod, full).await)),
                guard_error(&guard, &kit.mint_revoked("submit", prod, full).await).await,
            ),
            (
                "staging key",
                TestRequest::post().insert_header(bearer(
                    &kit.mint("submit", Environment::Staging, full).await,
                )),
                AuthError::WrongEnvironment,
            ),
            (
                "other product",
                TestRequest::post().insert_header(bearer(&kit.mint("prepare", prod, full).await)),
                AuthError::WrongProduct,
            ),
            (
                "read-only key",
                TestRequest::post()
                    .insert_header(bearer(&kit.mint("submit", prod, &["jobs:read"]).await)),
                AuthError::InsufficientPermission("jobs:create".parse().unwrap()),
            ),
        ];
        let calls = Arc::new(AtomicUsize::new(0));
        for (case, request, error) in cases {
            let answer = send(middleware.clone(), &calls, request).await;
            assert_eq!(answer, Answer::of(&guard.reject(&error)), "{case}");
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "no rejected request reached a handler"
        );
    }

    /// The verdict vault-core itself gives `token` (so the test does not restate rules).
    async fn guard_error(guard: &Guard<ApiKeys>, token: &str) -> AuthError {
        guard
            .verify(token.to_owned())
            .await
            .expect_err("a refused token")
            .error()
            .clone()
    }

    #[actix_web::test]
    async fn a_valid_key_reaches_the_handler_with_its_principal() {
        let kit = TestKeys::new();
        let issued = kit
            .issue("submit", Environment::Production, &["jobs:create"], None)
            .await;
        let calls = Arc::new(AtomicUsize::new(0));
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let request = TestRequest::post().insert_header((
                "Authorization",
                format!("{scheme} {}", issued.expose_token()),
            ));
            let answer = send(require(&kit, "jobs:create"), &calls, request).await;
            assert_eq!(answer.status, 200, "{scheme}");
            assert_eq!(answer.body, issued.metadata.id.to_string());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[actix_web::test]
    async fn several_authorization_headers_are_malformed() {
        let kit = TestKeys::new();
        let token = kit
            .mint("submit", Environment::Production, &["jobs:create"])
            .await;
        let request = TestRequest::post()
            .append_header(bearer(&token))
            .append_header(bearer(&token));
        let calls = Arc::new(AtomicUsize::new(0));
        let answer = send(require(&kit, "jobs:create"), &calls, request).await;
        let expected = require(&kit, "jobs:create")
            .guard()
            .reject(&AuthError::MalformedHeader(HeaderDefect::SeveralHeaders));
        assert_eq!(answer, Answer::of(&expected));
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[actix_web::test]
    async fn long_and_non_ascii_headers_are_malformed_not_errors() {
        let kit = TestKeys::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let long = format!("Bearer {}", "a".repeat(8 * 1024));
        let non_ascii = HeaderValue::from_bytes(b"Bearer abc\xff\xfe").unwrap();
        for (value, defect) in [
            (HeaderValue::from_str(&long).unwrap(), HeaderDefect::TooLong),
            (non_ascii, HeaderDefect::BadCharacters),
        ] {
            let request = TestRequest::post().insert_header(("Authorization", value));
            let answer = send(require(&kit, "jobs:create"), &calls, request).await;
            let expected = require(&kit, "jobs:create")
                .guard()
                .reject(&AuthError::MalformedHeader(defect));
            assert_eq!(answer, Answer::of(&expected));
            assert!(
                !answer.body.contains("aaaa"),
                "the body never echoes the header"
            );
        }
    }

    struct StoreDown;

    #[async_trait::async_trait]
    impl VerifyKey for StoreDown {
        async fn verify(&self, _: &str, _: &Requirement) -> Result<Principal, AuthError> {
            Err(AuthError::Unavailable)
        }
    }

    #[actix_web::test]
    async fn an_unreachable_store_answers_503_with_retry_after() {
        let middleware = RequireApiKey::new(StoreDown, jobs("jobs:create"));
        let calls = Arc::new(AtomicUsize::new(0));
        let request = TestRequest::post().insert_header(bearer("abc"));
        let answer = send(middleware, &calls, request).await;
        assert_eq!(answer.status, 503);
        assert_eq!(answer.retry_after.as_deref(), Some("1"));
        assert_eq!(answer.www_authenticate, None);
        assert!(answer.body.contains("auth_unavailable"));
    }

    #[actix_web::test]
    async fn a_shared_dyn_verifier_works_too() {
        let kit = TestKeys::new();
        let verifier: Arc<dyn VerifyKey> = Arc::new(kit.keys().clone());
        let token = kit
            .mint("submit", Environment::Production, &["jobs:create"])
            .await;
        let calls = Arc::new(AtomicUsize::new(0));
        let middleware = RequireApiKey::from_arc(verifier, jobs("jobs:create"));
        let answer = send(
            middleware,
            &calls,
            TestRequest::post().insert_header(bearer(&token)),
        )
        .await;
        assert_eq!(answer.status, 200);
    }

    #[actix_web::test]
    async fn cors_preflight_passes_without_a_key_unless_disabled() {
        let kit = TestKeys::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let preflight = || {
            TestRequest::default()
                .method(actix_web::http::Method::OPTIONS)
                .insert_header(("Access-Control-Request-Method", "POST"))
        };
        // Through the middleware; the handler's extractor then finds no key.
        let answer = send(require(&kit, "jobs:create"), &calls, preflight()).await;
        assert_eq!(answer.status, 401);
        assert_eq!(calls.load(Ordering::SeqCst), 0);

        let app = test::init_service(
            App::new().service(
                web::resource("/jobs")
                    .wrap(require(&kit, "jobs:create"))
                    .route(
                        web::method(actix_web::http::Method::OPTIONS).to(HttpResponse::NoContent),
                    ),
            ),
        )
        .await;
        let response = test::call_service(&app, preflight().uri("/jobs").to_request()).await;
        assert_eq!(response.status(), 204);
        // OPTIONS without `Access-Control-Request-Method` is no preflight.
        let plain = TestRequest::default()
            .method(actix_web::http::Method::OPTIONS)
            .uri("/jobs")
            .to_request();
        assert_eq!(test::call_service(&app, plain).await.status(), 401);

        let strict = require(&kit, "jobs:create").allow_preflight(false);
        let app =
            test::init_service(App::new().service(
                web::resource("/jobs").wrap(strict).route(
                    web::method(actix_web::http::Method::OPTIONS).to(HttpResponse::NoContent),
                ),
            ))
            .await;
        let response = test::call_service(&app, preflight().uri("/jobs").to_request()).await;
        assert_eq!(response.status(), 401);
    }

    #[actix_web::test]
    async fn the_body_hook_changes_only_the_body() {
        let kit = TestKeys::new();
        let hooked = require(&kit, "jobs:create").rejection_body(|rejection| RejectionBody {
            content_type: "application/json".into(),
            body: format!(r#"{{"error":"{}"}}"#, rejection.code()),
        });
        let calls = Arc::new(AtomicUsize::new(0));
        let answer = send(hooked.clone(), &calls, TestRequest::post()).await;
        assert_eq!(answer.status, 401);
        assert_eq!(
            answer.www_authenticate.as_deref(),
            Some(r#"Bearer realm="submit""#)
        );
        assert_eq!(answer.content_type.as_deref(), Some("application/json"));
        assert_eq!(answer.body, r#"{"error":"missing_api_key"}"#);
        assert_eq!(
            answer,
            Answer::of(&hooked.guard().reject(&AuthError::MissingKey))
        );
    }

    #[actix_web::test]
    async fn a_hook_content_type_that_cannot_be_a_header_keeps_the_problem_body() {
        let kit = TestKeys::new();
        let hooked = require(&kit, "jobs:create").rejection_body(|rejection| RejectionBody {
            content_type: "application/json\r\nx-injected: 1".into(),
            body: format!(r#"{{"error":"{}"}}"#, rejection.code()),
        });
        let calls = Arc::new(AtomicUsize::new(0));
        let answer = send(hooked, &calls, TestRequest::post()).await;
        assert_eq!(answer.status, 401);
        assert_eq!(
            answer.content_type.as_deref(),
            Some("application/problem+json")
        );
        assert!(
            answer.body.contains(r#""code":"missing_api_key""#),
            "{}",
            answer.body
        );
        // Exactly the answer without a hook, as vault-tower gives it.
        let plain = send(require(&kit, "jobs:create"), &calls, TestRequest::post()).await;
        assert_eq!(answer, plain);
    }

    #[actix_web::test]
    async fn each_scope_enforces_its_own_requirement() {
        let kit = TestKeys::new();
        let read_only = kit
            .mint("submit", Environment::Production, &["jobs:read"])
            .await;
        let create = require(&kit, "jobs:create");
        let read = create.for_requirement(jobs("jobs:read"));
        let app = test::init_service(
            App::new()
                .service(
                    web::scope("/write")
                        .wrap(create)
                        .route("/jobs", web::post().to(HttpResponse::Created)),
                )
                .service(
                    web::scope("/read")
                        .wrap(read)
                        .route("/jobs", web::get().to(HttpResponse::Ok)),
                ),
        )
        .await;
        let read_request = TestRequest::get()
            .uri("/read/jobs")
            .insert_header(bearer(&read_only))
            .to_request();
        assert_eq!(test::call_service(&app, read_request).await.status(), 200);
        let write_request = TestRequest::post()
            .uri("/write/jobs")
            .insert_header(bearer(&read_only))
            .to_request();
        let response = test::call_service(&app, write_request).await;
        assert_eq!(response.status(), 403);
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            r#"Bearer realm="submit", error="insufficient_scope", scope="jobs:create""#
        );
    }

    #[actix_web::test]
    async fn for_permission_adds_a_permission_to_the_requirement() {
        let kit = TestKeys::new();
        let read_only = kit
            .mint("submit", Environment::Production, &["jobs:read"])
            .await;
        let submit = Requirement::new("submit".parse().unwrap(), Environment::Production);
        let base = RequireApiKey::new(kit.keys().clone(), submit);
        let calls = Arc::new(AtomicUsize::new(0));
        let request = || TestRequest::post().insert_header(bearer(&read_only));
        assert_eq!(send(base.clone(), &calls, request()).await.status, 200);
        let create = base.for_permission("jobs:create".parse().unwrap());
        assert_eq!(send(create, &calls, request()).await.status, 403);
    }

    #[actix_web::test]
    async fn for_permission_twice_needs_both_and_the_scope_names_both() {
        let kit = TestKeys::new();
        let submit = Requirement::new("submit".parse().unwrap(), Environment::Production);
        let both = RequireApiKey::new(kit.keys().clone(), submit)
            .for_permission("jobs:create".parse().unwrap())
            .for_permission("jobs:read".parse().unwrap());
        let calls = Arc::new(AtomicUsize::new(0));
        let prod = Environment::Production;
        for held in [&["jobs:create"][..], &["jobs:read"][..]] {
            let token = kit.mint("submit", prod, held).await;
            let request = TestRequest::post().insert_header(bearer(&token));
            let answer = send(both.clone(), &calls, request).await;
            assert_eq!(answer.status, 403, "{held:?}");
            assert_eq!(
                answer.www_authenticate.as_deref(),
                Some(
                    r#"Bearer realm="api", error="insufficient_scope", scope="jobs:create jobs:read""#
                )
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
        let token = kit
            .mint("submit", prod, &["jobs:read", "jobs:create"])
            .await;
        let request = TestRequest::post().insert_header(bearer(&token));
        assert_eq!(send(both, &calls, request).await.status, 200);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    /// A real server (one worker) with `POST /jobs` behind the middleware and an open
    /// `GET /health`: what a refusal does to the connection shows only on a socket.
    fn serve(kit: &TestKeys) -> (std::net::SocketAddr, actix_web::dev::ServerHandle) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let middleware = require(kit, "jobs:create");
        let server =
            actix_web::HttpServer::new(move || {
                App::new()
                    .route("/health", web::get().to(HttpResponse::Ok))
                    .service(web::resource("/jobs").wrap(middleware.clone()).route(
                        web::post().to(|body: web::Bytes| async move {
                            HttpResponse::Created().body(body)
                        }),
                    ))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        (addr, handle)
    }

    /// Reads one final answer (skipping `100 Continue`): its head, lowercased, and body;
    /// `None` if the connection closed first.
    fn read_answer(stream: &mut std::net::TcpStream) -> Option<(String, String)> {
        use std::io::Read;
        let mut bytes = Vec::new();
        loop {
            let mut byte = [0];
            if stream.read(&mut byte).ok()? == 0 {
                return None;
            }
            bytes.push(byte[0]);
            if bytes.ends_with(b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
                if head.starts_with("http/1.1 100") {
                    bytes.clear();
                    continue;
                }
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |n| n.trim().parse().unwrap());
                let mut body = vec![0; length];
                stream.read_exact(&mut body).ok()?;
                return Some((head, String::from_utf8_lossy(&body).into_owned()));
            }
        }
    }

    /// Runs `client` on a blocking thread (the server shares this runtime) with a connection
    /// to `addr`.
    async fn client<T: Send + 'static>(
        addr: std::net::SocketAddr,
        client: impl FnOnce(std::net::TcpStream) -> T + Send + 'static,
    ) -> T {
        actix_web::rt::task::spawn_blocking(move || {
            let stream = std::net::TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(5)))
                .unwrap();
            client(stream)
        })
        .await
        .unwrap()
    }

    #[actix_web::test]
    async fn a_refused_small_post_leaves_the_connection_open() {
        use std::io::Write;
        let kit = TestKeys::new();
        let (addr, server) = serve(&kit);
        let (refusal, next) = client(addr, |mut stream| {
            // The body comes a moment after the head, as from a client that writes twice.
            stream
                .write_all(b"POST /jobs HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n")
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(100));
            stream.write_all(b"{}").unwrap();
            let refusal = read_answer(&mut stream);
            stream
                .write_all(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
                .unwrap();
            (refusal, read_answer(&mut stream))
        })
        .await;
        server.stop(false).await;
        let (head, body) = refusal.expect("the refusal");
        assert!(head.starts_with("http/1.1 401"), "{head}");
        assert!(body.contains("missing_api_key"), "{body}");
        assert!(!head.contains("connection: close"), "{head}");
        let (head, _) = next.expect("a second answer on the same connection");
        assert!(head.starts_with("http/1.1 200"), "{head}");
    }

    #[actix_web::test]
    async fn a_large_unread_body_is_not_waited_for() {
        use std::io::Write;
        let kit = TestKeys::new();
        let (addr, server) = serve(&kit);
        let (refusal, elapsed) = client(addr, |mut stream| {
            let started = std::time::Instant::now();
            stream
                .write_all(b"POST /jobs HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n")
                .unwrap();
            (read_answer(&mut stream), started.elapsed())
        })
        .await;
        server.stop(false).await;
        let (head, _) = refusal.expect("the refusal");
        assert!(head.starts_with("http/1.1 401"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(elapsed < DRAIN_TIME / 2, "answered after {elapsed:?}");
    }

    #[actix_web::test]
    async fn the_body_of_a_request_expecting_100_continue_is_not_waited_for() {
        use std::io::Write;
        let kit = TestKeys::new();
        let (addr, server) = serve(&kit);
        let (refusal, elapsed) = client(addr, |mut stream| {
            let started = std::time::Instant::now();
            stream
                .write_all(
                    b"POST /jobs HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\n\
                      Content-Length: 2\r\n\r\n",
                )
                .unwrap();
            (read_answer(&mut stream), started.elapsed())
        })
        .await;
        server.stop(false).await;
        let (head, _) = refusal.expect("the refusal");
        assert!(head.starts_with("http/1.1 401"), "{head}");
        assert!(elapsed < DRAIN_TIME / 2, "answered after {elapsed:?}");
    }

    #[actix_web::test]
    async fn a_body_that_never_comes_delays_the_refusal_at_most_the_drain_time() {
        use std::io::Write;
        let kit = TestKeys::new();
        let (addr, server) = serve(&kit);
        let (refusal, elapsed) = client(addr, |mut stream| {
            let started = std::time::Instant::now();
            stream
                .write_all(b"POST /jobs HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n{}")
                .unwrap();
            (read_answer(&mut stream), started.elapsed())
        })
        .await;
        server.stop(false).await;
        let (head, _) = refusal.expect("the refusal");
        assert!(head.starts_with("http/1.1 401"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
        assert!(elapsed < DRAIN_TIME * 3, "answered after {elapsed:?}");
    }
}

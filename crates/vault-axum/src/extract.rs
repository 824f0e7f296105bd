//! Extractors: [`Caller`] (the verified key, or `Option<Caller>` on routes open to anonymous
//! callers) and [`RequirePermission`] (a per-handler permission check). They read what
//! [`crate::RequireApiKeyLayer`] left in the request extensions and never verify again.

use std::fmt;
use std::ops::Deref;

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use http::Extensions;
use http::request::Parts;
use vault_core::guard::Answers;
use vault_core::{AuthError, PermissionName, Permitted, Principal};

use crate::rejection::AuthRejection;

/// The caller verified by [`crate::RequireApiKeyLayer`]: the `Principal` extractor.
///
/// Without a key it answers like the layer (401 `missing_api_key`); on a route the layer does
/// not cover, 500. As `Option<Caller>` it is `None` for requests the layer let through
/// without a key (anonymous callers allowed, CORS preflight).
///
/// ```
/// use vault_axum::Caller;
///
/// async fn whoami(Caller(caller): Caller) -> String {
///     format!("key {} of workspace {:?}", caller.key_name(), caller.workspace_id())
/// }
///
/// async fn greet(caller: Option<Caller>) -> &'static str {
///     if caller.is_some() { "welcome back" } else { "hello, stranger" }
/// }
/// # let _: axum::Router = axum::Router::new()
/// #     .route("/whoami", axum::routing::get(whoami))
/// #     .route("/greet", axum::routing::get(greet));
/// ```
#[derive(Clone, Debug)]
pub struct Caller(pub Principal);

impl Caller {
    /// The principal.
    pub fn into_principal(self) -> Principal {
        self.0
    }
}

impl Deref for Caller {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

/// What the layer left: `Ok(Some)` a verified key, `Ok(None)` passed without one, `Err` no
/// layer ran.
fn verified(extensions: &Extensions) -> Result<Option<Principal>, AuthRejection> {
    if let Some(principal) = extensions.get::<Principal>() {
        return Ok(Some(principal.clone()));
    }
    match extensions.get::<Answers>() {
        Some(_) => Ok(None),
        None => Err(AuthRejection::LayerMissing),
    }
}

fn required(extensions: &Extensions) -> Result<Principal, AuthRejection> {
    verified(extensions)?.ok_or_else(|| {
        let answers = extensions.get::<Answers>().cloned().unwrap_or_default();
        AuthRejection::Refused(answers.reject(&AuthError::MissingKey))
    })
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        required(&parts.extensions).map(Caller)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Caller {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        verified(&parts.extensions).map(|principal| principal.map(Caller))
    }
}

/// The caller, if its key holds permission `P` (declared with [`crate::permission!`]);
/// otherwise 403 `insufficient_permission` with the scope, exactly as the layer answers. Per
/// handler as an argument, per route with [`crate::require_permission`] (axum's
/// `from_extractor`) in `route_layer`. The check is vault-core's
/// [`Answers::permit`]; this type only makes it an extractor.
///
/// ```
/// use vault_axum::RequirePermission;
///
/// vault_axum::permission!(pub JobsCreate = "jobs:create");
///
/// async fn create_job(caller: RequirePermission<JobsCreate>) -> String {
///     format!("created for {:?}", caller.workspace_id())
/// }
/// # let _: axum::Router = axum::Router::new().route("/jobs", axum::routing::post(create_job));
/// ```
pub struct RequirePermission<P>(pub Permitted<P>);

impl<P> RequirePermission<P> {
    /// The principal.
    pub fn into_principal(self) -> Principal {
        self.0.into_principal()
    }
}

impl<P> Deref for RequirePermission<P> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl<P> Clone for RequirePermission<P> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<P: PermissionName> fmt::Debug for RequirePermission<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequirePermission").field(&self.0).finish()
    }
}

impl<S: Send + Sync, P: PermissionName> FromRequestParts<S> for RequirePermission<P> {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let principal = required(&parts.extensions)?;
        let permitted = match parts.extensions.get::<Answers>() {
            Some(answers) => answers.permit(principal),
            None => Answers::default().permit(principal),
        };
        Ok(Self(permitted?))
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::State;
    use axum::routing::{get, post};
    use http::header::{ACCESS_CONTROL_REQUEST_METHOD, AUTHORIZATION, WWW_AUTHENTICATE};
    use http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    use vault_core::testing::TestKeys;
    use vault_core::{ApiKeys, Environment, Requirement};

    use super::*;
    use crate::{GuardOptions, RequireApiKeyLayer, require_permission};

    crate::permission!(JobsCreate = "jobs:create");

    /// An invalid name cannot get past `permission!`; a hand-written impl can.
    struct NotAPermission;

    impl PermissionName for NotAPermission {
        const PERMISSION: &'static str = "NOT A PERMISSION";
    }

    #[derive(Clone)]
    struct AppState {
        greeting: &'static str,
    }

    fn submit() -> Requirement {
        Requirement::new("submit".parse().unwrap(), Environment::Production)
    }

    fn auth(kit: &TestKeys) -> RequireApiKeyLayer<ApiKeys> {
        RequireApiKeyLayer::new(kit.keys().clone(), submit()).realm("submit")
    }

    async fn whoami(State(state): State<AppState>, Caller(caller): Caller) -> String {
        format!("{} {}", state.greeting, caller.key_name())
    }

    async fn greet(caller: Option<Caller>) -> &'static str {
        if caller.is_some() {
            "member"
        } else {
            "stranger"
        }
    }

    async fn create(_: RequirePermission<JobsCreate>) -> StatusCode {
        StatusCode::CREATED
    }

    async fn broken(_: RequirePermission<NotAPermission>) -> StatusCode {
        StatusCode::OK
    }

    fn app(kit: &TestKeys) -> Router {
        Router::new()
            .route("/whoami", get(whoami))
            .route("/jobs", post(create))
            .route("/broken", get(broken))
            .route(
                "/routed",
                post(|| async { StatusCode::CREATED })
                    .route_layer(require_permission::<JobsCreate>()),
            )
            .layer(auth(kit))
            .route("/unprotected", get(whoami))
            .with_state(AppState { greeting: "hello" })
    }

    fn request(method: &str, uri: &str, token: Option<&str>) -> Request<Body> {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        builder.body(Body::empty()).unwrap()
    }

    struct Answer {
        status: StatusCode,
        challenge: Option<String>,
        body: String,
    }

    async fn send(router: Router, request: Request<Body>) -> Answer {
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            challenge,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    #[tokio::test]
    async fn caller_extractor_sees_the_verified_key_with_app_state() {
        let kit = TestKeys::new();
        let token = kit.mint("submit", Environment::Production, &[]).await;
        let answer = send(app(&kit), request("GET", "/whoami", Some(&token))).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.body, "hello test key for submit");
    }

    #[tokio::test]
    async fn extractor_without_the_layer_is_a_500_that_says_so() {
        let kit = TestKeys::new();
        let token = kit.mint("submit", Environment::Production, &[]).await;
        let answer = send(app(&kit), request("GET", "/unprotected", Some(&token))).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            answer.body.contains("without RequireApiKeyLayer"),
            "{}",
            answer.body
        );
        assert!(!answer.body.contains(&token));
    }

    #[tokio::test]
    async fn optional_caller_is_none_for_anonymous_callers_only() {
        let kit = TestKeys::new();
        let token = kit.mint("submit", Environment::Production, &[]).await;
        let open = || {
            Router::new()
                .route("/greet", get(greet))
                .layer(auth(&kit).allow_anonymous(true))
        };
        let anonymous = send(open(), request("GET", "/greet", None)).await;
        assert_eq!(anonymous.body, "stranger");
        let member = send(open(), request("GET", "/greet", Some(&token))).await;
        assert_eq!(member.body, "member");
        let bad_key = send(open(), request("GET", "/greet", Some("nope"))).await;
        assert_eq!(bad_key.status, StatusCode::UNAUTHORIZED);

        let no_layer = Router::new().route("/greet", get(greet));
        let answer = send(no_layer, request("GET", "/greet", None)).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn caller_refuses_a_preflight_like_the_layer_refuses_a_missing_key() {
        let kit = TestKeys::new();
        let preflight = Request::options("/whoami")
            .header(ACCESS_CONTROL_REQUEST_METHOD, "GET")
            .body(Body::empty())
            .unwrap();
        let route = Router::new()
            .route("/whoami", axum::routing::options(|_: Caller| async { "?" }))
            .layer(auth(&kit));
        let from_extractor = send(route, preflight).await;
        let from_layer = send(app(&kit), request("GET", "/whoami", None)).await;
        assert_eq!(from_extractor.status, StatusCode::UNAUTHORIZED);
        assert_eq!(from_extractor.status, from_layer.status);
        assert_eq!(from_extractor.challenge, from_layer.challenge);
        assert_eq!(from_extractor.body, from_layer.body);
    }

    #[tokio::test]
    async fn permission_guard_answers_byte_for_byte_like_the_layer() {
        let kit = TestKeys::new();
        let read_only = kit
            .mint("submit", Environment::Production, &["jobs:read"])
            .await;
        let by_handler = send(app(&kit), request("POST", "/jobs", Some(&read_only))).await;
        let by_route = send(app(&kit), request("POST", "/routed", Some(&read_only))).await;
        let by_layer = send(
            Router::new()
                .route("/jobs", post(|| async { StatusCode::CREATED }))
                .layer(auth(&kit).for_permission("jobs:create".parse().unwrap())),
            request("POST", "/jobs", Some(&read_only)),
        )
        .await;
        assert_eq!(by_layer.status, StatusCode::FORBIDDEN);
        assert_eq!(
            by_layer.challenge.as_deref(),
            Some(r#"Bearer realm="submit", error="insufficient_scope", scope="jobs:create""#)
        );
        for answer in [&by_handler, &by_route] {
            assert_eq!(answer.status, by_layer.status);
            assert_eq!(answer.challenge, by_layer.challenge);
            assert_eq!(answer.body, by_layer.body);
        }
    }

    #[tokio::test]
    async fn permission_guard_lets_holders_through() {
        let kit = TestKeys::new();
        let token = kit
            .mint("submit", Environment::Production, &["jobs:create"])
            .await;
        for uri in ["/jobs", "/routed"] {
            let answer = send(app(&kit), request("POST", uri, Some(&token))).await;
            assert_eq!(answer.status, StatusCode::CREATED, "{uri}");
        }
    }

    #[tokio::test]
    async fn an_invalid_permission_name_is_a_500() {
        let kit = TestKeys::new();
        let token = kit.mint("submit", Environment::Production, &["*"]).await;
        let answer = send(app(&kit), request("GET", "/broken", Some(&token))).await;
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(answer.body.contains("NOT A PERMISSION"));
    }

    #[tokio::test]
    async fn handlers_can_inspect_the_rejection() {
        let kit = TestKeys::new();
        let route = Router::new()
            .route(
                "/peek",
                get(|caller: Result<Caller, AuthRejection>| async move {
                    match caller {
                        Ok(_) => "ok".to_owned(),
                        Err(rejection) => format!("{}: {rejection}", rejection.status()),
                    }
                }),
            )
            .layer(auth(&kit).allow_anonymous(true));
        let answer = send(route, request("GET", "/peek", None)).await;
        assert_eq!(answer.body, "401 Unauthorized: no API key was presented");
    }
}

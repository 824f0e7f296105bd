//! [`Authenticated`]: the handler's view of the verified caller, found where
//! [`RequireApiKey`](crate::RequireApiKey) put it, and answering exactly like it.

use std::future::{Ready, ready};
use std::ops::Deref;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use vault_core::guard::Answers;
use vault_core::{AuthError, Permission, Principal};

use crate::middleware::AnswersSlot;
use crate::rejection::ApiKeyRejection;

/// The caller verified by [`RequireApiKey`](crate::RequireApiKey): a [`Principal`] (it
/// dereferences to one) plus the middleware's answer options, so a per-handler
/// [`require_permission`](Self::require_permission) answers like the middleware would.
///
/// As an extractor:
/// - behind the middleware it always succeeds, except on a request the middleware let through
///   without a key (a CORS preflight, or an anonymous caller under `allow_anonymous`), which
///   is answered as a missing key (401);
/// - without the middleware it fails with [`ApiKeyRejection::MissingMiddleware`] (500).
///
/// `Option<Authenticated>` uses actix-web's blanket `Option` extractor: `None` whenever the
/// above would fail (a missing middleware is still logged as an error).
///
/// ```
/// use actix_web::HttpResponse;
/// use vault_actix::{ApiKeyRejection, Authenticated};
///
/// async fn delete_job(caller: Authenticated) -> Result<HttpResponse, ApiKeyRejection> {
///     let delete = "jobs:delete".parse().expect("a valid permission");
///     caller.require_permission(&delete)?;
///     Ok(HttpResponse::NoContent().finish())
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Authenticated {
    principal: Principal,
    answers: Arc<Answers>,
}

impl Authenticated {
    /// The verified caller.
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// The verified caller, owned.
    pub fn into_principal(self) -> Principal {
        self.principal
    }

    /// Refuses the request unless the caller's key holds `permission`: 403 with
    /// `error="insufficient_scope"`, in the middleware's realm and body shape.
    pub fn require_permission(&self, permission: &Permission) -> Result<(), ApiKeyRejection> {
        self.answers
            .require_permission(&self.principal, permission)
            .map_err(ApiKeyRejection::from)
    }

    fn from_request_parts(request: &HttpRequest) -> Result<Self, ApiKeyRejection> {
        let extensions = request.extensions();
        let Some(AnswersSlot(answers)) = extensions.get::<AnswersSlot>() else {
            tracing::error!(
                path = request.path(),
                "Authenticated extractor used on a route without the RequireApiKey middleware"
            );
            return Err(ApiKeyRejection::MissingMiddleware);
        };
        match extensions.get::<Principal>() {
            Some(principal) => Ok(Self {
                principal: principal.clone(),
                answers: Arc::clone(answers),
            }),
            // A preflight or anonymous caller the middleware let through: no key was presented.
            None => Err(answers.reject(&AuthError::MissingKey).into()),
        }
    }
}

impl Deref for Authenticated {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl From<Authenticated> for Principal {
    fn from(caller: Authenticated) -> Self {
        caller.principal
    }
}

impl FromRequest for Authenticated {
    type Error = ApiKeyRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Self::from_request_parts(request))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::{self, TestRequest};
    use actix_web::{App, HttpResponse, web};
    use vault_core::testing::TestKeys;
    use vault_core::{Environment, RejectionBody, Requirement};

    use super::*;
    use crate::RequireApiKey;

    async fn who(caller: Authenticated) -> HttpResponse {
        HttpResponse::Ok().body(caller.key_id().to_string())
    }

    async fn maybe(caller: Option<Authenticated>) -> HttpResponse {
        HttpResponse::Ok().body(match caller {
            Some(caller) => caller.key_id().to_string(),
            None => "anonymous".to_owned(),
        })
    }

    async fn delete(caller: Authenticated) -> Result<HttpResponse, ApiKeyRejection> {
        caller.require_permission(&"jobs:delete".parse().unwrap())?;
        Ok(HttpResponse::NoContent().finish())
    }

    fn submit() -> Requirement {
        Requirement::new("submit".parse().unwrap(), Environment::Production)
    }

    #[actix_web::test]
    async fn without_the_middleware_the_extractor_is_a_500_that_says_so() {
        let app = test::init_service(App::new().route("/who", web::get().to(who))).await;
        let response = test::call_service(&app, TestRequest::get().uri("/who").to_request()).await;
        assert_eq!(response.status(), 500);
        assert!(response.headers().get("www-authenticate").is_none());
        let body = test::read_body(response).await;
        let body = std::str::from_utf8(&body).unwrap();
        assert!(body.contains("RequireApiKey middleware"), "{body}");
    }

    #[actix_web::test]
    async fn the_optional_extractor_is_some_only_for_a_verified_caller() {
        let kit = TestKeys::new();
        let token = kit.mint("submit", Environment::Production, &[]).await;
        let app = test::init_service(
            App::new().route("/open", web::get().to(maybe)).service(
                web::resource("/guarded")
                    .wrap(RequireApiKey::new(kit.keys().clone(), submit()))
                    .to(maybe),
            ),
        )
        .await;
        let open = TestRequest::get().uri("/open").to_request();
        assert_eq!(test::call_and_read_body(&app, open).await, "anonymous");
        let guarded = TestRequest::get()
            .uri("/guarded")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request();
        let body = test::call_and_read_body(&app, guarded).await;
        assert_ne!(body, "anonymous");
    }

    #[actix_web::test]
    async fn anonymous_callers_pass_only_when_allowed_and_bad_keys_never_do() {
        let kit = TestKeys::new();
        let open = RequireApiKey::new(kit.keys().clone(), submit()).allow_anonymous(true);
        let app = test::init_service(
            App::new()
                .service(web::resource("/maybe").wrap(open.clone()).to(maybe))
                .service(web::resource("/who").wrap(open).to(who)),
        )
        .await;
        let anonymous = TestRequest::get().uri("/maybe").to_request();
        assert_eq!(test::call_and_read_body(&app, anonymous).await, "anonymous");
        // A handler that insists on a caller still answers 401, not 500.
        let anonymous = TestRequest::get().uri("/who").to_request();
        let response = test::call_service(&app, anonymous).await;
        assert_eq!(response.status(), 401);
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            r#"Bearer realm="api""#
        );
        let bad = TestRequest::get()
            .uri("/maybe")
            .insert_header(("Authorization", "Bearer not-a-key"))
            .to_request();
        assert_eq!(test::call_service(&app, bad).await.status(), 401);
    }

    #[actix_web::test]
    async fn a_per_handler_permission_check_answers_like_the_middleware() {
        let kit = TestKeys::new();
        let token = kit
            .mint("submit", Environment::Production, &["jobs:read"])
            .await;
        let middleware = RequireApiKey::new(kit.keys().clone(), submit())
            .realm("submit")
            .rejection_body(|rejection| RejectionBody {
                content_type: "application/json".into(),
                body: format!(r#"{{"error":"{}"}}"#, rejection.code()),
            });
        let expected = middleware
            .guard()
            .reject(&AuthError::InsufficientPermission(
                "jobs:delete".parse().unwrap(),
            ));
        let app = test::init_service(
            App::new().service(web::resource("/jobs").wrap(middleware).to(delete)),
        )
        .await;
        let request = TestRequest::delete()
            .uri("/jobs")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request();
        let response = test::call_service(&app, request).await;
        assert_eq!(response.status(), 403);
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            expected.www_authenticate().unwrap()
        );
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "application/json"
        );
        assert_eq!(test::read_body(response).await, expected.body());
    }
}

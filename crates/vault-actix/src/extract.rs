//! Extractors: [`Caller`] (the verified key) and [`RequirePermission`] (a per-handler
//! permission check), plus [`require_permission`] for a permission known only at run time.
//! They read what [`RequireApiKey`](crate::RequireApiKey) left in the request extensions,
//! never verify again, and answer exactly like the middleware.

use std::fmt;
use std::future::{Ready, ready};
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use vault_core::guard::Answers;
use vault_core::{AuthError, Permission, PermissionName, Permitted, Principal};

use crate::rejection::AuthRejection;

/// The caller verified by [`RequireApiKey`](crate::RequireApiKey): the `Principal` extractor.
///
/// Behind the middleware it always succeeds, except on a request let through without a key (a
/// CORS preflight, or an anonymous caller under `allow_anonymous`), which is answered like the
/// middleware (401 `missing_api_key`). On a route no middleware covers it answers 500.
///
/// `Option<Caller>` is actix-web's blanket `Option` extractor: `None` whenever `Caller` would
/// fail, so on routes open to anonymous callers. (actix-web does not let a crate change that,
/// so a missing middleware is `None` there too; it is logged as an error.)
///
/// ```
/// use vault_actix::Caller;
///
/// async fn whoami(Caller(caller): Caller) -> String {
///     format!("key {} of workspace {}", caller.key_name(), caller.workspace_id())
/// }
///
/// async fn greet(caller: Option<Caller>) -> &'static str {
///     if caller.is_some() { "welcome back" } else { "hello, stranger" }
/// }
/// # let _ = actix_web::App::new()
/// #     .route("/whoami", actix_web::web::get().to(whoami))
/// #     .route("/greet", actix_web::web::get().to(greet));
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

impl From<Caller> for Principal {
    fn from(caller: Caller) -> Self {
        caller.0
    }
}

impl FromRequest for Caller {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(required(request).map(|(principal, _)| Caller(principal)))
    }
}

/// The verified principal and the answers of the middleware that ran, or why not.
fn required(request: &HttpRequest) -> Result<(Principal, Answers), AuthRejection> {
    let extensions = request.extensions();
    let Some(answers) = extensions.get::<Answers>() else {
        return Err(middleware_missing(request));
    };
    match extensions.get::<Principal>() {
        Some(principal) => Ok((principal.clone(), answers.clone())),
        // A preflight or anonymous caller the middleware let through: no key was presented.
        None => Err(answers.reject(&AuthError::MissingKey).into()),
    }
}

fn middleware_missing(request: &HttpRequest) -> AuthRejection {
    // Logged because `Option<Caller>` turns this programming error into `None`.
    tracing::error!(
        path = request.path(),
        "API key extractor used on a route without the RequireApiKey middleware"
    );
    AuthRejection::MiddlewareMissing
}

/// The caller, if its key holds permission `P` (declared with [`crate::permission!`]);
/// otherwise 403 `insufficient_permission` with the scope, in the middleware's realm and body
/// shape. A per-handler check behind a middleware that guards a wider scope. The check is
/// vault-core's [`Answers::permit`]; this type only makes it an extractor.
///
/// ```
/// use vault_actix::RequirePermission;
///
/// vault_actix::permission!(pub JobsCreate = "jobs:create");
///
/// async fn create_job(caller: RequirePermission<JobsCreate>) -> String {
///     format!("created for {}", caller.workspace_id())
/// }
/// # let _ = actix_web::App::new().route("/jobs", actix_web::web::post().to(create_job));
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

impl<P: PermissionName> FromRequest for RequirePermission<P> {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let permitted = required(request)
            .and_then(|(principal, answers)| answers.permit(principal).map_err(Into::into));
        ready(permitted.map(Self))
    }
}

/// Checks a permission known only at run time (e.g. read from the body) for the caller the
/// middleware verified: the principal, or the same refusal the middleware would give.
///
/// ```
/// use actix_web::{HttpRequest, HttpResponse};
/// use vault_actix::AuthRejection;
///
/// async fn act(request: HttpRequest) -> Result<HttpResponse, AuthRejection> {
///     let permission = "jobs:cancel".parse().expect("a valid permission");
///     let caller = vault_actix::require_permission(&request, &permission)?;
///     Ok(HttpResponse::Ok().body(caller.key_id().to_string()))
/// }
/// ```
pub fn require_permission(
    request: &HttpRequest,
    permission: &Permission,
) -> Result<Principal, AuthRejection> {
    let (principal, answers) = required(request)?;
    answers.require_permission(&principal, permission)?;
    Ok(principal)
}

#[cfg(test)]
mod tests {
    use actix_web::test::{self, TestRequest};
    use actix_web::{App, HttpResponse, web};
    use vault_core::testing::TestKeys;
    use vault_core::{Environment, RejectionBody, Requirement};

    use super::*;
    use crate::{GuardOptions, RequireApiKey};

    async fn who(caller: Caller) -> HttpResponse {
        HttpResponse::Ok().body(caller.key_id().to_string())
    }

    async fn maybe(caller: Option<Caller>) -> HttpResponse {
        HttpResponse::Ok().body(match caller {
            Some(caller) => caller.key_id().to_string(),
            None => "anonymous".to_owned(),
        })
    }

    crate::permission!(JobsDelete = "jobs:delete");

    /// An invalid name cannot get past `permission!`; a hand-written impl can.
    struct Broken;

    impl PermissionName for Broken {
        const PERMISSION: &'static str = "not a permission";
    }

    async fn delete(_: RequirePermission<JobsDelete>) -> HttpResponse {
        HttpResponse::NoContent().finish()
    }

    async fn cancel(request: HttpRequest) -> Result<HttpResponse, AuthRejection> {
        require_permission(&request, &"jobs:delete".parse().unwrap())?;
        Ok(HttpResponse::NoContent().finish())
    }

    async fn broken(_: RequirePermission<Broken>) -> HttpResponse {
        HttpResponse::Ok().finish()
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
        assert!(
            body.contains("without the RequireApiKey middleware"),
            "{body}"
        );
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
            App::new().service(
                web::scope("")
                    .wrap(middleware)
                    .route("/jobs", web::delete().to(delete))
                    .route("/cancel", web::post().to(cancel))
                    .route("/broken", web::get().to(broken)),
            ),
        )
        .await;
        for request in [
            TestRequest::delete().uri("/jobs"),
            TestRequest::post().uri("/cancel"),
        ] {
            let request = request
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
        let request = TestRequest::get()
            .uri("/broken")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request();
        assert_eq!(test::call_service(&app, request).await.status(), 500);
    }

    #[actix_web::test]
    async fn a_permission_held_lets_the_caller_through() {
        let kit = TestKeys::new();
        let token = kit
            .mint("submit", Environment::Production, &["jobs:delete"])
            .await;
        let app = test::init_service(
            App::new().service(
                web::resource("/jobs")
                    .wrap(RequireApiKey::new(kit.keys().clone(), submit()))
                    .to(delete),
            ),
        )
        .await;
        let request = TestRequest::delete()
            .uri("/jobs")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request();
        assert_eq!(test::call_service(&app, request).await.status(), 204);
    }
}

//! The people routes through the router (tower `oneshot`) on the memory store: each success
//! path and its refusals, the session cookie, CSRF with and without a session, bad bodies.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use vault_core::access::{Catalog, Product, ProductRole};
use vault_core::accounts::{Accounts, MailKind, Outbox};
use vault_core::csrf::CsrfKey;
use vault_core::password::{HashParams, Passwords};
use vault_core::totp::{SealingKey, Totp};
use vault_core::{MemoryStore, Pepper, Services};
use vault_server::{CSRF_HEADER, ServerConfig, Vault};

const ORIGIN: &str = "https://vault.example";
const PASSWORD: &str = "violet-otter-planet-92-saxophone";

struct App {
    router: Router,
    keys: vault_core::ApiKeys,
    accounts: Accounts,
    outbox: Outbox,
}

/// One client: its cookies and its CSRF token, as a browser on the Vault's origin keeps them.
#[derive(Default)]
struct Browser {
    cookies: Vec<(String, String)>,
    csrf: Option<String>,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

fn app() -> App {
    let store = Arc::new(MemoryStore::new());
    let outbox = Outbox::new();
    let services = Services::builder(
        store.clone(),
        &Pepper::generate().unwrap(),
        Catalog::new([Product::new("submit")
            .unwrap()
            .role(ProductRole::new("submitter", ["jobs:create", "jobs:read"]).unwrap())])
        .unwrap(),
        Passwords::builder()
            .params(HashParams::INSECURE_FAST)
            .build()
            .unwrap(),
        Totp::new("Vault", SealingKey::generate().unwrap()).unwrap(),
        Arc::new(outbox.clone()),
    )
    .build();
    let accounts = services.accounts.clone();
    let keys = services.keys.clone();
    let vault = Vault::new(
        store,
        services,
        ServerConfig {
            // Not the default, so the 413 must name the configured limit.
            body_limit: 32 * 1024,
            ..ServerConfig::new(ORIGIN)
        },
        CsrfKey::generate().unwrap(),
    );
    App {
        router: vault_server::router(vault),
        keys,
        accounts,
        outbox,
    }
}

impl App {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        assert!(status.as_u16() < 500, "{status}: {body}");
        Answer {
            status,
            headers,
            body,
        }
    }

    /// A request as the browser sends it (its cookies, its token, the Vault's origin).
    async fn call(
        &self,
        browser: &mut Browser,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        if browser.csrf.is_none() && method != "GET" {
            let got = Box::pin(self.call(browser, "GET", "/v1/csrf", None)).await;
            browser.csrf = Some(got.body["token"].as_str().unwrap().to_owned());
        }
        let mut request = Request::builder().method(method).uri(path);
        if !browser.cookies.is_empty() {
            let line: Vec<String> = browser
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect();
            request = request.header(header::COOKIE, line.join("; "));
        }
        if method != "GET" {
            request = request
                .header(header::ORIGIN, ORIGIN)
                .header(CSRF_HEADER, browser.csrf.clone().unwrap());
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        let answer = self.send(request.unwrap()).await;
        for line in answer.headers.get_all(header::SET_COOKIE) {
            let cookie = cookie::Cookie::parse(line.to_str().unwrap().to_owned()).unwrap();
            browser.cookies.retain(|(n, _)| n != cookie.name());
            if !cookie.value().is_empty() {
                browser
                    .cookies
                    .push((cookie.name().to_owned(), cookie.value().to_owned()));
            }
            if cookie.name().contains("session") {
                browser.csrf = None; // a new session: a new token
            }
        }
        answer
    }

    /// Signs up, confirms with the mailed code, signs in: a browser with a session.
    async fn signed_in(&self, email: &str) -> Browser {
        let mut browser = Browser::default();
        let up = self
            .call(
                &mut browser,
                "POST",
                "/v1/sign-up",
                Some(json!({"name": "Ada", "email": email})),
            )
            .await;
        assert_eq!(up.status, StatusCode::ACCEPTED, "{}", up.body);
        self.accounts.deliver_mail().await.unwrap();
        let mail = self.outbox.last_of(MailKind::VerifyEmail, email).unwrap();
        use secrecy::ExposeSecret;
        let code = mail.code.unwrap().expose_secret().to_owned();
        let confirmed = self
            .call(
                &mut browser,
                "POST",
                "/v1/sign-up/confirm",
                Some(json!({"email": email, "code": code, "password": PASSWORD})),
            )
            .await;
        assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
        let signed = self
            .call(
                &mut browser,
                "POST",
                "/v1/sign-in",
                Some(json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(signed.status, StatusCode::OK, "{}", signed.body);
        assert_eq!(signed.body["status"], "signed_in");
        browser
    }
}

#[tokio::test]
async fn sign_up_confirm_sign_in_me_and_sign_out() {
    let app = app();
    let mut ada = app.signed_in("ada@example.com").await;
    let session_cookie = ada
        .cookies
        .iter()
        .find(|(n, _)| n == "__Host-vault_session")
        .cloned();
    let (_, token) = session_cookie.expect("the __Host- session cookie");
    let me = app.call(&mut ada, "GET", "/v1/me", None).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["workspaces"], json!([]));
    assert!(
        !me.body.to_string().contains(&token),
        "the token stays in the cookie"
    );

    let out = app.call(&mut ada, "POST", "/v1/sign-out", None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    // The old cookie, replayed, is refused.
    let mut replay = Browser {
        cookies: vec![("__Host-vault_session".into(), token)],
        csrf: None,
    };
    let me = app.call(&mut replay, "GET", "/v1/me", None).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    assert_eq!(me.body["code"], "not_signed_in");
    assert_eq!(me.headers[header::CONTENT_TYPE], "application/problem+json");
}

#[tokio::test]
async fn the_session_cookie_is_host_only_http_only_secure_and_lax() {
    let app = app();
    let mut browser = Browser::default();
    app.call(
        &mut browser,
        "POST",
        "/v1/sign-up",
        Some(json!({"name": "Ada", "email": "ada@example.com"})),
    )
    .await;
    app.accounts.deliver_mail().await.unwrap();
    let mail = app
        .outbox
        .last_of(MailKind::VerifyEmail, "ada@example.com")
        .unwrap();
    use secrecy::ExposeSecret;
    let token = mail.token.unwrap().expose_secret().to_owned();
    let body = json!({"token": token, "password": PASSWORD});
    app.call(&mut browser, "POST", "/v1/sign-up/confirm", Some(body))
        .await;
    let signed = app
        .call(
            &mut browser,
            "POST",
            "/v1/sign-in",
            Some(json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await;
    let line = signed.headers[header::SET_COOKIE].to_str().unwrap();
    for part in [
        "__Host-vault_session=",
        "HttpOnly",
        "Secure",
        "SameSite=Lax",
        "Path=/",
    ] {
        assert!(line.contains(part), "{line}");
    }
    assert!(!line.contains("Domain"), "{line}");
    assert_eq!(signed.headers[header::CACHE_CONTROL], "no-store");
}

#[tokio::test]
async fn unknown_address_and_wrong_password_answer_alike_and_unverified_accounts_cannot_sign_in() {
    let app = app();
    app.signed_in("ada@example.com").await;
    let mut b = Browser::default();
    let wrong = app
        .call(
            &mut b,
            "POST",
            "/v1/sign-in",
            Some(json!({"email": "ada@example.com", "password": "not it at all"})),
        )
        .await;
    let unknown = app
        .call(
            &mut b,
            "POST",
            "/v1/sign-in",
            Some(json!({"email": "nobody@example.com", "password": "not it at all"})),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!((wrong.status, &wrong.body), (unknown.status, &unknown.body));
    app.call(
        &mut b,
        "POST",
        "/v1/sign-up",
        Some(json!({"name": "Bob", "email": "bob@example.com"})),
    )
    .await;
    let unverified = app
        .call(
            &mut b,
            "POST",
            "/v1/sign-in",
            Some(json!({"email": "bob@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (unverified.status, &unverified.body),
        (unknown.status, &unknown.body)
    );
    // Sign-up and "Forgot password?" answer alike for known and unknown addresses too.
    let known = app
        .call(
            &mut b,
            "POST",
            "/v1/password/forgot",
            Some(json!({"email": "ada@example.com"})),
        )
        .await;
    let none = app
        .call(
            &mut b,
            "POST",
            "/v1/password/forgot",
            Some(json!({"email": "x@example.com"})),
        )
        .await;
    assert_eq!((known.status, &known.body), (none.status, &none.body));
    let again = app
        .call(
            &mut b,
            "POST",
            "/v1/sign-up",
            Some(json!({"name": "A", "email": "ada@example.com"})),
        )
        .await;
    let new = app
        .call(
            &mut b,
            "POST",
            "/v1/sign-up",
            Some(json!({"name": "C", "email": "carol@example.com"})),
        )
        .await;
    assert_eq!((again.status, &again.body), (new.status, &new.body));
}

#[tokio::test]
async fn forgot_password_and_reset_with_the_link() {
    let app = app();
    let mut ada = app.signed_in("ada@example.com").await;
    let forgot = app
        .call(
            &mut ada,
            "POST",
            "/v1/password/forgot",
            Some(json!({"email": "ada@example.com"})),
        )
        .await;
    assert_eq!(forgot.status, StatusCode::ACCEPTED);
    app.accounts.deliver_mail().await.unwrap();
    let mail = app
        .outbox
        .last_of(MailKind::ResetPassword, "ada@example.com")
        .unwrap();
    use secrecy::ExposeSecret;
    let token = mail.token.unwrap().expose_secret().to_owned();
    let new = "a brand new long passphrase 4";
    let body = json!({"token": token, "password": new});
    let reset = app
        .call(&mut ada, "POST", "/v1/password/reset", Some(body.clone()))
        .await;
    assert_eq!(reset.status, StatusCode::NO_CONTENT);
    // Every session ended with the reset; the link works once.
    let me = app.call(&mut ada, "GET", "/v1/me", None).await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let mut fresh = Browser::default();
    let twice = app
        .call(&mut fresh, "POST", "/v1/password/reset", Some(body))
        .await;
    assert_eq!(
        (twice.status, twice.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_token")),
        "the link works once"
    );
    let signed = app
        .call(
            &mut fresh,
            "POST",
            "/v1/sign-in",
            Some(json!({"email": "ada@example.com", "password": new})),
        )
        .await;
    assert_eq!(signed.body["status"], "signed_in");
}

/// A request built by hand: what a page on another site, or a client without the token, sends.
fn post(
    path: &str,
    origin: Option<&str>,
    cookies: &str,
    token: Option<&str>,
    body: Value,
) -> Request<Body> {
    let mut request = Request::post(path).header(header::CONTENT_TYPE, "application/json");
    if let Some(origin) = origin {
        request = request.header(header::ORIGIN, origin);
    }
    if !cookies.is_empty() {
        request = request.header(header::COOKIE, cookies);
    }
    if let Some(token) = token {
        request = request.header(CSRF_HEADER, token);
    }
    request.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test]
async fn unsafe_requests_need_the_origin_and_the_token() {
    let app = app();
    let mut ada = app.signed_in("ada@example.com").await;
    let token = app.call(&mut ada, "GET", "/v1/csrf", None).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookies: Vec<String> = ada
        .cookies
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let cookies = cookies.join("; ");
    let empty = json!({});

    let cross = app
        .send(post(
            "/v1/sign-out",
            Some("https://evil.example"),
            &cookies,
            Some(&token),
            empty.clone(),
        ))
        .await;
    assert_eq!(
        cross.status,
        StatusCode::FORBIDDEN,
        "a cross-origin POST with a valid cookie"
    );
    assert_eq!(cross.body["code"], "csrf_failed");
    let tokenless = app
        .send(post(
            "/v1/sign-out",
            Some(ORIGIN),
            &cookies,
            None,
            empty.clone(),
        ))
        .await;
    assert_eq!(
        tokenless.status,
        StatusCode::FORBIDDEN,
        "a same-origin POST without the token"
    );
    let forged = app
        .send(post(
            "/v1/sign-out",
            Some(ORIGIN),
            &cookies,
            Some("forged"),
            empty.clone(),
        ))
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let sibling = Request::post("/v1/sign-out")
        .header(header::COOKIE, &cookies)
        .header("sec-fetch-site", "same-site")
        .header(CSRF_HEADER, &token)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        app.send(sibling).await.status,
        StatusCode::FORBIDDEN,
        "a sibling subdomain"
    );
    // Still signed in: none of them reached the route.
    assert_eq!(
        app.call(&mut ada, "GET", "/v1/me", None).await.status,
        StatusCode::OK
    );

    // Login CSRF: a cross-origin sign-in is refused even with a pre-session token.
    let mut stranger = Browser::default();
    let pre = app.call(&mut stranger, "GET", "/v1/csrf", None).await;
    let pre_token = pre.body["token"].as_str().unwrap().to_owned();
    let nonce: Vec<String> = stranger
        .cookies
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect();
    let login = json!({"email": "ada@example.com", "password": PASSWORD});
    let cross_login = app
        .send(post(
            "/v1/sign-in",
            Some("https://evil.example"),
            &nonce.join("; "),
            Some(&pre_token),
            login.clone(),
        ))
        .await;
    assert_eq!(cross_login.status, StatusCode::FORBIDDEN);
    let no_cookie = app
        .send(post(
            "/v1/sign-in",
            Some(ORIGIN),
            "",
            Some(&pre_token),
            login.clone(),
        ))
        .await;
    assert_eq!(
        no_cookie.status,
        StatusCode::FORBIDDEN,
        "a token without its cookie"
    );
    let ok = app
        .send(post(
            "/v1/sign-in",
            Some(ORIGIN),
            &nonce.join("; "),
            Some(&pre_token),
            login,
        ))
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn two_session_cookies_are_refused() {
    let app = app();
    let ada = app.signed_in("ada@example.com").await;
    let (_, token) = ada
        .cookies
        .iter()
        .find(|(n, _)| n == "__Host-vault_session")
        .unwrap()
        .clone();
    let request = Request::get("/v1/me")
        .header(
            header::COOKIE,
            format!("__Host-vault_session={token}; __Host-vault_session=planted"),
        )
        .body(Body::empty())
        .unwrap();
    let answer = app.send(request).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_bodies_are_4xx_problems_never_5xx() {
    let app = app();
    let mut b = Browser::default();
    let token = app.call(&mut b, "GET", "/v1/csrf", None).await.body["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let cookies: Vec<String> = b.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect();
    let cookies = cookies.join("; ");
    let raw = |content_type: &str, body: String| {
        Request::post("/v1/sign-up")
            .header(header::ORIGIN, ORIGIN)
            .header(header::COOKIE, &cookies)
            .header(CSRF_HEADER, &token)
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    };
    let pointers = [
        (r#"{"name":"A"}"#, "/email"),
        (
            r#"{"name":"A","email":"a@example.com","admin":true}"#,
            "/admin",
        ),
        (r#"{"name":7,"email":"a@example.com"}"#, "/name"),
    ];
    for (body, pointer) in pointers {
        let answer = app.send(raw("application/json", body.to_owned())).await;
        assert_eq!(answer.body["pointer"], pointer, "{}", answer.body);
    }
    let cases = [
        (
            raw(
                "text/plain",
                r#"{"name":"A","email":"a@example.com"}"#.into(),
            ),
            415,
            "unsupported_media_type",
        ),
        (
            raw("application/json", "{not json".into()),
            400,
            "malformed_body",
        ),
        (
            raw("application/json", r#"{"name":"A"}"#.into()),
            400,
            "malformed_body",
        ),
        (
            raw(
                "application/json",
                r#"{"name":"A","email":"a@example.com","admin":true}"#.into(),
            ),
            400,
            "malformed_body",
        ),
        (
            raw(
                "application/json",
                r#"{"name":7,"email":"a@example.com"}"#.into(),
            ),
            400,
            "malformed_body",
        ),
        (
            raw(
                "application/json",
                format!(
                    r#"{{"name":"{}","email":"a@example.com"}}"#,
                    "x".repeat(70_000)
                ),
            ),
            413,
            "body_too_large",
        ),
        (
            raw(
                "application/json",
                r#"{"name":"A","email":"not an address"}"#.into(),
            ),
            422,
            "invalid_email",
        ),
    ];
    for (request, status, code) in cases {
        let answer = app.send(request).await;
        assert_eq!(
            (answer.status.as_u16(), answer.body["code"].as_str()),
            (status, Some(code)),
            "{}",
            answer.body
        );
        assert_eq!(
            answer.headers[header::CONTENT_TYPE],
            "application/problem+json"
        );
    }
}

#[tokio::test]
async fn every_route_is_in_the_openapi_document_and_health_answers() {
    let app = app();
    let mut b = Browser::default();
    let doc = app.call(&mut b, "GET", "/v1/openapi.json", None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc.body["paths"].as_object().unwrap();
    for path in [
        "/health",
        "/ready",
        "/v1/csrf",
        "/v1/sign-up",
        "/v1/sign-up/resend",
        "/v1/sign-up/confirm",
        "/v1/sign-in",
        "/v1/sign-in/two-factor",
        "/v1/sign-in/mailed-code",
        "/v1/sign-out",
        "/v1/me",
        "/v1/password/forgot",
        "/v1/password/reset",
        "/v1/sessions",
        "/v1/sessions/{id}",
        "/v1/sign-out/everywhere",
        "/v1/profile/name",
        "/v1/password/change",
        "/v1/workspaces",
        "/v1/workspaces/{id}",
        "/v1/session/workspace",
        "/v1/workspaces/{id}/members",
        "/v1/catalog",
        "/v1/workspaces/{id}/subscriptions/{product}",
        "/v1/workspaces/{id}/grants",
        "/v1/workspaces/{id}/grants/revoke",
        "/v1/workspaces/{id}/keys",
        "/v1/keys/{key_id}/rotate",
        "/v1/keys/{key_id}/revoke",
        "/v1/workspaces/{id}/members/{user_id}/role",
        "/v1/workspaces/{id}/members/{user_id}",
        "/v1/workspaces/{id}/invitations",
        "/v1/workspaces/{id}/invitations/{invitation_id}",
        "/v1/invitations/accept",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    assert_eq!(
        app.call(&mut b, "GET", "/health", None).await.body["status"],
        "ok"
    );
    assert_eq!(
        app.call(&mut b, "GET", "/ready", None).await.body["status"],
        "ok"
    );
    let missing = app.call(&mut b, "GET", "/v1/nothing-here", None).await;
    assert_eq!(
        (missing.status, missing.body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}

#[tokio::test]
async fn sessions_are_listed_ended_one_by_one_or_everywhere() {
    let app = app();
    let mut laptop = app.signed_in("ada@example.com").await;
    let mut phone = Browser::default();
    let signed = app
        .call(
            &mut phone,
            "POST",
            "/v1/sign-in",
            Some(json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await;
    let phone_id = signed.body["session"]["id"].as_str().unwrap().to_owned();
    let listed = app.call(&mut laptop, "GET", "/v1/sessions", None).await;
    assert_eq!(listed.body["sessions"].as_array().unwrap().len(), 2);
    assert_ne!(listed.body["current"], phone_id.as_str());

    let ended = app
        .call(
            &mut laptop,
            "DELETE",
            &format!("/v1/sessions/{phone_id}"),
            None,
        )
        .await;
    assert_eq!(ended.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.call(&mut phone, "GET", "/v1/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let again = app
        .call(
            &mut laptop,
            "DELETE",
            &format!("/v1/sessions/{phone_id}"),
            None,
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let not_a_uuid = app
        .call(&mut laptop, "DELETE", "/v1/sessions/not-a-uuid", None)
        .await;
    assert_eq!(
        not_a_uuid.body["code"], "not_found",
        "a problem body, not plain text"
    );

    let all = app
        .call(&mut laptop, "POST", "/v1/sign-out/everywhere", None)
        .await;
    assert_eq!(all.body["ended"], 1);
    assert_eq!(
        app.call(&mut laptop, "GET", "/v1/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_name_and_the_password_change() {
    let app = app();
    let mut ada = app.signed_in("ada@example.com").await;
    let named = app
        .call(
            &mut ada,
            "PUT",
            "/v1/profile/name",
            Some(json!({"name": "Countess"})),
        )
        .await;
    assert_eq!(named.status, StatusCode::NO_CONTENT);
    let blank = app
        .call(
            &mut ada,
            "PUT",
            "/v1/profile/name",
            Some(json!({"name": "  "})),
        )
        .await;
    assert_eq!(blank.body["code"], "invalid_name");

    let mut other = Browser::default();
    app.call(
        &mut other,
        "POST",
        "/v1/sign-in",
        Some(json!({"email": "ada@example.com", "password": PASSWORD})),
    )
    .await;
    let new = "amber lantern drifting over 7 dunes";
    let wrong = app
        .call(
            &mut ada,
            "POST",
            "/v1/password/change",
            Some(json!({"current": "nope nope nope", "new": new})),
        )
        .await;
    assert_eq!(
        wrong.body["code"], "wrong_current_password",
        "{}",
        wrong.body
    );
    let changed = app
        .call(
            &mut ada,
            "POST",
            "/v1/password/change",
            Some(json!({"current": PASSWORD, "new": new})),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
    // This session goes on with its new cookie; the other one ended.
    assert_eq!(
        app.call(&mut ada, "GET", "/v1/me", None).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.call(&mut other, "GET", "/v1/me", None).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_workspace_owner_activates_submit_grants_a_role_and_mints_rotates_and_revokes_a_key() {
    use vault_core::{AuthError, Environment, Requirement};
    let app = app();
    let mut ada = app.signed_in("ada@example.com").await;
    let me = app.call(&mut ada, "GET", "/v1/me", None).await;
    let user_id = me.body["user_id"].as_str().unwrap().to_owned();
    let created = app
        .call(
            &mut ada,
            "POST",
            "/v1/workspaces",
            Some(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let ws = created.body["id"].as_str().unwrap().to_owned();
    let switched = app
        .call(
            &mut ada,
            "POST",
            "/v1/session/workspace",
            Some(json!({"workspace_id": ws})),
        )
        .await;
    assert_eq!(switched.body["active_workspace"], ws.as_str());
    let mint_body = json!({"product": "submit", "environment": "production",
        "permissions": ["jobs:create"], "name": "ci"});
    let mint = format!("/v1/workspaces/{ws}/keys");

    // Membership alone grants no product: no key yet.
    let refused = app
        .call(&mut ada, "POST", &mint, Some(mint_body.clone()))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    let active = app
        .call(
            &mut ada,
            "PUT",
            &format!("/v1/workspaces/{ws}/subscriptions/submit"),
            None,
        )
        .await;
    assert_eq!(active.status, StatusCode::OK, "{}", active.body);
    let grant = json!({"user_id": user_id, "product": "submit", "role": "submitter"});
    let granted = app
        .call(
            &mut ada,
            "POST",
            &format!("/v1/workspaces/{ws}/grants"),
            Some(grant),
        )
        .await;
    assert_eq!(granted.status, StatusCode::CREATED, "{}", granted.body);

    let minted = app.call(&mut ada, "POST", &mint, Some(mint_body)).await;
    assert_eq!(minted.status, StatusCode::CREATED, "{}", minted.body);
    assert_eq!(minted.headers[header::CACHE_CONTROL], "no-store");
    let old = minted.body["token"].as_str().unwrap().to_owned();
    let id = minted.body["id"].as_str().unwrap().to_owned();
    let need = Requirement::new("submit".parse().unwrap(), Environment::Production)
        .with_permission("jobs:create".parse().unwrap());
    assert!(app.keys.verify(&old, &need).await.is_ok());
    let listed = app.call(&mut ada, "GET", &mint, None).await;
    assert!(
        !listed.body.to_string().contains(&old),
        "a list never shows a token"
    );
    assert_eq!(listed.body.as_array().unwrap().len(), 1);

    let rotated = app
        .call(
            &mut ada,
            "POST",
            &format!("/v1/keys/{id}/rotate"),
            Some(json!({"overlap_seconds": 3600})),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    let new = rotated.body["token"].as_str().unwrap().to_owned();
    assert!(
        app.keys.verify(&old, &need).await.is_ok(),
        "both work in the overlap"
    );
    assert!(app.keys.verify(&new, &need).await.is_ok());
    let revoked = app
        .call(&mut ada, "POST", &format!("/v1/keys/{id}/revoke"), None)
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(matches!(
        app.keys.verify(&old, &need).await,
        Err(AuthError::InvalidKey(_))
    ));
    assert!(app.keys.verify(&new, &need).await.is_ok());
    let unknown = app
        .call(&mut ada, "POST", "/v1/keys/not-a-key-id/revoke", None)
        .await;
    assert_eq!(unknown.status.as_u16() / 100, 4, "{}", unknown.body);

    // Another person, not a member, sees nothing of the workspace.
    let mut bob = app.signed_in("bob@example.com").await;
    let theirs = app.call(&mut bob, "GET", &mint, None).await;
    assert_eq!(theirs.body["code"], "not_a_member", "{}", theirs.body);
    assert_eq!(
        theirs.status,
        StatusCode::NOT_FOUND,
        "a workspace not mine does not exist for me"
    );
    let members = app
        .call(
            &mut bob,
            "GET",
            &format!("/v1/workspaces/{ws}/members"),
            None,
        )
        .await;
    assert_eq!(members.body["code"], "not_a_member", "{}", members.body);
    let catalog = app.call(&mut bob, "GET", "/v1/catalog", None).await;
    assert_eq!(catalog.body[0]["id"], "submit");
}

#[tokio::test]
async fn invitations_bring_members_whose_roles_change_and_who_leave() {
    let app = app();
    let mut ada = app.signed_in("ada@example.com").await;
    let mut bob = app.signed_in("bob@example.com").await;
    let mut eve = app.signed_in("eve@example.com").await;
    let me = app.call(&mut ada, "GET", "/v1/me", None).await;
    assert_eq!(me.body["email"], "ada@example.com");
    let ada_id = me.body["user_id"].as_str().unwrap().to_owned();
    let bob_id = app.call(&mut bob, "GET", "/v1/me", None).await.body["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws = app
        .call(
            &mut ada,
            "POST",
            "/v1/workspaces",
            Some(json!({"name": "Acme"})),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let invitations = format!("/v1/workspaces/{ws}/invitations");
    let invited = app
        .call(
            &mut ada,
            "POST",
            &invitations,
            Some(json!({"email": "bob@example.com", "role": "member"})),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert_eq!(invited.headers[header::CACHE_CONTROL], "no-store");
    let token = invited.body["token"].as_str().unwrap().to_owned();
    let listed = app.call(&mut ada, "GET", &invitations, None).await;
    assert!(
        !listed.body.to_string().contains(&token),
        "a list never shows a token"
    );

    // Only the invited account accepts it, once.
    let wrong = app
        .call(
            &mut eve,
            "POST",
            "/v1/invitations/accept",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(wrong.status.as_u16() / 100, 4, "{}", wrong.body);
    let accepted = app
        .call(
            &mut bob,
            "POST",
            "/v1/invitations/accept",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let again = app
        .call(
            &mut bob,
            "POST",
            "/v1/invitations/accept",
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(again.status.as_u16() / 100, 4, "single use: {}", again.body);
    let members = app
        .call(
            &mut ada,
            "GET",
            &format!("/v1/workspaces/{ws}/members"),
            None,
        )
        .await;
    assert_eq!(members.body.as_array().unwrap().len(), 2);

    // A revoked invitation is refused.
    let second = app
        .call(
            &mut ada,
            "POST",
            &invitations,
            Some(json!({"email": "eve@example.com", "role": "member"})),
        )
        .await;
    let second_id = second.body["id"].as_str().unwrap().to_owned();
    let second_token = second.body["token"].as_str().unwrap().to_owned();
    let revoked = app
        .call(
            &mut ada,
            "DELETE",
            &format!("{invitations}/{second_id}"),
            None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    let late = app
        .call(
            &mut eve,
            "POST",
            "/v1/invitations/accept",
            Some(json!({"token": second_token})),
        )
        .await;
    assert_eq!(late.status.as_u16() / 100, 4, "{}", late.body);

    // Roles: a member cannot promote itself; the owner promotes; the last owner stays.
    let role = |user: &str| format!("/v1/workspaces/{ws}/members/{user}/role");
    let selfish = app
        .call(
            &mut bob,
            "PUT",
            &role(&bob_id),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(selfish.status, StatusCode::FORBIDDEN, "{}", selfish.body);
    let promoted = app
        .call(
            &mut ada,
            "PUT",
            &role(&bob_id),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(promoted.body["role"], "admin", "{}", promoted.body);
    let bad_role = app
        .call(
            &mut ada,
            "PUT",
            &role(&bob_id),
            Some(json!({"role": "emperor"})),
        )
        .await;
    assert_eq!(bad_role.body["pointer"], "/role");
    let last_owner = app
        .call(
            &mut ada,
            "DELETE",
            &format!("/v1/workspaces/{ws}/members/{ada_id}"),
            None,
        )
        .await;
    assert_eq!(
        last_owner.status.as_u16() / 100,
        4,
        "the last owner cannot leave: {}",
        last_owner.body
    );

    // Bob leaves: the workspace is gone from his list.
    let left = app
        .call(
            &mut bob,
            "DELETE",
            &format!("/v1/workspaces/{ws}/members/{bob_id}"),
            None,
        )
        .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT, "{}", left.body);
    let his = app.call(&mut bob, "GET", "/v1/workspaces", None).await;
    assert_eq!(his.body, json!([]));
}

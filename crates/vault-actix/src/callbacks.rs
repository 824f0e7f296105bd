//! Receiving signed callbacks in actix-web: the [`VerifiedCallbackBody`] extractor buffers the
//! payload up to the verifier's limit and verifies it with vault-core's [`CallbackVerifier`];
//! a refusal answers vault-core's [`CallbackRejection`], translated by status number and
//! header strings, so an actix receiver answers like vault-axum's and vault-tower's.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web::{self, Bytes};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError};
use vault_core::Problem;
use vault_core::callbacks::{
    CallbackDefect, CallbackHeaders, CallbackRejection, CallbackVerifier, VerifiedCallback,
};

use crate::problem::problem_response;

/// The body of a callback whose signature verified, with its message id and timestamp.
///
/// The verifier is the app's `web::Data<CallbackVerifier>`. A refusal answers 401 (413 for a
/// body over [`CallbackVerifier::body_limit`]) with `application/problem+json` before the
/// handler runs; without the verifier in app data, 500 (a programming error, not a 401).
///
/// ```
/// use actix_web::{App, HttpResponse, web};
/// use vault_actix::VerifiedCallbackBody;
/// use vault_core::callbacks::{CallbackVerifier, ReplayGuard};
///
/// async fn job_events(callback: VerifiedCallbackBody) -> HttpResponse {
///     println!("{} at {}: {} bytes", callback.id(), callback.timestamp(), callback.body().len());
///     HttpResponse::NoContent().finish()
/// }
///
/// # fn main() -> Result<(), vault_core::Error> {
/// let verifier = CallbackVerifier::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?)
///     .replay_guard(ReplayGuard::new(10_000));
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

    /// The verdict and the body.
    pub fn into_parts(self) -> (VerifiedCallback, Bytes) {
        (self.callback, self.body)
    }
}

impl FromRequest for VerifiedCallbackBody {
    type Error = CallbackRefused;
    type Future = Pin<Box<dyn Future<Output = Result<Self, CallbackRefused>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let verifier = request
                .app_data::<web::Data<CallbackVerifier>>()
                .cloned()
                .ok_or(CallbackRefused::VerifierMissing)?;
            let limit = verifier.body_limit();
            let headers = request.headers();
            let declared = headers
                .get(CONTENT_LENGTH)
                .and_then(|value| value.to_str().ok());
            CallbackRejection::check_content_length(declared, limit)?;
            let payload = web::Payload::from_request(&request, &mut payload)
                .await
                .map_err(|_| CallbackRejection::unreadable_body())?;
            let body = match payload.to_bytes_limited(limit).await {
                Ok(Ok(body)) => body,
                Ok(Err(_)) => return Err(CallbackRejection::unreadable_body().into()),
                Err(_) => return Err(CallbackDefect::BodyTooLarge { limit }.into()),
            };
            let lookup = CallbackHeaders::from_lookup(|name| {
                headers.get(name).and_then(|value| value.to_str().ok())
            });
            let callback = verifier.verify(&lookup, &body)?;
            Ok(Self { callback, body })
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
    /// A row of vault-core's callback rejection table (401, 413 or 400).
    Refused(CallbackRejection),
    /// No `web::Data<CallbackVerifier>` in the app data: a programming error (500).
    VerifierMissing,
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
                "vault-actix: VerifiedCallbackBody needs a web::Data<CallbackVerifier> in the \
                 app data (App::app_data)",
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
            Self::VerifierMissing => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Refused(rejection) => problem_response(rejection.problem()),
            Self::VerifierMissing => problem_response(&Problem::misconfigured(&self.to_string())),
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
    async fn stale_missing_and_replayed_callbacks_are_refused() {
        let receiver = Receiver::new(|v| v.replay_guard(Arc::new(ReplayGuard::new(16))));
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
        assert_eq!(
            receiver.refusal(request(&signed, BODY)).await,
            (401, "replayed".to_owned())
        );

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
}

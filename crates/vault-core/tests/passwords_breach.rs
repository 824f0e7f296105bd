//! The breached-password check: found, not found, and a source that cannot answer, failing
//! open or closed; over HTTP against a local range server (feature `breach-http`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use secrecy::SecretString;
use vault_core::Error;
use vault_core::password::{
    BreachCheck, BreachCheckFailed, HashParams, OnBreachCheckFailure, PasswordDefect,
    PasswordDigest, Passwords, PolicyContext,
};

const BREACHED: &str = "a bicycle leaning on the old barn";
const FRESH: &str = "seven otters rebuilt the weir";
const ALONE: PolicyContext<'static> = PolicyContext {
    email: None,
    name: None,
    two_factor: false,
};

fn passwords(check: Arc<dyn BreachCheck>, on_failure: OnBreachCheckFailure) -> Passwords {
    Passwords::builder()
        .params(HashParams::INSECURE_FAST)
        .breach_check(check, on_failure)
        .build()
        .unwrap()
}

fn defect(result: Result<(), Error>) -> Option<PasswordDefect> {
    match result {
        Ok(()) => None,
        Err(Error::Password(defect)) => Some(defect),
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// Knows one breached password; or fails every time; counts the questions.
struct InMemory {
    breached: Option<PasswordDigest>,
    asked: AtomicUsize,
}

impl InMemory {
    fn knowing(password: &str) -> Arc<Self> {
        Arc::new(Self {
            breached: Some(PasswordDigest::of(&SecretString::from(password))),
            asked: AtomicUsize::new(0),
        })
    }

    fn down() -> Arc<Self> {
        Arc::new(Self {
            breached: None,
            asked: AtomicUsize::new(0),
        })
    }
}

#[async_trait]
impl BreachCheck for InMemory {
    async fn times_seen(&self, digest: &PasswordDigest) -> Result<u64, BreachCheckFailed> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let Some(breached) = &self.breached else {
            return Err(BreachCheckFailed("down".into()));
        };
        let found = breached.prefix() == digest.prefix() && breached.suffix() == digest.suffix();
        Ok(if found { 3 } else { 0 })
    }
}

async fn check(passwords: &Passwords, password: &str) -> Option<PasswordDefect> {
    defect(
        passwords
            .check_new(&SecretString::from(password), &ALONE)
            .await,
    )
}

#[tokio::test]
async fn a_breached_password_is_refused_and_a_fresh_one_accepted() {
    let source = InMemory::knowing(BREACHED);
    let p = passwords(source.clone(), OnBreachCheckFailure::Refuse);
    assert_eq!(check(&p, BREACHED).await, Some(PasswordDefect::Breached));
    assert_eq!(check(&p, FRESH).await, None);
    assert_eq!(source.asked.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_local_rules_come_first_and_spare_the_question() {
    let source = InMemory::knowing(BREACHED);
    let p = passwords(source.clone(), OnBreachCheckFailure::Refuse);
    assert_eq!(
        check(&p, "too short").await,
        Some(PasswordDefect::TooShort { min: 15 })
    );
    assert_eq!(source.asked.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_source_that_cannot_answer_fails_open_or_closed_as_configured() {
    let open = passwords(InMemory::down(), OnBreachCheckFailure::Accept);
    assert_eq!(check(&open, FRESH).await, None);
    let closed = passwords(InMemory::down(), OnBreachCheckFailure::Refuse);
    assert_eq!(
        check(&closed, FRESH).await,
        Some(PasswordDefect::BreachCheckUnavailable)
    );
}

#[tokio::test]
async fn without_a_breach_check_only_the_local_rules_apply() {
    let p = Passwords::builder()
        .params(HashParams::INSECURE_FAST)
        .build()
        .unwrap();
    assert_eq!(check(&p, BREACHED).await, None);
}

#[cfg(feature = "breach-http")]
mod over_http {
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use std::time::Duration;

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    use vault_core::password::HibpRange;

    use super::*;

    /// The prefix asked for and the `Add-Padding` header of each request.
    type Request = (String, Option<String>);

    #[derive(Clone, Default)]
    struct Seen {
        requests: Arc<Mutex<Vec<Request>>>,
    }

    /// A range server that knows `BREACHED` (seen 42 times), pads its answers with count-0
    /// lines, and records what it was asked.
    async fn range_server() -> (SocketAddr, Seen) {
        let seen = Seen::default();
        let app =
            Router::new()
                .route(
                    "/range/{prefix}",
                    get(
                        |State(seen): State<Seen>,
                         Path(prefix): Path<String>,
                         headers: HeaderMap| async move {
                            let padding = headers
                                .get("add-padding")
                                .and_then(|v| v.to_str().ok())
                                .map(str::to_owned);
                            seen.requests
                                .lock()
                                .unwrap()
                                .push((prefix.clone(), padding));
                            let breached = PasswordDigest::of(&SecretString::from(BREACHED));
                            let mut body =
                                String::from("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n");
                            if prefix == breached.prefix() {
                                body.push_str(&format!("{}:42\r\n", breached.suffix()));
                            }
                            body.push_str("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:0\r\n");
                            body
                        },
                    ),
                )
                .route(
                    "/broken/range/{prefix}",
                    get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
                )
                .route(
                    "/slow/range/{prefix}",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        ""
                    }),
                )
                .with_state(seen.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (addr, seen)
    }

    fn client(base: String) -> Arc<HibpRange> {
        Arc::new(HibpRange::with_base_url(base, Duration::from_millis(500)).unwrap())
    }

    /// An address nothing listens on.
    async fn closed_port() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn found_and_not_found_and_only_the_prefix_is_sent() {
        let (addr, seen) = range_server().await;
        let range = client(format!("http://{addr}/"));
        let digest = PasswordDigest::of(&SecretString::from(BREACHED));
        assert_eq!(range.times_seen(&digest).await.unwrap(), 42);

        let p = passwords(range, OnBreachCheckFailure::Refuse);
        assert_eq!(check(&p, BREACHED).await, Some(PasswordDefect::Breached));
        assert_eq!(check(&p, FRESH).await, None);

        let requests = seen.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 3);
        let fresh = PasswordDigest::of(&SecretString::from(FRESH));
        assert_eq!(requests[2].0, fresh.prefix());
        for (prefix, padding) in requests {
            assert_eq!(prefix.len(), 5, "k-anonymity: 5 hex characters, never more");
            assert_eq!(padding.as_deref(), Some("true"));
        }
    }

    #[tokio::test]
    async fn a_server_that_is_down_fails_open_or_closed() {
        let base = closed_port().await;
        let open = passwords(client(base.clone()), OnBreachCheckFailure::Accept);
        assert_eq!(check(&open, FRESH).await, None);
        let closed = passwords(client(base), OnBreachCheckFailure::Refuse);
        assert_eq!(
            check(&closed, FRESH).await,
            Some(PasswordDefect::BreachCheckUnavailable)
        );
    }

    #[tokio::test]
    async fn an_error_status_or_a_timeout_is_a_failure_not_a_clean_bill() {
        let (addr, _) = range_server().await;
        for path in ["broken", "slow"] {
            let range = client(format!("http://{addr}/{path}"));
            assert!(
                range
                    .times_seen(&PasswordDigest::of(&SecretString::from(BREACHED)))
                    .await
                    .is_err(),
                "{path}"
            );
            let closed = passwords(range.clone(), OnBreachCheckFailure::Refuse);
            assert_eq!(
                check(&closed, BREACHED).await,
                Some(PasswordDefect::BreachCheckUnavailable),
                "{path}"
            );
            let open = passwords(range, OnBreachCheckFailure::Accept);
            assert_eq!(check(&open, BREACHED).await, None, "{path}");
        }
    }
}

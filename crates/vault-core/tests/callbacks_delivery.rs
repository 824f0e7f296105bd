//! Delivery (feature `delivery`) against a scripted receiver on 127.0.0.1: retries with
//! backoff on network errors, 5xx, 429 and 409 (honouring `Retry-After`), none on other 4xx
//! or redirects, bounded attempts, and the record of every attempt.
#![cfg(feature = "delivery")]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use vault_core::Error;
use vault_core::callbacks::{
    AttemptFailure, CallbackDefect, CallbackHeaders, CallbackSecret, CallbackSender,
    CallbackSigner, CallbackVerifier, DeliveryOutcome, RetryPolicy,
};

/// One scripted answer of the receiver.
#[derive(Clone)]
struct Reply {
    status: u16,
    header: Option<(&'static str, String)>,
    delay: Duration,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        header: None,
        delay: Duration::ZERO,
    }
}

fn with_header(status: u16, name: &'static str, value: impl Into<String>) -> Reply {
    Reply {
        header: Some((name, value.into())),
        ..reply(status)
    }
}

/// What the receiver saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    id: String,
    verified: bool,
    at: Instant,
}

#[derive(Clone)]
struct Receiver {
    script: Arc<Mutex<VecDeque<Reply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
    verifier: Arc<CallbackVerifier>,
}

async fn hook(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let lookup = CallbackHeaders::from_lookup(|name| headers.get(name)?.to_str().ok());
    let verified = receiver.verifier.verify(&lookup, &body).is_ok();
    receiver.seen.lock().unwrap().push(Seen {
        id: lookup.id.unwrap_or_default().to_owned(),
        verified,
        at,
    });
    let next = receiver.script.lock().unwrap().pop_front();
    let Reply {
        status,
        header,
        delay,
    } = next.unwrap_or_else(|| reply(204));
    tokio::time::sleep(delay).await;
    let mut response = StatusCode::from_u16(status).unwrap().into_response();
    if let Some((name, value)) = header {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_str(&value).unwrap());
    }
    response
}

/// Starts a receiver on 127.0.0.1 (port 0) that answers `script` in order, then 204.
async fn start(secret: &CallbackSecret, script: Vec<Reply>) -> (String, Receiver) {
    let receiver = Receiver {
        script: Arc::new(Mutex::new(script.into())),
        seen: Arc::default(),
        verifier: Arc::new(CallbackVerifier::new(secret.clone())),
    };
    let app = Router::new()
        .route("/hook", post(hook))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), receiver)
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_secs(5),
        jitter: 0.0,
        attempt_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    }
}

fn sender(secret: &CallbackSecret, policy: RetryPolicy) -> CallbackSender {
    CallbackSender::new(CallbackSigner::new(secret.clone()), policy).unwrap()
}

const BODY: &[u8] = br#"{"type":"job.created","data":{"job_id":"job_42"}}"#;

#[tokio::test]
async fn a_failing_receiver_gets_retries_until_it_succeeds() {
    let secret = CallbackSecret::generate().unwrap();
    let (url, receiver) = start(&secret, vec![reply(503), reply(500), reply(429)]).await;
    let report = sender(&secret, fast_policy())
        .send(&url, "msg_1", BODY)
        .await
        .unwrap();

    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    assert!(report.is_delivered());
    assert_eq!(report.message_id, "msg_1");
    let statuses: Vec<_> = report.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(500), Some(429), Some(204)]);
    let numbers: Vec<_> = report.attempts.iter().map(|a| a.number).collect();
    assert_eq!(numbers, [1, 2, 3, 4]);
    // Exponential: 10, 20, 40 ms (no jitter), none after the last.
    let delays: Vec<_> = report.attempts.iter().map(|a| a.next_delay).collect();
    assert_eq!(
        delays,
        [10, 20, 40]
            .map(|ms| Some(Duration::from_millis(ms)))
            .into_iter()
            .chain([None])
            .collect::<Vec<_>>()
    );
    assert!(
        report.attempts[..3]
            .iter()
            .all(|a| a.failure == Some(AttemptFailure::Status))
    );
    assert_eq!(report.attempts[3].failure, None);

    // Every attempt was signed (and verified) with the same message id, and the gaps
    // between them are at least the backoff.
    let seen = receiver.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 4);
    assert!(seen.iter().all(|s| s.verified && s.id == "msg_1"));
    assert!(seen[3].at - seen[2].at >= Duration::from_millis(40));
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let secret = CallbackSecret::generate().unwrap();
    let (url, receiver) = start(&secret, vec![with_header(429, "retry-after", "1")]).await;
    let report = sender(&secret, fast_policy())
        .send(&url, "msg_1", BODY)
        .await
        .unwrap();
    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    assert_eq!(report.attempts.len(), 2);
    assert_eq!(report.attempts[0].retry_after, Some(Duration::from_secs(1)));
    assert_eq!(report.attempts[0].next_delay, Some(Duration::from_secs(1)));
    let seen = receiver.seen.lock().unwrap().clone();
    assert!(seen[1].at - seen[0].at >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_retry_after_beyond_the_policy_ends_the_delivery() {
    let secret = CallbackSecret::generate().unwrap();
    let (url, receiver) = start(&secret, vec![with_header(503, "retry-after", "3600")]).await;
    let started = Instant::now();
    let report = sender(&secret, fast_policy())
        .send(&url, "msg_1", BODY)
        .await
        .unwrap();
    assert_eq!(report.outcome, DeliveryOutcome::Exhausted);
    assert_eq!(report.attempts.len(), 1);
    assert_eq!(
        report.attempts[0].retry_after,
        Some(Duration::from_secs(3600))
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(receiver.seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_receiver_still_handling_an_earlier_attempt_is_asked_again_after_its_wait() {
    let secret = CallbackSecret::generate().unwrap();
    let (url, receiver) = start(&secret, vec![with_header(409, "retry-after", "1")]).await;
    let report = sender(&secret, fast_policy())
        .send(&url, "msg_1", BODY)
        .await
        .unwrap();
    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    assert_eq!(report.attempts.len(), 2);
    assert_eq!(report.attempts[0].status, Some(409));
    assert_eq!(report.attempts[0].next_delay, Some(Duration::from_secs(1)));
    let seen = receiver.seen.lock().unwrap();
    assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_secs(1));
    assert!(seen.iter().all(|s| s.id == "msg_1" && s.verified));
}

#[tokio::test]
async fn other_client_errors_are_not_retried() {
    let secret = CallbackSecret::generate().unwrap();
    for status in [400, 401, 404, 410] {
        let (url, receiver) = start(&secret, vec![reply(status)]).await;
        let report = sender(&secret, fast_policy())
            .send(&url, "msg_1", BODY)
            .await
            .unwrap();
        assert_eq!(report.outcome, DeliveryOutcome::Rejected, "{status}");
        assert_eq!(report.attempts.len(), 1);
        assert_eq!(report.attempts[0].status, Some(status));
        assert_eq!(report.attempts[0].next_delay, None);
        assert_eq!(receiver.seen.lock().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn attempts_are_bounded() {
    let secret = CallbackSecret::generate().unwrap();
    let (url, receiver) = start(&secret, vec![reply(503); 10]).await;
    let policy = RetryPolicy {
        max_attempts: 3,
        ..fast_policy()
    };
    let report = sender(&secret, policy)
        .send(&url, "msg_1", BODY)
        .await
        .unwrap();
    assert_eq!(report.outcome, DeliveryOutcome::Exhausted);
    assert_eq!(report.attempts.len(), 3);
    assert_eq!(report.attempts[2].next_delay, None);
    assert_eq!(receiver.seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let secret = CallbackSecret::generate().unwrap();
    let (elsewhere, other) = start(&secret, vec![]).await;
    for status in [302, 307, 308] {
        let (url, _) = start(&secret, vec![with_header(status, "location", &elsewhere)]).await;
        let report = sender(&secret, fast_policy())
            .send(&url, "msg_1", BODY)
            .await
            .unwrap();
        assert_eq!(report.outcome, DeliveryOutcome::Rejected);
        assert_eq!(report.attempts.len(), 1);
        assert_eq!(report.attempts[0].status, Some(status));
    }
    assert!(other.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn network_errors_are_retried_and_recorded() {
    // A port that was just free: connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let secret = CallbackSecret::generate().unwrap();
    let policy = RetryPolicy {
        max_attempts: 3,
        ..fast_policy()
    };
    let report = sender(&secret, policy)
        .send(&format!("http://{addr}/hook"), "msg_1", BODY)
        .await
        .unwrap();
    assert_eq!(report.outcome, DeliveryOutcome::Exhausted);
    assert_eq!(report.attempts.len(), 3);
    for attempt in &report.attempts {
        assert_eq!(attempt.status, None);
        assert_eq!(attempt.failure, Some(AttemptFailure::Connect));
    }
}

#[tokio::test]
async fn a_slow_receiver_times_out_and_is_retried() {
    let secret = CallbackSecret::generate().unwrap();
    let slow = Reply {
        delay: Duration::from_secs(3),
        ..reply(204)
    };
    let (url, receiver) = start(&secret, vec![slow]).await;
    let policy = RetryPolicy {
        attempt_timeout: Duration::from_millis(300),
        ..fast_policy()
    };
    let report = sender(&secret, policy)
        .send(&url, "msg_1", BODY)
        .await
        .unwrap();
    assert_eq!(report.outcome, DeliveryOutcome::Delivered);
    assert_eq!(report.attempts[0].failure, Some(AttemptFailure::Timeout));
    assert!(report.attempts[0].elapsed < Duration::from_secs(2));
    assert_eq!(report.attempts[1].status, Some(204));
    assert_eq!(receiver.seen.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn nothing_is_sent_for_a_refused_callback() {
    let secret = CallbackSecret::generate().unwrap();
    let (url, receiver) = start(&secret, vec![]).await;
    let sender = sender(&secret, fast_policy());
    let refused = sender.send(&url, "msg.1", BODY).await;
    assert!(matches!(
        refused,
        Err(Error::Callback(CallbackDefect::MalformedId))
    ));
    let refused = sender.send("ftp://127.0.0.1/hook", "msg_1", BODY).await;
    assert!(matches!(
        refused,
        Err(Error::Callback(CallbackDefect::InvalidUrl))
    ));
    assert!(receiver.seen.lock().unwrap().is_empty());
}

//! Signed callbacks through the public API, as the product docs describe them: the Standard
//! Webhooks test vectors, tampering, the timestamp window, secret rotation, redeliveries
//! (once processed, in progress, after a failure) and the guard against API keys in payloads.

use std::sync::Arc;

use time::{Duration, OffsetDateTime};
use vault_core::callbacks::{
    CallbackDefect, CallbackHeader, CallbackHeaders, CallbackSecret, CallbackSigner,
    CallbackVerifier, Claim, Delivery, ReplayGuard, SignedHeaders,
};
use vault_core::{
    ApiKeys, Environment, Error, ManualClock, MemoryStore, NewKey, Pepper, PermissionSet, UserId,
    WorkspaceId,
};

const BODY: &[u8] = br#"{"type":"job.created","data":{"job_id":"job_42"}}"#;

struct Vector {
    secret: &'static str,
    id: &'static str,
    timestamp: i64,
    body: &'static str,
    signature: &'static str,
}

/// From the Standard Webhooks repository's own test suites (Python and Rust libraries).
const SPEC_VECTORS: [Vector; 2] = [
    Vector {
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp: 1614265330,
        body: r#"{"test": 2432232314}"#,
        signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    },
    Vector {
        secret: "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        id: "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        timestamp: 1649367553,
        body: r#"{"email":"test@example.com","username":"test_user"}"#,
        signature: "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    },
];

fn clock_at(unix: i64) -> ManualClock {
    ManualClock::new(OffsetDateTime::from_unix_timestamp(unix).unwrap())
}

fn setup() -> (
    CallbackSecret,
    ManualClock,
    CallbackSigner,
    CallbackVerifier,
) {
    let secret = CallbackSecret::generate().unwrap();
    let clock = ManualClock::default();
    let signer = CallbackSigner::new(secret.clone()).clock(clock.clone());
    let verifier = CallbackVerifier::new(secret.clone()).clock(clock.clone());
    (secret, clock, signer, verifier)
}

fn headers<'a>(id: &'a str, timestamp: &'a str, signature: &'a str) -> CallbackHeaders<'a> {
    CallbackHeaders {
        id: Some(id),
        timestamp: Some(timestamp),
        signature: Some(signature),
    }
}

#[test]
fn the_spec_vectors_sign_and_verify() {
    for v in &SPEC_VECTORS {
        let secret: CallbackSecret = v.secret.parse().unwrap();
        let at = OffsetDateTime::from_unix_timestamp(v.timestamp).unwrap();
        let signed = CallbackSigner::new(secret.clone())
            .sign_at(v.id, at, v.body.as_bytes())
            .unwrap();
        assert_eq!(signed.signature(), v.signature, "{}", v.id);

        let verifier = CallbackVerifier::new(secret).clock(clock_at(v.timestamp));
        let ts = v.timestamp.to_string();
        let verified = verifier
            .verify(&headers(v.id, &ts, v.signature), v.body.as_bytes())
            .unwrap();
        assert_eq!(verified.id(), v.id);
        assert_eq!(verified.callback().timestamp(), at);
        assert!(!verified.is_duplicate());
    }
}

#[test]
fn the_spec_suites_negative_cases_fail() {
    let v = &SPEC_VECTORS[0];
    let verifier = CallbackVerifier::new(v.secret.parse().unwrap()).clock(clock_at(v.timestamp));
    let ts = v.timestamp.to_string();
    let body = v.body.as_bytes();
    // A signature one character off, and the Rust suite's foreign signatures.
    for wrong in [
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=",
        "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ= v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q= v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=",
    ] {
        assert_eq!(
            verifier.verify(&headers(v.id, &ts, wrong), body).err(),
            Some(CallbackDefect::NoMatchingSignature)
        );
    }
    assert_eq!(
        verifier
            .verify(&headers(v.id, "hello", v.signature), body)
            .err(),
        Some(CallbackDefect::BadTimestamp)
    );
    // The right signature is accepted among others, including another version's.
    let multi = format!(
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {} v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=",
        v.signature
    );
    assert!(verifier.verify(&headers(v.id, &ts, &multi), body).is_ok());
}

#[test]
fn a_tampered_body_id_or_timestamp_is_rejected() {
    let (_, _, signer, verifier) = setup();
    let signed = signer.sign("msg_1", BODY).unwrap();
    assert!(verifier.verify(&signed.as_headers(), BODY).is_ok());

    let mut body = BODY.to_vec();
    body[10] ^= 1;
    assert_eq!(
        verifier.verify(&signed.as_headers(), &body).err(),
        Some(CallbackDefect::NoMatchingSignature)
    );
    let other_id = headers("msg_2", signed.timestamp(), signed.signature());
    assert_eq!(
        verifier.verify(&other_id, BODY).err(),
        Some(CallbackDefect::NoMatchingSignature)
    );
    let moved = (signed.timestamp().parse::<i64>().unwrap() + 1).to_string();
    let other_time = headers(signed.id(), &moved, signed.signature());
    assert_eq!(
        verifier.verify(&other_time, BODY).err(),
        Some(CallbackDefect::NoMatchingSignature)
    );
}

#[test]
fn stale_and_future_timestamps_are_rejected() {
    let (_, clock, signer, verifier) = setup();
    let signed = signer.sign("msg_1", BODY).unwrap();

    clock.advance(Duration::minutes(5));
    assert!(verifier.verify(&signed.as_headers(), BODY).is_ok());
    clock.advance(Duration::seconds(1));
    assert_eq!(
        verifier.verify(&signed.as_headers(), BODY).err(),
        Some(CallbackDefect::TooOld)
    );

    // Signed by a sender whose clock runs ahead.
    clock.advance(Duration::minutes(-10) - Duration::seconds(2));
    assert_eq!(
        verifier.verify(&signed.as_headers(), BODY).err(),
        Some(CallbackDefect::TooNew)
    );
    clock.advance(Duration::seconds(1));
    assert!(verifier.verify(&signed.as_headers(), BODY).is_ok());

    // A tighter window.
    let strict = verifier.tolerance(Duration::seconds(30));
    clock.advance(Duration::minutes(5));
    assert!(strict.verify(&signed.as_headers(), BODY).is_ok());
    clock.advance(Duration::seconds(31));
    assert_eq!(
        strict.verify(&signed.as_headers(), BODY).err(),
        Some(CallbackDefect::TooOld)
    );
}

#[test]
fn a_rotated_secret_is_accepted_during_the_overlap() {
    let (old, clock, old_signer, _) = setup();
    let new = CallbackSecret::generate().unwrap();
    let receiver_during = CallbackVerifier::new(new.clone())
        .also_accept(old.clone())
        .clock(clock.clone());
    let receiver_after = CallbackVerifier::new(new.clone()).clock(clock.clone());
    let receiver_before = CallbackVerifier::new(old.clone()).clock(clock.clone());

    // A sender still on the old secret.
    let signed = old_signer.sign("msg_1", BODY).unwrap();
    assert!(receiver_during.verify(&signed.as_headers(), BODY).is_ok());
    assert_eq!(
        receiver_after.verify(&signed.as_headers(), BODY).err(),
        Some(CallbackDefect::NoMatchingSignature)
    );

    // A sender signing with both: any receiver accepts it.
    let both = CallbackSigner::new(new)
        .also_sign_with(old)
        .clock(clock.clone())
        .sign("msg_2", BODY)
        .unwrap();
    assert_eq!(both.signature().split(' ').count(), 2);
    for receiver in [&receiver_before, &receiver_during, &receiver_after] {
        assert!(receiver.verify(&both.as_headers(), BODY).is_ok());
    }
}

#[test]
fn secrets_with_or_without_padding_verify_alike() {
    let (secret, clock, signer, _) = setup();
    let padded = secret.expose_secret().to_owned();
    let signed = signer.sign("msg_1", BODY).unwrap();
    for text in [
        padded.clone(),
        padded.trim_end_matches('=').to_owned(),
        padded.trim_start_matches("whsec_").to_owned(),
    ] {
        let verifier = CallbackVerifier::new(text.parse().unwrap()).clock(clock.clone());
        assert!(
            verifier.verify(&signed.as_headers(), BODY).is_ok(),
            "{text}"
        );
    }
    // An unpadded signature is accepted too.
    let unpadded = signed.signature().trim_end_matches('=');
    assert_ne!(unpadded, signed.signature());
    let verifier = CallbackVerifier::new(secret).clock(clock);
    assert!(
        verifier
            .verify(&headers(signed.id(), signed.timestamp(), unpadded), BODY)
            .is_ok()
    );
}

#[test]
fn missing_headers_and_garbage_signatures_are_named() {
    let (_, _, signer, verifier) = setup();
    let signed = signer.sign("msg_1", BODY).unwrap();
    assert_eq!(
        verifier.verify(&CallbackHeaders::default(), BODY).err(),
        Some(CallbackDefect::MissingHeader(CallbackHeader::Id))
    );
    let lookup = |name: &str| signed.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
    let no_signature = CallbackHeaders::from_lookup(|name| {
        (name != "webhook-signature")
            .then(|| lookup(name))
            .flatten()
    });
    assert_eq!(
        verifier.verify(&no_signature, BODY).err(),
        Some(CallbackDefect::MissingHeader(CallbackHeader::Signature))
    );
    for garbage in ["", "v1", "v1,", "v1,####", "sig", "v2,abcd"] {
        assert_eq!(
            verifier
                .verify(&headers("msg_1", signed.timestamp(), garbage), BODY)
                .err(),
            Some(CallbackDefect::MalformedSignature),
            "{garbage:?}"
        );
    }
    assert_eq!(
        verifier
            .verify(&headers("", signed.timestamp(), signed.signature()), BODY)
            .err(),
        Some(CallbackDefect::MalformedId)
    );
}

#[test]
fn oversized_bodies_are_rejected() {
    let (_, _, signer, verifier) = setup();
    let big = vec![b'a'; CallbackVerifier::DEFAULT_MAX_BODY_LEN + 1];
    let signed = signer.sign("msg_1", &big).unwrap();
    assert_eq!(
        verifier.verify(&signed.as_headers(), &big).err(),
        Some(CallbackDefect::BodyTooLarge {
            limit: CallbackVerifier::DEFAULT_MAX_BODY_LEN
        })
    );
    let roomy = verifier.max_body_len(big.len());
    assert!(roomy.verify(&signed.as_headers(), &big).is_ok());
}

/// A verifier remembering ids, and its memory.
fn remembering() -> (
    ManualClock,
    CallbackSigner,
    CallbackVerifier,
    Arc<ReplayGuard>,
) {
    let (_, clock, signer, verifier) = setup();
    let guard = Arc::new(ReplayGuard::new(1000));
    (
        clock,
        signer,
        verifier.replay_guard(Arc::clone(&guard)),
        guard,
    )
}

fn fresh(delivery: Result<Delivery, CallbackDefect>) -> Claim {
    match delivery {
        Ok(Delivery::Fresh(claim)) => claim,
        other => panic!("expected a fresh delivery: {other:?}"),
    }
}

#[test]
fn an_id_counts_as_received_only_once_its_handler_succeeded() {
    let (clock, signer, verifier, guard) = remembering();
    let signed = signer.sign("msg_1", BODY).unwrap();
    // The handler failed: its claim is dropped, and the sender's retry runs it again.
    drop(fresh(verifier.verify(&signed.as_headers(), BODY)));
    clock.advance(Duration::seconds(30));
    let retry = signer.sign("msg_1", BODY).unwrap();
    let claim = fresh(verifier.verify(&retry.as_headers(), BODY));
    assert_eq!(claim.callback().id(), "msg_1");
    claim.processed();
    // Processed: the same attempt again, or another one signed afresh, is a duplicate.
    clock.advance(Duration::seconds(30));
    let later = signer.sign("msg_1", BODY).unwrap();
    for again in [&signed, &retry, &later] {
        let delivery = verifier.verify(&again.as_headers(), BODY).unwrap();
        assert!(delivery.is_duplicate());
        assert!(delivery.callback().is_duplicate());
    }
    // A forgery under a fresh id is not recorded.
    let forged = headers("msg_2", later.timestamp(), later.signature());
    assert_eq!(
        verifier.verify(&forged, BODY).err(),
        Some(CallbackDefect::NoMatchingSignature)
    );
    assert_eq!(guard.len(), 1);
}

#[test]
fn a_redelivery_while_the_first_is_handled_is_told_to_wait() {
    let (clock, signer, verifier, _) = remembering();
    let signed = signer.sign("msg_1", BODY).unwrap();
    let claim = fresh(verifier.verify(&signed.as_headers(), BODY));
    clock.advance(Duration::seconds(15));
    let retry = signer.sign("msg_1", BODY).unwrap();
    let busy = verifier.verify(&retry.as_headers(), BODY).err();
    assert_eq!(
        busy,
        Some(CallbackDefect::InProgress {
            retry_after_secs: 45
        }),
        "the rest of the 60 s lease"
    );
    claim.processed();
    assert!(
        verifier
            .verify(&retry.as_headers(), BODY)
            .unwrap()
            .is_duplicate()
    );
}

#[test]
fn a_hung_handler_holds_its_id_only_for_the_lease() {
    let (_, clock, signer, verifier) = setup();
    let verifier = verifier.replay_guard(ReplayGuard::new(10).lease(Duration::seconds(20)));
    let signed = signer.sign("msg_1", BODY).unwrap();
    let hung = fresh(verifier.verify(&signed.as_headers(), BODY));
    clock.advance(Duration::seconds(19));
    assert!(matches!(
        verifier.verify(&signed.as_headers(), BODY),
        Err(CallbackDefect::InProgress {
            retry_after_secs: 1
        })
    ));
    clock.advance(Duration::seconds(1));
    let retry = signer.sign("msg_1", BODY).unwrap();
    let taken_over = fresh(verifier.verify(&retry.as_headers(), BODY));
    // The hung handler giving up late does not free the id under the new run.
    drop(hung);
    assert!(matches!(
        verifier.verify(&retry.as_headers(), BODY),
        Err(CallbackDefect::InProgress { .. })
    ));
    taken_over.processed();
    assert!(
        verifier
            .verify(&retry.as_headers(), BODY)
            .unwrap()
            .is_duplicate()
    );
}

#[test]
fn a_replay_outside_the_window_stays_refused_and_its_id_is_then_forgotten() {
    let (clock, signer, verifier, guard) = remembering();
    let signed = signer.sign("msg_1", BODY).unwrap();
    fresh(verifier.verify(&signed.as_headers(), BODY)).processed();
    clock.advance(Duration::minutes(6));
    assert_eq!(
        verifier.verify(&signed.as_headers(), BODY).err(),
        Some(CallbackDefect::TooOld)
    );
    let later = signer.sign("msg_3", BODY).unwrap();
    fresh(verifier.verify(&later.as_headers(), BODY)).processed();
    assert_eq!(
        guard.len(),
        1,
        "msg_1 purged once no attempt of it can verify"
    );
}

#[tokio::test]
async fn a_key_in_the_payload_is_refused() {
    let keys = ApiKeys::builder(Arc::new(MemoryStore::new()), &Pepper::generate().unwrap()).build();
    let issued = keys
        .issue(NewKey {
            workspace_id: WorkspaceId::random(),
            product: "submit".parse().unwrap(),
            environment: Environment::Production,
            permissions: PermissionSet::parse(["jobs:read"]).unwrap(),
            name: "callbacks".into(),
            created_by: UserId::random(),
            expires_at: None,
        })
        .await
        .unwrap();
    let token = issued.expose_token();
    let (_, _, signer, _) = setup();
    for body in [
        format!(r#"{{"type":"job.created","api_key":"{token}"}}"#),
        format!("Authorization: Bearer {token}"),
        format!(r#"{{"key":"x_{token}"}}"#),
    ] {
        let refused = signer.sign("msg_1", body.as_bytes());
        assert!(
            matches!(
                refused,
                Err(Error::Callback(CallbackDefect::BodyContainsApiKey))
            ),
            "{refused:?}"
        );
        // The error says why without repeating the key.
        let message = refused.unwrap_err().to_string();
        assert!(!message.contains(token), "{message}");
    }
    // The same payload without the key is signed.
    assert!(signer.sign("msg_1", br#"{"type":"job.created"}"#).is_ok());
}

#[test]
fn nothing_secret_reaches_debug_output() {
    let (secret, _, signer, verifier) = setup();
    let signed: SignedHeaders = signer.sign("msg_1", BODY).unwrap();
    let text = secret.expose_secret();
    let shown = format!(
        "{secret:?} {signer:?} {verifier:?} {signed:?} {:?}",
        signed.as_headers()
    );
    assert!(!shown.contains(&text[6..20]), "{shown}");
    assert!(!shown.contains(&signed.signature()[3..20]), "{shown}");
}

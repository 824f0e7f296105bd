//! Signed callbacks: `sign` and `verify` of a 1 KiB body beside their floor, the raw `hmac`
//! crate computing the same HMAC-SHA256 over `{id}.{timestamp}.{body}`, in one run.
//! Run: `cargo bench -p vault-benches --bench callbacks`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use vault_core::ManualClock;
use vault_core::callbacks::{CallbackSecret, CallbackSigner, CallbackVerifier};

const ID: &str = "msg_2c1f9a0e4b7d4f6a9e3c5b8d7a6f1e20";
const TIMESTAMP: i64 = 1_767_225_600; // 2026-01-01T00:00:00Z, where ManualClock starts

/// A 1 KiB JSON-ish body that (like real payloads) holds no API key.
fn body() -> Vec<u8> {
    let mut body = br#"{"type":"job.created","data":{"note":""#.to_vec();
    while body.len() < 1024 - 3 {
        body.extend_from_slice(b"lorem ipsum ");
    }
    body.truncate(1024 - 3);
    body.extend_from_slice(br#""}}"#);
    assert_eq!(body.len(), 1024);
    body
}

fn callbacks(c: &mut Criterion) {
    let key: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    let secret = CallbackSecret::from_bytes(key.clone()).expect("a valid secret");
    // Both sides read a clock standing at TIMESTAMP.
    let clock = ManualClock::default();
    let signer = CallbackSigner::new(secret.clone()).clock(clock.clone());
    let verifier = CallbackVerifier::new(secret).clock(clock);
    let body = body();
    let signed = signer.sign(ID, &body).expect("signs");
    assert_eq!(signed.timestamp(), TIMESTAMP.to_string());
    assert!(verifier.verify(&signed.as_headers(), &body).is_ok());

    let mut group = c.benchmark_group("callbacks_1KiB");
    group.throughput(Throughput::Bytes(body.len() as u64));

    // The floor: one HMAC-SHA256 of the same bytes, keyed per message as a plain
    // implementation would.
    let timestamp = TIMESTAMP.to_string();
    group.bench_function("raw_hmac", |b| {
        b.iter(|| {
            let mut mac =
                <Hmac<Sha256> as KeyInit>::new_from_slice(black_box(&key)).expect("any key length");
            mac.update(ID.as_bytes());
            mac.update(b".");
            mac.update(timestamp.as_bytes());
            mac.update(b".");
            mac.update(black_box(&body));
            black_box(mac.finalize().into_bytes())
        })
    });
    // The same with the key schedule done once (what CallbackSecret does).
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).expect("any key length");
    group.bench_function("raw_hmac_prekeyed", |b| {
        b.iter(|| {
            let mut mac = keyed.clone();
            mac.update(ID.as_bytes());
            mac.update(b".");
            mac.update(timestamp.as_bytes());
            mac.update(b".");
            mac.update(black_box(&body));
            black_box(mac.finalize().into_bytes())
        })
    });
    group.bench_function("sign", |b| {
        b.iter(|| black_box(signer.sign(ID, black_box(&body)).expect("signs")))
    });
    group.bench_function("verify", |b| {
        b.iter(|| black_box(verifier.verify(&signed.as_headers(), black_box(&body))))
    });
    group.bench_function("sign_and_verify", |b| {
        b.iter(|| {
            let signed = signer.sign(ID, black_box(&body)).expect("signs");
            black_box(verifier.verify(&signed.as_headers(), black_box(&body)))
        })
    });
    group.finish();
}

criterion_group!(benches, callbacks);
criterion_main!(benches);

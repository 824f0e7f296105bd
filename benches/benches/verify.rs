//! `verify` of a valid key against the memory store, beside its floor: the HMAC-SHA256 of
//! the secret that every verification must compute. Run: `cargo bench -p vault-benches --bench verify`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use vault_core::keys::{KeyHasher, KeyToken, SECRET_LEN};
use vault_core::{
    ApiKeys, Environment, MemoryStore, NewKey, Pepper, PermissionSet, Requirement, UserId,
    WorkspaceId,
};

fn verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a tokio runtime");
    let pepper_bytes = vec![0x5a; Pepper::MIN_LEN];
    let pepper = Pepper::from_bytes(pepper_bytes.clone()).expect("a valid pepper");
    let store = Arc::new(MemoryStore::new());
    let keys = ApiKeys::builder(store, &pepper).build();
    let workspace = WorkspaceId::random();
    let issue = |permissions: &[&str]| {
        keys.issue(NewKey {
            workspace_id: workspace,
            product: "submit".parse().expect("slug"),
            environment: Environment::Production,
            permissions: PermissionSet::parse(permissions).expect("permissions"),
            name: "bench".into(),
            created_by: UserId::random(),
            expires_at: None,
        })
    };
    // A realistic store: the verified key among 10,000 others.
    let issued = rt.block_on(async {
        for _ in 0..10_000 {
            issue(&["jobs:read"]).await.expect("issue");
        }
        issue(&["jobs:create", "jobs:read"]).await.expect("issue")
    });
    let token = issued.expose_token().to_owned();
    let route = Requirement::new("submit".parse().expect("slug"), Environment::Production)
        .with_permission("jobs:create".parse().expect("permission"));
    let secret = &token[token.len() - 6 - SECRET_LEN..token.len() - 6];
    assert!(rt.block_on(keys.verify(&token, &route)).is_ok());

    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    group.bench_function("api_keys_verify_memory_store", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(keys.verify(black_box(&token), &route).await.is_ok()) })
    });
    let hasher = KeyHasher::new(&pepper);
    group.bench_function("floor_hmac_sha256_prekeyed", |b| {
        b.iter(|| black_box(hasher.hash(black_box(secret))))
    });
    group.bench_function("hmac_sha256_keyed_per_call", |b| {
        b.iter(|| {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(black_box(&pepper_bytes))
                .expect("any key length");
            mac.update(black_box(secret).as_bytes());
            black_box(mac.finalize().into_bytes())
        })
    });
    group.bench_function("parse_token_only", |b| {
        let prefix = keys.prefix().clone();
        b.iter(|| black_box(KeyToken::parse(black_box(&token), &prefix).is_ok()))
    });
    group.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);

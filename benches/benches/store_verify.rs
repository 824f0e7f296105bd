//! Key verification over real stores, in one run: the memory store beside SQLite and
//! PostgreSQL, each through the verification cache (every lookup a hit) and without it (every
//! lookup a database round trip); then PostgreSQL (pool of 8) under 8–32 concurrent
//! verifications on a two-worker runtime, in verifications per second.
//!
//! Forged keys (issue 11): well-formed production keys with a correct checksum and a fresh
//! random id on every verification, through the listening PostgreSQL cache with its index of
//! key ids complete (refused without a round trip) and through one kept without the index
//! (every forged id reaches the database), one at a time and with 32 tasks, beside the
//! valid-key cases and the cost of minting the forged key alone.
//!
//! PostgreSQL is read from `VAULT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the bench works in a schema of its own and
//! drops it at the end. Run:
//! `cargo bench -p vault-benches --bench store_verify -- --warm-up-time 2 --measurement-time 5`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::Connection;
use tokio::runtime::Runtime;
use vault_core::{
    ApiKeys, AuthError, Environment, InvalidKeyReason, KeyPrefix, KeyStore, MemoryStore, NewKey,
    Pepper, PermissionSet, Requirement, UserId, WorkspaceId,
};
use vault_sqlx::{CachedKeyStore, KeyCacheConfig, SqlStore, StoreOptions};

/// Keys in every store; verifications cycle through all of them.
const KEYS: usize = 1_000;
/// The pool size the issue's PostgreSQL target names.
const POOL: u32 = 8;

fn postgres_url() -> String {
    std::env::var("VAULT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A PostgreSQL schema of the bench's own, dropped when this goes away (panics included).
struct Schema {
    name: String,
    base: String,
}

impl Schema {
    fn create(rt: &Runtime) -> Self {
        let base = postgres_url();
        let name = format!("vault_bench_{}", uuid::Uuid::new_v4().simple());
        rt.block_on(async {
            let mut admin = sqlx::PgConnection::connect(&base)
                .await
                .unwrap_or_else(|err| panic!("PostgreSQL unreachable at {base}: {err}"));
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
                .execute(&mut admin)
                .await
                .expect("create schema");
            admin.close().await.ok();
        });
        Self { name, base }
    }

    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-c%20search_path%3D{}", self.base, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let (base, name) = (self.base.clone(), self.name.clone());
        // Its own thread and runtime: drop may run inside or outside another runtime.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&base).await?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&mut admin)
                .await?;
                admin.close().await
            })
            .map_err(std::io::Error::other)
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop bench schema {}", self.name);
        }
    }
}

fn options() -> StoreOptions {
    StoreOptions {
        max_connections: POOL,
        min_connections: POOL,
        ..StoreOptions::default()
    }
}

/// The services under test, over one runtime's connections.
struct Services {
    memory: ApiKeys,
    sqlite_hit: ApiKeys,
    sqlite_miss: ApiKeys,
    postgres_hit: ApiKeys,
    postgres_miss: ApiKeys,
    /// Listening, without the index of key ids: every unknown id is a round trip.
    postgres_unindexed: ApiKeys,
}

impl Services {
    /// Connects to the stores (new pools, registered with the current runtime).
    async fn connect(
        pepper: &Pepper,
        memory: &Arc<MemoryStore>,
        sqlite_url: &str,
        pg_url: &str,
    ) -> Self {
        let keys = |store: Arc<dyn KeyStore>| ApiKeys::builder(store, pepper).build();
        let sqlite = SqlStore::connect_with(sqlite_url, &options())
            .await
            .expect("SQLite");
        let postgres = SqlStore::connect_with(pg_url, &options())
            .await
            .expect("PostgreSQL");
        let pg_cached = CachedKeyStore::listening(postgres.clone(), KeyCacheConfig::default());
        let pg_unindexed = CachedKeyStore::listening(
            postgres.clone(),
            KeyCacheConfig {
                index_key_ids: false,
                ..KeyCacheConfig::default()
            },
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(pg_cached.is_listening()
            && pg_cached.is_index_complete()
            && pg_unindexed.is_listening())
        {
            assert!(
                Instant::now() < deadline,
                "the key cache never subscribed or never read every key id"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!pg_unindexed.is_index_complete(), "kept without an index");
        Self {
            memory: keys(memory.clone()),
            sqlite_hit: keys(Arc::new(CachedKeyStore::new(
                sqlite.clone(),
                KeyCacheConfig::default(),
            ))),
            sqlite_miss: keys(Arc::new(sqlite)),
            postgres_hit: keys(Arc::new(pg_cached)),
            postgres_miss: keys(Arc::new(postgres)),
            postgres_unindexed: keys(Arc::new(pg_unindexed)),
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ID_LEN: usize = 12;
const CHECKSUM_LEN: usize = 6;
/// `vlt_prod_`, the id, the secret, the checksum.
const FORGED_LEN: usize = 9 + ID_LEN + vault_core::keys::SECRET_LEN + CHECKSUM_LEN;

/// A forged key, by value (no allocation per key).
#[derive(Clone, Copy)]
struct Forged([u8; FORGED_LEN]);

impl Forged {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("base62 is ASCII")
    }
}

/// Mints forged production keys: the prefix and environment tag, a fresh random id on every
/// call, a random secret, and the correct checksum (a CRC32 over the text before it, in 6
/// base62 digits), so each passes parsing and is refused only by the store lookup. Anyone
/// can do this; the ids come from a cheap PRNG (splitmix64), seeded per forger.
struct Forger {
    text: Forged,
    state: u64,
}

impl Forger {
    const ID_AT: usize = 9;

    fn new(prefix: &KeyPrefix, seed: u64) -> Self {
        let head = format!("{}_{}_", prefix.as_str(), Environment::Production.tag());
        assert_eq!(head.len(), Self::ID_AT, "the default prefix");
        assert_eq!(prefix.token_len(Environment::Production), FORGED_LEN);
        let mut forger = Self {
            text: Forged([b'0'; FORGED_LEN]),
            state: seed ^ 0x9e37_79b9_7f4a_7c15,
        };
        forger.text.0[..Self::ID_AT].copy_from_slice(head.as_bytes());
        for i in Self::ID_AT..FORGED_LEN {
            forger.text.0[i] = BASE62[(forger.next_u64() % 62) as usize];
        }
        forger
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next forged key: a new id, its checksum recomputed.
    fn next_key(&mut self) -> Forged {
        // 6 base62 digits from each 64-bit draw (62^6 < 2^36).
        for half in [0, 6] {
            let mut r = self.next_u64();
            let at = Self::ID_AT + half;
            for slot in &mut self.text.0[at..at + 6] {
                *slot = BASE62[(r % 62) as usize];
                r /= 62;
            }
        }
        let signed = FORGED_LEN - CHECKSUM_LEN;
        let mut crc = u64::from(crc32fast::hash(&self.text.0[..signed]));
        for slot in self.text.0[signed..].iter_mut().rev() {
            *slot = BASE62[(crc % 62) as usize];
            crc /= 62;
        }
        self.text
    }
}

fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn is_unknown_key(verdict: &Result<vault_core::Principal, AuthError>) -> bool {
    matches!(
        verdict,
        Err(AuthError::InvalidKey(InvalidKeyReason::UnknownKey))
    )
}

fn store_verify(c: &mut Criterion) {
    eprintln!("load average at start: {}", load_average());
    let single = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let pepper = Pepper::from_bytes(vec![0x5a; Pepper::MIN_LEN]).expect("a pepper");
    let dir = tempfile::tempdir().expect("a temp dir");
    let sqlite_url = format!("sqlite://{}", dir.path().join("vault.db").display());
    let schema = Schema::create(&single);
    let pg_url = schema.url();
    let memory = Arc::new(MemoryStore::new());

    // The same keys in every store: issued into memory, copied into both databases.
    let tokens: Vec<String> = single.block_on(async {
        let issuer = ApiKeys::builder(memory.clone(), &pepper).build();
        let sqlite = SqlStore::connect(&sqlite_url).await.expect("SQLite");
        let postgres = SqlStore::connect(&pg_url).await.expect("PostgreSQL");
        let workspace = WorkspaceId::random();
        let mut tokens = Vec::with_capacity(KEYS);
        for _ in 0..KEYS {
            let issued = issuer
                .issue(NewKey {
                    workspace_id: workspace,
                    product: "submit".parse().expect("slug"),
                    environment: Environment::Production,
                    permissions: PermissionSet::parse(["jobs:create", "jobs:read"])
                        .expect("permissions"),
                    name: "bench".into(),
                    created_by: UserId::random(),
                    expires_at: None,
                })
                .await
                .expect("issue");
            let record = memory
                .find_key(&issued.metadata.id)
                .await
                .expect("find")
                .expect("stored");
            sqlite.insert_key((*record).clone()).await.expect("insert");
            postgres
                .insert_key((*record).clone())
                .await
                .expect("insert");
            tokens.push(issued.expose_token().to_owned());
        }
        sqlite.close().await;
        postgres.close().await;
        tokens
    });
    let services = single.block_on(Services::connect(&pepper, &memory, &sqlite_url, &pg_url));
    let tokens = Arc::new(tokens);
    let route = Requirement::new("submit".parse().expect("slug"), Environment::Production)
        .with_permission("jobs:create".parse().expect("permission"));

    let mut group = c.benchmark_group("store_verify");
    group.throughput(Throughput::Elements(1));
    let cases = [
        ("memory", &services.memory),
        ("sqlite_cache_hit", &services.sqlite_hit),
        ("sqlite_cache_miss", &services.sqlite_miss),
        ("postgres_cache_hit", &services.postgres_hit),
        ("postgres_cache_miss", &services.postgres_miss),
    ];
    for (name, keys) in cases {
        let next = AtomicUsize::new(0);
        // Warm the cache (and check every key verifies) before measuring.
        single.block_on(async {
            for token in tokens.iter() {
                keys.verify(token, &route).await.expect("a valid key");
            }
        });
        group.bench_function(name, |b| {
            b.to_async(&single).iter(|| {
                let token = &tokens[next.fetch_add(1, Ordering::Relaxed) % KEYS];
                let route = &route;
                async move { black_box(keys.verify(black_box(token), route).await.is_ok()) }
            })
        });
    }
    // Forged keys: a fresh id each time. Refused as unknown, checked before measuring.
    let prefix = services.postgres_hit.prefix().clone();
    let forger = std::cell::RefCell::new(Forger::new(&prefix, seed()));
    group.bench_function("forged_key_minting_only", |b| {
        b.iter(|| black_box(forger.borrow_mut().next_key()))
    });
    let forged_cases = [
        ("postgres_forged_indexed", &services.postgres_hit),
        ("postgres_forged_unindexed", &services.postgres_unindexed),
    ];
    for (name, keys) in forged_cases {
        single.block_on(async {
            for _ in 0..100 {
                let forged = forger.borrow_mut().next_key();
                let verdict = keys.verify(forged.as_str(), &route).await;
                assert!(is_unknown_key(&verdict), "{name}: {verdict:?}");
            }
        });
        group.bench_function(name, |b| {
            b.to_async(&single).iter(|| {
                let forged = forger.borrow_mut().next_key();
                let route = &route;
                async move {
                    let verdict = keys.verify(black_box(forged.as_str()), route).await;
                    black_box(verdict.is_err())
                }
            })
        });
    }
    group.finish();

    // Concurrent verifications on a two-worker runtime, with pools of its own.
    let concurrent = multi.block_on(Services::connect(&pepper, &memory, &sqlite_url, &pg_url));
    let mut group = c.benchmark_group("store_verify_concurrent");
    group.throughput(Throughput::Elements(1));
    let (valid, forged) = (Presented::Valid, Presented::Forged);
    let cases = [
        ("memory", &concurrent.memory, 32, valid),
        ("postgres_cache_hit", &concurrent.postgres_hit, 32, valid),
        ("postgres_cache_miss", &concurrent.postgres_miss, 8, valid),
        ("postgres_cache_miss", &concurrent.postgres_miss, 16, valid),
        ("postgres_cache_miss", &concurrent.postgres_miss, 32, valid),
        (
            "postgres_forged_indexed",
            &concurrent.postgres_hit,
            32,
            forged,
        ),
        (
            "postgres_forged_unindexed",
            &concurrent.postgres_unindexed,
            32,
            forged,
        ),
    ];
    for (name, keys, tasks, presented) in cases {
        group.bench_function(format!("{name}/{tasks}_tasks"), |b| {
            b.iter_custom(|iters| {
                multi.block_on(run_concurrently(
                    keys, &tokens, &route, tasks, presented, iters,
                ))
            })
        });
    }
    group.finish();
    drop(concurrent);
    drop(services);
    eprintln!("load average at end: {}", load_average());
    drop(schema);
}

/// What the concurrent tasks present: the issued keys in turn, or forged ones.
#[derive(Clone, Copy)]
enum Presented {
    Valid,
    Forged,
}

/// `iters` verifications spread over `tasks` tasks; the wall time of all of them. Valid keys
/// must verify; forged ones (a forger per task) must be refused as unknown.
async fn run_concurrently(
    keys: &ApiKeys,
    tokens: &Arc<Vec<String>>,
    route: &Requirement,
    tasks: usize,
    presented: Presented,
    iters: u64,
) -> Duration {
    let per_task = iters.div_ceil(tasks as u64);
    let base_seed = seed();
    let mut forgers: Vec<_> = (0..tasks)
        .map(|t| {
            Forger::new(
                keys.prefix(),
                base_seed ^ (t as u64).wrapping_mul(0x1000_0001),
            )
        })
        .collect();
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (keys, tokens, route) = (keys.clone(), Arc::clone(tokens), route.clone());
            let mut forger = forgers.pop().expect("a forger per task");
            tokio::spawn(async move {
                for i in 0..per_task {
                    match presented {
                        Presented::Valid => {
                            let token = &tokens[(t * 7919 + i as usize) % KEYS];
                            assert!(keys.verify(token, &route).await.is_ok());
                        }
                        Presented::Forged => {
                            let forged = forger.next_key();
                            let verdict = keys.verify(forged.as_str(), &route).await;
                            assert!(is_unknown_key(&verdict));
                        }
                    }
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.expect("a verification task");
    }
    // Scaled back to `iters`: the rounding up is a few verifications at most.
    start
        .elapsed()
        .mul_f64(iters as f64 / (per_task * tasks as u64) as f64)
}

criterion_group!(benches, store_verify);
criterion_main!(benches);

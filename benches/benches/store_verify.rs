//! Key verification over real stores, in one run: the memory store beside SQLite and
//! PostgreSQL, each through the verification cache (every lookup a hit) and without it (every
//! lookup a database round trip); then PostgreSQL (pool of 8) under 8–32 concurrent
//! verifications on a two-worker runtime, in verifications per second.
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
    ApiKeys, Environment, KeyStore, MemoryStore, NewKey, Pepper, PermissionSet, Requirement,
    UserId, WorkspaceId,
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
        let deadline = Instant::now() + Duration::from_secs(10);
        while !pg_cached.is_listening() {
            assert!(Instant::now() < deadline, "the key cache never subscribed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Self {
            memory: keys(memory.clone()),
            sqlite_hit: keys(Arc::new(CachedKeyStore::new(
                sqlite.clone(),
                KeyCacheConfig::default(),
            ))),
            sqlite_miss: keys(Arc::new(sqlite)),
            postgres_hit: keys(Arc::new(pg_cached)),
            postgres_miss: keys(Arc::new(postgres)),
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
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
    group.finish();

    // Concurrent verifications on a two-worker runtime, with pools of its own.
    let concurrent = multi.block_on(Services::connect(&pepper, &memory, &sqlite_url, &pg_url));
    let mut group = c.benchmark_group("store_verify_concurrent");
    group.throughput(Throughput::Elements(1));
    let cases = [
        ("memory", &concurrent.memory, 32),
        ("postgres_cache_hit", &concurrent.postgres_hit, 32),
        ("postgres_cache_miss", &concurrent.postgres_miss, 8),
        ("postgres_cache_miss", &concurrent.postgres_miss, 16),
        ("postgres_cache_miss", &concurrent.postgres_miss, 32),
    ];
    for (name, keys, tasks) in cases {
        group.bench_function(format!("{name}/{tasks}_tasks"), |b| {
            b.iter_custom(|iters| {
                multi.block_on(run_concurrently(keys, &tokens, &route, tasks, iters))
            })
        });
    }
    group.finish();
    drop(concurrent);
    drop(services);
    eprintln!("load average at end: {}", load_average());
    drop(schema);
}

/// `iters` verifications spread over `tasks` tasks; the wall time of all of them.
async fn run_concurrently(
    keys: &ApiKeys,
    tokens: &Arc<Vec<String>>,
    route: &Requirement,
    tasks: usize,
    iters: u64,
) -> Duration {
    let per_task = iters.div_ceil(tasks as u64);
    let start = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (keys, tokens, route) = (keys.clone(), Arc::clone(tokens), route.clone());
            tokio::spawn(async move {
                for i in 0..per_task {
                    let token = &tokens[(t * 7919 + i as usize) % KEYS];
                    assert!(keys.verify(token, &route).await.is_ok());
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

//! Passwords: Argon2id hash and verify at the default (OWASP) parameters through `Passwords`
//! beside raw `argon2`, the memory that N hashes at once hold, and whether 64 concurrent
//! verifications stall the async runtime (the lateness of a 1 ms tick running beside them),
//! with the default bound (cores - 1) and bounds of 1 and 2.
//! Run: `cargo bench -p vault-benches --bench passwords`; only the memory and stall parts:
//! `cargo bench -p vault-benches --bench passwords -- no-criterion-bench-matches-this`.
//! The presets (the default OWASP one and RFC 9106's low-memory one) are hashed and verified
//! side by side; `VAULT_BENCH_MEMORY_PARAMS=rfc9106` measures the memory part with the RFC
//! preset instead of the default (the stall part always uses the default).

use std::hint::black_box;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use criterion::Criterion;
use secrecy::SecretString;
use vault_core::password::{HashParams, PasswordHash, Passwords};

const PASSWORD: &str = "a bicycle leaning on the old barn";

fn secret() -> SecretString {
    SecretString::from(PASSWORD)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

fn raw_argon2() -> Argon2<'static> {
    let p = HashParams::OWASP;
    let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None).expect("params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hashing(c: &mut Criterion) {
    let rt = runtime();
    let passwords = Passwords::builder().build().expect("passwords");
    let stored: PasswordHash = rt.block_on(passwords.hash(secret())).expect("a hash");
    let raw = raw_argon2();
    let raw_stored = raw
        .hash_password(PASSWORD.as_bytes())
        .expect("a hash")
        .to_string();
    let raw_parsed = argon2::PasswordHash::new(&raw_stored).expect("parses");

    let mut group = c.benchmark_group("argon2id_m19456_t2_p1");
    group.sample_size(20);
    group.bench_function("raw_hash", |b| {
        b.iter(|| {
            raw.hash_password(black_box(PASSWORD.as_bytes()))
                .expect("hash")
        })
    });
    group.bench_function("raw_verify", |b| {
        b.iter(|| {
            raw.verify_password(black_box(PASSWORD.as_bytes()), &raw_parsed)
                .expect("verifies")
        })
    });
    group.bench_function("passwords_hash", |b| {
        b.to_async(&rt)
            .iter(|| async { passwords.hash(secret()).await.expect("hash") })
    });
    group.bench_function("passwords_verify", |b| {
        b.to_async(&rt).iter(|| async {
            passwords
                .verify(secret(), Some(&stored))
                .await
                .expect("verify")
        })
    });
    group.bench_function("passwords_verify_unknown_user", |b| {
        b.to_async(&rt)
            .iter(|| async { passwords.verify(secret(), None).await.expect("verify") })
    });
    group.finish();

    // The presets side by side: the default (OWASP) and RFC 9106's second option.
    let mut presets = c.benchmark_group("argon2id_presets_hash");
    presets.sample_size(10);
    for (name, params) in [
        ("owasp_m19456_t2_p1", HashParams::OWASP),
        ("rfc9106_m65536_t3_p4", HashParams::RFC9106_LOW_MEMORY),
    ] {
        let preset = Passwords::builder()
            .params(params)
            .build()
            .expect("passwords");
        presets.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async { preset.hash(secret()).await.expect("hash") })
        });
    }
    presets.finish();
    let mut presets = c.benchmark_group("argon2id_presets_verify");
    presets.sample_size(10);
    for (name, params) in [
        ("owasp_m19456_t2_p1", HashParams::OWASP),
        ("rfc9106_m65536_t3_p4", HashParams::RFC9106_LOW_MEMORY),
    ] {
        let preset = Passwords::builder()
            .params(params)
            .build()
            .expect("passwords");
        let stored = rt.block_on(preset.hash(secret())).expect("a hash");
        presets.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let verdict = preset.verify(secret(), Some(&stored)).await;
                assert!(verdict.expect("verify").matched);
            })
        });
    }
    presets.finish();
}

/// The process's peak resident set (VmHWM) in KiB, on Linux.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// 16 hashes at once through `Passwords` bounded to `bound`; the growth of the peak RSS.
/// Run with growing bounds: the peak only ever rises.
fn memory(rt: &tokio::runtime::Runtime, params: HashParams, bound: usize, baseline: u64) {
    let passwords = Passwords::builder()
        .params(params)
        .max_concurrent_hashes(bound)
        .build()
        .expect("passwords");
    rt.block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let passwords = passwords.clone();
                tokio::spawn(async move { passwords.hash(secret()).await })
            })
            .collect();
        for task in tasks {
            task.await.expect("joins").expect("hashes");
        }
    });
    let peak = peak_rss_kib().unwrap_or(0);
    let per_hash = f64::from(params.memory_kib) / 1024.0;
    let stats = passwords.stats();
    println!(
        "memory: 16 hashes, at most {bound} at once: peak RSS {:.1} MiB above the baseline \
         (params say {per_hash:.0} MiB per hash, x{bound} = {:.0} MiB); {} ran at most, \
         in {} pooled buffers",
        (peak.saturating_sub(baseline)) as f64 / 1024.0,
        per_hash * bound as f64,
        stats.peak_in_flight,
        stats.memory_buffers,
    );
}

/// The lateness of a 1 ms interval tick on a multi-thread runtime while 64 verifications run,
/// either through `Passwords` (blocking pool, bounded) or, for contrast, inline on the async
/// workers as a naive handler would.
fn stall(inline: bool, bound: Option<usize>) {
    let rt = runtime();
    let mut builder = Passwords::builder();
    if let Some(bound) = bound {
        builder = builder.max_concurrent_hashes(bound);
    }
    let passwords = builder.build().expect("passwords");
    let stored = rt.block_on(passwords.hash(secret())).expect("a hash");
    let (lateness, elapsed) = rt.block_on(async {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let ticker = {
            let done = done.clone();
            tokio::spawn(async move {
                let mut interval = tokio::time::interval(Duration::from_millis(1));
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut lateness = Vec::new();
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let scheduled = interval.tick().await;
                    lateness.push(Instant::now().saturating_duration_since(scheduled.into_std()));
                }
                lateness
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let start = Instant::now();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let passwords = passwords.clone();
                let stored = stored.clone();
                tokio::spawn(async move {
                    if inline {
                        let parsed = argon2::PasswordHash::new(stored.as_str()).expect("parses");
                        raw_argon2()
                            .verify_password(PASSWORD.as_bytes(), &parsed)
                            .is_ok()
                    } else {
                        passwords
                            .verify(secret(), Some(&stored))
                            .await
                            .expect("verify")
                            .matched
                    }
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.expect("joins"));
        }
        let elapsed = start.elapsed();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        (ticker.await.expect("ticker"), elapsed)
    });
    let mut lateness = lateness;
    lateness.sort_unstable();
    let at = |q: f64| lateness[((lateness.len() - 1) as f64 * q) as usize];
    println!(
        "stall: 64 verifications {}: {:.2} s; 1 ms tick lateness over {} ticks: p50 {:?}, p99 {:?}, max {:?}",
        if inline {
            "inline on the async workers (naive)".to_owned()
        } else {
            format!(
                "through Passwords, at most {} at once{}",
                passwords.max_concurrent_hashes(),
                if bound.is_none() { " (default)" } else { "" }
            )
        },
        elapsed.as_secs_f64(),
        lateness.len(),
        at(0.5),
        at(0.99),
        lateness.last().copied().unwrap_or_default(),
    );
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let params = match std::env::var("VAULT_BENCH_MEMORY_PARAMS").as_deref() {
        Ok("rfc9106") => HashParams::RFC9106_LOW_MEMORY,
        _ => HashParams::OWASP,
    };
    println!(
        "cores: {cores}; memory part params: {params:?} = {} KiB per hash",
        params.memory_kib
    );

    let rt = runtime();
    let baseline = peak_rss_kib().unwrap_or(0);
    for bound in [1, 2, 8] {
        memory(&rt, params, bound, baseline);
    }
    drop(rt);

    stall(false, None);
    stall(false, Some(1));
    stall(false, Some(2));
    stall(true, None);

    let mut criterion = Criterion::default().configure_from_args();
    hashing(&mut criterion);
    criterion.final_summary();
}

//! Whether an account flow's answer time tells if an account exists (issue 11): sign-up,
//! resend, "Forgot password?" and email change, each for an existing account (or a taken
//! address) and an unknown one, with a mailer that takes 25 ms (an SMTP hand-off) and the
//! mail worker running in the background, as a server runs it, and the default mail limits
//! (past three mails a window an existing account's path queues decoys too). 30 requests of each path,
//! interleaved (the order alternates), after 5 of warm-up; medians and their ratio. On the
//! memory store and on SQLite (a file, the default store).
//!
//! Run: `cargo bench -p vault-benches --bench account_timing`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::SecretString;
use vault_core::accounts::{
    Accounts, Client, MailKind, Mailer, Message, Outbox, Proof, SessionToken, SignIn,
};
use vault_core::password::{HashParams, Passwords};
use vault_core::store::Store;
use vault_core::totp::{SealingKey, Totp};
use vault_core::{Error, MemoryStore};
use vault_sqlx::SqlStore;

/// Requests of each path (`ACCOUNT_TIMING_RUNS` overrides, to look for a bias below the noise).
fn runs() -> usize {
    std::env::var("ACCOUNT_TIMING_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(30)
}
const WARM_UP: usize = 5;
const MAIL_LATENCY: Duration = Duration::from_millis(25);
const PASSWORD: &str = "violet-otter-planet-92-saxophone";

/// Hands each message to an outbox after an SMTP-like delay.
struct SlowMailer(Outbox);

#[async_trait]
impl Mailer for SlowMailer {
    async fn send(&self, message: Message) -> Result<(), Error> {
        tokio::time::sleep(MAIL_LATENCY).await;
        self.0.send(message).await
    }
}

struct Bench {
    accounts: Accounts,
    outbox: Outbox,
    fresh: AtomicU64,
}

impl Bench {
    fn new(store: Arc<dyn Store>) -> Self {
        let outbox = Outbox::new();
        let passwords = Passwords::builder()
            .params(HashParams::INSECURE_FAST)
            .build()
            .unwrap();
        let totp = Totp::new("Vault", SealingKey::generate().unwrap()).unwrap();
        // The default limits: past three mails of a kind a window, the existing path queues
        // decoys too, as it does in production.
        let mailer = Arc::new(SlowMailer(outbox.clone()));
        let accounts = Accounts::builder(store, passwords, totp, mailer).build();
        Self {
            accounts,
            outbox,
            fresh: AtomicU64::new(0),
        }
    }

    /// A new address each call.
    fn fresh(&self) -> String {
        format!(
            "new{}@example.com",
            self.fresh.fetch_add(1, Ordering::Relaxed)
        )
    }

    async fn delivered(&self, kind: MailKind, to: &str) -> Message {
        for _ in 0..200 {
            if let Some(mail) = self.outbox.last_of(kind, to) {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no {kind:?} mail reached {to}");
    }

    async fn verified(&self, email: &str) -> SessionToken {
        self.accounts.sign_up("Ada Lovelace", email).await.unwrap();
        let mail = self.delivered(MailKind::VerifyEmail, email).await;
        self.accounts
            .complete_sign_up(
                &Proof::Link(mail.token.unwrap()),
                SecretString::from(PASSWORD),
            )
            .await
            .unwrap();
        let client = Client::at(Ipv4Addr::LOCALHOST.into());
        match self
            .accounts
            .sign_in(email, SecretString::from(PASSWORD), client)
            .await
        {
            Ok(SignIn::Session(s)) => s.token,
            other => panic!("sign-in answered {other:?}"),
        }
    }
}

/// Times `existing` and `unknown` alternately; the medians in milliseconds.
async fn compare<A, B, FA, FB>(existing: A, unknown: B) -> (f64, f64)
where
    A: Fn() -> FA,
    B: Fn() -> FB,
    FA: Future<Output = ()>,
    FB: Future<Output = ()>,
{
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for i in 0..WARM_UP + runs() {
        let run = async |first: bool| {
            let start = Instant::now();
            if first {
                existing().await;
            } else {
                unknown().await;
            }
            start.elapsed().as_secs_f64() * 1e3
        };
        let (x, y) = if i % 2 == 0 {
            let x = run(true).await;
            (x, run(false).await)
        } else {
            let y = run(false).await;
            (run(true).await, y)
        };
        if i >= WARM_UP {
            a.push(x);
            b.push(y);
        }
    }
    (median(a), median(b))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

async fn run_store(name: &str, store: Arc<dyn Store>) {
    let bench = Bench::new(store);
    let worker = bench.accounts.spawn_mail_worker();
    let a = &bench.accounts;
    let session = bench.verified("ada@example.com").await;
    bench.verified("taken@example.com").await;
    a.sign_up("Bob", "bob@example.com").await.unwrap(); // stays unverified
    if std::env::var_os("NO_WORKER").is_some() {
        drop(worker);
    }

    let rows = [
        (
            "sign-up (verified address vs new)",
            compare(
                || async { a.sign_up("Ada", "ada@example.com").await.unwrap() },
                || async { a.sign_up("New", &bench.fresh()).await.unwrap() },
            )
            .await,
        ),
        (
            "resend (unverified account vs none)",
            compare(
                || async { a.resend_verification("bob@example.com").await.unwrap() },
                || async { a.resend_verification(&bench.fresh()).await.unwrap() },
            )
            .await,
        ),
        (
            "forgot password (account vs none)",
            compare(
                || async { a.forgot_password("ada@example.com").await.unwrap() },
                || async { a.forgot_password(&bench.fresh()).await.unwrap() },
            )
            .await,
        ),
        (
            "email change (taken address vs free)",
            compare(
                || async { a.change_email(&session, "taken@example.com").await.unwrap() },
                || async { a.change_email(&session, &bench.fresh()).await.unwrap() },
            )
            .await,
        ),
    ];
    for (flow, (existing, unknown)) in rows {
        println!(
            "| {name} | {flow} | {existing:.3} ms | {unknown:.3} ms | {:.2}x |",
            existing / unknown
        );
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!(
            "mailer latency {} ms, {} requests a path (medians)",
            MAIL_LATENCY.as_millis(),
            runs()
        );
        println!("| store | flow | existing | unknown | existing / unknown |");
        println!("| --- | --- | ---: | ---: | ---: |");
        run_store("memory", Arc::new(MemoryStore::new())).await;
        let dir = tempfile::tempdir().unwrap();
        let path = std::env::var("ACCOUNT_TIMING_DB")
            .map_or_else(|_| dir.path().join("timing.db"), std::path::PathBuf::from);
        let url = format!("sqlite://{}", path.display());
        let sqlite = SqlStore::connect(&url).await.unwrap();
        run_store("sqlite", Arc::new(sqlite)).await;
    });
}

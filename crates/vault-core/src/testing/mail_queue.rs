//! The persisted mail queue as store conformance cases: rows are claimed, leased and deleted;
//! concurrent claims never share a mail; every path of a flow that must not tell whether an
//! account exists does the same store work and queues as many mails; queued bodies are
//! sealed, survive a restart, go out at least once under one `Message-ID`, and decoys never
//! go out at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};
use tokio::task::JoinSet;

use super::FaultyStore;
use crate::Error;
use crate::accounts::{
    AccountDefect, Accounts, AccountsConfig, Client, Links, MailKind, Mailer, Message, Outbox,
    Proof, QueuedMail, SessionToken, SignIn,
};
use crate::clock::{Clock, ManualClock};
use crate::password::{HashParams, Passwords};
use crate::store::{Scope, Store};
use crate::totp::{SealingKey, Totp};

const PASSWORD: &str = "violet-otter-planet-92-saxophone";
const KEY: [u8; 32] = [3; 32];

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

/// A mailer that refuses the first `failures` messages, then keeps them in an outbox.
struct Flaky {
    failures: AtomicU32,
    outbox: Outbox,
    /// The `Message-ID` of every attempt, refused ones included.
    attempts: std::sync::Mutex<Vec<String>>,
}

#[async_trait]
impl Mailer for Flaky {
    async fn send(&self, message: Message) -> Result<(), Error> {
        self.attempts
            .lock()
            .unwrap()
            .push(message.message_id.clone());
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err(Error::Account(AccountDefect::MailNotSent));
        }
        self.outbox.send(message).await
    }
}

/// The services of a case: accounts over a [`FaultyStore`] (to count store steps) of the
/// store under test.
struct Kit {
    store: Arc<dyn Store>,
    faults: Arc<FaultyStore>,
    accounts: Accounts,
    mailer: Arc<Flaky>,
    clock: ManualClock,
}

impl Kit {
    fn new(store: Arc<dyn Store>, failures: u32) -> Self {
        let clock = ManualClock::default();
        let faults = Arc::new(FaultyStore::new(store.clone()));
        let mailer = Arc::new(Flaky {
            failures: AtomicU32::new(failures),
            outbox: Outbox::new(),
            attempts: std::sync::Mutex::default(),
        });
        let accounts = accounts(faults.clone(), mailer.clone(), &clock);
        Self {
            store,
            faults,
            accounts,
            mailer,
            clock,
        }
    }

    fn outbox(&self) -> &Outbox {
        &self.mailer.outbox
    }

    /// Store steps (writes and commits) and queued mails of `flow`.
    async fn work<F: std::future::Future<Output = Result<(), Error>>>(
        &self,
        flow: F,
    ) -> (u64, usize) {
        let before = queued(&*self.store).await.len();
        self.faults.fail_step(0);
        flow.await.expect("the flow answers Ok");
        let steps = self.faults.steps();
        (steps, queued(&*self.store).await.len() - before)
    }

    /// A verified account with a password, and its session.
    async fn verified(&self, email: &str) -> SessionToken {
        self.accounts.sign_up("Ada Lovelace", email).await.unwrap();
        self.accounts.deliver_mail().await.unwrap();
        let mail = self.outbox().last_of(MailKind::VerifyEmail, email).unwrap();
        self.accounts
            .complete_sign_up(&Proof::Link(mail.token.unwrap()), secret(PASSWORD))
            .await
            .unwrap();
        let client = Client::at(std::net::Ipv4Addr::LOCALHOST.into());
        match self.accounts.sign_in(email, secret(PASSWORD), client).await {
            Ok(SignIn::Session(s)) => s.token,
            other => panic!("sign-in answered {other:?}"),
        }
    }
}

fn accounts(store: Arc<dyn Store>, mailer: Arc<dyn Mailer>, clock: &ManualClock) -> Accounts {
    let passwords = Passwords::builder()
        .params(HashParams::INSECURE_FAST)
        .build()
        .unwrap();
    let totp = Totp::new("Vault", SealingKey::from_bytes(&KEY).unwrap()).unwrap();
    Accounts::builder(store, passwords, totp, mailer)
        .clock(clock.clone())
        .config(AccountsConfig {
            links: Links::new("https://vault.example"),
            ..AccountsConfig::default()
        })
        .build()
}

async fn queued(store: &dyn Store) -> Vec<QueuedMail> {
    let mut view = store.read().await.unwrap();
    view.queued_mails(u32::MAX).await.unwrap()
}

fn mail(due_at: OffsetDateTime) -> QueuedMail {
    QueuedMail {
        id: uuid::Uuid::new_v4(),
        sealed: vec![1, 2, 3],
        created_at: due_at - Duration::seconds(1),
        due_at,
        attempts: 0,
    }
}

async fn put_mails(store: &dyn Store, mails: &[QueuedMail]) {
    let mut tx = store.begin(Scope::none()).await.unwrap();
    for m in mails {
        tx.put_mail(m).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn claim(store: &dyn Store, now: OffsetDateTime, limit: u32) -> Vec<QueuedMail> {
    let mut tx = store.begin(Scope::none()).await.unwrap();
    let claimed = tx
        .claim_mails(now, now + Duration::minutes(1), limit)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    claimed
}

/// Due mails are claimed oldest due first, leased (due again at the lease's end, one more
/// attempt), not claimed twice within the lease, listed in due order, and deleted once.
pub async fn mail_rows_are_claimed_leased_and_deleted(store: Arc<dyn Store>) {
    let s = &*store;
    let now = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
    let (late, due, later) = (
        mail(now - Duration::seconds(5)),
        mail(now),
        mail(now + Duration::seconds(10)),
    );
    put_mails(s, &[later.clone(), due.clone(), late.clone()]).await;
    let ids: Vec<_> = queued(s).await.iter().map(|m| m.id).collect();
    assert_eq!(ids, [late.id, due.id, later.id], "due order");
    assert_eq!(queued(s).await[0], late, "every field round-trips");

    let first = claim(s, now, 1).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, late.id, "the oldest due first");
    assert_eq!(first[0].attempts, 1);
    assert_eq!(first[0].due_at, now + Duration::minutes(1), "leased");
    assert_eq!(first[0].sealed, late.sealed);
    let second = claim(s, now, 10).await;
    assert_eq!(second.iter().map(|m| m.id).collect::<Vec<_>>(), [due.id]);
    assert_eq!(second[0].created_at, due.created_at);
    assert!(claim(s, now, 10).await.is_empty(), "leased mails wait");

    let after_lease = claim(s, now + Duration::minutes(1), 10).await;
    assert_eq!(
        after_lease.len(),
        3,
        "leases end; the later mail is due too"
    );
    assert!(
        after_lease
            .iter()
            .any(|m| m.id == late.id && m.attempts == 2)
    );

    let mut tx = s.begin(Scope::none()).await.unwrap();
    assert!(tx.delete_mail(late.id).await.unwrap());
    assert!(!tx.delete_mail(late.id).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(queued(s).await.len(), 2);
}

/// Two workers claiming at once never get the same mail, and between them get every one.
pub async fn concurrent_claims_never_share_a_mail(store: Arc<dyn Store>) {
    let now = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
    let mails: Vec<_> = (0..20).map(|_| mail(now)).collect();
    put_mails(&*store, &mails).await;
    let mut workers = JoinSet::new();
    for _ in 0..2 {
        let store = store.clone();
        workers.spawn(async move {
            let mut tx = store.begin(Scope::none()).await.unwrap();
            let claimed = tx
                .claim_mails(now, now + Duration::minutes(1), 10)
                .await
                .unwrap();
            // Hold the claim a while, as a worker sending mail would.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            tx.commit().await.unwrap();
            claimed.into_iter().map(|m| m.id).collect::<Vec<_>>()
        });
    }
    let mut seen = Vec::new();
    while let Some(claimed) = workers.join_next().await {
        seen.extend(claimed.unwrap());
    }
    let count = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), count, "a mail was claimed twice");
    assert_eq!(count, 20, "every mail was claimed once");
}

/// Sign-up, resend, "Forgot password?" and an email change do the same store work and queue
/// as many mails whether the account exists (or the address is taken) or not; only the real
/// path's mail is ever sent.
pub async fn every_path_of_a_flow_does_the_same_work(store: Arc<dyn Store>) {
    let kit = Kit::new(store, 0);
    let a = &kit.accounts;
    let session = kit.verified("ada@example.com").await;
    a.sign_up("Bob", "bob@example.com").await.unwrap(); // unverified
    a.deliver_mail().await.unwrap();

    let new = kit.work(a.sign_up("Carol", "carol@example.com")).await;
    let verified = kit.work(a.sign_up("Not Ada", "ada@example.com")).await;
    let unverified = kit.work(a.sign_up("Bob", "bob@example.com")).await;
    assert_eq!(new, verified, "sign-up: a new address and a verified one");
    assert_eq!(
        new, unverified,
        "sign-up: a new address and an unverified one"
    );
    assert_eq!(new.1, 1, "one mail each");

    let known = kit.work(a.resend_verification("bob@example.com")).await;
    let unknown = kit.work(a.resend_verification("nobody@example.com")).await;
    assert_eq!(
        known, unknown,
        "resend: an unverified account and no account"
    );

    let known = kit.work(a.forgot_password("ada@example.com")).await;
    let unknown = kit.work(a.forgot_password("nobody@example.com")).await;
    assert_eq!(known, unknown, "forgot password: an account and none");
    assert_eq!(known.1, 1);

    let free = kit
        .work(a.change_email(&session, "ada.new@example.com"))
        .await;
    let taken = kit.work(a.change_email(&session, "bob@example.com")).await;
    assert_eq!(free, taken, "email change: a free address and a taken one");
    assert_eq!(free.1, 2, "the confirmation and the notice");

    let sent_before = kit.outbox().messages().len();
    let done = a.deliver_mail().await.unwrap();
    assert!(done.decoys >= 2, "{done:?}");
    let sent: Vec<Message> = kit.outbox().messages()[sent_before..].to_vec();
    assert_eq!(sent.len(), usize::try_from(done.sent).unwrap());
    assert_eq!(
        kit.outbox().count_to("nobody@example.com"),
        0,
        "decoys stay unsent"
    );
    assert!(
        kit.outbox()
            .last_of(MailKind::SignUpNotice, "ada@example.com")
            .is_some()
    );
    assert!(
        kit.outbox()
            .last_of(MailKind::ResetPassword, "ada@example.com")
            .is_some()
    );
    assert!(
        queued(&*kit.store).await.is_empty(),
        "sent and decoys deleted"
    );
}

/// A queued mail is sealed (no recipient, token or code readable in the row), outlives the
/// instance that queued it (another instance sends it after a crash), and its link works.
pub async fn queued_mail_is_sealed_and_survives_a_restart(store: Arc<dyn Store>) {
    let kit = Kit::new(store.clone(), 0);
    kit.verified("grace@example.com").await;
    kit.accounts
        .forgot_password("grace@example.com")
        .await
        .unwrap();
    let rows = queued(&*store).await;
    assert_eq!(rows.len(), 1);
    drop(kit.accounts); // the instance is gone before its worker ran

    let outbox = Outbox::new();
    let restarted = accounts(store.clone(), Arc::new(outbox.clone()), &kit.clock);
    let done = restarted.deliver_mail().await.unwrap();
    assert_eq!(done.sent, 1, "{done:?}");
    let mail = outbox
        .last_of(MailKind::ResetPassword, "grace@example.com")
        .expect("the reset mail");
    let (token, code) = (mail.token.clone().unwrap(), mail.code.clone().unwrap());
    for needle in [
        "grace@example.com",
        token.expose_secret(),
        code.expose_secret(),
        "Reset your password",
    ] {
        let sealed = &rows[0].sealed;
        assert!(
            !sealed.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "{needle:?} is readable in the queued row"
        );
    }
    assert!(mail.message_id.starts_with(&format!("<{}@", rows[0].id)));
    assert!(mail.message_id.ends_with("@vault.example>"));
    restarted
        .reset_password(&Proof::Link(token), secret("a brand new long passphrase 4"))
        .await
        .unwrap();
    assert!(queued(&*store).await.iter().all(|m| m.id != rows[0].id));
}

/// A mail the mailer refuses is tried again after a wait with the same `Message-ID`; a mail
/// claimed by a worker that died goes out once its lease ends.
pub async fn refused_and_abandoned_mails_go_out_later_under_one_message_id(store: Arc<dyn Store>) {
    let kit = Kit::new(store.clone(), 1);
    let a = &kit.accounts;
    a.sign_up("Ada", "ada@example.com").await.unwrap();
    let done = a.deliver_mail().await.unwrap();
    assert_eq!((done.sent, done.retried), (0, 1), "{done:?}");
    assert_eq!(
        a.deliver_mail().await.unwrap().sent,
        0,
        "not before the wait"
    );
    kit.clock.advance(AccountsConfig::default().mail_retry);
    assert_eq!(a.deliver_mail().await.unwrap().sent, 1);
    let attempts = kit.mailer.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0], attempts[1], "one Message-ID for every attempt");

    // A worker claims the next mail and dies before sending it.
    a.forgot_password("ada@example.com").await.unwrap();
    a.resend_verification("ada@example.com").await.unwrap();
    let now = kit.clock.now();
    let abandoned = claim(&*store, now, 10).await;
    assert_eq!(abandoned.len(), 2, "the decoy of the reset and the resend");
    assert_eq!(
        a.deliver_mail().await.unwrap(),
        Default::default(),
        "leased"
    );
    kit.clock.advance(AccountsConfig::default().mail_lease);
    let done = a.deliver_mail().await.unwrap();
    assert_eq!((done.sent, done.decoys), (1, 1), "{done:?}");
    assert_eq!(kit.outbox().count_to("ada@example.com"), 2);
}

/// Tokens past their end (decoys included) are purged once they no longer count against
/// any mail limit.
pub async fn expired_tokens_are_purged(store: Arc<dyn Store>) {
    let kit = Kit::new(store.clone(), 0);
    let a = &kit.accounts;
    a.forgot_password("nobody@example.com").await.unwrap();
    a.sign_up("Ada", "ada@example.com").await.unwrap();
    assert_eq!(
        a.purge_expired_tokens().await.unwrap(),
        0,
        "nothing expired"
    );
    let config = AccountsConfig::default();
    kit.clock
        .advance(config.reset_ttl + config.mail_window + Duration::seconds(1));
    assert_eq!(a.purge_expired_tokens().await.unwrap(), 1, "the decoy");
    a.deliver_mail().await.unwrap();
    let mail = kit
        .outbox()
        .last_of(MailKind::VerifyEmail, "ada@example.com")
        .unwrap();
    a.complete_sign_up(&Proof::Link(mail.token.unwrap()), secret(PASSWORD))
        .await
        .expect("the live verification token stays");
}

//! Sign-in throttling as store conformance cases: guesses from one address or a few never
//! lock the owner out from elsewhere, the password checks of a window stay bounded, and past
//! the account's pool a right password earns a mailed code. They run on every store because
//! the counters are rows, read and written in one transaction per attempt.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use time::Duration;
use tokio::task::JoinSet;

use crate::Error;
use crate::accounts::{
    AccountDefect, Accounts, AccountsConfig, Challenge, Client, Email, Links, Outbox, Proof,
    SessionToken, SignIn, ThrottleKey,
};
use crate::clock::{Clock, ManualClock};
use crate::ids::UserId;
use crate::password::{HashParams, Passwords};
use crate::store::Store;
use crate::totp::{SealedSecret, SealingKey, Totp};

const PASSWORD: &str = "violet-otter-planet-92-saxophone";
const WRONG: &str = "not the password at all";
/// How long a race may take before it counts as a deadlock.
const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// The services of a case over the store under test.
struct Kit {
    store: Arc<dyn Store>,
    accounts: Accounts,
    outbox: Outbox,
    clock: ManualClock,
    totp: Totp,
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

/// The `n`th client address (198.18.0.0/15, the benchmarking range).
fn client(n: u32) -> Client {
    Client::at(IpAddr::V4(Ipv4Addr::from(0xC612_0000 + n)))
}

/// What one guess met: a password check, or a refusal before it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Guesses {
    checked: u32,
    refused: u32,
    /// Checked past a spent pool: answered as a right password would be (a decoy challenge).
    veiled: u32,
}

impl Kit {
    fn new(store: Arc<dyn Store>) -> Self {
        let outbox = Outbox::new();
        let clock = ManualClock::default();
        let passwords = Passwords::builder()
            .params(HashParams::INSECURE_FAST)
            .build()
            .unwrap();
        let key = SealingKey::generate().unwrap().to_base64();
        let totp = || {
            Totp::new(
                "Vault",
                SealingKey::from_base64(key.expose_secret()).unwrap(),
            )
            .unwrap()
        };
        let accounts = Accounts::builder(
            Arc::clone(&store),
            passwords,
            totp(),
            Arc::new(outbox.clone()),
        )
        .clock(clock.clone())
        .config(AccountsConfig {
            links: Links::new("https://vault.example"),
            ..AccountsConfig::default()
        })
        .build();
        Self {
            store,
            accounts,
            outbox,
            clock,
            totp: totp(),
        }
    }

    /// A signed-up account; answers its address.
    async fn signed_up(&self) -> String {
        let email = format!("{}@example.com", UserId::random());
        self.accounts.sign_up("Ada Lovelace", &email).await.unwrap();
        let mail = self.mail().await.last_to(&email).expect("a mail");
        let token = mail.token.expect("a link");
        self.accounts
            .complete_sign_up(&Proof::Link(token), secret(PASSWORD))
            .await
            .unwrap();
        email
    }

    /// `count` wrong passwords for `email` from `client`, one after the other.
    async fn guess(&self, email: &str, client: Client, count: u32) -> Guesses {
        let mut seen = Guesses::default();
        for _ in 0..count {
            match self.accounts.sign_in(email, secret(WRONG), client).await {
                Err(Error::Account(AccountDefect::InvalidCredentials)) => seen.checked += 1,
                Err(Error::Account(AccountDefect::Throttled { .. })) => seen.refused += 1,
                Ok(SignIn::MailedCodeRequired(_)) => {
                    seen.checked += 1;
                    seen.veiled += 1;
                }
                other => panic!("a wrong password answered {other:?}"),
            }
        }
        seen
    }

    /// The owner's sign-in with the right password from `client`: a session.
    async fn owner_signs_in(&self, email: &str, client: Client, when: &str) -> SessionToken {
        match self.accounts.sign_in(email, secret(PASSWORD), client).await {
            Ok(SignIn::Session(s)) => s.token,
            other => panic!("{when}: the owner's right password answered {other:?}"),
        }
    }

    /// The right password from `client`, past a spent pool: a mailed code's challenge.
    async fn mailed_code_required(&self, email: &str, client: Client) -> Challenge {
        match self.accounts.sign_in(email, secret(PASSWORD), client).await {
            Ok(SignIn::MailedCodeRequired(c)) => c,
            other => panic!("past a spent pool the right password answered {other:?}"),
        }
    }

    /// The outbox, once the mail worker delivered every queued mail.
    async fn mail(&self) -> &Outbox {
        self.accounts.deliver_mail().await.expect("mail delivered");
        &self.outbox
    }

    /// The 6-digit code of the newest mail to `to`.
    async fn mailed_code(&self, to: &str) -> String {
        let mail = self.mail().await.last_to(to).expect("a mail");
        mail.code.expect("a code").expose_secret().to_owned()
    }

    /// Spends the account's pool the way a distributed attack does: 10 addresses use their
    /// shares, 10 more the 50 checks of the pool. Answers the password checks it took.
    async fn spend_the_pool(&self, email: &str) -> u32 {
        let mut checked = 0;
        for n in 100..110 {
            checked += self.guess(email, client(n), 6).await.checked;
        }
        for n in 200..210 {
            checked += self.guess(email, client(n), 5).await.checked;
        }
        assert_eq!(checked, 100, "the shares' 50 checks and the pool's 50");
        checked
    }

    /// A counter as the store keeps it.
    async fn counter(&self, key: ThrottleKey) -> u32 {
        let mut tx = self.store.read().await.unwrap();
        tx.throttle(&key)
            .await
            .unwrap()
            .unwrap_or_default()
            .attempts
    }
}

/// Another code than `code`, of the same form.
fn wrong_code(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

fn refusal<T: std::fmt::Debug>(result: Result<T, Error>) -> AccountDefect {
    match result {
        Err(Error::Account(defect)) => defect,
        other => panic!("expected an account refusal, got {other:?}"),
    }
}

/// Issue 11's scenario: 50 wrong passwords for one account from one address. Five reach a
/// password check, 45 are refused by the account+address rule and count nowhere else, and the
/// owner signs in from another address at once, and again after each round of 50 guesses
/// every five minutes for an hour; that one address never gets more than 10 checks a window.
pub async fn guesses_from_one_address_never_lock_the_owner_out_elsewhere(store: Arc<dyn Store>) {
    let kit = Kit::new(store);
    let email = kit.signed_up().await;
    let (attacker, owner) = (client(1), client(2));
    let first = kit.guess(&email, attacker, 50).await;
    assert_eq!(
        first,
        Guesses {
            checked: 5,
            refused: 45,
            veiled: 0,
        }
    );
    kit.owner_signs_in(&email, owner, "after 50 guesses").await;
    let mut checked = first.checked;
    for round in 1..12 {
        kit.clock.advance(Duration::minutes(5));
        let seen = kit.guess(&email, attacker, 50).await;
        assert!(seen.checked <= 5, "round {round}: {seen:?}");
        checked += seen.checked;
        kit.owner_signs_in(&email, owner, &format!("round {round}"))
            .await;
    }
    // Four 15-minute windows began in the hour, with 10 checks each at most.
    assert!(
        checked <= 40,
        "{checked} checks from one address in an hour"
    );
}

/// Ten addresses guess 50 times each, then again every minute for a quarter of an hour: the
/// owner from an eleventh address, one that has not failed, signs in every time, and those
/// ten addresses got at most 10 password checks each in the window.
pub async fn ten_addresses_guessing_never_lock_the_owner_out(store: Arc<dyn Store>) {
    let kit = Kit::new(store);
    let email = kit.signed_up().await;
    let attackers: Vec<Client> = (10..20).map(client).collect();
    let owner = client(99);
    let mut checked = 0;
    for attacker in &attackers {
        let seen = kit.guess(&email, *attacker, 50).await;
        assert_eq!(
            seen,
            Guesses {
                checked: 5,
                refused: 45,
                veiled: 0,
            }
        );
        checked += seen.checked;
    }
    kit.owner_signs_in(&email, owner, "after 10 × 50 guesses")
        .await;
    for minute in 1..15 {
        kit.clock.advance(Duration::minutes(1));
        for attacker in &attackers {
            checked += kit.guess(&email, *attacker, 6).await.checked;
        }
        kit.owner_signs_in(&email, owner, &format!("minute {minute}"))
            .await;
    }
    assert!(
        checked <= 10 * 10,
        "{checked} checks from ten addresses in one window"
    );
}

/// Past the account's pool (spent by 20 addresses) a wrong password is still only
/// `InvalidCredentials` and mails nothing; the right one from a fresh address earns a code
/// mailed to the account, not a session. The code works once, five wrong codes end its
/// challenge, and at most three codes go out a window; the pool recovers with time.
pub async fn past_the_pool_a_right_password_earns_a_mailed_code(store: Arc<dyn Store>) {
    let kit = Kit::new(store);
    let email = kit.signed_up().await;
    kit.spend_the_pool(&email).await;
    let mails = kit.mail().await.count_to(&email);
    let seen = kit.guess(&email, client(300), 1).await;
    assert_eq!(seen.checked, 1, "a spent pool is no lock");
    assert_eq!(
        seen.veiled, 1,
        "past the pool a wrong password answers as a right one"
    );
    assert_eq!(
        kit.mail().await.count_to(&email),
        mails,
        "no mail without the password"
    );
    // Its challenge is a decoy: no code completes it, whatever is tried.
    let Ok(SignIn::MailedCodeRequired(decoy)) = kit
        .accounts
        .sign_in(&email, secret(WRONG), client(301))
        .await
    else {
        panic!("a wrong password past the pool answers a challenge");
    };
    for code in ["000000", "123456", "999999"] {
        let tried = kit.accounts.complete_mailed_code(&decoy, code).await;
        assert_eq!(refusal(tried), AccountDefect::InvalidToken);
    }
    assert_eq!(kit.mail().await.count_to(&email), mails);

    let owner = client(999);
    let challenge = kit.mailed_code_required(&email, owner).await;
    assert_eq!(kit.mail().await.count_to(&email), mails + 1);
    let code = kit.mailed_code(&email).await;
    let wrong = kit
        .accounts
        .complete_mailed_code(&challenge, &wrong_code(&code))
        .await;
    assert_eq!(refusal(wrong), AccountDefect::InvalidToken);
    let session = match kit.accounts.complete_mailed_code(&challenge, &code).await {
        Ok(SignIn::Session(s)) => s,
        other => panic!("the right code answered {other:?}"),
    };
    assert!(!session.session.two_factor_passed);
    kit.accounts.authenticate(&session.token).await.unwrap();
    let again = kit.accounts.complete_mailed_code(&challenge, &code).await;
    assert_eq!(refusal(again), AccountDefect::InvalidToken, "single use");

    let challenge = kit.mailed_code_required(&email, owner).await;
    let code = kit.mailed_code(&email).await;
    for _ in 0..5 {
        let wrong = kit
            .accounts
            .complete_mailed_code(&challenge, &wrong_code(&code))
            .await;
        assert_eq!(refusal(wrong), AccountDefect::InvalidToken);
    }
    let late = kit.accounts.complete_mailed_code(&challenge, &code).await;
    assert_eq!(
        refusal(late),
        AccountDefect::InvalidToken,
        "five wrong codes end it"
    );

    // Used and ended codes no longer count; three open ones a window do.
    for _ in 0..3 {
        kit.mailed_code_required(&email, owner).await;
    }
    let sent = kit.mail().await.count_to(&email);
    let more = kit.accounts.sign_in(&email, secret(PASSWORD), owner).await;
    assert!(matches!(refusal(more), AccountDefect::Throttled { .. }));
    assert_eq!(kit.mail().await.count_to(&email), sent);
    let forged = Challenge::from("not-a-challenge".to_owned());
    let forged = kit.accounts.complete_mailed_code(&forged, "123456").await;
    assert_eq!(refusal(forged), AccountDefect::InvalidToken);

    // The pool and the mail window recover: a session again, without a code.
    kit.clock.advance(Duration::minutes(15));
    kit.owner_signs_in(&email, owner, "after the pool's lock")
        .await;
}

/// With 2FA on, the mailed code does not replace the second factor: it leads to the 2FA
/// challenge, and the TOTP code then begins a session that passed 2FA.
pub async fn a_mailed_code_still_asks_for_the_second_factor(store: Arc<dyn Store>) {
    let kit = Kit::new(store);
    let email = kit.signed_up().await;
    let session = kit.owner_signs_in(&email, client(1), "before 2FA").await;
    let enrolment = kit.accounts.begin_two_factor(&session).await.unwrap();
    let user = kit.accounts.authenticate(&session).await.unwrap().user_id;
    let sealed: &SealedSecret = &enrolment.sealed;
    let code = kit.totp.code_at(user, sealed, kit.clock.now()).unwrap();
    kit.accounts
        .confirm_two_factor(&session, code.expose_secret())
        .await
        .unwrap();
    kit.clock.advance(Duration::seconds(30));

    kit.spend_the_pool(&email).await;
    let challenge = kit.mailed_code_required(&email, client(999)).await;
    let mailed = kit.mailed_code(&email).await;
    let second = match kit.accounts.complete_mailed_code(&challenge, &mailed).await {
        Ok(SignIn::TwoFactorRequired(c)) => c,
        other => panic!("2FA is on: the right code answered {other:?}"),
    };
    let code = kit.totp.code_at(user, sealed, kit.clock.now()).unwrap();
    let signed_in = kit
        .accounts
        .complete_two_factor(&second, code.expose_secret())
        .await
        .unwrap();
    assert!(signed_in.session.two_factor_passed);
}

/// Parallel guesses pass no budget: of 20 at once from one address exactly 5 reach a check,
/// and of 20 at once from 20 addresses exactly 10 draw a share and the other 10 count on the
/// pool (lost updates would show as fewer).
pub async fn parallel_guesses_pass_no_budget(store: Arc<dyn Store>) {
    let kit = Arc::new(Kit::new(store));
    let email = kit.signed_up().await;
    let outcomes = race(&kit, &email, (0..20).map(|_| client(1))).await;
    assert_eq!(outcomes.checked, 5, "{outcomes:?}");

    let email = kit.signed_up().await;
    let outcomes = race(&kit, &email, (100..120).map(client)).await;
    assert_eq!(outcomes.checked, 20, "{outcomes:?}");
    let normalized = Email::parse(&email).unwrap().normalized().to_owned();
    let shares = ThrottleKey::SignInShares {
        email: normalized.clone(),
    };
    assert_eq!(kit.counter(shares).await, 10);
    let pool = ThrottleKey::SignIn { email: normalized };
    assert_eq!(kit.counter(pool).await, 10);
}

/// One wrong guess from each client, all at once.
async fn race(kit: &Arc<Kit>, email: &str, clients: impl Iterator<Item = Client>) -> Guesses {
    let mut racers = JoinSet::new();
    for client in clients {
        let (kit, email) = (Arc::clone(kit), email.to_owned());
        racers.spawn(async move { kit.guess(&email, client, 1).await });
    }
    let done = tokio::time::timeout(PATIENCE, racers.join_all()).await;
    let mut seen = Guesses::default();
    for one in done.expect("the guesses finish") {
        seen.checked += one.checked;
        seen.refused += one.refused;
    }
    seen
}

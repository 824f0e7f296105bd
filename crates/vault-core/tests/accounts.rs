//! The account flows of the product docs, end to end on the memory store with a manual clock
//! and the in-memory outbox: sign-up, verification, sign-in, throttling, recovery, password
//! change, sessions, TOTP, profile.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use time::Duration;
use vault_core::accounts::{
    AccountDefect, Accounts, AccountsConfig, Challenge, Client, Links, Outbox, Proof, SessionToken,
    SignIn, ThrottlePolicy, WorkspaceMembership,
};
use vault_core::audit::MemoryAuditSink;
use vault_core::password::{HashParams, Passwords};
use vault_core::totp::{SealedSecret, SealingKey, Totp};
use vault_core::{Clock, Error, ManualClock, MemoryStore, UserId, WorkspaceId};

const PASSWORD: &str = "violet-otter-planet-92-saxophone";
const OTHER_PASSWORD: &str = "amber lantern drifting over 7 dunes";
const TOTP_KEY: [u8; 32] = [7; 32];

struct Kit {
    accounts: Accounts,
    store: Arc<MemoryStore>,
    outbox: Outbox,
    clock: ManualClock,
    audit: MemoryAuditSink,
}

struct Members(WorkspaceId);

#[async_trait]
impl WorkspaceMembership for Members {
    async fn is_member(&self, _user: UserId, workspace: WorkspaceId) -> Result<bool, Error> {
        Ok(workspace == self.0)
    }
}

fn totp() -> Totp {
    Totp::new("Vault", SealingKey::from_bytes(&TOTP_KEY).unwrap()).unwrap()
}

fn kit_with(member_of: WorkspaceId) -> Kit {
    kit_with_throttle(member_of, ThrottlePolicy::default())
}

fn kit_with_throttle(member_of: WorkspaceId, throttle: ThrottlePolicy) -> Kit {
    let store = Arc::new(MemoryStore::new());
    let outbox = Outbox::new();
    let clock = ManualClock::default();
    let audit = MemoryAuditSink::new();
    let passwords = Passwords::builder()
        .params(HashParams::INSECURE_FAST)
        .build()
        .unwrap();
    let accounts = Accounts::builder(store.clone(), passwords, totp(), Arc::new(outbox.clone()))
        .clock(clock.clone())
        .audit(audit.clone())
        .membership(Arc::new(Members(member_of)))
        .config(AccountsConfig {
            links: Links::new("https://vault.example"),
            throttle,
            ..AccountsConfig::default()
        })
        .build();
    Kit {
        accounts,
        store,
        outbox,
        clock,
        audit,
    }
}

fn kit() -> Kit {
    kit_with(WorkspaceId::random())
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn here() -> Client {
    Client::at(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
}

fn elsewhere() -> Client {
    Client::at(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)))
}

/// The token of the newest link mailed to `to`.
fn link_token(outbox: &Outbox, to: &str) -> SecretString {
    let mail = outbox.last_to(to).expect("a mail");
    let token = mail.token.expect("a link");
    assert!(
        mail.text
            .contains(&format!("#token={}", token.expose_secret()))
    );
    token
}

/// The typed code of the newest mail to `to`.
fn mailed_code(outbox: &Outbox, to: &str) -> SecretString {
    let mail = outbox.last_to(to).expect("a mail");
    let code = mail.code.expect("a code");
    assert!(mail.text.contains(code.expose_secret()));
    code
}

fn defect(result: Result<impl std::fmt::Debug, Error>) -> AccountDefect {
    match result {
        Err(Error::Account(d)) => d,
        other => panic!("expected an account refusal, got {other:?}"),
    }
}

impl Kit {
    /// The outbox, once the mail worker delivered every queued mail.
    async fn mail(&self) -> &Outbox {
        self.accounts.deliver_mail().await.unwrap();
        &self.outbox
    }

    async fn signed_up(&self, email: &str) -> UserId {
        self.accounts.sign_up("Ada Lovelace", email).await.unwrap();
        let token = link_token(self.mail().await, email);
        self.accounts
            .complete_sign_up(&Proof::Link(token), secret(PASSWORD))
            .await
            .unwrap()
    }

    async fn session(&self, email: &str, password: &str) -> SessionToken {
        match self
            .accounts
            .sign_in(email, secret(password), here())
            .await
            .unwrap()
        {
            SignIn::Session(s) => s.token,
            other => panic!("2FA was not expected: {other:?}"),
        }
    }
}

#[tokio::test]
async fn sign_up_verify_set_password_then_sign_in() {
    let kit = kit();
    kit.accounts
        .sign_up("Ada Lovelace", " Ada@Example.com ")
        .await
        .unwrap();
    let mail = kit.mail().await.last_to("ada@example.com").unwrap();
    assert!(
        mail.text
            .contains("https://vault.example/verify-email#token=")
    );
    // Before completing sign-up there is no password to sign in with.
    assert_eq!(
        defect(
            kit.accounts
                .sign_in("ada@example.com", secret(PASSWORD), here())
                .await
        ),
        AccountDefect::InvalidCredentials
    );

    let token = link_token(kit.mail().await, "ada@example.com");
    let user = kit
        .accounts
        .complete_sign_up(&Proof::Link(token.clone()), secret(PASSWORD))
        .await
        .unwrap();
    // The link works once.
    assert_eq!(
        defect(
            kit.accounts
                .complete_sign_up(&Proof::Link(token), secret(PASSWORD))
                .await
        ),
        AccountDefect::InvalidToken
    );

    let session = kit.session("ADA@example.com", PASSWORD).await;
    let info = kit.accounts.authenticate(&session).await.unwrap();
    assert_eq!(info.user_id, user);
    assert!(!info.two_factor_passed);
    assert!(kit.audit.actions().contains(&"account.sign_in.succeeded"));
}

#[tokio::test]
async fn sign_up_can_be_completed_with_the_typed_code() {
    let kit = kit();
    kit.accounts
        .sign_up("Grace", "grace@example.com")
        .await
        .unwrap();
    let code = mailed_code(kit.mail().await, "grace@example.com");
    let wrong = if code.expose_secret() == "000000" {
        "111111"
    } else {
        "000000"
    };
    let proof = |code: &str| Proof::Code {
        email: "grace@example.com".into(),
        code: secret(code),
    };
    assert_eq!(
        defect(
            kit.accounts
                .complete_sign_up(&proof(wrong), secret(PASSWORD))
                .await
        ),
        AccountDefect::InvalidToken
    );
    kit.accounts
        .complete_sign_up(&proof(code.expose_secret()), secret(PASSWORD))
        .await
        .unwrap();
    kit.session("grace@example.com", PASSWORD).await;
}

#[tokio::test]
async fn typed_codes_stop_working_after_five_wrong_tries() {
    let kit = kit();
    kit.accounts
        .sign_up("Grace", "grace@example.com")
        .await
        .unwrap();
    let code = mailed_code(kit.mail().await, "grace@example.com");
    let wrong = if code.expose_secret() == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        let proof = Proof::Code {
            email: "grace@example.com".into(),
            code: secret(wrong),
        };
        kit.accounts
            .complete_sign_up(&proof, secret(PASSWORD))
            .await
            .unwrap_err();
    }
    let proof = Proof::Code {
        email: "grace@example.com".into(),
        code: code.clone(),
    };
    assert_eq!(
        defect(
            kit.accounts
                .complete_sign_up(&proof, secret(PASSWORD))
                .await
        ),
        AccountDefect::InvalidToken
    );
}

#[tokio::test]
async fn malformed_emails_and_names_are_refused() {
    let kit = kit();
    for email in ["", "nope", "a@b", "a b@example.com"] {
        assert_eq!(
            defect(kit.accounts.sign_up("Ada", email).await),
            AccountDefect::InvalidEmail,
            "{email:?}"
        );
    }
    for name in ["", "   ", "tab\tname", &"n".repeat(101)] {
        assert_eq!(
            defect(kit.accounts.sign_up(name, "ada@example.com").await),
            AccountDefect::InvalidName
        );
    }
    assert!(kit.mail().await.messages().is_empty());
}

#[tokio::test]
async fn signing_up_with_a_taken_address_answers_alike_and_tells_the_owner() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    let mails_before = kit.mail().await.count_to("ada@example.com");
    let existing = kit.accounts.sign_up("Mallory", "ADA@example.com").await;
    let fresh = kit.accounts.sign_up("Mallory", "new@example.com").await;
    assert_eq!(format!("{existing:?}"), format!("{fresh:?}"));
    let notice = kit.mail().await.last_to("ada@example.com").unwrap();
    assert_eq!(
        kit.mail().await.count_to("ada@example.com"),
        mails_before + 1
    );
    assert!(notice.subject.contains("tried to sign up"));
    assert!(
        !notice.text.contains("#token="),
        "the owner's notice carries no sign-up link"
    );
    // Still one account: the original password works.
    kit.session("ada@example.com", PASSWORD).await;
}

#[tokio::test]
async fn weak_passwords_are_refused_and_the_link_survives() {
    let kit = kit();
    kit.accounts
        .sign_up("Ada Lovelace", "ada@example.com")
        .await
        .unwrap();
    let token = link_token(kit.mail().await, "ada@example.com");
    for weak in [
        "short",
        "password1234567890",
        "aaaaaaaaaaaaaaaaaaaa",
        "ada@example.com-is-my-pass",
    ] {
        let result = kit
            .accounts
            .complete_sign_up(&Proof::Link(token.clone()), secret(weak))
            .await;
        assert!(
            matches!(result, Err(Error::Password(_))),
            "{weak:?} accepted: {result:?}"
        );
    }
    kit.accounts
        .complete_sign_up(&Proof::Link(token), secret(PASSWORD))
        .await
        .unwrap();
}

#[tokio::test]
async fn verification_links_expire_and_resends_are_rate_limited() {
    let kit = kit();
    kit.accounts
        .sign_up("Ada", "ada@example.com")
        .await
        .unwrap();
    let token = link_token(kit.mail().await, "ada@example.com");
    kit.clock.advance(Duration::hours(25));
    assert_eq!(
        defect(
            kit.accounts
                .complete_sign_up(&Proof::Link(token), secret(PASSWORD))
                .await
        ),
        AccountDefect::InvalidToken
    );
    for _ in 0..5 {
        kit.accounts
            .resend_verification("ada@example.com")
            .await
            .unwrap();
    }
    assert_eq!(
        kit.mail().await.count_to("ada@example.com"),
        1 + 3,
        "three mails per window"
    );
    kit.accounts
        .resend_verification("nobody@example.com")
        .await
        .unwrap();
    kit.clock.advance(Duration::minutes(16));
    kit.accounts
        .resend_verification("ada@example.com")
        .await
        .unwrap();
    assert_eq!(kit.mail().await.count_to("ada@example.com"), 5);
}

#[tokio::test]
async fn unknown_email_and_wrong_password_answer_identically() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    let unknown = kit
        .accounts
        .sign_in("nobody@example.com", secret(PASSWORD), elsewhere())
        .await;
    let wrong = kit
        .accounts
        .sign_in("ada@example.com", secret("not the password at all"), here())
        .await;
    let malformed = kit
        .accounts
        .sign_in("not an email", secret(PASSWORD), elsewhere())
        .await;
    assert_eq!(defect(unknown), AccountDefect::InvalidCredentials);
    assert_eq!(defect(wrong), AccountDefect::InvalidCredentials);
    assert_eq!(defect(malformed), AccountDefect::InvalidCredentials);
}

#[tokio::test]
async fn failed_sign_ins_are_throttled_and_a_success_clears_them() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    for _ in 0..5 {
        assert_eq!(
            defect(
                kit.accounts
                    .sign_in("ada@example.com", secret("wrong password here"), here())
                    .await
            ),
            AccountDefect::InvalidCredentials
        );
    }
    // Now locked from this address, even with the right password...
    assert!(matches!(
        defect(
            kit.accounts
                .sign_in("ada@example.com", secret(PASSWORD), here())
                .await
        ),
        AccountDefect::Throttled {
            retry_after_secs: 30
        }
    ));
    // ...and unknown accounts are throttled the same way.
    for _ in 0..5 {
        kit.accounts
            .sign_in("ghost@example.com", secret("wrong password here"), here())
            .await
            .unwrap_err();
    }
    assert!(matches!(
        defect(
            kit.accounts
                .sign_in("ghost@example.com", secret(PASSWORD), here())
                .await
        ),
        AccountDefect::Throttled { .. }
    ));
    // The owner elsewhere is not locked out by the attacker's address.
    kit.session_from(elsewhere()).await;
    // The lock ends; a success clears the count.
    kit.clock.advance(Duration::seconds(30));
    kit.session("ada@example.com", PASSWORD).await;
    for _ in 0..4 {
        kit.accounts
            .sign_in("ada@example.com", secret("wrong password here"), here())
            .await
            .unwrap_err();
    }
    kit.session("ada@example.com", PASSWORD).await;
}

impl Kit {
    async fn session_from(&self, client: Client) -> SessionToken {
        match self
            .accounts
            .sign_in("ada@example.com", secret(PASSWORD), client)
            .await
            .unwrap()
        {
            SignIn::Session(s) => s.token,
            other => panic!("no 2FA: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_cannot_pass_the_limit() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let accounts = kit.accounts.clone();
        tasks.push(tokio::spawn(async move {
            accounts
                .sign_in("ada@example.com", secret("wrong password here"), here())
                .await
        }));
    }
    let mut checked = 0;
    for task in tasks {
        if matches!(
            task.await.unwrap(),
            Err(Error::Account(AccountDefect::InvalidCredentials))
        ) {
            checked += 1;
        }
    }
    assert_eq!(
        checked, 5,
        "exactly the limit of guesses reached the password check"
    );
}

fn at(address: &str) -> Client {
    Client::at(address.parse().unwrap())
}

#[tokio::test]
async fn ipv6_addresses_are_throttled_by_their_64() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    for _ in 0..5 {
        kit.accounts
            .sign_in(
                "ada@example.com",
                secret("wrong password here"),
                at("2001:db8:1:2::1"),
            )
            .await
            .unwrap_err();
    }
    // Another address of the same /64 is the same client (one host holds the whole /64)...
    let same = kit
        .accounts
        .sign_in(
            "ada@example.com",
            secret(PASSWORD),
            at("2001:db8:1:2:ffff::9"),
        )
        .await;
    assert!(matches!(defect(same), AccountDefect::Throttled { .. }));
    // ...the next /64 is another.
    kit.session_from(at("2001:db8:1:3::1")).await;
    // A dual-stack socket's IPv4-mapped address is its IPv4 address.
    for _ in 0..5 {
        kit.accounts
            .sign_in(
                "ada@example.com",
                secret("wrong password here"),
                at("::ffff:192.0.2.1"),
            )
            .await
            .unwrap_err();
    }
    let mapped = kit
        .accounts
        .sign_in("ada@example.com", secret(PASSWORD), here())
        .await;
    assert!(matches!(defect(mapped), AccountDefect::Throttled { .. }));
}

#[tokio::test]
async fn without_an_address_only_the_accounts_pool_applies() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    let unknown = Client::unknown_address();
    assert_eq!(unknown.address(), None);
    for _ in 0..50 {
        assert_eq!(
            defect(
                kit.accounts
                    .sign_in("ada@example.com", secret("wrong password here"), unknown)
                    .await
            ),
            AccountDefect::InvalidCredentials,
            "no per-address rule without an address"
        );
    }
    // The pool spent, a caller without an address is refused, right password or not...
    let right = kit
        .accounts
        .sign_in("ada@example.com", secret(PASSWORD), unknown)
        .await;
    assert!(matches!(defect(right), AccountDefect::Throttled { .. }));
    // ...while callers that give one still sign in: their shares never meet the pool.
    kit.session_from(elsewhere()).await;
}

#[tokio::test]
async fn guesses_at_sign_in_never_block_a_password_change() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    let session = kit.session("ada@example.com", PASSWORD).await;
    for _ in 0..51 {
        kit.accounts
            .sign_in(
                "ada@example.com",
                secret("wrong password here"),
                Client::unknown_address(),
            )
            .await
            .unwrap_err();
    }
    kit.accounts
        .change_password(&session, secret(PASSWORD), secret(OTHER_PASSWORD))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_mailed_sign_in_code_is_never_logged_audited_or_printed() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // No shares and a pool of one check: one wrong guess spends it.
    let kit = kit_with_throttle(
        WorkspaceId::random(),
        ThrottlePolicy {
            shares_per_account: 0,
            account: vault_core::accounts::ThrottleRule {
                attempts: 1,
                ..ThrottlePolicy::default().account
            },
            ..ThrottlePolicy::default()
        },
    );
    kit.signed_up("ada@example.com").await;
    kit.accounts
        .sign_in("ada@example.com", secret("wrong password here"), here())
        .await
        .unwrap_err();
    let challenge = match kit
        .accounts
        .sign_in("ada@example.com", secret(PASSWORD), elsewhere())
        .await
        .unwrap()
    {
        SignIn::MailedCodeRequired(c) => c,
        other => panic!("the pool is spent: {other:?}"),
    };
    let code = mailed_code(kit.mail().await, "ada@example.com");
    let session = match kit
        .accounts
        .complete_mailed_code(&challenge, code.expose_secret())
        .await
        .unwrap()
    {
        SignIn::Session(s) => s,
        other => panic!("no 2FA: {other:?}"),
    };
    assert_eq!(format!("{challenge:?}"), "Challenge([redacted])");
    let secrets = [
        code.expose_secret(),
        challenge.expose_secret(),
        session.token.expose_secret(),
    ];
    let events = serde_json::to_string(&kit.audit.events()).unwrap();
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for secret in secrets {
        assert!(!events.contains(secret) && !logs.contains(secret));
    }
    let actions = kit.audit.actions();
    assert!(
        actions.contains(&"account.sign_in.code_mailed"),
        "{actions:?}"
    );
}

#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn forgot_password_answers_alike_and_the_link_resets_once_and_ends_sessions() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    let session = kit.session("ada@example.com", PASSWORD).await;
    let known = kit.accounts.forgot_password("ada@example.com").await;
    let unknown = kit.accounts.forgot_password("nobody@example.com").await;
    let malformed = kit.accounts.forgot_password("not-an-email").await;
    assert_eq!(format!("{known:?}"), format!("{unknown:?}"));
    assert_eq!(format!("{known:?}"), format!("{malformed:?}"));
    assert_eq!(kit.mail().await.count_to("nobody@example.com"), 0);

    let token = link_token(kit.mail().await, "ada@example.com");
    kit.accounts
        .reset_password(&Proof::Link(token.clone()), secret(OTHER_PASSWORD))
        .await
        .unwrap();
    assert_eq!(
        defect(
            kit.accounts
                .reset_password(&Proof::Link(token), secret(PASSWORD))
                .await
        ),
        AccountDefect::InvalidToken
    );
    assert_eq!(
        defect(kit.accounts.authenticate(&session).await),
        AccountDefect::InvalidSession
    );
    assert!(
        kit.mail()
            .await
            .last_to("ada@example.com")
            .unwrap()
            .subject
            .contains("was reset")
    );
    assert_eq!(
        defect(
            kit.accounts
                .sign_in("ada@example.com", secret(PASSWORD), here())
                .await
        ),
        AccountDefect::InvalidCredentials
    );
    kit.session("ada@example.com", OTHER_PASSWORD).await;
    assert!(kit.audit.actions().contains(&"account.password.reset"));
}

#[tokio::test]
async fn reset_links_expire_after_thirty_minutes() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    kit.accounts
        .forgot_password("ada@example.com")
        .await
        .unwrap();
    let token = link_token(kit.mail().await, "ada@example.com");
    kit.clock.advance(Duration::minutes(30));
    assert_eq!(
        defect(
            kit.accounts
                .reset_password(&Proof::Link(token), secret(OTHER_PASSWORD))
                .await
        ),
        AccountDefect::InvalidToken
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_uses_of_one_reset_token_exactly_one_wins() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    kit.accounts
        .forgot_password("ada@example.com")
        .await
        .unwrap();
    let token = link_token(kit.mail().await, "ada@example.com");
    let spawn = |password: &'static str| {
        let accounts = kit.accounts.clone();
        let token = token.clone();
        tokio::spawn(async move {
            accounts
                .reset_password(&Proof::Link(token), secret(password))
                .await
        })
    };
    let (a, b) = (spawn(OTHER_PASSWORD), spawn("yet another fine pass phrase"));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_other_sessions() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    let here_session = kit.session("ada@example.com", PASSWORD).await;
    let other_session = kit.session_from(elsewhere()).await;
    assert_eq!(
        defect(
            kit.accounts
                .change_password(
                    &here_session,
                    secret("not my password ok"),
                    secret(OTHER_PASSWORD)
                )
                .await
        ),
        AccountDefect::WrongCurrentPassword
    );
    let renewed = kit
        .accounts
        .change_password(&here_session, secret(PASSWORD), secret(OTHER_PASSWORD))
        .await
        .unwrap();
    assert_eq!(
        defect(kit.accounts.authenticate(&here_session).await),
        AccountDefect::InvalidSession,
        "old token dead"
    );
    assert_eq!(
        defect(kit.accounts.authenticate(&other_session).await),
        AccountDefect::InvalidSession
    );
    assert!(kit.accounts.authenticate(&renewed.token).await.is_ok());
    assert!(
        kit.mail()
            .await
            .last_to("ada@example.com")
            .unwrap()
            .subject
            .contains("password was changed")
    );
}

#[tokio::test]
async fn sessions_expire_when_idle_and_at_their_absolute_end() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    let idle = kit.session("ada@example.com", PASSWORD).await;
    kit.clock.advance(Duration::minutes(29));
    assert!(kit.accounts.authenticate(&idle).await.is_ok());
    kit.clock.advance(Duration::minutes(30));
    assert_eq!(
        defect(kit.accounts.authenticate(&idle).await),
        AccountDefect::InvalidSession
    );

    let busy = kit.session("ada@example.com", PASSWORD).await;
    for _ in 0..(12 * 4) {
        kit.clock.advance(Duration::minutes(15));
        if kit.accounts.authenticate(&busy).await.is_err() {
            break;
        }
    }
    assert_eq!(
        defect(kit.accounts.authenticate(&busy).await),
        AccountDefect::InvalidSession,
        "12 h absolute end"
    );
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_or_all() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    let a = kit.session("ada@example.com", PASSWORD).await;
    let b = kit.session_from(elsewhere()).await;
    let c = kit.session("ada@example.com", PASSWORD).await;
    let listed = kit.accounts.list_sessions(&a).await.unwrap();
    assert_eq!(listed.len(), 3);
    let b_id = kit.accounts.authenticate(&b).await.unwrap().id;
    assert!(kit.accounts.end_session(&a, b_id).await.unwrap());
    assert!(kit.accounts.authenticate(&b).await.is_err());
    kit.accounts.sign_out(&c).await.unwrap();
    assert!(kit.accounts.authenticate(&c).await.is_err());
    assert_eq!(kit.accounts.sign_out_everywhere(&a).await.unwrap(), 1);
    assert!(kit.accounts.authenticate(&a).await.is_err());
}

#[tokio::test]
async fn a_session_switches_only_to_the_users_workspaces() {
    let mine = WorkspaceId::random();
    let kit = kit_with(mine);
    kit.signed_up("ada@example.com").await;
    let session = kit.session("ada@example.com", PASSWORD).await;
    assert_eq!(
        defect(
            kit.accounts
                .switch_workspace(&session, WorkspaceId::random())
                .await
        ),
        AccountDefect::NotAMember
    );
    let switched = kit.accounts.switch_workspace(&session, mine).await.unwrap();
    assert_eq!(switched.active_workspace, Some(mine));
    assert_eq!(
        kit.accounts
            .authenticate(&session)
            .await
            .unwrap()
            .active_workspace,
        Some(mine)
    );
    let user = switched.user_id;
    kit.accounts.forget_workspace(user, mine).await.unwrap();
    assert_eq!(
        kit.accounts
            .authenticate(&session)
            .await
            .unwrap()
            .active_workspace,
        None
    );
}

async fn with_two_factor(kit: &Kit) -> (UserId, SessionToken, Vec<SecretString>) {
    let user = kit.signed_up("ada@example.com").await;
    let session = kit.session("ada@example.com", PASSWORD).await;
    let enrolment = kit.accounts.begin_two_factor(&session).await.unwrap();
    let code = totp()
        .code_at(user, &enrolment.sealed, kit.clock.now())
        .unwrap();
    let enabled = kit
        .accounts
        .confirm_two_factor(&session, code.expose_secret())
        .await
        .unwrap();
    assert!(enabled.session.session.two_factor_passed);
    assert_eq!(
        defect(kit.accounts.authenticate(&session).await),
        AccountDefect::InvalidSession,
        "new token on 2FA"
    );
    (user, enabled.session.token, enabled.recovery_codes)
}

fn sealed_of(kit: &Kit, user: UserId) -> SealedSecret {
    use vault_core::store::Store;
    let state = futures_lite(async { kit.store.read().await.unwrap().user(user).await })
        .unwrap()
        .unwrap()
        .two_factor
        .unwrap();
    SealedSecret::from_bytes(&state.sealed_secret).unwrap()
}

fn futures_lite<F: std::future::Future>(f: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

async fn challenge(kit: &Kit) -> Challenge {
    match kit
        .accounts
        .sign_in("ada@example.com", secret(PASSWORD), here())
        .await
        .unwrap()
    {
        SignIn::TwoFactorRequired(c) => c,
        other => panic!("2FA is on: a challenge was expected, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_factor_sign_in_needs_a_fresh_code() {
    let kit = kit();
    let (user, _, _) = with_two_factor(&kit).await;
    let sealed = sealed_of(&kit, user);
    kit.clock.advance(Duration::seconds(60));

    let c = challenge(&kit).await;
    assert_eq!(
        defect(kit.accounts.complete_two_factor(&c, "000000x").await),
        AccountDefect::InvalidSecondFactor
    );
    let two_steps_ago = totp()
        .code_at(user, &sealed, kit.clock.now() - Duration::seconds(60))
        .unwrap();
    let _ = kit
        .accounts
        .complete_two_factor(&c, two_steps_ago.expose_secret())
        .await;
    let code = totp().code_at(user, &sealed, kit.clock.now()).unwrap();
    let session = kit
        .accounts
        .complete_two_factor(&c, code.expose_secret())
        .await
        .unwrap();
    assert!(session.session.two_factor_passed);
    // The challenge is spent, and the same code cannot be used again (replay).
    assert_eq!(
        defect(
            kit.accounts
                .complete_two_factor(&c, code.expose_secret())
                .await
        ),
        AccountDefect::InvalidToken
    );
    let again = challenge(&kit).await;
    assert_eq!(
        defect(
            kit.accounts
                .complete_two_factor(&again, code.expose_secret())
                .await
        ),
        AccountDefect::InvalidSecondFactor
    );
    // A challenge expires.
    kit.clock.advance(Duration::minutes(6));
    let next = totp().code_at(user, &sealed, kit.clock.now()).unwrap();
    assert_eq!(
        defect(
            kit.accounts
                .complete_two_factor(&again, next.expose_secret())
                .await
        ),
        AccountDefect::InvalidToken
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_codes_one_step_pass_two_steps_fail() {
    let kit = kit();
    let (user, _, _) = with_two_factor(&kit).await;
    let sealed = sealed_of(&kit, user);
    kit.clock.advance(Duration::minutes(5));
    let c = challenge(&kit).await;
    let far = totp()
        .code_at(user, &sealed, kit.clock.now() + Duration::seconds(60))
        .unwrap();
    let near = totp()
        .code_at(user, &sealed, kit.clock.now() + Duration::seconds(30))
        .unwrap();
    if far.expose_secret() != near.expose_secret() {
        assert_eq!(
            defect(
                kit.accounts
                    .complete_two_factor(&c, far.expose_secret())
                    .await
            ),
            AccountDefect::InvalidSecondFactor
        );
    }
    kit.accounts
        .complete_two_factor(&c, near.expose_secret())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_codes_work_once_and_two_factor_guesses_are_throttled() {
    let kit = kit();
    let (_, _, codes) = with_two_factor(&kit).await;
    assert_eq!(codes.len(), 10);
    let c = challenge(&kit).await;
    kit.accounts
        .complete_two_factor(&c, codes[3].expose_secret())
        .await
        .unwrap();
    let c = challenge(&kit).await;
    assert_eq!(
        defect(
            kit.accounts
                .complete_two_factor(&c, codes[3].expose_secret())
                .await
        ),
        AccountDefect::InvalidSecondFactor
    );
    assert!(kit.audit.actions().contains(&"account.recovery_code.used"));
    // The replay above was the first failure; four more reach the limit of five.
    for _ in 0..4 {
        kit.accounts
            .complete_two_factor(&c, "zzzz-zzzz-zzzz-zzzz")
            .await
            .unwrap_err();
    }
    assert!(matches!(
        defect(
            kit.accounts
                .complete_two_factor(&c, codes[4].expose_secret())
                .await
        ),
        AccountDefect::Throttled { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_two_factor_needs_password_and_code() {
    let kit = kit();
    let (user, session, _) = with_two_factor(&kit).await;
    let sealed = sealed_of(&kit, user);
    kit.clock.advance(Duration::seconds(90));
    let code = totp().code_at(user, &sealed, kit.clock.now()).unwrap();
    assert_eq!(
        defect(
            kit.accounts
                .disable_two_factor(&session, secret("not my password ok"), code.expose_secret())
                .await
        ),
        AccountDefect::WrongCurrentPassword
    );
    kit.accounts
        .disable_two_factor(&session, secret(PASSWORD), code.expose_secret())
        .await
        .unwrap();
    assert!(matches!(
        kit.accounts
            .sign_in("ada@example.com", secret(PASSWORD), here())
            .await
            .unwrap(),
        SignIn::Session(_)
    ));
    assert!(kit.audit.actions().contains(&"account.two_factor.disabled"));
}

#[tokio::test]
async fn changing_the_email_needs_the_new_address_verified() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    kit.signed_up("taken@example.com").await;
    let session = kit.session("ada@example.com", PASSWORD).await;
    kit.accounts
        .change_name(&session, "Ada King")
        .await
        .unwrap();
    kit.accounts
        .change_email(&session, "countess@example.com")
        .await
        .unwrap();
    assert!(
        kit.mail()
            .await
            .last_to("ada@example.com")
            .unwrap()
            .subject
            .contains("being changed")
    );
    // Not yet moved.
    kit.session("ada@example.com", PASSWORD).await;
    let token = link_token(kit.mail().await, "countess@example.com");
    kit.accounts
        .confirm_email_change(&Proof::Link(token))
        .await
        .unwrap();
    kit.session("countess@example.com", PASSWORD).await;
    assert_eq!(
        defect(
            kit.accounts
                .sign_in("ada@example.com", secret(PASSWORD), elsewhere())
                .await
        ),
        AccountDefect::InvalidCredentials
    );
    // A taken address cannot be confirmed.
    kit.accounts
        .change_email(&session, "taken@example.com")
        .await
        .unwrap_or(());
    let session = kit.session("countess@example.com", PASSWORD).await;
    kit.accounts
        .change_email(&session, "taken@example.com")
        .await
        .unwrap();
    let token = link_token(kit.mail().await, "taken@example.com");
    assert_eq!(
        defect(kit.accounts.confirm_email_change(&Proof::Link(token)).await),
        AccountDefect::EmailUnavailable
    );
}

#[tokio::test]
async fn audit_events_and_debug_output_carry_no_secret() {
    let kit = kit();
    kit.signed_up("ada@example.com").await;
    let session = kit.session("ada@example.com", PASSWORD).await;
    kit.accounts
        .sign_in("ada@example.com", secret("wrong password here"), here())
        .await
        .unwrap_err();
    let events = serde_json::to_string(&kit.audit.events()).unwrap();
    assert!(!events.contains(PASSWORD) && !events.contains("wrong password here"));
    assert!(!events.contains(session.expose_secret()));
    assert!(!format!("{session:?}").contains(session.expose_secret()));
    let actions = kit.audit.actions();
    for expected in [
        "account.signed_up",
        "account.email_verified",
        "account.sign_in.succeeded",
        "account.sign_in.failed",
    ] {
        assert!(
            actions.contains(&expected),
            "{expected} missing from {actions:?}"
        );
    }
}

#[tokio::test]
async fn a_hash_with_old_parameters_is_upgraded_at_sign_in() {
    use vault_core::store::Store;
    let old = kit();
    let user = old.signed_up("ada@example.com").await;
    let before = old
        .store
        .read()
        .await
        .unwrap()
        .user(user)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    // The same store, served by a deployment with stronger parameters.
    let stronger = HashParams {
        memory_kib: 128,
        iterations: 2,
        parallelism: 1,
    };
    let passwords = Passwords::builder().params(stronger).build().unwrap();
    let upgraded = Accounts::builder(
        old.store.clone(),
        passwords,
        totp(),
        Arc::new(old.outbox.clone()),
    )
    .clock(old.clock.clone())
    .build();
    assert!(matches!(
        upgraded
            .sign_in("ada@example.com", secret(PASSWORD), here())
            .await
            .unwrap(),
        SignIn::Session(_)
    ));
    let after = old
        .store
        .read()
        .await
        .unwrap()
        .user(user)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert_ne!(before, after);
    assert!(after.contains("m=128,t=2,p=1"), "{after}");
    // The upgraded hash still verifies.
    assert!(matches!(
        upgraded
            .sign_in("ada@example.com", secret(PASSWORD), here())
            .await
            .unwrap(),
        SignIn::Session(_)
    ));
}

/// Made with Python's argon2-cffi 25.1.0 (argon2id, m=64 MiB, t=3, p=4) for the password
/// below, as another system would have stored it.
const IMPORTED_PHC: &str = "$argon2id$v=19$m=65536,t=3,p=4$gaO9Q+W3Wu/XE1SNZAagDw$joQBlM7HH9HH1fQmtLu3SM04A6yip01Zex3qB+SMctQ";
const IMPORTED_PASSWORD: &str = "imported from elsewhere, 2019";

#[tokio::test]
async fn imported_users_sign_in_with_their_old_hash_which_is_then_upgraded() {
    use vault_core::accounts::ImportedUser;
    use vault_core::store::Store;
    let kit = kit();
    let import = ImportedUser {
        name: "Grace Hopper".into(),
        email: "grace@example.com".into(),
        email_verified: true,
        password_hash: Some(IMPORTED_PHC.into()),
    };
    assert!(
        !format!("{import:?}").contains("argon2"),
        "Debug hides the hash"
    );
    let id = kit.accounts.import_user(&import).await.unwrap();
    match kit
        .accounts
        .sign_in("grace@example.com", secret(IMPORTED_PASSWORD), here())
        .await
        .unwrap()
    {
        SignIn::Session(s) => assert_eq!(s.session.user_id, id),
        other => panic!("the imported password answered {other:?}"),
    }
    let stored = kit.store.read().await.unwrap().user(id).await.unwrap();
    let stored = stored.unwrap().password_hash.unwrap();
    assert_ne!(stored, IMPORTED_PHC, "upgraded at the first sign-in");
    assert!(kit.audit.actions().contains(&"account.imported"));

    // The same address again, a hash that is not Argon2, a bad name or address: refused.
    assert_eq!(
        defect(kit.accounts.import_user(&import).await),
        AccountDefect::EmailUnavailable
    );
    let bcrypt = ImportedUser {
        email: "bcrypt@example.com".into(),
        password_hash: Some("$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW".into()),
        ..import.clone()
    };
    assert!(matches!(
        kit.accounts.import_user(&bcrypt).await,
        Err(Error::Password(_))
    ));
    let nameless = ImportedUser {
        name: " ".into(),
        email: "x@example.com".into(),
        ..import.clone()
    };
    assert_eq!(
        defect(kit.accounts.import_user(&nameless).await),
        AccountDefect::InvalidName
    );
    let no_address = ImportedUser {
        email: "not an address".into(),
        ..import
    };
    assert_eq!(
        defect(kit.accounts.import_user(&no_address).await),
        AccountDefect::InvalidEmail
    );
}

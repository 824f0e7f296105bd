//! [`Accounts`]: the service every account flow runs through, its configuration, and the
//! small steps the flows share (tokens, mails, sessions, throttling, audit).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use time::{Duration, OffsetDateTime};

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::CodeAttempt;
use crate::accounts::email::Email;
use crate::accounts::mail_queue::Draft;
use crate::accounts::mailer::{Links, Mailer};
use crate::accounts::records::{SessionRecord, TokenPurpose, TokenRecord, User};
use crate::accounts::secrets::{self, SecretHash};
use crate::accounts::throttle::{self, ThrottleKey, ThrottlePolicy, ThrottleRule};
use crate::audit::{AuditEvent, AuditSink, TracingAuditSink};
use crate::clock::{Clock, SystemClock};
use crate::ids::{UserId, WorkspaceId};
use crate::password::Passwords;
use crate::store::{Scope, Store, Transaction, Tx};
use crate::totp::Totp;

/// Answers whether a user belongs to a workspace (the access service implements it), so a
/// session can switch only to the user's own workspaces.
#[async_trait]
pub trait WorkspaceMembership: Send + Sync + 'static {
    /// Whether `user` is a member of `workspace`.
    async fn is_member(&self, user: UserId, workspace: WorkspaceId) -> Result<bool, Error>;
}

/// Durations and limits of the account flows.
#[derive(Clone, Debug)]
pub struct AccountsConfig {
    /// Links in mails point under this base URL.
    pub links: Links,
    /// Brute-force limits.
    pub throttle: ThrottlePolicy,
    /// A session unused this long ends (OWASP: 15 to 30 minutes for most applications).
    pub session_idle_timeout: Duration,
    /// A session ends this long after sign-in, however active.
    pub session_absolute_timeout: Duration,
    /// How long a sign-up verification link works.
    pub verification_ttl: Duration,
    /// How long a password-reset link works.
    pub reset_ttl: Duration,
    /// How long an email-change link works.
    pub email_change_ttl: Duration,
    /// How long the second step of a 2FA sign-in may take.
    pub challenge_ttl: Duration,
    /// How long a sign-in code mailed past a spent pool works (see
    /// [`crate::accounts::SignIn::MailedCodeRequired`]).
    pub sign_in_code_ttl: Duration,
    /// Wrong typed codes before a mailed code stops working.
    pub code_attempts: u32,
    /// Mails of one kind to one account per [`AccountsConfig::mail_window`].
    pub mails_per_window: u32,
    /// The window of [`AccountsConfig::mails_per_window`].
    pub mail_window: Duration,
    /// How long a claimed mail is the claiming worker's before another may take it (a worker
    /// that died mid-send is replaced after this).
    pub mail_lease: Duration,
    /// The wait before the second attempt of a mail the mailer refused; it doubles with each
    /// attempt, up to an hour.
    pub mail_retry: Duration,
    /// Claims of one mail before it is given up (logged as an error).
    pub mail_attempts: u32,
    /// Mails claimed at once by a worker.
    pub mail_batch: u32,
    /// How often an idle worker looks for mail queued by other instances and for retries.
    pub mail_poll: Duration,
    /// How often the worker deletes expired tokens.
    pub token_purge: Duration,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            links: Links::default(),
            throttle: ThrottlePolicy::default(),
            session_idle_timeout: Duration::minutes(30),
            session_absolute_timeout: Duration::hours(12),
            verification_ttl: Duration::hours(24),
            reset_ttl: Duration::minutes(30),
            email_change_ttl: Duration::hours(1),
            challenge_ttl: Duration::minutes(5),
            sign_in_code_ttl: Duration::minutes(15),
            code_attempts: 5,
            mails_per_window: 3,
            mail_window: Duration::minutes(15),
            mail_lease: Duration::minutes(1),
            mail_retry: Duration::seconds(30),
            mail_attempts: 8,
            mail_batch: 32,
            mail_poll: Duration::seconds(5),
            token_purge: Duration::minutes(10),
        }
    }
}

/// Where a request comes from, for the per-address rules of sign-in throttling. There is no
/// default: a caller says where the request came from ([`Client::at`]) or that it does not
/// know ([`Client::unknown_address`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Client {
    address: Option<IpAddr>,
}

impl Client {
    /// A client at `address`: the peer address of the connection, or the one a proxy you trust
    /// forwards. IPv6 addresses count by their /64 ([`crate::accounts::throttle::AddressBlock`]).
    pub fn at(address: IpAddr) -> Self {
        Self {
            address: Some(address),
        }
    }

    /// A client whose address is not known. Avoid it: only the account's pool then guards
    /// the account, so one attacker can spend it from anywhere, and while it is spent every
    /// sign-in without an address is refused (`Throttled`) — the owner's too, with no mailed
    /// code to fall back on. Use it only where no address exists (a local tool, a test).
    pub fn unknown_address() -> Self {
        Self { address: None }
    }

    /// The client's address, if known.
    pub fn address(&self) -> Option<IpAddr> {
        self.address
    }
}

/// A session token, shown to the client once (in a cookie). `Debug` redacts it.
pub struct SessionToken(pub(crate) SecretString);

impl SessionToken {
    /// The token text, to set in a cookie.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for SessionToken {
    fn from(token: String) -> Self {
        Self(SecretString::from(token))
    }
}

impl fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionToken([redacted])")
    }
}

/// A session, without its token.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SessionInfo {
    /// The public id, to end this one session.
    pub id: uuid::Uuid,
    /// Whose it is.
    pub user_id: UserId,
    /// When it began.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last used.
    #[serde(with = "time::serde::rfc3339")]
    pub last_seen_at: OffsetDateTime,
    /// When it ends at the latest.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The workspace the user works in.
    pub active_workspace: Option<WorkspaceId>,
    /// Whether a second factor was passed.
    pub two_factor_passed: bool,
}

impl From<&SessionRecord> for SessionInfo {
    fn from(s: &SessionRecord) -> Self {
        Self {
            id: s.id,
            user_id: s.user_id,
            created_at: s.created_at,
            last_seen_at: s.last_seen_at,
            expires_at: s.absolute_expires_at,
            active_workspace: s.active_workspace,
            two_factor_passed: s.two_factor_passed,
        }
    }
}

/// A session just begun: the token (give it to the client) and its description.
#[derive(Debug)]
pub struct NewSession {
    /// The token.
    pub token: SessionToken,
    /// The session.
    pub session: SessionInfo,
}

/// How a mailed step is proven: the link's token, or the short code typed with the address.
pub enum Proof {
    /// The token from the link (posted back by the confirm page).
    Link(SecretString),
    /// The typed code and the address it was sent to.
    Code {
        /// The address.
        email: String,
        /// The code.
        code: SecretString,
    },
}

impl fmt::Debug for Proof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Link(_) => f.write_str("Proof::Link([redacted])"),
            Self::Code { email, .. } => {
                write!(f, "Proof::Code {{ email: {email:?}, code: [redacted] }}")
            }
        }
    }
}

/// The account service. Cheap to clone.
#[derive(Clone)]
pub struct Accounts {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) passwords: Passwords,
    pub(crate) totp: Arc<Totp>,
    pub(crate) mailer: Arc<dyn Mailer>,
    pub(crate) audit: Arc<dyn AuditSink>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) membership: Option<Arc<dyn WorkspaceMembership>>,
    pub(crate) config: AccountsConfig,
    /// Wakes the mail worker when a flow of this instance queued mail.
    pub(crate) mail_wake: Arc<tokio::sync::Notify>,
}

/// Configures [`Accounts`].
pub struct AccountsBuilder {
    inner: Inner,
}

impl AccountsBuilder {
    /// Uses `clock` instead of the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.inner.clock = Arc::new(clock);
        self
    }

    /// Sends audit events to `sink` (default: `tracing`).
    pub fn audit(mut self, sink: impl AuditSink) -> Self {
        self.inner.audit = Arc::new(sink);
        self
    }

    /// Lets sessions switch only to workspaces `membership` says the user belongs to.
    pub fn membership(mut self, membership: Arc<dyn WorkspaceMembership>) -> Self {
        self.inner.membership = Some(membership);
        self
    }

    /// Durations and limits.
    pub fn config(mut self, config: AccountsConfig) -> Self {
        self.inner.config = config;
        self
    }

    /// Builds the service.
    pub fn build(self) -> Accounts {
        Accounts {
            inner: Arc::new(self.inner),
        }
    }
}

impl fmt::Debug for Accounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accounts")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

pub(crate) fn refused(defect: AccountDefect) -> Error {
    Error::Account(defect)
}

pub(crate) fn validate_name(name: &str) -> Result<String, Error> {
    let name = name.trim();
    let count = name.chars().count();
    if count == 0 || count > 100 || name.chars().any(char::is_control) {
        return Err(refused(AccountDefect::InvalidName));
    }
    Ok(name.to_owned())
}

impl Accounts {
    /// Starts configuring the service.
    pub fn builder(
        store: Arc<dyn Store>,
        passwords: Passwords,
        totp: Totp,
        mailer: Arc<dyn Mailer>,
    ) -> AccountsBuilder {
        AccountsBuilder {
            inner: Inner {
                store,
                passwords,
                totp: Arc::new(totp),
                mailer,
                audit: Arc::new(TracingAuditSink),
                clock: Arc::new(SystemClock),
                membership: None,
                config: AccountsConfig::default(),
                mail_wake: Arc::new(tokio::sync::Notify::new()),
            },
        }
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// A read view of the store.
    pub(crate) async fn read(&self) -> Result<Tx<'_>, Error> {
        self.inner.store.read().await
    }

    /// A write transaction over `scope`.
    pub(crate) async fn begin(&self, scope: Scope) -> Result<Tx<'_>, Error> {
        self.inner.store.begin(scope).await
    }

    pub(crate) fn config(&self) -> &AccountsConfig {
        &self.inner.config
    }

    pub(crate) async fn audit(&self, event: AuditEvent) {
        self.inner.audit.record(event).await;
    }

    pub(crate) fn event(&self, action: &'static str) -> AuditEvent {
        AuditEvent::new(action, self.now())
    }

    /// In `tx`: a single-use token of `purpose` with a typed code, for the mail that
    /// carries them. It is `user`'s (`real`) when `user` is an account under
    /// [`AccountsConfig::mails_per_window`] mails of `purpose` in the window; otherwise (no
    /// account, or past the limit) it is a token of nobody, which no proof can ever name, for
    /// a decoy mail. Both write one token after the same read, so an answer's time does not
    /// tell which.
    pub(crate) async fn issue_token(
        &self,
        tx: &mut (dyn Transaction + '_),
        user: Option<&User>,
        email: &Email,
        purpose: TokenPurpose,
        ttl: Duration,
    ) -> Result<Issued, Error> {
        let now = self.now();
        let since = now - self.config().mail_window;
        let owner = user.map_or_else(UserId::random, |u| u.id);
        let sent = tx
            .tokens_of(owner, purpose)
            .await?
            .iter()
            .filter(|t| t.created_at >= since)
            .count();
        let limit = usize::try_from(self.config().mails_per_window).unwrap_or(usize::MAX);
        let real = user.is_some() && sent < limit;
        if user.is_some() && !real {
            tracing::info!(user_id = %owner, purpose = purpose.as_str(), "mail not sent: rate limit");
        }
        let owner = if real { owner } else { UserId::random() };
        let token = secrets::new_token()?;
        let code = secrets::new_code()?;
        tx.put_token(&TokenRecord {
            token_hash: secrets::hash_token(&token),
            code_hash: Some(code_hash(owner, purpose, code.expose_secret())),
            purpose,
            user_id: owner,
            email: email.clone(),
            created_at: now,
            expires_at: now + ttl,
            failed_attempts: 0,
        })
        .await?;
        Ok(Issued { token, code, real })
    }

    /// In `tx`: [`Accounts::issue_token`], then the mail `compose` writes with the token
    /// and code, queued for real or as a decoy alike. Whether the real mail was queued.
    pub(crate) async fn mail_token(
        &self,
        tx: &mut (dyn Transaction + '_),
        user: Option<&User>,
        to: &Email,
        (purpose, ttl): (TokenPurpose, Duration),
        compose: impl FnOnce(&Issued) -> Draft + Send,
    ) -> Result<bool, Error> {
        let issued = self.issue_token(tx, user, to, purpose, ttl).await?;
        let draft = compose(&issued);
        self.queue_mail(tx, draft, !issued.real).await?;
        Ok(issued.real)
    }

    /// Whom a proof names (the account and the address), without consuming or checking it:
    /// flows look this up before the expensive steps, then [`Accounts::take_proof`] decides
    /// inside their transaction, scoped to the user named here.
    pub(crate) async fn peek_proof(
        &self,
        proof: &Proof,
        purpose: TokenPurpose,
    ) -> Result<(User, Email), Error> {
        let invalid = || refused(AccountDefect::InvalidToken);
        let mut tx = self.read().await?;
        let (user_id, email) = match proof {
            Proof::Link(token) => {
                let record = live_token(&mut *tx, &secrets::hash_token(token), purpose, self.now())
                    .await?
                    .ok_or_else(invalid)?;
                (record.user_id, record.email)
            }
            Proof::Code { email, .. } => {
                let email = Email::parse(email).map_err(|_| invalid())?;
                let user = tx.user_by_email(&email).await?.ok_or_else(invalid)?;
                (user.id, email)
            }
        };
        let user = tx.user(user_id).await?.ok_or_else(invalid)?;
        Ok((user, email))
    }

    /// In `tx` (scoped to `user`, as [`Accounts::peek_proof`] named): consumes the token the
    /// proof names, if it is `user`'s, and hands the transaction back for the flow's writes.
    /// A wrong typed code counts against its token: that count is committed before the
    /// refusal, so a code cannot be guessed by retrying.
    pub(crate) async fn take_proof<'a>(
        &self,
        mut tx: Tx<'a>,
        proof: &Proof,
        purpose: TokenPurpose,
        user: UserId,
    ) -> Result<(Tx<'a>, TokenRecord), Error> {
        let now = self.now();
        let taken = match proof {
            Proof::Link(token) => {
                take_token(&mut *tx, &secrets::hash_token(token), purpose, now).await?
            }
            Proof::Code { code, .. } => {
                let hash = code_hash(
                    user,
                    purpose,
                    &secrets::normalize_code(code.expose_secret()),
                );
                let attempts = self.config().code_attempts;
                match take_token_by_code(&mut *tx, user, purpose, &hash, now, attempts).await? {
                    CodeAttempt::Taken(record) => Some(record),
                    CodeAttempt::Wrong | CodeAttempt::NoToken => None,
                }
            }
        };
        match taken.filter(|record| record.user_id == user) {
            Some(record) => Ok((tx, record)),
            None => {
                tx.commit().await?;
                Err(refused(AccountDefect::InvalidToken))
            }
        }
    }

    /// In `tx`: begins a session for `user` with a fresh token.
    pub(crate) async fn begin_session(
        &self,
        tx: &mut (dyn Transaction + '_),
        user: UserId,
        two_factor_passed: bool,
    ) -> Result<NewSession, Error> {
        let (token, record) = self.fresh_session(user, two_factor_passed, None)?;
        tx.put_session(&record).await?;
        Ok(NewSession {
            token: SessionToken(token),
            session: SessionInfo::from(&record),
        })
    }

    pub(crate) fn fresh_session(
        &self,
        user: UserId,
        two_factor_passed: bool,
        keep_from: Option<&SessionRecord>,
    ) -> Result<(SecretString, SessionRecord), Error> {
        let token = secrets::new_token()?;
        let now = self.now();
        let record = match keep_from {
            // A privilege change: same session, new token (fixation), same absolute end.
            Some(old) => SessionRecord {
                token_hash: secrets::hash_token(&token),
                last_seen_at: now,
                two_factor_passed: old.two_factor_passed || two_factor_passed,
                ..old.clone()
            },
            None => SessionRecord {
                token_hash: secrets::hash_token(&token),
                id: uuid::Uuid::new_v4(),
                user_id: user,
                created_at: now,
                last_seen_at: now,
                absolute_expires_at: now + self.config().session_absolute_timeout,
                active_workspace: None,
                two_factor_passed,
            },
        };
        Ok((token, record))
    }

    /// Reserves an attempt under `key`, in a transaction of its own (a reservation stands
    /// whatever the check then says); a lock becomes `Throttled` with the wait.
    pub(crate) async fn reserve(
        &self,
        key: &ThrottleKey,
        rule: &ThrottleRule,
    ) -> Result<(), Error> {
        let now = self.now();
        let mut tx = self.begin(Scope::throttle(key.clone())).await?;
        let mut state = tx.throttle(key).await?.unwrap_or_default();
        let outcome = throttle::reserve(&mut state, rule, now);
        tx.put_throttle(key, &state).await?;
        tx.commit().await?;
        outcome.map_err(|until| throttled(now, until))
    }
}

/// A token just issued by [`Accounts::issue_token`]: the link token, the code, and whether
/// they are an account's (`false`: a decoy's).
pub(crate) struct Issued {
    pub(crate) token: SecretString,
    pub(crate) code: SecretString,
    pub(crate) real: bool,
}

/// `Throttled` with the seconds from `now` to `until` (at least one).
pub(crate) fn throttled(now: OffsetDateTime, until: OffsetDateTime) -> Error {
    let wait = (until - now).whole_seconds().max(1);
    refused(AccountDefect::Throttled {
        retry_after_secs: u32::try_from(wait).unwrap_or(u32::MAX),
    })
}

/// The live token with this hash and purpose.
pub(crate) async fn live_token(
    tx: &mut (dyn Transaction + '_),
    hash: &SecretHash,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> Result<Option<TokenRecord>, Error> {
    Ok(tx
        .token(hash)
        .await?
        .filter(|t| t.purpose == purpose && t.expires_at > now))
}

/// Consumes the live token with this hash and purpose: of two concurrent takes, exactly one
/// gets it (the store's delete decides).
pub(crate) async fn take_token(
    tx: &mut (dyn Transaction + '_),
    hash: &SecretHash,
    purpose: TokenPurpose,
    now: OffsetDateTime,
) -> Result<Option<TokenRecord>, Error> {
    let Some(record) = live_token(tx, hash, purpose, now).await? else {
        return Ok(None);
    };
    Ok(tx.delete_token(hash).await?.then_some(record))
}

/// Checks a typed code against the user's newest live token of `purpose` that has a code: on
/// a match the token is consumed; on a miss its failure count grows, and at `max_attempts`
/// it is deleted. Run in a transaction scoped to `user`.
pub(crate) async fn take_token_by_code(
    tx: &mut (dyn Transaction + '_),
    user: UserId,
    purpose: TokenPurpose,
    code: &SecretHash,
    now: OffsetDateTime,
    max_attempts: u32,
) -> Result<CodeAttempt, Error> {
    let newest = tx
        .tokens_of(user, purpose)
        .await?
        .into_iter()
        .filter(|t| t.expires_at > now && t.code_hash.is_some())
        .max_by_key(|t| t.created_at);
    let Some(record) = newest else {
        return Ok(CodeAttempt::NoToken);
    };
    try_code(tx, record, code, max_attempts).await
}

/// Checks a typed code against one token, `record`, as read in `tx` (scoped to its user): on
/// a match the token is consumed; on a miss its failure count grows, and at `max_attempts` it
/// is deleted.
pub(crate) async fn try_code(
    tx: &mut (dyn Transaction + '_),
    mut record: TokenRecord,
    code: &SecretHash,
    max_attempts: u32,
) -> Result<CodeAttempt, Error> {
    if record.code_hash.is_some_and(|h| h.ct_eq(code)) {
        return Ok(match tx.delete_token(&record.token_hash).await? {
            true => CodeAttempt::Taken(record),
            false => CodeAttempt::NoToken,
        });
    }
    record.failed_attempts += 1;
    if record.failed_attempts >= max_attempts {
        tx.delete_token(&record.token_hash).await?;
    } else {
        tx.put_token(&record).await?;
    }
    Ok(CodeAttempt::Wrong)
}

/// The hash of a typed code, bound to its user and purpose (a code of one flow is useless in
/// another).
pub(crate) fn code_hash(user: UserId, purpose: TokenPurpose, code: &str) -> SecretHash {
    SecretHash::of(&format!("{user}:{}:{code}", purpose.as_str()))
}

//! Sign-in: email and password, throttled per account, per address and per both (see
//! [`crate::accounts::throttle`]); with 2FA on, a short-lived challenge that a TOTP or recovery
//! code completes; past a spent pool, a code mailed to the account first.

use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::email::Email;
use crate::accounts::mail_queue::Draft;
use crate::accounts::mailer::MailKind;
use crate::accounts::records::{CodeAttempt, ThrottleState, TokenPurpose, TokenRecord, User};
use crate::accounts::secrets;
use crate::accounts::service::{
    Accounts, Client, NewSession, code_hash, live_token, refused, take_token, throttled, try_code,
};
use crate::accounts::throttle::{
    self, AddressBlock, AddressCounters, Admission, SignInCounters, ThrottleKey,
};
use crate::ids::UserId;
use crate::password::PasswordHash;
use crate::store::{Scope, Transaction, Tx};

/// The outcome of a correct password.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: a new session.
    Session(NewSession),
    /// Two-factor authentication is on: complete with
    /// [`Accounts::complete_two_factor`] and this challenge.
    TwoFactorRequired(Challenge),
    /// The account's pool of password checks is spent (guesses from many addresses), and this
    /// address has no share of its own: with the right password a 6-digit code went to the
    /// account's address; complete with [`Accounts::complete_mailed_code`] and this challenge.
    /// A wrong password (or an unknown address) answers the same, with a challenge no code
    /// completes and a decoy instead of a mail: past the pool, a password check tells nobody
    /// whether the password was right, so an attacker from many addresses learns nothing from
    /// the checks that go on, and never causes a mail.
    MailedCodeRequired(Challenge),
}

/// The next step of a sign-in (a second factor or a mailed code): a short-lived, single-use
/// token. `Debug` redacts it.
pub struct Challenge(pub(crate) SecretString);

impl Challenge {
    /// The token text, to carry to the next step.
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl From<String> for Challenge {
    fn from(token: String) -> Self {
        Self(SecretString::from(token))
    }
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Challenge([redacted])")
    }
}

/// The counters a sign-in names (see [`crate::accounts::throttle`]).
struct SignInKeys {
    pool: ThrottleKey,
    shares: ThrottleKey,
    address: Option<AddressKeys>,
}

struct AddressKeys {
    account_from_address: ThrottleKey,
    share: ThrottleKey,
    address: ThrottleKey,
}

impl SignInKeys {
    fn new(email: &str, client: Client) -> Self {
        let email = email.to_owned();
        let address = client.address().map(AddressBlock::of);
        Self {
            pool: ThrottleKey::SignIn {
                email: email.clone(),
            },
            shares: ThrottleKey::SignInShares {
                email: email.clone(),
            },
            address: address.map(|address| AddressKeys {
                account_from_address: ThrottleKey::SignInFromAddress {
                    email: email.clone(),
                    address,
                },
                share: ThrottleKey::SignInShare { email, address },
                address: ThrottleKey::SignInAddress(address),
            }),
        }
    }

    /// Every key: the scope of the admission.
    fn scope(&self) -> Scope {
        let scope = Scope::throttle(self.pool.clone()).and_throttle(self.shares.clone());
        match &self.address {
            Some(keys) => scope
                .and_throttle(keys.account_from_address.clone())
                .and_throttle(keys.share.clone())
                .and_throttle(keys.address.clone()),
            None => scope,
        }
    }
}

async fn counter(
    tx: &mut (dyn Transaction + '_),
    key: &ThrottleKey,
) -> Result<ThrottleState, Error> {
    Ok(tx.throttle(key).await?.unwrap_or_default())
}

/// Writes `state` under `key` if it differs from what was read.
async fn put_changed(
    tx: &mut (dyn Transaction + '_),
    key: &ThrottleKey,
    read: &ThrottleState,
    state: &ThrottleState,
) -> Result<(), Error> {
    if read != state {
        tx.put_throttle(key, state).await?;
    }
    Ok(())
}

impl Accounts {
    /// Signs in with email and password.
    ///
    /// An unknown address, a wrong password and an account that has not completed sign-up all
    /// answer [`AccountDefect::InvalidCredentials`] after the same work (a password check
    /// against a dummy hash). Too many failures answer [`AccountDefect::Throttled`] for known
    /// and unknown addresses alike; guesses from other addresses never lock out the owner
    /// (see [`crate::accounts::throttle`]): past a spent pool a right password answers
    /// [`SignIn::MailedCodeRequired`].
    pub async fn sign_in(
        &self,
        email: &str,
        password: SecretString,
        client: Client,
    ) -> Result<SignIn, Error> {
        let parsed = Email::parse(email).ok();
        let key_email = parsed.as_ref().map_or_else(
            || email.trim().to_ascii_lowercase(),
            |e| e.normalized().to_owned(),
        );
        let keys = SignInKeys::new(&key_email, client);
        let admission = match self.admit_sign_in(&keys).await? {
            Admission::Refused(until) => {
                self.audit(
                    self.event("account.sign_in.throttled")
                        .detail("email", &key_email),
                )
                .await;
                return Err(throttled(self.now(), until));
            }
            admitted => admitted,
        };

        let user = match &parsed {
            Some(email) => self.read().await?.user_by_email(email).await?,
            None => None,
        };
        let stored = user
            .as_ref()
            .and_then(|u| u.password_hash.as_deref())
            .map(PasswordHash::parse)
            .transpose()?;
        let verified = self
            .inner
            .passwords
            .verify(password.clone(), stored.as_ref())
            .await?;
        let Some(user) = user.filter(|u| verified.matched && u.email_verified) else {
            let mut event = self
                .event("account.sign_in.failed")
                .detail("email", &key_email);
            if let Some(address) = client.address() {
                event = event.detail("address", address);
            }
            if admission == Admission::CheckForMailedCode {
                event = event.detail("pool", "spent");
                self.audit(event).await;
                return self.decoy_sign_in_code(parsed.as_ref()).await;
            }
            self.audit(event).await;
            return Err(refused(AccountDefect::InvalidCredentials));
        };
        let upgraded = match verified.needs_rehash {
            true => Some(self.inner.passwords.hash(password).await?),
            false => None,
        };

        // A success clears its address's strict counter and gives its share back (not the
        // pool or the address's count: guessing from elsewhere goes on), upgrades an old hash
        // and begins the session, the challenge or the mailed code, all at once.
        let mut tx = self.begin(self.success_scope(&keys, user.id)).await?;
        self.clear_after_success(&mut *tx, &keys).await?;
        if let Some(upgraded) = upgraded
            && let Some(mut current) = tx.user(user.id).await?
        {
            current.password_hash = Some(upgraded.as_str().to_owned());
            tx.put_user(&current).await?;
            tracing::info!(user_id = %user.id, "password hash upgraded to the current parameters");
        }
        if admission == Admission::CheckForMailedCode {
            return self.mail_sign_in_code(tx, &user).await;
        }
        self.signed_in(tx, &user).await
    }

    /// Decides on a sign-in attempt in one transaction scoped to every key it names: all the
    /// rules are checked before any counts it (see [`throttle::admit_sign_in`]). The admission
    /// is committed before the password is checked, so parallel guesses cannot pass a limit.
    async fn admit_sign_in(&self, keys: &SignInKeys) -> Result<Admission, Error> {
        let now = self.now();
        let mut tx = self.begin(keys.scope()).await?;
        let read = SignInCounters {
            pool: counter(&mut *tx, &keys.pool).await?,
            shares: counter(&mut *tx, &keys.shares).await?,
            address: match &keys.address {
                Some(k) => Some(AddressCounters {
                    account_from_address: counter(&mut *tx, &k.account_from_address).await?,
                    share: counter(&mut *tx, &k.share).await?,
                    address: counter(&mut *tx, &k.address).await?,
                }),
                None => None,
            },
        };
        let mut next = read;
        let admission = throttle::admit_sign_in(&mut next, &self.config().throttle, now);
        put_changed(&mut *tx, &keys.pool, &read.pool, &next.pool).await?;
        put_changed(&mut *tx, &keys.shares, &read.shares, &next.shares).await?;
        if let (Some(k), Some(read), Some(next)) = (&keys.address, read.address, next.address) {
            let pairs = [
                (
                    &k.account_from_address,
                    read.account_from_address,
                    next.account_from_address,
                ),
                (&k.share, read.share, next.share),
                (&k.address, read.address, next.address),
            ];
            for (key, read, next) in pairs {
                put_changed(&mut *tx, key, &read, &next).await?;
            }
        }
        tx.commit().await?;
        Ok(admission)
    }

    /// The scope of a successful sign-in: the user, and its address's counters with the
    /// account's shares (to give the address's share back).
    fn success_scope(&self, keys: &SignInKeys, user: UserId) -> Scope {
        match &keys.address {
            Some(k) => Scope::user(user)
                .and_throttle(keys.shares.clone())
                .and_throttle(k.account_from_address.clone())
                .and_throttle(k.share.clone()),
            None => Scope::user(user),
        }
    }

    /// In `tx` ([`Accounts::success_scope`]): deletes the address's strict counter and gives
    /// its share back.
    async fn clear_after_success(
        &self,
        tx: &mut (dyn Transaction + '_),
        keys: &SignInKeys,
    ) -> Result<(), Error> {
        let Some(k) = &keys.address else {
            return Ok(());
        };
        tx.delete_throttle(&k.account_from_address).await?;
        if let Some(share) = tx.throttle(&k.share).await? {
            let read = counter(tx, &keys.shares).await?;
            let mut shares = read;
            throttle::give_back_share(&share, &mut shares);
            put_changed(tx, &keys.shares, &read, &shares).await?;
            tx.delete_throttle(&k.share).await?;
        }
        Ok(())
    }

    /// In `tx` (scoped to `user`): the 2FA challenge when 2FA is on, else the session; commits.
    async fn signed_in(&self, mut tx: Tx<'_>, user: &User) -> Result<SignIn, Error> {
        if user.two_factor.as_ref().is_some_and(|t| t.enabled) {
            let challenge = self.challenge(&mut *tx, user).await?;
            tx.commit().await?;
            return Ok(SignIn::TwoFactorRequired(challenge));
        }
        let session = self.begin_session(&mut *tx, user.id, false).await?;
        tx.commit().await?;
        self.audit(self.event("account.sign_in.succeeded").actor(user.id))
            .await;
        Ok(SignIn::Session(session))
    }

    /// Past a spent pool, for a wrong password or an unknown address: the answer of a right
    /// one, with a token of nobody and a decoy mail (the same writes), so the answer does not
    /// tell whether the password was right.
    async fn decoy_sign_in_code(&self, email: Option<&Email>) -> Result<SignIn, Error> {
        let ttl = self.config().sign_in_code_ttl;
        let to = match email {
            Some(email) => email.clone(),
            // Not an address at all: nothing to hide, no account can exist.
            None => return Err(refused(AccountDefect::InvalidCredentials)),
        };
        let mut tx = self.begin(Scope::user(UserId::random())).await?;
        let issued = self
            .issue_token(&mut *tx, None, &to, TokenPurpose::SignInCode, ttl)
            .await?;
        let draft = sign_in_code_draft(&to, &issued.code, ttl);
        self.queue_mail(&mut *tx, draft, true).await?;
        tx.commit().await?;
        self.mail_queued();
        Ok(SignIn::MailedCodeRequired(Challenge(issued.token)))
    }

    /// In `tx` (scoped to `user`): issues a sign-in code and queues its mail, then commits.
    /// At most [`crate::accounts::AccountsConfig::mails_per_window`] codes a window; past
    /// that, `Throttled` until the oldest leaves the window, and nothing is written.
    async fn mail_sign_in_code(&self, mut tx: Tx<'_>, user: &User) -> Result<SignIn, Error> {
        let ttl = self.config().sign_in_code_ttl;
        let purpose = TokenPurpose::SignInCode;
        let issued = self
            .issue_token(&mut *tx, Some(user), &user.email, purpose, ttl)
            .await?;
        if !issued.real {
            // The password was right: no secret to keep, the wait can be told.
            let now = self.now();
            let window = self.config().mail_window;
            let oldest = tx
                .tokens_of(user.id, purpose)
                .await?
                .into_iter()
                .map(|t| t.created_at)
                .filter(|created| *created >= now - window)
                .min();
            return Err(throttled(now, oldest.unwrap_or(now) + window));
        }
        let draft = sign_in_code_draft(&user.email, &issued.code, ttl);
        self.queue_mail(&mut *tx, draft, false).await?;
        tx.commit().await?;
        self.mail_queued();
        self.audit(self.event("account.sign_in.code_mailed").actor(user.id))
            .await;
        Ok(SignIn::MailedCodeRequired(Challenge(issued.token)))
    }

    /// Completes a sign-in that answered [`SignIn::MailedCodeRequired`] with the code mailed
    /// to the account. The challenge works once; a wrong code counts against it, and after
    /// [`crate::accounts::AccountsConfig::code_attempts`] wrong codes it stops working (with at
    /// most [`crate::accounts::AccountsConfig::mails_per_window`] codes a window, that bounds
    /// the guesses). Answers [`SignIn::Session`], or [`SignIn::TwoFactorRequired`] when 2FA is
    /// on: the code proves the mailbox, not a second factor.
    pub async fn complete_mailed_code(
        &self,
        challenge: &Challenge,
        code: &str,
    ) -> Result<SignIn, Error> {
        let invalid = || refused(AccountDefect::InvalidToken);
        let hash = secrets::hash_token(&challenge.0);
        let purpose = TokenPurpose::SignInCode;
        let user_id = live_token(&mut *self.read().await?, &hash, purpose, self.now())
            .await?
            .ok_or_else(invalid)?
            .user_id;
        let mut tx = self.begin(Scope::user(user_id)).await?;
        let record = live_token(&mut *tx, &hash, purpose, self.now())
            .await?
            .ok_or_else(invalid)?;
        let typed = code_hash(user_id, purpose, &secrets::normalize_code(code));
        let attempts = self.config().code_attempts;
        if !matches!(
            try_code(&mut *tx, record, &typed, attempts).await?,
            CodeAttempt::Taken(_)
        ) {
            // The wrong code's count stands.
            tx.commit().await?;
            self.audit(self.event("account.sign_in.code_failed").actor(user_id))
                .await;
            return Err(invalid());
        }
        let user = tx.user(user_id).await?.ok_or_else(invalid)?;
        self.signed_in(tx, &user).await
    }

    async fn challenge(
        &self,
        tx: &mut (dyn Transaction + '_),
        user: &User,
    ) -> Result<Challenge, Error> {
        let token = secrets::new_token()?;
        let now = self.now();
        tx.put_token(&TokenRecord {
            token_hash: secrets::hash_token(&token),
            code_hash: None,
            purpose: TokenPurpose::TwoFactorChallenge,
            user_id: user.id,
            email: user.email.clone(),
            created_at: now,
            expires_at: now + self.config().challenge_ttl,
            failed_attempts: 0,
        })
        .await?;
        Ok(Challenge(token))
    }

    /// Completes a 2FA sign-in with a TOTP code (6 digits) or a recovery code. Codes are
    /// throttled per account; a TOTP code works once (replay refused), a recovery code too.
    pub async fn complete_two_factor(
        &self,
        challenge: &Challenge,
        code: &str,
    ) -> Result<NewSession, Error> {
        let hash = secrets::hash_token(&challenge.0);
        let (record, user) = {
            let mut tx = self.read().await?;
            let record = live_token(
                &mut *tx,
                &hash,
                TokenPurpose::TwoFactorChallenge,
                self.now(),
            )
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidToken))?;
            let user = tx
                .user(record.user_id)
                .await?
                .ok_or_else(|| refused(AccountDefect::InvalidToken))?;
            (record, user)
        };
        let mut tx = self.check_second_factor(&user, code).await?;
        // Single use: of two concurrent completions, one wins.
        take_token(
            &mut *tx,
            &hash,
            TokenPurpose::TwoFactorChallenge,
            self.now(),
        )
        .await?
        .filter(|taken| taken.user_id == record.user_id)
        .ok_or_else(|| refused(AccountDefect::InvalidToken))?;
        let session = self.begin_session(&mut *tx, user.id, true).await?;
        tx.commit().await?;
        self.audit(
            self.event("account.sign_in.succeeded")
                .actor(user.id)
                .detail("second_factor", "yes"),
        )
        .await;
        Ok(session)
    }
}

/// The mail of a sign-in code.
fn sign_in_code_draft(to: &Email, code: &SecretString, ttl: time::Duration) -> Draft {
    let text = format!(
        "Your sign-in code: {}\n\nIt works for {} minutes. We ask for it because someone \
         has been guessing the password of your account from many places.\n\
         If it was not you who just signed in, your password is known: reset it at once.",
        code.expose_secret(),
        ttl.whole_minutes()
    );
    Draft {
        kind: MailKind::SignInCode,
        to: to.clone(),
        subject: "Your sign-in code",
        text,
        token: None,
        code: Some(code.clone()),
    }
}

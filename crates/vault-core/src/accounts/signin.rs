//! Sign-in: email and password, throttled per account, per address and per both; with 2FA on,
//! a short-lived challenge that a TOTP or recovery code completes.

use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::email::Email;
use crate::accounts::records::{TokenPurpose, TokenRecord, User};
use crate::accounts::secrets;
use crate::accounts::service::{Accounts, Client, NewSession, live_token, refused, take_token};
use crate::accounts::throttle::{AddressBlock, ThrottleKey};
use crate::password::PasswordHash;
use crate::store::{Scope, Transaction};

/// The outcome of a correct password.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: a new session.
    Session(NewSession),
    /// Two-factor authentication is on: complete with
    /// [`Accounts::complete_two_factor`] and this challenge.
    TwoFactorRequired(Challenge),
}

/// The second step of a 2FA sign-in: a short-lived, single-use token. `Debug` redacts it.
pub struct Challenge(pub(crate) SecretString);

impl Challenge {
    /// The token text, to carry to the second step.
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

fn throttle_keys(email: &str, client: &Client) -> [Option<ThrottleKey>; 3] {
    let email = email.to_owned();
    let address = client.address().map(AddressBlock::of);
    [
        Some(ThrottleKey::SignIn {
            email: email.clone(),
        }),
        address.map(|address| ThrottleKey::SignInFromAddress { email, address }),
        address.map(ThrottleKey::SignInAddress),
    ]
}

impl Accounts {
    /// Signs in with email and password.
    ///
    /// An unknown address, a wrong password and an account that has not completed sign-up all
    /// answer [`AccountDefect::InvalidCredentials`] after the same work (a password check
    /// against a dummy hash). Too many failures answer [`AccountDefect::Throttled`] for known
    /// and unknown addresses alike.
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
        let keys = throttle_keys(&key_email, &client);
        let rules = {
            let t = &self.config().throttle;
            [t.account, t.account_from_address, t.address]
        };
        for (key, rule) in keys.iter().zip(&rules) {
            if let Some(key) = key
                && let Err(err) = self.reserve(key, rule).await
            {
                self.audit(
                    self.event("account.sign_in.throttled")
                        .detail("email", &key_email),
                )
                .await;
                return Err(err);
            }
        }

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
            self.audit(event).await;
            return Err(refused(AccountDefect::InvalidCredentials));
        };
        let upgraded = match verified.needs_rehash {
            true => Some(self.inner.passwords.hash(password).await?),
            false => None,
        };

        // A success clears the account's counters (not the address's: spraying goes on),
        // upgrades an old hash and begins the session or the challenge, all at once.
        let account_keys: Vec<ThrottleKey> = keys.iter().take(2).flatten().cloned().collect();
        let scope = account_keys
            .iter()
            .cloned()
            .fold(Scope::user(user.id), Scope::and_throttle);
        let mut tx = self.begin(scope).await?;
        for key in &account_keys {
            tx.delete_throttle(key).await?;
        }
        if let Some(upgraded) = upgraded
            && let Some(mut current) = tx.user(user.id).await?
        {
            current.password_hash = Some(upgraded.as_str().to_owned());
            tx.put_user(&current).await?;
            tracing::info!(user_id = %user.id, "password hash upgraded to the current parameters");
        }
        if user.two_factor.as_ref().is_some_and(|t| t.enabled) {
            let challenge = self.challenge(&mut *tx, &user).await?;
            tx.commit().await?;
            return Ok(SignIn::TwoFactorRequired(challenge));
        }
        let session = self.begin_session(&mut *tx, user.id, false).await?;
        tx.commit().await?;
        self.audit(self.event("account.sign_in.succeeded").actor(user.id))
            .await;
        Ok(SignIn::Session(session))
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

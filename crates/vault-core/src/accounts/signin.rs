//! Sign-in: email and password, throttled per account, per address and per both; with 2FA on,
//! a short-lived challenge that a TOTP or recovery code completes.

use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::email::Email;
use crate::accounts::records::{TokenPurpose, TokenRecord, User};
use crate::accounts::secrets;
use crate::accounts::service::{Accounts, Client, NewSession, refused};
use crate::password::PasswordHash;

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

fn throttle_keys(email: &str, client: &Client) -> [Option<String>; 3] {
    let address = client.address.map(|a| a.to_string());
    [
        Some(format!("sign_in:account:{email}")),
        address
            .as_ref()
            .map(|a| format!("sign_in:account_address:{email}|{a}")),
        address.map(|a| format!("sign_in:address:{a}")),
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
            Some(email) => self.store().find_user_by_email(email).await?,
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
            if let Some(address) = client.address {
                event = event.detail("address", address);
            }
            self.audit(event).await;
            return Err(refused(AccountDefect::InvalidCredentials));
        };

        // A success clears the account's counters (not the address's: spraying goes on).
        for key in keys.iter().take(2).flatten() {
            self.store().clear_attempts(key).await?;
        }
        if verified.needs_rehash {
            let upgraded = self.inner.passwords.hash(password).await?;
            self.store()
                .set_password(user.id, upgraded.as_str())
                .await?;
            tracing::info!(user_id = %user.id, "password hash upgraded to the current parameters");
        }
        if user.two_factor.as_ref().is_some_and(|t| t.enabled) {
            return self.challenge(&user).await.map(SignIn::TwoFactorRequired);
        }
        let session = self.begin_session(user.id, false).await?;
        self.audit(self.event("account.sign_in.succeeded").actor(user.id))
            .await;
        Ok(SignIn::Session(session))
    }

    async fn challenge(&self, user: &User) -> Result<Challenge, Error> {
        let token = secrets::new_token()?;
        let now = self.now();
        self.store()
            .insert_token(TokenRecord {
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
        let record = self
            .store()
            .find_token(&hash, TokenPurpose::TwoFactorChallenge, self.now())
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidToken))?;
        let user = self
            .store()
            .find_user(record.user_id)
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidToken))?;
        self.check_second_factor(&user, code).await?;
        // Single use: of two concurrent completions, one wins.
        self.store()
            .take_token(&hash, TokenPurpose::TwoFactorChallenge, self.now())
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidToken))?;
        let session = self.begin_session(user.id, true).await?;
        self.audit(
            self.event("account.sign_in.succeeded")
                .actor(user.id)
                .detail("second_factor", "yes"),
        )
        .await;
        Ok(session)
    }
}

//! Password change (current password needed; other sessions end) and "Forgot password?"
//! (always the same answer; a single-use token valid 30 minutes; using it ends every session).

use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::email::Email;
use crate::accounts::mail_queue::Draft;
use crate::accounts::mailer::MailKind;
use crate::accounts::records::TokenPurpose;
use crate::accounts::service::{Accounts, NewSession, Proof, SessionToken, refused};
use crate::accounts::throttle::ThrottleKey;
use crate::ids::UserId;
use crate::password::{PasswordHash, PolicyContext};
use crate::store::Scope;

impl Accounts {
    /// Changes the password of the signed-in user. The current password is checked
    /// (throttled like sign-in), every other session ends, this one gets a new token, and a
    /// notice is mailed. The new password, the ended sessions and the new token are one
    /// transaction: all of them or none.
    pub async fn change_password(
        &self,
        token: &SessionToken,
        current: SecretString,
        new: SecretString,
    ) -> Result<NewSession, Error> {
        let (session, user) = self.session_user(token).await?;
        // A counter of its own: guesses at sign-in, from anywhere, must not block a change.
        let key = ThrottleKey::CurrentPassword(user.id);
        self.reserve(&key, &self.config().throttle.second_factor)
            .await?;
        let stored = user
            .password_hash
            .as_deref()
            .map(PasswordHash::parse)
            .transpose()?;
        if !self
            .inner
            .passwords
            .verify(current, stored.as_ref())
            .await?
            .matched
        {
            self.audit(self.event("account.password.change_failed").actor(user.id))
                .await;
            return Err(refused(AccountDefect::WrongCurrentPassword));
        }
        let two_factor = user.two_factor.as_ref().is_some_and(|t| t.enabled);
        let context = PolicyContext::new(Some(user.email.as_str()), Some(&user.name), two_factor);
        self.inner.passwords.check_new(&new, &context).await?;
        let hash = self.inner.passwords.hash(new).await?;
        let mut tx = self
            .begin(Scope::user(user.id).and_throttle(key.clone()))
            .await?;
        let mut changed = tx
            .user(user.id)
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidSession))?;
        changed.password_hash = Some(hash.as_str().to_owned());
        tx.put_user(&changed).await?;
        tx.delete_throttle(&key).await?;
        tx.delete_sessions_of(user.id, Some(&session.token_hash))
            .await?;
        let renewed = self.renew_session(&mut *tx, &session, false).await?;
        let notice = Draft::notice(
            MailKind::PasswordChanged,
            &user.email,
            "Your password was changed",
            "Your password was just changed and your other sessions were signed out.\n\
             If this was not you, use \"Forgot password?\" at once."
                .to_owned(),
        );
        self.queue_mail(&mut *tx, notice, false).await?;
        tx.commit().await?;
        self.mail_queued();
        self.audit(self.event("account.password.changed").actor(user.id))
            .await;
        Ok(renewed)
    }

    /// "Forgot password?": mails a reset link and code to the account of `email`, if there is
    /// one with a verified address (rate limited). Always answers `Ok(())` after the same
    /// work: without such an account (or past the limit) a token of nobody is written and a
    /// decoy mail queued in its place, so neither the answer nor its time reveals anything.
    pub async fn forgot_password(&self, email: &str) -> Result<(), Error> {
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let user = self
            .read()
            .await?
            .user_by_email(&email)
            .await?
            .filter(|u| u.email_verified);
        let ttl = self.config().reset_ttl;
        let owner = user.as_ref().map_or_else(UserId::random, |u| u.id);
        let mut tx = self.begin(Scope::user(owner)).await?;
        let links = &self.config().links;
        let real = self
            .mail_token(
                &mut *tx,
                user.as_ref(),
                &email,
                (TokenPurpose::ResetPassword, ttl),
                |issued| {
                    let link = links.link("reset-password", issued.token.expose_secret());
                    let text = format!(
                        "Someone (maybe you) asked to reset the password of this account.\n\
                         Choose a new password: {link}\nOr type this code on the reset page: {}\n\
                         The link works for {} minutes. If it was not you, ignore this mail.",
                        issued.code.expose_secret(),
                        ttl.whole_minutes()
                    );
                    Draft::with_proof(
                        MailKind::ResetPassword,
                        &email,
                        "Reset your password",
                        text,
                        &issued.token,
                        &issued.code,
                    )
                },
            )
            .await?;
        tx.commit().await?;
        self.mail_queued();
        if let (true, Some(user)) = (real, &user) {
            self.audit(
                self.event("account.password.reset_requested")
                    .actor(user.id),
            )
            .await;
        }
        Ok(())
    }

    /// Sets a new password with a reset proof (link token or typed code). The token is used
    /// once (of two concurrent uses exactly one succeeds), every session ends, the sign-in
    /// counters clear, and a notice is mailed. The token's use, the new password, the ended
    /// sessions and the cleared counters are one transaction: all of them or none.
    pub async fn reset_password(&self, proof: &Proof, new: SecretString) -> Result<(), Error> {
        let (user, _) = self.peek_proof(proof, TokenPurpose::ResetPassword).await?;
        let two_factor = user.two_factor.as_ref().is_some_and(|t| t.enabled);
        let context = PolicyContext::new(Some(user.email.as_str()), Some(&user.name), two_factor);
        self.inner.passwords.check_new(&new, &context).await?;
        let hash = self.inner.passwords.hash(new).await?;
        let key = ThrottleKey::SignIn {
            email: user.email.normalized().to_owned(),
        };
        let tx = self
            .begin(Scope::user(user.id).and_throttle(key.clone()))
            .await?;
        let (mut tx, _) = self
            .take_proof(tx, proof, TokenPurpose::ResetPassword, user.id)
            .await?;
        let mut changed = tx
            .user(user.id)
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidToken))?;
        changed.password_hash = Some(hash.as_str().to_owned());
        tx.put_user(&changed).await?;
        tx.delete_tokens_of(user.id, TokenPurpose::ResetPassword)
            .await?;
        let ended = tx.delete_sessions_of(user.id, None).await?;
        tx.delete_throttle(&key).await?;
        let notice = Draft::notice(
            MailKind::PasswordReset,
            &user.email,
            "Your password was reset",
            "Your password was just reset and every session was signed out.\n\
             If this was not you, reset it again at once and contact support."
                .to_owned(),
        );
        self.queue_mail(&mut *tx, notice, false).await?;
        tx.commit().await?;
        self.mail_queued();
        self.audit(
            self.event("account.password.reset")
                .actor(user.id)
                .detail("sessions_ended", ended),
        )
        .await;
        Ok(())
    }
}

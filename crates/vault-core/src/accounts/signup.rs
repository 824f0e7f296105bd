//! Sign-up: name and email → a verification mail → the confirm step sets the password.
//! The answer never tells whether the address already has an account.

use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::email::Email;
use crate::accounts::mail_queue::Draft;
use crate::accounts::mailer::MailKind;
use crate::accounts::records::{TokenPurpose, User};
use crate::accounts::service::{Accounts, Proof, refused, validate_name};
use crate::ids::UserId;
use crate::password::PolicyContext;
use crate::store::{Scope, Transaction};

/// How many times a sign-up starts over when a concurrent one changed what it read.
const SIGN_UP_TRIES: usize = 3;

impl Accounts {
    /// Starts a sign-up. A new address gets an account (unverified, without a password) and
    /// a verification mail; an address that already has a verified account gets a mail
    /// telling its owner instead; an unverified one gets a new verification mail. Mails are
    /// rate limited. All three answer `Ok(())` alike and do the same work in one
    /// transaction: write the account (the existing one unchanged), one token and one queued
    /// mail (a decoy past the limit).
    pub async fn sign_up(&self, name: &str, email: &str) -> Result<(), Error> {
        let name = validate_name(name)?;
        let email = Email::parse(email)?;
        for _ in 0..SIGN_UP_TRIES {
            let known = self.read().await?.user_by_email(&email).await?;
            let id = known.as_ref().map_or_else(UserId::random, |u| u.id);
            // The account (new or unchanged) and its token together: a sign-up is never left
            // without a way to finish it.
            let mut tx = self.begin(Scope::user(id)).await?;
            let user = match tx.user_by_email(&email).await? {
                Some(existing) if existing.id == id => existing,
                // Created (or moved) meanwhile by another transaction: read again.
                Some(_) => continue,
                None if known.is_some() => continue,
                None => User {
                    id,
                    name: name.clone(),
                    email: email.clone(),
                    email_verified: false,
                    password_hash: None,
                    two_factor: None,
                    created_at: self.now(),
                },
            };
            match tx.put_user(&user).await {
                Ok(()) => {}
                // Taken by a concurrent sign-up: start over as an existing address.
                Err(Error::Conflict(_)) => continue,
                Err(other) => return Err(other),
            }
            let real = if user.email_verified {
                self.mail_sign_up_notice(&mut *tx, &user).await?
            } else {
                self.mail_verification(&mut *tx, Some(&user), &email)
                    .await?
            };
            tx.commit().await?;
            self.mail_queued();
            if known.is_none() {
                self.audit(
                    self.event("account.signed_up")
                        .actor(user.id)
                        .subject(user.id),
                )
                .await;
            }
            tracing::debug!(mailed = real, "sign-up handled");
            return Ok(());
        }
        Err(Error::Conflict(
            "the address changed during every try of a sign-up".into(),
        ))
    }

    /// In `tx`: the notice to the owner of a verified address that someone tried to sign up
    /// with it (counted as a token of its own purpose, never sent).
    async fn mail_sign_up_notice(
        &self,
        tx: &mut (dyn Transaction + '_),
        user: &User,
    ) -> Result<bool, Error> {
        let link = self.config().links.page("sign-in");
        let purpose = (TokenPurpose::SignUpNotice, self.config().mail_window);
        self.mail_token(tx, Some(user), &user.email, purpose, |_| {
            Draft::notice(
                MailKind::SignUpNotice,
                &user.email,
                "Someone tried to sign up with your address",
                format!(
                    "Someone (maybe you) tried to create an account with this address, which already has one.\n\
                     To sign in: {link}\nForgot your password? Use \"Forgot password?\" on the sign-in page.\n\
                     If it was not you, you can ignore this mail."
                ),
            )
        })
        .await
    }

    /// Sends the verification mail again (rate limited); answers `Ok(())` whatever the
    /// address, after the same work: without an unverified account at the address, a token of
    /// nobody and a decoy mail.
    pub async fn resend_verification(&self, email: &str) -> Result<(), Error> {
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let user = self
            .read()
            .await?
            .user_by_email(&email)
            .await?
            .filter(|u| !u.email_verified);
        let owner = user.as_ref().map_or_else(UserId::random, |u| u.id);
        let mut tx = self.begin(Scope::user(owner)).await?;
        self.mail_verification(&mut *tx, user.as_ref(), &email)
            .await?;
        tx.commit().await?;
        self.mail_queued();
        Ok(())
    }

    /// In `tx`: the verification mail to `user` at `email` (or its decoy).
    async fn mail_verification(
        &self,
        tx: &mut (dyn Transaction + '_),
        user: Option<&User>,
        email: &Email,
    ) -> Result<bool, Error> {
        let ttl = self.config().verification_ttl;
        let links = &self.config().links;
        let name = user.map_or("", |u| u.name.as_str());
        self.mail_token(
            tx,
            user,
            email,
            (TokenPurpose::VerifyEmail, ttl),
            |issued| {
                let link = links.link("verify-email", issued.token.expose_secret());
                let text = format!(
                    "Hello {name},\n\nConfirm your address and choose a password: {link}\n\
                 Or type this code on the sign-up page: {}\n\nThe link works for {} hours.",
                    issued.code.expose_secret(),
                    ttl.whole_hours()
                );
                Draft::with_proof(
                    MailKind::VerifyEmail,
                    email,
                    "Confirm your email address",
                    text,
                    &issued.token,
                    &issued.code,
                )
            },
        )
        .await
    }

    /// Completes sign-up: proves the address (link token or typed code) and sets the password,
    /// in one explicit step (mail scanners that follow links consume nothing). The user then
    /// signs in.
    pub async fn complete_sign_up(
        &self,
        proof: &Proof,
        password: SecretString,
    ) -> Result<UserId, Error> {
        let (user, email) = self.peek_proof(proof, TokenPurpose::VerifyEmail).await?;
        let context = PolicyContext::new(Some(email.as_str()), Some(&user.name), false);
        self.inner.passwords.check_new(&password, &context).await?;
        let hash = self.inner.passwords.hash(password).await?;
        let tx = self.begin(Scope::user(user.id)).await?;
        let (mut tx, _) = self
            .take_proof(tx, proof, TokenPurpose::VerifyEmail, user.id)
            .await?;
        let mut verified = tx
            .user(user.id)
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidToken))?;
        verified.email_verified = true;
        verified.password_hash = Some(hash.as_str().to_owned());
        tx.put_user(&verified).await?;
        tx.delete_tokens_of(user.id, TokenPurpose::VerifyEmail)
            .await?;
        tx.commit().await?;
        self.audit(
            self.event("account.email_verified")
                .actor(user.id)
                .subject(user.id),
        )
        .await;
        Ok(user.id)
    }
}

//! Sign-up: name and email → a verification mail → the confirm step sets the password.
//! The answer never tells whether the address already has an account.

use secrecy::{ExposeSecret, SecretString};

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::email::Email;
use crate::accounts::records::{TokenPurpose, User};
use crate::accounts::service::{Accounts, Proof, refused, validate_name};
use crate::ids::UserId;
use crate::password::PolicyContext;
use crate::store::Scope;

impl Accounts {
    /// Starts a sign-up. A new address gets an account (unverified, without a password) and
    /// a verification mail; an address that already has a verified account gets a mail
    /// telling its owner instead; an unverified one gets a new verification mail (rate
    /// limited). All three answer `Ok(())` alike.
    pub async fn sign_up(&self, name: &str, email: &str) -> Result<(), Error> {
        let name = validate_name(name)?;
        let email = Email::parse(email)?;
        let user = User {
            id: UserId::random(),
            name,
            email: email.clone(),
            email_verified: false,
            password_hash: None,
            two_factor: None,
            created_at: self.now(),
        };
        // The account and its first token together: a sign-up is never left without a way
        // to finish it.
        let mut tx = self.begin(Scope::user(user.id)).await?;
        if tx.user_by_email(&email).await?.is_some() {
            drop(tx);
            return self.existing_sign_up(&email).await;
        }
        match tx.put_user(&user).await {
            Ok(()) => {}
            // Taken by a concurrent sign-up: tell its owner.
            Err(Error::Conflict(_)) => {
                drop(tx);
                return self.existing_sign_up(&email).await;
            }
            Err(other) => return Err(other),
        }
        let ttl = self.config().verification_ttl;
        let issued = self
            .issue_token(&mut *tx, &user, &user.email, TokenPurpose::VerifyEmail, ttl)
            .await?;
        tx.commit().await?;
        self.audit(
            self.event("account.signed_up")
                .actor(user.id)
                .subject(user.id),
        )
        .await;
        if let Some((token, code)) = issued {
            self.mail_verification(&user, &token, &code).await;
        }
        Ok(())
    }

    async fn existing_sign_up(&self, email: &Email) -> Result<(), Error> {
        let Some(existing) = self.read().await?.user_by_email(email).await? else {
            return Ok(());
        };
        if !existing.email_verified {
            return self.send_verification(&existing).await;
        }
        if self.may_send_notice("sign_up_notice", existing.id).await? {
            let link = self.config().links.page("sign-in");
            self.mail(
                &existing.email,
                "Someone tried to sign up with your address",
                format!(
                    "Someone (maybe you) tried to create an account with this address, which already has one.\n\
                     To sign in: {link}\nForgot your password? Use \"Forgot password?\" on the sign-in page.\n\
                     If it was not you, you can ignore this mail."
                ),
            )
            .await;
        }
        Ok(())
    }

    /// Sends the verification mail again (rate limited); answers `Ok(())` whatever the
    /// address.
    pub async fn resend_verification(&self, email: &str) -> Result<(), Error> {
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        match self.read().await?.user_by_email(&email).await? {
            Some(user) if !user.email_verified => self.send_verification(&user).await,
            _ => Ok(()),
        }
    }

    async fn send_verification(&self, user: &User) -> Result<(), Error> {
        let ttl = self.config().verification_ttl;
        let mut tx = self.begin(Scope::user(user.id)).await?;
        let issued = self
            .issue_token(&mut *tx, user, &user.email, TokenPurpose::VerifyEmail, ttl)
            .await?;
        tx.commit().await?;
        if let Some((token, code)) = issued {
            self.mail_verification(user, &token, &code).await;
        }
        Ok(())
    }

    async fn mail_verification(&self, user: &User, token: &SecretString, code: &SecretString) {
        let ttl = self.config().verification_ttl;
        let link = self
            .config()
            .links
            .link("verify-email", token.expose_secret());
        self.mail(
            &user.email,
            "Confirm your email address",
            format!(
                "Hello {},\n\nConfirm your address and choose a password: {link}\n\
                 Or type this code on the sign-up page: {}\n\nThe link works for {} hours.",
                user.name,
                code.expose_secret(),
                ttl.whole_hours()
            ),
        )
        .await;
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

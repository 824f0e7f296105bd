//! The profile: the display name, and the email address (a new one is verified before it
//! replaces the old, and the old one is told).

use secrecy::ExposeSecret;

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::email::Email;
use crate::accounts::mail_queue::Draft;
use crate::accounts::mailer::MailKind;
use crate::accounts::records::TokenPurpose;
use crate::accounts::service::{Accounts, Proof, SessionToken, refused, validate_name};
use crate::store::Scope;

impl Accounts {
    /// Changes the display name.
    pub async fn change_name(&self, token: &SessionToken, name: &str) -> Result<(), Error> {
        let name = validate_name(name)?;
        let (_, user) = self.session_user(token).await?;
        let mut tx = self.begin(Scope::user(user.id)).await?;
        if let Some(mut current) = tx.user(user.id).await? {
            current.name = name;
            tx.put_user(&current).await?;
        }
        tx.commit().await?;
        self.audit(self.event("account.name.changed").actor(user.id))
            .await;
        Ok(())
    }

    /// Asks to move the account to `new_email`: a verification mail goes to the new address
    /// and a notice to the old one. The address changes only with
    /// [`Accounts::confirm_email_change`]. Whether the new address is taken is not revealed
    /// here.
    pub async fn change_email(&self, token: &SessionToken, new_email: &str) -> Result<(), Error> {
        let new_email = Email::parse(new_email)?;
        let (_, user) = self.session_user(token).await?;
        if new_email == user.email {
            return Ok(());
        }
        let ttl = self.config().email_change_ttl;
        let mut tx = self.begin(Scope::user(user.id)).await?;
        let links = &self.config().links;
        let real = self
            .mail_token(
                &mut *tx,
                Some(&user),
                &new_email,
                (TokenPurpose::ChangeEmail, ttl),
                |issued| {
                    let link = links.link("confirm-email", issued.token.expose_secret());
                    let text = format!(
                        "Confirm this address for your account: {link}\nOr type this code: {}",
                        issued.code.expose_secret()
                    );
                    Draft::with_proof(
                        MailKind::ChangeEmail,
                        &new_email,
                        "Confirm your new email address",
                        text,
                        &issued.token,
                        &issued.code,
                    )
                },
            )
            .await?;
        // The notice to the current address goes with the confirmation (both decoys past the
        // limit), so the work is the same whatever the new address is.
        let notice = Draft::notice(
            MailKind::EmailChangeNotice,
            &user.email,
            "Your email address is being changed",
            format!(
                "Someone signed in to your account asked to move it to {new_email}.\n\
                 If this was not you, change your password at once."
            ),
        );
        self.queue_mail(&mut *tx, notice, !real).await?;
        tx.commit().await?;
        self.mail_queued();
        Ok(())
    }

    /// Confirms an email change with the proof sent to the new address: the link's token, or
    /// the typed code given with the account's *current* address.
    pub async fn confirm_email_change(&self, proof: &Proof) -> Result<(), Error> {
        let (user, _) = self.peek_proof(proof, TokenPurpose::ChangeEmail).await?;
        let tx = self.begin(Scope::user(user.id)).await?;
        let (mut tx, record) = self
            .take_proof(tx, proof, TokenPurpose::ChangeEmail, user.id)
            .await?;
        let mut current = tx
            .user(record.user_id)
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidToken))?;
        current.email = record.email.clone();
        current.email_verified = true;
        match tx.put_user(&current).await {
            Ok(()) => tx.commit().await?,
            // Taken meanwhile by another account: the token stays unused (the transaction is
            // dropped), the owner may try another address.
            Err(Error::Conflict(_)) => return Err(refused(AccountDefect::EmailUnavailable)),
            Err(other) => return Err(other),
        }
        self.audit(self.event("account.email.changed").actor(record.user_id))
            .await;
        Ok(())
    }
}

//! Importing accounts from another system: users who already have a password hash (a PHC
//! string of Argon2id, Argon2i or Argon2d, any parameters within the verification limits)
//! sign in with their old password, and their hash is upgraded to the current parameters at
//! that first sign-in.

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::email::Email;
use crate::accounts::records::User;
use crate::accounts::service::{Accounts, refused, validate_name};
use crate::ids::UserId;
use crate::password::PasswordHash;
use crate::store::Scope;

/// An account as another system kept it.
#[derive(Clone)]
pub struct ImportedUser {
    /// The display name (1 to 100 characters, no control characters).
    pub name: String,
    /// The sign-in address.
    pub email: String,
    /// Whether the other system proved the address; an unproven one is verified by the usual
    /// sign-up mail before its owner can sign in.
    pub email_verified: bool,
    /// The password hash as a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), if the
    /// account had a password.
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for ImportedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedUser")
            .field("name", &self.name)
            .field("email", &self.email)
            .field("email_verified", &self.email_verified)
            .field("has_password", &self.password_hash.is_some())
            .finish()
    }
}

impl Accounts {
    /// Imports one account: checks the name, the address and the PHC string, and stores the
    /// user (without two-factor state; TOTP secrets are imported with
    /// [`crate::totp::SealingKey::seal`] and an enrolment). Audited as `account.imported`.
    ///
    /// # Errors
    /// [`AccountDefect::InvalidName`], [`AccountDefect::InvalidEmail`],
    /// [`crate::password::PasswordDefect`] for a hash that is not an Argon2 PHC string within
    /// the limits, [`AccountDefect::EmailUnavailable`] when the address has an account.
    pub async fn import_user(&self, import: &ImportedUser) -> Result<UserId, Error> {
        let name = validate_name(&import.name)?;
        let email = Email::parse(&import.email)?;
        let password_hash = import
            .password_hash
            .as_deref()
            .map(PasswordHash::parse)
            .transpose()?;
        let user = User {
            id: UserId::random(),
            name,
            email,
            email_verified: import.email_verified,
            password_hash: password_hash.map(PasswordHash::into_string),
            two_factor: None,
            created_at: self.now(),
        };
        let mut tx = self.begin(Scope::user(user.id)).await?;
        if tx.user_by_email(&user.email).await?.is_some() {
            return Err(refused(AccountDefect::EmailUnavailable));
        }
        match tx.put_user(&user).await {
            Err(Error::Conflict(_)) => return Err(refused(AccountDefect::EmailUnavailable)),
            other => other?,
        }
        tx.commit().await?;
        self.audit(
            self.event("account.imported")
                .subject(user.id)
                .detail("has_password", user.password_hash.is_some()),
        )
        .await;
        Ok(user.id)
    }
}

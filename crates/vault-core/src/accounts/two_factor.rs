//! TOTP two-factor authentication of an account: enrol, confirm with a first code (then 10
//! recovery codes, shown once), use at sign-in, regenerate codes, disable with password and
//! code. The codes themselves are checked by [`crate::totp`].

use secrecy::SecretString;

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::records::{TwoFactorState, User};
use crate::accounts::service::{Accounts, NewSession, SessionToken, refused};
use crate::password::PasswordHash;
use crate::totp::{self, Enrolment, RecoveryCodeHash, SealedSecret, TotpDefect};

/// What confirming 2FA hands out: the session (with a new token) and the recovery codes.
#[derive(Debug)]
pub struct TwoFactorEnabled {
    /// The session, re-issued: its token changed with the privilege.
    pub session: NewSession,
    /// Ten single-use recovery codes: show them once.
    pub recovery_codes: Vec<SecretString>,
}

impl Accounts {
    /// Checks a second factor of `user`: six digits are a TOTP code (replay refused, also
    /// between parallel requests), anything else a recovery code (used once). Throttled.
    pub(crate) async fn check_second_factor(&self, user: &User, code: &str) -> Result<(), Error> {
        let state = user
            .two_factor
            .as_ref()
            .filter(|t| t.enabled)
            .ok_or_else(|| refused(AccountDefect::TwoFactorState))?;
        let key = format!("second_factor:{}", user.id);
        self.reserve(&key, &self.config().throttle.second_factor)
            .await?;
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        let outcome =
            if digits.len() == totp::Totp::DIGITS && digits.bytes().all(|b| b.is_ascii_digit()) {
                self.check_totp(user, state, &digits).await
            } else {
                self.check_recovery_code(user, state, code).await
            };
        match outcome {
            Ok(()) => {
                self.store().clear_attempts(&key).await?;
                Ok(())
            }
            Err(err) => {
                self.audit(self.event("account.second_factor.failed").actor(user.id))
                    .await;
                Err(err)
            }
        }
    }

    async fn check_totp(
        &self,
        user: &User,
        state: &TwoFactorState,
        code: &str,
    ) -> Result<(), Error> {
        let sealed = SealedSecret::from_bytes(&state.sealed_secret)?;
        let step = self
            .inner
            .totp
            .verify(user.id, &sealed, code, self.now(), state.last_step)
            .map_err(|err| match err {
                Error::Totp(
                    TotpDefect::WrongCode | TotpDefect::ReplayedCode | TotpDefect::MalformedCode,
                ) => refused(AccountDefect::InvalidSecondFactor),
                other => other,
            })?;
        if !self.store().advance_totp_step(user.id, step).await? {
            return Err(refused(AccountDefect::InvalidSecondFactor));
        }
        Ok(())
    }

    async fn check_recovery_code(
        &self,
        user: &User,
        state: &TwoFactorState,
        code: &str,
    ) -> Result<(), Error> {
        // Compare against every slot (used ones as a hash nothing matches) so indexes stay.
        let hashes: Vec<RecoveryCodeHash> = state
            .recovery_codes
            .iter()
            .map(|slot| {
                slot.as_deref()
                    .and_then(RecoveryCodeHash::from_slice)
                    .unwrap_or(RecoveryCodeHash::from_bytes([0; 32]))
            })
            .collect();
        let index = totp::match_recovery_code(user.id, code, &hashes)
            .filter(|i| state.recovery_codes.get(*i).is_some_and(Option::is_some))
            .ok_or_else(|| refused(AccountDefect::InvalidSecondFactor))?;
        if !self.store().use_recovery_code(user.id, index).await? {
            return Err(refused(AccountDefect::InvalidSecondFactor));
        }
        let left = state
            .recovery_codes
            .iter()
            .flatten()
            .count()
            .saturating_sub(1);
        self.audit(
            self.event("account.recovery_code.used")
                .actor(user.id)
                .detail("codes_left", left),
        )
        .await;
        Ok(())
    }

    /// Starts enrolment: a new secret (sealed and stored, not yet active) and what the user
    /// scans. Starting again replaces an unconfirmed secret.
    pub async fn begin_two_factor(&self, token: &SessionToken) -> Result<Enrolment, Error> {
        let (_, user) = self.session_user(token).await?;
        if user.two_factor.as_ref().is_some_and(|t| t.enabled) {
            return Err(refused(AccountDefect::TwoFactorState));
        }
        let enrolment = self.inner.totp.enrol(user.id, user.email.as_str())?;
        let state = TwoFactorState {
            sealed_secret: enrolment.sealed.as_bytes().to_vec(),
            enabled: false,
            last_step: None,
            recovery_codes: Vec::new(),
        };
        self.store().set_two_factor(user.id, Some(state)).await?;
        Ok(enrolment)
    }

    /// Confirms enrolment with a first valid code: 2FA is on, the session gets a new token
    /// (a privilege change) marked as having passed 2FA, and 10 recovery codes are returned.
    pub async fn confirm_two_factor(
        &self,
        token: &SessionToken,
        code: &str,
    ) -> Result<TwoFactorEnabled, Error> {
        let (session, user) = self.session_user(token).await?;
        let state = user
            .two_factor
            .clone()
            .filter(|t| !t.enabled)
            .ok_or_else(|| refused(AccountDefect::TwoFactorState))?;
        let key = format!("second_factor:{}", user.id);
        self.reserve(&key, &self.config().throttle.second_factor)
            .await?;
        let sealed = SealedSecret::from_bytes(&state.sealed_secret)?;
        let step = self
            .inner
            .totp
            .verify(user.id, &sealed, code, self.now(), None)
            .map_err(|_| refused(AccountDefect::InvalidSecondFactor))?;
        self.store().clear_attempts(&key).await?;
        let (codes, hashes) = totp::generate_recovery_codes(user.id)?;
        let enabled = TwoFactorState {
            enabled: true,
            last_step: Some(step),
            recovery_codes: hashes.iter().map(|h| Some(h.as_bytes().to_vec())).collect(),
            ..state
        };
        self.store().set_two_factor(user.id, Some(enabled)).await?;
        let session = self.renew_session(&session, true).await?;
        self.audit(self.event("account.two_factor.enabled").actor(user.id))
            .await;
        Ok(TwoFactorEnabled {
            session,
            recovery_codes: codes,
        })
    }

    /// Replaces the recovery codes (a valid TOTP code is needed); returns the new ones.
    pub async fn regenerate_recovery_codes(
        &self,
        token: &SessionToken,
        code: &str,
    ) -> Result<Vec<SecretString>, Error> {
        let (_, user) = self.session_user(token).await?;
        self.check_second_factor(&user, code).await?;
        let Some(state) = self
            .store()
            .find_user(user.id)
            .await?
            .and_then(|u| u.two_factor)
        else {
            return Err(refused(AccountDefect::TwoFactorState));
        };
        let (codes, hashes) = totp::generate_recovery_codes(user.id)?;
        let state = TwoFactorState {
            recovery_codes: hashes.iter().map(|h| Some(h.as_bytes().to_vec())).collect(),
            ..state
        };
        self.store().set_two_factor(user.id, Some(state)).await?;
        self.audit(
            self.event("account.recovery_codes.regenerated")
                .actor(user.id),
        )
        .await;
        Ok(codes)
    }

    /// Turns 2FA off: needs the password and a current code (TOTP or recovery).
    pub async fn disable_two_factor(
        &self,
        token: &SessionToken,
        password: SecretString,
        code: &str,
    ) -> Result<(), Error> {
        let (_, user) = self.session_user(token).await?;
        let stored = user
            .password_hash
            .as_deref()
            .map(PasswordHash::parse)
            .transpose()?;
        let verified = self
            .inner
            .passwords
            .verify(password, stored.as_ref())
            .await?;
        if !verified.matched {
            return Err(refused(AccountDefect::WrongCurrentPassword));
        }
        self.check_second_factor(&user, code).await?;
        self.store().set_two_factor(user.id, None).await?;
        self.audit(self.event("account.two_factor.disabled").actor(user.id))
            .await;
        Ok(())
    }
}

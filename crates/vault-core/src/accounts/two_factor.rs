//! TOTP two-factor authentication of an account: enrol, confirm with a first code (then 10
//! recovery codes, shown once), use at sign-in, regenerate codes, disable with password and
//! code. The codes themselves are checked by [`crate::totp`].

use secrecy::SecretString;

use crate::Error;
use crate::accounts::AccountDefect;
use crate::accounts::records::{TwoFactorState, User};
use crate::accounts::service::{Accounts, NewSession, SessionToken, refused};
use crate::accounts::throttle::ThrottleKey;
use crate::ids::UserId;
use crate::password::PasswordHash;
use crate::store::{Scope, Transaction, Tx};
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
    /// between parallel requests), anything else a recovery code (used once). Throttled: the
    /// attempt is reserved first, in a transaction of its own. On success, hands back the
    /// open transaction (scoped to the user) holding the code's use and the cleared counter,
    /// for the flow to add its writes and commit.
    pub(crate) async fn check_second_factor(
        &self,
        user: &User,
        code: &str,
    ) -> Result<Tx<'_>, Error> {
        if !user.two_factor.as_ref().is_some_and(|t| t.enabled) {
            return Err(refused(AccountDefect::TwoFactorState));
        }
        let key = ThrottleKey::SecondFactor(user.id);
        self.reserve(&key, &self.config().throttle.second_factor)
            .await?;
        let mut tx = self
            .begin(Scope::user(user.id).and_throttle(key.clone()))
            .await?;
        let outcome = self.use_second_factor(&mut *tx, user.id, code).await;
        match outcome {
            Ok(()) => {
                tx.delete_throttle(&key).await?;
                Ok(tx)
            }
            Err(err) => {
                drop(tx);
                self.audit(self.event("account.second_factor.failed").actor(user.id))
                    .await;
                Err(err)
            }
        }
    }

    /// In `tx`: checks `code` against the user's stored state and records its use.
    async fn use_second_factor(
        &self,
        tx: &mut (dyn Transaction + '_),
        user_id: UserId,
        code: &str,
    ) -> Result<(), Error> {
        let mut user = tx
            .user(user_id)
            .await?
            .ok_or_else(|| refused(AccountDefect::TwoFactorState))?;
        let Some(state) = user.two_factor.as_mut().filter(|t| t.enabled) else {
            return Err(refused(AccountDefect::TwoFactorState));
        };
        let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() == self.inner.totp.digits() && digits.bytes().all(|b| b.is_ascii_digit()) {
            self.check_totp(user_id, state, &digits)?;
        } else {
            let left = self.check_recovery_code(user_id, state, code)?;
            self.audit(
                self.event("account.recovery_code.used")
                    .actor(user_id)
                    .detail("codes_left", left),
            )
            .await;
        }
        tx.put_user(&user).await
    }

    /// Checks a TOTP code and moves the last accepted step (a replay, also between parallel
    /// requests, finds the step already there).
    fn check_totp(
        &self,
        user: UserId,
        state: &mut TwoFactorState,
        code: &str,
    ) -> Result<(), Error> {
        let sealed = SealedSecret::from_bytes(&state.sealed_secret)?;
        let step = self
            .inner
            .totp
            .verify(user, &sealed, code, self.now(), state.last_step)
            .map_err(|err| match err {
                Error::Totp(
                    TotpDefect::WrongCode | TotpDefect::ReplayedCode | TotpDefect::MalformedCode,
                ) => refused(AccountDefect::InvalidSecondFactor),
                other => other,
            })?;
        if state.last_step.is_some_and(|last| step <= last) {
            return Err(refused(AccountDefect::InvalidSecondFactor));
        }
        state.last_step = Some(step);
        Ok(())
    }

    /// Checks a recovery code and marks it used; answers how many are left.
    fn check_recovery_code(
        &self,
        user: UserId,
        state: &mut TwoFactorState,
        code: &str,
    ) -> Result<usize, Error> {
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
        let slot = totp::match_recovery_code(user, code, &hashes)
            .and_then(|i| state.recovery_codes.get_mut(i))
            .filter(|slot| slot.is_some())
            .ok_or_else(|| refused(AccountDefect::InvalidSecondFactor))?;
        *slot = None;
        Ok(state.recovery_codes.iter().flatten().count())
    }

    /// Starts enrolment: a new secret (sealed and stored, not yet active) and what the user
    /// scans. Starting again replaces an unconfirmed secret.
    pub async fn begin_two_factor(&self, token: &SessionToken) -> Result<Enrolment, Error> {
        let (_, user) = self.session_user(token).await?;
        if user.two_factor.as_ref().is_some_and(|t| t.enabled) {
            return Err(refused(AccountDefect::TwoFactorState));
        }
        let enrolment = self.inner.totp.enrol(user.id, user.email.as_str())?;
        let mut tx = self.begin(Scope::user(user.id)).await?;
        let mut current = tx
            .user(user.id)
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidSession))?;
        if current.two_factor.as_ref().is_some_and(|t| t.enabled) {
            return Err(refused(AccountDefect::TwoFactorState));
        }
        current.two_factor = Some(TwoFactorState {
            sealed_secret: enrolment.sealed.as_bytes().to_vec(),
            enabled: false,
            last_step: None,
            recovery_codes: Vec::new(),
        });
        tx.put_user(&current).await?;
        tx.commit().await?;
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
        if user.two_factor.as_ref().is_none_or(|t| t.enabled) {
            return Err(refused(AccountDefect::TwoFactorState));
        }
        let key = ThrottleKey::SecondFactor(user.id);
        self.reserve(&key, &self.config().throttle.second_factor)
            .await?;
        let mut tx = self
            .begin(Scope::user(user.id).and_throttle(key.clone()))
            .await?;
        let mut current = tx
            .user(user.id)
            .await?
            .ok_or_else(|| refused(AccountDefect::InvalidSession))?;
        let Some(state) = current.two_factor.as_mut().filter(|t| !t.enabled) else {
            return Err(refused(AccountDefect::TwoFactorState));
        };
        let sealed = SealedSecret::from_bytes(&state.sealed_secret)?;
        let step = self
            .inner
            .totp
            .verify(user.id, &sealed, code, self.now(), None)
            .map_err(|_| refused(AccountDefect::InvalidSecondFactor))?;
        let (codes, hashes) = totp::generate_recovery_codes(user.id)?;
        state.enabled = true;
        state.last_step = Some(step);
        state.recovery_codes = hashes.iter().map(|h| Some(h.as_bytes().to_vec())).collect();
        tx.put_user(&current).await?;
        tx.delete_throttle(&key).await?;
        let session = self.renew_session(&mut *tx, &session, true).await?;
        tx.commit().await?;
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
        let mut tx = self.check_second_factor(&user, code).await?;
        let mut current = tx
            .user(user.id)
            .await?
            .ok_or_else(|| refused(AccountDefect::TwoFactorState))?;
        let Some(state) = current.two_factor.as_mut() else {
            return Err(refused(AccountDefect::TwoFactorState));
        };
        let (codes, hashes) = totp::generate_recovery_codes(user.id)?;
        state.recovery_codes = hashes.iter().map(|h| Some(h.as_bytes().to_vec())).collect();
        tx.put_user(&current).await?;
        tx.commit().await?;
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
        let mut tx = self.check_second_factor(&user, code).await?;
        let mut current = tx
            .user(user.id)
            .await?
            .ok_or_else(|| refused(AccountDefect::TwoFactorState))?;
        current.two_factor = None;
        tx.put_user(&current).await?;
        tx.commit().await?;
        self.audit(self.event("account.two_factor.disabled").actor(user.id))
            .await;
        Ok(())
    }
}

//! TOTP two-factor authentication (RFC 6238): enrolment with an `otpauth://` URI and a QR
//! code, code checks with ±1 step and replay refusal, single-use recovery codes, and secrets
//! sealed at rest under a server key. Persistence and the sign-in flow belong to
//! [`crate::accounts`]; this module owns the cryptography and the code checks.
//!
//! ```
//! use secrecy::ExposeSecret;
//! use time::OffsetDateTime;
//! use vault_core::UserId;
//! use vault_core::totp::{SealingKey, Totp};
//!
//! let totp = Totp::new("Vault", SealingKey::generate()?)?;
//! let user = UserId::random();
//! let enrolment = totp.enrol(user, "ada@example.com")?;
//! // Store `enrolment.sealed`; show the QR code; enable 2FA after a first valid code.
//! let now = OffsetDateTime::now_utc();
//! let code = totp.code_at(user, &enrolment.sealed, now)?; // what the app would show
//! let step = totp.verify(user, &enrolment.sealed, code.expose_secret(), now, None)?;
//! // Store `step`: the same code (or an older one) is refused from now on.
//! assert!(totp.verify(user, &enrolment.sealed, code.expose_secret(), now, Some(step)).is_err());
//! # Ok::<(), vault_core::Error>(())
//! ```

mod codes;
mod defect;
mod enrolment;
mod recovery;
mod sealing;

use std::fmt;

pub use defect::TotpDefect;
pub use enrolment::Enrolment;
pub use recovery::{
    RECOVERY_CODE_COUNT, RecoveryCodeHash, generate_recovery_codes, match_recovery_code,
};
pub use sealing::{SealedSecret, SealingKey};

use crate::Error;

/// The TOTP service: issuer name and sealing key, with the parameters every authenticator
/// app understands (SHA-1, 6 digits, 30-second steps; apps that are offered SHA-256 often
/// fall back to SHA-1 silently, so the codes would never match). 8 digits are offered with
/// [`Totp::with_digits`]. The `otpauth://` URI states every parameter explicitly, since some
/// apps mis-default the ones left out.
pub struct Totp {
    issuer: String,
    key: SealingKey,
    digits: usize,
}

impl Totp {
    /// Digits of a code, unless [`Totp::with_digits`] says otherwise.
    pub const DIGITS: usize = 6;
    /// The longest code offered.
    pub const MAX_DIGITS: usize = 8;
    /// Length of a time step in seconds.
    pub const STEP_SECONDS: u64 = 30;
    /// Steps accepted before and after the current one (clock drift, typing time), as
    /// RFC 6238 §5.2 recommends: one.
    pub const SKEW_STEPS: u64 = 1;

    /// A service for `issuer` (the name shown in authenticator apps, e.g. "Vault"): 1 to 128
    /// characters, no `:` and no control characters.
    pub fn new(issuer: &str, key: SealingKey) -> Result<Self, Error> {
        if !valid_label(issuer) {
            return Err(Error::Totp(TotpDefect::InvalidLabel));
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            key,
            digits: Self::DIGITS,
        })
    }

    /// Codes of `digits` digits: 6 (the default, what every app shows) or 8. Secrets enrolled
    /// with one length keep working only with that length.
    ///
    /// # Errors
    /// [`TotpDefect::UnsupportedDigits`] for any other length.
    pub fn with_digits(mut self, digits: usize) -> Result<Self, Error> {
        if digits != 6 && digits != Self::MAX_DIGITS {
            return Err(Error::Totp(TotpDefect::UnsupportedDigits));
        }
        self.digits = digits;
        Ok(self)
    }

    /// Digits of a code of this service.
    pub fn digits(&self) -> usize {
        self.digits
    }

    /// The issuer name.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The sealing key, e.g. to [`SealingKey::reseal`] secrets under a new one.
    pub fn sealing_key(&self) -> &SealingKey {
        &self.key
    }

    /// The totp-rs generator for one secret, with this service's parameters.
    fn generator(&self, secret: &[u8], account: &str) -> Result<totp_rs::Totp, Error> {
        totp_rs::Builder::new()
            .with_algorithm(totp_rs::Algorithm::SHA1)
            .with_digits(u8::try_from(self.digits).unwrap_or(6))
            .with_step_duration(Self::STEP_SECONDS)
            .with_skew(Self::SKEW_STEPS as u16)
            .with_secret(secret.to_vec())
            .with_issuer(Some(self.issuer.as_str()))
            .with_account_name(account)
            .build()
            // Secret length and labels are checked before; what is left is a label totp-rs
            // refuses.
            .map_err(|_| Error::Totp(TotpDefect::InvalidLabel))
    }
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("issuer", &self.issuer)
            .field("key", &self.key)
            .field("digits", &self.digits)
            .finish()
    }
}

/// An issuer or account label authenticator apps display unchanged: 1 to 128 characters,
/// no `:` (the apps split `issuer:account` there) and no control characters.
fn valid_label(label: &str) -> bool {
    let count = label.chars().count();
    (1..=128).contains(&count)
        && !label.chars().any(|c| c == ':' || c.is_control())
        && !label.trim().is_empty()
}

//! Checking a typed code: input normalisation, the ±1 step window compared in constant
//! time, and refusal of a step at or before the last one used (RFC 6238 §5.2).

use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{SealedSecret, Totp, TotpDefect};
use crate::{Error, UserId};

/// The longest input looked at: six digits with generous spacing.
const MAX_INPUT: usize = 32;

impl Totp {
    /// Checks `code` for `user` at `now` and returns the time step it matched; store that
    /// step, and pass it back as `last_used_step` next time so the code cannot be replayed.
    ///
    /// The code may hold spaces (`"123 456"`); otherwise it must be exactly six ASCII digits.
    /// Steps `now - 1` to `now + 1` are accepted; each is compared in constant time and all
    /// are computed, so timing does not tell which matched.
    ///
    /// # Errors
    /// [`TotpDefect::MalformedCode`], [`TotpDefect::WrongCode`], [`TotpDefect::ReplayedCode`]
    /// (right code of a step `<= last_used_step`), [`TotpDefect::SealedSecretUnreadable`].
    pub fn verify(
        &self,
        user: UserId,
        sealed: &SealedSecret,
        code: &str,
        now: OffsetDateTime,
        last_used_step: Option<u64>,
    ) -> Result<u64, Error> {
        let code = normalise(code, self.digits)?;
        let secret = self.key.open(user, sealed)?;
        let generator = self.generator(secret.expose_secret(), "")?;
        let origin = step_of(now)?;

        let mut newest_fresh: Option<u64> = None;
        let mut any = false;
        for step in origin.saturating_sub(Self::SKEW_STEPS)..=origin + Self::SKEW_STEPS {
            let expected =
                Zeroizing::new(generator.generate(step * Self::STEP_SECONDS).to_string());
            let equal: bool = expected.as_bytes().ct_eq(&code[..self.digits]).into();
            any |= equal;
            if equal && last_used_step.is_none_or(|last| step > last) {
                newest_fresh = Some(step);
            }
        }
        match newest_fresh {
            Some(step) => Ok(step),
            None if any => Err(Error::Totp(TotpDefect::ReplayedCode)),
            None => Err(Error::Totp(TotpDefect::WrongCode)),
        }
    }

    /// The code an authenticator app shows for this secret at `now`. The server never needs
    /// it in production (it would defeat the second factor to send it anywhere); it exists
    /// for tests and demos of the sign-in flow.
    pub fn code_at(
        &self,
        user: UserId,
        sealed: &SealedSecret,
        now: OffsetDateTime,
    ) -> Result<SecretString, Error> {
        let secret = self.key.open(user, sealed)?;
        let generator = self.generator(secret.expose_secret(), "")?;
        Ok(generator
            .generate(step_of(now)? * Self::STEP_SECONDS)
            .to_string()
            .into())
    }

    /// The time step of `now` (seconds since the Unix epoch / 30), as [`Totp::verify`]
    /// returns it.
    pub fn step_at(now: OffsetDateTime) -> u64 {
        u64::try_from(now.unix_timestamp()).unwrap_or(0) / Self::STEP_SECONDS
    }
}

/// The step of `now`; times before 1970 match no code.
fn step_of(now: OffsetDateTime) -> Result<u64, Error> {
    u64::try_from(now.unix_timestamp())
        .map(|seconds| seconds / Totp::STEP_SECONDS)
        .map_err(|_| Error::Totp(TotpDefect::WrongCode))
}

/// Six ASCII digits with ASCII whitespace removed, or [`TotpDefect::MalformedCode`].
fn normalise(input: &str, want: usize) -> Result<Zeroizing<[u8; Totp::MAX_DIGITS]>, Error> {
    let malformed = || Error::Totp(TotpDefect::MalformedCode);
    if input.len() > MAX_INPUT {
        return Err(malformed());
    }
    let mut digits = Zeroizing::new([0u8; Totp::MAX_DIGITS]);
    let mut len = 0;
    for byte in input.bytes().filter(|b| !b.is_ascii_whitespace()) {
        if !byte.is_ascii_digit() || len == want {
            return Err(malformed());
        }
        digits[len] = byte;
        len += 1;
    }
    if len == want {
        Ok(digits)
    } else {
        Err(malformed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_may_hold_spaces_but_nothing_else() {
        for ok in ["123456", "123 456", " 123456\n", "1 2 3 4 5 6"] {
            assert_eq!(&normalise(ok, 6).unwrap()[..6], b"123456", "{ok:?}");
        }
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "123-456",
            "+12345",
            "１２３４５６",
            "123\u{a0}456",
            "1                                  23456",
        ] {
            assert!(
                matches!(
                    normalise(bad, 6),
                    Err(Error::Totp(TotpDefect::MalformedCode))
                ),
                "{bad:?}"
            );
        }
    }
}

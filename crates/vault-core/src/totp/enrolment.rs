//! Enrolment: a fresh 160-bit secret from the OS CSPRNG, sealed for the user, and the
//! `otpauth://` URI and QR code that carry it to an authenticator app. 2FA is enabled only
//! once the accounts service has seen a first valid code for it.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use zeroize::Zeroizing;

use super::sealing::fill_random;
use super::{SealedSecret, Totp, TotpDefect, valid_label};
use crate::{Error, UserId};

/// Bytes of a new secret: 160 bits, the length RFC 4226 recommends (and that of SHA-1).
const SECRET_BYTES: usize = 20;

/// A new enrolment: the sealed secret to store, and what to show the user once.
///
/// Everything but `sealed` carries the secret in clear: show it, never store or log it.
/// `Debug` prints `[redacted]` for all of it.
pub struct Enrolment {
    /// The secret sealed for the user: store it (not yet enabled).
    pub sealed: SealedSecret,
    /// `otpauth://totp/{issuer}:{account}?secret=...&issuer=...`: the QR code's content, or a
    /// link for authenticator apps on the same device.
    pub otpauth_uri: SecretString,
    /// The URI as a QR code, a PNG image.
    pub qr_png: SecretSlice<u8>,
    /// The secret in base32, in groups of four, for typing into an app that cannot scan.
    pub manual_key: SecretString,
}

impl Enrolment {
    /// The QR code as a `data:image/png;base64,...` URI, for an `<img src>`.
    pub fn qr_data_uri(&self) -> SecretString {
        format!(
            "data:image/png;base64,{}",
            STANDARD.encode(self.qr_png.expose_secret())
        )
        .into()
    }
}

impl fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Enrolment([redacted])")
    }
}

impl Totp {
    /// Starts an enrolment for `user`, labelled `account_label` in the app (usually the
    /// email address: 1 to 128 characters, no `:`).
    ///
    /// # Errors
    /// [`TotpDefect::InvalidLabel`], [`TotpDefect::QrCode`], [`Error::Randomness`].
    pub fn enrol(&self, user: UserId, account_label: &str) -> Result<Enrolment, Error> {
        if !valid_label(account_label) {
            return Err(Error::Totp(TotpDefect::InvalidLabel));
        }
        let mut secret = Zeroizing::new([0u8; SECRET_BYTES]);
        fill_random(&mut secret[..])?;
        let generator = self.generator(&secret[..], account_label)?;
        let uri = Zeroizing::new(explicit_uri(
            &generator
                .to_url()
                .map_err(|_| Error::Totp(TotpDefect::InvalidLabel))?,
            self.digits(),
        ));
        let qr_png =
            qrcodegen_image::draw_png(uri.as_str()).map_err(|_| Error::Totp(TotpDefect::QrCode))?;
        let base32 = Zeroizing::new(generator.secret().to_base32());
        let manual_key = base32
            .as_bytes()
            .chunks(4)
            .map(|group| std::str::from_utf8(group).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Enrolment {
            sealed: self.key.seal(user, &secret[..])?,
            otpauth_uri: uri.as_str().into(),
            qr_png: qr_png.into(),
            manual_key: manual_key.into(),
        })
    }
}

/// The URI with `algorithm`, `digits` and `period` written out: totp-rs leaves the default
/// ones out, and some authenticator apps then guess wrong.
fn explicit_uri(uri: &str, digits: usize) -> String {
    let mut uri = uri.to_owned();
    let present = |uri: &str, name: &str| {
        uri.split(['?', '&'])
            .skip(1)
            .any(|pair| pair.split('=').next() == Some(name))
    };
    for (name, value) in [
        ("algorithm", "SHA1".to_owned()),
        ("digits", digits.to_string()),
        ("period", Totp::STEP_SECONDS.to_string()),
    ] {
        if !present(&uri, name) {
            uri.push(if uri.contains('?') { '&' } else { '?' });
            uri.push_str(name);
            uri.push('=');
            uri.push_str(&value);
        }
    }
    uri
}

#[cfg(test)]
mod uri_tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::totp::SealingKey;

    fn params(uri: &str) -> Vec<(String, String)> {
        let query = uri.split_once('?').map(|(_, q)| q).unwrap_or_default();
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    #[test]
    fn the_uri_states_algorithm_digits_and_period() {
        for digits in [6, 8] {
            let totp = Totp::new("Vault", SealingKey::generate().unwrap())
                .unwrap()
                .with_digits(digits)
                .unwrap();
            let enrolment = totp.enrol(UserId::random(), "ada@example.com").unwrap();
            let found = params(enrolment.otpauth_uri.expose_secret());
            for (name, value) in [
                ("algorithm", "SHA1".to_owned()),
                ("digits", digits.to_string()),
                ("period", "30".to_owned()),
                ("issuer", "Vault".to_owned()),
            ] {
                let count = found.iter().filter(|(k, _)| k == name).count();
                assert_eq!(count, 1, "{name} once in {found:?}");
                assert!(
                    found.contains(&(name.to_owned(), value)),
                    "{name} in {found:?}"
                );
            }
        }
    }

    #[test]
    fn eight_digit_codes_verify_and_six_digit_ones_do_not() {
        let totp = Totp::new("Vault", SealingKey::generate().unwrap())
            .unwrap()
            .with_digits(8)
            .unwrap();
        let user = UserId::random();
        let enrolment = totp.enrol(user, "ada@example.com").unwrap();
        let now = time::OffsetDateTime::now_utc();
        let code = totp.code_at(user, &enrolment.sealed, now).unwrap();
        assert_eq!(code.expose_secret().len(), 8);
        totp.verify(user, &enrolment.sealed, code.expose_secret(), now, None)
            .unwrap();
        assert!(matches!(
            totp.verify(
                user,
                &enrolment.sealed,
                &code.expose_secret()[..6],
                now,
                None
            ),
            Err(Error::Totp(TotpDefect::MalformedCode))
        ));
        assert!(matches!(
            Totp::new("Vault", SealingKey::generate().unwrap())
                .unwrap()
                .with_digits(7),
            Err(Error::Totp(TotpDefect::UnsupportedDigits))
        ));
    }
}

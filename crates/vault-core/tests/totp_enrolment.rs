//! What enrolment hands out: the `otpauth://` URI, the QR code, the manual key, and the
//! sealed secret, which opens only with the right server key for the right user.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret;
use time::OffsetDateTime;
use vault_core::totp::{SealedSecret, SealingKey, Totp, TotpDefect};
use vault_core::{Clock, Error, ManualClock, UserId};

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

fn now() -> OffsetDateTime {
    ManualClock::default().now()
}

fn service_with(key: SealingKey) -> Totp {
    Totp::new("Vault", key).unwrap()
}

/// The base32 secret inside an `otpauth://` URI.
fn secret_param(uri: &str) -> String {
    let query = uri.split_once('?').unwrap().1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("secret="))
        .expect("the URI carries the secret")
        .to_owned()
}

fn unreadable(result: Result<u64, Error>) -> bool {
    matches!(result, Err(Error::Totp(TotpDefect::SealedSecretUnreadable)))
}

#[test]
fn the_uri_names_issuer_and_account_and_holds_a_160_bit_secret() {
    let totp = service_with(SealingKey::generate().unwrap());
    let enrolment = totp.enrol(UserId::random(), "ada@example.com").unwrap();
    let uri = enrolment.otpauth_uri.expose_secret();
    assert!(
        uri.starts_with("otpauth://totp/Vault:ada%40example.com?"),
        "{uri}"
    );
    assert!(uri.contains("issuer=Vault"));
    let secret = secret_param(uri);
    assert_eq!(secret.len(), 32, "160 bits are 32 base32 characters");
    // Every parameter written out (issue 11: some apps mis-default the ones left out).
    assert!(
        uri.contains("algorithm=SHA1") && uri.contains("digits=6") && uri.contains("period=30")
    );
    // The manual key is the same secret, grouped for typing.
    assert_eq!(
        enrolment.manual_key.expose_secret().replace(' ', ""),
        secret
    );
    assert_eq!(enrolment.manual_key.expose_secret().split(' ').count(), 8);
}

#[test]
fn each_enrolment_gets_a_new_secret() {
    let totp = service_with(SealingKey::generate().unwrap());
    let user = UserId::random();
    let a = totp.enrol(user, "ada@example.com").unwrap();
    let b = totp.enrol(user, "ada@example.com").unwrap();
    assert_ne!(
        secret_param(a.otpauth_uri.expose_secret()),
        secret_param(b.otpauth_uri.expose_secret())
    );
}

#[test]
fn the_secret_appears_only_inside_the_uri_and_the_qr_code() {
    let totp = service_with(SealingKey::generate().unwrap());
    let enrolment = totp.enrol(UserId::random(), "ada@example.com").unwrap();
    let base32 = secret_param(enrolment.otpauth_uri.expose_secret());
    let raw = totp_rs::Secret::try_from_base32(&base32).unwrap();
    // Not in the stored form, as text or bytes.
    let stored = enrolment.sealed.encode();
    assert!(!stored.contains(&base32));
    assert!(
        !enrolment
            .sealed
            .as_bytes()
            .windows(raw.as_bytes().len())
            .any(|w| w == raw.as_bytes())
    );
    // Not in any Debug output.
    let shown = format!(
        "{enrolment:?} {:?} {:?}",
        enrolment.otpauth_uri, enrolment.sealed
    );
    assert!(!shown.contains(&base32), "{shown}");
    assert!(!shown.contains("otpauth"), "{shown}");
}

#[test]
fn the_qr_code_is_a_png() {
    let totp = service_with(SealingKey::generate().unwrap());
    let enrolment = totp.enrol(UserId::random(), "ada@example.com").unwrap();
    assert!(enrolment.qr_png.expose_secret().starts_with(PNG_MAGIC));
    assert!(enrolment.qr_png.expose_secret().len() > 100);
    let data_uri = enrolment.qr_data_uri();
    assert!(
        data_uri
            .expose_secret()
            .starts_with("data:image/png;base64,iVBORw0KGgo")
    );
}

#[test]
fn a_sealed_secret_survives_its_stored_forms() {
    let totp = service_with(SealingKey::generate().unwrap());
    let user = UserId::random();
    let enrolment = totp.enrol(user, "ada@example.com").unwrap();
    let text = enrolment.sealed.encode();
    assert!(text.starts_with("v1."));
    let from_text: SealedSecret = text.parse().unwrap();
    let from_bytes = SealedSecret::from_bytes(enrolment.sealed.as_bytes()).unwrap();
    assert_eq!(from_text, enrolment.sealed);
    assert_eq!(from_bytes, enrolment.sealed);
    let code = totp.code_at(user, &from_text, now()).unwrap();
    assert!(
        totp.verify(user, &from_bytes, code.expose_secret(), now(), None)
            .is_ok()
    );
}

#[test]
fn malformed_stored_forms_are_refused() {
    let totp = service_with(SealingKey::generate().unwrap());
    let sealed = totp.enrol(UserId::random(), "a").unwrap().sealed;
    let text = sealed.encode();
    let body = text.strip_prefix("v1.").unwrap();
    let mut other_version = sealed.as_bytes().to_vec();
    other_version[0] = 2;
    for bad in [
        String::new(),
        body.to_owned(),
        format!("v2.{body}"),
        format!("v1.{}", &body[..body.len() - 8]),
        format!("v1.{body}!"),
        format!("v1.{}", URL_SAFE_NO_PAD.encode([0u8; 8])),
    ] {
        assert!(
            matches!(
                bad.parse::<SealedSecret>(),
                Err(Error::Totp(TotpDefect::MalformedSealedSecret))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        SealedSecret::from_bytes(&other_version),
        Err(Error::Totp(TotpDefect::MalformedSealedSecret))
    ));
}

#[test]
fn a_tampered_sealed_secret_does_not_open() {
    let totp = service_with(SealingKey::generate().unwrap());
    let user = UserId::random();
    let sealed = totp.enrol(user, "ada@example.com").unwrap().sealed;
    let len = sealed.as_bytes().len();
    // A flipped bit in the nonce, the ciphertext and the tag.
    for at in [1, 30, len - 1] {
        let mut bytes = sealed.as_bytes().to_vec();
        bytes[at] ^= 0x01;
        let tampered = SealedSecret::from_bytes(&bytes).unwrap();
        assert!(
            unreadable(totp.verify(user, &tampered, "123456", now(), None)),
            "byte {at}"
        );
        assert!(totp.code_at(user, &tampered, now()).is_err());
    }
}

#[test]
fn a_sealed_secret_opens_only_with_its_server_key() {
    let user = UserId::random();
    let ours = service_with(SealingKey::generate().unwrap());
    let theirs = service_with(SealingKey::generate().unwrap());
    let sealed = ours.enrol(user, "ada@example.com").unwrap().sealed;
    let code = ours.code_at(user, &sealed, now()).unwrap();
    assert!(unreadable(theirs.verify(
        user,
        &sealed,
        code.expose_secret(),
        now(),
        None
    )));
    assert!(
        ours.verify(user, &sealed, code.expose_secret(), now(), None)
            .is_ok()
    );
}

#[test]
fn a_sealed_secret_copied_to_another_account_does_not_open() {
    let totp = service_with(SealingKey::generate().unwrap());
    let (victim, intruder) = (UserId::random(), UserId::random());
    let sealed = totp.enrol(victim, "ada@example.com").unwrap().sealed;
    let code = totp.code_at(victim, &sealed, now()).unwrap();
    assert!(unreadable(totp.verify(
        intruder,
        &sealed,
        code.expose_secret(),
        now(),
        None
    )));
}

#[test]
fn resealing_moves_a_secret_to_a_new_key() {
    let user = UserId::random();
    let old = service_with(SealingKey::from_bytes(&[1; 32]).unwrap());
    let new = service_with(SealingKey::from_bytes(&[2; 32]).unwrap());
    let sealed = old.enrol(user, "ada@example.com").unwrap().sealed;
    let code = old.code_at(user, &sealed, now()).unwrap();
    let moved = old
        .sealing_key()
        .reseal(user, &sealed, new.sealing_key())
        .unwrap();
    assert!(
        new.verify(user, &moved, code.expose_secret(), now(), None)
            .is_ok()
    );
    assert!(unreadable(old.verify(
        user,
        &moved,
        code.expose_secret(),
        now(),
        None
    )));
}

#[test]
fn the_sealing_key_must_be_32_bytes_of_base64() {
    use base64::engine::general_purpose::STANDARD;
    let key = SealingKey::generate().unwrap();
    let text = key.to_base64();
    assert!(SealingKey::from_base64(text.expose_secret()).is_ok());
    assert!(matches!(
        SealingKey::from_base64(""),
        Err(Error::Totp(TotpDefect::MissingKey))
    ));
    assert!(matches!(
        SealingKey::from_base64("not base64!"),
        Err(Error::Totp(TotpDefect::KeyEncoding))
    ));
    for len in [16, 31, 33, 64] {
        assert!(matches!(
            SealingKey::from_base64(&STANDARD.encode(vec![7u8; len])),
            Err(Error::Totp(TotpDefect::InvalidKeyLength { got })) if got == len
        ));
    }
    assert!(matches!(
        SealingKey::from_env("VAULT_TEST_TOTP_KEY_THAT_IS_NEVER_SET"),
        Err(Error::Totp(TotpDefect::MissingKey))
    ));
}

//! No type that holds a TOTP secret, code or key prints it in `Debug`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;
use vault_core::totp::{SealingKey, Totp, generate_recovery_codes};
use vault_core::{Clock, ManualClock, UserId};

#[test]
fn debug_output_of_every_secret_holder_is_redacted() {
    let key_bytes = [0x41u8; 32];
    let key = SealingKey::from_bytes(&key_bytes).unwrap();
    let key_text = STANDARD.encode(key_bytes);
    let shown_key = format!("{key:?}");
    let totp = Totp::new("Vault", key).unwrap();
    let user = UserId::random();
    let enrolment = totp.enrol(user, "ada@example.com").unwrap();
    let code = totp
        .code_at(user, &enrolment.sealed, ManualClock::default().now())
        .unwrap();
    let (codes, hashes) = generate_recovery_codes(user).unwrap();

    let hash_hex: String = hashes[0]
        .as_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let secrets: Vec<String> = vec![
        key_text,
        "AAAA".into(),
        "65, 65".into(),
        enrolment.manual_key.expose_secret().replace(' ', ""),
        enrolment.sealed.encode()[3..].to_owned(),
        code.expose_secret().to_owned(),
        codes[0].expose_secret().to_owned(),
        hash_hex,
        format!("{}", hashes[0].as_bytes()[0]),
    ];
    for shown in [
        shown_key,
        format!("{totp:?}"),
        format!("{enrolment:?}"),
        format!("{:?}", enrolment.sealed),
        format!("{:?}", enrolment.otpauth_uri),
        format!("{:?}", enrolment.qr_png),
        format!("{:?}", enrolment.manual_key),
        format!("{code:?}"),
        format!("{codes:?}"),
        format!("{:?}", hashes[0]),
    ] {
        assert!(
            shown.contains("redacted") || shown.contains("REDACTED"),
            "{shown}"
        );
        for secret in &secrets {
            // Short numbers (one byte of a hash, a six-digit code) could appear by chance in
            // a type name; only check them against outputs made of words.
            if secret.len() >= 3 {
                assert!(!shown.contains(secret.as_str()), "{shown} shows {secret}");
            }
        }
    }
    assert!(
        format!("{totp:?}").contains("Vault"),
        "the issuer is not a secret"
    );
}

//! TOTP codes end to end: enrolment through the `otpauth://` URI an authenticator app reads,
//! the RFC 6238 vectors, the ±1 step window and replay refusal.

use secrecy::ExposeSecret;
use time::{Duration, OffsetDateTime};
use vault_core::totp::{SealingKey, Totp, TotpDefect};
use vault_core::{Clock, Error, ManualClock, UserId};

fn service() -> Totp {
    Totp::new("Vault", SealingKey::generate().unwrap()).unwrap()
}

/// What an authenticator app does with the enrolment: read the URI, show codes.
fn app(uri: &str) -> totp_rs::Totp {
    totp_rs::Totp::from_url(uri).expect("authenticator apps read the URI")
}

fn code(app: &totp_rs::Totp, at: OffsetDateTime) -> String {
    app.generate(at.unix_timestamp() as u64).to_string()
}

fn defect(result: Result<u64, Error>) -> TotpDefect {
    match result {
        Err(Error::Totp(defect)) => defect,
        other => panic!("expected a TOTP defect, got {other:?}"),
    }
}

/// RFC 6238 appendix B, SHA-1 rows: (time, 8-digit code).
const RFC_6238_SHA1: [(i64, &str); 6] = [
    (59, "94287082"),
    (1_111_111_109, "07081804"),
    (1_111_111_111, "14050471"),
    (1_234_567_890, "89005924"),
    (2_000_000_000, "69279037"),
    (20_000_000_000, "65353130"),
];
const RFC_SECRET: &[u8] = b"12345678901234567890";

#[test]
fn the_generator_reproduces_the_rfc_6238_sha1_vectors() {
    let reference = totp_rs::Builder::new()
        .with_algorithm(totp_rs::Algorithm::SHA1)
        .with_digits(8)
        .with_step_duration(30)
        .with_secret(RFC_SECRET.to_vec())
        .build()
        .unwrap();
    for (time, expected) in RFC_6238_SHA1 {
        assert_eq!(
            reference.generate(time as u64).to_string(),
            expected,
            "t={time}"
        );
    }
}

#[test]
fn verify_accepts_the_rfc_6238_codes_at_six_digits() {
    // A six-digit code is the same truncation mod 10^6: the last six digits of the vector.
    let totp = service();
    let user = UserId::random();
    let sealed = totp.sealing_key().seal(user, RFC_SECRET).unwrap();
    for (time, expected) in RFC_6238_SHA1 {
        let at = OffsetDateTime::from_unix_timestamp(time).unwrap();
        let six = &expected[2..];
        assert_eq!(
            totp.code_at(user, &sealed, at).unwrap().expose_secret(),
            six
        );
        assert_eq!(
            totp.verify(user, &sealed, six, at, None).unwrap(),
            time as u64 / 30,
            "t={time}"
        );
        assert_eq!(Totp::step_at(at), time as u64 / 30);
    }
}

#[test]
fn a_code_from_the_enrolment_uri_verifies() {
    let totp = service();
    let user = UserId::random();
    let enrolment = totp.enrol(user, "ada@example.com").unwrap();
    let now = ManualClock::default().now();
    let typed = code(&app(enrolment.otpauth_uri.expose_secret()), now);
    let step = totp
        .verify(user, &enrolment.sealed, &typed, now, None)
        .unwrap();
    assert_eq!(step, now.unix_timestamp() as u64 / 30);
}

#[test]
fn spaces_in_a_code_are_ignored() {
    let totp = service();
    let user = UserId::random();
    let enrolment = totp.enrol(user, "ada@example.com").unwrap();
    let now = ManualClock::default().now();
    let typed = code(&app(enrolment.otpauth_uri.expose_secret()), now);
    let spaced = format!("{} {}", &typed[..3], &typed[3..]);
    assert!(
        totp.verify(user, &enrolment.sealed, &spaced, now, None)
            .is_ok()
    );
}

#[test]
fn a_wrong_code_is_refused() {
    let totp = service();
    let user = UserId::random();
    let enrolment = totp.enrol(user, "ada@example.com").unwrap();
    let now = ManualClock::default().now();
    let right = code(&app(enrolment.otpauth_uri.expose_secret()), now);
    // The right code with its last digit changed: wrong, unless it collides with a
    // neighbouring step (one chance in 500 000), which the ±2 check below rules out.
    let last = (right.as_bytes()[5] - b'0' + 1) % 10;
    let wrong = format!("{}{last}", &right[..5]);
    let neighbours: Vec<String> = [-30, 30]
        .iter()
        .map(|s| {
            code(
                &app(enrolment.otpauth_uri.expose_secret()),
                now + Duration::seconds(*s),
            )
        })
        .collect();
    assert!(!neighbours.contains(&wrong));
    assert_eq!(
        defect(totp.verify(user, &enrolment.sealed, &wrong, now, None)),
        TotpDefect::WrongCode
    );
}

#[test]
fn malformed_codes_are_refused_before_any_check() {
    let totp = service();
    let user = UserId::random();
    let enrolment = totp.enrol(user, "ada@example.com").unwrap();
    let now = ManualClock::default().now();
    for bad in [
        "",
        "12345",
        "1234567",
        "12a456",
        "123-456",
        "+12345",
        "١٢٣٤٥٦",
    ] {
        assert_eq!(
            defect(totp.verify(user, &enrolment.sealed, bad, now, None)),
            TotpDefect::MalformedCode,
            "{bad:?}"
        );
    }
}

#[test]
fn one_step_of_skew_is_accepted_and_two_are_refused() {
    let totp = service();
    let user = UserId::random();
    let enrolment = totp.enrol(user, "ada@example.com").unwrap();
    let phone = app(enrolment.otpauth_uri.expose_secret());
    let now = ManualClock::default().now();
    let origin = Totp::step_at(now);
    for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
        let typed = code(&phone, now + Duration::seconds(30 * offset));
        let verdict = totp.verify(user, &enrolment.sealed, &typed, now, None);
        if accepted {
            assert_eq!(
                verdict.unwrap(),
                origin.wrapping_add_signed(offset),
                "offset {offset}"
            );
        } else {
            assert_eq!(defect(verdict), TotpDefect::WrongCode, "offset {offset}");
        }
    }
}

#[test]
fn a_used_step_cannot_be_replayed() {
    let totp = service();
    let user = UserId::random();
    let enrolment = totp.enrol(user, "ada@example.com").unwrap();
    let phone = app(enrolment.otpauth_uri.expose_secret());
    let clock = ManualClock::default();
    let now = clock.now();
    let typed = code(&phone, now);
    let used = totp
        .verify(user, &enrolment.sealed, &typed, now, None)
        .unwrap();

    // The same code again, at once and 20 seconds later (still inside the window).
    for later in [0, 20] {
        assert_eq!(
            defect(totp.verify(
                user,
                &enrolment.sealed,
                &typed,
                now + Duration::seconds(later),
                Some(used)
            )),
            TotpDefect::ReplayedCode
        );
    }
    // An older code, still inside the window, is refused too.
    let older = code(&phone, now - Duration::seconds(30));
    assert_eq!(
        defect(totp.verify(user, &enrolment.sealed, &older, now, Some(used))),
        TotpDefect::ReplayedCode
    );
    // The next step's code is fresh.
    clock.advance(Duration::seconds(30));
    let next = code(&phone, clock.now());
    assert_eq!(
        totp.verify(user, &enrolment.sealed, &next, clock.now(), Some(used))
            .unwrap(),
        used + 1
    );
}

#[test]
fn labels_with_a_colon_or_nothing_in_them_are_refused() {
    assert!(matches!(
        Totp::new("Va:ult", SealingKey::generate().unwrap()),
        Err(Error::Totp(TotpDefect::InvalidLabel))
    ));
    assert!(matches!(
        Totp::new(" ", SealingKey::generate().unwrap()),
        Err(Error::Totp(TotpDefect::InvalidLabel))
    ));
    let totp = service();
    for label in ["", "ada:lovelace", "ada\n@example.com", &"a".repeat(129)] {
        assert!(
            matches!(
                totp.enrol(UserId::random(), label),
                Err(Error::Totp(TotpDefect::InvalidLabel))
            ),
            "{label:?}"
        );
    }
}

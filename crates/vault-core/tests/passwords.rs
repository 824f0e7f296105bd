//! Passwords: hashing and verification, rehash on sign-in, imported hashes, the unknown-user
//! path, the bound on concurrent hashes, and every rule of the policy for new passwords.

use std::sync::Arc;

use secrecy::SecretString;
use vault_core::Error;
use vault_core::password::{
    HashParams, PasswordDefect, PasswordHash, PasswordPolicy, Passwords, PolicyContext, Verified,
};

fn secret(text: &str) -> SecretString {
    SecretString::from(text)
}

fn fast() -> Passwords {
    Passwords::builder()
        .params(HashParams::INSECURE_FAST)
        .build()
        .unwrap()
}

fn defect(result: Result<(), Error>) -> Option<PasswordDefect> {
    match result {
        Ok(()) => None,
        Err(Error::Password(defect)) => Some(defect),
        Err(other) => panic!("unexpected error {other}"),
    }
}

const MATCHED: Verified = Verified {
    matched: true,
    needs_rehash: false,
};
const NOT_MATCHED: Verified = Verified {
    matched: false,
    needs_rehash: false,
};

// --- hashing and verification ---------------------------------------------------------

#[tokio::test]
async fn a_hashed_password_verifies_and_a_wrong_one_does_not() {
    let passwords = fast();
    let stored = passwords
        .hash(secret("a bicycle leaning on the old barn"))
        .await
        .unwrap();
    assert!(stored.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));

    let right = passwords
        .verify(secret("a bicycle leaning on the old barn"), Some(&stored))
        .await;
    assert_eq!(right.unwrap(), MATCHED);
    let wrong = passwords
        .verify(secret("a bicycle leaning on the old bar"), Some(&stored))
        .await;
    assert_eq!(wrong.unwrap(), NOT_MATCHED);
}

#[tokio::test]
async fn the_default_parameters_are_owaspʼs_argon2id() {
    let passwords = Passwords::builder()
        .max_concurrent_hashes(1)
        .build()
        .unwrap();
    let stored = passwords
        .hash(secret("a bicycle leaning on the old barn"))
        .await
        .unwrap();
    assert!(
        stored
            .as_str()
            .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{stored:?}"
    );
}

#[tokio::test]
async fn two_hashes_of_one_password_differ_by_their_salt() {
    let passwords = fast();
    let a = passwords
        .hash(secret("same password twice over"))
        .await
        .unwrap();
    let b = passwords
        .hash(secret("same password twice over"))
        .await
        .unwrap();
    assert_ne!(a, b);
}

#[tokio::test]
async fn an_unknown_user_never_matches_but_costs_a_verification() {
    let passwords = fast();
    let before = passwords.stats().argon2_runs;
    let verified = passwords
        .verify(secret("whatever they typed here"), None)
        .await
        .unwrap();
    assert_eq!(verified, NOT_MATCHED);
    assert_eq!(
        passwords.stats().argon2_runs,
        before + 1,
        "the dummy hash was verified"
    );

    // Exactly what a known user with a wrong password costs.
    let stored = passwords
        .hash(secret("the real password of them"))
        .await
        .unwrap();
    let before = passwords.stats().argon2_runs;
    passwords
        .verify(secret("whatever they typed here"), Some(&stored))
        .await
        .unwrap();
    assert_eq!(passwords.stats().argon2_runs, before + 1);
}

#[tokio::test]
async fn a_hash_with_old_parameters_matches_and_asks_for_a_rehash() {
    let old = fast();
    let stored = old.hash(secret("kept since the old days")).await.unwrap();
    let current = Passwords::builder()
        .params(HashParams {
            memory_kib: 128,
            ..HashParams::INSECURE_FAST
        })
        .build()
        .unwrap();

    let verified = current
        .verify(secret("kept since the old days"), Some(&stored))
        .await
        .unwrap();
    assert_eq!(
        verified,
        Verified {
            matched: true,
            needs_rehash: true
        }
    );
    let wrong = current
        .verify(secret("not kept since the old days"), Some(&stored))
        .await
        .unwrap();
    assert_eq!(wrong, NOT_MATCHED, "no rehash without a match");

    let upgraded = current
        .hash(secret("kept since the old days"))
        .await
        .unwrap();
    let verified = current
        .verify(secret("kept since the old days"), Some(&upgraded))
        .await
        .unwrap();
    assert_eq!(verified, MATCHED);
}

/// Made once with Python's argon2-cffi 25.1.0 (the reference C implementation) for the
/// password below; several variants and parameters.
const IMPORTED_PASSWORD: &str = "imported from elsewhere, 2019";
const IMPORTED: [&str; 4] = [
    // argon2-cffi defaults: argon2id, m=64 MiB, t=3, p=4
    "$argon2id$v=19$m=65536,t=3,p=4$gaO9Q+W3Wu/XE1SNZAagDw$joQBlM7HH9HH1fQmtLu3SM04A6yip01Zex3qB+SMctQ",
    "$argon2i$v=19$m=4096,t=2,p=2$dIjm+PPhhdO6c4Ep/gMeHw$Ak6PWwonFQ6BiF0LBVL/7xGIowJZBCfWAVEXzU9aLkM",
    // argon2d, an 8-byte salt and a 16-byte output
    "$argon2d$v=19$m=1024,t=1,p=1$oOjVjx28Yss$VxrWST43TaFT3wCzXqRCQg",
    // exactly the current defaults: no rehash needed
    "$argon2id$v=19$m=19456,t=2,p=1$nznfOhfVQHeGfF+0x6LwQA$IvSzFlDh3hYv0tWQUZDzVIN4XSAYJ47BH3QfOOrRhtw",
];

#[tokio::test]
async fn hashes_from_another_argon2_implementation_verify() {
    let passwords = Passwords::builder().build().unwrap();
    for (i, phc) in IMPORTED.iter().enumerate() {
        let stored: PasswordHash = phc.parse().unwrap();
        let verified = passwords
            .verify(secret(IMPORTED_PASSWORD), Some(&stored))
            .await
            .unwrap();
        let current = i == 3;
        assert_eq!(
            verified,
            Verified {
                matched: true,
                needs_rehash: !current
            },
            "{phc}"
        );
        let wrong = passwords
            .verify(secret("imported from elsewhere, 2018"), Some(&stored))
            .await
            .unwrap();
        assert_eq!(wrong, NOT_MATCHED, "{phc}");
    }
}

/// argon2-cffi hash of "café crème brûlée, décomposé" in NFD form (decomposed accents), as
/// a system that does not normalise would have stored it.
const IMPORTED_NFD: &str = "$argon2id$v=19$m=1024,t=1,p=1$tp7diTaUXRv3vv0xT7rrHA$OJfxmrwwF3EfQMI6qL4ISgrX+jzr1Z1wFDDZhpt8jcw";

#[tokio::test]
async fn an_imported_hash_of_an_unnormalised_password_matches_as_typed_and_asks_for_a_rehash() {
    let passwords = fast();
    let stored: PasswordHash = IMPORTED_NFD.parse().unwrap();
    let decomposed = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e, de\u{301}compose\u{301}";
    let verified = passwords
        .verify(secret(decomposed), Some(&stored))
        .await
        .unwrap();
    assert_eq!(
        verified,
        Verified {
            matched: true,
            needs_rehash: true
        }
    );
}

#[tokio::test]
async fn accents_typed_either_way_are_the_same_password() {
    let passwords = fast();
    let composed = "caf\u{e9} cr\u{e8}me br\u{fb}l\u{e9}e pour deux";
    let decomposed = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e pour deux";
    let stored = passwords.hash(secret(composed)).await.unwrap();
    assert_eq!(
        passwords
            .verify(secret(decomposed), Some(&stored))
            .await
            .unwrap(),
        MATCHED
    );
    let stored = passwords.hash(secret(decomposed)).await.unwrap();
    assert_eq!(
        passwords
            .verify(secret(composed), Some(&stored))
            .await
            .unwrap(),
        MATCHED
    );
}

#[tokio::test]
async fn long_passwords_are_never_truncated() {
    // bcrypt would cut both at 72 bytes and call them equal.
    let passwords = fast();
    let base = "x7".repeat(40); // 80 characters
    let a = format!("{base}-the-ending-one");
    let b = format!("{base}-the-ending-two");
    let stored = passwords.hash(secret(&a)).await.unwrap();
    assert_eq!(
        passwords.verify(secret(&a), Some(&stored)).await.unwrap(),
        MATCHED
    );
    assert_eq!(
        passwords.verify(secret(&b), Some(&stored)).await.unwrap(),
        NOT_MATCHED
    );
}

#[tokio::test]
async fn hashing_refuses_passwords_beyond_the_maximum() {
    let passwords = fast();
    assert!(passwords.hash(secret(&"q".repeat(256))).await.is_ok());
    let refused = passwords.hash(secret(&"q".repeat(257))).await;
    assert!(matches!(
        refused,
        Err(Error::Password(PasswordDefect::TooLong { max: 256 }))
    ));
}

#[tokio::test]
async fn a_malformed_stored_hash_is_an_error_not_a_mismatch() {
    assert!(matches!(
        "$argon2id$v=19$m=64,t=1,p=1$bm90IGEgaGFzaA".parse::<PasswordHash>(),
        Err(Error::Password(PasswordDefect::MalformedHash))
    ));
}

// --- the bound on concurrent hashes ---------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_a_bound_of_one_no_two_hashes_overlap() {
    let passwords = Passwords::builder()
        .params(HashParams {
            memory_kib: 4096,
            ..HashParams::INSECURE_FAST
        })
        .max_concurrent_hashes(1)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let passwords = passwords.clone();
            tokio::spawn(async move {
                if i % 2 == 0 {
                    passwords
                        .hash(secret("storm of sign-ins here"))
                        .await
                        .map(drop)
                } else {
                    passwords
                        .verify(secret("storm of sign-ins here"), None)
                        .await
                        .map(drop)
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stats = passwords.stats();
    assert_eq!(stats.peak_in_flight, 1);
    assert_eq!(stats.in_flight, 0);
    assert_eq!(stats.argon2_runs, 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_bound_is_never_exceeded_under_load() {
    let passwords = Passwords::builder()
        .params(HashParams {
            memory_kib: 4096,
            ..HashParams::INSECURE_FAST
        })
        .max_concurrent_hashes(2)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let passwords = passwords.clone();
            tokio::spawn(async move { passwords.hash(secret("storm of sign-ins here")).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert!(passwords.stats().peak_in_flight <= 2);
    assert_eq!(passwords.max_concurrent_hashes(), 2);
}

#[test]
fn the_default_bound_leaves_one_core_for_the_runtime() {
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(fast().max_concurrent_hashes(), (cores - 1).max(1));
    let zero = Passwords::builder()
        .params(HashParams::INSECURE_FAST)
        .max_concurrent_hashes(0)
        .build()
        .unwrap();
    assert_eq!(zero.max_concurrent_hashes(), 1, "at least one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hashing_memory_is_never_more_buffers_than_the_bound() {
    let passwords = Passwords::builder()
        .params(HashParams {
            memory_kib: 4096,
            ..HashParams::INSECURE_FAST
        })
        .max_concurrent_hashes(2)
        .build()
        .unwrap();
    assert_eq!(
        passwords.stats().memory_buffers,
        1,
        "the dummy hash at build took the first"
    );
    let stored = passwords
        .hash(secret("storm of sign-ins here"))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let passwords = passwords.clone();
            let stored = stored.clone();
            tokio::spawn(async move {
                match i % 3 {
                    0 => passwords
                        .hash(secret("storm of sign-ins here"))
                        .await
                        .map(drop),
                    1 => passwords
                        .verify(secret("storm of sign-ins here"), Some(&stored))
                        .await
                        .map(|verified| assert!(verified.matched)),
                    _ => passwords
                        .verify(secret("storm of sign-ins here"), None)
                        .await
                        .map(drop),
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stats = passwords.stats();
    assert!(
        (1..=2).contains(&stats.memory_buffers),
        "{} buffers for a bound of 2",
        stats.memory_buffers
    );
    assert_eq!(stats.temporary_buffers, 0);
    assert_eq!(stats.in_flight, 0);
}

#[tokio::test]
async fn an_imported_hash_bigger_than_the_pooled_buffers_verifies_in_a_buffer_of_its_own() {
    // The pooled buffers are 64 KiB; this argon2-cffi hash asks for 1 MiB.
    let passwords = fast();
    let stored: PasswordHash = IMPORTED_NFD.parse().unwrap();
    let decomposed = "cafe\u{301} cre\u{300}me bru\u{302}le\u{301}e, de\u{301}compose\u{301}";
    let before = passwords.stats();
    let verified = passwords
        .verify(secret(decomposed), Some(&stored))
        .await
        .unwrap();
    assert!(verified.matched);
    let after = passwords.stats();
    assert!(after.temporary_buffers > before.temporary_buffers);
    assert_eq!(after.memory_buffers, 1, "the pool did not grow");
}

// --- configuration ----------------------------------------------------------------------

#[test]
fn impossible_parameters_and_policies_are_refused_at_build() {
    let zero_time = Passwords::builder()
        .params(HashParams {
            iterations: 0,
            ..HashParams::INSECURE_FAST
        })
        .build();
    assert!(matches!(
        zero_time,
        Err(Error::Password(PasswordDefect::InvalidParameters))
    ));
    for policy in [
        PasswordPolicy {
            max: 63,
            ..PasswordPolicy::default()
        },
        PasswordPolicy {
            min_single_factor: 0,
            ..PasswordPolicy::default()
        },
        PasswordPolicy {
            min_single_factor: 300,
            ..PasswordPolicy::default()
        },
    ] {
        let built = Passwords::builder()
            .params(HashParams::INSECURE_FAST)
            .policy(policy)
            .build();
        assert!(
            matches!(built, Err(Error::Password(PasswordDefect::InvalidPolicy))),
            "{policy:?}"
        );
    }
}

#[test]
fn debug_output_never_holds_a_password() {
    let passwords = fast();
    let debug = format!(
        "{passwords:?} {:?}",
        PolicyContext::new(Some("ada@example.com"), Some("Ada"), true)
    );
    assert!(
        !debug.contains("ada@example.com") && !debug.contains("Ada\""),
        "{debug}"
    );
    assert_eq!(
        format!("{:?}", secret("hunter2 hunter2 hunter2")),
        "SecretBox<str>([REDACTED])"
    );
}

// --- the policy for new passwords -------------------------------------------------------

const ALONE: PolicyContext<'static> = PolicyContext {
    email: None,
    name: None,
    two_factor: false,
};
const WITH_2FA: PolicyContext<'static> = PolicyContext {
    email: None,
    name: None,
    two_factor: true,
};

async fn check(
    passwords: &Passwords,
    password: &str,
    context: &PolicyContext<'_>,
) -> Option<PasswordDefect> {
    defect(passwords.check_new(&secret(password), context).await)
}

#[tokio::test]
async fn fifteen_characters_alone_and_eight_with_a_second_factor() {
    let p = fast();
    assert_eq!(check(&p, "river otter dam", &ALONE).await, None); // 15
    assert_eq!(
        check(&p, "river otterdam", &ALONE).await,
        Some(PasswordDefect::TooShort { min: 15 })
    );
    assert_eq!(check(&p, "otter8dm", &WITH_2FA).await, None); // 8
    assert_eq!(
        check(&p, "otter8d", &WITH_2FA).await,
        Some(PasswordDefect::TooShort { min: 8 })
    );
}

#[tokio::test]
async fn length_is_counted_in_code_points_after_nfkc() {
    let p = fast();
    // 15 code points composed; 18 decomposed (3 combining accents) but 15 after NFKC.
    let composed = "\u{e9}t\u{e9} \u{e0} la plages";
    let decomposed = "e\u{301}te\u{301} a\u{300} la plages";
    assert_eq!(
        (composed.chars().count(), decomposed.chars().count()),
        (15, 18)
    );
    assert_eq!(check(&p, composed, &ALONE).await, None);
    assert_eq!(check(&p, decomposed, &ALONE).await, None);
    // 17 code points as typed, 14 after NFKC: too short.
    let short = "e\u{301}te\u{301} a\u{300} la plage";
    assert_eq!(short.chars().count(), 17);
    assert_eq!(
        check(&p, short, &ALONE).await,
        Some(PasswordDefect::TooShort { min: 15 })
    );
    // The "ﬁ" ligature becomes two letters under NFKC.
    assert_eq!(check(&p, "\u{fb01}sh and chips now", &ALONE).await, None);
}

#[tokio::test]
async fn sixty_four_characters_and_more_are_accepted_up_to_the_maximum() {
    let p = fast();
    let sixty_four = "the quick brown fox jumps over the lazy dog and keeps on running!";
    assert_eq!(sixty_four.chars().count(), 65);
    assert_eq!(check(&p, &sixty_four[..64], &ALONE).await, None);
    let words = ["otter", "Barn", "quill", "Ember", "fjord", "Cobalt", "mist"];
    let long: String = (0..100)
        .map(|i| format!("{}{} ", words[i % words.len()], i * 7919 % 1009))
        .collect::<String>()[..256]
        .to_owned();
    assert_eq!(check(&p, &long, &ALONE).await, None);
    let too_long = format!("{long}x");
    assert_eq!(
        check(&p, &too_long, &ALONE).await,
        Some(PasswordDefect::TooLong { max: 256 })
    );
}

#[tokio::test]
async fn no_composition_rules() {
    let p = fast();
    // All lowercase, no digit, no symbol: fine when long and unpredictable.
    assert_eq!(check(&p, "purple monkey dishwasher", &ALONE).await, None);
    assert_eq!(check(&p, "пурпурная обезьяна моет", &ALONE).await, None);
}

#[tokio::test]
async fn common_passwords_are_refused_whatever_their_case() {
    let p = fast();
    for common in [
        "password",
        "PassWord",
        "baseball",
        "trustno1",
        "ILOVEYOU",
        "123456789",
    ] {
        assert_eq!(
            check(&p, common, &WITH_2FA).await,
            Some(PasswordDefect::Common),
            "{common}"
        );
    }
    // NFKC: fullwidth letters are the same password.
    assert_eq!(
        check(&p, "\u{ff50}\u{ff41}\u{ff53}\u{ff53}word", &WITH_2FA).await,
        Some(PasswordDefect::Common)
    );
    // A common password with a predictable tail or head.
    for padded in ["football12345678", "sunshine!!!!!!!", "1234567superman"] {
        assert_eq!(
            check(&p, padded, &ALONE).await,
            Some(PasswordDefect::Common),
            "{padded}"
        );
    }
    assert_eq!(check(&p, "football in the rain at 7", &ALONE).await, None);
}

#[tokio::test]
async fn repetitive_passwords_are_refused() {
    let p = fast();
    for repetitive in [
        "aaaaaaaaaaaaaaaa",
        "abcabcabcabcabcabc",
        "correcthorsecorrecthorse",
        "xxxxxxxxxxxxxxxxy",
    ] {
        assert_eq!(
            check(&p, repetitive, &ALONE).await,
            Some(PasswordDefect::Repetitive),
            "{repetitive}"
        );
    }
}

#[tokio::test]
async fn sequential_passwords_and_keyboard_walks_are_refused() {
    let p = fast();
    for sequential in [
        "abcdefghijklmnop",
        "1234567890123456",
        "qwertyuiopasdfgh",
        "zyxwvutsrqponmlk",
        "98765432abcdefgh",
    ] {
        assert_eq!(
            check(&p, sequential, &ALONE).await,
            Some(PasswordDefect::Sequential),
            "{sequential}"
        );
    }
    assert_eq!(check(&p, "abc then words follow", &ALONE).await, None);
}

#[tokio::test]
async fn passwords_containing_the_email_or_the_name_are_refused() {
    let p = fast();
    let ada = PolicyContext::new(
        Some("Ada.Lovelace+vault@Example.com"),
        Some("Ada King Lovelace"),
        false,
    );
    assert_eq!(
        check(&p, "ada.lovelace+vault@example.com!", &ada).await,
        Some(PasswordDefect::ContainsEmail)
    );
    assert_eq!(
        check(&p, "my ada.lovelace password", &ada).await,
        Some(PasswordDefect::ContainsEmail)
    );
    assert_eq!(
        check(&p, "LOVELACE and the engine", &ada).await,
        Some(PasswordDefect::ContainsEmail)
    );
    // The whole name, spaces dropped (issue 11: context words, not every substring).
    assert_eq!(
        check(&p, "adakinglovelace rules", &ada).await,
        Some(PasswordDefect::ContainsName)
    );
    assert_eq!(
        check(&p, "Lovelace1815 forever!", &ada).await,
        Some(PasswordDefect::ContainsEmail)
    );
    assert_eq!(
        check(&p, "an example of a passphrase", &ada).await,
        Some(PasswordDefect::ContainsEmail),
        "the domain's name as a word"
    );

    let bob = PolicyContext::new(Some("b.q@example.com"), Some("Robert Tables"), false);
    assert_eq!(
        check(&p, "little robert tables", &bob).await,
        Some(PasswordDefect::ContainsName)
    );
    assert_eq!(
        check(&p, "ROBERTTABLES drop it", &bob).await,
        Some(PasswordDefect::ContainsName)
    );
    assert_eq!(
        check(&p, "tables turned, again and again", &bob).await,
        Some(PasswordDefect::ContainsName)
    );
    // Short fragments ("b", "q", "Al") are not searched for.
    assert_eq!(
        check(&p, "a bicycle leaning on the old barn", &bob).await,
        None
    );
    // Words of the address are refused as words, not as any piece of a word.
    let team = PolicyContext::new(Some("race.team@acme.io"), Some("Rae Ng"), false);
    assert_eq!(check(&p, "embrace the steady tide", &team).await, None);
    assert_eq!(
        check(&p, "race4ever on the track", &team).await,
        Some(PasswordDefect::ContainsEmail)
    );
    let al = PolicyContext::new(Some("al@example.com"), Some("Al"), false);
    assert_eq!(check(&p, "always alone, always", &al).await, None);
}

#[tokio::test]
async fn the_limits_are_configurable() {
    let p = Passwords::builder()
        .params(HashParams::INSECURE_FAST)
        .policy(PasswordPolicy {
            min_single_factor: 20,
            min_with_second_factor: 12,
            max: 64,
        })
        .build()
        .unwrap();
    assert_eq!(check(&p, "river otter dam builder", &ALONE).await, None);
    assert_eq!(
        check(&p, "river otter dam", &ALONE).await,
        Some(PasswordDefect::TooShort { min: 20 })
    );
    assert_eq!(check(&p, "river otter8", &WITH_2FA).await, None);
    assert_eq!(
        check(&p, &"river otter dam ".repeat(5), &ALONE).await,
        Some(PasswordDefect::TooLong { max: 64 })
    );
}

#[test]
fn the_policy_can_be_used_on_its_own() {
    let policy = PasswordPolicy::default();
    assert_eq!(
        policy.check(&secret("password"), &WITH_2FA),
        Err(PasswordDefect::Common)
    );
    assert_eq!(
        policy.check(&secret("a bicycle leaning on the old barn"), &ALONE),
        Ok(())
    );
    let _unused = Arc::new(policy);
}

//! Recovery codes: ten distinct single-use codes, matched by index after normalisation,
//! bound to their user.

use std::collections::HashSet;

use secrecy::ExposeSecret;
use vault_core::UserId;
use vault_core::totp::{
    RECOVERY_CODE_COUNT, RecoveryCodeHash, generate_recovery_codes, match_recovery_code,
};

#[test]
fn ten_distinct_codes_of_eighty_bits_are_generated() {
    let (codes, hashes) = generate_recovery_codes(UserId::random()).unwrap();
    assert_eq!(RECOVERY_CODE_COUNT, 10);
    assert_eq!(codes.len(), 10);
    assert_eq!(hashes.len(), 10);
    let distinct: HashSet<&str> = codes.iter().map(|c| c.expose_secret()).collect();
    assert_eq!(distinct.len(), 10);
    let distinct_hashes: HashSet<[u8; 32]> = hashes.iter().map(|h| *h.as_bytes()).collect();
    assert_eq!(distinct_hashes.len(), 10);
    for code in &codes {
        let code = code.expose_secret();
        // xxxx-xxxx-xxxx-xxxx, 16 symbols of Crockford base32: 80 bits.
        assert_eq!(code.len(), 19, "{code}");
        let groups: Vec<&str> = code.split('-').collect();
        assert_eq!(groups.len(), 4);
        assert!(groups.iter().all(|g| g.len() == 4));
        assert!(
            code.chars()
                .all(|c| c == '-' || "0123456789abcdefghjkmnpqrstvwxyz".contains(c))
        );
    }
}

#[test]
fn each_code_matches_its_own_index_once() {
    let user = UserId::random();
    let (codes, hashes) = generate_recovery_codes(user).unwrap();
    let mut stored = hashes.clone();
    for (i, code) in codes.iter().enumerate() {
        assert_eq!(
            match_recovery_code(user, code.expose_secret(), &stored),
            Some(i)
        );
        // The caller marks it used (here: overwrites its hash); it never matches again.
        stored[i] = RecoveryCodeHash::from_bytes([0; 32]);
        assert_eq!(
            match_recovery_code(user, code.expose_secret(), &stored),
            None
        );
    }
    // Nor when the used hashes are dropped from the list instead.
    assert_eq!(
        match_recovery_code(user, codes[0].expose_secret(), &hashes[1..]),
        None
    );
    assert_eq!(
        match_recovery_code(user, codes[9].expose_secret(), &hashes[1..]),
        Some(8)
    );
}

#[test]
fn typed_codes_are_normalised() {
    let user = UserId::random();
    let (codes, hashes) = generate_recovery_codes(user).unwrap();
    let code = codes[3].expose_secret();
    for typed in [
        code.to_uppercase(),
        code.replace('-', ""),
        code.replace('-', " "),
        format!("  {}  ", code.replace('-', " - ")),
        code.replace('1', "l").replace('0', "O"),
    ] {
        assert_eq!(
            match_recovery_code(user, &typed, &hashes),
            Some(3),
            "{typed:?}"
        );
    }
}

#[test]
fn unknown_and_malformed_codes_are_refused() {
    let user = UserId::random();
    let (codes, hashes) = generate_recovery_codes(user).unwrap();
    let (others, _) = generate_recovery_codes(user).unwrap();
    let code = codes[0].expose_secret();
    let last = code.chars().last().unwrap();
    let changed = format!(
        "{}{}",
        &code[..code.len() - 1],
        if last == 'a' { 'b' } else { 'a' }
    );
    for typed in [
        others[0].expose_secret(),
        &changed,
        &code[..code.len() - 1],
        &format!("{code}a"),
        "",
        "not a recovery code",
        &code.replace('-', "_"),
    ] {
        assert_eq!(match_recovery_code(user, typed, &hashes), None, "{typed:?}");
    }
    assert_eq!(match_recovery_code(user, code, &[]), None);
}

#[test]
fn codes_are_bound_to_their_user() {
    let (owner, other) = (UserId::random(), UserId::random());
    let (codes, hashes) = generate_recovery_codes(owner).unwrap();
    assert_eq!(
        match_recovery_code(owner, codes[0].expose_secret(), &hashes),
        Some(0)
    );
    assert_eq!(
        match_recovery_code(other, codes[0].expose_secret(), &hashes),
        None
    );
}

#[test]
fn hashes_survive_their_stored_form() {
    let user = UserId::random();
    let (codes, hashes) = generate_recovery_codes(user).unwrap();
    let stored: Vec<RecoveryCodeHash> = hashes
        .iter()
        .map(|h| RecoveryCodeHash::from_slice(&h.as_bytes()[..]).unwrap())
        .collect();
    assert_eq!(
        match_recovery_code(user, codes[9].expose_secret(), &stored),
        Some(9)
    );
    assert!(RecoveryCodeHash::from_slice(&[0; 31]).is_none());
}

//! Predictable strings: one character or one short unit repeated, and runs of consecutive
//! characters or neighbouring keys. Works on the folded (NFKC, lowercase) password.

use super::PasswordDefect;

/// Keyboard rows (QWERTY, AZERTY, QWERTZ; digits and their shifted symbols): walking along one
/// is as predictable as counting.
const KEYBOARD_ROWS: [&str; 10] = [
    "1234567890",
    "!@#$%^&*()",
    "qwertyuiop",
    "asdfghjkl;",
    "zxcvbnm,./",
    "azertyuiop",
    "qsdfghjklm",
    "wxcvbn",
    "qwertzuiop",
    "yxcvbnm",
];

/// A password is refused when at least this share (in quarters) of it is predictable runs.
const PREDICTABLE_QUARTERS: usize = 3;
/// A run counts once it spans this many characters.
const MIN_RUN: usize = 3;
/// Fewer distinct characters than this make a password repetitive whatever its length.
const MIN_DISTINCT: usize = 4;

/// `Repetitive` or `Sequential` when `folded` is mostly predictable, else `None`.
pub(crate) fn predictable(folded: &str) -> Option<PasswordDefect> {
    let chars: Vec<char> = folded.chars().collect();
    if chars.is_empty() {
        return None;
    }
    if is_repeated_unit(&chars) || distinct(&chars) < MIN_DISTINCT {
        return Some(PasswordDefect::Repetitive);
    }
    if mostly(&chars, |a, b| a == b) {
        return Some(PasswordDefect::Repetitive);
    }
    if mostly(&chars, |a, b| {
        a == b || consecutive(a, b) || neighbouring_keys(a, b)
    }) {
        return Some(PasswordDefect::Sequential);
    }
    None
}

/// Whether `text` (folded) is predictable as a whole: used on the suffix after a common word.
pub(crate) fn is_predictable(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars.len() < MIN_RUN
        || is_repeated_unit(&chars)
        || mostly(&chars, |a, b| {
            a == b || consecutive(a, b) || neighbouring_keys(a, b)
        })
}

/// `abcabcabc`, `passwordpassword`: the whole string repeats a unit at most half its length.
fn is_repeated_unit(chars: &[char]) -> bool {
    (1..=chars.len() / 2).any(|unit| (unit..chars.len()).all(|i| chars[i] == chars[i - unit]))
}

fn distinct(chars: &[char]) -> usize {
    let mut seen: Vec<char> = chars.to_vec();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// Whether runs of at least `MIN_RUN` characters, each step of which satisfies `step`, cover
/// at least `PREDICTABLE_QUARTERS` quarters of `chars`.
fn mostly(chars: &[char], step: impl Fn(char, char) -> bool) -> bool {
    let mut covered = 0;
    let mut run = 1;
    for pair in chars.windows(2) {
        if step(pair[0], pair[1]) {
            run += 1;
        } else {
            if run >= MIN_RUN {
                covered += run;
            }
            run = 1;
        }
    }
    if run >= MIN_RUN {
        covered += run;
    }
    covered * 4 >= chars.len() * PREDICTABLE_QUARTERS
}

/// `b` follows or precedes `a` in code point order: `ab`, `ba`, `12`, `21`.
fn consecutive(a: char, b: char) -> bool {
    (a as u32).abs_diff(b as u32) == 1
}

fn neighbouring_keys(a: char, b: char) -> bool {
    KEYBOARD_ROWS.iter().any(|row| {
        let mut keys = row.chars();
        let Some(i) = keys.position(|key| key == a) else {
            return false;
        };
        let row: Vec<char> = row.chars().collect();
        (i > 0 && row[i - 1] == b) || row.get(i + 1) == Some(&b)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use PasswordDefect::{Repetitive, Sequential};

    #[test]
    fn repeated_characters_and_units_are_repetitive() {
        for p in [
            "aaaaaaaaaaaaaaa",
            "abababababababab",
            "passwordpassword",
            "aaabbbcccaaabbb",
            "zzzzzzzzzzzzz1",
        ] {
            assert_eq!(predictable(p), Some(Repetitive), "{p}");
        }
    }

    #[test]
    fn counting_and_keyboard_walks_are_sequential() {
        for p in [
            "abcdefghijklmno",
            "123456789012345",
            "987654321abcdefg",
            "qwertyuiopasdfgh",
            "1qazxcvbnm,./asdfg",
            "azertyuiopqsdfgh",
            "zyxwvutsrqponml",
        ] {
            assert_eq!(predictable(p), Some(Sequential), "{p}");
        }
    }

    #[test]
    fn passphrases_and_random_strings_pass() {
        for p in [
            "a bicycle leaning on the old barn",
            "correct horse battery staple",
            "tr0ub4dor&3 is not it",
            "abc but the rest is words",
            "7f#kq9!mzp2vw0rx",
        ] {
            assert_eq!(predictable(p), None, "{p}");
        }
    }

    #[test]
    fn suffixes_after_a_common_word() {
        assert!(is_predictable("123456"));
        assert!(is_predictable("!!!!"));
        assert!(is_predictable("7"));
        assert!(!is_predictable("7f#kq9!m"));
    }
}

//! NFKC normalisation of a password into memory that is wiped on drop, so "é" typed as one
//! code point or as "e" + combining accent is the same password, counted and hashed alike.

use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfkc_quick};
use zeroize::Zeroizing;

/// The NFKC form of `password`, in a buffer allocated once at its final size (a growing
/// `String` would leave unwiped copies behind each reallocation).
pub(crate) fn nfkc(password: &str) -> Zeroizing<String> {
    if is_nfkc_quick(password.chars()) == IsNormalized::Yes {
        return Zeroizing::new(password.to_owned());
    }
    let len: usize = password.nfkc().map(char::len_utf8).sum();
    let mut normalized = Zeroizing::new(String::with_capacity(len));
    normalized.extend(password.nfkc());
    normalized
}

/// Lowercase form for comparisons with the block list, the email and the name.
pub(crate) fn folded(normalized: &str) -> Zeroizing<String> {
    let len: usize = normalized
        .chars()
        .flat_map(char::to_lowercase)
        .map(char::len_utf8)
        .sum();
    let mut folded = Zeroizing::new(String::with_capacity(len));
    folded.extend(normalized.chars().flat_map(char::to_lowercase));
    folded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_and_decomposed_forms_normalise_alike() {
        assert_eq!(*nfkc("caf\u{e9}"), *nfkc("cafe\u{301}"));
        assert_eq!(nfkc("cafe\u{301}").chars().count(), 4);
    }

    #[test]
    fn compatibility_forms_fold_to_plain_letters() {
        assert_eq!(*nfkc("\u{ff21}\u{fb01}"), "Afi"); // fullwidth A, the "fi" ligature
    }

    #[test]
    fn buffers_are_allocated_at_their_final_size() {
        let n = nfkc("cafe\u{301} \u{fb01}");
        assert_eq!(n.capacity(), n.len());
        let f = folded("ÀB\u{130}");
        assert_eq!(f.capacity(), f.len());
    }
}

//! The bundled list of the 10,000 most common passwords (`blocklist.txt`, NFKC, lowercase),
//! parsed once on first use.

use std::collections::HashSet;
use std::sync::OnceLock;

static LIST: &str = include_str!("blocklist.txt");

fn set() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        LIST.lines()
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .collect()
    })
}

/// Whether `folded` (NFKC, lowercase) is on the list.
pub(crate) fn contains(folded: &str) -> bool {
    set().contains(folded)
}

/// How many passwords the list holds.
#[cfg(test)]
pub(crate) fn len() -> usize {
    set().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_holds_ten_thousand_passwords() {
        assert_eq!(len(), 10_000);
        assert!(contains("password"));
        assert!(contains("trustno1"));
        assert!(!contains("a bicycle leaning on the old barn"));
    }
}

//! Property tests: no input, however strange, makes parsing panic.

use proptest::prelude::*;
use vault_core::keys::{KeyPrefix, KeyToken};
use vault_core::{Permission, ProductId, bearer};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn key_parsing_never_panics_on_strings(text in any::<String>()) {
        let _ = KeyToken::parse(&text, &KeyPrefix::default());
    }

    #[test]
    fn key_parsing_never_panics_on_near_keys(tag in "(dev|stg|prod|x)", body in "[0-9A-Za-z_\\-é]{0,70}") {
        let text = format!("vlt_{tag}_{body}");
        let _ = KeyToken::parse(&text, &KeyPrefix::default());
    }

    #[test]
    fn bearer_parsing_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
        let _ = bearer::parse(&bytes);
        let mut prefixed = b"Bearer ".to_vec();
        prefixed.extend_from_slice(&bytes);
        if let Ok(token) = bearer::parse(&prefixed) {
            // Whatever comes out is printable ASCII without spaces.
            prop_assert!(token.bytes().all(|b| b.is_ascii_graphic()));
        }
    }

    #[test]
    fn other_parsers_never_panic(text in any::<String>()) {
        let _ = ProductId::new(&text);
        let _ = Permission::new(&text);
        let _ = text.parse::<vault_core::Environment>();
        let _ = text.parse::<vault_core::KeyId>();
        let _ = text.parse::<vault_core::WorkspaceId>();
    }
}

//! The one definition of a stored secret digest (a 32-byte hash of a key secret, a token or
//! a recovery code): [`secret_digest!`] generates each newtype, so every one compares only in
//! constant time and prints `[redacted]`. A derived `PartialEq` would compare byte by byte
//! and stop at the first difference, one typo away from a timing oracle.

/// Declares a 32-byte secret digest newtype `$name([u8; 32])` in the calling module (its
/// field private there), with:
///
/// - `PartialEq` / `Eq` through [`subtle::ConstantTimeEq`] (there is no other equality), and
///   `ct_eq` returning `bool`; `Hash` over the bytes, so stores can key maps by it;
/// - `Debug` printing `$name([redacted])`;
/// - `from_bytes`, `from_slice` (a database column; `None` unless 32 bytes) and `as_bytes`.
macro_rules! secret_digest {
    ($(#[$meta:meta])* $vis:vis struct $name:ident;) => {
        $(#[$meta])*
        #[derive(Clone, Copy)]
        $vis struct $name([u8; 32]);

        impl $name {
            /// Wraps 32 bytes read from a store.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// Reads a stored hash from a slice (a database column); `None` unless it is 32
            /// bytes.
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(Self)
            }

            /// The bytes, to store.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Constant-time equality (what `==` does too).
            pub fn ct_eq(&self, other: &Self) -> bool {
                ::subtle::ConstantTimeEq::ct_eq(self, other).into()
            }
        }

        impl ::subtle::ConstantTimeEq for $name {
            fn ct_eq(&self, other: &Self) -> ::subtle::Choice {
                ::subtle::ConstantTimeEq::ct_eq(&self.0[..], &other.0[..])
            }
        }

        impl ::core::cmp::PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                $name::ct_eq(self, other)
            }
        }

        impl ::core::cmp::Eq for $name {}

        // Hashing reads every byte whatever their value; a map lookup then confirms with `==`.
        impl ::core::hash::Hash for $name {
            fn hash<H: ::core::hash::Hasher>(&self, state: &mut H) {
                self.0.hash(state);
            }
        }

        impl ::core::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                f.write_str(::core::concat!(::core::stringify!($name), "([redacted])"))
            }
        }
    };
}

pub(crate) use secret_digest;

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    secret_digest! {
        /// A digest for the tests.
        struct Digest;
    }

    fn with(index: usize, byte: u8) -> Digest {
        let mut bytes = [7u8; 32];
        bytes[index] = byte;
        Digest::from_bytes(bytes)
    }

    #[test]
    fn equality_is_the_constant_time_comparison() {
        let base = Digest::from_bytes([7; 32]);
        assert!(base == Digest::from_bytes([7; 32]));
        assert!(base.ct_eq(&Digest::from_bytes([7; 32])));
        // A difference in the first, a middle or the last byte: `==` and `ct_eq` agree.
        for index in [0, 15, 31] {
            let other = with(index, 8);
            assert!(base != other, "byte {index}");
            assert!(!base.ct_eq(&other), "byte {index}");
            assert!(!bool::from(subtle::ConstantTimeEq::ct_eq(&base, &other)));
        }
    }

    #[test]
    fn digests_key_maps() {
        let set: HashSet<Digest> = [with(0, 1), with(0, 1), with(0, 2)].into_iter().collect();
        assert_eq!(set.len(), 2);
        assert!(set.contains(&with(0, 2)));
    }

    #[test]
    fn slices_of_another_length_are_refused() {
        assert!(Digest::from_slice(&[0; 31]).is_none());
        assert!(Digest::from_slice(&[0; 33]).is_none());
        assert_eq!(Digest::from_slice(&[9; 32]).unwrap().as_bytes(), &[9; 32]);
    }

    #[test]
    fn debug_is_redacted() {
        let shown = format!("{:?}", Digest::from_bytes([0x41; 32]));
        assert_eq!(shown, "Digest([redacted])");
    }
}

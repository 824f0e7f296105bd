//! Cross-crate integration tests of the Vault. The README's usage example is compiled and
//! run here as a doctest, so it cannot go stale.
#![doc = include_str!("../../README.md")]

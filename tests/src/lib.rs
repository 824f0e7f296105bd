//! Shared harness of the cross-crate tests.

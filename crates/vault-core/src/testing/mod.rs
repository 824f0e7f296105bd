//! Test helpers (feature `test-util`): [`TestKeys`], a key service that mints keys of any
//! scope in one line for tests of protected handlers, and [`conformance`], the suite every
//! [`crate::store::Store`] implementation must pass.

pub mod conformance;
mod keys;

pub use keys::TestKeys;

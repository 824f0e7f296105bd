//! Test helpers (feature `test-util`): [`TestKeys`], a key service that mints keys of any
//! scope in one line for tests of protected handlers, and [`conformance`], the suite every
//! [`crate::store::Store`] implementation must pass.

// Test support: a failed expectation here is the report, so it panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod access_flows;
pub mod atomicity;
pub mod conformance;
mod faults;
mod keys;
pub mod mail_queue;
pub mod sign_in_throttling;

pub use faults::{FaultyStore, Snapshot};

pub use keys::TestKeys;

use crate::ids::UserId;

/// An [`crate::access::Actor`] for tests of access flows, without signing anyone in. An
/// application gets its actors from [`crate::accounts::Accounts::actor`], which reads the 2FA
/// bit from the verified session; this backdoor exists only with the `test-util` feature.
pub fn actor(user: UserId, two_factor_passed: bool) -> crate::access::Actor {
    crate::access::Actor::new(user, two_factor_passed)
}

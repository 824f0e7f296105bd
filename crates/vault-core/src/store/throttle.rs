//! Rows of throttle counters. What a counter means, and when it locks, is
//! [`crate::accounts::throttle`]'s; a store keeps the numbers.

use async_trait::async_trait;

use crate::Error;
use crate::accounts::{ThrottleKey, ThrottleState};

/// Throttle counters, one per [`ThrottleKey`] (stored under [`ThrottleKey::storage_key`]).
#[async_trait]
pub trait ThrottleRows: Send {
    /// The counter under `key`, if any. A counter whose every field is at its default may
    /// read as `None` (a SQL store creates such a row to lock a new key): callers treat
    /// `None` as [`ThrottleState::default`].
    async fn throttle(&mut self, key: &ThrottleKey) -> Result<Option<ThrottleState>, Error>;

    /// Stores the counter under `key`.
    async fn put_throttle(&mut self, key: &ThrottleKey, state: &ThrottleState)
    -> Result<(), Error>;

    /// Deletes the counter under `key`.
    async fn delete_throttle(&mut self, key: &ThrottleKey) -> Result<(), Error>;
}

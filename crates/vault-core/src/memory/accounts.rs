//! Accounts in memory. (In progress.)

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::AccountStore;

/// The accounts tables.
#[derive(Debug, Default)]
pub(super) struct AccountTables {}

#[async_trait]
impl AccountStore for MemoryStore {}

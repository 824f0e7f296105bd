//! Access in memory. (In progress.)

use async_trait::async_trait;

use super::MemoryStore;
use crate::store::AccessStore;

/// The access tables.
#[derive(Debug, Default)]
pub(super) struct AccessTables {}

#[async_trait]
impl AccessStore for MemoryStore {}

//! The in-memory store: every store trait over maps behind short-lived locks (never held
//! across an `.await`). For tests, demos and single-process tools; data ends with the process.
//! One file per aggregate, each holding its tables and its trait implementation.

mod access;
mod accounts;
mod keys;

/// An in-memory store implementing every store trait, safe to share between tasks and threads.
#[derive(Debug, Default)]
pub struct MemoryStore {
    keys: keys::KeyTable,
    accounts: accounts::AccountTables,
    access: access::AccessTables,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

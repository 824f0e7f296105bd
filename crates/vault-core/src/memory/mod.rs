//! The in-memory store: API keys in their own map (the hot path), and every account and access
//! row in one set of tables with transactions. A write transaction holds the one write lock
//! and works on its own copy of the tables (copied on its first write), which commit swaps in
//! at once; a read view is the committed tables as they were when it began. For tests, demos
//! and single-process tools; data ends with the process.

mod access;
mod accounts;
mod keys;
mod transaction;

/// An in-memory store implementing every store trait, safe to share between tasks and threads.
#[derive(Debug, Default)]
pub struct MemoryStore {
    keys: keys::KeyTable,
    rows: transaction::Rows,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

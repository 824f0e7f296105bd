//! The row-level conformance suite on the memory store, the reference implementation of
//! [`vault_core::store::Store`].

use std::sync::Arc;

use vault_core::MemoryStore;

vault_core::store_conformance!(async || Arc::new(MemoryStore::new()));

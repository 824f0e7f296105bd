//! Every compound flow is all-or-nothing on the memory store: a fault at any write or commit
//! leaves no change behind (the SQL stores run the same cases in vault-tests).

use std::sync::Arc;

use vault_core::MemoryStore;
use vault_core::testing;

#[tokio::test]
async fn sign_up_and_sign_in_are_all_or_nothing() {
    testing::sign_up_and_sign_in_are_all_or_nothing(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn password_change_is_all_or_nothing() {
    testing::password_change_is_all_or_nothing(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn password_reset_is_all_or_nothing() {
    testing::password_reset_is_all_or_nothing(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn email_change_is_all_or_nothing() {
    testing::email_change_is_all_or_nothing(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn two_factor_steps_are_all_or_nothing() {
    testing::two_factor_steps_are_all_or_nothing(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn access_steps_are_all_or_nothing() {
    testing::access_steps_are_all_or_nothing(Arc::new(MemoryStore::new())).await;
}

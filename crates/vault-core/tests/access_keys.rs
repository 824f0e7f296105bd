//! API keys through the access layer on the memory store: the cases live in
//! `vault_core::testing::access_flows`, so SQLite and PostgreSQL run them too (vault-tests).

use std::sync::Arc;

use vault_core::MemoryStore;
use vault_core::testing::access_flows;

#[tokio::test]
async fn a_member_mints_only_the_permissions_it_holds() {
    access_flows::a_member_mints_only_the_permissions_it_holds(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn no_key_without_access_to_the_workspace_and_product() {
    access_flows::no_key_without_access_to_the_workspace_and_product(Arc::new(MemoryStore::new()))
        .await;
}

#[tokio::test]
async fn a_sensitive_permission_is_minted_only_after_2fa_when_the_policy_says_so() {
    access_flows::a_sensitive_permission_is_minted_only_after_2fa_when_the_policy_says_so(
        Arc::new(MemoryStore::new()),
    )
    .await;
}

#[tokio::test]
async fn a_deactivated_products_keys_answer_wrong_product_until_reactivated() {
    access_flows::a_deactivated_products_keys_answer_wrong_product_until_reactivated(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn key_verification_asks_the_subscription_hook_only_when_configured() {
    access_flows::key_verification_asks_the_subscription_hook_only_when_configured(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn members_manage_their_own_keys_and_not_other_peoples() {
    access_flows::members_manage_their_own_keys_and_not_other_peoples(Arc::new(MemoryStore::new()))
        .await;
}

#[tokio::test]
async fn admins_and_key_managers_manage_everyones_keys() {
    access_flows::admins_and_key_managers_manage_everyones_keys(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn a_key_is_not_rotated_past_its_issuers_rights() {
    access_flows::a_key_is_not_rotated_past_its_issuers_rights(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn key_changes_are_audited() {
    access_flows::key_changes_are_audited(Arc::new(MemoryStore::new())).await;
}

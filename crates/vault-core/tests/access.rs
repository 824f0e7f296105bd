//! The access model of the product docs on the memory store: the cases live in
//! `vault_core::testing::access_flows`, so SQLite and PostgreSQL run them too (vault-tests).

use std::sync::Arc;

use vault_core::MemoryStore;
use vault_core::testing::access_flows;

#[tokio::test]
async fn membership_alone_grants_no_product() {
    access_flows::membership_alone_grants_no_product(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn a_grant_gives_nothing_until_the_workspace_subscribes() {
    access_flows::a_grant_gives_nothing_until_the_workspace_subscribes(
        Arc::new(MemoryStore::new()),
    )
    .await;
}

#[tokio::test]
async fn a_grant_in_one_workspace_gives_nothing_in_another() {
    access_flows::a_grant_in_one_workspace_gives_nothing_in_another(Arc::new(MemoryStore::new()))
        .await;
}

#[tokio::test]
async fn grants_through_groups_reach_every_member_of_the_group() {
    access_flows::grants_through_groups_reach_every_member_of_the_group(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn revoking_a_grant_takes_effect_at_once() {
    access_flows::revoking_a_grant_takes_effect_at_once(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn effective_permissions_say_where_each_comes_from() {
    access_flows::effective_permissions_say_where_each_comes_from(Arc::new(MemoryStore::new()))
        .await;
}

#[tokio::test]
async fn a_member_cannot_grant_itself_admin_or_a_product() {
    access_flows::a_member_cannot_grant_itself_admin_or_a_product(Arc::new(MemoryStore::new()))
        .await;
}

#[tokio::test]
async fn an_admin_can_neither_make_nor_touch_owners() {
    access_flows::an_admin_can_neither_make_nor_touch_owners(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn the_last_owner_can_neither_leave_nor_be_demoted() {
    access_flows::the_last_owner_can_neither_leave_nor_be_demoted(Arc::new(MemoryStore::new()))
        .await;
}

#[tokio::test]
async fn a_removed_member_loses_the_workspace_and_its_grants() {
    access_flows::a_removed_member_loses_the_workspace_and_its_grants(Arc::new(MemoryStore::new()))
        .await;
}

#[tokio::test]
async fn an_invitation_is_accepted_only_by_the_invited_account() {
    access_flows::an_invitation_is_accepted_only_by_the_invited_account(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn an_invitation_is_single_use() {
    access_flows::an_invitation_is_single_use(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn an_expired_invitation_is_refused() {
    access_flows::an_expired_invitation_is_refused(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn a_revoked_invitation_is_refused() {
    access_flows::a_revoked_invitation_is_refused(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn a_forged_invitation_token_is_refused() {
    access_flows::a_forged_invitation_token_is_refused(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn only_owners_manage_subscriptions() {
    access_flows::only_owners_manage_subscriptions(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn grants_name_catalogue_products_and_roles() {
    access_flows::grants_name_catalogue_products_and_roles(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn groups_hold_only_members_and_unique_names() {
    access_flows::groups_hold_only_members_and_unique_names(Arc::new(MemoryStore::new())).await;
}

#[tokio::test]
async fn a_two_factor_policy_for_admins_refuses_their_actions_without_2fa() {
    access_flows::a_two_factor_policy_for_admins_refuses_their_actions_without_2fa(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn a_two_factor_policy_for_sensitive_roles_guards_their_permissions() {
    access_flows::a_two_factor_policy_for_sensitive_roles_guards_their_permissions(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn a_user_lists_their_workspaces_and_switches_only_to_those() {
    access_flows::a_user_lists_their_workspaces_and_switches_only_to_those(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}

#[tokio::test]
async fn every_change_is_audited_with_who_what_and_where() {
    access_flows::every_change_is_audited_with_who_what_and_where(Arc::new(MemoryStore::new()))
        .await;
}

#[tokio::test]
async fn sessions_ask_the_access_service_who_belongs_to_a_workspace() {
    access_flows::sessions_ask_the_access_service_who_belongs_to_a_workspace(Arc::new(
        MemoryStore::new(),
    ))
    .await;
}

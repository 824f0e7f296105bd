//! The row-level conformance suite: every promise of [`Store`], [`crate::store::Transaction`]
//! and the row traits, checked on a fresh store per case. Round trips of every field (times
//! to the nanosecond), the declared orders, replacement, deletes that say whether a row was
//! there, the store's conflicts, read views, rollback, commit, and the races a scope must
//! settle. A third-party store runs it all with one macro call:
//!
//! ```
//! use std::sync::Arc;
//! use vault_core::MemoryStore;
//!
//! // One `#[tokio::test]` per case, each on the store the closure makes.
//! vault_core::store_conformance!(async || Arc::new(MemoryStore::new()));
//! # fn main() {}
//! ```
//!
//! The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features (as a
//! dev-dependency). The closure may answer an `Arc` of the store or any [`Fixture`], which
//! can also clean up after the case (drop a database schema, remove a file) whether it
//! passed or not. A store may check that rows reference their parents (a member its
//! workspace, a group member its group): the cases store the parent first. Tokens are the
//! exception: a decoy token belongs to no user (see [`crate::testing::mail_queue`]).
//!
//! Each case is also a plain `async fn` of [`cases`], to run one on its own with [`run`].

use std::future::Future;
use std::sync::Arc;

use crate::KeyStore;
use crate::store::Store;

mod races;
mod records;
mod rows;
mod transactions;

/// Every case, as an `async fn` taking the store under test: the row-level cases here, the
/// access flows of [`crate::testing::access_flows`] and the atomicity cases of
/// [`crate::testing::atomicity`].
pub mod cases {
    pub use super::races::*;
    pub use super::rows::*;
    pub use super::transactions::*;
    pub use crate::testing::access_flows::*;
    pub use crate::testing::atomicity::*;
    pub use crate::testing::mail_queue::*;
    pub use crate::testing::sign_in_throttling::*;
}

/// What the suite checks: the row store and the key store of one implementation.
pub trait StoreUnderTest: Store + KeyStore {}

impl<T: Store + KeyStore> StoreUnderTest for T {}

/// What a store factory hands the suite: the store, and what to do once the case is over.
pub trait Fixture: Send + 'static {
    /// The store the case runs on.
    fn store(&self) -> Arc<dyn StoreUnderTest>;

    /// Runs after the case, whether it passed or panicked (nothing by default).
    fn finish(self) -> impl Future<Output = ()> + Send
    where
        Self: Sized,
    {
        async {}
    }
}

impl<S: StoreUnderTest> Fixture for Arc<S> {
    fn store(&self) -> Arc<dyn StoreUnderTest> {
        Arc::clone(self) as Arc<dyn StoreUnderTest>
    }
}

impl Fixture for Arc<dyn StoreUnderTest> {
    fn store(&self) -> Arc<dyn StoreUnderTest> {
        Arc::clone(self)
    }
}

/// Runs `case` on the store `fresh` makes, then [`Fixture::finish`], then re-raises the
/// case's panic if it had one. The case runs as its own task, so a panic cannot skip the
/// clean-up.
///
/// # Panics
/// When the case fails.
pub async fn run<F, X, C, Fut>(fresh: F, case: C)
where
    F: AsyncFnOnce() -> X,
    X: Fixture,
    C: FnOnce(Arc<dyn StoreUnderTest>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let fixture = fresh().await;
    let outcome = tokio::spawn(case(fixture.store())).await;
    fixture.finish().await;
    if let Err(failed) = outcome {
        match failed.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(failed) => panic!("the case did not finish: {failed}"),
        }
    }
}

/// Expands to one `#[tokio::test]` per case of [`cases`], each running on the store made by
/// `$fresh` (an `async` closure answering an `Arc` of a store, an `Arc<dyn StoreUnderTest>` or a
/// [`Fixture`]). See the [module documentation](self).
#[macro_export]
macro_rules! store_conformance {
    ($fresh:expr) => {
        $crate::store_conformance!(@cases $fresh;
            users_round_trip_every_field_by_id_and_by_email,
            putting_a_user_replaces_it_with_its_recovery_codes,
            a_taken_email_is_a_conflict,
            tokens_round_trip_and_are_listed_per_user_and_purpose,
            deleting_tokens_says_whether_they_were_there,
            sessions_round_trip_and_are_listed_per_user,
            deleting_sessions_keeps_the_one_asked_for,
            throttle_counters_round_trip_and_are_replaced_and_deleted,
            workspaces_round_trip_and_are_replaced,
            members_keep_joining_order_when_replaced,
            memberships_are_listed_per_user_and_deleted_once,
            invitations_round_trip_and_are_listed_per_workspace,
            groups_round_trip_and_take_their_members_when_deleted,
            group_members_are_added_and_removed_once,
            a_group_name_differing_only_in_ascii_case_is_a_conflict,
            grants_are_listed_oldest_first_and_deleted_per_grantee,
            a_duplicate_grant_is_a_conflict,
            subscriptions_round_trip_and_are_replaced_per_product,
            a_read_view_refuses_every_write,
            a_transaction_reads_its_own_writes,
            a_dropped_transaction_leaves_nothing,
            a_commit_makes_every_write_visible_at_once,
            a_read_view_never_sees_uncommitted_writes,
            locking_a_throttle_key_leaves_no_counter,
            transactions_on_one_user_are_serialised,
            transactions_on_one_workspace_are_serialised,
            transactions_on_a_new_throttle_key_are_serialised,
            scopes_taken_in_opposite_orders_never_deadlock,
            of_concurrent_deletes_of_one_row_exactly_one_sees_it,
            membership_alone_grants_no_product,
            a_grant_gives_nothing_until_the_workspace_subscribes,
            a_grant_in_one_workspace_gives_nothing_in_another,
            grants_through_groups_reach_every_member_of_the_group,
            revoking_a_grant_takes_effect_at_once,
            effective_permissions_say_where_each_comes_from,
            a_member_cannot_grant_itself_admin_or_a_product,
            an_admin_can_neither_make_nor_touch_owners,
            the_last_owner_can_neither_leave_nor_be_demoted,
            a_removed_member_loses_the_workspace_and_its_grants,
            an_invitation_is_accepted_only_by_the_invited_account,
            an_invitation_is_single_use,
            an_expired_invitation_is_refused,
            a_revoked_invitation_is_refused,
            a_forged_invitation_token_is_refused,
            only_owners_manage_subscriptions,
            grants_name_catalogue_products_and_roles,
            groups_hold_only_members_and_unique_names,
            a_two_factor_policy_for_admins_refuses_their_actions_without_2fa,
            a_two_factor_policy_for_sensitive_roles_guards_their_permissions,
            a_user_lists_their_workspaces_and_switches_only_to_those,
            every_change_is_audited_with_who_what_and_where,
            sessions_ask_the_access_service_who_belongs_to_a_workspace,
            a_member_mints_only_the_permissions_it_holds,
            no_key_without_access_to_the_workspace_and_product,
            a_sensitive_permission_is_minted_only_after_2fa_when_the_policy_says_so,
            a_deactivated_products_keys_answer_wrong_product_until_reactivated,
            key_verification_asks_the_subscription_hook_only_when_configured,
            members_manage_their_own_keys_and_not_other_peoples,
            admins_and_key_managers_manage_everyones_keys,
            a_key_is_not_rotated_past_its_issuers_rights,
            key_changes_are_audited,
            sign_up_and_sign_in_are_all_or_nothing,
            password_change_is_all_or_nothing,
            password_reset_is_all_or_nothing,
            email_change_is_all_or_nothing,
            two_factor_steps_are_all_or_nothing,
            mailed_code_steps_are_all_or_nothing,
            access_steps_are_all_or_nothing,
            guesses_from_one_address_never_lock_the_owner_out_elsewhere,
            ten_addresses_guessing_never_lock_the_owner_out,
            past_the_pool_a_right_password_earns_a_mailed_code,
            a_mailed_code_still_asks_for_the_second_factor,
            parallel_guesses_pass_no_budget,
            mail_rows_are_claimed_leased_and_deleted,
            concurrent_claims_never_share_a_mail,
            every_path_of_a_flow_does_the_same_work,
            queued_mail_is_sealed_and_survives_a_restart,
            refused_and_abandoned_mails_go_out_later_under_one_message_id,
            expired_tokens_are_purged,
        );
    };
    (@cases $fresh:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::testing::conformance::run($fresh, |store| {
                    $crate::testing::conformance::cases::$case(store)
                })
                .await;
            }
        )*
    };
}

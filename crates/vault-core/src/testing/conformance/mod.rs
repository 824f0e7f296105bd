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
//! passed or not. A store may check that rows reference their parents (a token its user, a
//! member its workspace, a group member its group): the cases store the parent first.
//!
//! Each case is also a plain `async fn` of [`cases`], to run one on its own with [`run`].

use std::future::Future;
use std::sync::Arc;

use crate::store::Store;

mod races;
mod records;
mod rows;
mod transactions;

/// Every case, as an `async fn` taking the store under test.
pub mod cases {
    pub use super::races::*;
    pub use super::rows::*;
    pub use super::transactions::*;
}

/// What a store factory hands the suite: the store, and what to do once the case is over.
pub trait Fixture: Send + 'static {
    /// The store the case runs on.
    fn store(&self) -> Arc<dyn Store>;

    /// Runs after the case, whether it passed or panicked (nothing by default).
    fn finish(self) -> impl Future<Output = ()> + Send
    where
        Self: Sized,
    {
        async {}
    }
}

impl<S: Store> Fixture for Arc<S> {
    fn store(&self) -> Arc<dyn Store> {
        Arc::clone(self) as Arc<dyn Store>
    }
}

impl Fixture for Arc<dyn Store> {
    fn store(&self) -> Arc<dyn Store> {
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
    C: FnOnce(Arc<dyn Store>) -> Fut,
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
/// `$fresh` (an `async` closure answering an `Arc<impl Store>`, an `Arc<dyn Store>` or a
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
        );
    };
    (@cases $fresh:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::testing::conformance::run(
                    $fresh,
                    $crate::testing::conformance::cases::$case,
                )
                .await;
            }
        )*
    };
}

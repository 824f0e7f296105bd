//! Cases of concurrent transactions: two transactions whose scopes overlap run one after
//! the other (the second reads what the first committed), scopes named in any order never
//! deadlock, and of concurrent deletes of one row exactly one finds it.

use std::sync::Arc;

use tokio::task::JoinSet;

use super::records::{PATIENCE, bare_user, begin, read, session, throttle_key, token, workspace};
use crate::Error;
use crate::accounts::{ThrottleKey, TokenPurpose, User};
use crate::ids::{UserId, WorkspaceId};
use crate::store::{Scope, Store, Transaction};

/// How many transactions each race runs at once.
const RACERS: u32 = 20;

/// A number kept in a row, incremented by read-then-write: lost updates show as a smaller
/// total.
#[derive(Clone, Debug)]
enum Counter {
    /// In the user's name.
    User(UserId),
    /// In the workspace's name.
    Workspace(WorkspaceId),
    /// In the counter's attempts (a missing counter is zero).
    Throttle(ThrottleKey),
}

impl Counter {
    fn scope(&self, scope: Scope) -> Scope {
        match self {
            Self::User(id) => scope.and_user(*id),
            Self::Workspace(id) => scope.and_workspace(*id),
            Self::Throttle(key) => scope.and_throttle(key.clone()),
        }
    }

    /// A user or workspace named "0" (a throttle counter needs no row).
    async fn create(&self, store: &dyn Store) {
        let mut tx = begin(store, Scope::none()).await;
        match self {
            Self::User(id) => {
                let user = User {
                    id: *id,
                    name: "0".into(),
                    ..bare_user()
                };
                tx.put_user(&user).await.unwrap();
            }
            Self::Workspace(id) => {
                let mut w = workspace();
                (w.id, w.name) = (*id, "0".into());
                tx.put_workspace(&w).await.unwrap();
            }
            Self::Throttle(_) => {}
        }
        tx.commit().await.unwrap();
    }

    async fn value(&self, tx: &mut dyn Transaction) -> Result<u32, Error> {
        let name = match self {
            Self::User(id) => tx.user(*id).await?.map(|u| u.name),
            Self::Workspace(id) => tx.workspace(*id).await?.map(|w| w.name),
            Self::Throttle(key) => {
                let state = tx.throttle(key).await?.unwrap_or_default();
                return Ok(state.attempts);
            }
        };
        let name = name.ok_or_else(|| Error::Store("the counter's row is gone".into()))?;
        name.parse()
            .map_err(|_| Error::Store(format!("not a count: {name:?}").into()))
    }

    async fn bump(&self, tx: &mut dyn Transaction) -> Result<(), Error> {
        let next = self.value(tx).await? + 1;
        match self {
            Self::User(id) => {
                let mut user = tx.user(*id).await?.expect("read just before");
                user.name = next.to_string();
                tx.put_user(&user).await
            }
            Self::Workspace(id) => {
                let mut w = tx.workspace(*id).await?.expect("read just before");
                w.name = next.to_string();
                tx.put_workspace(&w).await
            }
            Self::Throttle(key) => {
                let mut state = tx.throttle(key).await?.unwrap_or_default();
                state.attempts = next;
                tx.put_throttle(key, &state).await
            }
        }
    }
}

/// Runs `rounds` transactions on each of `orders` at once: each takes the scope of its
/// counters (named in its order), bumps each of them in that order, and commits. Then every
/// counter must have counted every transaction.
async fn race(store: &Arc<dyn Store>, orders: Vec<Vec<Counter>>, rounds: u32) {
    let mut racers = JoinSet::new();
    for counters in orders {
        let store = Arc::clone(store);
        racers.spawn(async move {
            for _ in 0..rounds {
                let scope = counters.iter().fold(Scope::none(), |s, c| c.scope(s));
                let mut tx = store.begin(scope).await?;
                for counter in &counters {
                    counter.bump(&mut *tx).await?;
                }
                tx.commit().await?;
            }
            Ok::<_, Error>(())
        });
    }
    let done = tokio::time::timeout(PATIENCE, racers.join_all()).await;
    for outcome in done.expect("the transactions finish: no deadlock") {
        outcome.expect("every transaction commits");
    }
}

async fn assert_counted(store: &dyn Store, counters: &[Counter], total: u32) {
    let mut r = read(store).await;
    for counter in counters {
        assert_eq!(counter.value(&mut *r).await.unwrap(), total, "{counter:?}");
    }
}

async fn serialised(store: Arc<dyn Store>, counter: Counter) {
    counter.create(&*store).await;
    let racers = (0..RACERS).map(|_| vec![counter.clone()]).collect();
    race(&store, racers, 1).await;
    assert_counted(&*store, &[counter], RACERS).await;
}

/// Concurrent transactions scoped to one user run one after the other: each reads what the
/// previous committed, so no increment is lost.
pub async fn transactions_on_one_user_are_serialised(store: Arc<dyn Store>) {
    serialised(store, Counter::User(UserId::random())).await;
}

/// Concurrent transactions scoped to one workspace run one after the other.
pub async fn transactions_on_one_workspace_are_serialised(store: Arc<dyn Store>) {
    serialised(store, Counter::Workspace(WorkspaceId::random())).await;
}

/// Concurrent transactions scoped to a throttle key that has no counter yet run one after
/// the other: the scope locks the key, not only an existing row.
pub async fn transactions_on_a_new_throttle_key_are_serialised(store: Arc<dyn Store>) {
    serialised(store, Counter::Throttle(throttle_key())).await;
}

/// Transactions over the same users, workspaces and throttle keys, named and written in
/// opposite orders, all finish (no deadlock) and all count.
pub async fn scopes_taken_in_opposite_orders_never_deadlock(store: Arc<dyn Store>) {
    let counters = vec![
        Counter::User(UserId::random()),
        Counter::User(UserId::random()),
        Counter::Workspace(WorkspaceId::random()),
        Counter::Workspace(WorkspaceId::random()),
        Counter::Throttle(throttle_key()),
        Counter::Throttle(throttle_key()),
    ];
    for counter in &counters {
        counter.create(&*store).await;
    }
    let backwards: Vec<_> = counters.iter().rev().cloned().collect();
    let orders = vec![
        counters.clone(),
        backwards.clone(),
        counters.clone(),
        backwards,
    ];
    let rounds = 10;
    race(&store, orders, rounds).await;
    assert_counted(&*store, &counters, 4 * rounds).await;
}

/// Of transactions deleting one token (or one session) at once, exactly one is told it was
/// there: the single use of a link rests on it.
pub async fn of_concurrent_deletes_of_one_row_exactly_one_sees_it(store: Arc<dyn Store>) {
    let user = bare_user();
    let (link, login) = (
        token(user.id, TokenPurpose::ResetPassword),
        session(user.id),
    );
    let mut tx = begin(&*store, Scope::none()).await;
    tx.put_user(&user).await.unwrap();
    tx.put_token(&link).await.unwrap();
    tx.put_session(&login).await.unwrap();
    tx.commit().await.unwrap();
    let mut racers = JoinSet::new();
    for _ in 0..RACERS {
        let (store, link, login) = (Arc::clone(&store), link.clone(), login.clone());
        racers.spawn(async move {
            let mut tx = store.begin(Scope::none()).await?;
            let took_link = tx.delete_token(&link.token_hash).await?;
            let ended_login = tx.delete_session(&login.token_hash).await?;
            tx.commit().await?;
            Ok::<_, Error>([took_link, ended_login])
        });
    }
    let done = tokio::time::timeout(PATIENCE, racers.join_all()).await;
    let mut winners = [0, 0];
    for outcome in done.expect("the deletes finish") {
        let found = outcome.expect("every delete commits");
        for (winner, found) in winners.iter_mut().zip(found) {
            *winner += u32::from(found);
        }
    }
    assert_eq!(
        winners,
        [1, 1],
        "one winner for the token, one for the session"
    );
}

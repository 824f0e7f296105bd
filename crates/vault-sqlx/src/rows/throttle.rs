//! Throttle counters, one `throttle` row per [`ThrottleKey::storage_key`]. On PostgreSQL a
//! scope creates the row of each of its keys to lock it (see `crate::transaction`); such a
//! zeroed row is no counter, and reads as none.

use async_trait::async_trait;
use vault_core::Error;
use vault_core::accounts::{ThrottleKey, ThrottleState};
use vault_core::store::ThrottleRows;

use super::counter;
use crate::arg::args;
use crate::error::SqlError;
use crate::store::from_opt_nanos;
use crate::transaction::SqlTransaction;

const TABLE: &str = "throttle";

table! {
    throttle (key) [attempts, window_start, locked_until, locks] put "($1, $2, $3, $4, $5)";
    BY_KEY = "WHERE key = $1";
}

#[derive(sqlx::FromRow)]
struct ThrottleRow {
    attempts: i32,
    window_start: Option<i64>,
    locked_until: Option<i64>,
    locks: i32,
}

impl ThrottleRow {
    fn into_state(self) -> Result<ThrottleState, SqlError> {
        Ok(ThrottleState {
            attempts: counter(TABLE, self.attempts)?,
            window_start: from_opt_nanos(TABLE, self.window_start)?,
            locked_until: from_opt_nanos(TABLE, self.locked_until)?,
            locks: counter(TABLE, self.locks)?,
        })
    }
}

#[async_trait]
impl ThrottleRows for SqlTransaction {
    async fn throttle(&mut self, key: &ThrottleKey) -> Result<Option<ThrottleState>, Error> {
        let key = key.storage_key();
        let state = self
            .one(BY_KEY, args![key.as_str()], ThrottleRow::into_state)
            .await?;
        Ok(state.filter(|s| *s != ThrottleState::default()))
    }

    async fn put_throttle(
        &mut self,
        key: &ThrottleKey,
        state: &ThrottleState,
    ) -> Result<(), Error> {
        let key = key.storage_key();
        let values = args![
            key.as_str(),
            state.attempts,
            state.window_start,
            state.locked_until,
            state.locks,
        ];
        self.put(PUT, values).await
    }

    async fn delete_throttle(&mut self, key: &ThrottleKey) -> Result<(), Error> {
        let key = key.storage_key();
        let sql = "DELETE FROM throttle WHERE key = $1";
        self.execute(sql, args![key.as_str()]).await?;
        Ok(())
    }
}

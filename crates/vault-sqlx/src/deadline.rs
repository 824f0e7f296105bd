//! The client-side bound of every store call. A [`Deadline`] ([`crate::StoreOptions::deadline`])
//! starts a [`Call`] when a store call begins; its wait for a connection and the statements it
//! runs share that one instant, and past it the call answers [`SqlError::DeadlinePassed`]
//! (`StoreUnavailable`: a 503 with `Retry-After`). The database's `statement_timeout` cannot
//! do this: on a link that stopped forwarding, the query never reached it or its answer never
//! comes back.

use std::future::Future;
use std::time::Duration;

use sqlx::Database;
use sqlx::pool::PoolConnection;
use tokio::time::Instant;

use crate::error::SqlError;

/// How long one store call may take.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline(Duration);

impl Deadline {
    pub(crate) fn new(limit: Duration) -> Self {
        Self(limit)
    }

    /// The bound of a call that starts now.
    pub(crate) fn start(self) -> Call {
        // An absurdly long limit is as good as none (and `Instant + Duration` must not overflow).
        let now = Instant::now();
        let until = now
            .checked_add(self.0)
            .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365));
        Call {
            until,
            limit: self.0,
        }
    }
}

/// One store call against its deadline.
pub(crate) struct Call {
    until: Instant,
    limit: Duration,
}

impl Call {
    /// Runs `work` until it ends or the deadline passes, whichever comes first; `work` is
    /// dropped (cancelled) in the second case.
    pub(crate) async fn run<T, E: Into<SqlError>>(
        &self,
        work: impl Future<Output = Result<T, E>>,
    ) -> Result<T, SqlError> {
        match tokio::time::timeout_at(self.until, work).await {
            Ok(done) => done.map_err(Into::into),
            Err(_) => Err(SqlError::DeadlinePassed(self.limit)),
        }
    }
}

/// Hands `conn` back to its pool, or closes it when `outcome` is a passed deadline: a
/// statement was cut off mid-way, so the connection's state is unknown, and on a stalled link
/// the pool's check of a returned connection (a round trip) would wait as long as the stall,
/// holding one of its slots. Dropping the detached connection closes its socket at once.
pub(crate) fn settle<DB: Database, T>(
    conn: PoolConnection<DB>,
    outcome: Result<T, SqlError>,
) -> Result<T, SqlError> {
    if matches!(outcome, Err(SqlError::DeadlinePassed(_))) {
        drop(conn.detach());
    }
    outcome
}

/// `$body`, a statement future over `$conn` (a `&mut` connection taken from `$pool`), with
/// the wait for the connection and the statement both within `$call`'s deadline; the
/// connection is [`settle`]d after.
macro_rules! pooled {
    ($call:expr, $pool:expr, |$conn:ident| $body:expr) => {{
        let call: &$crate::deadline::Call = $call;
        let mut held = call.run($pool.acquire()).await?;
        let done = {
            let $conn = &mut *held;
            call.run($body).await
        };
        $crate::deadline::settle(held, done)
    }};
}

pub(crate) use pooled;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_past_the_deadline_is_cut_off_and_unavailable() {
        let call = Deadline::new(Duration::from_millis(20)).start();
        let never = std::future::pending::<Result<(), sqlx::Error>>();
        let outcome = call.run(never).await;
        assert!(matches!(outcome, Err(SqlError::DeadlinePassed(_))));
        assert!(outcome.unwrap_err().is_unavailable());

        let call = Deadline::new(Duration::MAX).start();
        let quick = async { Ok::<_, sqlx::Error>(7) };
        assert_eq!(call.run(quick).await.unwrap(), 7);
    }
}

//! The writer behind [`vault_core::keys::UsageRecorder`]: a task that drains the recorder
//! every interval and stores the batch with [`SqlStore::record_last_used`], so verification
//! never waits on a `last_used_at` write.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use vault_core::keys::UsageRecorder;

use crate::error::SqlError;
use crate::store::SqlStore;

/// Most key updates written in one transaction.
const BATCH: usize = 500;

/// A running `last_used_at` writer, from [`SqlStore::spawn_usage_flusher`].
///
/// [`UsageFlusher::shutdown`] writes what is pending and stops; dropping the handle stops
/// the task without that last write.
#[derive(Debug)]
pub struct UsageFlusher {
    store: SqlStore,
    recorder: UsageRecorder,
    stop: Arc<Notify>,
    task: Option<JoinHandle<()>>,
}

impl SqlStore {
    /// Spawns (on the current Tokio runtime) a task that writes the uses `recorder`
    /// collected every `interval`, in transactions of at most 500 keys. A failed write is
    /// logged and its uses go back into the recorder for the next round (a later time is
    /// never moved back), so a database outage costs no uses the recorder has room for.
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use vault_core::keys::UsageRecorder;
    /// use vault_core::{ApiKeys, Pepper};
    /// use vault_sqlx::SqlStore;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqlStore::connect("sqlite://vault.db").await?;
    /// let usage = UsageRecorder::default();
    /// let flusher = store.spawn_usage_flusher(usage.clone(), Duration::from_millis(500));
    /// let keys = ApiKeys::builder(Arc::new(store), &Pepper::from_env("VAULT_PEPPER")?)
    ///     .usage(usage)
    ///     .build();
    /// // ... serve requests ...
    /// flusher.shutdown().await; // writes what is still pending
    /// # let _ = keys; Ok(()) }
    /// ```
    pub fn spawn_usage_flusher(&self, recorder: UsageRecorder, interval: Duration) -> UsageFlusher {
        let stop = Arc::new(Notify::new());
        let task = tokio::spawn(run(
            self.clone(),
            recorder.clone(),
            interval.max(Duration::from_millis(1)),
            Arc::clone(&stop),
        ));
        UsageFlusher {
            store: self.clone(),
            recorder,
            stop,
            task: Some(task),
        }
    }
}

impl UsageFlusher {
    /// Writes every pending use now; answers how many keys were written.
    pub async fn flush_now(&self) -> Result<usize, SqlError> {
        flush(&self.store, &self.recorder).await
    }

    /// Stops the task, then writes what is still pending.
    pub async fn shutdown(mut self) -> Result<usize, SqlError> {
        self.stop.notify_one();
        if let Some(task) = self.task.take() {
            task.await.ok();
        }
        flush(&self.store, &self.recorder).await
    }
}

impl Drop for UsageFlusher {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn run(store: SqlStore, recorder: UsageRecorder, interval: Duration, stop: Arc<Notify>) {
    // The first round one interval from now, not at once.
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = stop.notified() => return,
        }
        if let Err(err) = flush(&store, &recorder).await {
            tracing::warn!(error = %err, "could not write key last_used_at; retrying next round");
        }
    }
}

/// Drains the recorder and writes the batch; on failure the unwritten uses go back.
async fn flush(store: &SqlStore, recorder: &UsageRecorder) -> Result<usize, SqlError> {
    let batch = recorder.drain();
    let mut written = 0;
    for (at, chunk) in batch.chunks(BATCH).enumerate() {
        if let Err(err) = store.record_last_used(chunk).await {
            for (key, used_at) in &batch[at * BATCH..] {
                recorder.record(*key, *used_at);
            }
            return Err(err);
        }
        written += chunk.len();
    }
    Ok(written)
}

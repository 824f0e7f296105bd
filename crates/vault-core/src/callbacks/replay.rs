//! The replay memory of a receiver: the `webhook-id`s accepted while their timestamp is still
//! inside the tolerance window, bounded in count. Once a timestamp leaves the window the
//! verifier rejects the message as too old anyway, so the id can be forgotten.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, PoisonError};

use super::CallbackDefect;

/// A bounded memory of accepted message ids (the Standard Webhooks idempotency advice).
///
/// Give one to [`super::CallbackVerifier::replay_guard`]; share it between verifiers of the
/// same endpoint. Ids are recorded only after their signature verified, so forged messages
/// cannot fill it. When it is full, the id whose window closes first is dropped (and a
/// warning logged): a receiver under that much legitimate traffic needs a larger capacity,
/// or a durable store keyed by message id.
pub struct ReplayGuard {
    capacity: usize,
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    // id -> unix second after which its timestamp is outside the window.
    expiry_of: HashMap<Box<str>, i64>,
    // (expiry, id), oldest first: what to purge or evict next.
    by_expiry: BTreeSet<(i64, Box<str>)>,
}

impl ReplayGuard {
    /// A memory of at most `capacity` ids (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Seen::default()),
        }
    }

    /// How many ids are remembered now (expired ones included until the next record).
    pub fn len(&self) -> usize {
        self.lock().expiry_of.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most ids remembered at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets `id`, so the sender's retry of it is accepted: call it when the handler failed
    /// to process a verified message and answered with an error.
    pub fn forget(&self, id: &str) {
        let mut seen = self.lock();
        if let Some(expiry) = seen.expiry_of.remove(id) {
            seen.by_expiry.remove(&(expiry, id.into()));
        }
    }

    /// Records `id`, accepted at `now` (unix seconds) with a window closing at `expires`;
    /// refuses it if it is already remembered.
    pub(crate) fn record(&self, id: &str, now: i64, expires: i64) -> Result<(), CallbackDefect> {
        let mut seen = self.lock();
        seen.purge(now);
        if seen.expiry_of.contains_key(id) {
            return Err(CallbackDefect::Replayed);
        }
        if seen.expiry_of.len() >= self.capacity {
            tracing::warn!(
                capacity = self.capacity,
                "callback replay memory is full: forgetting the oldest message id"
            );
            seen.evict_oldest();
        }
        let id: Box<str> = id.into();
        seen.by_expiry.insert((expires, id.clone()));
        seen.expiry_of.insert(id, expires);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Seen {
    fn purge(&mut self, now: i64) {
        while self
            .by_expiry
            .first()
            .is_some_and(|(expiry, _)| *expiry < now)
        {
            self.evict_oldest();
        }
    }

    fn evict_oldest(&mut self) {
        if let Some((_, id)) = self.by_expiry.pop_first() {
            self.expiry_of.remove(&id);
        }
    }
}

impl fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("capacity", &self.capacity)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_record_of_the_same_id_is_a_replay() {
        let guard = ReplayGuard::new(10);
        guard.record("msg_1", 100, 400).unwrap();
        assert_eq!(
            guard.record("msg_1", 101, 401),
            Err(CallbackDefect::Replayed)
        );
        guard.record("msg_2", 101, 401).unwrap();
        assert_eq!(guard.len(), 2);
    }

    #[test]
    fn ids_are_forgotten_once_their_window_closes() {
        let guard = ReplayGuard::new(10);
        guard.record("msg_1", 100, 400).unwrap();
        guard.record("msg_2", 100, 500).unwrap();
        // At 400 the window of msg_1 is still open (inclusive bound).
        assert_eq!(
            guard.record("msg_1", 400, 700),
            Err(CallbackDefect::Replayed)
        );
        guard.record("msg_3", 401, 701).unwrap();
        assert_eq!(guard.len(), 2, "msg_1 purged, msg_2 and msg_3 kept");
        guard.record("msg_1", 401, 701).unwrap();
    }

    #[test]
    fn memory_stays_bounded_by_dropping_the_oldest_window() {
        let guard = ReplayGuard::new(3);
        for (i, expires) in [(1, 300), (2, 200), (3, 400), (4, 500)] {
            guard.record(&format!("msg_{i}"), 100, expires).unwrap();
        }
        assert_eq!(guard.len(), 3);
        // msg_2 (window closing first) was dropped; the others are still refused.
        guard.record("msg_2", 100, 200).unwrap();
        assert_eq!(
            guard.record("msg_4", 100, 500),
            Err(CallbackDefect::Replayed)
        );
        assert_eq!(guard.len(), 3);
    }

    #[test]
    fn forget_lets_a_retry_through() {
        let guard = ReplayGuard::new(4);
        guard.record("msg_1", 100, 400).unwrap();
        guard.forget("msg_1");
        assert!(guard.is_empty());
        guard.record("msg_1", 100, 400).unwrap();
        guard.forget("unknown");
        assert_eq!(guard.len(), 1);
        assert_eq!(ReplayGuard::new(0).capacity(), 1);
    }
}

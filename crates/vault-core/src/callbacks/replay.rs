//! The replay memory of a receiver: per `webhook-id`, whether a delivery of it is being
//! handled (claimed, under a lease) or was processed, while a timestamp window of it is still
//! open. The verifier asks it about every delivery whose signature verified and hands the
//! answer out as a [`Delivery`]; the receiver settles each [`Claim`] with its handler's
//! outcome, so an id counts as received only once a handler succeeded with it.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use time::Duration;

use super::CallbackDefect;
use super::verifier::VerifiedCallback;

/// A bounded memory of message ids (the Standard Webhooks idempotency advice), shared by the
/// verifiers of one endpoint through [`super::CallbackVerifier::replay_guard`].
///
/// For each id it remembers one of two states:
///
/// - **handling**: a delivery of it was accepted and its handler has not finished. Another
///   delivery of the id meanwhile is refused with [`CallbackDefect::InProgress`] (409 with
///   `Retry-After`), so one message never runs twice at once. The claim is held under a
///   [lease](ReplayGuard::lease) (default 60 s): if its handler neither succeeds nor fails
///   within it (hung, or its claim leaked), the next delivery takes the id over.
/// - **processed**: a handler succeeded with it. A redelivery is a [`Delivery::Duplicate`],
///   acknowledged with 2xx without running the handler again.
///
/// A handler that failed, panicked or was cancelled releases the id (its [`Claim`] is
/// dropped), so the sender's retry runs it again.
///
/// An id is remembered while a signed attempt of it could still verify: until the latest
/// timestamp seen with it leaves the tolerance window (and never before its lease ends).
/// After that every replay of those attempts is refused as too old anyway. Ids are recorded
/// only after their signature verified, so forged messages cannot fill the memory. When it
/// is full, the id forgotten first is dropped (and a warning logged): a receiver under that
/// much legitimate traffic needs a larger capacity, or a durable store keyed by message id.
///
/// The memory lives in the process: a restart forgets every id (a redelivery then runs the
/// handler again), so handlers with effects outside the process should still be idempotent.
pub struct ReplayGuard {
    capacity: usize,
    lease_secs: i64,
    inner: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    entries: HashMap<Box<str>, Entry>,
    // (forget_at, id), soonest first: what to purge or evict next.
    by_expiry: BTreeSet<(i64, Box<str>)>,
    // Tells claims apart, so a claim whose lease was taken over cannot settle the new one.
    next_ticket: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Entry {
    // Unix second after which every attempt seen with this id is outside the window.
    window_closes: i64,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Handling { ticket: u64, lease_ends: i64 },
    Processed,
}

impl Entry {
    /// When the id can be forgotten: its window closed and, while handled, its lease ended.
    fn forget_at(&self) -> i64 {
        match self.state {
            State::Handling { lease_ends, .. } => self.window_closes.max(lease_ends),
            State::Processed => self.window_closes,
        }
    }
}

impl ReplayGuard {
    /// How long a claim holds its id by default.
    pub const DEFAULT_LEASE: Duration = Duration::seconds(60);

    /// A memory of at most `capacity` ids (at least 1), with the default lease.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            lease_secs: Self::DEFAULT_LEASE.whole_seconds(),
            inner: Mutex::new(Seen::default()),
        }
    }

    /// How long a delivery's claim holds its id while its handler runs (whole seconds, at
    /// least 1). Longer than any healthy handler takes, so a redelivery never runs beside a
    /// slow first one; short enough that a hung handler does not hold the id for long. It is
    /// also the longest `Retry-After` the receiver answers.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease_secs = lease.whole_seconds().max(1);
        self
    }

    /// How many ids are remembered now (expired ones included until the next delivery).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most ids remembered at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The verdict on a verified delivery of `callback` at `now` (unix seconds) whose
    /// timestamp window closes at `window_closes`: claimed, a duplicate, or in progress.
    pub(crate) fn admit(
        self: &Arc<Self>,
        callback: VerifiedCallback,
        now: i64,
        window_closes: i64,
    ) -> Result<Delivery, CallbackDefect> {
        let mut seen = self.lock();
        seen.purge(now);
        let window_closes = match seen.entries.get(callback.id()).copied() {
            None => window_closes,
            Some(entry) => {
                // This attempt can be replayed until its own window closes: remember the id
                // at least that long.
                let window_closes = entry.window_closes.max(window_closes);
                match entry.state {
                    State::Processed => {
                        seen.set(
                            callback.id(),
                            Entry {
                                window_closes,
                                state: State::Processed,
                            },
                        );
                        return Ok(Delivery::Duplicate(callback.into_duplicate()));
                    }
                    State::Handling { lease_ends, .. } if now < lease_ends => {
                        seen.set(
                            callback.id(),
                            Entry {
                                window_closes,
                                state: entry.state,
                            },
                        );
                        let wait = u32::try_from(lease_ends - now).unwrap_or(u32::MAX);
                        return Err(CallbackDefect::InProgress {
                            retry_after_secs: wait,
                        });
                    }
                    State::Handling { .. } => {
                        tracing::warn!(
                            callback.id = callback.id(),
                            lease_secs = self.lease_secs,
                            "a callback handler held its message id past the lease; \
                             the redelivery takes it over"
                        );
                        window_closes
                    }
                }
            }
        };
        if !seen.entries.contains_key(callback.id()) {
            self.make_room(&mut seen);
        }
        let ticket = seen.next_ticket;
        seen.next_ticket = seen.next_ticket.wrapping_add(1);
        let lease_ends = now.saturating_add(self.lease_secs);
        seen.set(
            callback.id(),
            Entry {
                window_closes,
                state: State::Handling { ticket, lease_ends },
            },
        );
        drop(seen);
        Ok(Delivery::Fresh(Claim {
            callback,
            hold: Some(Hold {
                memory: Arc::clone(self),
                ticket,
                window_closes,
            }),
        }))
    }

    /// A handler succeeded: the id is processed, whoever holds it now.
    fn processed(&self, id: &str, window_closes: i64) {
        let mut seen = self.lock();
        let window_closes = match seen.entries.get(id).copied() {
            Some(entry) => entry.window_closes.max(window_closes),
            None => {
                // Dropped meanwhile (memory full): remember it again.
                self.make_room(&mut seen);
                window_closes
            }
        };
        seen.set(
            id,
            Entry {
                window_closes,
                state: State::Processed,
            },
        );
    }

    /// A handler failed: the id is forgotten, if this claim still holds it.
    fn release(&self, id: &str, ticket: u64) {
        let mut seen = self.lock();
        if let Some(entry) = seen.entries.get(id).copied()
            && matches!(entry.state, State::Handling { ticket: held, .. } if held == ticket)
        {
            let key = (entry.forget_at(), Box::<str>::from(id));
            seen.by_expiry.remove(&key);
            seen.entries.remove(id);
        }
    }

    fn make_room(&self, seen: &mut Seen) {
        if seen.entries.len() >= self.capacity {
            tracing::warn!(
                capacity = self.capacity,
                "callback replay memory is full: forgetting the oldest message id"
            );
            seen.evict_first();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Seen {
    /// Records `entry` for `id`, keeping the expiry order in step.
    fn set(&mut self, id: &str, entry: Entry) {
        let id: Box<str> = id.into();
        if let Some(old) = self.entries.insert(id.clone(), entry) {
            self.by_expiry.remove(&(old.forget_at(), id.clone()));
        }
        self.by_expiry.insert((entry.forget_at(), id));
    }

    fn purge(&mut self, now: i64) {
        while self
            .by_expiry
            .first()
            .is_some_and(|(forget_at, _)| *forget_at < now)
        {
            self.evict_first();
        }
    }

    fn evict_first(&mut self) {
        if let Some((_, id)) = self.by_expiry.pop_first() {
            self.entries.remove(&id);
        }
    }
}

impl fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("capacity", &self.capacity)
            .field("lease_secs", &self.lease_secs)
            .field("len", &self.len())
            .finish()
    }
}

/// A callback whose signature verified, as the replay memory sees it: fresh (run the
/// handler) or a duplicate of one already processed (do not). What
/// [`CallbackVerifier::verify`](super::CallbackVerifier::verify) returns.
///
/// ```
/// use vault_core::ManualClock;
/// use vault_core::callbacks::{CallbackSigner, CallbackVerifier, Delivery, ReplayGuard};
///
/// let secret: vault_core::callbacks::CallbackSecret =
///     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// let clock = ManualClock::default();
/// let verifier = CallbackVerifier::new(secret.clone())
///     .clock(clock.clone())
///     .replay_guard(ReplayGuard::new(10_000));
/// let signed = CallbackSigner::new(secret).clock(clock).sign("msg_1", b"{}")?;
///
/// match verifier.verify(&signed.as_headers(), b"{}")? {
///     Delivery::Fresh(claim) => {
///         // ... handle the event; then, because it succeeded:
///         claim.processed();
///     }
///     Delivery::Duplicate(_) => unreachable!("the first delivery is fresh"),
/// }
/// let again = verifier.verify(&signed.as_headers(), b"{}")?;
/// assert!(again.is_duplicate()); // answer 2xx, do not handle it again
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a fresh delivery holds a claim on its id until it is settled or dropped"]
#[derive(Debug)]
pub enum Delivery {
    /// Not processed before: run the handler, then call [`Claim::processed`] if it
    /// succeeded. Dropping the claim (a failure, a panic, a cancelled request) releases the
    /// id, so the sender's retry runs the handler again.
    Fresh(Claim),
    /// A redelivery of an id a handler already processed: acknowledge it
    /// ([`DuplicateAcknowledgement`](super::DuplicateAcknowledgement), 200) without running
    /// the handler again.
    Duplicate(VerifiedCallback),
}

impl Delivery {
    /// The verified message id and timestamp.
    pub fn callback(&self) -> &VerifiedCallback {
        match self {
            Self::Fresh(claim) => claim.callback(),
            Self::Duplicate(callback) => callback,
        }
    }

    /// The `webhook-id`.
    pub fn id(&self) -> &str {
        self.callback().id()
    }

    /// Whether this is a redelivery of an id already processed.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, Self::Duplicate(_))
    }
}

/// A fresh delivery's hold on its id in the replay memory, for as long as its handler runs.
///
/// Settle it with the handler's outcome: [`Claim::processed`] when the handler succeeded;
/// [`Claim::release`], or simply dropping it, when it did not. Dropping covers a panicking
/// or cancelled handler too. Without a replay memory a claim holds nothing and settling it
/// does nothing.
#[must_use = "dropping a claim releases its id: call `processed()` once the handler succeeded"]
pub struct Claim {
    callback: VerifiedCallback,
    hold: Option<Hold>,
}

struct Hold {
    memory: Arc<ReplayGuard>,
    ticket: u64,
    window_closes: i64,
}

impl Claim {
    /// A claim on nothing: the verifier has no replay memory.
    pub(crate) fn unheld(callback: VerifiedCallback) -> Self {
        Self {
            callback,
            hold: None,
        }
    }

    /// The verified message id and timestamp.
    pub fn callback(&self) -> &VerifiedCallback {
        &self.callback
    }

    /// The handler succeeded: redeliveries of this id are duplicates from now on.
    pub fn processed(mut self) {
        if let Some(hold) = self.hold.take() {
            hold.memory
                .processed(self.callback.id(), hold.window_closes);
        }
    }

    /// The handler failed: a redelivery of this id runs the handler again. The same as
    /// dropping the claim.
    pub fn release(self) {
        drop(self);
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(hold) = self.hold.take() {
            hold.memory.release(self.callback.id(), hold.ticket);
        }
    }
}

impl fmt::Debug for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Claim")
            .field("callback", &self.callback)
            .field("held", &self.hold.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn callback(id: &str) -> VerifiedCallback {
        VerifiedCallback::new(id.to_owned(), OffsetDateTime::UNIX_EPOCH)
    }

    fn memory(capacity: usize) -> Arc<ReplayGuard> {
        Arc::new(ReplayGuard::new(capacity).lease(Duration::seconds(30)))
    }

    fn claim(memory: &Arc<ReplayGuard>, id: &str, now: i64, window_closes: i64) -> Claim {
        match memory.admit(callback(id), now, window_closes) {
            Ok(Delivery::Fresh(claim)) => claim,
            other => panic!("{id} at {now}: {other:?}"),
        }
    }

    fn admit(memory: &Arc<ReplayGuard>, id: &str, now: i64) -> Result<bool, CallbackDefect> {
        memory
            .admit(callback(id), now, now + 300)
            .map(|delivery| delivery.is_duplicate())
    }

    #[test]
    fn a_processed_id_is_a_duplicate_and_a_released_one_is_fresh_again() {
        let memory = memory(10);
        claim(&memory, "msg_1", 100, 400).processed();
        assert_eq!(admit(&memory, "msg_1", 101), Ok(true));
        claim(&memory, "msg_2", 100, 400).release();
        assert!(memory.admit(callback("msg_2"), 101, 401).is_ok());
        assert_eq!(memory.len(), 1, "msg_1 processed, msg_2 released on drop");
    }

    #[test]
    fn an_id_being_handled_is_in_progress_until_its_lease_ends() {
        let memory = memory(10);
        let first = claim(&memory, "msg_1", 100, 400);
        assert_eq!(
            admit(&memory, "msg_1", 110),
            Err(CallbackDefect::InProgress {
                retry_after_secs: 20
            })
        );
        assert_eq!(
            admit(&memory, "msg_1", 129),
            Err(CallbackDefect::InProgress {
                retry_after_secs: 1
            })
        );
        // The lease is over: the redelivery takes the id over...
        let second = claim(&memory, "msg_1", 130, 430);
        // ...and the first claim, settled late, cannot release it.
        first.release();
        assert!(matches!(
            admit(&memory, "msg_1", 131),
            Err(CallbackDefect::InProgress { .. })
        ));
        second.processed();
        assert_eq!(admit(&memory, "msg_1", 131), Ok(true));
    }

    #[test]
    fn a_late_success_counts_even_after_the_lease_was_taken_over() {
        let memory = memory(10);
        let first = claim(&memory, "msg_1", 100, 400);
        let second = claim(&memory, "msg_1", 131, 431);
        first.processed();
        // The second run failing must not undo the first one's success.
        drop(second);
        assert_eq!(admit(&memory, "msg_1", 132), Ok(true));
    }

    #[test]
    fn ids_are_forgotten_once_their_latest_window_closes() {
        let memory = memory(10);
        claim(&memory, "msg_1", 100, 400).processed();
        // A duplicate signed later keeps the id until its own window closes.
        assert_eq!(
            memory
                .admit(callback("msg_1"), 350, 650)
                .map(|d| d.is_duplicate()),
            Ok(true)
        );
        assert!(
            memory
                .admit(callback("msg_1"), 650, 650)
                .is_ok_and(|d| d.is_duplicate()),
            "inclusive bound"
        );
        let _handled = claim(&memory, "msg_2", 651, 951);
        assert_eq!(memory.len(), 1, "msg_1 purged, msg_2 being handled");
        assert_eq!(admit(&memory, "msg_1", 652), Ok(false));
    }

    #[test]
    fn memory_stays_bounded_by_dropping_the_soonest_forgotten() {
        let memory = memory(3);
        for (i, window_closes) in [(1, 300), (2, 200), (3, 400), (4, 500)] {
            claim(&memory, &format!("msg_{i}"), 100, window_closes).processed();
        }
        assert_eq!(memory.len(), 3);
        // msg_2 (window closing first) was dropped; the others are still duplicates.
        assert_eq!(admit(&memory, "msg_4", 100), Ok(true));
        claim(&memory, "msg_2", 100, 200).processed();
        assert_eq!(memory.len(), 3);
        assert_eq!(ReplayGuard::new(0).capacity(), 1);
    }

    #[test]
    fn a_claim_without_memory_settles_nothing() {
        let claim = Claim::unheld(callback("msg_1"));
        assert_eq!(claim.callback().id(), "msg_1");
        assert!(format!("{claim:?}").contains("held: false"));
        claim.processed();
    }
}

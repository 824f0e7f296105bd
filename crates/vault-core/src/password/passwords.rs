//! [`Passwords`]: the service the accounts code calls. Argon2 runs on Tokio's blocking pool,
//! never on an async worker, and at most N at once, each in one of N pooled buffers of `m`
//! KiB: a sign-in storm queues on the semaphore instead of exhausting memory.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::PasswordDefect;
use super::breach::{BreachCheck, OnBreachCheckFailure, PasswordDigest};
use super::hash::{self, PasswordHash, Verified};
use super::memory::{HashingSlots, Slot};
use super::normalize::nfkc;
use super::params::HashParams;
use super::policy::{PasswordPolicy, PolicyContext};
use crate::Error;

/// Hashing, verification and the policy for new passwords. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    params: HashParams,
    policy: PasswordPolicy,
    max_concurrent: usize,
    slots: HashingSlots,
    counters: Arc<Counters>,
    /// Made once with the current parameters: unknown users are verified against it, so they
    /// cost what a known user with a wrong password costs.
    dummy: PasswordHash,
    breach: Option<Arc<dyn BreachCheck>>,
    on_breach_failure: OnBreachCheckFailure,
}

/// Counts of the Argon2 work done, for metrics and tests.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct HashingStats {
    /// Argon2 computations run so far (hashes and verifications, the dummy ones included).
    pub argon2_runs: u64,
    /// Hashes or verifications running right now.
    pub in_flight: usize,
    /// The most that ever ran at once; never above the configured maximum.
    pub peak_in_flight: usize,
    /// Argon2 memory buffers allocated, each of the current parameters' `memory_kib`, reused
    /// from one hash to the next; never above the configured maximum.
    pub memory_buffers: usize,
    /// Verifications of stored hashes whose parameters need more memory than a pooled
    /// buffer has (imported hashes): each allocated a buffer for itself, freed right after.
    pub temporary_buffers: u64,
}

#[derive(Default)]
struct Counters {
    runs: AtomicU64,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
}

impl Counters {
    fn enter(self: &Arc<Self>) -> InFlight {
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
        InFlight(Arc::clone(self))
    }

    fn ran(&self) {
        self.runs.fetch_add(1, Ordering::Relaxed);
    }
}

struct InFlight(Arc<Counters>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Configures [`Passwords`].
#[must_use]
pub struct PasswordsBuilder {
    params: HashParams,
    policy: PasswordPolicy,
    max_concurrent: Option<usize>,
    breach: Option<Arc<dyn BreachCheck>>,
    on_breach_failure: OnBreachCheckFailure,
}

impl PasswordsBuilder {
    /// Argon2id parameters of new hashes (default: [`HashParams::OWASP`]).
    pub fn params(mut self, params: HashParams) -> Self {
        self.params = params;
        self
    }

    /// Length limits of new passwords (default: 15 alone, 8 with a second factor, 256 at most).
    pub fn policy(mut self, policy: PasswordPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// How many hashes or verifications may run at once (at least 1). Peak hashing memory
    /// is this times `memory_kib` (one pooled buffer each); more requests wait.
    ///
    /// Default: the available parallelism minus one, at least 1. Argon2 is all CPU: with a
    /// hash on every core the async workers wait for the OS scheduler, and everything else
    /// the runtime does stalls behind the hashes (on 2 cores, a 1 ms tick beside 64
    /// verifications was 5-8 ms late at p99 with 4 at once, under 2 ms with 1; see
    /// BENCHMARKS.md). One core stays for the runtime; set more where hashing throughput
    /// matters more than latency.
    pub fn max_concurrent_hashes(mut self, max: usize) -> Self {
        self.max_concurrent = Some(max);
        self
    }

    /// Asks `check` whether a new password appeared in a breach, and what to do when it
    /// cannot answer.
    pub fn breach_check(
        mut self,
        check: Arc<dyn BreachCheck>,
        on_failure: OnBreachCheckFailure,
    ) -> Self {
        self.breach = Some(check);
        self.on_breach_failure = on_failure;
        self
    }

    /// Checks the configuration and makes the dummy hash for unknown users (one hash's time,
    /// on the calling thread).
    pub fn build(self) -> Result<Passwords, Error> {
        let argon2 = self.params.argon2().map_err(Error::Password)?;
        let policy = self.policy;
        if policy.min_single_factor == 0
            || policy.min_with_second_factor == 0
            || policy.max < 64
            || policy.max < policy.min_single_factor
            || policy.max < policy.min_with_second_factor
        {
            return Err(Error::Password(PasswordDefect::InvalidPolicy));
        }
        let max_concurrent = self
            .max_concurrent
            .unwrap_or_else(default_max_concurrent)
            .max(1);
        let slots = HashingSlots::new(max_concurrent, argon2.params().block_count());
        let dummy = {
            use rand::TryRng;
            let mut throwaway = Zeroizing::new([0u8; 32]);
            rand::rngs::SysRng
                .try_fill_bytes(throwaway.as_mut())
                .map_err(|_| Error::Randomness)?;
            // Nobody else holds a slot yet.
            let mut slot = slots
                .try_acquire()
                .ok_or(Error::Password(PasswordDefect::HashingFailed))?;
            hash::hash_blocking(&self.params, throwaway.as_ref(), &mut slot)?
        };
        Ok(Passwords {
            inner: Arc::new(Inner {
                params: self.params,
                policy,
                max_concurrent,
                slots,
                counters: Arc::default(),
                dummy,
                breach: self.breach,
                on_breach_failure: self.on_breach_failure,
            }),
        })
    }
}

/// The available parallelism minus the core left to the async runtime, at least 1.
fn default_max_concurrent() -> usize {
    std::thread::available_parallelism().map_or(1, |cores| cores.get().saturating_sub(1).max(1))
}

impl Passwords {
    /// A builder with the defaults: OWASP parameters, the NIST policy, no breach check.
    pub fn builder() -> PasswordsBuilder {
        PasswordsBuilder {
            params: HashParams::default(),
            policy: PasswordPolicy::default(),
            max_concurrent: None,
            breach: None,
            on_breach_failure: OnBreachCheckFailure::default(),
        }
    }

    /// Hashes a password (its NFKC form) with a fresh salt into a PHC string. The plaintext
    /// is wiped when done. Refuses passwords longer than the policy's maximum (hashing never
    /// truncates), but applies no other rule: call [`Passwords::check_new`] first.
    pub async fn hash(&self, password: SecretString) -> Result<PasswordHash, Error> {
        let params = self.inner.params;
        let max = self.inner.policy.max;
        let counters = Arc::clone(&self.inner.counters);
        self.blocking(move |slot| {
            let normalized = nfkc(password.expose_secret());
            drop(password);
            if normalized.chars().count() > max {
                return Err(Error::Password(PasswordDefect::TooLong { max }));
            }
            counters.ran();
            hash::hash_blocking(&params, normalized.as_bytes(), slot)
        })
        .await
    }

    /// Verifies a password against the stored hash of the account, or, for an unknown
    /// account (`None`), against a dummy hash so that both take the same time; an unknown
    /// account never matches.
    ///
    /// The NFKC form is tried first; a password that is not in NFKC form is also tried as
    /// typed, for hashes imported from systems that did not normalise (a match that way asks
    /// for a rehash). Stored hashes of any Argon2 variant verify; when the match used other
    /// parameters than the current ones, `needs_rehash` says to store [`Passwords::hash`] of
    /// the same password.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<&PasswordHash>,
    ) -> Result<Verified, Error> {
        if password.expose_secret().len() > self.inner.policy.max.saturating_mul(16) {
            // Longer than any password this service accepts; refusing reveals nothing about
            // the account, only about the input.
            return Ok(Verified::NO_MATCH);
        }
        let params = self.inner.params;
        let stored = stored.cloned();
        let inner = Arc::clone(&self.inner);
        self.blocking(move |slot| {
            let raw = password.expose_secret();
            let normalized = nfkc(raw);
            let mut candidates: Vec<&[u8]> = vec![normalized.as_bytes()];
            if normalized.as_str() != raw {
                candidates.push(raw.as_bytes());
            }
            let Some(stored) = stored else {
                for candidate in candidates {
                    inner.counters.ran();
                    hash::verify_blocking(&inner.dummy, candidate, slot)?;
                }
                return Ok(Verified::NO_MATCH);
            };
            for (i, candidate) in candidates.into_iter().enumerate() {
                inner.counters.ran();
                if hash::verify_blocking(&stored, candidate, slot)? {
                    return Ok(Verified {
                        matched: true,
                        needs_rehash: i > 0 || hash::needs_rehash(&stored, &params),
                    });
                }
            }
            Ok(Verified::NO_MATCH)
        })
        .await
    }

    /// Checks a new password against the policy and, when configured, the breached-password
    /// check. Returns `Error::Password` with the first defect found.
    pub async fn check_new(
        &self,
        password: &SecretString,
        context: &PolicyContext<'_>,
    ) -> Result<(), Error> {
        self.inner
            .policy
            .check(password, context)
            .map_err(Error::Password)?;
        let Some(breach) = &self.inner.breach else {
            return Ok(());
        };
        let digest = PasswordDigest::of(password);
        match breach.times_seen(&digest).await {
            Ok(0) => Ok(()),
            Ok(_) => Err(Error::Password(PasswordDefect::Breached)),
            Err(failure) => match self.inner.on_breach_failure {
                OnBreachCheckFailure::Accept => {
                    tracing::warn!(error = %failure, "breached-password check failed; accepting on the local rules");
                    Ok(())
                }
                OnBreachCheckFailure::Refuse => {
                    tracing::warn!(error = %failure, "breached-password check failed; refusing the password");
                    Err(Error::Password(PasswordDefect::BreachCheckUnavailable))
                }
            },
        }
    }

    /// The Argon2id parameters of new hashes.
    pub fn params(&self) -> HashParams {
        self.inner.params
    }

    /// The length limits of new passwords.
    pub fn policy(&self) -> PasswordPolicy {
        self.inner.policy
    }

    /// How many hashes or verifications may run at once.
    pub fn max_concurrent_hashes(&self) -> usize {
        self.inner.max_concurrent
    }

    /// Counts of the Argon2 work done so far.
    pub fn stats(&self) -> HashingStats {
        let counters = &self.inner.counters;
        HashingStats {
            argon2_runs: counters.runs.load(Ordering::Relaxed),
            in_flight: counters.in_flight.load(Ordering::SeqCst),
            peak_in_flight: counters.peak.load(Ordering::SeqCst),
            memory_buffers: self.inner.slots.buffers(),
            temporary_buffers: self.inner.slots.temporary_buffers(),
        }
    }

    /// Runs `work` on the blocking pool once a slot (a permit and its pooled memory) is
    /// free. The slot moves into the task, so a caller that gives up does not free it before
    /// the computation ends.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Slot) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let mut slot = self.inner.slots.acquire().await?;
        let counters = Arc::clone(&self.inner.counters);
        tokio::task::spawn_blocking(move || {
            let _in_flight = counters.enter();
            work(&mut slot)
        })
        .await
        .map_err(|_| Error::Password(PasswordDefect::HashingFailed))?
    }
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.inner.params)
            .field("policy", &self.inner.policy)
            .field("max_concurrent_hashes", &self.inner.max_concurrent)
            .field("breach_check", &self.inner.breach.is_some())
            .field("on_breach_failure", &self.inner.on_breach_failure)
            .finish_non_exhaustive()
    }
}

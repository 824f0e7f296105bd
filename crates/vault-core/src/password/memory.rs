//! Argon2's working memory. A hash runs in a slot: a permit of the bound on concurrent hashes
//! and, with it, one of at most N reusable buffers (N = the bound). Freed 19 MiB blocks would
//! otherwise stay in the allocator's arena of whichever blocking thread ran the hash, so
//! resident memory grew with the number of threads, not with the bound.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::Block;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::PasswordDefect;
use crate::Error;

/// The permits to hash and the pool of buffers that goes with them, one buffer per permit.
pub(crate) struct HashingSlots {
    permits: Arc<Semaphore>,
    pool: Arc<MemoryPool>,
}

struct MemoryPool {
    /// Blocks (1 KiB each) per pooled buffer: what the current parameters need.
    blocks_per_buffer: usize,
    /// The most buffers the pool ever allocates: the number of permits.
    capacity: usize,
    /// Buffers not lent to a slot right now.
    free: Mutex<Vec<Box<[Block]>>>,
    /// Buffers allocated so far (lent or free); never above `capacity`.
    allocated: AtomicUsize,
    /// Computations that needed more blocks than a pooled buffer has (stored hashes with
    /// bigger parameters) and allocated a buffer for themselves.
    temporary: AtomicU64,
}

impl HashingSlots {
    /// `capacity` permits and up to as many buffers of `blocks_per_buffer` blocks, allocated
    /// when first needed.
    pub(crate) fn new(capacity: usize, blocks_per_buffer: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(capacity)),
            pool: Arc::new(MemoryPool {
                blocks_per_buffer,
                capacity,
                free: Mutex::new(Vec::with_capacity(capacity)),
                allocated: AtomicUsize::new(0),
                temporary: AtomicU64::new(0),
            }),
        }
    }

    /// Waits for a free slot.
    pub(crate) async fn acquire(&self) -> Result<Slot, Error> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Password(PasswordDefect::HashingFailed))?;
        Ok(self.slot(permit))
    }

    /// A slot if one is free now (at build time, for the dummy hash).
    pub(crate) fn try_acquire(&self) -> Option<Slot> {
        let permit = Arc::clone(&self.permits).try_acquire_owned().ok()?;
        Some(self.slot(permit))
    }

    fn slot(&self, permit: OwnedSemaphorePermit) -> Slot {
        Slot {
            buffer: None,
            pool: Arc::clone(&self.pool),
            _permit: permit,
        }
    }

    /// Buffers the pool has allocated (lent or free).
    pub(crate) fn buffers(&self) -> usize {
        self.pool.allocated.load(Ordering::SeqCst)
    }

    /// Computations that allocated a buffer of their own.
    pub(crate) fn temporary_buffers(&self) -> u64 {
        self.pool.temporary.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    fn free_buffers(&self) -> usize {
        self.pool.lock_free().len()
    }
}

impl MemoryPool {
    fn lock_free(&self) -> std::sync::MutexGuard<'_, Vec<Box<[Block]>>> {
        // A panic while holding the lock cannot leave the list half-changed (push and pop).
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A free buffer, or a new one while fewer than `capacity` exist.
    ///
    /// Every slot holds at most one buffer, gives it back before its permit goes, and there
    /// are `capacity` permits; so when the free list is empty, the buffers all belong to other
    /// live slots, fewer than `capacity`, and a new one fits. The counter enforces that anyway.
    fn take(&self) -> Option<Box<[Block]>> {
        if let Some(buffer) = self.lock_free().pop() {
            return Some(buffer);
        }
        self.allocated
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .ok()?;
        Some(zeroed(self.blocks_per_buffer))
    }

    fn give_back(&self, buffer: Box<[Block]>) {
        self.lock_free().push(buffer);
    }
}

fn zeroed(blocks: usize) -> Box<[Block]> {
    vec![Block::new(); blocks].into_boxed_slice()
}

/// The right to run one Argon2 computation, and the memory for it. Dropping it gives the
/// buffer back to the pool, then frees the permit.
pub(crate) struct Slot {
    buffer: Option<Box<[Block]>>,
    pool: Arc<MemoryPool>,
    // Dropped after `Drop::drop` has given the buffer back.
    _permit: OwnedSemaphorePermit,
}

impl Slot {
    /// Runs `compute` on `blocks` blocks: a prefix of the pooled buffer, or, when a stored hash
    /// asks for more than the pooled size, a buffer for this computation alone (still one per
    /// permit). The blocks are wiped afterwards: they are derived from the password, and the
    /// first ones test a guess far cheaper than a whole Argon2 run.
    pub(crate) fn with_blocks<T>(
        &mut self,
        blocks: usize,
        compute: impl FnOnce(&mut [Block]) -> T,
    ) -> T {
        if blocks > self.pool.blocks_per_buffer {
            self.pool.temporary.fetch_add(1, Ordering::Relaxed);
            let mut temporary = zeroed(blocks);
            return run_and_wipe(&mut temporary, compute);
        }
        if self.buffer.is_none() {
            self.buffer = self.pool.take();
        }
        match &mut self.buffer {
            Some(buffer) => run_and_wipe(&mut buffer[..blocks], compute),
            None => {
                // Unreachable while the slot invariant holds; stay correct if it does not.
                self.pool.temporary.fetch_add(1, Ordering::Relaxed);
                run_and_wipe(&mut zeroed(blocks), compute)
            }
        }
    }
}

fn run_and_wipe<T>(blocks: &mut [Block], compute: impl FnOnce(&mut [Block]) -> T) -> T {
    let result = compute(blocks);
    // Not dead stores: the buffer is read by the next computation (or freed right after, and
    // a write through a `&mut` the optimiser cannot see the end of is kept).
    blocks.fill(Block::new());
    std::hint::black_box(&*blocks);
    result
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(buffer) = self.buffer.take() {
            self.pool.give_back(buffer);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn the_pool_never_holds_more_buffers_than_permits() {
        const PERMITS: usize = 3;
        let slots = Arc::new(HashingSlots::new(PERMITS, 8));
        let tasks: Vec<_> = (0..48)
            .map(|i| {
                let slots = Arc::clone(&slots);
                tokio::spawn(async move {
                    let mut slot = slots.acquire().await.unwrap();
                    tokio::task::spawn_blocking(move || {
                        slot.with_blocks(8 - i % 4, |blocks| {
                            blocks[0] = Block::new();
                            std::thread::sleep(Duration::from_millis(2));
                        });
                        drop(slot);
                    })
                    .await
                    .unwrap();
                    let (allocated, free) = (slots.buffers(), slots.free_buffers());
                    assert!(allocated <= PERMITS && free <= allocated);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert!(slots.buffers() <= PERMITS);
        assert!(slots.buffers() >= 1);
        assert_eq!(
            slots.free_buffers(),
            slots.buffers(),
            "every buffer came back"
        );
        assert_eq!(slots.temporary_buffers(), 0);
    }

    #[test]
    fn a_bigger_computation_gets_a_buffer_of_its_own() {
        let slots = HashingSlots::new(1, 8);
        let mut slot = slots.try_acquire().unwrap();
        let seen = slot.with_blocks(16, |blocks| blocks.len());
        assert_eq!(seen, 16);
        assert_eq!((slots.buffers(), slots.temporary_buffers()), (0, 1));
        let seen = slot.with_blocks(4, |blocks| blocks.len());
        assert_eq!(seen, 4, "a prefix of the pooled buffer");
        assert_eq!((slots.buffers(), slots.temporary_buffers()), (1, 1));
        assert!(slots.try_acquire().is_none(), "one permit");
        drop(slot);
        assert_eq!(slots.free_buffers(), 1);
    }

    #[test]
    fn blocks_are_wiped_after_each_computation() {
        let slots = HashingSlots::new(1, 8);
        let mut slot = slots.try_acquire().unwrap();
        slot.with_blocks(8, |blocks| {
            for block in blocks.iter_mut() {
                block.as_mut().fill(7);
            }
        });
        let all_zero = slot.with_blocks(8, |blocks| {
            blocks
                .iter()
                .all(|block| block.as_ref().iter().all(|&word| word == 0))
        });
        assert!(all_zero);
    }
}

//! Argon2id cost parameters. Memory is what makes Argon2 expensive on GPUs and ASICs: an
//! attacker pays `memory_kib` per guess in flight, so memory buys more than iterations.
//! OWASP's minimum (m = 19 MiB, t = 2, p = 1) costs about 30 ms and 19 MiB per hash here.

use argon2::{Algorithm, Argon2, Params, Version};

use super::PasswordDefect;

/// Argon2id cost parameters for new hashes. Stored hashes with other parameters still verify
/// (their own parameters are in the PHC string) and are flagged for an upgrade.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HashParams {
    /// Memory per hash in KiB (`m`). Each hash in flight holds this much RAM.
    pub memory_kib: u32,
    /// Passes over the memory (`t`).
    pub iterations: u32,
    /// Lanes (`p`). Computed one after the other here: raising it raises the time.
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's Password Storage Cheat Sheet minimum for Argon2id: m = 19456 KiB, t = 2, p = 1.
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    /// RFC 9106's second recommended option (§4, for memory-constrained settings):
    /// m = 64 MiB, t = 3, p = 4. About 3.4 times the memory of [`HashParams::OWASP`] per hash in
    /// flight, and more time (the 4 lanes run one after the other here); choose it where
    /// sign-ins are few and memory is plentiful. A stored hash with lower parameters is
    /// upgraded at its next sign-in either way.
    pub const RFC9106_LOW_MEMORY: Self = Self {
        memory_kib: 64 * 1024,
        iterations: 3,
        parallelism: 4,
    };

    /// Cheap parameters for tests and examples (m = 64 KiB, t = 1, p = 1). Never in production.
    pub const INSECURE_FAST: Self = Self {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    /// The memory one hash holds, in bytes.
    pub fn memory_bytes(&self) -> u64 {
        u64::from(self.memory_kib) * 1024
    }

    pub(crate) fn argon2(&self) -> Result<Argon2<'static>, PasswordDefect> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|_| PasswordDefect::InvalidParameters)?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

impl Default for HashParams {
    fn default() -> Self {
        Self::OWASP
    }
}

/// The most a stored (possibly imported) hash may ask for before it is refused, so a row with
/// `m=4194304` cannot take gigabytes per sign-in: 256 MiB and 16 passes.
pub(crate) const MAX_STORED_MEMORY_KIB: u32 = 256 * 1024;
pub(crate) const MAX_STORED_ITERATIONS: u32 = 16;
pub(crate) const MAX_STORED_PARALLELISM: u32 = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_owasp_minimum() {
        assert_eq!(
            HashParams::default(),
            HashParams {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
        assert_eq!(HashParams::default().memory_bytes(), 19 * 1024 * 1024);
    }

    #[test]
    fn the_rfc_9106_preset_is_its_second_recommended_option() {
        let p = HashParams::RFC9106_LOW_MEMORY;
        assert_eq!(
            (p.memory_bytes(), p.iterations, p.parallelism),
            (64 << 20, 3, 4)
        );
        assert!(p.argon2().is_ok());
    }

    #[test]
    fn argon2_refuses_impossible_parameters() {
        let zero_time = HashParams {
            iterations: 0,
            ..HashParams::OWASP
        };
        assert_eq!(
            zero_time.argon2().err(),
            Some(PasswordDefect::InvalidParameters)
        );
        let too_little_memory = HashParams {
            memory_kib: 1,
            ..HashParams::OWASP
        };
        assert_eq!(
            too_little_memory.argon2().err(),
            Some(PasswordDefect::InvalidParameters)
        );
    }
}

//! Bounded password hashing: [`HashPool`] runs at most N Argon2id
//! verifications at once, each in one of N memory areas allocated once and
//! reused, and admits at most a bounded queue of requests beyond them; a
//! request that finds the queue full is refused at once (the caller answers
//! 503 with `Retry-After`) instead of allocating.
//!
//! Argon2id at the server's parameters needs 19 MiB per hash. Handing each
//! hash to the blocking pool with a fresh allocation, as before, let a few
//! hundred concurrent password grants reach gigabytes: hundreds of threads,
//! each allocating, and the allocator keeping the freed areas in per-thread
//! arenas. Here the memory is N areas for the life of the process, whatever
//! the load and whichever thread runs the hash. Each area is wiped after
//! every use.
//!
//! Every Argon2id verification of the server goes through the pool:
//! passwords, the reference hash that unknown usernames are checked
//! against, and short client secrets. Creating hashes (`add-user`,
//! `add-client`, the reference hash at start) does not.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use subtle::ConstantTimeEq;
use tokio::sync::{Semaphore, SemaphorePermit};
use zeroize::{Zeroize, Zeroizing};

use crate::credentials;

/// The most bytes an Argon2 output in a PHC string can have.
const MAX_OUTPUT: usize = 64;

/// At most N Argon2id verifications at once, with a bounded queue.
#[derive(Debug)]
pub struct HashPool {
    /// Admission: the running hashes plus the queue.
    admission: Semaphore,
    /// The running hashes.
    workers: Semaphore,
    /// The memory areas not in use (allocated on first need, then kept).
    memory: Mutex<Vec<Box<[Block]>>>,
    /// Blocks per area: what the server's own parameters need.
    blocks: usize,
    concurrency: usize,
    queue: usize,
    verifications: AtomicU64,
}

/// The pool is full: no hash slot and no room in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// A place in the pool (running or queued), held from admission until the
/// verification it was admitted for is done.
#[derive(Debug)]
pub struct Admission<'a> {
    pool: &'a HashPool,
    _permit: SemaphorePermit<'a>,
}

impl HashPool {
    /// A pool of `concurrency` hashes at once (at least 1) and `queue`
    /// requests waiting beyond them.
    #[must_use]
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            admission: Semaphore::new(concurrency.saturating_add(queue)),
            workers: Semaphore::new(concurrency),
            memory: Mutex::new(Vec::with_capacity(concurrency)),
            blocks: credentials::argon2().params().block_count(),
            concurrency,
            queue,
            verifications: AtomicU64::new(0),
        }
    }

    /// How many hashes run at once.
    #[must_use]
    pub fn concurrency(&self) -> usize {
        self.concurrency
    }

    /// How many requests may wait beyond them.
    #[must_use]
    pub fn queue(&self) -> usize {
        self.queue
    }

    /// How many verifications have run (each costs one Argon2 hash).
    #[must_use]
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Verifications running now (for the metrics).
    #[must_use]
    pub fn running(&self) -> usize {
        self.concurrency
            .saturating_sub(self.workers.available_permits())
    }

    /// Requests admitted and waiting for a hash slot now: the queue's depth
    /// (for the metrics).
    #[must_use]
    pub fn waiting(&self) -> usize {
        let admitted = self
            .concurrency
            .saturating_add(self.queue)
            .saturating_sub(self.admission.available_permits());
        admitted.saturating_sub(self.running())
    }

    /// A place in the pool, or [`Busy`] at once when it is full.
    ///
    /// # Errors
    ///
    /// [`Busy`] when every hash slot and queue place is taken.
    pub fn admit(&self) -> Result<Admission<'_>, Busy> {
        self.admission
            .try_acquire()
            .map(|permit| Admission {
                pool: self,
                _permit: permit,
            })
            .map_err(|_| Busy)
    }

    fn take_memory(&self) -> Option<Box<[Block]>> {
        self.memory.lock().ok().and_then(|mut areas| areas.pop())
    }

    fn put_memory(&self, area: Box<[Block]>) {
        if let Ok(mut areas) = self.memory.lock()
            && areas.len() < self.concurrency
        {
            areas.push(area);
        }
    }
}

impl Admission<'_> {
    /// Verifies `secret` against the PHC string `phc` once a hash slot is
    /// free, off the async threads. A PHC string that does not parse, or
    /// is not Argon2, verifies nothing (`false`), at no hashing cost.
    ///
    /// The request's database connection goes back to the pool first
    /// ([`totp_engine_sqlx::lease::release`]): none is held idle while a
    /// hash waits for a slot or runs.
    pub async fn verify(self, secret: Zeroizing<String>, phc: String) -> bool {
        totp_engine_sqlx::lease::release().await;
        let pool = self.pool;
        let Ok(_worker) = pool.workers.acquire().await else {
            return false;
        };
        pool.verifications.fetch_add(1, Ordering::Relaxed);
        let blocks = pool.blocks;
        let area = pool.take_memory();
        let done = tokio::task::spawn_blocking(move || {
            let mut area =
                area.unwrap_or_else(|| vec![Block::default(); blocks].into_boxed_slice());
            let ok = verify_in(&mut area, secret.as_bytes(), &phc);
            (ok, area)
        })
        .await;
        match done {
            Ok((ok, area)) => {
                pool.put_memory(area);
                ok
            }
            // The hash panicked; its area is gone and is allocated anew
            // when next needed.
            Err(_) => false,
        }
    }
}

/// Argon2 verification of `secret` against `phc` with `area` as the
/// algorithm's memory (a larger temporary area if the stored parameters
/// need more than it has); `area` is wiped afterwards. The comparison is
/// constant-time.
fn verify_in(area: &mut [Block], secret: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params), Some(salt), Some(expected)) = (
        Algorithm::try_from(hash.algorithm),
        Params::try_from(&hash),
        hash.salt,
        hash.hash,
    ) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let expected = expected.as_bytes();
    let mut out = Zeroizing::new([0u8; MAX_OUTPUT]);
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let needed = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let hashed = match area.get_mut(..needed) {
        Some(memory) => {
            let hashed = argon2.hash_password_into_with_memory(secret, salt, out, &mut *memory);
            memory.fill(Block::default());
            hashed
        }
        None => {
            let mut memory = vec![Block::default(); needed];
            let hashed = argon2.hash_password_into_with_memory(secret, salt, out, &mut memory);
            for block in &mut memory {
                block.as_mut().zeroize();
            }
            hashed
        }
    };
    hashed.is_ok() && bool::from(out.ct_eq(expected))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[tokio::test]
    async fn verifies_like_the_argon2_crate_and_counts_each_hash() {
        let pool = HashPool::new(2, 1);
        let phc = credentials::hash_password("pw").unwrap();
        let verify = |s: &str| {
            pool.admit()
                .unwrap()
                .verify(Zeroizing::new(s.to_owned()), phc.clone())
        };
        assert!(verify("pw").await);
        assert!(!verify("pW").await);
        assert!(!verify("").await);
        assert_eq!(pool.verifications(), 3);
        // Not a PHC string: nothing to hash.
        let admitted = pool.admit().unwrap();
        assert!(
            !admitted
                .verify(Zeroizing::new("pw".into()), "nope".into())
                .await
        );
        assert_eq!(pool.verifications(), 4);
        // One area per slot, reused.
        assert!(pool.memory.lock().unwrap().len() <= 2);
    }

    #[tokio::test]
    async fn a_full_pool_refuses_at_once() {
        let pool = HashPool::new(1, 1);
        let first = pool.admit().unwrap();
        let second = pool.admit().unwrap();
        assert_eq!(pool.admit().unwrap_err(), Busy);
        // Admitted, none running yet: both wait.
        assert_eq!((pool.running(), pool.waiting()), (0, 2));
        let worker = pool.workers.try_acquire().unwrap();
        assert_eq!((pool.running(), pool.waiting()), (1, 1));
        drop(worker);
        drop(first);
        let third = pool.admit().unwrap();
        drop((second, third));
        assert!(pool.admit().is_ok());
    }

    #[test]
    fn stronger_stored_parameters_still_verify() {
        // m = 32 MiB: more than the pool's areas hold.
        let params = Params::new(32 * 1024, 1, 1, None).unwrap();
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = argon2::password_hash::SaltString::encode_b64(&[7u8; 16]).unwrap();
        let phc = argon2::PasswordHasher::hash_password(&argon2, b"pw", &salt)
            .unwrap()
            .to_string();
        let mut area = vec![Block::default(); 8];
        assert!(verify_in(&mut area, b"pw", &phc));
        assert!(!verify_in(&mut area, b"px", &phc));
    }
}

//! The back-off after an Unknown Pool Handle answer: a pool the registrars
//! said they do not know is not asked for again before the back-off ends;
//! requests meanwhile fail at once.

use std::vec::Vec;

use crate::id::PoolHandle;
use crate::time::{Duration, Instant};

/// The first back-off after an Unknown Pool Handle answer.
pub const UNKNOWN_POOL_BACKOFF: core::time::Duration = core::time::Duration::from_millis(200);

/// The longest back-off (it doubles after each further answer).
pub const UNKNOWN_POOL_BACKOFF_MAX: core::time::Duration = core::time::Duration::from_secs(5);

/// The back-offs in the machines' time.
const FIRST: Duration = Duration::from_micros(UNKNOWN_POOL_BACKOFF.as_micros() as u64);
const MAX: Duration = Duration::from_micros(UNKNOWN_POOL_BACKOFF_MAX.as_micros() as u64);

/// Pools remembered as unknown at most; beyond, the one whose back-off
/// ends first is forgotten.
pub const UNKNOWN_POOLS: usize = 256;

#[derive(Clone, Copy, Debug)]
struct Entry {
    pool: PoolHandle,
    /// No resolution before this.
    until: Instant,
    /// The back-off after the next Unknown Pool Handle answer.
    next: Duration,
}

/// The pools answered with Unknown Pool Handle, with their back-off.
#[derive(Clone, Debug, Default)]
pub(crate) struct UnknownPools {
    entries: Vec<Entry>,
}

impl UnknownPools {
    /// Whether `pool` is in its back-off at `now`.
    pub(crate) fn blocked(&self, pool: &PoolHandle, now: Instant) -> bool {
        self.entries
            .iter()
            .any(|e| e.pool == *pool && now < e.until)
    }

    /// A registrar answered Unknown Pool Handle for `pool` at `now`: the
    /// back-off starts (200 ms the first time, then doubled up to 5 s).
    pub(crate) fn unknown(&mut self, pool: PoolHandle, now: Instant) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.pool == pool) {
            e.until = now + e.next;
            e.next = e.next.saturating_mul(2).min(MAX);
            return;
        }
        if self.entries.len() >= UNKNOWN_POOLS {
            if let Some(i) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.until)
                .map(|(i, _)| i)
            {
                self.entries.swap_remove(i);
            }
        }
        self.entries.push(Entry {
            pool,
            until: now + FIRST,
            next: FIRST.saturating_mul(2).min(MAX),
        });
    }

    /// `pool` was resolved: its back-off is forgotten.
    pub(crate) fn known(&mut self, pool: &PoolHandle) {
        self.entries.retain(|e| e.pool != *pool);
    }

    /// How many pools are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: u32) -> PoolHandle {
        PoolHandle::new(&n.to_be_bytes()).unwrap()
    }

    #[test]
    fn doubles_up_to_the_limit_and_resets_on_success() {
        let mut u = UnknownPools::default();
        let p = pool(1);
        let mut now = Instant::ZERO;
        assert!(!u.blocked(&p, now));
        let mut waits = Vec::new();
        for _ in 0..8 {
            u.unknown(p, now);
            let mut wait = Duration::ZERO;
            while u.blocked(&p, now + wait) {
                wait += Duration::from_millis(100);
            }
            waits.push(wait.as_millis());
            now += wait;
        }
        assert_eq!(waits, [200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
        assert!(!u.blocked(&pool(2), Instant::ZERO));
        u.known(&p);
        assert!(!u.blocked(&p, now));
        u.unknown(p, now);
        assert!(u.blocked(&p, now + Duration::from_millis(199)));
        assert!(!u.blocked(&p, now + Duration::from_millis(200)));
    }

    #[test]
    fn the_table_is_bounded() {
        let mut u = UnknownPools::default();
        for n in 0..(UNKNOWN_POOLS as u32 + 50) {
            u.unknown(pool(n), Instant::ZERO + Duration::from_millis(u64::from(n)));
        }
        assert_eq!(u.len(), UNKNOWN_POOLS);
        // The newest are kept.
        let last = UNKNOWN_POOLS as u32 + 49;
        assert!(u.blocked(
            &pool(last),
            Instant::ZERO + Duration::from_millis(u64::from(last))
        ));
    }
}

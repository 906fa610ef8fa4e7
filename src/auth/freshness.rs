//! How old a key snapshot may be. A node verifies keys from memory; it learns
//! of revocations made on other nodes only by asking the database. When it has
//! not been able to confirm a snapshot for longer than the operator allows
//! (`KEYHUB_KEYS_MAX_STALE_SECONDS`), it must stop vouching for keys — a key
//! revoked meanwhile elsewhere would otherwise keep working for as long as the
//! database is gone. Key-guarded requests then get 503 `keys_unavailable`,
//! and `/readyz` says why, until a confirmation arrives.
//!
//! Its clock can be moved on (`advance`), so a test can make time pass
//! without waiting for it; keyhub itself never does.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub struct Freshness {
    /// The clock's origin; confirmations are stored as milliseconds since it.
    origin: Instant,
    confirmed_ms: AtomicU64,
    max_stale: Duration,
    /// How far this clock runs ahead of the real one (tests only move it).
    ahead_ms: AtomicU64,
}

impl Freshness {
    /// Starts confirmed (a snapshot is loaded before the node serves).
    pub fn new(max_stale: Duration) -> Freshness {
        Freshness { origin: Instant::now(), confirmed_ms: AtomicU64::new(0), max_stale, ahead_ms: AtomicU64::new(0) }
    }

    /// Now, on this snapshot's clock: watchers take the moment they ask the
    /// database from here, and confirm it with `confirm_at`.
    pub fn now(&self) -> Instant {
        Instant::now() + Duration::from_millis(self.ahead_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock on by `by`, as if that much time had passed.
    pub fn advance(&self, by: Duration) {
        self.ahead_ms.fetch_add(u64::try_from(by.as_millis()).unwrap_or(u64::MAX / 2), Ordering::Relaxed);
    }

    fn ms(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    /// The snapshot matched the database at `at`.
    pub fn confirm_at(&self, at: Instant) {
        self.confirmed_ms.fetch_max(self.ms(at), Ordering::Relaxed);
    }

    pub fn confirm(&self) {
        self.confirm_at(self.now());
    }

    /// Time since the last confirmation, seen at `now`.
    pub fn age_at(&self, now: Instant) -> Duration {
        Duration::from_millis(self.ms(now).saturating_sub(self.confirmed_ms.load(Ordering::Relaxed)))
    }

    pub fn age(&self) -> Duration {
        self.age_at(self.now())
    }

    pub fn fresh_at(&self, now: Instant) -> bool {
        self.age_at(now) <= self.max_stale
    }

    /// Whether keys may be verified from the snapshot now.
    pub fn fresh(&self) -> bool {
        self.fresh_at(self.now())
    }

    pub fn max_stale(&self) -> Duration {
        self.max_stale
    }

    /// How often a watcher should confirm: `usual`, or often enough that a
    /// healthy node never looks stale between two confirmations.
    pub fn poll_every(&self, usual: Duration) -> Duration {
        usual.min(self.max_stale / 3).max(Duration::from_millis(100))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_goes_stale_after_the_limit_and_fresh_again_when_confirmed() {
        let f = Freshness::new(Duration::from_secs(30));
        let t0 = Instant::now();
        f.confirm_at(t0);
        assert!(f.fresh_at(t0 + Duration::from_secs(29)));
        assert!(f.fresh_at(t0 + Duration::from_secs(30)));
        assert!(!f.fresh_at(t0 + Duration::from_secs(31)), "not confirmed for 31 s: fail closed");
        assert_eq!(f.age_at(t0 + Duration::from_secs(31)), Duration::from_secs(31));
        f.confirm_at(t0 + Duration::from_secs(40));
        assert!(f.fresh_at(t0 + Duration::from_secs(41)), "confirmed again: keys are verified again");
        // A late confirmation of an older moment does not move the clock back.
        f.confirm_at(t0 + Duration::from_secs(35));
        assert_eq!(f.age_at(t0 + Duration::from_secs(41)), Duration::from_secs(1));
    }

    #[test]
    fn an_advanced_clock_ages_the_snapshot_until_it_is_confirmed_again() {
        let f = Freshness::new(Duration::from_secs(30));
        assert!(f.fresh());
        f.advance(Duration::from_secs(31));
        assert!(!f.fresh() && f.age() >= Duration::from_secs(31));
        f.confirm_at(f.now());
        assert!(f.fresh());
    }
}

//! The time keys are judged by (expiry). keyhub runs on the real clock; a
//! test moves it on (`advance`) to see a key expire without waiting for it,
//! as `auth::freshness` does for snapshot age. keyhub itself never moves it.
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};

#[derive(Default)]
pub struct Clock {
    ahead_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::milliseconds(self.ahead_ms.load(Ordering::Relaxed))
    }

    /// `now()` in Unix milliseconds, without the calendar: for counting
    /// every request (`usage`).
    pub fn now_ms(&self) -> i64 {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(since.as_millis()).unwrap_or(i64::MAX) + self.ahead_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock on by `by`, as if that much time had passed.
    pub fn advance(&self, by: std::time::Duration) {
        self.ahead_ms.fetch_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX / 2), Ordering::Relaxed);
    }
}

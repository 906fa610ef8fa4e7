//! Login throttling: a sliding window of failures per client address and per
//! account. A window passes, so the real user is never locked out for good;
//! the per-account limit is higher than one attacker's per-address limit only
//! matters when the attacker spreads over many addresses.
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct LoginThrottle {
    window: Duration,
    per_client: usize,
    per_account: usize,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(Duration::from_secs(15 * 60), 10, 20)
    }
}

impl LoginThrottle {
    pub fn new(window: Duration, per_client: usize, per_account: usize) -> Self {
        LoginThrottle { window, per_client, per_account, failures: Mutex::new(HashMap::new()) }
    }

    fn keys(client: &str, account: &str) -> [(String, bool); 2] {
        [(format!("ip:{client}"), true), (format!("acct:{account}"), false)]
    }

    /// `Some(wait)` when this attempt must be refused before checking the password.
    pub fn check(&self, client: &str, account: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for (key, is_client) in Self::keys(client, account) {
            let limit = if is_client { self.per_client } else { self.per_account };
            if let Some(q) = map.get_mut(&key) {
                while q.front().is_some_and(|t| now.duration_since(*t) > self.window) {
                    q.pop_front();
                }
                if q.len() >= limit {
                    let until = q.front().map(|t| self.window.saturating_sub(now.duration_since(*t)));
                    wait = wait.max(until);
                }
            }
        }
        wait
    }

    pub fn record_failure(&self, client: &str, account: &str) {
        self.record(&[(format!("ip:{client}"), self.per_client), (format!("acct:{account}"), self.per_account)]);
    }

    /// `Some(wait)` when this client has failed too often (no account involved,
    /// as for refused API keys).
    pub fn check_client(&self, client: &str) -> Option<Duration> {
        self.check(client, "")
    }

    pub fn record_client_failure(&self, client: &str) {
        self.record(&[(format!("ip:{client}"), self.per_client)]);
    }

    /// Notes a failure under each key. Memory stays bounded: under a flood of
    /// distinct keys stale ones are forgotten, and a key keeps no more entries
    /// than its limit needs (the oldest beyond it decide nothing).
    fn record(&self, entries: &[(String, usize)]) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 100_000 {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < self.window));
        }
        for (key, limit) in entries {
            let q = map.entry(key.clone()).or_default();
            q.push_back(now);
            while q.len() > limit.saturating_add(1) {
                q.pop_front();
            }
        }
    }

    /// A successful login clears the account's failures (not the address's).
    pub fn record_success(&self, account: &str) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&format!("acct:{account}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_limit_and_forgets_after_window() {
        let t = LoginThrottle::new(Duration::from_millis(50), 3, 5);
        for _ in 0..3 {
            assert!(t.check("1.2.3.4", "a@x").is_none());
            t.record_failure("1.2.3.4", "a@x");
        }
        assert!(t.check("1.2.3.4", "a@x").is_some());
        assert!(t.check("1.2.3.4", "b@x").is_some(), "same client, other account");
        assert!(t.check("5.6.7.8", "b@x").is_none(), "other client, other account");
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.check("1.2.3.4", "a@x").is_none());
    }

    #[test]
    fn account_limit_spans_clients() {
        let t = LoginThrottle::new(Duration::from_secs(60), 100, 2);
        t.record_failure("1.1.1.1", "a@x");
        t.record_failure("2.2.2.2", "a@x");
        assert!(t.check("3.3.3.3", "a@x").is_some());
        t.record_success("a@x");
        assert!(t.check("3.3.3.3", "a@x").is_none());
    }
}

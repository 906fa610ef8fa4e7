//! Login throttling: a sliding window of failures per client address and per
//! account. A window passes, so the real user is never locked out for good;
//! the per-account limit is higher than one attacker's per-address limit only
//! matters when the attacker spreads over many addresses.
//!
//! On PostgreSQL the sign-in throttle holds for the cluster: failures are
//! also written to `sign_in_failures` (under keyed digests) and an attempt is
//! refused when the cluster's count says so (`check`, `record_failure`). The
//! refused-key budget (`auth::refusals`) keeps its per-node count here
//! (`check_client`) and shares the cluster's through budgets.
//!
//! The map is keyed by what clients send (an address, a typed email), so its
//! memory is bounded: keys are fixed-size hashes, each keeps at most its
//! limit's worth of times, and past `MAX_TRACKED` keys the least telling ones
//! (fewest failures, then oldest) are forgotten first — a flood of one-off
//! names cannot push out an address that is being throttled.
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys held at most; beyond, the least telling tenth is forgotten.
pub const MAX_TRACKED: usize = 100_000;

pub struct LoginThrottle {
    window: Duration,
    per_client: usize,
    per_account: usize,
    /// Random per process: nobody can aim collisions at someone's key.
    hasher: std::collections::hash_map::RandomState,
    failures: Mutex<HashMap<u64, VecDeque<Instant>>>,
    /// Where the cluster's failures are counted (PostgreSQL), and the key of
    /// the digests they are stored under (the same on every node).
    shared: Option<(sea_orm::DatabaseConnection, String)>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(Duration::from_secs(15 * 60), 10, 20)
    }
}

impl LoginThrottle {
    pub fn new(window: Duration, per_client: usize, per_account: usize) -> Self {
        LoginThrottle {
            window,
            per_client,
            per_account,
            hasher: Default::default(),
            failures: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Counts failures for the cluster too, in `db` (PostgreSQL), under
    /// digests keyed with `salt` (derived from the master secret).
    pub fn shared(mut self, db: sea_orm::DatabaseConnection, salt: String) -> Self {
        self.shared = Some((db, salt));
        self
    }

    fn subject(salt: &str, kind: &str, value: &str) -> String {
        crate::domain::tokens::digest(&format!("sign-in-throttle:{salt}:{kind}:{value}"))
    }

    /// `Some(wait)` when this attempt must be refused before checking the
    /// password: by this node's count, else by the cluster's. Should the
    /// database not answer, this node's count decides.
    pub async fn check(&self, client: &str, account: &str) -> Option<Duration> {
        if let Some(wait) = self.check_local(client, account) {
            return Some(wait);
        }
        let (db, salt) = self.shared.as_ref()?;
        let now = chrono::Utc::now();
        let since = now - chrono::Duration::from_std(self.window).unwrap_or_default();
        let mut wait: Option<Duration> = None;
        for (kind, value, limit) in [("ip", client, self.per_client), ("acct", account, self.per_account)] {
            match crate::store::sign_in_failures::since(db, &Self::subject(salt, kind, value), since).await {
                Ok((n, Some(oldest))) if usize::try_from(n).unwrap_or(usize::MAX) >= limit => {
                    let left = (oldest - since).to_std().unwrap_or_default();
                    wait = wait.max(Some(left.max(Duration::from_secs(1))));
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the cluster's failed sign-ins failed"),
            }
        }
        wait
    }

    /// A failed attempt, on this node and (PostgreSQL) for the cluster.
    pub async fn record_failure(&self, client: &str, account: &str) {
        self.record_failure_local(client, account);
        if let Some((db, salt)) = &self.shared {
            let subjects = [Self::subject(salt, "ip", client), Self::subject(salt, "acct", account)];
            let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
            if let Err(e) = crate::store::sign_in_failures::record(db, &subjects, chrono::Utc::now()).await {
                tracing::warn!(error = %e, "recording a failed sign-in for the cluster failed");
            }
        }
    }

    /// A successful sign-in clears the account's failures (not the address's), everywhere.
    pub async fn record_success(&self, account: &str) {
        self.record_success_local(account);
        if let Some((db, salt)) = &self.shared
            && let Err(e) = crate::store::sign_in_failures::clear(db, &Self::subject(salt, "acct", account)).await
        {
            tracing::warn!(error = %e, "clearing an account's failed sign-ins failed");
        }
    }

    /// Forgets the cluster's failures that left the window (the session sweeper calls it).
    pub async fn sweep(&self) {
        if let Some((db, _)) = &self.shared {
            let before = chrono::Utc::now() - chrono::Duration::from_std(self.window).unwrap_or_default();
            if let Err(e) = crate::store::sign_in_failures::sweep(db, before).await {
                tracing::warn!(error = %e, "removing old failed sign-ins failed");
            }
        }
    }

    fn key(&self, kind: &str, value: &str) -> u64 {
        self.hasher.hash_one((kind, value))
    }

    fn keys(&self, client: &str, account: &str) -> [(u64, bool); 2] {
        [(self.key("ip", client), true), (self.key("acct", account), false)]
    }

    /// `Some(wait)` when this node's own count refuses the attempt.
    fn check_local(&self, client: &str, account: &str) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for (key, is_client) in self.keys(client, account) {
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

    fn record_failure_local(&self, client: &str, account: &str) {
        self.record(&[(self.key("ip", client), self.per_client), (self.key("acct", account), self.per_account)]);
    }

    /// `Some(wait)` when this client has failed too often (no account involved,
    /// as for refused API keys).
    pub fn check_client(&self, client: &str) -> Option<Duration> {
        self.check_local(client, "")
    }

    pub fn record_client_failure(&self, client: &str) {
        self.record(&[(self.key("ip", client), self.per_client)]);
    }

    /// Keys tracked now (for tests and metrics).
    pub fn tracked(&self) -> usize {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Notes a failure under each key. A key keeps no more entries than its
    /// limit needs (the oldest beyond it decide nothing).
    fn record(&self, entries: &[(u64, usize)]) {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < self.window));
        }
        if map.len() >= MAX_TRACKED {
            forget_least_telling(&mut map, MAX_TRACKED / 10);
        }
        for (key, limit) in entries {
            let q = map.entry(*key).or_default();
            q.push_back(now);
            while q.len() > limit.saturating_add(1) {
                q.pop_front();
            }
        }
    }

    fn record_success_local(&self, account: &str) {
        let key = self.key("acct", account);
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&key);
    }
}

/// Drops `n` keys: those with the fewest failures first, the oldest among equals.
fn forget_least_telling(map: &mut HashMap<u64, VecDeque<Instant>>, n: usize) {
    let mut ranked: Vec<(usize, Option<Instant>, u64)> =
        map.iter().map(|(k, q)| (q.len(), q.back().copied(), *k)).collect();
    let n = n.min(ranked.len());
    if n == 0 {
        return;
    }
    ranked.select_nth_unstable(n - 1);
    for (_, _, k) in &ranked[..n] {
        map.remove(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_limit_and_forgets_after_window() {
        let t = LoginThrottle::new(Duration::from_millis(50), 3, 5);
        for _ in 0..3 {
            assert!(t.check_local("1.2.3.4", "a@x").is_none());
            t.record_failure_local("1.2.3.4", "a@x");
        }
        assert!(t.check_local("1.2.3.4", "a@x").is_some());
        assert!(t.check_local("1.2.3.4", "b@x").is_some(), "same client, other account");
        assert!(t.check_local("5.6.7.8", "b@x").is_none(), "other client, other account");
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.check_local("1.2.3.4", "a@x").is_none());
    }

    #[test]
    fn a_flood_of_one_off_names_is_bounded_and_keeps_the_throttled_address() {
        let t = LoginThrottle::new(Duration::from_secs(60), 3, 1_000_000);
        for _ in 0..3 {
            t.record_failure_local("6.6.6.6", "victim@x");
        }
        for i in 0..(MAX_TRACKED + 5_000) {
            t.record_failure_local("7.7.7.7", &format!("made-up-{i}@x"));
        }
        assert!(t.tracked() <= MAX_TRACKED, "{} keys", t.tracked());
        assert!(t.check_local("6.6.6.6", "someone@x").is_some(), "the throttled address is still throttled");
        assert!(t.check_local("7.7.7.7", "someone@x").is_some(), "and so is the flooder");
    }

    #[test]
    fn account_limit_spans_clients() {
        let t = LoginThrottle::new(Duration::from_secs(60), 100, 2);
        t.record_failure_local("1.1.1.1", "a@x");
        t.record_failure_local("2.2.2.2", "a@x");
        assert!(t.check_local("3.3.3.3", "a@x").is_some());
        t.record_success_local("a@x");
        assert!(t.check_local("3.3.3.3", "a@x").is_none());
    }
}

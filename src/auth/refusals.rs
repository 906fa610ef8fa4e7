//! The refused-key budget: a client whose keys are refused more than
//! `KEYHUB_KEY_REFUSALS_PER_MINUTE` times a minute is answered 429 instead
//! of 401, so nobody can try keys at the speed of the network. Only refused
//! keys count: valid keys from the same address are never slowed.
//!
//! Each node counts in a sliding minute (`LoginThrottle`). On PostgreSQL the
//! budget also holds for the cluster: it is a budget per client and
//! clock-aligned minute shared like rate limits (`store::budgets`). A node
//! takes a client's first few refusals of a minute without asking the
//! database (one-off clients cost it nothing) and reports them with its
//! first lease; the cluster thus accepts at most `limit + (nodes − 1) ×
//! free` refusals a minute from one client.
//!
//! What clients send becomes memory here, so it is bounded: clients are
//! known by a fixed-size keyed digest (the same on every node, unguessable
//! without the master secret, so nobody can aim a collision at someone
//! else's budget), at most `MAX_TRACKED` of them, the least telling
//! forgotten first. An IPv6 client is its /64, which one subscriber holds.
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use crate::auth::throttle::LoginThrottle;
use crate::limits::window::{Take, Window};
use crate::store::budgets::{self, Budget};

/// Clients held at most by the shared budget; beyond, a tenth is forgotten.
pub const MAX_TRACKED: usize = 100_000;
const MINUTE: i64 = 60;
const SLICES: u64 = 8;

pub struct KeyRefusals {
    per_minute: usize,
    local: LoginThrottle,
    cluster: Option<Cluster>,
}

struct Cluster {
    db: DatabaseConnection,
    /// Keys the digests clients are known by (derived from the master secret).
    salt: String,
    windows: Mutex<hashbrown::HashMap<i64, Window>>,
}

impl KeyRefusals {
    pub fn new(per_minute: usize) -> KeyRefusals {
        KeyRefusals {
            per_minute,
            local: LoginThrottle::new(Duration::from_secs(MINUTE.unsigned_abs()), per_minute, usize::MAX),
            cluster: None,
        }
    }

    /// Shares the budget with the other nodes on `db` (PostgreSQL).
    pub fn shared(mut self, db: DatabaseConnection, salt: String) -> KeyRefusals {
        self.cluster = Some(Cluster { db, salt, windows: Mutex::default() });
        self
    }

    /// Counts a refused key from `client` at `t` (unix seconds): `Some(wait)`
    /// when the client is over its budget and is to be answered 429.
    pub async fn count(&self, client: Option<IpAddr>, t: i64) -> Option<Duration> {
        let subject = subject(client);
        if let Some(wait) = self.local.check_client(&subject) {
            return Some(wait);
        }
        if let Some(cluster) = &self.cluster
            && let Some(wait) = cluster.take(&subject, u64::try_from(self.per_minute).unwrap_or(u64::MAX), t).await
        {
            return Some(wait);
        }
        self.local.record_client_failure(&subject);
        None
    }
}

/// Who a budget is for: the client's address, an IPv6 client's /64.
fn subject(client: Option<IpAddr>) -> String {
    match client.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(ip) => ip.to_string(),
        None => String::new(),
    }
}

impl Cluster {
    fn id(&self, subject: &str) -> i64 {
        let hex = crate::domain::tokens::digest(&format!("key-refusals:{}:{subject}", self.salt));
        // 60 bits: positive, and far from colliding by chance.
        i64::from_str_radix(hex.get(..15).unwrap_or("0"), 16).unwrap_or(0)
    }

    async fn take(&self, subject: &str, limit: u64, t: i64) -> Option<Duration> {
        let id = self.id(subject);
        let start = t - t.rem_euclid(MINUTE);
        let end = start + MINUTE;
        let free = (limit / 32).max(1);
        let wait = Duration::from_secs(u64::try_from(end - t).unwrap_or(1).max(1));
        loop {
            let unreported = {
                let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
                if map.len() >= MAX_TRACKED && !map.contains_key(&id) {
                    make_room(&mut map, start);
                }
                let w = map.entry(id).or_insert_with(|| Window::new(start, end, limit));
                if w.start != start {
                    *w = Window::new(start, end, limit);
                }
                w.set_limit(limit);
                match w.take(true, t, free) {
                    Take::Yes(_) => return None,
                    Take::No => return Some(wait),
                    Take::Lease => w.start_lease(),
                }
            };
            let budget = Budget { kind: "refused-keys", id, start, end };
            let got = match unreported {
                0 => Ok(()),
                n => budgets::report(&self.db, &budget, limit, n).await,
            };
            let got = match got {
                Ok(()) => budgets::lease(&self.db, &budget, limit, 0, SLICES).await,
                Err(e) => Err(e),
            };
            let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
            match map.get_mut(&id).filter(|w| w.start == start) {
                Some(w) => w.leased(got, t),
                // Forgotten or moved on meanwhile: this node's own count decides.
                None => return None,
            }
        }
    }
}

/// Forgets ended minutes, then (if still full) the tenth of clients with the
/// fewest refusals: a flood of one-off clients cannot push out one that is
/// being held back.
fn make_room(map: &mut hashbrown::HashMap<i64, Window>, start: i64) {
    map.retain(|_, w| w.start == start);
    if map.len() < MAX_TRACKED {
        return;
    }
    let mut ranked: Vec<(u64, i64)> = map.iter().map(|(id, w)| (w.used(), *id)).collect();
    let n = (MAX_TRACKED / 10).min(ranked.len());
    if n == 0 {
        return;
    }
    ranked.select_nth_unstable(n - 1);
    for (_, id) in &ranked[..n] {
        map.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ipv6_client_is_its_slash_64_and_a_mapped_ipv4_its_address() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap_or(IpAddr::from([0; 4]));
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(subject(Some(a)), subject(Some(b)));
        assert_ne!(subject(Some(a)), subject(Some(c)));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(subject(Some(mapped)), "192.0.2.7");
    }

    #[test]
    fn a_flood_of_one_off_clients_is_bounded_and_keeps_the_one_held_back() {
        let mut map = hashbrown::HashMap::new();
        let mut held = Window::new(0, 60, 5);
        for _ in 0..5 {
            held.take(false, 1, 0);
        }
        map.insert(-1, held);
        for id in 0..(MAX_TRACKED as i64 + 5_000) {
            if map.len() >= MAX_TRACKED {
                make_room(&mut map, 0);
            }
            let mut w = Window::new(0, 60, 5);
            w.take(false, 1, 0);
            map.insert(id, w);
        }
        assert!(map.len() <= MAX_TRACKED, "{} clients", map.len());
        assert!(map.contains_key(&-1), "the client being held back is kept");
    }
}

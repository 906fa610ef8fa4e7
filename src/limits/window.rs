//! One budget's current window on this node: counted here alone (one node,
//! or a lease failed), or spent from slices leased from the cluster's
//! budget (`store::budgets`).
use crate::store::budgets::Lease;

/// How long a node believes a window's budget is spent before asking the
/// database again (other nodes give back what they did not use, and a
/// limit may be raised), and how long a leased slice may lie idle before it
/// is given back.
pub const RECHECK_SECONDS: i64 = 10;

#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start: i64,
    pub end: i64,
    limit: u64,
    /// Calls counted here in this window.
    used: u64,
    /// Shared: leased to this node and not spent yet.
    pub leased: u64,
    /// Shared: what the window had left in the database after the last lease.
    left: u64,
    /// Shared: the database had nothing left to lease; asked again from then.
    spent_until: i64,
    /// Shared, but a lease failed: this window is counted here alone.
    alone: bool,
    /// Shared: when this node last leased or spent a call (idle slices are given back).
    pub active_at: i64,
    /// Shared: calls taken without a lease (see `take`) and not yet reported.
    pub unreported: u64,
    leased_once: bool,
}

/// What `take` decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Counted; this many calls remain as far as this node knows.
    Yes(u64),
    /// Over the limit.
    No,
    /// This node must lease a slice first (`leased`), then take again.
    Lease,
}

impl Window {
    pub fn new(start: i64, end: i64, limit: u64) -> Window {
        Window {
            start,
            end,
            limit,
            used: 0,
            leased: 0,
            left: 0,
            spent_until: 0,
            alone: false,
            active_at: 0,
            unreported: 0,
            leased_once: false,
        }
    }

    /// A limit edited during the window counts at once; a spent budget is
    /// asked again, as it may now have room.
    pub fn set_limit(&mut self, limit: u64) {
        if self.limit != limit {
            self.limit = limit;
            self.spent_until = 0;
        }
    }

    pub fn alone(&self) -> bool {
        self.alone
    }

    pub fn leased_once(&self) -> bool {
        self.leased_once
    }

    /// Calls counted here in this window.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// This node is about to lease: what it took without a lease is
    /// reported with it (once: calls taken meanwhile lease too).
    pub fn start_lease(&mut self) -> u64 {
        self.leased_once = true;
        std::mem::take(&mut self.unreported)
    }

    /// Takes one call at `t`. `shared`: the nodes share this budget. `free`:
    /// calls this node may take before its first lease, reported with it
    /// (so one-off callers cost the database nothing; the cluster may then
    /// accept up to `free` more per other node).
    pub fn take(&mut self, shared: bool, t: i64, free: u64) -> Take {
        if !shared || self.alone {
            if self.used >= self.limit {
                return Take::No;
            }
            self.used += 1;
            return Take::Yes(self.limit - self.used);
        }
        if self.leased > 0 {
            self.leased -= 1;
            self.used += 1;
            self.active_at = t;
            // What this node holds plus what the others may still lease.
            return Take::Yes(self.left.saturating_add(self.leased));
        }
        if self.spent_until > t {
            return Take::No;
        }
        if !self.leased_once && self.unreported < free && self.used < self.limit {
            self.unreported += 1;
            self.used += 1;
            return Take::Yes(self.limit - self.used);
        }
        Take::Lease
    }

    /// A call taken and then not used (refused further on, or not counted):
    /// it goes back to this node's slice, or its count.
    pub fn put_back(&mut self, shared: bool) {
        self.used = self.used.saturating_sub(1);
        if !shared || self.alone {
            return;
        }
        if self.leased_once {
            self.leased += 1;
        } else {
            self.unreported = self.unreported.saturating_sub(1);
        }
    }

    /// What a lease at `t` got.
    pub fn leased(&mut self, got: Result<Lease, sea_orm::DbErr>, t: i64) {
        match got {
            Ok(lease) => {
                self.leased_once = true;
                self.leased = self.leased.saturating_add(lease.granted);
                self.left = lease.left;
                self.active_at = t;
                self.spent_until = if lease.granted == 0 { t + RECHECK_SECONDS } else { 0 };
            }
            Err(e) => {
                tracing::warn!(error = %e, "leasing a shared budget failed; this node counts the window alone");
                self.alone = true;
            }
        }
    }

    /// The slice this node holds, if it lay idle since `before`: taken out
    /// of the window, to be given back.
    pub fn idle_slice(&mut self, before: i64) -> Option<u64> {
        (self.leased > 0 && self.active_at < before).then(|| std::mem::take(&mut self.leased))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alone_it_counts_to_the_limit() {
        let mut w = Window::new(0, 60, 2);
        assert_eq!(
            (w.take(false, 1, 0), w.take(false, 1, 0), w.take(false, 1, 0)),
            (Take::Yes(1), Take::Yes(0), Take::No)
        );
        w.put_back(false);
        assert_eq!(w.take(false, 1, 0), Take::Yes(0));
        w.set_limit(3);
        assert_eq!(w.take(false, 1, 0), Take::Yes(0));
    }

    #[test]
    fn shared_it_spends_slices_then_asks_again_after_a_while() {
        let mut w = Window::new(0, 60, 10);
        assert_eq!(w.take(true, 1, 1), Take::Yes(9), "one free call");
        assert_eq!(w.take(true, 1, 1), Take::Lease);
        assert_eq!(w.start_lease(), 1, "reported with the lease");
        w.leased(Ok(Lease { granted: 2, left: 5 }), 1);
        assert_eq!((w.take(true, 2, 1), w.take(true, 2, 1)), (Take::Yes(6), Take::Yes(5)));
        assert_eq!(w.take(true, 2, 1), Take::Lease, "no second free call");
        w.leased(Ok(Lease { granted: 0, left: 0 }), 2);
        assert_eq!(w.take(true, 3, 1), Take::No);
        assert_eq!(w.take(true, 2 + RECHECK_SECONDS, 1), Take::Lease, "asked again");
        w.leased(Ok(Lease { granted: 0, left: 0 }), 20);
        w.set_limit(20);
        assert_eq!(w.take(true, 21, 1), Take::Lease, "a raised limit is asked at once");
        w.leased(Ok(Lease { granted: 3, left: 7 }), 21);
        w.put_back(true);
        assert_eq!(w.leased, 4);
        assert_eq!(w.idle_slice(21), None, "not idle yet");
        assert_eq!(w.idle_slice(22), Some(4));
        assert_eq!(w.leased, 0);
    }

    #[test]
    fn a_failed_lease_counts_alone() {
        let mut w = Window::new(0, 60, 1);
        w.leased(Err(sea_orm::DbErr::Custom("down".into())), 1);
        assert_eq!((w.take(true, 1, 0), w.take(true, 1, 0)), (Take::Yes(0), Take::No));
    }
}

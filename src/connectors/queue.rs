//! This node's side of the sync job queue: who it is, how many runs it works
//! on, the bell that wakes its runner, and each working run's `Control`.
//! Apart from `jobs` (the runner, which needs the whole `AppState`) so that
//! `AppState` can hold it without importing the runner back.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// This node's side of the queue: who it is, how much it takes on, and a
/// bell that wakes the runner when a run is queued.
pub struct Jobs {
    /// Random per process: a restarted node does not mistake an old lease for its own.
    pub node: String,
    pub(super) workers: usize,
    pub(super) lease: Duration,
    pub(super) wake: tokio::sync::Notify,
    /// Bumped each time the runner has looked for work (due schedules and
    /// queued runs): two bumps after a change, and the runner has seen it.
    pub ticks: crate::pulse::Pulse,
    /// The runs this node works on, with their controls: a cancel made here
    /// reaches its run at once, without waiting for the keeper's next look.
    mine: Mutex<HashMap<i64, Arc<Control>>>,
    /// Set when the node shuts down: the runner claims nothing more.
    stopping: AtomicBool,
}

impl Jobs {
    pub fn new(workers: usize, lease: Duration) -> Arc<Jobs> {
        let node = format!(
            "node-{}",
            crate::domain::tokens::digest(&format!("{:?}{}", std::time::SystemTime::now(), std::process::id()))[..12]
                .to_owned()
        );
        Arc::new(Jobs {
            node,
            workers,
            lease,
            wake: tokio::sync::Notify::new(),
            ticks: crate::pulse::Pulse::new(),
            mine: Mutex::default(),
            stopping: AtomicBool::new(false),
        })
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn lease_until(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(30))
    }

    /// No more claims; every run this node works on stops between two
    /// batches, its progress saved, as when its lease is lost.
    pub(super) fn stop_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for control in self.mine().values() {
            control.mark_lost();
        }
    }

    pub(super) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// How many runs this node works on now.
    pub fn running(&self) -> usize {
        self.mine().len()
    }

    pub(super) fn mine(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Control>>> {
        self.mine.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a working run watches: a cancel request, or the lease lost to
/// another node (then it stops without writing anything more). Both are
/// flags checked between batches, and a bell that interrupts a read or a
/// backoff wait in progress, so a cancel takes effect within a second.
#[derive(Default)]
pub struct Control {
    cancel: AtomicBool,
    lost: AtomicBool,
    bell: tokio::sync::Notify,
}

impl Control {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::Relaxed)
    }

    pub fn request_cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.bell.notify_waiters();
    }

    pub fn mark_lost(&self) {
        self.lost.store(true, Ordering::Relaxed);
        self.bell.notify_waiters();
    }

    /// Resolves once the run is cancelled or lost (at once if it already is).
    pub async fn stopped(&self) {
        loop {
            let bell = self.bell.notified();
            tokio::pin!(bell);
            bell.as_mut().enable();
            if self.cancelled() || self.lost() {
                return;
            }
            bell.await;
        }
    }
}

//! Signals from background work. A background task (the sync runner, a
//! snapshot watcher, a row sweeper) bumps a pulse when it has done a unit of
//! work; whoever waits for that work re-checks what it waits for on each
//! bump, instead of sleeping a guessed amount of time. The tests wait this
//! way; so can anything in keyhub that must follow background work.
use std::sync::LazyLock;

use tokio::sync::watch;

/// A counter that only goes up, and wakes every receiver when it does.
pub struct Pulse(watch::Sender<u64>);

impl Pulse {
    pub fn new() -> Pulse {
        Pulse(watch::channel(0).0)
    }

    pub fn bump(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn count(&self) -> u64 {
        *self.0.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

impl Default for Pulse {
    fn default() -> Self {
        Pulse::new()
    }
}

static BACKGROUND: LazyLock<Pulse> = LazyLock::new(Pulse::new);

/// Bumped by every background task of this process when it has done
/// something another party may wait for (a run progressed or ended, the
/// runner looked for work, a key snapshot was checked, a use recorded, old
/// rows removed). Shared by every app in the process: a waiter re-checks
/// its own condition, so a bump from elsewhere costs one look.
pub fn background() -> &'static Pulse {
    &BACKGROUND
}

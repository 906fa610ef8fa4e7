//! The sync job queue. A sync run is a row in `sync_runs`, never a task tied
//! to a request: `enqueue` adds it (`queued`), the runner of some keyhub node
//! claims it with a lease (node id + expiry) and renews the lease while it
//! works. When a node dies, its lease runs out and any node — this one after a
//! restart — claims the run again; `sync::execute` then resumes each stream
//! from the state it saved.
//!
//! A partial unique index keeps at most one live (queued or running) run per
//! source, so "Sync now" pressed twice, by two people or on two nodes, makes
//! one run. The runner also starts scheduled syncs when they fall due.
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sources::{self, SourceError};
use super::sync::StreamRun;
use crate::entities::{sources as source_rows, sync_runs};
use crate::state::AppState;
use crate::store::live_data as store;

/// Run statuses.
pub const QUEUED: &str = "queued";
pub const RUNNING: &str = "running";
pub const SUCCEEDED: &str = "succeeded";
pub const PARTIAL: &str = "partial";
pub const FAILED: &str = "failed";
pub const CANCELLED: &str = "cancelled";

/// One line of a run's log: what happened, in words for people. Provider
/// messages appear scrubbed of credentials (see `errors::scrub`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct LogLine {
    pub at: DateTime<Utc>,
    /// `info`, `warning` or `error`.
    pub level: String,
    pub message: String,
}

pub fn log_of(run: &sync_runs::Model) -> Vec<LogLine> {
    serde_json::from_str(&run.log).unwrap_or_default()
}

pub fn log_json(lines: &[LogLine]) -> String {
    serde_json::to_string(lines).unwrap_or_else(|_| "[]".into())
}

pub fn line(level: &str, message: impl Into<String>) -> LogLine {
    LogLine { at: Utc::now(), level: level.to_owned(), message: message.into() }
}

/// This node's side of the queue: who it is, how much it takes on, and a
/// bell that wakes the runner when a run is queued.
pub struct Jobs {
    /// Random per process: a restarted node does not mistake an old lease for its own.
    pub node: String,
    workers: usize,
    lease: Duration,
    wake: tokio::sync::Notify,
    mine: Mutex<HashSet<i64>>,
    /// The controls of the runs this node works on: a cancel made here
    /// reaches its run at once, without waiting for the keeper's next look.
    controls: Mutex<std::collections::HashMap<i64, Arc<Control>>>,
}

impl Jobs {
    pub fn new(workers: usize, lease: Duration) -> Arc<Jobs> {
        let node = format!("node-{}", crate::domain::tokens::digest(&format!("{:?}{}", std::time::SystemTime::now(), std::process::id()))[..12].to_owned());
        Arc::new(Jobs { node, workers, lease, wake: tokio::sync::Notify::new(), mine: Mutex::new(HashSet::new()), controls: Mutex::default() })
    }

    pub fn wake(&self) {
        self.wake.notify_one();
    }

    pub fn lease_until(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(30))
    }

    fn active(&self) -> usize {
        self.mine.lock().map(|m| m.len()).unwrap_or(0)
    }

    fn hold(&self, id: i64, on: bool) {
        if let Ok(mut m) = self.mine.lock() {
            if on {
                m.insert(id);
            } else {
                m.remove(&id);
            }
        }
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

/// Queues a run of `s`'s chosen streams; `Running(id)` when one is already
/// queued or running.
pub async fn enqueue(state: &AppState, s: &source_rows::Model, trigger: &str) -> Result<i64, SourceError> {
    if let Some(run) = store::live_run(&state.db, s.id).await? {
        return Err(SourceError::Running(run.id));
    }
    let chosen = sources::chosen_streams(s);
    if chosen.is_empty() {
        return Err(SourceError::NotReady("Choose at least one stream first.".into()));
    }
    let modes = sources::stream_modes(s);
    let streams: Vec<StreamRun> = chosen.iter().map(|c| StreamRun::queued(c, modes.get(c).map(|m| m.mode.as_str()).unwrap_or(sources::FULL))).collect();
    let log = log_json(&[line("info", format!("Queued ({trigger})."))]);
    match store::queue_run(&state.db, s, &serde_json::to_string(&streams).unwrap_or_default(), trigger, &log).await {
        Ok(run) => {
            state.jobs.wake();
            Ok(run.id)
        }
        // Another request queued one between our check and our insert.
        Err(e) if crate::store::is_unique_violation(&e) => match store::live_run(&state.db, s.id).await? {
            Some(run) => Err(SourceError::Running(run.id)),
            None => Err(SourceError::Db(e)),
        },
        Err(e) => Err(e.into()),
    }
}

/// Cancels a queued run at once, or asks a running one to stop (its
/// streams' old rows stay). False when the run had already ended.
pub async fn cancel(state: &AppState, run: &sync_runs::Model, by: &str) -> Result<bool, sea_orm::DbErr> {
    let mut log = log_of(run);
    log.push(line("warning", format!("Cancelled by {by}.")));
    let mut streams = super::sync::stream_runs(run);
    for s in streams.iter_mut() {
        s.status = CANCELLED.into();
    }
    let streams = serde_json::to_string(&streams).unwrap_or_default();
    let outcome = store::request_cancel(&state.db, run.id, &streams, &log_json(&log)).await?;
    // Running here: stop it now (elsewhere, that node's keeper sees the flag).
    if let Some(control) = state.jobs.controls.lock().unwrap_or_else(|p| p.into_inner()).get(&run.id) {
        control.request_cancel();
    }
    Ok(outcome != store::Cancel::Ended)
}

/// Starts this node's runner: claims runs up to `KEYHUB_SYNC_WORKERS` at a
/// time, and queues scheduled syncs as they fall due.
pub fn spawn_runner(state: Arc<AppState>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = tick(&state).await {
                tracing::warn!(error = %e, "the sync runner could not look for work; trying again shortly");
            }
            tokio::select! {
                _ = state.jobs.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}

async fn tick(state: &Arc<AppState>) -> Result<(), sea_orm::DbErr> {
    queue_due(state).await?;
    while state.jobs.active() < state.jobs.workers {
        let Some(run) = store::claim_run(&state.db, &state.jobs.node, state.jobs.lease_until()).await? else { break };
        state.jobs.hold(run.id, true);
        let state = state.clone();
        tokio::spawn(async move {
            let id = run.id;
            let control = Arc::new(Control::default());
            state.jobs.controls.lock().unwrap_or_else(|p| p.into_inner()).insert(id, control.clone());
            let keeper = tokio::spawn(keep_lease(state.clone(), id, control.clone()));
            if let Err(e) = super::sync::execute(&state, run, &control).await {
                tracing::error!(error = %e, run = id, "a sync run could not record its outcome");
                let log = vec![line("error", "keyhub could not record the run's progress (a database error); the run stopped.")];
                let _ = store::finish_run(&state.db, id, FAILED, "[]", &log_json(&log), Some("keyhub could not record the run.".into())).await;
            }
            keeper.abort();
            state.jobs.controls.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            state.jobs.hold(id, false);
            state.jobs.wake();
        });
    }
    Ok(())
}

/// Looks for a cancel request (made on any node) twice a second, and renews
/// the lease while the run works (every third of the lease, at most every
/// two seconds).
async fn keep_lease(state: Arc<AppState>, id: i64, control: Arc<Control>) {
    const LOOK: Duration = Duration::from_millis(500);
    let every = (state.jobs.lease / 3).min(Duration::from_secs(2)).max(LOOK);
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(LOOK).await;
        if renewed.elapsed() >= every {
            match store::renew_lease(&state.db, id, &state.jobs.node, state.jobs.lease_until()).await {
                Ok(true) => renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    control.mark_lost();
                    return;
                }
                Err(e) => tracing::warn!(error = %e, run = id, "renewing a sync lease failed; trying again"),
            }
        }
        if let Ok(true) = store::cancel_requested(&state.db, id).await {
            control.request_cancel();
        }
    }
}

/// Queues every scheduled sync that is due and moves its next time on.
async fn queue_due(state: &AppState) -> Result<(), sea_orm::DbErr> {
    for s in store::due_sources(&state.db).await? {
        let minutes = i64::from(s.schedule_minutes.unwrap_or(60).max(1));
        store::set_next_sync(&state.db, s.id, Some(Utc::now() + chrono::Duration::minutes(minutes))).await?;
        match enqueue(state, &s, "schedule").await {
            Ok(_) | Err(SourceError::Running(_)) => {}
            Err(SourceError::Db(e)) => return Err(e),
            Err(e) => tracing::info!(source = s.id, reason = %e, "a scheduled sync was not started"),
        }
    }
    Ok(())
}

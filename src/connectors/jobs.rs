//! The sync runner. A sync run is a row in `sync_runs`, never a task tied
//! to a request: `sources::enqueue` adds it (`queued`), the runner of some keyhub node
//! claims it with a lease (node id + expiry) and renews the lease while it
//! works. When a node dies, its lease runs out and any node — this one after a
//! restart — claims the run again; `sync::execute` then resumes each stream
//! from the state it saved.
//!
//! A partial unique index keeps at most one live (queued or running) run per
//! source, so "Sync now" pressed twice, by two people or on two nodes, makes
//! one run. The runner also starts scheduled syncs when they fall due.
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use super::queue::Control;
use super::runs::{FAILED, line};
use super::sources;
use crate::refusal::Refusal;
use crate::state::AppState;
use crate::store::live_data as store;

/// Starts this node's runner: claims runs up to `KEYHUB_SYNC_WORKERS` at a
/// time, and queues scheduled syncs as they fall due.
pub fn spawn_runner(state: Arc<AppState>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = tick(&state).await {
                // `#` prints the cause chain (the database's own message).
                tracing::warn!(error = %format!("{e:#}"), "the sync runner could not look for work; trying again shortly");
            }
            state.jobs.ticks.bump();
            crate::pulse::background().bump();
            tokio::select! {
                _ = state.jobs.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    });
}

async fn tick(state: &Arc<AppState>) -> Result<(), Refusal> {
    if state.jobs.stopping() {
        return Ok(());
    }
    queue_due(state).await?;
    while state.jobs.mine().len() < state.jobs.workers && !state.jobs.stopping() {
        let Some(run) = store::claim_run(&state.db, &state.jobs.node, state.jobs.lease_until()).await? else { break };
        let control = Arc::new(Control::default());
        state.jobs.mine().insert(run.id, control.clone());
        let state = state.clone();
        tokio::spawn(async move {
            let id = run.id;
            let keeper = tokio::spawn(keep_lease(state.clone(), id, control.clone()));
            if let Err(e) = super::sync::execute(&state, run, &control).await {
                tracing::error!(error = %e, run = id, "a sync run could not record its outcome");
                let log = vec![line(
                    "error",
                    "keyhub could not record the run's progress (a database error); the run stopped.",
                )];
                let _ = store::finish_run(
                    &state.db,
                    id,
                    FAILED,
                    &[],
                    &log,
                    Some("keyhub could not record the run.".into()),
                )
                .await;
            }
            keeper.abort();
            state.jobs.mine().remove(&id);
            state.jobs.wake();
            crate::pulse::background().bump();
        });
    }
    Ok(())
}

/// How long a stopping node waits for its runs to reach a batch boundary.
const HAND_BACK_PATIENCE: Duration = Duration::from_secs(10);

/// The node is shutting down: its runs stop between two batches (progress
/// saved) and their leases are released, so another node — or this one,
/// restarted — takes them up at once and resumes, instead of waiting for the
/// lease to run out.
pub async fn hand_back(state: &AppState) {
    state.jobs.stop_all();
    let mut pulse = crate::pulse::background().subscribe();
    let deadline = tokio::time::Instant::now() + HAND_BACK_PATIENCE;
    while !state.jobs.mine().is_empty() {
        if tokio::time::timeout_at(deadline, pulse.changed()).await.is_err() {
            tracing::warn!("a sync run did not reach a batch boundary in time; its lease is released anyway");
            break;
        }
    }
    match store::release_leases(&state.db, &state.jobs.node).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(runs = n, "sync runs handed back for another node to resume"),
        Err(e) => tracing::warn!(error = %e, "releasing sync leases failed; they run out on their own"),
    }
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
async fn queue_due(state: &AppState) -> Result<(), Refusal> {
    for s in store::due_sources(&state.db).await? {
        let minutes = i64::from(s.schedule_minutes.unwrap_or(60).max(1));
        store::set_next_sync(&state.db, s.id, Some(Utc::now() + chrono::Duration::minutes(minutes))).await?;
        match sources::enqueue(state, &s, "schedule").await {
            Ok(_) | Err(Refusal::Running(_)) => {}
            Err(e @ (Refusal::Busy | Refusal::Internal(_))) => return Err(e),
            Err(e) => tracing::info!(source = s.id, reason = %e, "a scheduled sync was not started"),
        }
    }
    Ok(())
}

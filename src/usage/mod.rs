//! Per-key usage: every verified or refused call is counted in memory, by
//! key, endpoint, outcome and minute, and written in batches — at most every
//! `FLUSH_EVERY`, in one upsert per flush (and on shutdown) — so a request
//! itself never writes to the database. Each key's last requests are kept
//! the same way. Old minute rows roll up into hours after 7 days and hours
//! into days after 90 (`roll_up`).
//!
//! Memory is bounded: between two flushes at most `MAX_CELLS` counter cells
//! and `MAX_RECENT` requests are held (each key keeps its newest
//! `RECENT_PER_KEY`); what does not fit is counted, and logged at the next flush,
//! never grown into. Cells are keyed by values keyhub decides (key ids,
//! endpoint paths and route patterns, refusal codes), never by what a client
//! sends.
pub mod recorder;
pub mod report;

use std::time::Duration;

use sea_orm::DatabaseConnection;

pub use recorder::{Call, FLUSH_EVERY, Mark, Outcome, RECENT_PER_KEY, Recorder};

/// Minute rows older than 7 days become hours; hour rows older than 90 days become days.
pub async fn roll_up(db: &DatabaseConnection, now: i64) -> Result<(), sea_orm::DbErr> {
    use crate::domain::usage::{Bucket, HOURS_KEPT_DAYS, MINUTES_KEPT_DAYS};
    let minutes_before = Bucket::Hour.floor(now - MINUTES_KEPT_DAYS * 86_400);
    crate::store::usage::roll_up(db, 60, 3_600, minutes_before).await?;
    let hours_before = Bucket::Day.floor(now - HOURS_KEPT_DAYS * 86_400);
    crate::store::usage::roll_up(db, 3_600, 86_400, hours_before).await?;
    Ok(())
}

/// Flushes every `FLUSH_EVERY`, refreshes the quotas' month counts and
/// rolls up once an hour. Each pass bumps the background pulse.
pub fn spawn_flusher(state: std::sync::Arc<crate::state::AppState>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_roll_up: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            flush_now(&state).await;
            if last_roll_up.is_none_or(|t| t.elapsed() >= Duration::from_secs(3_600)) {
                if let Err(e) = roll_up(&state.db, state.clock.now().timestamp()).await {
                    tracing::warn!(error = %e, "rolling up usage counts failed");
                }
                last_roll_up = Some(std::time::Instant::now());
            }
            crate::pulse::background().bump();
        }
    });
}

/// One flush, then the quotas learn the month's totals (logged, not failed).
pub async fn flush_now(state: &crate::state::AppState) {
    match state.usage.flush(&state.db).await {
        Ok(ok) => state.limits.flushed(&state.db, ok, state.clock.now()).await,
        Err(e) => tracing::warn!(error = %e, "writing usage counts failed; they are kept for the next flush"),
    }
}

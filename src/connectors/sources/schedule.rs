use super::*;

/// Whether a failure says the source's settings are wrong (not worth retrying).
pub fn is_config_failure(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::Unauthorized
            | ErrorClass::Forbidden
            | ErrorClass::NotFound
            | ErrorClass::Blocked
            | ErrorClass::InvalidConfig
            | ErrorClass::DnsFailure
            | ErrorClass::TlsFailure
    )
}

/// A scheduled source's next run, one interval from now (none when manual).
pub fn next_from_now(s: &sources::Model) -> Option<chrono::DateTime<Utc>> {
    s.schedule_minutes.map(|v| Utc::now() + chrono::Duration::minutes(i64::from(v.max(1))))
}

/// What the sync settings form (and `PATCH /api/v1/sources/{id}`) may change.
#[derive(Debug, Clone, Default)]
pub struct SyncSettings {
    /// Minutes between syncs; none = manual. `Some(None)` in a patch clears it.
    pub schedule_minutes: Option<Option<u32>>,
    pub paused: Option<bool>,
    /// Stream → mode; streams left out keep theirs.
    pub modes: BTreeMap<String, StreamMode>,
}

/// At most a year between scheduled syncs.
pub const MAX_SCHEDULE_MINUTES: u32 = 365 * 24 * 60;

/// Saves the schedule and the streams' sync modes. The next run time starts
/// from now when the schedule changes; paused schedules keep theirs.
/// The checks of `set_sync_settings` alone: the fields at fault, if any.
pub fn check_sync_settings(s: &sources::Model, input: &SyncSettings) -> Result<(), Vec<FieldError>> {
    match resolve_modes(s, input) {
        Ok(_) => Ok(()),
        Err(errors) => Err(errors),
    }
}

/// The streams' modes after `input`, or the fields at fault.
pub(super) fn resolve_modes(
    s: &sources::Model,
    input: &SyncSettings,
) -> Result<BTreeMap<String, StreamMode>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Some(Some(m)) = input.schedule_minutes
        && !(1..=MAX_SCHEDULE_MINUTES).contains(&m)
    {
        errors.push(FieldError::new("schedule", "Choose an interval between 1 minute and 365 days."));
    }
    let catalog = catalog(s);
    let kind = crate::connectors::kind(&s.kind);
    let incremental_kind = kind.is_some_and(|k| k.incremental());
    let mut modes = stream_modes(s);
    for (stream, mode) in &input.modes {
        let field = format!("modes[{stream}]");
        let Some(info) = catalog.iter().find(|c| c.name == *stream) else {
            errors.push(FieldError::new(field, format!("“{stream}” is not a stream of this source.")));
            continue;
        };
        match mode.mode.as_str() {
            FULL => {
                modes.insert(stream.clone(), StreamMode { mode: FULL.into(), cursor: None, filter: None });
            }
            INCREMENTAL if !incremental_kind => errors
                .push(FieldError::new(field, "This kind of source reads whole streams only; choose full refresh.")),
            INCREMENTAL => match mode.cursor.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
                None => errors.push(FieldError::new(
                    field,
                    "Choose the cursor column: the one whose values grow as records are added or changed.",
                )),
                Some(c) if !info.columns.iter().any(|col| col.source == c || col.name == c) => {
                    errors.push(FieldError::new(field, format!("“{c}” is not a column of this stream.")))
                }
                Some(c) if mode.filter.as_deref().is_some_and(|f| !f.trim().is_empty()) => {
                    let param = mode.filter.as_deref().unwrap_or_default().trim();
                    let chosen = kind.ok_or_else(|| "keyhub no longer knows this kind.".to_owned()).and_then(|k| {
                        if k.filter_choice() { k.choose_filter(info, c, param) } else { Err("This kind of source filters by the cursor column itself; leave the filter parameter empty.".into()) }
                    });
                    match chosen {
                        Ok(_) => {
                            let source = info.columns.iter().find(|col| col.source == c || col.name == c).map(|col| col.source.clone()).unwrap_or_default();
                            modes.insert(
                                stream.clone(),
                                StreamMode { mode: INCREMENTAL.into(), cursor: Some(source), filter: Some(param.to_owned()) },
                            );
                        }
                        Err(why) => errors.push(FieldError::new(field, why)),
                    }
                }
                Some(c) if kind.and_then(|k| k.cursor_columns(info)).is_some_and(|ok| !ok.iter().any(|o| o == c)) => {
                    errors.push(FieldError::new(
                        field,
                        format!(
                            "The source cannot filter “{stream}” by “{c}” (its document declares no such filter); choose one of: {}, name the filter parameter, or choose full refresh.",
                            cursor_choices(kind, info)
                        ),
                    ))
                }
                Some(c) => {
                    let source = info
                        .columns
                        .iter()
                        .find(|col| col.source == c || col.name == c)
                        .map(|col| col.source.clone())
                        .unwrap_or_default();
                    modes.insert(stream.clone(), StreamMode { mode: INCREMENTAL.into(), cursor: Some(source), filter: None });
                }
            },
            other => {
                errors.push(FieldError::new(field, format!("“{other}” is not a sync mode: use full or incremental.")))
            }
        }
    }
    if errors.is_empty() { Ok(modes) } else { Err(errors) }
}

/// The columns a stream may be read incrementally by, as a sentence.
fn cursor_choices(kind: Option<&'static dyn crate::connectors::Connector>, info: &StreamInfo) -> String {
    match kind.and_then(|k| k.cursor_columns(info)) {
        Some(cols) if !cols.is_empty() => cols.join(", "),
        Some(_) => "none".to_owned(),
        None => "an integer, date or datetime column".to_owned(),
    }
}

pub async fn set_sync_settings(
    state: &AppState,
    actor: &Actor,
    s: &sources::Model,
    input: SyncSettings,
) -> Result<sources::Model, Refusal> {
    let modes = resolve_modes(s, &input).map_err(Refusal::Fields)?;
    let mut m = sources::ActiveModel::from(s.clone());
    let mut said = Vec::new();
    if let Some(schedule) = input.schedule_minutes
        && schedule.map(|v| v as i32) != s.schedule_minutes
    {
        m.schedule_minutes = Set(schedule.map(|v| v as i32));
        m.next_sync_at = Set(schedule.map(|v| Utc::now() + chrono::Duration::minutes(i64::from(v))));
        said.push(match schedule {
            Some(v) => format!("Schedule: every {}.", every_words(v)),
            None => "Schedule: manual.".to_owned(),
        });
    }
    if let Some(p) = input.paused
        && p != s.schedule_paused
    {
        m.schedule_paused = Set(p);
        if !p && s.schedule_minutes.is_some() && s.next_sync_at.is_none_or(|t| t < Utc::now()) {
            m.next_sync_at = Set(s.schedule_minutes.map(|v| Utc::now() + chrono::Duration::minutes(i64::from(v))));
        }
        said.push(if p { "Schedule paused.".to_owned() } else { "Schedule resumed.".to_owned() });
    }
    if modes != *s.stream_modes {
        m.stream_modes = Set(Json(modes.clone()));
        said.push(format!(
            "Sync modes: {}.",
            modes
                .iter()
                .map(|(k, v)| format!(
                    "{k} {}{}",
                    v.mode,
                    v.cursor.as_deref().map(|c| format!(" by {c}")).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if said.is_empty() {
        return Ok(s.clone());
    }
    m.updated_at = Set(Utc::now());
    let saved = store::save_source(&state.db, m).await?.ok_or(Refusal::NotFound)?;
    crate::store::audit::record(&state.db, actor.event("source.changed", target(&saved), said.join(" "))).await?;
    Ok(saved)
}

/// "5 minutes", "2 hours", "1 day".
pub fn every_words(minutes: u32) -> String {
    let plural = |n: u32, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if minutes.is_multiple_of(1440) {
        plural(minutes / 1440, "day")
    } else if minutes.is_multiple_of(60) {
        plural(minutes / 60, "hour")
    } else {
        plural(minutes, "minute")
    }
}

/// Queues a run of `s`'s chosen streams; `Running(id)` when one is already
/// queued or running.
pub async fn enqueue(state: &AppState, s: &sources::Model, trigger: &str) -> Result<i64, Refusal> {
    if let Some(run) = store::live_run(&state.db, s.id).await? {
        return Err(Refusal::Running(run.id));
    }
    let chosen = chosen_streams(s);
    if chosen.is_empty() {
        return Err(Refusal::NotReady("Choose at least one stream first.".into()));
    }
    let modes = stream_modes(s);
    let streams: Vec<StreamRun> =
        chosen.iter().map(|c| StreamRun::queued(c, modes.get(c).map(|m| m.mode.as_str()).unwrap_or(FULL))).collect();
    let log = [runs::line("info", format!("Queued ({trigger})."))];
    match store::queue_run(&state.db, s, &streams, trigger, &log).await {
        Ok(run) => {
            state.jobs.wake();
            Ok(run.id)
        }
        // Another request queued one between our check and our insert.
        Err(e) if crate::store::is_unique_violation(&e) => match store::live_run(&state.db, s.id).await? {
            Some(run) => Err(Refusal::Running(run.id)),
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// Cancels a queued run at once, or asks a running one to stop (its
/// streams' old rows stay). False when the run had already ended.
pub async fn cancel_run(
    state: &AppState,
    run: &crate::entities::sync_runs::Model,
    by: &str,
) -> Result<bool, sea_orm::DbErr> {
    let mut log = run.log.0.clone();
    log.push(runs::line("warning", format!("Cancelled by {by}.")));
    let mut streams = run.streams.0.clone();
    for s in streams.iter_mut() {
        s.status = runs::CANCELLED.into();
    }
    let outcome = store::request_cancel(&state.db, run.id, &streams, &log).await?;
    // Running here: stop it now (elsewhere, that node's keeper sees the flag).
    if let Some(control) = state.jobs.mine().get(&run.id) {
        control.request_cancel();
    }
    Ok(outcome != store::Cancel::Ended)
}

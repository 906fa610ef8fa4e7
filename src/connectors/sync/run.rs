use super::*;

/// Works on a claimed run until every stream has ended (or the run was
/// cancelled, or the lease lost). Streams that ended before a restart are
/// not run again.
pub async fn execute(state: &AppState, run: sync_runs::Model, control: &Control) -> Result<(), DbErr> {
    let streams = run.streams.0.clone();
    let began = streams.iter().filter_map(|s| s.started_at).min().unwrap_or_else(Utc::now);
    let mut job = Job { state, run_id: run.id, control, streams, log: run.log.0.clone(), began };
    if run.attempts > 1 {
        job.note(
            "warning",
            format!(
                "Taken up again after keyhub stopped during the run (attempt {}); finished streams are kept.",
                run.attempts
            ),
        );
    } else {
        job.note("info", format!("Started on {}.", state.jobs.node));
    }
    let Some(src) = store::source_by_id(&state.db, run.source_id).await? else {
        job.note("error", "The source was deleted.");
        return finish(&job, None).await;
    };
    let ready = sources::ctx(state, &src).and_then(|cx| {
        crate::connectors::kind(&src.kind)
            .map(|k| (cx, k))
            .ok_or_else(|| ConnectorError::config("keyhub no longer knows this kind of source."))
    });
    let (cx, kind) = match ready {
        Ok(pair) => pair,
        Err(e) => {
            fail_all(&mut job, &e);
            finish(&job, Some(&src)).await?;
            return finish_source(state, &src, run.id, Some((None, &e))).await;
        }
    };
    // The chosen streams' columns now, to apply schema changes (only those:
    // a path nobody chose cannot fail a sync); the saved catalog serves when
    // discovery fails for a passing reason.
    let chosen: Vec<String> = job.streams.iter().map(|s| s.stream.clone()).collect();
    let (catalog, unavailable) = match job.call(None, || kind.discover(&cx, Some(&chosen))).await {
        Ok(found) => (found.streams, found.unavailable),
        Err(Outcome::Failed(e)) if sources::is_config_failure(e.class) => {
            fail_all(&mut job, &e);
            finish(&job, Some(&src)).await?;
            return finish_source(state, &src, run.id, Some((None, &e))).await;
        }
        Err(Outcome::Lost) => return Ok(()),
        Err(_) => {
            job.note("warning", "Could not list the streams again; using the columns found at the last test.");
            (sources::catalog(&src), Vec::new())
        }
    };
    let modes = sources::stream_modes(&src);
    let saved = sources::catalog(&src);
    let mut config_failure: Option<(String, ConnectorError)> = None;
    for i in 0..job.streams.len() {
        if job.streams[i].done() {
            continue;
        }
        if control.lost() {
            return Ok(());
        }
        if control.cancelled() {
            break;
        }
        let name = job.streams[i].stream.clone();
        job.streams[i].status = RUNNING.into();
        job.streams[i].started_at = job.streams[i].started_at.or(Some(Utc::now()));
        job.save().await?;
        // A stream the source no longer lists (documents generated per key
        // drop what the key may not read) is read as saved: its own answer
        // (a 403, say) tells what happened better than its absence.
        let known = catalog.iter().find(|s| s.name == name).or_else(|| saved.iter().find(|s| s.name == name));
        // A probe that failed for a passing reason (a timeout, a 5xx) is no
        // verdict: the read itself retries.
        let refused = unavailable.iter().find(|u| u.stream == name && !u.error.class.transient());
        let outcome = match (refused, known) {
            (Some(u), _) => Outcome::Failed(u.error.clone()),
            (None, Some(stream)) => sync_stream(&mut job, i, kind, &cx, &src, stream, modes.get(&name)).await?,
            (None, None) => Outcome::Failed(ConnectorError::config(
                "The stream is no longer offered by the source; test the connection again and choose streams.",
            )),
        };
        let s = &mut job.streams[i];
        s.finished_at = Some(Utc::now());
        match outcome {
            Outcome::Done => {
                s.status = SUCCEEDED.into();
                let (read, written, secs) = (s.records_read, s.records_written, s.elapsed().unwrap_or(0.0));
                job.note("info", format!("{name}: {read} records read, {written} written in {secs:.1} s."));
            }
            Outcome::Failed(e) => {
                let e = lost_access(&name, e);
                s.status = FAILED.into();
                s.error = Some(e.clone());
                job.note("error", format!("{name}: {e}"));
                if let Some(p) = &e.provider_message {
                    job.note("error", format!("{name}: the source said: {p}"));
                }
                if sources::is_config_failure(e.class) {
                    config_failure = Some((name.clone(), e));
                }
            }
            Outcome::Cancelled => {
                s.status = CANCELLED.into();
                job.note("warning", format!("{name}: cancelled; its rows are as before the run."));
            }
            Outcome::Lost => return Ok(()),
        }
        job.save().await?;
    }
    for s in job.streams.iter_mut().filter(|s| !s.done()) {
        s.status = CANCELLED.into();
    }
    finish(&job, Some(&src)).await?;
    let failure = config_failure.as_ref().map(|(stream, e)| (Some(stream.clone()), e));
    let transient = job.streams.iter().find_map(|s| s.error.as_ref().map(|e| (Some(s.stream.clone()), e)));
    finish_source(state, &src, run.id, failure.or(transient)).await
}

/// A 403 on a stream that was readable when chosen: the key lost access to
/// it (at the provider), which is what the person fixing it needs to read.
fn lost_access(stream: &str, mut e: ConnectorError) -> ConnectorError {
    if e.class == ErrorClass::Forbidden {
        e.message = format!("The key lost access to {stream}. {}", e.message);
    }
    e
}

pub(super) fn fail_all(job: &mut Job<'_>, e: &ConnectorError) {
    for s in job.streams.iter_mut().filter(|s| !s.done()) {
        s.status = FAILED.into();
        s.error = Some(e.clone());
    }
    job.note("error", e.to_string());
}

/// The run's outcome from its streams: all succeeded, all failed, some of
/// each (`partial`), or cancelled.
pub(super) async fn finish(job: &Job<'_>, src: Option<&source_rows::Model>) -> Result<(), DbErr> {
    let n = job.streams.len();
    let failed = job.streams.iter().filter(|s| s.status == FAILED).count();
    let cancelled = job.streams.iter().filter(|s| s.status == CANCELLED).count();
    let status = if src.is_none() || (n > 0 && failed == n) {
        FAILED
    } else if cancelled > 0 && job.control.cancelled() {
        CANCELLED
    } else if failed > 0 {
        PARTIAL
    } else {
        SUCCEEDED
    };
    let error = match status {
        CANCELLED => Some("Cancelled.".to_owned()),
        _ if src.is_none() => Some("The source was deleted.".to_owned()),
        _ => job.streams.iter().find_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.stream))),
    };
    let mut log = job.log.clone();
    log.push(runs::line(if status == SUCCEEDED { "info" } else { "warning" }, format!("Finished: {status}.")));
    // From the first stream's start (kept across a resume) to now.
    if let Some(began) = job.streams.iter().filter_map(|s| s.started_at).min() {
        crate::metrics::sync_run(status, (Utc::now() - began).to_std().unwrap_or_default());
    }
    store::finish_run(&job.state.db, job.run_id, status, &job.streams, &log, error).await
}

/// Last sync time; a failure is recorded for Diagnostics, and a configuration
/// failure marks the source failing (its schedule stops until a test passes).
pub(super) async fn finish_source(
    state: &AppState,
    src: &source_rows::Model,
    run_id: i64,
    failure: Option<(Option<String>, &ConnectorError)>,
) -> Result<(), DbErr> {
    let Some(fresh) = store::source_by_id(&state.db, src.id).await? else { return Ok(()) };
    let mut m = source_rows::ActiveModel::from(fresh.clone());
    m.last_sync_at = Set(Some(Utc::now()));
    // Admins hear once when a source starts failing and once when it recovers.
    let mut changed: Option<(bool, Option<String>)> = None;
    match failure {
        Some((stream, e)) => {
            sources::note_failure(
                &mut m,
                &fresh,
                &Failure { at: Utc::now(), during: "sync".into(), run_id: Some(run_id), stream, error: e.clone() },
            );
            if sources::is_config_failure(e.class) {
                m.status = Set(sources::FAILING);
                if fresh.status != sources::FAILING {
                    changed = Some((true, Some(e.message.clone())));
                }
            }
        }
        None => {
            sources::note_success(&mut m);
            if fresh.status == sources::FAILING {
                m.status = Set(sources::ACTIVE);
                m.next_sync_at = Set(sources::next_from_now(&fresh));
                changed = Some((false, None));
            }
        }
    }
    store::save_source(&state.db, m).await?;
    if let Some((failing, error)) = changed {
        crate::notify::notices::source_changed(state, &fresh, failing, error.as_deref()).await?;
    }
    Ok(())
}

/// The tab (and dataset) a stream fills, made on its first sync.
pub(super) async fn tab_for(
    state: &AppState,
    src: &source_rows::Model,
    stream: &StreamInfo,
) -> Result<(stream_tabs::Model, datasets::Model), DbErr> {
    let existing = store::tabs_of_source(&state.db, src.id).await?.into_iter().find(|t| t.stream == stream.name);
    if let Some(tab) = &existing
        && let Some(ds) = <datasets::Entity as sea_orm::EntityTrait>::find_by_id(tab.dataset_id).one(&state.db).await?
    {
        return Ok((tab.clone(), ds));
    }
    // Dataset names are unique per workspace: "source · stream", numbered if taken.
    let base: String = format!("{} · {}", src.name, stream.name).chars().take(150).collect();
    let mut n = 1;
    let ds = loop {
        let name = if n == 1 { base.clone() } else { format!("{base} ({n})") };
        let new = NewDataset {
            workspace_id: src.workspace_id,
            name: &name,
            columns: &stream.columns,
            primary_key: stream.primary_key.as_deref(),
            source: &format!("connector:{}", src.kind),
            created_by: src.created_by,
        };
        if let Some(ds) = dstore::create(&state.db, new).await? {
            break ds;
        }
        n += 1;
    };
    let tab = match existing {
        // Its dataset was deleted in Data Hub: the tab gets a fresh one.
        Some(tab) => {
            let mut m = stream_tabs::ActiveModel::from(tab);
            m.dataset_id = Set(ds.id);
            m.pending_generation = Set(None);
            m.cursor = Set(None);
            sea_orm::ActiveModelTrait::update(m, &state.db).await?
        }
        None => store::add_tab(&state.db, src, &stream.name, ds.id).await?,
    };
    Ok((tab, ds))
}

use super::*;

#[allow(clippy::too_many_arguments)]
pub(super) async fn sync_stream(
    job: &mut Job<'_>,
    i: usize,
    kind: &dyn Connector,
    cx: &Ctx,
    src: &source_rows::Model,
    stream: &StreamInfo,
    mode: Option<&sources::StreamMode>,
) -> Result<Outcome, DbErr> {
    let state = job.state;
    let (tab, ds) = tab_for(state, src, stream).await?;
    let stored = dstore::columns(&ds);
    let stream = &StreamInfo { columns: effective_columns(&stored, &stream.columns), ..stream.clone() };
    let changes = if ds.state == "ready" { schema_changes(&stored, &stream.columns) } else { Vec::new() };
    if !changes.is_empty() {
        job.note("warning", format!("{}: schema changed: {}.", stream.name, changes.join("; ")));
        job.streams[i].schema_changes = changes.clone();
    }
    let cursor_column = mode.filter(|m| m.mode == sources::INCREMENTAL).and_then(|m| m.cursor.clone());
    let Some(column) = cursor_column else { return full_refresh(job, i, kind, cx, stream, &tab, &ds, None).await };
    // The filter parameter the person named, if any, replaces the kind's choice.
    let chosen = match mode.and_then(|m| m.filter.as_deref()) {
        Some(param) => match kind.choose_filter(stream, &column, param) {
            Ok(s) => s,
            Err(why) => return Ok(Outcome::Failed(ConnectorError::config(why))),
        },
        None => stream.clone(),
    };
    let stream = &chosen;
    let cursor: Option<Value> = tab.cursor.as_ref().map(|c| c.0.clone());
    match cursor {
        Some(c) if ds.state == "ready" && changes.is_empty() && tab.pending_generation.is_none() => {
            incremental(job, i, kind, cx, stream, &tab, &ds, &column, c).await
        }
        _ => {
            if !changes.is_empty() {
                job.note(
                    "info",
                    format!(
                        "{}: a full refresh applies the new columns; later syncs are incremental again.",
                        stream.name
                    ),
                );
            }
            full_refresh(job, i, kind, cx, stream, &tab, &ds, Some(&column)).await
        }
    }
}

/// Reads the whole stream into a new generation (resuming one a stopped
/// process began), then commits it with the stream's columns.
#[allow(clippy::too_many_arguments)]
pub(super) async fn full_refresh(
    job: &mut Job<'_>,
    i: usize,
    kind: &dyn Connector,
    cx: &Ctx,
    stream: &StreamInfo,
    tab: &stream_tabs::Model,
    ds: &datasets::Model,
    cursor_column: Option<&str>,
) -> Result<Outcome, DbErr> {
    let db = &job.state.db;
    let pk = stream.primary_key.as_ref().and_then(|p| stream.columns.iter().position(|c| c.name == *p));
    let mut pending: PendingRefresh = tab.pending_state.as_ref().map(|p| p.0.clone()).unwrap_or_default();
    let mut writer: Writer = match tab.pending_generation {
        // Committed just before a stop: only the bookkeeping was left.
        Some(g) if g == ds.generation && ds.state == "ready" => {
            store::clear_pending(db, tab.id).await?;
            job.streams[i].records_read = tab.pending_rows as u64;
            job.streams[i].records_written = tab.pending_rows as u64;
            return Ok(Outcome::Done);
        }
        Some(g) => {
            job.note("info", format!("{}: resuming the full refresh after record {}.", stream.name, tab.pending_rows));
            job.streams[i].records_read = tab.pending_rows as u64;
            dstore::resume_replace(db, ds, g, tab.pending_rows, tab.pending_size).await?
        }
        None => {
            pending = PendingRefresh::default();
            let w = dstore::open_replace(db, ds).await?;
            let (g, _, _) = w.progress();
            store::set_pending(db, tab.id, g, &pending, 0, 0).await?;
            w
        }
    };
    job.streams[i].records_written = writer.written();
    let mut n = writer.written();
    let mut columns = pending.columns.clone().unwrap_or_else(|| stream.columns.clone());
    let mut paging = Paging::default();
    while !pending.done {
        if let Some(o) = job.interrupted() {
            return Ok(give_up(job, tab, writer, o).await);
        }
        let position = pending.position.clone();
        let batch: Batch = match job.call(Some(i), || kind.read(cx, stream, position.clone(), BATCH)).await {
            Ok(b) => b,
            Err(o) => return Ok(give_up(job, tab, writer, o).await),
        };
        if let Err(o) = job.within_rows(i, batch.records.len()) {
            return Ok(give_up(job, tab, writer, o).await);
        }
        let fitted = fit_columns(&mut columns, &batch.records, n + 1);
        let rows = rows_of(&columns, pk, &mut n, &batch.records);
        if let Err(o) = paging.check(position.as_ref(), batch.next.as_ref(), &rows) {
            return Ok(give_up(job, tab, writer, o).await);
        }
        let (generation, _, _) = writer.progress();
        apply_fit(job, i, db, ds.id, generation, fitted).await?;
        pending.columns = (columns != stream.columns).then(|| columns.clone());
        if let Some(c) = cursor_column {
            for r in &batch.records {
                if let Some(v) = r.get(c).filter(|v| !v.is_null())
                    && pending.max_cursor.as_ref().is_none_or(|m| after_value(v, m))
                {
                    pending.max_cursor = Some(v.clone());
                }
            }
        }
        job.streams[i].records_read += rows.len() as u64;
        let count = rows.len() as u64;
        if !rows.is_empty()
            && let Err(e) = writer.write(db, rows).await
        {
            let e = ConnectorError::shape(format!("A record could not be stored: {e}"));
            return Ok(give_up(job, tab, writer, Outcome::Failed(e)).await);
        }
        crate::metrics::sync_rows(count);
        match batch.next {
            Some(next) if !batch.records.is_empty() => pending.position = Some(next),
            _ => pending.done = true,
        }
        let (g, rows_so_far, size) = writer.progress();
        store::set_pending(db, tab.id, g, &pending, rows_so_far, size).await?;
        job.streams[i].records_written = writer.written();
        job.save().await?;
    }
    if job.control.lost() {
        return Ok(Outcome::Lost);
    }
    writer.commit(db, Some(&columns)).await?;
    // A stop between these two statements is caught by the generation check above.
    store::clear_pending(db, tab.id).await?;
    if cursor_column.is_some() {
        store::set_cursor(db, tab.id, pending.max_cursor.as_ref()).await?;
    }
    store::tab_synced(db, tab.id).await?;
    job.state.hub.changed().await;
    Ok(Outcome::Done)
}

/// Ends a full refresh that will not commit. Cancelled or failed: its rows go,
/// the old ones stay. Lost: the node that holds the run now carries on.
pub(super) async fn give_up(job: &Job<'_>, tab: &stream_tabs::Model, writer: Writer, outcome: Outcome) -> Outcome {
    if matches!(outcome, Outcome::Lost) {
        return outcome;
    }
    writer.abort(&job.state.db).await;
    if let Err(e) = store::clear_pending(&job.state.db, tab.id).await {
        tracing::warn!(error = %e, tab = tab.id, "clearing a stopped refresh failed");
    }
    outcome
}

/// Reads records after the saved cursor; each batch commits with its cursor.
#[allow(clippy::too_many_arguments)]
pub(super) async fn incremental(
    job: &mut Job<'_>,
    i: usize,
    kind: &dyn Connector,
    cx: &Ctx,
    stream: &StreamInfo,
    tab: &stream_tabs::Model,
    ds: &datasets::Model,
    column: &str,
    mut cursor: Value,
) -> Result<Outcome, DbErr> {
    let db = &job.state.db;
    let pk = stream.primary_key.as_ref().and_then(|p| stream.columns.iter().position(|c| c.name == *p));
    job.note("info", format!("{}: reading records after {column} = {cursor}.", stream.name));
    let mut n = 0u64;
    // The lower bound stays for the whole read; the source's own paging
    // (`position`) walks through it, ties included.
    let after = cursor.clone();
    let mut position: Option<Value> = None;
    let mut columns = stream.columns.clone();
    let mut paging = Paging::default();
    loop {
        if let Some(o) = job.interrupted() {
            return Ok(o);
        }
        let (from, at) = (after.clone(), position.clone());
        let batch: Batch = match job
            .call(Some(i), || kind.read_after(cx, stream, column, Some(from.clone()), at.clone(), BATCH))
            .await
        {
            Ok(b) => b,
            Err(o) => return Ok(o),
        };
        if batch.records.is_empty() {
            break;
        }
        if let Err(o) = job.within_rows(i, batch.records.len()) {
            return Ok(o);
        }
        let before = columns.clone();
        let fitted = fit_columns(&mut columns, &batch.records, n + 1);
        let rows = rows_of(&columns, pk, &mut n, &batch.records);
        if let Err(o) = paging.check(position.as_ref(), batch.next.as_ref(), &rows) {
            return Ok(o);
        }
        let last = batch
            .records
            .iter()
            .filter_map(|r| r.get(column))
            .filter(|v| !v.is_null())
            .fold(cursor.clone(), |m, v| if after_value(v, &m) { v.clone() } else { m });
        job.streams[i].records_read += rows.len() as u64;
        let count = rows.len() as u64;
        let mut writer = dstore::open_incremental(db, ds).await?;
        // Widened columns' older rows are rewritten in the batch's transaction.
        if let Some(txn) = writer.transaction() {
            apply_fit(job, i, txn, ds.id, ds.generation, fitted).await?;
        }
        if let Err(e) = writer.write(db, rows).await {
            writer.abort(db).await;
            return Ok(Outcome::Failed(ConnectorError::shape(format!("A record could not be stored: {e}"))));
        }
        // The cursor commits with the rows it covers: a stop after this
        // batch resumes above it, a stop before leaves both unwritten.
        if let Some(txn) = writer.transaction() {
            store::set_cursor(txn, tab.id, Some(&last)).await?;
        }
        writer.commit(db, (columns != before).then_some(columns.as_slice())).await?;
        crate::metrics::sync_rows(count);
        job.streams[i].records_written += count;
        job.save().await?;
        cursor = last;
        match batch.next {
            Some(next) => position = Some(next),
            None => break,
        }
    }
    store::tab_synced(db, tab.id).await?;
    job.state.hub.changed().await;
    Ok(Outcome::Done)
}

use super::*;

/// What a reader asks for. Column indexes refer to the dataset's columns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ReadQuery {
    /// Column, comparison, value (typed per column).
    pub filters: Vec<(usize, Cmp, String)>,
    pub search: Option<String>,
    /// Column and descending; none = row order.
    pub order: Option<(usize, bool)>,
    pub limit: u64,
    pub offset: u64,
}

pub struct Page {
    pub rows: Vec<Vec<Value>>,
    /// Records matching the query (all of them, not just this page).
    pub count: u64,
}

/// The expression for column `i` of a row's JSON array.
pub(super) fn element(backend: DatabaseBackend, i: usize) -> String {
    match backend {
        DatabaseBackend::Postgres => format!("(data::jsonb -> {i})"),
        _ => format!("json_extract(data, '$[{i}]')"),
    }
}

/// `WHERE …` for the query's filters and search (values typed per column).
pub(super) fn conditions(
    backend: DatabaseBackend,
    ds: &datasets::Model,
    cols: &[Column],
    q: &ReadQuery,
    sql: &mut Sql,
) {
    sql.push(" WHERE dataset_id = ").bind(ds.id).push(" AND generation = ").bind(ds.generation);
    for (i, cmp, raw) in &q.filters {
        let value = crate::domain::schema::typed(&crate::domain::schema::Raw::Text(raw.clone()), cols[*i].kind)
            .unwrap_or(Value::Null);
        let expr = element(backend, *i);
        if value.is_null() {
            // `field=` is "no value"; a range with no value matches nothing.
            let none = if *cmp == Cmp::Eq { format!(" AND {expr} IS NULL") } else { " AND 1 = 0".to_owned() };
            sql.push(&none);
            continue;
        }
        sql.push(&format!(" AND {expr} {} ", cmp.sql()));
        match backend {
            DatabaseBackend::Postgres => {
                sql.push("CAST(").bind(value.to_string()).push(" AS jsonb)");
            }
            _ => {
                match value {
                    Value::Bool(b) => sql.bind(i64::from(b)),
                    Value::Number(n) if n.is_i64() => sql.bind(n.as_i64().unwrap_or_default()),
                    Value::Number(n) => sql.bind(n.as_f64().unwrap_or_default()),
                    Value::String(s) => sql.bind(s),
                    other => sql.bind(other.to_string()),
                };
            }
        }
    }
    if let Some(term) = q.search.as_deref().filter(|t| !t.is_empty()) {
        let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let op = if backend == DatabaseBackend::Postgres { "ILIKE" } else { "LIKE" };
        sql.push(&format!(" AND data {op} ")).bind(format!("%{escaped}%")).push(" ESCAPE '\\'");
    }
}

/// `SELECT data … ORDER BY … LIMIT … OFFSET …`: one page of the query.
pub(super) fn select(backend: DatabaseBackend, ds: &datasets::Model, cols: &[Column], q: &ReadQuery) -> Sql {
    let plain = q.filters.is_empty() && q.search.as_deref().is_none_or(str::is_empty);
    let mut sql = Sql::new(backend, "SELECT data FROM dataset_rows");
    conditions(backend, ds, cols, q, &mut sql);
    match q.order {
        // Row order: the page is a key range; nothing before it is read.
        None if plain => {
            sql.push(" AND pos >= ").bind(q.offset as i64).push(" AND pos < ").bind((q.offset + q.limit) as i64);
            sql.push(" ORDER BY pos");
        }
        None => {
            sql.push(" ORDER BY pos LIMIT ").bind(q.limit as i64).push(" OFFSET ").bind(q.offset as i64);
        }
        Some((i, desc)) => {
            let dir = if desc { "DESC" } else { "ASC" };
            sql.push(&format!(" ORDER BY {} {dir}, pos {dir} LIMIT ", element(backend, i)));
            sql.bind(q.limit as i64).push(" OFFSET ").bind(q.offset as i64);
        }
    }
    sql
}

/// One page of rows and the number of matching rows.
pub async fn read(db: &impl ConnectionTrait, ds: &datasets::Model, q: &ReadQuery) -> Result<Page, DbErr> {
    let mut rows = Vec::new();
    let backend = db.get_database_backend();
    let cols = columns(ds);
    for r in db.query_all_raw(select(backend, ds, &cols, q).build()).await? {
        let data: String = r.try_get("", "data")?;
        rows.push(serde_json::from_str(&data).map_err(|e| stored_row_unreadable(ds, e))?);
    }
    Ok(Page { rows, count: count(db, ds, q).await? })
}

/// The number of rows matching the query's filters and search.
pub async fn count(db: &impl ConnectionTrait, ds: &datasets::Model, q: &ReadQuery) -> Result<u64, DbErr> {
    if q.filters.is_empty() && q.search.as_deref().is_none_or(str::is_empty) {
        return Ok(ds.row_count.max(0) as u64);
    }
    let backend = db.get_database_backend();
    let mut sql = Sql::new(backend, "SELECT COUNT(*) AS n FROM dataset_rows");
    conditions(backend, ds, &columns(ds), q, &mut sql);
    Ok(match db.query_one_raw(sql.build()).await? {
        Some(r) => r.try_get::<i64>("", "n")?.max(0) as u64,
        None => 0,
    })
}

/// `pos json` lines (as joined by the database) → the JSON texts in
/// position order, one per line; `None` unless they are exactly the
/// positions `from..to` (a generation dropped while it was read).
pub(super) fn in_position_order(joined: &str, from: i64, to: i64) -> Option<String> {
    let mut lines: Vec<(i64, &str)> = Vec::with_capacity((to - from).max(0) as usize);
    for line in joined.split('\n').filter(|l| !l.is_empty()) {
        let (pos, json) = line.split_once(' ')?;
        lines.push((pos.parse().ok()?, json));
    }
    if !lines.is_sorted_by_key(|(p, _)| *p) {
        lines.sort_unstable_by_key(|(p, _)| *p);
    }
    let expected = from..to;
    if lines.len() as i64 != to - from || !lines.iter().zip(expected).all(|((p, _), want)| *p == want) {
        return None;
    }
    let mut out = String::with_capacity(joined.len());
    for (_, json) in lines {
        out.push_str(json);
        out.push('\n');
    }
    Some(out)
}

/// Rows per chunk of `stream`.
pub(super) const CHUNK_ROWS: i64 = 4_096;

/// Every row matching the query from its offset on (its limit ignored), in
/// its order, as chunks of up to `CHUNK_ROWS` rows' JSON texts joined by
/// `\n` (JSON text never holds a raw newline). The database joins the rows,
/// so a million rows cross the driver as a few hundred values; memory is
/// bounded by a chunk, not by the dataset.
///
/// - Row order without filters: one short query per range of positions
///   (no connection held between chunks, however slow the reader). The
///   generation read is fixed, so a replacement committed meanwhile cannot
///   mix in; if it drops the old rows first, a short chunk before the known
///   end is an error, never a silently shorter file.
/// - Anything else: one statement numbering the matching rows in order,
///   chunked by number — one consistent view.
pub fn stream<'a>(
    db: &'a DatabaseConnection,
    ds: &datasets::Model,
    q: &ReadQuery,
) -> futures_util::stream::BoxStream<'a, Result<String, DbErr>> {
    use futures_util::StreamExt;
    let backend = db.get_database_backend();
    let joined = |order: &str| match backend {
        DatabaseBackend::Postgres => format!("string_agg(data, E'\\n' ORDER BY {order})"),
        _ => format!("group_concat(data, char(10) ORDER BY {order})"),
    };
    let plain = q.filters.is_empty() && q.search.as_deref().is_none_or(str::is_empty);
    if plain && q.order.is_none() {
        let (ds, end) = (ds.clone(), ds.row_count.max(0));
        // Each row as `pos json`, joined in scan order (the key's order):
        // no sort in the database; the positions prove order and completeness.
        let line = match backend {
            DatabaseBackend::Postgres => "string_agg(pos::text || ' ' || data, E'\\n')",
            _ => "group_concat(pos || ' ' || data, char(10))",
        };
        let select = format!("SELECT {line} AS chunk FROM dataset_rows WHERE dataset_id = ");
        // The next chunk is read (on the driver's thread) while this one is
        // written out: two queries in flight, in order.
        let starts = (q.offset as i64..end).step_by(CHUNK_ROWS as usize);
        return futures_util::stream::iter(starts)
            .map(move |from| {
                let (ds, select) = (ds.clone(), select.clone());
                async move {
                    let to = (from + CHUNK_ROWS).min(end);
                    let mut sql = Sql::new(backend, &select);
                    sql.bind(ds.id)
                        .push(" AND generation = ")
                        .bind(ds.generation)
                        .push(" AND pos >= ")
                        .bind(from)
                        .push(" AND pos < ")
                        .bind(to);
                    let joined = match db.query_one_raw(sql.build()).await? {
                        Some(r) => r.try_get::<Option<String>>("", "chunk")?.unwrap_or_default(),
                        None => String::new(),
                    };
                    in_position_order(&joined, from, to).ok_or_else(|| {
                        DbErr::Custom(format!(
                            "dataset {} changed while it was read (rows {from}..{to} are not all there)",
                            ds.id
                        ))
                    })
                }
            })
            .buffered(2)
            .boxed();
    }
    let cols = columns(ds);
    let order = match q.order {
        Some((i, desc)) => {
            let dir = if desc { "DESC" } else { "ASC" };
            format!("{} {dir}, pos {dir}", element(backend, i))
        }
        None => "pos".to_owned(),
    };
    let mut sql = Sql::new(
        backend,
        &format!(
            "SELECT {} AS chunk FROM (SELECT data, ROW_NUMBER() OVER (ORDER BY {order}) - 1 AS rn FROM dataset_rows",
            joined("rn")
        ),
    );
    conditions(backend, ds, &cols, q, &mut sql);
    sql.push(") numbered WHERE rn >= ").bind(q.offset as i64);
    // The same expression in both clauses, as text: PostgreSQL does not take
    // `rn / $2` and `rn / $3` for one grouping.
    sql.push(&format!(" GROUP BY rn / {CHUNK_ROWS} ORDER BY rn / {CHUNK_ROWS}"));
    let stmt = sql.build();
    futures_util::stream::once(async move {
        use sea_orm::StreamTrait;
        db.stream_raw(stmt).await
    })
    .map(|opened| match opened {
        Ok(rows) => rows.map(|r| r?.try_get::<String>("", "chunk")).boxed(),
        Err(e) => futures_util::stream::once(async move { Err(e) }).boxed(),
    })
    .flatten()
    .boxed()
}

/// Up to `limit` rows from position `from` on, in row order: for streaming a
/// whole dataset without holding it.
pub async fn rows_from(
    db: &impl ConnectionTrait,
    ds: &datasets::Model,
    from: i64,
    limit: i64,
) -> Result<Vec<Vec<Value>>, DbErr> {
    let mut sql = Sql::new(db.get_database_backend(), "SELECT data FROM dataset_rows WHERE dataset_id = ");
    sql.bind(ds.id).push(" AND generation = ").bind(ds.generation);
    sql.push(" AND pos >= ").bind(from).push(" AND pos < ").bind(from + limit).push(" ORDER BY pos");
    let mut rows = Vec::new();
    for r in db.query_all_raw(sql.build()).await? {
        let data: String = r.try_get("", "data")?;
        rows.push(serde_json::from_str(&data).map_err(|e| stored_row_unreadable(ds, e))?);
    }
    Ok(rows)
}

/// A stored row is JSON keyhub wrote; one that does not read back is a fault
/// to name, not an empty row to serve.
fn stored_row_unreadable(ds: &datasets::Model, e: serde_json::Error) -> DbErr {
    DbErr::Type(format!("a stored row of dataset {} does not read back: {e}", ds.id))
}

#[cfg(test)]
mod chunk_tests {
    use super::in_position_order;

    #[test]
    fn chunks_come_back_in_position_order_and_whole_or_not_at_all() {
        assert_eq!(in_position_order("4 [1]\n5 [2]\n6 [3]", 4, 7).as_deref(), Some("[1]\n[2]\n[3]\n"));
        assert_eq!(
            in_position_order("6 [3]\n4 [1]\n5 [2]", 4, 7).as_deref(),
            Some("[1]\n[2]\n[3]\n"),
            "sorted when the database did not"
        );
        assert_eq!(in_position_order("4 [1]\n6 [3]", 4, 7), None, "a missing row");
        assert_eq!(in_position_order("", 4, 7), None);
        assert_eq!(in_position_order("4 [\"a b\"]", 4, 5).as_deref(), Some("[\"a b\"]\n"));
    }
}

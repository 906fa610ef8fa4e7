use super::*;

/// Columns added, removed or retyped between the stored and the found ones.
pub(super) fn schema_changes(old: &[Column], new: &[Column]) -> Vec<String> {
    let mut out = Vec::new();
    for c in new {
        match old.iter().find(|o| o.name == c.name) {
            None => out.push(format!("new column “{}” ({})", c.name, c.kind.as_str())),
            Some(o) if o.kind != c.kind => {
                out.push(format!("column “{}” changed from {} to {}", c.name, o.kind.as_str(), c.kind.as_str()))
            }
            Some(_) => {}
        }
    }
    for o in old.iter().filter(|o| !new.iter().any(|c| c.name == o.name)) {
        out.push(format!("column “{}” removed", o.name));
    }
    out
}

/// One record as a stored row: values in column order, typed; a value that
/// does not fit its column's type is kept as text rather than dropped.
pub(super) fn row_of(columns: &[Column], pk: Option<usize>, n: u64, record: &serde_json::Map<String, Value>) -> RowIn {
    let values: Vec<Value> = columns
        .iter()
        .map(|c| {
            let raw = match record.get(&c.source) {
                Some(Value::Array(_) | Value::Object(_)) => Raw::Text(record[&c.source].to_string()),
                Some(v) => Raw::Json(v.clone()),
                None => Raw::Json(Value::Null),
            };
            typed(&raw, c.kind).unwrap_or_else(|_| match raw {
                Raw::Json(v) => Value::String(crate::domain::schema::display(&v)),
                Raw::Text(t) => Value::String(t),
            })
        })
        .collect();
    let pk = pk.and_then(|i| key_text(&values[i]));
    RowIn { row: n, pk, data: serde_json::to_string(&values).unwrap_or_else(|_| "[]".into()) }
}

/// A batch's records as rows, numbered on from `n`.
pub(super) fn rows_of(
    columns: &[Column],
    pk: Option<usize>,
    n: &mut u64,
    records: &[serde_json::Map<String, Value>],
) -> Vec<RowIn> {
    records
        .iter()
        .map(|r| {
            *n += 1;
            row_of(columns, pk, *n, r)
        })
        .collect()
}

/// Applies a batch's column changes: recorded on the run, and rows of
/// `generation` already written turned to text where a column became text.
pub(super) async fn apply_fit(
    job: &mut Job<'_>,
    i: usize,
    db: &impl sea_orm::ConnectionTrait,
    dataset_id: i64,
    generation: i64,
    fitted: Fitted,
) -> Result<(), DbErr> {
    if fitted.changes.is_empty() {
        return Ok(());
    }
    for index in fitted.restring {
        dstore::restring_column(db, dataset_id, generation, index).await?;
    }
    let stream = job.streams[i].stream.clone();
    job.note("warning", format!("{stream}: schema changed during the run: {}.", fitted.changes.join("; ")));
    job.streams[i].schema_changes.extend(fitted.changes);
    Ok(())
}

/// Whether cursor value `a` comes after `b` (numbers as numbers, the rest as text).
pub(super) fn after_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x > y,
        _ => {
            a.as_str().map(str::to_owned).unwrap_or_else(|| a.to_string())
                > b.as_str().map(str::to_owned).unwrap_or_else(|| b.to_string())
        }
    }
}

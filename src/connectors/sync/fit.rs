use super::*;

/// "6 hours", "90 seconds", "2 minutes".
pub(super) fn human_seconds(secs: u64) -> String {
    let plural = |n: u64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    if secs >= 3600 && secs.is_multiple_of(3600) {
        plural(secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        plural(secs / 60, "minute")
    } else {
        plural(secs, "second")
    }
}

/// Stops a source whose paging does not move on: the same position handed
/// back, or the same page of records twice in a row.
#[derive(Default)]
pub(super) struct Paging {
    pub(super) last_page: Option<u64>,
}

impl Paging {
    /// Checks a batch read at `at` that says to continue at `next`.
    /// `rows` are the batch as it will be stored: comparing their (already
    /// serialised) values costs one hash pass, no second serialisation.
    pub(super) fn check(&mut self, at: Option<&Value>, next: Option<&Value>, rows: &[RowIn]) -> Result<(), Outcome> {
        let fail = |m: String| Err(Outcome::Failed(ConnectorError::new(ErrorClass::LimitReached, m)));
        if !rows.is_empty() {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            for r in rows {
                r.data.hash(&mut h);
            }
            let page = h.finish();
            if self.last_page == Some(page) {
                return fail(format!(
                    "The source answered the same page of {} records twice in a row: its paging does not move on, so the stream was stopped and its old rows are kept.",
                    rows.len()
                ));
            }
            self.last_page = Some(page);
        }
        if let (Some(at), Some(next)) = (at, next)
            && at == next
            && !rows.is_empty()
        {
            return fail("The source handed back the position it was asked for as the next page: it would be read again and again, so the stream was stopped and its old rows are kept.".into());
        }
        Ok(())
    }
}

/// What one batch changed in the columns, for the run's record.
pub(super) struct Fitted {
    pub(super) changes: Vec<String>,
    /// Columns that became text and held numbers or booleans before.
    pub(super) restring: Vec<usize>,
}

/// Widens columns a batch's values do not fit and adds columns for keys not
/// seen before (inferring their type from the batch). `first` numbers the
/// batch's first record from 1.
pub(super) fn fit_columns(cols: &mut Vec<Column>, records: &[serde_json::Map<String, Value>], first: u64) -> Fitted {
    let mut out = Fitted { changes: Vec::new(), restring: Vec::new() };
    let raw = |v: &Value| match v {
        Value::Array(_) | Value::Object(_) => Raw::Text(v.to_string()),
        other => Raw::Json(other.clone()),
    };
    for (n, r) in records.iter().enumerate() {
        for (i, c) in cols.iter_mut().enumerate() {
            let Some(v) = r.get(&c.source) else { continue };
            let value = raw(v);
            if typed(&value, c.kind).is_ok() {
                continue;
            }
            let wider = widen(c.kind, type_of(&value));
            if wider == c.kind {
                continue;
            }
            out.changes.push(format!(
                "column “{}” changed from {} to {} at record {}",
                c.name,
                c.kind.as_str(),
                wider.as_str(),
                crate::domain::query::thousands(first + n as u64)
            ));
            if wider == ColumnType::Text
                && matches!(c.kind, ColumnType::Integer | ColumnType::Number | ColumnType::Boolean)
            {
                out.restring.push(i);
            }
            c.kind = wider;
        }
        for key in r.keys() {
            if cols.iter().any(|c| c.source == *key) {
                continue;
            }
            let mut inf = Inference::default();
            for v in records.iter().filter_map(|r| r.get(key)) {
                inf.observe(&raw(v));
            }
            let mut name = key.clone();
            while cols.iter().any(|c| c.name == name) {
                name.push('_');
            }
            let kind = inf.best();
            out.changes.push(format!(
                "new column “{name}” ({}) at record {}",
                kind.as_str(),
                crate::domain::query::thousands(first + n as u64)
            ));
            cols.push(Column { name, source: key.clone(), kind });
        }
    }
    out
}

/// The columns a stream syncs with: those discovered, but never narrower
/// than what is stored (a column widened by an earlier run stays wide, or
/// every run would count it as a schema change).
pub(super) fn effective_columns(stored: &[Column], discovered: &[Column]) -> Vec<Column> {
    discovered
        .iter()
        .map(|c| match stored.iter().find(|s| s.source == c.source) {
            Some(s) if s.kind != c.kind && widen(s.kind, c.kind) == s.kind => Column { kind: s.kind, ..c.clone() },
            _ => c.clone(),
        })
        .collect()
}

/// Exponential backoff with jitter, or the source's `Retry-After` (capped).
pub(super) fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(r) = retry_after {
        return r.min(MAX_WAIT);
    }
    let base = BACKOFF * 2u32.pow(attempt.saturating_sub(1).min(6));
    let jitter = rand::rng().random_range(0..=base.as_millis() as u64 / 2);
    base + Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(json: &str) -> Vec<serde_json::Map<String, Value>> {
        serde_json::from_str(json).unwrap()
    }

    fn col(name: &str, kind: ColumnType) -> Column {
        Column { name: name.into(), source: name.into(), kind }
    }

    #[test]
    fn values_that_do_not_fit_widen_their_column_and_new_keys_add_columns() {
        let mut cols =
            vec![col("id", ColumnType::Integer), col("n", ColumnType::Integer), col("ok", ColumnType::Boolean)];
        let f = fit_columns(
            &mut cols,
            &records(r#"[{"id": 1, "n": 2, "ok": true}, {"id": 2, "n": 2.5, "ok": true}]"#),
            2001,
        );
        assert_eq!(cols[1].kind, ColumnType::Number);
        assert_eq!(f.changes, vec!["column “n” changed from integer to number at record 2,002"]);
        assert!(f.restring.is_empty(), "numbers stay numbers");
        let f = fit_columns(
            &mut cols,
            &records(r#"[{"id": 3, "n": "soon", "ok": "maybe", "note": "x"}, {"id": 4, "note": null}]"#),
            3001,
        );
        assert_eq!((cols[1].kind, cols[2].kind), (ColumnType::Text, ColumnType::Text));
        assert_eq!(f.restring, vec![1, 2]);
        assert_eq!(cols[3], col("note", ColumnType::Text));
        assert_eq!(f.changes.len(), 3, "{:?}", f.changes);
        assert!(f.changes[2].starts_with("new column “note” (text)"));
        let again = fit_columns(&mut cols, &records(r#"[{"id": 5, "n": "later", "note": "y"}]"#), 4001);
        assert!(again.changes.is_empty(), "nothing new: {:?}", again.changes);
    }

    #[test]
    fn a_widened_column_is_not_narrowed_by_the_next_discovery() {
        let stored = vec![col("id", ColumnType::Integer), col("n", ColumnType::Text)];
        let found = vec![col("id", ColumnType::Integer), col("n", ColumnType::Integer), col("m", ColumnType::Date)];
        let eff = effective_columns(&stored, &found);
        assert_eq!(eff, vec![col("id", ColumnType::Integer), col("n", ColumnType::Text), col("m", ColumnType::Date)]);
        assert!(schema_changes(&stored, &eff).iter().all(|c| !c.contains("“n”")));
    }

    #[test]
    fn paging_that_does_not_move_on_is_stopped() {
        let cols = vec![col("id", ColumnType::Integer)];
        let rows = |json: &str| rows_of(&cols, None, &mut 0, &records(json));
        let page = rows(r#"[{"id": 1}, {"id": 2}]"#);
        let mut p = Paging::default();
        assert!(p.check(None, Some(&Value::from("a")), &page).is_ok());
        assert!(
            matches!(p.check(Some(&Value::from("a")), Some(&Value::from("b")), &page), Err(Outcome::Failed(e)) if e.class == ErrorClass::LimitReached),
            "the same page twice"
        );
        let mut p = Paging::default();
        assert!(
            matches!(p.check(Some(&Value::from("a")), Some(&Value::from("a")), &page), Err(Outcome::Failed(_))),
            "the same position handed back"
        );
        let mut p = Paging::default();
        assert!(p.check(Some(&Value::from("a")), Some(&Value::from("b")), &page).is_ok());
        assert!(p.check(Some(&Value::from("b")), None, &rows(r#"[{"id": 3}]"#)).is_ok());
        assert_eq!(human_seconds(21_600), "6 hours");
        assert_eq!(human_seconds(1), "1 second");
    }
}

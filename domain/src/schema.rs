//! Columns, their types, and turning raw input (CSV text or JSON values) into
//! typed values. Pure: no I/O, unit-tested.
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Text,
    Integer,
    Number,
    Boolean,
    Date,
    Datetime,
}

impl ColumnType {
    pub const ALL: [ColumnType; 6] = [
        ColumnType::Text,
        ColumnType::Integer,
        ColumnType::Number,
        ColumnType::Boolean,
        ColumnType::Date,
        ColumnType::Datetime,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "integer",
            ColumnType::Number => "number",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::Datetime => "datetime",
        }
    }

    pub fn parse(s: &str) -> Option<ColumnType> {
        ColumnType::ALL.into_iter().find(|t| t.as_str() == s)
    }

    /// What a value of this type looks like, for error messages.
    fn expected(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "a whole number such as 42",
            ColumnType::Number => "a number such as 3.14",
            ColumnType::Boolean => "true or false",
            ColumnType::Date => "a date such as 2026-11-24",
            ColumnType::Datetime => "a date and time such as 2026-11-24T13:05:00Z",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// The name in the uploaded file, so a re-upload of the same file
    /// matches even after the column was renamed.
    pub source: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
}

/// One input value before typing: a CSV field or a JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Text(String),
    Json(Value),
}

impl Raw {
    fn is_null(&self) -> bool {
        match self {
            Raw::Text(s) => s.is_empty(),
            Raw::Json(v) => v.is_null(),
        }
    }

    /// Text to parse; JSON numbers and booleans as written, nested values as JSON.
    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            Raw::Text(s) => s.into(),
            Raw::Json(Value::String(s)) => s.into(),
            Raw::Json(v) => v.to_string().into(),
        }
    }
}

/// The types a column's values so far all fit, narrowed value by value.
#[derive(Debug, Clone, Copy)]
pub struct Inference {
    possible: u8,
    seen: bool,
}

impl Default for Inference {
    fn default() -> Self {
        Inference { possible: 0b11_1111, seen: false }
    }
}

impl Inference {
    pub fn observe(&mut self, raw: &Raw) {
        if raw.is_null() {
            return;
        }
        self.seen = true;
        for t in ColumnType::ALL {
            if t != ColumnType::Text && self.possible & t.bit() != 0 && typed(raw, t).is_err() {
                self.possible &= !t.bit();
            }
        }
    }

    /// The narrowest type every value fits; text when nothing was seen.
    pub fn best(&self) -> ColumnType {
        if !self.seen {
            return ColumnType::Text;
        }
        [ColumnType::Boolean, ColumnType::Integer, ColumnType::Number, ColumnType::Date, ColumnType::Datetime]
            .into_iter()
            .find(|t| self.possible & t.bit() != 0)
            .unwrap_or(ColumnType::Text)
    }
}

/// The narrowest type that holds every value of both `a` and `b`: a whole
/// number widens to a number, anything else that differs to text.
pub fn widen(a: ColumnType, b: ColumnType) -> ColumnType {
    match (a, b) {
        _ if a == b => a,
        (ColumnType::Integer, ColumnType::Number) | (ColumnType::Number, ColumnType::Integer) => ColumnType::Number,
        _ => ColumnType::Text,
    }
}

/// The type a single value would be inferred as.
pub fn type_of(raw: &Raw) -> ColumnType {
    let mut i = Inference::default();
    i.observe(raw);
    i.best()
}

/// The stored value of `raw` as a column of type `t`, or why it does not fit.
pub fn typed(raw: &Raw, t: ColumnType) -> Result<Value, String> {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let bad = |shown: &str| {
        let mut shown: String = shown.chars().take(40).collect();
        if shown.len() < raw.text().len() {
            shown.push('…');
        }
        Err(format!("“{shown}” is not {}", t.expected()))
    };
    match (t, raw) {
        (ColumnType::Text, _) => Ok(Value::String(raw.text().into_owned())),
        (ColumnType::Integer, Raw::Json(Value::Number(n))) if n.is_i64() => Ok(Value::Number(n.clone())),
        (ColumnType::Number, Raw::Json(Value::Number(n))) => Ok(Value::Number(n.clone())),
        (ColumnType::Boolean, Raw::Json(Value::Bool(b))) => Ok(Value::Bool(*b)),
        (_, Raw::Json(Value::Number(_) | Value::Bool(_) | Value::Array(_) | Value::Object(_))) => bad(&raw.text()),
        (ColumnType::Integer, _) => {
            let s = raw.text();
            match s.trim().parse::<i64>() {
                Ok(i) if !s.trim().starts_with('+') && !leading_zero(s.trim()) => Ok(Value::from(i)),
                _ => bad(&s),
            }
        }
        (ColumnType::Number, _) => {
            let s = raw.text();
            let t = s.trim();
            match t.parse::<f64>() {
                // Rust accepts "inf", "NaN" and "1e5"; only plain finite decimals count.
                Ok(f)
                    if f.is_finite()
                        && !leading_zero(t)
                        && t.bytes().all(|b| b.is_ascii_digit() || b"-.eE".contains(&b)) =>
                {
                    Ok(t.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(f)))
                }
                _ => bad(&s),
            }
        }
        (ColumnType::Boolean, _) => {
            let s = raw.text();
            match s.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => bad(&s),
            }
        }
        (ColumnType::Date, _) => {
            let s = raw.text();
            match NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
                Ok(d) if s.trim().len() == 10 => Ok(Value::String(d.format("%Y-%m-%d").to_string())),
                _ => bad(&s),
            }
        }
        (ColumnType::Datetime, _) => {
            let s = raw.text();
            parse_datetime(s.trim()).map(Value::String).map_or_else(|| bad(&s), Ok)
        }
    }
}

/// "0150" is a code (a postcode, an account number), not the number 150:
/// reading it as a number would lose the zero.
fn leading_zero(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s).as_bytes();
    digits.len() > 1 && digits[0] == b'0' && digits[1].is_ascii_digit()
}

/// RFC 3339 (stored in UTC) or a local date and time without offset (kept
/// as written, normalised); both sort correctly as text.
fn parse_datetime(s: &str) -> Option<String> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(dt.with_timezone(&Utc).to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, f) {
            return Some(dt.format("%Y-%m-%dT%H:%M:%S%.f").to_string());
        }
    }
    None
}

/// The primary-key text of a stored value (the same for `12` and `"12"` in an
/// integer column, since both are stored as 12).
pub fn key_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// A value as a cell of a CSV file keyhub writes: its text, with formulas
/// defused (see `domain::spreadsheet`); numbers and booleans as they are.
pub fn csv_cell(v: &Value) -> std::borrow::Cow<'_, str> {
    match v {
        Value::String(s) => crate::spreadsheet::cell(s),
        other => std::borrow::Cow::Owned(display(other)),
    }
}

/// A value as a CSV field or a page cell.
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn infer(values: &[&str]) -> ColumnType {
        let mut i = Inference::default();
        for v in values {
            i.observe(&Raw::Text((*v).into()));
        }
        i.best()
    }

    #[test]
    fn inference_picks_the_narrowest_type_all_values_fit() {
        assert_eq!(infer(&["1", "2", ""]), ColumnType::Integer);
        assert_eq!(infer(&["1", "2.5"]), ColumnType::Number);
        assert_eq!(infer(&["true", "FALSE"]), ColumnType::Boolean);
        assert_eq!(infer(&["2026-01-02", "2026-12-31"]), ColumnType::Date);
        assert_eq!(infer(&["2026-01-02T10:00:00Z", "2026-01-02 10:00:00"]), ColumnType::Datetime);
        assert_eq!(infer(&["1", "x"]), ColumnType::Text);
        assert_eq!(infer(&["", ""]), ColumnType::Text);
        assert_eq!(infer(&["+1"]), ColumnType::Text);
        assert_eq!(infer(&["0150", "0"]), ColumnType::Text);
        assert_eq!(infer(&["0", "0.5", "-0.25"]), ColumnType::Number);
        assert_eq!(infer(&["NaN"]), ColumnType::Text);
        assert_eq!(infer(&["2026-02-30"]), ColumnType::Text);
    }

    #[test]
    fn types_widen_to_what_holds_both() {
        use ColumnType::*;
        assert_eq!(widen(Integer, Number), Number);
        assert_eq!(widen(Number, Integer), Number);
        assert_eq!(widen(Integer, Text), Text);
        assert_eq!(widen(Boolean, Integer), Text);
        assert_eq!(widen(Date, Datetime), Text);
        assert_eq!(widen(Date, Date), Date);
        assert_eq!(type_of(&Raw::Json(Value::from(1.5))), Number);
        assert_eq!(type_of(&Raw::Json(Value::from("soon"))), Text);
    }

    #[test]
    fn values_are_stored_typed_and_refused_with_what_was_expected() {
        assert_eq!(typed(&Raw::Text("42".into()), ColumnType::Integer), Ok(Value::from(42)));
        assert_eq!(typed(&Raw::Text("4.0".into()), ColumnType::Number), Ok(Value::from(4.0)));
        assert_eq!(typed(&Raw::Text("".into()), ColumnType::Integer), Ok(Value::Null));
        assert_eq!(
            typed(&Raw::Text("2026-11-24T10:00:00+01:00".into()), ColumnType::Datetime),
            Ok(Value::from("2026-11-24T09:00:00Z"))
        );
        let err = typed(&Raw::Text("abc".into()), ColumnType::Integer).unwrap_err();
        assert!(err.contains("“abc” is not a whole number"), "{err}");
        assert!(typed(&Raw::Json(Value::from(1.5)), ColumnType::Integer).is_err());
        assert_eq!(typed(&Raw::Json(Value::from(true)), ColumnType::Text), Ok(Value::from("true")));
    }
}

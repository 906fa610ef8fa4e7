//! `Json<T>`: a text column holding JSON, read into its shape once, where the
//! row is loaded. A value that does not fit the shape fails the load with a
//! sentence naming the shape, instead of becoming an empty list wherever the
//! text used to be parsed. The column stays text (as every migration made it),
//! so rows written before keep loading, on SQLite and on PostgreSQL alike.
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable, Value};
use serde::Serialize;
use serde::de::DeserializeOwned;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Json<T>(pub T);

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// The shape's name without module paths (`Vec<LogLine>`), for messages.
fn shape<T: ?Sized>() -> String {
    let mut out = String::new();
    let mut word = String::new();
    for c in std::any::type_name::<T>().chars() {
        match c {
            ':' => word.clear(),
            c if c.is_alphanumeric() || c == '_' => word.push(c),
            c => {
                out.push_str(&word);
                word.clear();
                out.push(c);
            }
        }
    }
    out + &word
}

impl<T: Serialize> From<Json<T>> for Value {
    fn from(v: Json<T>) -> Self {
        value(&v.0)
    }
}

/// The stored text of a borrowed shape, for an update that sets the column
/// (`col_expr`) without owning the value.
pub fn value<T: Serialize + ?Sized>(v: &T) -> Value {
    // The shapes stored here have string keys and derived serializers,
    // which cannot fail; were one to, the load after would say so.
    let text = serde_json::to_string(v).unwrap_or_else(|e| {
        tracing::error!(shape = %shape::<T>(), error = %e, "a JSON column could not be written");
        String::from("null")
    });
    Value::String(Some(text))
}

fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("a stored {} does not read back: {e}", shape::<T>()))
}

impl<T: DeserializeOwned> TryGetable for Json<T> {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        let text = String::try_get_by(res, index)?;
        parse(&text).map(Json).map_err(|e| TryGetError::DbErr(DbErr::Type(e)))
    }
}

impl<T: DeserializeOwned> ValueType for Json<T> {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        let text = <String as ValueType>::try_from(v)?;
        parse(&text).map(Json).map_err(|_| ValueTypeErr)
    }

    fn type_name() -> String {
        format!("Json<{}>", shape::<T>())
    }

    fn array_type() -> ArrayType {
        ArrayType::String
    }

    fn column_type() -> ColumnType {
        ColumnType::Text
    }
}

impl<T> Nullable for Json<T> {
    fn null() -> Value {
        Value::String(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shape_round_trips_through_its_text() {
        let v: Value = Json(vec![String::from("10.0.0.0/8")]).into();
        assert_eq!(v, Value::String(Some(r#"["10.0.0.0/8"]"#.into())));
        let back: Json<Vec<String>> = ValueType::try_from(v).unwrap();
        assert_eq!(back.0, ["10.0.0.0/8"]);
    }

    #[test]
    fn text_that_does_not_fit_is_refused_with_the_shape_named() {
        let e = parse::<Vec<String>>(r#"{"a":1}"#).unwrap_err();
        assert!(e.starts_with("a stored Vec<String> does not read back:"), "{e}");
        assert!(<Json<Vec<String>> as ValueType>::try_from(Value::String(Some("[1]".into()))).is_err());
    }
}

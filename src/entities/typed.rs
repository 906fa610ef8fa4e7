//! `Typed<T>`: a text column read into its domain type once, where the row is
//! loaded (`domain::stored::Stored` says which words it takes). A word the
//! type does not know fails the load with a sentence naming it, instead of
//! falling back to a default wherever the string used to be parsed.
use sea_orm::sea_query::{ArrayType, ColumnType, Nullable, ValueType, ValueTypeErr};
use sea_orm::{ColIdx, DbErr, QueryResult, TryGetError, TryGetable, Value};

use crate::domain::stored::Stored;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Typed<T>(pub T);

impl<T> std::ops::Deref for Typed<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: Stored> From<T> for Typed<T> {
    fn from(v: T) -> Self {
        Typed(v)
    }
}

impl<T: Stored> From<Typed<T>> for Value {
    fn from(v: Typed<T>) -> Self {
        Value::String(Some(v.0.as_stored().to_owned()))
    }
}

impl<T: Stored> TryGetable for Typed<T> {
    fn try_get_by<I: ColIdx>(res: &QueryResult, index: I) -> Result<Self, TryGetError> {
        let word = String::try_get_by(res, index)?;
        T::from_stored(&word)
            .map(Typed)
            .ok_or_else(|| TryGetError::DbErr(DbErr::Type(format!("“{word}” is not a {} keyhub knows", T::WHAT))))
    }
}

impl<T: Stored> ValueType for Typed<T> {
    fn try_from(v: Value) -> Result<Self, ValueTypeErr> {
        let word = <String as ValueType>::try_from(v)?;
        T::from_stored(&word).map(Typed).ok_or(ValueTypeErr)
    }

    fn type_name() -> String {
        format!("Typed<{}>", T::WHAT)
    }

    fn array_type() -> ArrayType {
        ArrayType::String
    }

    fn column_type() -> ColumnType {
        ColumnType::Text
    }
}

impl<T> Nullable for Typed<T> {
    fn null() -> Value {
        Value::String(None)
    }
}

/// The stored word, as pages and logs have always shown it.
impl<T: Stored> std::fmt::Display for Typed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_stored())
    }
}

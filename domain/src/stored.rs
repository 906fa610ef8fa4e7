//! Words a value is stored as. A type that knows its stored word (`active`,
//! `api_key`, `admin`) implements `Stored`; the entities keep such a column as
//! `entities::Typed<T>`, so a stored value is read into its type once, where it
//! is loaded, and an unknown word is an error there — never a silent default
//! somewhere later.
pub trait Stored: Sized + Copy {
    /// What the value is, for the error about an unknown word (`hub key status`).
    const WHAT: &'static str;
    fn as_stored(self) -> &'static str;
    fn from_stored(word: &str) -> Option<Self>;
}

/// `Stored` for a type with `as_str` and `parse` (the usual pair here).
macro_rules! stored {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl Stored for $ty {
            const WHAT: &'static str = $what;
            fn as_stored(self) -> &'static str {
                self.as_str()
            }
            fn from_stored(word: &str) -> Option<Self> {
                <$ty>::parse(word)
            }
        }
    )*};
}

stored! {
    crate::hub_keys::AccessType => "hub key access type",
    crate::hub_keys::KeyStatus => "hub key status",
    crate::datahub::Access => "endpoint access",
    crate::permissions::Role => "role",
    crate::live_data::SourceStatus => "source status",
    crate::live_data::RunStatus => "sync run status",
}

#[cfg(test)]
mod tests {
    use super::Stored;
    use crate::hub_keys::{AccessType, KeyStatus};

    #[test]
    fn every_word_reads_back_as_its_value() {
        for a in AccessType::ALL {
            assert_eq!(AccessType::from_stored(a.as_stored()), Some(a));
        }
        for s in [KeyStatus::Active, KeyStatus::Inactive] {
            assert_eq!(KeyStatus::from_stored(s.as_stored()), Some(s));
        }
        assert_eq!(KeyStatus::from_stored("actve"), None, "an unknown word is not a status");
    }
}

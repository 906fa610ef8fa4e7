//! Numbers a client puts in a query string (`page`, `offset`, `limit`, …).
//!
//! Every one is read into a bounded type: a value outside its range — or one
//! that is not a whole number at all — is refused with the parameter's name
//! and the range, never wrapped, clamped in silence or left to overflow later
//! (`page=18446744073709551615` once overflowed `(page - 1) * 25` and killed
//! the worker).
use std::fmt;

/// The largest page number any list accepts (a list that long has no last page
/// anyone reaches; a page past the end shows the last one).
pub const MAX_PAGE: u64 = 1_000_000_000;
/// The largest `offset`: beyond any dataset keyhub stores, far below where
/// `offset + limit` or a cast to SQL's signed 64-bit integers could overflow.
pub const MAX_OFFSET: u64 = 1_000_000_000_000;

/// Why a query parameter was refused: the parameter and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub parameter: String,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// `raw` as a whole number from `min` to `max`, or a refusal naming `parameter`.
pub fn whole(parameter: &str, raw: &str, min: u64, max: u64) -> Result<u64, QueryError> {
    let t = raw.trim();
    let n = if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) { None } else { t.parse::<u64>().ok() };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(QueryError { parameter: parameter.to_owned(), message: range_sentence(parameter, min, max) }),
    }
}

fn range_sentence(parameter: &str, min: u64, max: u64) -> String {
    format!("{parameter} must be a whole number from {} to {}.", thousands(min), thousands(max))
}

/// `1000000` → `1,000,000`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `count(1, "row", "rows")` → `1 row`; `count(1234, …)` → `1,234 rows`: how
/// every number of things is shown (pages, messages, confirmations).
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// A whole number from `MIN` to `MAX`, read from a query string by serde.
/// The refusal's sentence names the range; the extractor that reads the query
/// (`web::params`) adds the parameter's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bounded<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Bounded<MIN, MAX> {
    pub fn get(self) -> u64 {
        self.0
    }
}

/// A 1-based page number of a paginated list.
pub type Page = Bounded<1, MAX_PAGE>;
/// Records to skip.
pub type Offset = Bounded<0, MAX_OFFSET>;

impl<'de, const MIN: u64, const MAX: u64> serde::Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MIN: u64, const MAX: u64>;
        impl<const MIN: u64, const MAX: u64> serde::de::Visitor<'_> for V<MIN, MAX> {
            type Value = Bounded<MIN, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a whole number from {} to {}", thousands(MIN), thousands(MAX))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                whole("", v, MIN, MAX).map(Bounded).map_err(|_| {
                    E::custom(format!("must be a whole number from {} to {}.", thousands(MIN), thousands(MAX)))
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_str(V::<MIN, MAX>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_are_read_within_their_range_or_refused_by_name() {
        assert_eq!(whole("page", "3", 1, 10), Ok(3));
        assert_eq!(whole("page", " 10 ", 1, 10), Ok(10));
        for bad in ["0", "11", "-1", "+3", "3.0", "abc", "", "18446744073709551616", "9223372036854775808", "1e3"] {
            let e = whole("page", bad, 1, 10).expect_err(bad);
            assert_eq!(e.parameter, "page", "{bad}");
            assert_eq!(e.message, "page must be a whole number from 1 to 10.", "{bad}");
        }
        assert_eq!(thousands(1_000_000_000_000), "1,000,000,000,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(count(1, "row", "rows"), "1 row");
        assert_eq!(count(0, "row", "rows"), "0 rows");
        assert_eq!(count(1234, "key", "keys"), "1,234 keys");
    }

    #[test]
    fn bounded_values_deserialise_from_query_strings() {
        #[derive(serde::Deserialize)]
        struct Q {
            page: Option<Page>,
            offset: Option<Offset>,
        }
        let q: Q = serde_html_form::from_str("page=2&offset=40").unwrap();
        assert_eq!((q.page.map(Page::get), q.offset.map(Offset::get)), (Some(2), Some(40)));
        for bad in ["page=18446744073709551615", "page=0", "offset=9223372036854775808", "offset=-1", "page=x"] {
            let e = serde_html_form::from_str::<Q>(bad).err().unwrap_or_else(|| panic!("{bad} refused"));
            assert!(e.to_string().contains("must be a whole number from"), "{bad}: {e}");
        }
    }
}

//! Rate limits and monthly quotas of a key, and the IETF RateLimit fields
//! (draft-ietf-httpapi-ratelimit-headers) that tell a client where it stands.
//!
//! A rate limit is a fixed window aligned on the clock (`requests` per
//! `window_seconds`, windows starting at multiples of the window since the
//! epoch), so every node computes the same window for the same instant. A
//! monthly quota counts accepted calls in the calendar month (UTC).
use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// At most this many requests per window (a billion: larger is no limit).
pub const MAX_REQUESTS: u32 = 1_000_000_000;
/// The longest window: one day.
pub const MAX_WINDOW_SECONDS: u32 = 86_400;
/// At most this many calls a month.
pub const MAX_QUOTA: u64 = 1_000_000_000_000;

/// A rate limit's two columns read as one number, `requests × 2^17 + window`
/// (a window is under 2^17 seconds): verifiers load keys as tuples, and a
/// tuple holds at most twelve columns. NULL when either is.
pub const PACKED_RATE_SQL: &str = "CAST(rate_limit_requests AS BIGINT) * 131072 + rate_limit_window";
const PACK: i64 = 131_072;

/// `requests` calls per `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RateLimit {
    #[schema(minimum = 1, maximum = 1_000_000_000)]
    pub requests: u32,
    #[schema(minimum = 1, maximum = 86_400)]
    pub window_seconds: u32,
}

/// What a key may use: a rate limit, a monthly quota, both or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub rate: Option<RateLimit>,
    pub monthly_quota: Option<u64>,
}

impl Limits {
    /// From the stored columns; a half-stored or non-positive rate is none.
    pub fn from_stored(requests: Option<i32>, window: Option<i32>, quota: Option<i64>) -> Limits {
        let rate = match (requests, window) {
            (Some(r), Some(w)) if r > 0 && w > 0 => {
                Some(RateLimit { requests: r.unsigned_abs(), window_seconds: w.unsigned_abs() })
            }
            _ => None,
        };
        Limits { rate, monthly_quota: quota.filter(|q| *q > 0).map(i64::unsigned_abs) }
    }

    /// From the packed rate (`PACKED_RATE_SQL`) and the quota column.
    pub fn from_packed(rate: Option<i64>, quota: Option<i64>) -> Limits {
        let (r, w) = match rate {
            Some(p) if p > 0 => (i32::try_from(p / PACK).ok(), i32::try_from(p % PACK).ok()),
            _ => (None, None),
        };
        Limits::from_stored(r, w, quota)
    }

    pub fn is_none(&self) -> bool {
        self.rate.is_none() && self.monthly_quota.is_none()
    }

    /// The columns to store: (requests, window, quota).
    pub fn stored(&self) -> (Option<i32>, Option<i32>, Option<i64>) {
        (
            self.rate.map(|r| i32::try_from(r.requests).unwrap_or(i32::MAX)),
            self.rate.map(|r| i32::try_from(r.window_seconds).unwrap_or(i32::MAX)),
            self.monthly_quota.map(|q| i64::try_from(q).unwrap_or(i64::MAX)),
        )
    }
}

/// Checks a rate limit given as numbers (the API); the sentence says what is wrong.
pub fn check_rate(requests: u64, window_seconds: u64) -> Result<RateLimit, (&'static str, String)> {
    let requests = u32::try_from(requests)
        .ok()
        .filter(|r| (1..=MAX_REQUESTS).contains(r))
        .ok_or(("requests", format!("Give the requests allowed per window, from 1 to {MAX_REQUESTS}.")))?;
    let window_seconds = u32::try_from(window_seconds)
        .ok()
        .filter(|w| (1..=MAX_WINDOW_SECONDS).contains(w))
        .ok_or(("window_seconds", format!("Give the window in seconds, from 1 to {MAX_WINDOW_SECONDS} (a day).")))?;
    Ok(RateLimit { requests, window_seconds })
}

pub fn check_quota(quota: u64) -> Result<u64, String> {
    if (1..=MAX_QUOTA).contains(&quota) {
        Ok(quota)
    } else {
        Err(format!("Give the calls allowed a month, from 1 to {MAX_QUOTA}, or leave it empty for none."))
    }
}

/// Which field of a form a rate-limit error belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitField {
    Requests,
    Window,
    Quota,
}

/// Reads the editor's three fields (empty = none). Both rate fields or neither.
pub fn parse_form(requests: &str, window: &str, quota: &str) -> Result<Limits, (LimitField, String)> {
    let number = |s: &str, field| -> Result<Option<u64>, (LimitField, String)> {
        let s = s.trim().replace(['_', ',', ' '], "");
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<u64>().map(Some).map_err(|_| (field, "Give a whole number, or leave it empty.".to_owned()))
    };
    let (r, w, q) = (
        number(requests, LimitField::Requests)?,
        number(window, LimitField::Window)?,
        number(quota, LimitField::Quota)?,
    );
    let rate = match (r, w) {
        (None, None) => None,
        (Some(_), None) => return Err((LimitField::Window, "Give the window in seconds as well.".into())),
        (None, Some(_)) => return Err((LimitField::Requests, "Give the requests per window as well.".into())),
        (Some(r), Some(w)) => Some(
            check_rate(r, w)
                .map_err(|(f, m)| (if f == "requests" { LimitField::Requests } else { LimitField::Window }, m))?,
        ),
    };
    let monthly_quota = q.map(check_quota).transpose().map_err(|m| (LimitField::Quota, m))?;
    Ok(Limits { rate, monthly_quota })
}

/// The start of the fixed window holding `now` (unix seconds).
pub fn window_start(now: i64, window_seconds: u32) -> i64 {
    now - now.rem_euclid(i64::from(window_seconds.max(1)))
}

/// The calendar month (UTC) holding `now`: its start and the next month's.
pub fn month_bounds(now: DateTime<Utc>) -> (i64, i64) {
    let start = Utc.with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0).single();
    let (ny, nm) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
    let next = Utc.with_ymd_and_hms(ny, nm, 1, 0, 0, 0).single();
    match (start, next) {
        (Some(s), Some(n)) => (s.timestamp(), n.timestamp()),
        // Unreachable for real dates: a month of 31 days from now.
        _ => (now.timestamp(), now.timestamp() + 31 * 86_400),
    }
}

/// Where a limited key stands after a call: remaining calls and seconds to
/// the reset, per policy (`key` for the rate limit, `month` for the quota).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    pub rate: Option<(RateLimit, u64, u64)>,
    pub quota: Option<(u64, u64, u64, u64)>,
}

impl Standing {
    /// `RateLimit-Policy`: `"key";q=100;w=60, "month";q=10000;w=2678400`.
    pub fn policy_field(&self) -> String {
        let rate = self.rate.map(|(r, _, _)| ("key", u64::from(r.requests), 'w', u64::from(r.window_seconds)));
        let month = self.quota.map(|(q, window, _, _)| ("month", q, 'w', window));
        field("q", [rate, month])
    }

    /// `RateLimit`: `"key";r=42;t=17, "month";r=9000;t=86400`.
    pub fn limit_field(&self) -> String {
        let rate = self.rate.map(|(_, remaining, reset)| ("key", remaining, 't', reset));
        let month = self.quota.map(|(_, _, remaining, reset)| ("month", remaining, 't', reset));
        field("r", [rate, month])
    }

    pub fn is_empty(&self) -> bool {
        self.rate.is_none() && self.quota.is_none()
    }
}

/// A structured-field list of `"name";first=a;second=b` items, written into
/// one string (it goes on every answer to a limited key).
fn field(first: &str, items: [Option<(&str, u64, char, u64)>; 2]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(48);
    for (name, a, second, b) in items.into_iter().flatten() {
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = write!(out, "\"{name}\";{first}={a};{second}={b}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_columns_round_trip_and_half_rates_are_none() {
        let l = Limits { rate: Some(RateLimit { requests: 100, window_seconds: 60 }), monthly_quota: Some(5) };
        let (r, w, q) = l.stored();
        assert_eq!(Limits::from_stored(r, w, q), l);
        assert!(Limits::from_stored(Some(5), None, None).is_none());
        assert!(Limits::from_stored(Some(0), Some(60), Some(0)).is_none());
        let packed = i64::from(MAX_REQUESTS) * PACK + i64::from(MAX_WINDOW_SECONDS);
        let big = Limits::from_packed(Some(packed), None).rate.unwrap();
        assert_eq!((big.requests, big.window_seconds), (MAX_REQUESTS, MAX_WINDOW_SECONDS));
    }

    #[test]
    fn the_form_wants_both_rate_fields_and_whole_numbers() {
        assert_eq!(parse_form("", "", ""), Ok(Limits::default()));
        assert_eq!(
            parse_form("1,000", "60", "").map(|l| l.rate),
            Ok(Some(RateLimit { requests: 1000, window_seconds: 60 }))
        );
        assert_eq!(parse_form("10", "", "").map_err(|e| e.0), Err(LimitField::Window));
        assert_eq!(parse_form("", "10", "").map_err(|e| e.0), Err(LimitField::Requests));
        assert_eq!(parse_form("ten", "10", "").map_err(|e| e.0), Err(LimitField::Requests));
        assert_eq!(parse_form("10", "86401", "").map_err(|e| e.0), Err(LimitField::Window));
        assert_eq!(parse_form("0", "1", "").map_err(|e| e.0), Err(LimitField::Requests));
        assert_eq!(parse_form("", "", "0").map_err(|e| e.0), Err(LimitField::Quota));
        assert_eq!(parse_form("", "", "12").map(|l| l.monthly_quota), Ok(Some(12)));
    }

    #[test]
    fn windows_align_on_the_clock_and_months_on_the_calendar() {
        assert_eq!(window_start(125, 60), 120);
        assert_eq!(window_start(120, 60), 120);
        let t = Utc.with_ymd_and_hms(2026, 12, 6, 23, 0, 0).single().unwrap();
        let (s, n) = month_bounds(t);
        assert_eq!(s, Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).single().unwrap().timestamp());
        assert_eq!(n, Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).single().unwrap().timestamp());
    }

    #[test]
    fn fields_follow_the_draft() {
        let s = Standing { rate: Some((RateLimit { requests: 100, window_seconds: 60 }, 42, 17)), quota: None };
        assert_eq!(s.policy_field(), "\"key\";q=100;w=60");
        assert_eq!(s.limit_field(), "\"key\";r=42;t=17");
        let s = Standing { quota: Some((10_000, 2_678_400, 9_000, 86_400)), ..s };
        assert_eq!(s.policy_field(), "\"key\";q=100;w=60, \"month\";q=10000;w=2678400");
        assert_eq!(s.limit_field(), "\"key\";r=42;t=17, \"month\";r=9000;t=86400");
    }
}

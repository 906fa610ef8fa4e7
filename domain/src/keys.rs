//! Personal API keys as pure rules: the secret's format and checksum, the
//! visible identifier, expiry and rotation choices, and a key's state.
//!
//! Format: `khp_` + 32 random base62 characters + 6 base62 characters of the
//! CRC32 of everything before them. The checksum lets a mistyped or truncated
//! key be refused without a database lookup, and the fixed prefix lets secret
//! scanners recognise a leaked key.
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};

pub const PERSONAL_PREFIX: &str = "khp_";
const RANDOM_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
pub const KEY_LEN: usize = 4 + RANDOM_LEN + CHECKSUM_LEN;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Keys whose expiry is this close are shown as "expiring".
pub const EXPIRING_WITHIN_DAYS: i64 = 14;

/// The checksum's characters, in a fixed array: every presented key is
/// checked before its lookup, so checking allocates nothing.
fn checksum_bytes(body: &str) -> [u8; CHECKSUM_LEN] {
    let mut n = u64::from(crc32fast::hash(body.as_bytes()));
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

fn checksum(body: &str) -> String {
    checksum_bytes(body).iter().map(|&b| char::from(b)).collect()
}

/// A new secret: `prefix` + 32 random base62 characters + the checksum.
/// Personal keys use `khp_`, Data Hub keys `khd_`.
pub fn generate_with(prefix: &str) -> String {
    let mut rng = rand::rng();
    let random: String = (0..RANDOM_LEN).map(|_| BASE62[rng.random_range(0..62)] as char).collect();
    let body = format!("{prefix}{random}");
    let sum = checksum(&body);
    format!("{body}{sum}")
}

/// Prefix, length, alphabet and checksum (`prefix` is 4 ASCII bytes).
pub fn well_formed(prefix: &str, s: &str) -> bool {
    if s.len() != KEY_LEN || !s.is_ascii() || !s.starts_with(prefix) {
        return false;
    }
    let (body, sum) = s.split_at(KEY_LEN - CHECKSUM_LEN);
    body[prefix.len()..].bytes().chain(sum.bytes()).all(|b| b.is_ascii_alphanumeric())
        && checksum_bytes(body) == sum.as_bytes()
}

/// A well-formed key secret. Its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySecret(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormatError {
    Empty,
    Malformed,
}

impl KeySecret {
    pub fn generate() -> KeySecret {
        KeySecret(generate_with(PERSONAL_PREFIX))
    }

    /// Checks prefix, length, alphabet and checksum; no lookup is needed to
    /// refuse a typo, a truncation or a made-up value.
    pub fn parse(input: &str) -> Result<KeySecret, KeyFormatError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(KeyFormatError::Empty);
        }
        if !well_formed(PERSONAL_PREFIX, s) {
            return Err(KeyFormatError::Malformed);
        }
        Ok(KeySecret(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The lookup form stored at rest (hex SHA-256).
    pub fn digest(&self) -> String {
        hex::encode(self.digest_bytes())
    }

    pub fn digest_bytes(&self) -> [u8; 32] {
        Sha256::digest(self.0.as_bytes()).into()
    }

    /// `khp_…abcd`: the prefix and the last four characters.
    pub fn identifier(&self) -> String {
        format!("{PERSONAL_PREFIX}…{}", &self.0[self.0.len() - 4..])
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySecret({})", self.identifier())
    }
}

/// A label: required, descriptive, at most 100 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLabel(String);

impl KeyLabel {
    pub fn parse(input: &str) -> Result<KeyLabel, &'static str> {
        const RULES: crate::text::NameRules = crate::text::NameRules {
            max_chars: 100,
            empty: "Give the key a label that says what uses it, e.g. \"nightly export script\".",
            too_long: "A label has at most 100 characters.",
            invisible: "A label cannot contain invisible characters or text-direction controls.",
        };
        crate::text::clean_name(input, &RULES).map(KeyLabel)
    }

    /// Labels with equal keys are the same label to a reader.
    pub fn key(&self) -> String {
        crate::text::name_key(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// When a new key stops working.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    At(DateTime<Utc>),
}

impl Expiry {
    /// `never`, `30`, `90`, `365` (days), or a date `YYYY-MM-DD` (the key works
    /// through that day, UTC). `date` is the value of the separate date field
    /// used when `expires` is `date`.
    pub fn parse(expires: &str, date: Option<&str>, now: DateTime<Utc>) -> Result<Expiry, &'static str> {
        let choice = expires.trim();
        let date_text = match choice {
            "" | "never" | "none" => return Ok(Expiry::Never),
            "30" | "90" | "365" => {
                let days: i64 = choice.parse().unwrap_or(30);
                return Ok(Expiry::At(now + Duration::days(days)));
            }
            "date" => date.unwrap_or("").trim(),
            other => other,
        };
        if date_text.is_empty() {
            return Err("Choose the date the key stops working.");
        }
        let day =
            NaiveDate::parse_from_str(date_text, "%Y-%m-%d").map_err(|_| "Give the expiry date as YYYY-MM-DD.")?;
        let end =
            day.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).ok_or("Choose an earlier expiry date.")?.and_utc();
        if end <= now {
            return Err("The expiry date must be in the future.");
        }
        if end > now + Duration::days(3 * 365) {
            return Err("A key can be valid for at most three years.");
        }
        Ok(Expiry::At(end))
    }

    pub fn at(self) -> Option<DateTime<Utc>> {
        match self {
            Expiry::Never => None,
            Expiry::At(t) => Some(t),
        }
    }
}

/// How long the old secret keeps working after a rotation.
pub fn parse_grace(input: &str) -> Result<Duration, &'static str> {
    match input.trim() {
        "" | "none" | "0" => Ok(Duration::zero()),
        "1h" => Ok(Duration::hours(1)),
        "24h" => Ok(Duration::hours(24)),
        "7d" => Ok(Duration::days(7)),
        _ => Err("Choose how long the old secret keeps working: none, 1 hour, 24 hours or 7 days."),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    Expiring,
    Expired,
    Revoked,
}

impl KeyState {
    pub fn of(revoked_at: Option<DateTime<Utc>>, expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> KeyState {
        if revoked_at.is_some() {
            return KeyState::Revoked;
        }
        match expires_at {
            Some(t) if t <= now => KeyState::Expired,
            Some(t) if t <= now + Duration::days(EXPIRING_WITHIN_DAYS) => KeyState::Expiring,
            _ => KeyState::Active,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Expiring => "expiring",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<KeyState> {
        [KeyState::Active, KeyState::Expiring, KeyState::Expired, KeyState::Revoked]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// Whether a key in this state still authenticates.
    pub fn usable(self) -> bool {
        matches!(self, KeyState::Active | KeyState::Expiring)
    }

    pub fn is_revoked(self) -> bool {
        self == KeyState::Revoked
    }
}

impl std::fmt::Display for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_look_right() {
        let k = KeySecret::generate();
        assert_eq!(k.expose().len(), KEY_LEN);
        assert!(k.expose().starts_with("khp_"));
        assert_eq!(KeySecret::parse(k.expose()).unwrap(), k);
        assert_ne!(KeySecret::generate(), k);
        assert!(k.identifier().starts_with("khp_…"));
        assert!(k.expose().ends_with(&k.identifier()["khp_…".len()..]));
        assert!(!format!("{k:?}").contains(&k.expose()[4..30]), "Debug never shows the secret");
    }

    #[test]
    fn every_damaged_key_is_refused_without_lookup() {
        let k = KeySecret::generate();
        let s = k.expose();
        let mut flipped = s.to_owned().into_bytes();
        flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
        let cases = [
            ("", KeyFormatError::Empty),
            (&s[..s.len() - 1], KeyFormatError::Malformed),
            (&format!("{s}x"), KeyFormatError::Malformed),
            (&s.replacen("khp_", "khd_", 1), KeyFormatError::Malformed),
            (&String::from_utf8(flipped).unwrap(), KeyFormatError::Malformed),
            (&format!("khp_{}", "é".repeat(19)), KeyFormatError::Malformed),
            (&"x".repeat(10_000), KeyFormatError::Malformed),
            ("khp_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", KeyFormatError::Malformed),
        ];
        for (i, (input, want)) in cases.iter().enumerate() {
            assert_eq!(KeySecret::parse(input).err(), Some(*want), "case {i}");
        }
    }

    #[test]
    fn expiry_choices() {
        let now = DateTime::parse_from_rfc3339("2026-01-10T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(Expiry::parse("never", None, now), Ok(Expiry::Never));
        assert_eq!(Expiry::parse("30", None, now).unwrap().at(), Some(now + Duration::days(30)));
        let end = Expiry::parse("date", Some("2026-02-01"), now).unwrap().at().unwrap();
        assert_eq!(end.to_rfc3339(), "2026-02-02T00:00:00+00:00");
        assert!(Expiry::parse("2026-01-01", None, now).is_err(), "past date");
        assert!(Expiry::parse("date", Some(""), now).is_err());
        assert!(Expiry::parse("soon", None, now).is_err());
    }

    #[test]
    fn states() {
        let now = Utc::now();
        assert_eq!(KeyState::of(None, None, now), KeyState::Active);
        assert_eq!(KeyState::of(None, Some(now + Duration::days(3)), now), KeyState::Expiring);
        assert_eq!(KeyState::of(None, Some(now - Duration::seconds(1)), now), KeyState::Expired);
        assert_eq!(KeyState::of(Some(now), None, now), KeyState::Revoked);
    }
}

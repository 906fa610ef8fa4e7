//! Data Hub keys as pure rules: access types, status, the `khd_` secret,
//! generic tokens, names and the expire date.
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub const HUB_PREFIX: &str = "khd_";
/// Keys whose expiry is this close get an "expiring" badge in the table.
pub const EXPIRING_WITHIN_DAYS_HUB: i64 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccessType {
    /// keyhub generates the secret (`khd_…`).
    ApiKey,
    /// No shared secret: chosen users' own personal keys are accepted.
    PortalToken,
    /// The admin types the value.
    GenericToken,
}

impl AccessType {
    pub const ALL: [AccessType; 3] = [AccessType::ApiKey, AccessType::PortalToken, AccessType::GenericToken];

    pub fn as_str(self) -> &'static str {
        match self {
            AccessType::ApiKey => "api_key",
            AccessType::PortalToken => "portal_token",
            AccessType::GenericToken => "generic_token",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            AccessType::ApiKey => "API Key",
            AccessType::PortalToken => "Portal token",
            AccessType::GenericToken => "Generic token",
        }
    }

    pub fn hint(self) -> &'static str {
        match self {
            AccessType::ApiKey => "keyhub generates a secret (khd_…) to hand to the caller.",
            AccessType::PortalToken => "No shared secret: chosen users and teams call with their own personal key.",
            AccessType::GenericToken => "You type the value, e.g. one a partner's system already sends.",
        }
    }

    pub fn parse(s: &str) -> Option<AccessType> {
        AccessType::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for AccessType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatus {
    Active,
    Inactive,
}

impl KeyStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::Inactive => "inactive",
        }
    }

    pub fn parse(s: &str) -> Option<KeyStatus> {
        match s {
            "active" => Some(KeyStatus::Active),
            "inactive" => Some(KeyStatus::Inactive),
            _ => None,
        }
    }
}

/// A new `khd_` secret (same scheme as personal keys, its own prefix).
pub fn generate_secret() -> String {
    crate::keys::generate_with(HUB_PREFIX)
}

/// Whether `s` has the shape of a hub secret (prefix, length, checksum).
pub fn is_hub_secret(s: &str) -> bool {
    crate::keys::well_formed(HUB_PREFIX, s)
}

/// `khd_…abcd`, or for a generic token `…abcd`.
pub fn identifier(access: AccessType, suffix: &str) -> String {
    match access {
        AccessType::ApiKey => format!("{HUB_PREFIX}…{suffix}"),
        _ => format!("…{suffix}"),
    }
}

pub fn suffix(secret: &str) -> String {
    secret[secret.len().saturating_sub(4)..].to_owned()
}

/// A generic token: 24–256 printable ASCII characters without spaces. The
/// `Ok` value lists warnings (low variety) that do not stop the save.
pub fn check_generic_token(token: &str) -> Result<Vec<String>, String> {
    let n = token.len();
    if token.is_empty() {
        return Err("Enter the token's value (24–256 characters).".into());
    }
    if let Some(c) = token.chars().find(|c| !(c.is_ascii_graphic())) {
        return Err(if c == ' ' {
            "A token cannot contain spaces.".into()
        } else {
            format!("A token uses printable ASCII only; U+{:04X} is not allowed.", c as u32)
        });
    }
    if !(24..=256).contains(&n) {
        return Err(format!("A token has 24 to 256 characters; this one has {n}."));
    }
    if token.starts_with(crate::keys::PERSONAL_PREFIX) || token.starts_with(HUB_PREFIX) {
        return Err("A generic token cannot start with khp_ or khd_: those prefixes mark keys keyhub generates.".into());
    }
    let mut warnings = Vec::new();
    let distinct: std::collections::HashSet<char> = token.chars().collect();
    let lower = token.to_ascii_lowercase();
    const WORDS: &[&str] = &[
        "password", "passw0rd", "secret", "token", "apikey", "api_key", "admin", "letmein", "qwerty", "welcome",
        "changeme", "123456", "abcdef", "default", "keyhub",
    ];
    if distinct.len() <= 4 {
        warnings.push(format!("The token uses only {} different characters; it is easy to guess.", distinct.len()));
    } else if let Some(w) = WORDS.iter().find(|w| lower.contains(*w)) {
        warnings.push(format!("The token contains the common word “{w}”; a random value is harder to guess."));
    }
    Ok(warnings)
}

/// A key's name: like other names (NFC, no invisible or bidi controls), at
/// most 100 characters; unique per workspace through `text::name_key`.
pub fn clean_name(input: &str) -> Result<String, &'static str> {
    const RULES: crate::text::NameRules = crate::text::NameRules {
        max_chars: 100,
        empty: "Give the key a name that says who or what uses it, e.g. \"Partner portal – ACME\".",
        too_long: "A name has at most 100 characters.",
        invisible: "A name cannot contain invisible characters or text-direction controls.",
    };
    crate::text::clean_name(input, &RULES)
}

pub fn clean_team_name(input: &str) -> Result<String, &'static str> {
    const RULES: crate::text::NameRules = crate::text::NameRules {
        max_chars: 80,
        empty: "Give the team a name, e.g. \"Finance\".",
        too_long: "A team name has at most 80 characters.",
        invisible: "A name cannot contain invisible characters or text-direction controls.",
    };
    crate::text::clean_name(input, &RULES)
}

/// The expire date from the editor: `YYYY-MM-DDTHH:MM` in the user's local
/// time, `offset_minutes` east of UTC (from the browser; 0 without JS, and
/// the page says times are then UTC). Empty = never. A past date is refused.
pub fn parse_local_expiry(
    input: &str,
    offset_minutes: i32,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, String> {
    let s = input.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let local = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M"))
        .map_err(|_| "Enter a date and time, e.g. 2027-01-31 18:00.".to_owned())?;
    if !(-14 * 60..=14 * 60).contains(&offset_minutes) {
        return Err("The time zone offset is not valid.".into());
    }
    // Checked: a date at the very edge of the calendar must not overflow.
    let utc = local
        .and_utc()
        .checked_sub_signed(chrono::Duration::minutes(i64::from(offset_minutes)))
        .ok_or_else(|| "Enter a date between now and the year 9999.".to_owned())?;
    check_future(utc, now).map(Some)
}

pub fn check_future(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if at <= now {
        return Err("The expire date is in the past; choose a later date, or leave it empty for never.".into());
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_at_the_edge_of_the_calendar_are_refused_not_a_panic() {
        let now = Utc::now();
        for (input, offset) in
            [("-262143-01-01T00:00", 840), ("+262142-12-31T23:59", -840), ("262142-12-31T23:59", -840)]
        {
            let _ = parse_local_expiry(input, offset, now);
        }
        assert!(parse_local_expiry("-262143-01-01T00:00", 840, now).is_err());
    }

    #[test]
    fn hub_secrets_have_their_own_prefix_and_checksum() {
        let s = generate_secret();
        assert!(s.starts_with("khd_") && s.len() == 42, "{s}");
        assert!(is_hub_secret(&s));
        assert!(crate::keys::KeySecret::parse(&s).is_err(), "a hub secret is not a personal key");
        let mut damaged = s.clone().into_bytes();
        damaged[10] = if damaged[10] == b'a' { b'b' } else { b'a' };
        assert!(!is_hub_secret(&String::from_utf8(damaged).unwrap()));
        assert_eq!(identifier(AccessType::ApiKey, &suffix(&s)), format!("khd_…{}", &s[38..]));
    }

    #[test]
    fn generic_tokens() {
        assert!(check_generic_token("short").unwrap_err().contains("24 to 256"));
        assert!(check_generic_token(&"a".repeat(257)).unwrap_err().contains("24 to 256"));
        assert!(check_generic_token("has a space in it 1234567890").unwrap_err().contains("spaces"));
        assert!(check_generic_token("tab\there-1234567890123456").unwrap_err().contains("U+0009"));
        assert!(check_generic_token("émoji-1234567890123456789").unwrap_err().contains("ASCII"));
        assert!(check_generic_token("khd_1234567890123456789012345").is_err());
        assert_eq!(check_generic_token(&"a".repeat(24)).unwrap().len(), 1);
        assert!(check_generic_token("MyCompanyPassword2026!!xyz").unwrap()[0].contains("password"));
        assert!(check_generic_token("Zq8#kP2!vL9@xR4$wT7%mN3^").unwrap().is_empty());
    }

    #[test]
    fn expiry_in_local_time() {
        let now = "2026-11-29T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let at = parse_local_expiry("2027-01-31T18:00", 60, now).unwrap().unwrap();
        assert_eq!(at.to_rfc3339(), "2027-01-31T17:00:00+00:00");
        assert_eq!(parse_local_expiry("", 0, now).unwrap(), None);
        assert!(parse_local_expiry("2026-11-29T11:00", 0, now).unwrap_err().contains("past"));
        assert!(parse_local_expiry("tomorrow", 0, now).is_err());
    }

    #[test]
    fn names() {
        assert!(clean_name("  ").is_err());
        assert!(clean_name("a\u{202E}b").is_err());
        assert!(clean_name("a\u{200B}b").is_err());
        assert_eq!(clean_name(" Partner ").unwrap(), "Partner");
    }
}

//! Webhook events: the types a webhook may ask for, and its secret's form.
use crate::tokens::random_token;

/// Every event type keyhub delivers, with what it says.
pub const EVENTS: [(&str, &str); 12] = [
    ("key.created", "A member generated a personal API key."),
    ("key.revoked", "A personal API key was revoked."),
    ("key.expiring", "A key expires within 7 days (and again within 1 day)."),
    ("key.expired", "A key expired."),
    ("hub_key.created", "A Data Hub key was created."),
    ("hub_key.changed", "A Data Hub key's settings changed."),
    ("hub_key.deleted", "A Data Hub key was deleted."),
    ("hub_key.regenerated", "A Data Hub key got a new secret."),
    ("sync.failed", "A source started failing."),
    ("sync.recovered", "A failing source works again."),
    ("member.joined", "Someone accepted an invitation."),
    ("member.removed", "A member was removed from the workspace."),
];

/// The type of the event "Send test event" delivers (to one webhook, asked or not).
pub const TEST_EVENT: &str = "webhook.test";

/// Checks a list of event types: known, at least one, no repeats (kept in the list's order).
pub fn check_events(events: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        let e = e.trim();
        if !EVENTS.iter().any(|(t, _)| *t == e) {
            return Err(format!("“{e}” is not an event keyhub sends. Choose from: {}.", names()));
        }
        if !out.iter().any(|x| x == e) {
            out.push(e.to_owned());
        }
    }
    if out.is_empty() {
        return Err("Choose at least one event.".into());
    }
    Ok(out)
}

fn names() -> String {
    EVENTS.iter().map(|(t, _)| *t).collect::<Vec<_>>().join(", ")
}

/// A new signing secret: `whsec_` and base64 of 24 random bytes, as the
/// Standard Webhooks specification writes them.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", base64_std(&bytes))
}

/// A message id (`webhook-id`): unique per event and webhook, the same on every retry.
pub fn message_id() -> String {
    format!("msg_{}", random_token(24))
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// When attempt `n + 1` is due after `n` failed, in seconds after the first
/// attempt (the specification's suggested schedule): 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 14 h, 20 h, 24 h. After that the delivery has failed.
pub fn retry_after_first(n: i32) -> Option<i64> {
    const AT: [i64; 9] = [5, 300, 1_800, 7_200, 18_000, 36_000, 50_400, 72_000, 86_400];
    usize::try_from(n - 1).ok().and_then(|i| AT.get(i).copied())
}

/// The wait before attempt `n + 1` after `n` failed: the steps between the
/// points of `retry_after_first`, so that attempts made when due follow it.
pub fn retry_gap(n: i32) -> Option<i64> {
    let at = retry_after_first(n)?;
    Some(at - if n > 1 { retry_after_first(n - 1).unwrap_or(0) } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_checked_and_deduplicated() {
        let ok = check_events(&["key.created".into(), "key.created".into(), " sync.failed ".into()]).unwrap();
        assert_eq!(ok, vec!["key.created", "sync.failed"]);
        assert!(check_events(&[]).is_err());
        assert!(check_events(&["key.deleted".into()]).unwrap_err().contains("not an event"));
    }

    #[test]
    fn secrets_look_like_the_specification_says() {
        let s = new_secret();
        assert!(s.starts_with("whsec_") && s.len() == 6 + 32, "{s}");
        assert_eq!(base64_std(b"any carnal pleas"), "YW55IGNhcm5hbCBwbGVhcw==");
        assert_eq!(base64_std(b"ab"), "YWI=");
    }

    #[test]
    fn retries_stop_after_a_day() {
        assert_eq!(retry_after_first(1), Some(5));
        assert_eq!(retry_after_first(9), Some(86_400));
        assert_eq!(retry_after_first(10), None);
        assert_eq!((1..=9).map(|n| retry_gap(n).unwrap()).sum::<i64>(), 86_400);
        assert_eq!(retry_gap(2), Some(295));
    }
}

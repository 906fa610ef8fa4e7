//! Reading settings: defaults, the file, the environment, and the sentences for wrong values.
use super::*;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn defaults_just_work() {
    let s = Settings::from_sources(&env(&[])).unwrap();
    assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
    assert!(s.database_url().starts_with("sqlite://data/keyhub.db"));
    assert!(!s.https());
}

#[test]
fn metrics_and_login_settings_are_read() {
    let s = Settings::from_sources(&env(&[
        ("KEYHUB_METRICS_BIND", "127.0.0.1:9100"),
        ("KEYHUB_METRICS_TOKEN", "a-token-of-enough-length"),
        ("KEYHUB_LOGIN_FAILURES_PER_CLIENT", "50"),
        ("KEYHUB_KEY_REFUSALS_PER_MINUTE", "600"),
    ]))
    .unwrap();
    assert_eq!(s.metrics_bind.map(|a| a.to_string()).as_deref(), Some("127.0.0.1:9100"));
    assert_eq!(s.metrics_token.as_ref().map(Secret::expose), Some("a-token-of-enough-length"));
    assert_eq!(s.login_failures_per_client, 50);
    assert_eq!(s.key_refusals_per_minute, 600);
    assert!(!format!("{s:?}").contains("a-token-of-enough-length"), "the token is never printed");
    let d = Settings::from_sources(&env(&[])).unwrap();
    assert!(
        d.metrics_bind.is_none()
            && d.metrics_token.is_none()
            && d.login_failures_per_client == 10
            && d.key_refusals_per_minute == 120
    );
    assert!(Settings::from_sources(&env(&[("KEYHUB_KEY_REFUSALS_PER_MINUTE", "0")])).is_err());
}

#[test]
fn limits_and_staleness_are_read() {
    let s = Settings::from_sources(&env(&[
        ("KEYHUB_KEYS_MAX_STALE_SECONDS", "5"),
        ("KEYHUB_SYNC_MAX_ROWS", "2500"),
        ("KEYHUB_SYNC_MAX_SECONDS", "60"),
    ]))
    .unwrap();
    assert_eq!(
        (s.keys_max_stale, s.sync_max_rows, s.sync_max_time),
        (Duration::from_secs(5), 2_500, Duration::from_secs(60))
    );
    let d = Settings::default();
    assert_eq!(
        (d.keys_max_stale, d.sync_max_rows, d.sync_max_time),
        (Duration::from_secs(30), 10_000_000, Duration::from_secs(21_600))
    );
}

#[test]
fn cluster_settings_are_read() {
    let s = Settings::from_sources(&env(&[
        ("KEYHUB_CHANGES_POLL_SECONDS", "5"),
        ("KEYHUB_SHUTDOWN_DRAIN_SECONDS", "0"),
        ("KEYHUB_SYNC_WORKERS", "0"),
        ("KEYHUB_NODE_ADDRESS", "10.0.0.5:8080"),
    ]))
    .unwrap();
    assert_eq!((s.changes_poll, s.shutdown_drain, s.sync_workers), (Duration::from_secs(5), Duration::ZERO, 0));
    assert_eq!(s.node_address.as_deref(), Some("10.0.0.5:8080"));
    let d = Settings::default();
    assert_eq!(
        (d.changes_poll, d.shutdown_drain, d.node_address),
        (Duration::from_secs(1), Duration::from_secs(2), None)
    );
}

#[test]
fn wrong_values_say_what_to_fix() {
    for (k, v, needle) in [
        ("KEYHUB_BIND", "localhost", "KEYHUB_BIND"),
        ("KEYHUB_DATABASE_URL", "mysql://x", "KEYHUB_DATABASE_URL"),
        ("KEYHUB_TRUSTED_PROXIES", "10.0.0.0/8, nope", "nope"),
        ("KEYHUB_PUBLIC_URL", "keyhub.example.com", "KEYHUB_PUBLIC_URL"),
        ("KEYHUB_SECRET", "short", "KEYHUB_SECRET"),
        ("KEYHUB_SESSION_IDLE_MINUTES", "0", "KEYHUB_SESSION_IDLE_MINUTES"),
        ("KEYHUB_LOGIN_FAILURES_PER_CLIENT", "0", "KEYHUB_LOGIN_FAILURES_PER_CLIENT"),
        ("KEYHUB_METRICS_BIND", "9100", "KEYHUB_METRICS_BIND"),
        ("KEYHUB_METRICS_TOKEN", "short", "at least 16 characters"),
        ("KEYHUB_KEYS_MAX_STALE_SECONDS", "3601", "between 1 and 3600"),
        ("KEYHUB_SYNC_MAX_ROWS", "0", "KEYHUB_SYNC_MAX_ROWS"),
        ("KEYHUB_SYNC_MAX_SECONDS", "soon", "KEYHUB_SYNC_MAX_SECONDS"),
        ("KEYHUB_CHANGES_POLL_SECONDS", "3601", "between 1 and 3600"),
        ("KEYHUB_SHUTDOWN_DRAIN_SECONDS", "301", "between 0 and 300"),
        ("KEYHUB_SYNC_WORKERS", "-1", "0 or more"),
        ("KEYHUB_NODE_ADDRESS", "10.0.0.5 8080", "KEYHUB_NODE_ADDRESS"),
    ] {
        let err = Settings::from_sources(&env(&[(k, v)])).expect_err(k).to_string();
        assert!(err.contains(needle), "{k}: {err}");
    }
}

#[test]
fn file_then_environment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keyhub.toml");
    std::fs::write(&path, "bind = \"0.0.0.0:9000\"\ntrusted_proxies = [\"10.0.0.0/8\"]\nsession_idle_minutes = 5\n")
        .unwrap();
    let file = path.display().to_string();
    let s = Settings::from_sources(&env(&[("KEYHUB_CONFIG", &file)])).unwrap();
    assert_eq!(s.bind.to_string(), "0.0.0.0:9000");
    assert_eq!(s.trusted_proxies.len(), 1);
    assert_eq!(s.session_idle_timeout.as_secs(), 300);
    let s = Settings::from_sources(&env(&[("KEYHUB_CONFIG", &file), ("KEYHUB_BIND", "127.0.0.1:7000")])).unwrap();
    assert_eq!(s.bind.to_string(), "127.0.0.1:7000", "the environment wins over the file");
    std::fs::write(&path, "bnd = 1\n").unwrap();
    let err = Settings::from_sources(&env(&[("KEYHUB_CONFIG", &file)])).unwrap_err().to_string();
    assert!(err.contains("not valid"), "{err}");
}

#[test]
fn database_password_is_redacted() {
    assert_eq!(redact_url("postgres://kh:hunter2@db/kh"), "postgres://kh:***@db/kh");
    assert_eq!(redact_url("sqlite://data/keyhub.db"), "sqlite://data/keyhub.db");
}

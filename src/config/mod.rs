//! Typed settings: defaults that just work → optional TOML file → `KEYHUB_*`
//! environment variables. A wrong value stops start-up with a sentence that
//! says what to fix.
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

/// A secret value whose `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone)]
pub struct Settings {
    /// `sqlite://…` or `postgres://…`; `None` means `./data/keyhub.db`.
    pub database_url: Option<String>,
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    /// Master secret; `None` means "read or create `<data_dir>/secret`".
    pub secret: Option<Secret>,
    /// The URL people use to reach keyhub; https turns on Secure cookies.
    pub public_url: Option<String>,
    /// Proxies whose `X-Forwarded-For` is believed. Empty: trust no one.
    pub trusted_proxies: Vec<IpNet>,
    pub session_idle_timeout: Duration,
    pub session_max_lifetime: Duration,
    /// Where users get help: a URL or an email address, shown beside Help.
    pub support_contact: Option<String>,
    /// Largest dataset upload, in bytes (`KEYHUB_UPLOAD_MAX_MB`, default 100).
    pub upload_max_bytes: u64,
    /// Lets connectors call loopback and private addresses
    /// (`KEYHUB_CONNECTORS_ALLOW_PRIVATE=true`); off by default (SSRF).
    pub connectors_allow_private: bool,
    /// Total time a connector's request may take (`KEYHUB_CONNECTORS_TIMEOUT_SECONDS`, default 30).
    pub connectors_timeout: Duration,
    /// Sync runs one node works on at once (`KEYHUB_SYNC_WORKERS`, default 2;
    /// 0 makes a node that serves pages and queues syncs but runs none).
    pub sync_workers: usize,
    /// How long a node's claim on a run lasts unless renewed
    /// (`KEYHUB_SYNC_LEASE_SECONDS`, default 30): after a crash, another node
    /// (or this one, restarted) takes the run up once it has passed.
    pub sync_lease: Duration,
    /// Failed sign-ins one client address may make in 15 minutes
    /// (`KEYHUB_LOGIN_FAILURES_PER_CLIENT`, default 10; an account allows twice as many).
    pub login_failures_per_client: usize,
    /// Refused keys one client address may send in a minute before its
    /// requests get 429 (`KEYHUB_KEY_REFUSALS_PER_MINUTE`, default 120).
    pub key_refusals_per_minute: usize,
    /// Where `GET /metrics` is served on a listener of its own
    /// (`KEYHUB_METRICS_BIND`, e.g. 127.0.0.1:9100). See `metrics_token`.
    pub metrics_bind: Option<SocketAddr>,
    /// Serves `GET /metrics` on the main listener to `Authorization: Bearer
    /// <token>` (`KEYHUB_METRICS_TOKEN`). Neither set: no metrics endpoint.
    pub metrics_token: Option<Secret>,
    /// Where email goes (`KEYHUB_SMTP_URL`: `smtp://host:25` plain,
    /// `smtp://host:587?tls=required` STARTTLS, `smtps://host:465` TLS; user
    /// and password in the URL or `KEYHUB_SMTP_PASSWORD`). Kept secret: it
    /// may hold a password. Without it and `mail_from`, keyhub sends no email.
    pub smtp_url: Option<Secret>,
    /// The sender of keyhub's emails (`KEYHUB_MAIL_FROM`, `keyhub <keyhub@example.com>`).
    pub mail_from: Option<String>,
    /// How long a node may verify keys from snapshots it has not confirmed
    /// against the database (`KEYHUB_KEYS_MAX_STALE_SECONDS`, default 30);
    /// after that, key-guarded requests get 503 `keys_unavailable`.
    pub keys_max_stale: Duration,
    /// Records one stream may write in one sync run (`KEYHUB_SYNC_MAX_ROWS`,
    /// default 10,000,000); beyond, the stream fails and its old rows stay.
    pub sync_max_rows: u64,
    /// How long one sync run may take (`KEYHUB_SYNC_MAX_SECONDS`, default 21,600 = 6 h).
    pub sync_max_time: Duration,
    /// How often a node asks the database for key changes it was not told
    /// of (`KEYHUB_CHANGES_POLL_SECONDS`, default 1). On PostgreSQL changes
    /// are pushed (LISTEN/NOTIFY); this poll is the fallback and the
    /// heartbeat that keeps snapshots confirmed (see `keys_max_stale`).
    pub changes_poll: Duration,
    /// How other nodes and Admin → Cluster name this node
    /// (`KEYHUB_NODE_ADDRESS`, default: the bind address).
    pub node_address: Option<String>,
    /// On SIGTERM, how long `/readyz` answers 503 before the listener closes
    /// (`KEYHUB_SHUTDOWN_DRAIN_SECONDS`, default 2): longer than the load
    /// balancer's health-check interval, so it stops sending here first.
    pub shutdown_drain: Duration,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &self.database_url.as_deref().map(redact_url))
            .field("bind", &self.bind)
            .field("data_dir", &self.data_dir)
            .field("secret", &self.secret)
            .field("public_url", &self.public_url)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("session_max_lifetime", &self.session_max_lifetime)
            .field("support_contact", &self.support_contact)
            .field("upload_max_bytes", &self.upload_max_bytes)
            .field("connectors_allow_private", &self.connectors_allow_private)
            .field("connectors_timeout", &self.connectors_timeout)
            .field("sync_workers", &self.sync_workers)
            .field("sync_lease", &self.sync_lease)
            .field("login_failures_per_client", &self.login_failures_per_client)
            .field("key_refusals_per_minute", &self.key_refusals_per_minute)
            .field("metrics_bind", &self.metrics_bind)
            .field("metrics_token", &self.metrics_token)
            .field("smtp_url", &self.smtp_url.as_ref().map(|u| redact_url(u.expose())))
            .field("mail_from", &self.mail_from)
            .field("keys_max_stale", &self.keys_max_stale)
            .field("sync_max_rows", &self.sync_max_rows)
            .field("sync_max_time", &self.sync_max_time)
            .field("changes_poll", &self.changes_poll)
            .field("node_address", &self.node_address)
            .field("shutdown_drain", &self.shutdown_drain)
            .finish()
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            secret: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            session_idle_timeout: Duration::from_secs(30 * 60),
            session_max_lifetime: Duration::from_secs(8 * 3600),
            support_contact: None,
            upload_max_bytes: 100 * 1024 * 1024,
            connectors_allow_private: false,
            connectors_timeout: Duration::from_secs(30),
            sync_workers: 2,
            sync_lease: Duration::from_secs(30),
            login_failures_per_client: 10,
            key_refusals_per_minute: 120,
            metrics_bind: None,
            metrics_token: None,
            smtp_url: None,
            mail_from: None,
            keys_max_stale: Duration::from_secs(30),
            sync_max_rows: 10_000_000,
            sync_max_time: Duration::from_secs(6 * 3600),
            changes_poll: Duration::from_secs(1),
            node_address: None,
            shutdown_drain: Duration::from_secs(2),
        }
    }
}

/// The file form: every field optional, names as in the environment without the prefix.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    bind: Option<String>,
    data_dir: Option<String>,
    secret: Option<String>,
    public_url: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    session_idle_minutes: Option<u64>,
    session_max_hours: Option<u64>,
    support_contact: Option<String>,
    upload_max_mb: Option<u64>,
    connectors_allow_private: Option<bool>,
    connectors_timeout_seconds: Option<u64>,
    sync_workers: Option<u64>,
    sync_lease_seconds: Option<u64>,
    login_failures_per_client: Option<u64>,
    key_refusals_per_minute: Option<u64>,
    metrics_bind: Option<String>,
    metrics_token: Option<String>,
    smtp_url: Option<String>,
    smtp_password: Option<String>,
    mail_from: Option<String>,
    keys_max_stale_seconds: Option<u64>,
    sync_max_rows: Option<u64>,
    sync_max_seconds: Option<u64>,
    changes_poll_seconds: Option<u64>,
    node_address: Option<String>,
    shutdown_drain_seconds: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

impl Settings {
    /// The upload limit as people read it: "100 MB".
    pub fn upload_limit_text(&self) -> String {
        let mb = self.upload_max_bytes as f64 / (1024.0 * 1024.0);
        if mb >= 1.0 { format!("{} MB", mb.round()) } else { format!("{} KB", (self.upload_max_bytes / 1024).max(1)) }
    }

    /// Loads from the file named by `KEYHUB_CONFIG` (or `./keyhub.toml` when it
    /// exists), then from the process environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().filter(|(k, _)| k.starts_with("KEYHUB_")).collect();
        Settings::from_sources(&env)
    }

    pub fn from_sources(env: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        let file = match env.get("KEYHUB_CONFIG") {
            Some(path) => Some(read_file(Path::new(path))?),
            None if Path::new("keyhub.toml").exists() => Some(read_file(Path::new("keyhub.toml"))?),
            None => None,
        }
        .unwrap_or_default();

        let mut s = Settings::default();
        let pick = |name: &str, from_file: Option<String>| env.get(name).cloned().or(from_file);

        if let Some(v) = pick("KEYHUB_DATABASE_URL", file.database_url) {
            if !(v.starts_with("sqlite:") || v.starts_with("postgres://") || v.starts_with("postgresql://")) {
                return Err(ConfigError(
                    "KEYHUB_DATABASE_URL must start with sqlite: or postgres:// (for example postgres://user@127.0.0.1/keyhub)."
                        .into(),
                ));
            }
            s.database_url = Some(v);
        }
        if let Some(v) = pick("KEYHUB_BIND", file.bind) {
            s.bind = v.parse().map_err(|_| {
                ConfigError(format!("KEYHUB_BIND must be an address and port such as 127.0.0.1:8080, not \"{v}\"."))
            })?;
        }
        if let Some(v) = pick("KEYHUB_DATA_DIR", file.data_dir) {
            if v.trim().is_empty() {
                return Err(ConfigError("KEYHUB_DATA_DIR must name a directory.".into()));
            }
            s.data_dir = PathBuf::from(v);
        }
        if let Some(v) = pick("KEYHUB_SECRET", file.secret) {
            if v.len() < 32 {
                return Err(ConfigError(
                    "KEYHUB_SECRET must be at least 32 characters; `openssl rand -hex 32` makes a good one.".into(),
                ));
            }
            s.secret = Some(Secret::new(v));
        }
        if let Some(v) = pick("KEYHUB_PUBLIC_URL", file.public_url) {
            let v = v.trim_end_matches('/').to_owned();
            let rest = v.strip_prefix("https://").or_else(|| v.strip_prefix("http://"));
            match rest {
                Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => {}
                _ => {
                    return Err(ConfigError(format!(
                        "KEYHUB_PUBLIC_URL must be an http:// or https:// URL such as https://keyhub.example.com, not \"{v}\"."
                    )));
                }
            }
            s.public_url = Some(v);
        }
        let proxies = match env.get("KEYHUB_TRUSTED_PROXIES") {
            Some(v) => v.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect(),
            None => file.trusted_proxies.unwrap_or_default(),
        };
        for p in proxies {
            let net = p
                .parse::<IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError(format!(
                        "KEYHUB_TRUSTED_PROXIES must be a comma-separated list of addresses or CIDRs such as 10.0.0.0/8; \"{p}\" is neither."
                    ))
                })?;
            s.trusted_proxies.push(net);
        }
        if let Some(m) = number(env, "KEYHUB_SESSION_IDLE_MINUTES", file.session_idle_minutes)? {
            s.session_idle_timeout = Duration::from_secs(m * 60);
        }
        if let Some(h) = number(env, "KEYHUB_SESSION_MAX_HOURS", file.session_max_hours)? {
            s.session_max_lifetime = Duration::from_secs(h * 3600);
        }
        if let Some(mb) = number(env, "KEYHUB_UPLOAD_MAX_MB", file.upload_max_mb)? {
            s.upload_max_bytes = mb.saturating_mul(1024 * 1024);
        }
        match env.get("KEYHUB_CONNECTORS_ALLOW_PRIVATE").map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "true" || v == "1" => s.connectors_allow_private = true,
            Some(v) if v == "false" || v == "0" || v.is_empty() => s.connectors_allow_private = false,
            Some(v) => {
                return Err(ConfigError(format!(
                    "KEYHUB_CONNECTORS_ALLOW_PRIVATE must be true or false, not \"{v}\"."
                )));
            }
            None => s.connectors_allow_private = file.connectors_allow_private.unwrap_or(false),
        }
        if let Some(secs) = number(env, "KEYHUB_CONNECTORS_TIMEOUT_SECONDS", file.connectors_timeout_seconds)? {
            if secs == 0 {
                return Err(ConfigError("KEYHUB_CONNECTORS_TIMEOUT_SECONDS must be at least 1.".into()));
            }
            s.connectors_timeout = Duration::from_secs(secs);
        }
        if let Some(n) = count(env, "KEYHUB_SYNC_WORKERS", file.sync_workers)? {
            if n > 64 {
                return Err(ConfigError(
                    "KEYHUB_SYNC_WORKERS must be between 0 (this node runs no syncs) and 64.".into(),
                ));
            }
            s.sync_workers = n as usize;
        }
        if let Some(secs) = number(env, "KEYHUB_SYNC_LEASE_SECONDS", file.sync_lease_seconds)? {
            if !(2..=3600).contains(&secs) {
                return Err(ConfigError("KEYHUB_SYNC_LEASE_SECONDS must be between 2 and 3600.".into()));
            }
            s.sync_lease = Duration::from_secs(secs);
        }
        if let Some(n) = number(env, "KEYHUB_LOGIN_FAILURES_PER_CLIENT", file.login_failures_per_client)? {
            if n == 0 {
                return Err(ConfigError("KEYHUB_LOGIN_FAILURES_PER_CLIENT must be at least 1.".into()));
            }
            s.login_failures_per_client = usize::try_from(n).unwrap_or(usize::MAX / 2);
        }
        if let Some(n) = number(env, "KEYHUB_KEY_REFUSALS_PER_MINUTE", file.key_refusals_per_minute)? {
            if n == 0 {
                return Err(ConfigError("KEYHUB_KEY_REFUSALS_PER_MINUTE must be at least 1.".into()));
            }
            s.key_refusals_per_minute = usize::try_from(n).unwrap_or(usize::MAX / 2);
        }
        if let Some(secs) = number(env, "KEYHUB_KEYS_MAX_STALE_SECONDS", file.keys_max_stale_seconds)? {
            if !(1..=3600).contains(&secs) {
                return Err(ConfigError("KEYHUB_KEYS_MAX_STALE_SECONDS must be between 1 and 3600.".into()));
            }
            s.keys_max_stale = Duration::from_secs(secs);
        }
        if let Some(n) = number(env, "KEYHUB_SYNC_MAX_ROWS", file.sync_max_rows)? {
            if n == 0 {
                return Err(ConfigError("KEYHUB_SYNC_MAX_ROWS must be at least 1.".into()));
            }
            s.sync_max_rows = n;
        }
        if let Some(secs) = number(env, "KEYHUB_SYNC_MAX_SECONDS", file.sync_max_seconds)? {
            if secs == 0 {
                return Err(ConfigError("KEYHUB_SYNC_MAX_SECONDS must be at least 1.".into()));
            }
            s.sync_max_time = Duration::from_secs(secs);
        }
        if let Some(secs) = number(env, "KEYHUB_CHANGES_POLL_SECONDS", file.changes_poll_seconds)? {
            if !(1..=3600).contains(&secs) {
                return Err(ConfigError("KEYHUB_CHANGES_POLL_SECONDS must be between 1 and 3600.".into()));
            }
            s.changes_poll = Duration::from_secs(secs);
        }
        if let Some(secs) = count(env, "KEYHUB_SHUTDOWN_DRAIN_SECONDS", file.shutdown_drain_seconds)? {
            if secs > 300 {
                return Err(ConfigError("KEYHUB_SHUTDOWN_DRAIN_SECONDS must be between 0 and 300.".into()));
            }
            s.shutdown_drain = Duration::from_secs(secs);
        }
        if let Some(v) = pick("KEYHUB_NODE_ADDRESS", file.node_address) {
            let v = v.trim();
            if v.is_empty() || v.len() > 200 || !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(ConfigError(
                    "KEYHUB_NODE_ADDRESS must be how others reach this node, such as 10.0.0.5:8080 (no spaces, at most 200 characters).".into(),
                ));
            }
            s.node_address = Some(v.to_owned());
        }
        if let Some(v) = pick("KEYHUB_METRICS_BIND", file.metrics_bind) {
            s.metrics_bind = Some(v.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "KEYHUB_METRICS_BIND must be an address and port such as 127.0.0.1:9100, not \"{v}\"."
                ))
            })?);
        }
        if let Some(v) = pick("KEYHUB_METRICS_TOKEN", file.metrics_token) {
            if v.trim().len() < 16 {
                return Err(ConfigError("KEYHUB_METRICS_TOKEN must be at least 16 characters.".into()));
            }
            s.metrics_token = Some(Secret::new(v.trim().to_owned()));
        }
        if let Some(v) = pick("KEYHUB_SMTP_URL", file.smtp_url) {
            let mut url = url::Url::parse(v.trim()).map_err(|_| {
                ConfigError(format!(
                    "KEYHUB_SMTP_URL must be a URL such as smtp://mail.example.com:587?tls=required, not \"{}\".",
                    redact_url(&v)
                ))
            })?;
            if !matches!(url.scheme(), "smtp" | "smtps") || url.host_str().is_none() {
                return Err(ConfigError("KEYHUB_SMTP_URL must start with smtp:// or smtps:// and name a host.".into()));
            }
            if let Some(p) = pick("KEYHUB_SMTP_PASSWORD", file.smtp_password) {
                let _ = url.set_password(Some(p.trim()));
            }
            s.smtp_url = Some(Secret::new(url.to_string()));
        }
        if let Some(v) = pick("KEYHUB_MAIL_FROM", file.mail_from) {
            let v = v.trim().to_owned();
            if v.parse::<lettre::message::Mailbox>().is_err() {
                return Err(ConfigError(format!(
                    "KEYHUB_MAIL_FROM must be an address such as keyhub@example.com or \"keyhub <keyhub@example.com>\", not \"{v}\"."
                )));
            }
            s.mail_from = Some(v);
        }
        if s.smtp_url.is_some() != s.mail_from.is_some() {
            return Err(ConfigError("Set both KEYHUB_SMTP_URL and KEYHUB_MAIL_FROM to send email, or neither.".into()));
        }
        if let Some(v) = pick("KEYHUB_SUPPORT_CONTACT", file.support_contact) {
            let v = v.trim().to_owned();
            let ok = v.starts_with("https://")
                || v.starts_with("http://")
                || (v.contains('@') && !v.contains(char::is_whitespace));
            if !ok {
                return Err(ConfigError(format!(
                    "KEYHUB_SUPPORT_CONTACT must be a URL (https://...) or an email address, not \"{v}\"."
                )));
            }
            s.support_contact = Some(v);
        }
        Ok(s)
    }

    pub fn https(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.data_dir.join("keyhub.db").display()))
    }
}

fn number(env: &HashMap<String, String>, name: &str, from_file: Option<u64>) -> Result<Option<u64>, ConfigError> {
    match env.get(name) {
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(ConfigError(format!("{name} must be a whole number greater than 0, not \"{v}\"."))),
        },
        None => Ok(from_file.filter(|n| *n > 0)),
    }
}

/// As `number`, for settings where 0 means something (no sync workers, no drain).
fn count(env: &HashMap<String, String>, name: &str, from_file: Option<u64>) -> Result<Option<u64>, ConfigError> {
    match env.get(name) {
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(Some)
            .map_err(|_| ConfigError(format!("{name} must be a whole number (0 or more), not \"{v}\"."))),
        None => Ok(from_file),
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("Cannot read the configuration file {}: {e}.", path.display())))?;
    toml::from_str(&text)
        .map_err(|e| ConfigError(format!("The configuration file {} is not valid: {e}", path.display())))
}

/// Hides the password part of a database URL for logs and `Debug`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;

//! What went wrong talking to a source, classified so that people read a
//! cause and a fix rather than a stack of transport errors. The table of
//! classes is the wizard's error panel, the API's `error` object and (next)
//! Diagnostics.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    Unauthorized,
    Forbidden,
    Timeout,
    ConnectionRefused,
    DnsFailure,
    TlsFailure,
    NotFound,
    RateLimited,
    ServerError,
    NotJson,
    UnexpectedShape,
    Blocked,
    TooLarge,
    InvalidConfig,
    NoStreams,
    Rejected,
    /// The saved credentials cannot be opened (master secret changed, row copied).
    CredentialsUnreadable,
    /// A sync limit was reached (rows, time) or the source repeated itself.
    LimitReached,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Unauthorized => "unauthorized",
            ErrorClass::Forbidden => "forbidden",
            ErrorClass::Timeout => "timeout",
            ErrorClass::ConnectionRefused => "connection_refused",
            ErrorClass::DnsFailure => "dns_failure",
            ErrorClass::TlsFailure => "tls_failure",
            ErrorClass::NotFound => "not_found",
            ErrorClass::RateLimited => "rate_limited",
            ErrorClass::ServerError => "server_error",
            ErrorClass::NotJson => "not_json",
            ErrorClass::UnexpectedShape => "unexpected_shape",
            ErrorClass::Blocked => "blocked_by_policy",
            ErrorClass::TooLarge => "too_large",
            ErrorClass::InvalidConfig => "invalid_config",
            ErrorClass::NoStreams => "no_streams",
            ErrorClass::Rejected => "rejected",
            ErrorClass::CredentialsUnreadable => "credentials_unreadable",
            ErrorClass::LimitReached => "limit_reached",
        }
    }

    /// The panel's heading.
    pub fn title(self) -> &'static str {
        match self {
            ErrorClass::Unauthorized => "401 Unauthorized",
            ErrorClass::Forbidden => "403 Forbidden",
            ErrorClass::Timeout => "Timeout",
            ErrorClass::ConnectionRefused => "Connection refused",
            ErrorClass::DnsFailure => "DNS failure",
            ErrorClass::TlsFailure => "TLS failure",
            ErrorClass::NotFound => "404 Not Found",
            ErrorClass::RateLimited => "429 Too Many Requests",
            ErrorClass::ServerError => "Server error (5xx)",
            ErrorClass::NotJson => "Not JSON",
            ErrorClass::UnexpectedShape => "Unexpected response",
            ErrorClass::Blocked => "Blocked by policy",
            ErrorClass::TooLarge => "Response too large",
            ErrorClass::InvalidConfig => "Invalid settings",
            ErrorClass::NoStreams => "No streams",
            ErrorClass::Rejected => "Request rejected",
            ErrorClass::CredentialsUnreadable => "Credentials unreadable",
            ErrorClass::LimitReached => "Limit reached",
        }
    }

    pub fn cause(self) -> &'static str {
        match self {
            ErrorClass::Unauthorized => "The API key is invalid or has expired.",
            ErrorClass::Forbidden => "The key lacks the scopes or permissions for this data.",
            ErrorClass::Timeout => "The service is temporarily unavailable or too slow to answer.",
            ErrorClass::ConnectionRefused => {
                "Nothing is listening at that address and port: the service is down or the port is wrong."
            }
            ErrorClass::DnsFailure => {
                "The host name in the base URL does not resolve: a typo, or a name only known inside another network."
            }
            ErrorClass::TlsFailure => {
                "The secure connection failed: the port does not speak HTTPS, or its certificate is not trusted."
            }
            ErrorClass::NotFound => "The base URL (or the database or path in it) is wrong.",
            ErrorClass::RateLimited => "The service limits how often it may be called, and the limit was reached.",
            ErrorClass::ServerError => "The service failed while answering.",
            ErrorClass::NotJson => "The address answered, but not with JSON: it is probably a web page, not the API.",
            ErrorClass::UnexpectedShape => {
                "The service answered JSON of a shape this connector does not expect: likely another kind of service or API version."
            }
            ErrorClass::Blocked => {
                "The address is on a private, loopback or link-local network, which keyhub does not call on its users' behalf."
            }
            ErrorClass::TooLarge => "A single answer was larger than keyhub accepts.",
            ErrorClass::InvalidConfig => "A setting of the source is missing or malformed.",
            ErrorClass::NoStreams => {
                "The key works, but it can read nothing at this source (no endpoint, table or list operation is open to it)."
            }
            ErrorClass::Rejected => "The service refused the request.",
            ErrorClass::CredentialsUnreadable => {
                "The saved key cannot be opened: the instance's master secret (KEYHUB_SECRET) changed since it was saved, or the row was copied from elsewhere."
            }
            ErrorClass::LimitReached => {
                "The stream went on past a limit keyhub sets on every sync (rows per stream, time per run), or the source answered the same page again and again."
            }
        }
    }

    pub fn solution(self) -> &'static str {
        match self {
            ErrorClass::Unauthorized => "Regenerate the key in the provider's console and paste the new one here.",
            ErrorClass::Forbidden => {
                "Check the permissions of your key (or ask the provider's administrator to grant access), then test again."
            }
            ErrorClass::Timeout => "Try again in a few minutes; if it persists, check the service's status.",
            ErrorClass::ConnectionRefused => "Check the port in the base URL and that the service is running.",
            ErrorClass::DnsFailure => "Check the spelling of the host name in the base URL.",
            ErrorClass::TlsFailure => "Use http:// for a plain-HTTP port, or fix the service's certificate.",
            ErrorClass::NotFound => {
                "Check the base URL against the provider's documentation (and the database or path name)."
            }
            ErrorClass::RateLimited => "Wait for the time given, then try again; sync less often if it recurs.",
            ErrorClass::ServerError => {
                "Try again later; if it persists, contact the provider with the time of the failure."
            }
            ErrorClass::NotJson => "Point the base URL at the API itself (not its web pages).",
            ErrorClass::UnexpectedShape => "Check that the base URL is the right kind of service for this connector.",
            ErrorClass::Blocked => {
                "Use the service's public address, or ask the operator to allow private targets (KEYHUB_CONNECTORS_ALLOW_PRIVATE)."
            }
            ErrorClass::TooLarge => "Choose a smaller page size or another stream.",
            ErrorClass::InvalidConfig => "Correct the setting named in the message.",
            ErrorClass::NoStreams => {
                "Give the key access to the data (or choose the right database or document), then test again."
            }
            ErrorClass::Rejected => "Read the provider's message below and correct the request.",
            ErrorClass::CredentialsUnreadable => {
                "Enter the key again on the credentials step (or start keyhub with its original KEYHUB_SECRET)."
            }
            ErrorClass::LimitReached => {
                "Check the source's paging (it should end, and each page should move on); if the stream really is this large, raise KEYHUB_SYNC_MAX_ROWS or KEYHUB_SYNC_MAX_SECONDS."
            }
        }
    }

    /// Worth retrying as is (the next issue's runner uses this).
    pub fn transient(self) -> bool {
        matches!(
            self,
            ErrorClass::Timeout | ErrorClass::RateLimited | ErrorClass::ServerError | ErrorClass::ConnectionRefused
        )
    }
}

/// A failed call to a source. `message` is ours; `provider_message` is the
/// service's own words, trimmed and scrubbed of our credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorError {
    pub class: ErrorClass,
    pub status: Option<u16>,
    pub message: String,
    pub provider_message: Option<String>,
    /// Seconds, from `Retry-After` (429).
    pub retry_after: Option<u64>,
}

impl ConnectorError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> ConnectorError {
        ConnectorError { class, status: None, message: message.into(), provider_message: None, retry_after: None }
    }

    pub fn config(message: impl Into<String>) -> ConnectorError {
        ConnectorError::new(ErrorClass::InvalidConfig, message)
    }

    pub fn shape(message: impl Into<String>) -> ConnectorError {
        ConnectorError::new(ErrorClass::UnexpectedShape, message)
    }

    /// The cause line, with the retry time for a 429.
    pub fn cause(&self) -> String {
        match (self.class, self.retry_after) {
            (ErrorClass::RateLimited, Some(s)) => format!("{} It asks to retry after {s} seconds.", self.class.cause()),
            (c, _) => c.cause().to_owned(),
        }
    }
}

impl std::fmt::Display for ConnectorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.class.title(), self.message)
    }
}

impl std::error::Error for ConnectorError {}

/// A failure as people read it: the wizard's error panel, the API's
/// `error` object (and, next, Diagnostics) all show this one shape.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// `unauthorized`, `forbidden`, `timeout`, `connection_refused`, `dns_failure`,
    /// `tls_failure`, `not_found`, `rate_limited`, `server_error`, `not_json`,
    /// `unexpected_shape`, `blocked_by_policy`, `too_large`, `invalid_config`, `no_streams`, `rejected`,
    /// `credentials_unreadable`, `limit_reached`.
    pub class: &'static str,
    pub title: &'static str,
    /// The HTTP status the source answered, if it answered.
    pub status: Option<u16>,
    pub message: String,
    pub cause: String,
    pub solution: &'static str,
    /// The source's own words (trimmed; never our credentials).
    pub provider_message: Option<String>,
    /// Seconds to wait (429).
    pub retry_after: Option<u64>,
}

impl ConnectorError {
    pub fn report(&self) -> Report {
        Report {
            class: self.class.as_str(),
            title: self.class.title(),
            status: self.status,
            message: self.message.clone(),
            cause: self.cause(),
            solution: self.class.solution(),
            provider_message: self.provider_message.clone(),
            retry_after: self.retry_after,
        }
    }
}

/// Longest provider message kept.
const PROVIDER_MESSAGE_CHARS: usize = 300;

/// The provider's words from an error body: the message of the common JSON
/// error shapes when there is one (see [`json_message`]), else the start of
/// the text; trimmed, whitespace collapsed, and every secret replaced by `••••`.
pub fn provider_message(body: &[u8], secrets: &[String]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let from_json = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| json_message(&v));
    let raw = from_json.unwrap_or_else(|| text.into_owned());
    let collapsed = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let scrubbed = scrub(&collapsed, secrets);
    let trimmed: String = scrubbed.chars().take(PROVIDER_MESSAGE_CHARS).collect();
    let out = if scrubbed.chars().count() > PROVIDER_MESSAGE_CHARS { format!("{trimmed}…") } else { trimmed };
    (!out.is_empty()).then_some(out)
}

/// The human sentence in an error body, from the shapes APIs use:
/// `errors[0].message` (GraphQL, Directus), `errors[0].detail`/`title`
/// (JSON:API), `error_description` (OAuth 2), `error.message` (Google,
/// OpenAI), `message`, RFC 9457 problem+json (`detail`, else `title`), a
/// plain `error` string, `errors[0]` as a string.
pub fn json_message(v: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let text = |v: &Value| v.as_str().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let first = match &v["errors"] {
        Value::Array(a) => a.first().cloned().unwrap_or(Value::Null),
        Value::Object(_) => v["errors"].clone(),
        _ => Value::Null,
    };
    text(&first["message"])
        .or_else(|| text(&first["detail"]))
        .or_else(|| text(&first["title"]))
        .or_else(|| text(&first))
        .or_else(|| text(&v["error_description"]))
        .or_else(|| text(&v["error"]["message"]))
        .or_else(|| text(&v["message"]))
        .or_else(|| text(&v["detail"]))
        .or_else(|| text(&v["error"]))
        .or_else(|| text(&v["title"]))
        .or_else(|| text(&v["Message"]))
}

/// Replaces every secret (and its URL-encoded form) in `text`.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s.as_str(), "••••");
        let encoded = percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string();
        if encoded != *s {
            out = out.replace(&encoded, "••••");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_message_takes_the_json_error_and_hides_secrets() {
        let body = br#"{"ok": false, "error": "Token dstok_abc123 has expired", "status": 401}"#;
        assert_eq!(provider_message(body, &["dstok_abc123".into()]).as_deref(), Some("Token •••• has expired"));
        let html = b"<html>\n  <body>Not   here</body></html>";
        assert_eq!(provider_message(html, &[]).as_deref(), Some("<html> <body>Not here</body></html>"));
        let long = "x".repeat(1000);
        assert_eq!(provider_message(long.as_bytes(), &[]).unwrap().chars().count(), 301);
        assert_eq!(provider_message(b"  ", &[]), None);
    }

    #[test]
    fn the_common_error_shapes_give_their_sentence() {
        for (body, want) in [
            (
                r#"{"errors":[{"message":"Invalid user credentials.","extensions":{"code":"INVALID_CREDENTIALS"}}]}"#,
                "Invalid user credentials.",
            ),
            (
                r#"{"errors":[{"status":"403","title":"Forbidden","detail":"No access to orders."}]}"#,
                "No access to orders.",
            ),
            (r#"{"error":"invalid_grant","error_description":"The token expired."}"#, "The token expired."),
            (
                r#"{"error":{"code":401,"message":"Request had invalid credentials.","status":"UNAUTHENTICATED"}}"#,
                "Request had invalid credentials.",
            ),
            (r#"{"message":"Bad credentials","documentation_url":"https://docs"}"#, "Bad credentials"),
            (
                r#"{"type":"about:blank","title":"Forbidden","status":403,"detail":"The key may not read invoices."}"#,
                "The key may not read invoices.",
            ),
            (r#"{"type":"https://x/probs/out","title":"Out of credit","status":403}"#, "Out of credit"),
            (r#"{"ok":false,"error":"Token expired"}"#, "Token expired"),
            (r#"{"errors":["Not allowed"]}"#, "Not allowed"),
        ] {
            assert_eq!(provider_message(body.as_bytes(), &[]).as_deref(), Some(want), "{body}");
        }
    }

    #[test]
    fn every_class_has_words() {
        for c in [ErrorClass::Unauthorized, ErrorClass::Blocked, ErrorClass::RateLimited] {
            assert!(!c.cause().is_empty() && !c.solution().is_empty() && !c.title().is_empty());
        }
        let mut e = ConnectorError::new(ErrorClass::RateLimited, "slow down");
        e.retry_after = Some(30);
        assert!(e.cause().contains("30 seconds"));
    }
}

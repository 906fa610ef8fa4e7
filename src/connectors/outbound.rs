//! The one way keyhub calls a URL a user typed (connectors now, webhooks
//! later). A user-supplied URL is an SSRF risk, so:
//!
//! - only `http`/`https`, no `user@host`; the URL is parsed by the WHATWG
//!   rules first, which turn decimal, octal and hex IPv4 spellings into the
//!   dotted form, and IPv4-mapped IPv6 is unwrapped before the check;
//! - every address a host name resolves to is checked in the resolver, so the
//!   socket can only connect to an address that passed; IP literals (which
//!   skip the resolver) are checked before the request; the address actually
//!   connected is checked again on the response;
//! - each redirect (at most 5) is checked the same way;
//! - loopback, private, link-local, unique-local, CGNAT, multicast,
//!   unspecified and reserved addresses (cloud metadata lives there) are
//!   refused unless the operator sets `KEYHUB_CONNECTORS_ALLOW_PRIVATE=true`;
//!   even then keyhub's own listener is refused unless it is the configured
//!   source itself;
//! - connect and total timeouts, and a cap on the size of an answer.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde_json::Value;

use super::errors::{ConnectorError, ErrorClass, provider_message, scrub};

/// The operator's rules for outbound calls.
#[derive(Debug, Clone)]
pub struct Policy {
    pub allow_private: bool,
    /// keyhub's own listening port (its own API is not a target by accident).
    pub own_port: Option<u16>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub max_bytes: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allow_private: false,
            own_port: None,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(30),
            max_bytes: 32 * 1024 * 1024,
        }
    }
}

const MAX_REDIRECTS: usize = 5;

/// Whether an address is on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || a == 0                                   // "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()                       // 169.254/16: cloud metadata
        || (a == 100 && (64..128).contains(&b))     // CGNAT 100.64/10
        || (a == 192 && b == 0 && c == 0)           // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19))       // benchmarking
        || ip.is_multicast()
        || a >= 240                                 // reserved and broadcast
        || ip.is_documentation())
}

/// The IPv4 address in segments `hi`, `lo`.
fn v4_of(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    // Forms that carry an IPv4 address are judged by that address (mapped
    // `::ffff:a.b.c.d` was unwrapped by `to_canonical` already):
    // IPv4-compatible `::a.b.c.d` (deprecated, but routed to a.b.c.d by some
    // stacks), SIIT-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`.
    if s[..6] == [0, 0, 0, 0, 0, 0]
        || s[..6] == [0, 0, 0, 0, 0xffff, 0]
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0])
    {
        return is_public_v4(v4_of(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return is_public_v4(v4_of(s[1], s[2]));
    }
    !(ip.is_multicast()
        || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1)  // local-use NAT64 64:ff9b:1::/48
        || (s[0] == 0x2001 && s[1] == 0)             // Teredo 2001::/32: a tunnel with an obfuscated IPv4 inside
        || s[..4] == [0x100, 0, 0, 0]                // discard-only 100::/64
        || (s[0] & 0xfe00) == 0xfc00                // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80                // link local fe80::/10
        || (s[0] & 0xffc0) == 0xfec0                // site local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0xdb8)) // documentation
}

/// Ports keyhub never calls, whatever the host: the WHATWG Fetch standard's
/// "bad ports" (protocols a crafted HTTP request could talk to: ssh, smtp,
/// irc…), plus the usual ports of databases and brokers, which are not web
/// APIs and must never receive a request carrying a source's secret.
const BAD_PORTS: &[(u16, &str)] = &[
    (0, "no service"),
    (1, "tcpmux"),
    (7, "echo"),
    (9, "discard"),
    (11, "systat"),
    (13, "daytime"),
    (15, "netstat"),
    (17, "qotd"),
    (19, "chargen"),
    (20, "ftp-data"),
    (21, "ftp"),
    (22, "ssh"),
    (23, "telnet"),
    (25, "smtp"),
    (37, "time"),
    (42, "name"),
    (43, "nicname"),
    (53, "dns"),
    (69, "tftp"),
    (77, "priv-rjs"),
    (79, "finger"),
    (87, "ttylink"),
    (95, "supdup"),
    (101, "hostname"),
    (102, "iso-tsap"),
    (103, "gppitnp"),
    (104, "acr-nema"),
    (109, "pop2"),
    (110, "pop3"),
    (111, "sunrpc"),
    (113, "auth"),
    (115, "sftp"),
    (117, "uucp-path"),
    (119, "nntp"),
    (123, "ntp"),
    (135, "epmap"),
    (137, "netbios-ns"),
    (139, "netbios-ssn"),
    (143, "imap"),
    (161, "snmp"),
    (179, "bgp"),
    (389, "ldap"),
    (427, "svrloc"),
    (465, "smtp over TLS"),
    (512, "exec"),
    (513, "login"),
    (514, "shell"),
    (515, "printer"),
    (526, "tempo"),
    (530, "courier"),
    (531, "chat"),
    (532, "netnews"),
    (540, "uucp"),
    (548, "afp"),
    (554, "rtsp"),
    (556, "remotefs"),
    (563, "nntp over TLS"),
    (587, "smtp submission"),
    (601, "syslog-conn"),
    (636, "ldap over TLS"),
    (989, "ftps-data"),
    (990, "ftps"),
    (993, "imap over TLS"),
    (995, "pop3 over TLS"),
    (1433, "SQL Server"),
    (1521, "Oracle"),
    (1719, "h323gatestat"),
    (1720, "h323hostcall"),
    (1723, "pptp"),
    (1883, "MQTT"),
    (2049, "nfs"),
    (2181, "ZooKeeper"),
    (3306, "MySQL"),
    (3659, "apple-sasl"),
    (4045, "npp"),
    (4190, "sieve"),
    (4222, "NATS"),
    (5060, "sip"),
    (5061, "sips"),
    (5432, "PostgreSQL"),
    (5672, "AMQP"),
    (6000, "x11"),
    (6379, "Redis"),
    (6566, "sane-port"),
    (6665, "irc"),
    (6666, "irc"),
    (6667, "irc"),
    (6668, "irc"),
    (6669, "irc"),
    (6679, "osaut"),
    (6697, "irc over TLS"),
    (9042, "Cassandra"),
    (9092, "Kafka"),
    (10080, "amanda"),
    (11211, "memcached"),
    (27017, "MongoDB"),
];

/// The service a port belongs to, when keyhub never calls it.
pub fn bad_port(port: u16) -> Option<&'static str> {
    BAD_PORTS.iter().find(|(p, _)| *p == port).map(|(_, name)| *name)
}

fn bad_port_sentence(port: u16, service: &str) -> String {
    format!(
        "Port {port} is for {service}, not a web API; keyhub calls only HTTP services. Use the port the API is served on."
    )
}

fn blocked(what: impl Into<String>) -> ConnectorError {
    ConnectorError::new(ErrorClass::Blocked, what)
}

/// Parses and checks a URL a user typed: http(s), a host, no credentials.
/// The host comes back normalised (`http://2130706433/` is `127.0.0.1`).
pub fn parse_url(raw: &str) -> Result<Url, ConnectorError> {
    let raw = raw.trim();
    let url =
        Url::parse(raw).map_err(|_| ConnectorError::config("Enter a full URL starting with https:// or http://."))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConnectorError::config(format!(
            "Only http:// and https:// URLs are allowed, not {}:.",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConnectorError::config(
            "Put credentials in the key field, not in the URL (user@host is not allowed).",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConnectorError::config("The URL has no host."));
    }
    if let Some(port) = url.port_or_known_default()
        && let Some(service) = bad_port(port)
    {
        return Err(ConnectorError::new(ErrorClass::Blocked, bad_port_sentence(port, service)));
    }
    Ok(url)
}

/// The IP of a URL whose host is an address literal.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

fn origin_of(url: &Url) -> (String, String, Option<u16>) {
    (url.scheme().to_owned(), url.host_str().unwrap_or_default().to_ascii_lowercase(), url.port_or_known_default())
}

/// Checks a target before any byte is sent (and each redirect).
fn check_target(
    policy: &Policy,
    source_origin: &(String, String, Option<u16>),
    url: &Url,
) -> Result<(), ConnectorError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(blocked(format!("A redirect to a {}: URL was refused.", url.scheme())));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(blocked("A URL with user@host was refused."));
    }
    // Whatever the host and whatever the operator allows: a secret is never
    // sent to a port that speaks another protocol.
    if let Some(port) = url.port_or_known_default()
        && let Some(service) = bad_port(port)
    {
        return Err(blocked(bad_port_sentence(port, service)));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    if let Some(ip) = literal_ip(url)
        && !policy.allow_private
        && !is_public(ip)
    {
        return Err(blocked(format!("{} is not a public address.", ip.to_canonical())));
    }
    // keyhub's own listener: only when it is the configured source.
    let local =
        host == "localhost" || literal_ip(url).is_some_and(|ip| ip.to_canonical().is_loopback() || ip.is_unspecified());
    if local
        && policy.own_port.is_some()
        && url.port_or_known_default() == policy.own_port
        && origin_of(url) != *source_origin
    {
        return Err(blocked("keyhub's own address is not a target here."));
    }
    Ok(())
}

/// Marks a name that resolved only to refused addresses.
#[derive(Debug)]
struct BlockedAddress(String);
impl std::fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves only to non-public addresses", self.0)
    }
}
impl std::error::Error for BlockedAddress {}

#[derive(Debug)]
struct DnsFailed(String);
impl std::fmt::Display for DnsFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} did not resolve", self.0)
    }
}
impl std::error::Error for DnsFailed {}

/// Resolves with the system resolver and drops every refused address, so the
/// connection can only be made to an address that passed the check.
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await
                .map_err(|_| Box::new(DnsFailed(host.clone())) as Box<dyn std::error::Error + Send + Sync>)?
                .collect();
            if found.is_empty() {
                return Err(Box::new(DnsFailed(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            let allowed: Vec<SocketAddr> = found.into_iter().filter(|a| allow_private || is_public(a.ip())).collect();
            if allowed.is_empty() {
                return Err(Box::new(BlockedAddress(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An HTTP client for one source: its origin, its secrets (scrubbed from
/// every message), the operator's policy.
pub struct Outbound {
    client: reqwest::Client,
    policy: Arc<Policy>,
    origin: (String, String, Option<u16>),
    secrets: Vec<String>,
}

impl Outbound {
    pub fn new(policy: Arc<Policy>, base: &Url, secrets: Vec<String>) -> Result<Outbound, ConnectorError> {
        let origin = origin_of(base);
        let (p, o) = (policy.clone(), origin.clone());
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(blocked(format!("More than {MAX_REDIRECTS} redirects.")));
            }
            match check_target(&p, &o, attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(redirects)
            .dns_resolver(Arc::new(GuardedResolver { allow_private: policy.allow_private }))
            .connect_timeout(policy.connect_timeout)
            .timeout(policy.timeout)
            .user_agent(concat!("keyhub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| ConnectorError::config("The HTTP client could not be set up."))?;
        Ok(Outbound { client, policy, origin, secrets })
    }

    pub fn secrets(&self) -> &[String] {
        &self.secrets
    }

    /// GETs `url` with `headers` and returns its JSON, or a classified error.
    pub async fn get_json(&self, url: &Url, headers: &[(String, String)]) -> Result<Value, ConnectorError> {
        check_target(&self.policy, &self.origin, url)?;
        let mut req = self.client.get(url.clone()).header("Accept", "application/json");
        for (k, v) in headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let mut res = req.send().await.map_err(|e| self.transport(e, url.scheme() == "https"))?;
        // The address actually connected (the resolver already filtered; a
        // second look costs nothing).
        if let Some(addr) = res.remote_addr() {
            if !self.policy.allow_private && !is_public(addr.ip()) {
                return Err(blocked(format!("{} is not a public address.", addr.ip().to_canonical())));
            }
            let own = self.policy.own_port == Some(addr.port()) && addr.ip().to_canonical().is_loopback();
            if own && origin_of(res.url()) != self.origin {
                return Err(blocked("keyhub's own address is not a target here."));
            }
        }
        let status = res.status();
        let retry_after = res.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let mut body = Vec::new();
        loop {
            match res.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.policy.max_bytes {
                        return Err(ConnectorError::new(
                            ErrorClass::TooLarge,
                            format!("The answer is larger than {} MB.", self.policy.max_bytes / (1024 * 1024)),
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.transport(e, false)),
            }
        }
        if !status.is_success() {
            let class = match status.as_u16() {
                401 => ErrorClass::Unauthorized,
                403 => ErrorClass::Forbidden,
                404 | 410 => ErrorClass::NotFound,
                429 => ErrorClass::RateLimited,
                500..=599 => ErrorClass::ServerError,
                _ => ErrorClass::Rejected,
            };
            return Err(ConnectorError {
                class,
                status: Some(status.as_u16()),
                message: format!("The service answered {status} to GET {}.", self.shown(url)),
                provider_message: provider_message(&body, &self.secrets),
                retry_after: if class == ErrorClass::RateLimited { retry_after } else { None },
            });
        }
        serde_json::from_slice(&body).map_err(|_| ConnectorError {
            class: ErrorClass::NotJson,
            status: Some(status.as_u16()),
            message: format!("GET {} did not answer JSON.", self.shown(url)),
            provider_message: provider_message(&body[..body.len().min(300)], &self.secrets),
            retry_after: None,
        })
    }

    /// A URL fit for a message: path only, no query (a key may be in it).
    pub fn shown(&self, url: &Url) -> String {
        scrub(url.path(), &self.secrets)
    }

    /// Classifies a transport failure by walking its causes.
    fn transport(&self, e: reqwest::Error, https: bool) -> ConnectorError {
        let mut class = if e.is_timeout() { Some(ErrorClass::Timeout) } else { None };
        let mut detail: Option<String> = None;
        // A TLS handshake with a plain-HTTP port ends in garbage or an early close.
        let mut handshake_broken = false;
        let mut examine = |err: &(dyn std::error::Error + 'static)| -> Option<ConnectorError> {
            if let Some(c) = err.downcast_ref::<ConnectorError>() {
                return Some(c.clone());
            }
            if err.downcast_ref::<BlockedAddress>().is_some() {
                class = Some(ErrorClass::Blocked);
                detail = Some(err.to_string());
            } else if err.downcast_ref::<DnsFailed>().is_some() {
                class = class.or(Some(ErrorClass::DnsFailure));
                detail = Some(err.to_string());
            } else if err.downcast_ref::<rustls::Error>().is_some() {
                class = class.or(Some(ErrorClass::TlsFailure));
                detail = Some(format!("TLS: {err}"));
            } else if let Some(io) = err.downcast_ref::<std::io::Error>() {
                match io.kind() {
                    std::io::ErrorKind::ConnectionRefused => class = class.or(Some(ErrorClass::ConnectionRefused)),
                    std::io::ErrorKind::TimedOut => class = class.or(Some(ErrorClass::Timeout)),
                    std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::InvalidData
                    | std::io::ErrorKind::ConnectionReset => handshake_broken = true,
                    _ => {}
                }
            }
            None
        };
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(err) = cause {
            if let Some(c) = examine(err) {
                return c;
            }
            // io::Error hides its inner error from `source()`: look inside.
            if let Some(inner) = err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
                if let Some(c) = examine(inner) {
                    return c;
                }
                cause = inner.source();
                continue;
            }
            cause = err.source();
        }
        let is_redirect = e.is_redirect();
        let text = e.without_url().to_string().to_ascii_lowercase();
        let class = class.unwrap_or(
            if text.contains("tls")
                || text.contains("certificate")
                || text.contains("handshake")
                || (https && handshake_broken)
            {
                ErrorClass::TlsFailure
            } else if is_redirect {
                ErrorClass::Blocked
            } else {
                ErrorClass::ConnectionRefused
            },
        );
        let message = match class {
            ErrorClass::Timeout => format!("No answer within {} seconds.", self.policy.timeout.as_secs()),
            _ => detail.map(|d| scrub(&d, &self.secrets)).unwrap_or_else(|| class.title().to_owned()),
        };
        ConnectorError::new(class, message)
    }
}

/// `Retry-After` as seconds (a number, or an HTTP date from now).
fn parse_retry_after(v: &str) -> Option<u64> {
    let v = v.trim();
    v.parse::<u64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc2822(v)
            .ok()
            .map(|t| (t.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds().max(0) as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_private_addresses() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(a.parse().unwrap()), "{a} is public");
        }
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
            "::7f00:1",
            "::10.0.0.1",
            "::169.254.169.254",
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "64:ff9b:1::808:808",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "100::1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a} is not public");
        }
    }

    #[test]
    fn odd_spellings_are_normalised_then_refused() {
        let policy = Policy::default();
        let origin = ("http".to_owned(), "example.com".to_owned(), Some(80));
        for raw in [
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0/",
            "http://[::127.0.0.1]/",
            "http://[::ffff:0:127.0.0.1]/",
        ] {
            let url = parse_url(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            let err = check_target(&policy, &origin, &url).expect_err(raw);
            assert_eq!(err.class, ErrorClass::Blocked, "{raw}");
        }
        for raw in [
            "javascript:alert(1)",
            "data:text/plain,x",
            "file:///etc/passwd",
            "ftp://example.com/",
            "http://user:pw@example.com/",
            "http://a@example.com/",
            "example.com",
        ] {
            assert!(parse_url(raw).is_err(), "{raw} refused");
        }
        assert!(check_target(&policy, &origin, &parse_url("https://example.com/x").unwrap()).is_ok());
    }

    #[test]
    fn ports_of_other_protocols_are_refused_whatever_the_host() {
        let open = Policy { allow_private: true, ..Policy::default() };
        let origin = ("http".to_owned(), "example.com".to_owned(), Some(80));
        for raw in [
            "http://example.com:22/",
            "https://example.com:25/",
            "http://127.0.0.1:6379/",
            "http://[::1]:5432/",
            "http://example.com:0/",
        ] {
            let err = parse_url(raw).expect_err(raw);
            assert_eq!(err.class, ErrorClass::Blocked, "{raw}");
            assert!(err.message.starts_with("Port "), "{raw}: {}", err.message);
            // A redirect there is refused too (the URL parsed by hand, as a redirect arrives).
            let url = Url::parse(raw).unwrap();
            assert_eq!(check_target(&open, &origin, &url).unwrap_err().class, ErrorClass::Blocked, "{raw}");
        }
        for raw in ["http://example.com/", "https://example.com/", "http://example.com:8080/", "http://127.0.0.1:8001/"]
        {
            let url = parse_url(raw).unwrap();
            assert!(check_target(&open, &origin, &url).is_ok(), "{raw}");
        }
    }

    #[test]
    fn own_listener_only_as_the_configured_source() {
        let policy = Policy { allow_private: true, own_port: Some(8080), ..Policy::default() };
        let other = ("http".to_owned(), "127.0.0.1".to_owned(), Some(9000));
        let own = ("http".to_owned(), "127.0.0.1".to_owned(), Some(8080));
        let url = parse_url("http://127.0.0.1:8080/api/v1/me").unwrap();
        assert_eq!(check_target(&policy, &other, &url).unwrap_err().class, ErrorClass::Blocked);
        assert!(check_target(&policy, &own, &url).is_ok());
        assert!(
            check_target(&policy, &other, &parse_url("http://127.0.0.1:9000/").unwrap()).is_ok(),
            "allowed private"
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("120"), Some(120));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(parse_retry_after("soon"), None);
    }
}

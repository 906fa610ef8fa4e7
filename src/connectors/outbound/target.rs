use super::*;

/// The service a port belongs to, when keyhub never calls it.
pub fn bad_port(port: u16) -> Option<&'static str> {
    BAD_PORTS.iter().find(|(p, _)| *p == port).map(|(_, name)| *name)
}

pub(super) fn bad_port_sentence(port: u16, service: &str) -> String {
    format!(
        "Port {port} is for {service}, not a web API; keyhub calls only HTTP services. Use the port the API is served on."
    )
}

pub(super) fn blocked(what: impl Into<String>) -> ConnectorError {
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
pub(super) fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

pub(super) fn origin_of(url: &Url) -> (String, String, Option<u16>) {
    (url.scheme().to_owned(), url.host_str().unwrap_or_default().to_ascii_lowercase(), url.port_or_known_default())
}

/// Checks a URL that is not a source's (a webhook's) as a request to it
/// would be checked: address literals, bad ports, keyhub's own listener.
/// Host names are checked when they resolve.
pub fn check_destination(policy: &Policy, url: &Url) -> Result<(), ConnectorError> {
    check_target(policy, &origin_of(url), url).and_then(|()| {
        let local = literal_ip(url).is_some_and(|ip| ip.to_canonical().is_loopback())
            || url.host_str().is_some_and(|h| h.eq_ignore_ascii_case("localhost"));
        if local && policy.own_port.is_some() && url.port_or_known_default() == policy.own_port {
            return Err(blocked("keyhub's own address is not a target here."));
        }
        Ok(())
    })
}

/// Checks a target before any byte is sent (and each redirect).
pub(super) fn check_target(
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
pub(super) struct BlockedAddress(String);
impl std::fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} resolves only to non-public addresses", self.0)
    }
}
impl std::error::Error for BlockedAddress {}

#[derive(Debug)]
pub(super) struct DnsFailed(String);
impl std::fmt::Display for DnsFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} did not resolve", self.0)
    }
}
impl std::error::Error for DnsFailed {}

/// Resolves with the system resolver and drops every refused address, so the
/// connection can only be made to an address that passed the check.
pub(super) struct GuardedResolver {
    pub(super) allow_private: bool,
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

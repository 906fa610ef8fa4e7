//! The client's address: the peer, unless the peer is a trusted proxy, in which
//! case the right-most untrusted hop the proxies recorded.
//!
//! Every line of a repeated header counts: `X-Forwarded-For: a` then
//! `X-Forwarded-For: b` is the list `a, b` (RFC 9110 §5.3), and so is
//! `Forwarded` (RFC 7239). Reading only the first line let a client put its
//! own line ahead of the proxy's and be believed. Anything unreadable — a hop
//! that is not an address, an obfuscated `for=`, the two headers naming
//! different clients — gives no address at all, so an IP filter refuses.
use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
use ipnet::IpNet;

/// Why the forwarded hops cannot be trusted.
#[derive(Debug, PartialEq, Eq)]
struct Malformed;

/// The values of every `name` line, joined as one comma-separated list.
fn joined(req: &HttpRequest, name: &str) -> Result<Option<String>, Malformed> {
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| Malformed)?;
    let mut lines = req.headers().get_all(name).peekable();
    if lines.peek().is_none() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for v in lines {
        out.push(v.to_str().map_err(|_| Malformed)?.to_owned());
    }
    Ok(Some(out.join(",")))
}

/// `X-Forwarded-For` hops, left (client) to right (nearest proxy).
fn xff_hops(list: &str) -> Result<Vec<IpAddr>, Malformed> {
    list.split(',').map(str::trim).map(|h| h.parse::<IpAddr>().map_err(|_| Malformed)).collect()
}

/// The `for=` node of each `Forwarded` element: an address, `[v6]` or either
/// with a port. `unknown` and obfuscated `_names` are not addresses.
fn forwarded_hops(list: &str) -> Result<Vec<IpAddr>, Malformed> {
    let mut hops = Vec::new();
    for element in split_outside_quotes(list, ',') {
        let node = split_outside_quotes(&element, ';')
            .into_iter()
            .find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim().trim_matches('"').to_owned())
            })
            .ok_or(Malformed)?;
        hops.push(node_address(&node).ok_or(Malformed)?);
    }
    Ok(hops)
}

fn node_address(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(|p| p.parse::<u16>().is_ok())) {
            return None;
        }
        return v6.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6);
    }
    match node.split_once(':') {
        Some((v4, port)) if port.parse::<u16>().is_ok() => v4.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
        Some(_) => None,
        None => node.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        if c == sep && !quoted {
            parts.push(String::new());
            continue;
        }
        if c == '"' {
            quoted = !quoted;
        }
        if let Some(p) = parts.last_mut() {
            p.push(c);
        }
    }
    parts
}

/// The right-most hop that is not a trusted proxy (all trusted: the left-most).
fn first_untrusted(hops: &[IpAddr], trusted: &[IpNet], peer: IpAddr) -> IpAddr {
    let mut last_trusted = peer;
    for ip in hops.iter().rev() {
        if trusted.iter().any(|n| n.contains(ip)) {
            last_trusted = *ip;
        } else {
            return *ip;
        }
    }
    last_trusted
}

fn forwarded_client(req: &HttpRequest, trusted: &[IpNet], peer: IpAddr) -> Result<IpAddr, Malformed> {
    let xff = joined(req, "x-forwarded-for")?.map(|l| xff_hops(&l)).transpose()?;
    let fwd = joined(req, "forwarded")?.map(|l| forwarded_hops(&l)).transpose()?;
    let from_xff = xff.map(|h| first_untrusted(&h, trusted, peer));
    let from_fwd = fwd.map(|h| first_untrusted(&h, trusted, peer));
    match (from_xff, from_fwd) {
        (Some(a), Some(b)) if a != b => Err(Malformed),
        (Some(a), _) | (None, Some(a)) => Ok(a),
        (None, None) => Ok(peer),
    }
}

pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return Some(peer);
    }
    match forwarded_client(req, trusted, peer) {
        Ok(ip) => Some(ip),
        Err(Malformed) => {
            tracing::debug!("forwarded headers from a trusted proxy could not be read; the client address is unknown");
            None
        }
    }
}

/// The origin (`scheme://host[:port]`) this request was sent to. Forwarded
/// headers (`X-Forwarded-Host`, `X-Forwarded-Proto`, `Forwarded`) are believed
/// only from a trusted proxy: anyone else could name any host in them.
pub fn request_origin(req: &HttpRequest, trusted: &[IpNet]) -> String {
    let from_proxy = req.peer_addr().is_some_and(|p| trusted.iter().any(|n| n.contains(&p.ip())));
    if from_proxy {
        let info = req.connection_info();
        return format!("{}://{}", info.scheme(), info.host());
    }
    // keyhub itself speaks plain HTTP; TLS is a proxy's job.
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_else(|| req.app_config().host().to_owned());
    format!("http://{host}")
}

/// The base of links keyhub hands out (invitations, password resets):
/// `KEYHUB_PUBLIC_URL` when set, else the origin of the request.
pub fn public_base(req: &HttpRequest, public_url: Option<&str>, trusted: &[IpNet]) -> String {
    match public_url {
        Some(u) => u.to_owned(),
        None => request_origin(req, trusted),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn client(headers: &[(&str, &str)]) -> Option<IpAddr> {
        let mut req = TestRequest::default().peer_addr("127.0.0.1:5000".parse().unwrap());
        for (k, v) in headers {
            req = req.append_header((*k, *v));
        }
        client_ip(&req.to_http_request(), &["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()])
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn every_line_of_a_repeated_header_counts() {
        let xff = "x-forwarded-for";
        assert_eq!(client(&[(xff, "203.0.113.9, 198.51.100.7")]), ip("198.51.100.7"));
        assert_eq!(
            client(&[(xff, "203.0.113.9"), (xff, "198.51.100.7")]),
            ip("198.51.100.7"),
            "two lines are one list"
        );
        assert_eq!(client(&[(xff, "198.51.100.7, 10.0.0.2")]), ip("198.51.100.7"), "trusted hops are skipped");
        let fwd = "forwarded";
        assert_eq!(client(&[(fwd, "for=203.0.113.9"), (fwd, "for=198.51.100.7;proto=https")]), ip("198.51.100.7"));
        assert_eq!(client(&[(fwd, r#"for="[2001:db8::17]:4711", for=10.0.0.3:80"#)]), ip("2001:db8::17"));
        assert_eq!(
            client(&[(xff, "198.51.100.7"), (fwd, "for=198.51.100.7")]),
            ip("198.51.100.7"),
            "both headers agree"
        );
        assert_eq!(client(&[]), ip("127.0.0.1"), "no header: the proxy itself");
    }

    #[test]
    fn anything_unreadable_fails_closed() {
        for headers in [
            vec![("x-forwarded-for", "not-an-address")],
            vec![("x-forwarded-for", "198.51.100.7"), ("x-forwarded-for", "")],
            vec![("forwarded", "for=unknown")],
            vec![("forwarded", "for=_hidden")],
            vec![("forwarded", "proto=https")],
            vec![("forwarded", "for=\"[::1\"")],
            vec![("x-forwarded-for", "203.0.113.9"), ("forwarded", "for=198.51.100.7")],
        ] {
            assert_eq!(client(&headers), None, "{headers:?}");
        }
        let untrusted = TestRequest::default()
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .append_header(("x-forwarded-for", "nonsense"))
            .to_http_request();
        assert_eq!(
            client_ip(&untrusted, &["127.0.0.1/32".parse().unwrap()]),
            ip("192.0.2.1"),
            "an untrusted peer's headers are ignored"
        );
    }
}

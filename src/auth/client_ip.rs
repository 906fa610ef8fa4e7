//! The client's address: the peer, unless the peer is a trusted proxy, in which
//! case the right-most untrusted address of `X-Forwarded-For`.
use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted.iter().any(|n| n.contains(&peer)) {
        return Some(peer);
    }
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut last_trusted = peer;
    for hop in forwarded.rsplit(',').map(str::trim) {
        match hop.parse::<IpAddr>() {
            Ok(ip) if trusted.iter().any(|n| n.contains(&ip)) => last_trusted = ip,
            Ok(ip) => return Some(ip),
            Err(_) => break,
        }
    }
    Some(last_trusted)
}

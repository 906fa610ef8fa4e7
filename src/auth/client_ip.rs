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

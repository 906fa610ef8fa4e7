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

mod target;
pub use target::*;
mod client;
pub use client::*;

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

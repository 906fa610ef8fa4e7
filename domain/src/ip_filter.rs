//! A hub key's IP filter: rows of *range* + *netmask*, parsed strictly and
//! stored normalised. No rows means any address.
//!
//! Strict because lenient parsers disagree: `010.0.0.1` is 8.0.0.1 to
//! `inet_aton` and 10.0.0.1 to others, `10.1` means 10.0.0.1 to some, and a
//! zone id names an interface of one machine. Whatever could be read two ways
//! is refused with a message saying why.
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

/// One accepted row: the network, and what the admin should know about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedFilter {
    pub net: IpNet,
    /// Set when host bits were cleared (`10.0.0.5/24` → `10.0.0.0/24`).
    pub note: Option<String>,
}

impl ParsedFilter {
    /// `0.0.0.0/0` or `::/0`: needs the admin's explicit confirmation.
    pub fn allows_all(&self) -> bool {
        self.net.prefix_len() == 0
    }
}

/// A network as it is shown and stored: range and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter(pub IpNet);

impl Filter {
    pub fn range(&self) -> String {
        self.0.network().to_string()
    }

    pub fn netmask(&self) -> String {
        self.0.prefix_len().to_string()
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.0.network(), self.0.prefix_len())
    }
}

/// Decimal without sign or leading zeros, within `max`.
fn strict_decimal(s: &str, max: u32) -> Option<u32> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse::<u32>().ok().filter(|n| *n <= max)
}

/// Four decimal octets 0–255, without leading zeros, octal or hex forms.
fn strict_ipv4(s: &str) -> Result<Ipv4Addr, String> {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() != 4 {
        return Err(format!(
            "“{s}” is not an IPv4 address: write four numbers 0–255 separated by dots, e.g. 10.0.0.0."
        ));
    }
    let mut octets = [0u8; 4];
    for (i, p) in parts.iter().enumerate() {
        if p.len() > 1 && (p.starts_with("0x") || p.starts_with("0X")) {
            return Err(format!("“{p}” is a hexadecimal form; write each part of the address in decimal."));
        }
        if p.len() > 1 && p.starts_with('0') {
            return Err(format!(
                "“{p}” has a leading zero; write each number plainly (leading zeros read as octal in some tools)."
            ));
        }
        octets[i] = strict_decimal(p, 255)
            .ok_or_else(|| format!("“{p}” is not a number from 0 to 255; write each part of the address in decimal."))?
            as u8;
    }
    Ok(Ipv4Addr::from(octets))
}

fn parse_address(s: &str) -> Result<IpAddr, String> {
    if s.is_empty() {
        return Err("Enter an IP address, e.g. 203.0.113.0 or 2001:db8::.".into());
    }
    if s.contains('%') {
        return Err("A zone id (the part after %) names an interface of one machine; leave it out.".into());
    }
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().map(IpAddr::V6).map_err(|_| format!("“{s}” is not an IPv6 address."));
    }
    strict_ipv4(s).map(IpAddr::V4)
}

/// A netmask for `addr`: a prefix length, or (IPv4 only) a dotted mask whose
/// one bits are contiguous. Empty means a single address.
fn parse_prefix(addr: IpAddr, mask: &str) -> Result<u8, String> {
    let width: u32 = if addr.is_ipv4() { 32 } else { 128 };
    if mask.is_empty() {
        return Ok(width as u8);
    }
    if mask.contains('.') {
        if addr.is_ipv6() {
            return Err("An IPv6 range takes a prefix length (0–128), not a dotted mask.".into());
        }
        let m = u32::from(
            strict_ipv4(mask).map_err(|_| format!("“{mask}” is not a netmask: write e.g. 255.255.255.0 or 24."))?,
        );
        let ones = m.leading_ones();
        if m.checked_shl(ones).unwrap_or(0) != 0 {
            return Err(format!(
                "“{mask}” is not a contiguous netmask: its one bits must all come first (e.g. 255.255.255.0)."
            ));
        }
        return Ok(ones as u8);
    }
    match strict_decimal(mask, u32::MAX) {
        Some(n) if n <= width => Ok(n as u8),
        Some(n) => Err(format!(
            "/{n} is outside the address width: an {} prefix is 0–{width}.",
            if width == 32 { "IPv4" } else { "IPv6" }
        )),
        None => Err(format!("“{mask}” is not a netmask: write a prefix length (0–{width}) or a dotted mask.")),
    }
}

/// Parses one row. A range written as `a/b` with an empty netmask is split.
pub fn parse(range: &str, netmask: &str) -> Result<ParsedFilter, String> {
    let (range, netmask) = (range.trim(), netmask.trim());
    let (addr_text, mask_text) = match range.split_once('/') {
        Some((a, m)) if netmask.is_empty() || netmask == m => (a, m),
        Some(_) => {
            return Err("The range already has a /prefix that differs from the netmask; keep one of them.".into());
        }
        None => (range, netmask),
    };
    let addr = parse_address(addr_text)?;
    let prefix = parse_prefix(addr, mask_text)?;
    let net = match addr {
        IpAddr::V4(a) => {
            IpNet::V4(Ipv4Net::new(a, prefix).map_err(|_| "The prefix is outside the address width.".to_owned())?)
        }
        IpAddr::V6(a) => {
            IpNet::V6(Ipv6Net::new(a, prefix).map_err(|_| "The prefix is outside the address width.".to_owned())?)
        }
    };
    let truncated = net.trunc();
    let normal = unmapped(truncated);
    let note = if normal != truncated {
        Some(format!(
            "Stored as {}: {} is the IPv4 range written in IPv6 (IPv4-mapped), and clients arrive as IPv4.",
            Filter(normal),
            Filter(truncated)
        ))
    } else if normal.addr() != addr {
        Some(format!("Stored as {}: the host bits of {addr} were cleared.", Filter(normal)))
    } else {
        None
    };
    Ok(ParsedFilter { net: normal, note })
}

/// An IPv4-mapped range (`::ffff:a.b.c.d/96+n`) as the IPv4 range it is
/// (`a.b.c.d/n`): clients are matched as IPv4 (see `allows`), so the mapped
/// spelling would never match anyone. Other networks are returned as they are.
pub fn unmapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => Ipv4Net::new(v4, v6.prefix_len() - 96).map(IpNet::V4).unwrap_or(net),
            None => net,
        },
        other => other,
    }
}

/// Whether `ip` is allowed by `nets` (no nets: every address). IPv4 clients
/// reaching an IPv6 listener arrive as `::ffff:a.b.c.d`; they are matched as
/// the IPv4 address they are.
pub fn allows(nets: &[IpNet], ip: IpAddr) -> bool {
    if nets.is_empty() {
        return true;
    }
    let ip = ip.to_canonical();
    nets.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rows_parse_or_are_refused_with_a_reason() {
        let ok: &[(&str, &str, &str, bool)] = &[
            ("10.0.0.0", "8", "10.0.0.0/8", false),
            ("10.0.0.0/8", "", "10.0.0.0/8", false),
            ("10.0.0.0/8", "8", "10.0.0.0/8", false),
            ("192.168.1.0", "255.255.255.0", "192.168.1.0/24", false),
            ("10.0.0.5", "24", "10.0.0.0/24", true),
            ("203.0.113.7", "", "203.0.113.7/32", false),
            ("0.0.0.0", "0", "0.0.0.0/0", false),
            ("2001:db8::", "32", "2001:db8::/32", false),
            ("2001:db8::1", "64", "2001:db8::/64", true),
            ("::", "0", "::/0", false),
            ("::ffff:10.0.0.1", "128", "10.0.0.1/32", true),
            ("::ffff:127.0.0.1/128", "", "127.0.0.1/32", true),
            ("::ffff:10.0.0.0", "104", "10.0.0.0/8", true),
            ("::ffff:0:0", "96", "0.0.0.0/0", true),
            ("::ffff:0:0", "95", "::fffe:0:0/95", true),
        ];
        for (range, mask, shown, noted) in ok {
            let p = parse(range, mask).unwrap_or_else(|e| panic!("{range} {mask}: {e}"));
            assert_eq!(Filter(p.net).to_string(), *shown, "{range} {mask}");
            assert_eq!(p.note.is_some(), *noted, "{range} {mask}");
        }
        let refused: &[(&str, &str, &str)] = &[
            ("010.0.0.1", "32", "leading zero"),
            ("10.0.0.256", "32", "0 to 255"),
            ("10.0.0.0", "33", "outside the address width"),
            ("::", "129", "outside the address width"),
            ("10.0.0.0", "255.0.255.0", "contiguous"),
            ("10.0.0.0", "255.255.255.1", "contiguous"),
            ("0x0a.0.0.1", "32", "hexadecimal"),
            ("10.1", "32", "four numbers"),
            ("fe80::1%eth0", "64", "zone id"),
            ("fe80::1", "255.255.0.0", "prefix length"),
            ("example.com", "", "four numbers"),
            ("", "24", "Enter an IP address"),
            ("10.0.0.0", "024", "not a netmask"),
            ("10.0.0.0", "-1", "not a netmask"),
            ("10.0.0.0/8", "16", "differs"),
            ("1.2.3.4.5", "", "four numbers"),
            ("10.0.0.0", "0x18", "not a netmask"),
        ];
        for (range, mask, says) in refused {
            let e = parse(range, mask).expect_err(&format!("{range} {mask} should be refused"));
            assert!(e.contains(says), "{range} {mask}: {e}");
        }
    }

    #[test]
    fn mapped_rows_match_ipv4_clients() {
        let p = parse("::ffff:127.0.0.1/128", "").unwrap();
        assert!(p.note.as_deref().unwrap().contains("IPv4-mapped"), "{:?}", p.note);
        assert!(allows(&[p.net], "127.0.0.1".parse().unwrap()));
        assert!(allows(&[p.net], "::ffff:127.0.0.1".parse().unwrap()));
        assert!(!allows(&[p.net], "127.0.0.2".parse().unwrap()));
        assert!(parse("::ffff:0:0", "96").unwrap().allows_all(), "every IPv4 address needs the confirmation too");
    }

    #[test]
    fn allows_everything_is_flagged() {
        assert!(parse("0.0.0.0", "0").unwrap().allows_all());
        assert!(parse("::", "0").unwrap().allows_all());
        assert!(!parse("10.0.0.0", "8").unwrap().allows_all());
    }

    #[test]
    fn v4_mapped_clients_match_v4_rows() {
        let nets = vec![parse("10.0.0.0", "8").unwrap().net];
        assert!(allows(&nets, "::ffff:10.1.2.3".parse().unwrap()));
        assert!(allows(&nets, "10.1.2.3".parse().unwrap()));
        assert!(!allows(&nets, "::ffff:11.1.2.3".parse().unwrap()));
        assert!(allows(&[], "::1".parse().unwrap()));
    }

    proptest! {
        #[test]
        fn no_input_panics(range in "\\PC{0,40}", mask in "\\PC{0,20}") {
            let _ = parse(&range, &mask);
        }

        #[test]
        fn shown_form_parses_back_to_itself(a in any::<u32>(), p in 0u8..=32, b in any::<u128>(), q in 0u8..=128) {
            for net in [IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), p).unwrap()), IpNet::V6(Ipv6Net::new(Ipv6Addr::from(b), q).unwrap())] {
                let first = parse(&net.addr().to_string(), &net.prefix_len().to_string()).unwrap();
                let f = Filter(first.net);
                let again = parse(&f.range(), &f.netmask()).unwrap();
                prop_assert_eq!(again.net, first.net);
                prop_assert!(again.note.is_none());
                prop_assert_eq!(first.net, net.trunc());
            }
        }

        #[test]
        fn matching_agrees_with_ipnet(a in any::<u32>(), p in 0u8..=32, ip in any::<u32>()) {
            let net = parse(&Ipv4Addr::from(a).to_string(), &p.to_string()).unwrap().net;
            let ip = IpAddr::V4(Ipv4Addr::from(ip));
            prop_assert_eq!(allows(&[net], ip), net.contains(&ip));
            let mapped = match ip { IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()), other => other };
            prop_assert_eq!(allows(&[net], mapped), net.contains(&ip));
        }

        #[test]
        fn matching_agrees_with_ipnet_v6(a in any::<u128>(), p in 0u8..=128, ip in any::<u128>()) {
            let net = parse(&Ipv6Addr::from(a).to_string(), &p.to_string()).unwrap().net;
            let ip = Ipv6Addr::from(ip);
            if ip.to_ipv4_mapped().is_none() {
                prop_assert_eq!(allows(&[net], IpAddr::V6(ip)), net.contains(&IpAddr::V6(ip)));
            }
        }
    }
}

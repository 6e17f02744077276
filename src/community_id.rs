//! Community ID v1 (<https://github.com/corelight/community-id-spec>): a flow hash that
//! Zeek, Suricata, Arkime and most SIEMs compute the same way, so an analyst can pivot
//! from an aigress event to the same connection in every other tool.
//!
//! `"1:" + base64(SHA-1(seed ‖ addr_lo ‖ addr_hi ‖ proto ‖ 0 ‖ port_lo ‖ port_hi))`, the
//! endpoints ordered so both directions of a flow give the same id.

use std::net::IpAddr;

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// The id of the flow between `(a, a_port)` and `(b, b_port)` over IP protocol `proto`.
///
/// For ICMP and ICMPv6 the "ports" are those [`icmp_ports`] gives for the message `a` sent;
/// protocols without ports (ESP, IP in IP…) ignore them, as the specification says.
pub fn v1(seed: u16, proto: u8, a: IpAddr, a_port: u16, b: IpAddr, b_port: u16) -> String {
    let (a_port, b_port, one_way) = match proto {
        6 | 17 | 132 => (a_port, b_port, false),
        1 | 58 => {
            let kind = u8::try_from(a_port).unwrap_or(u8::MAX);
            (
                a_port,
                b_port,
                icmp_counterpart(proto == 58, kind).is_none(),
            )
        }
        _ => (0, 0, false),
    };
    // `IpAddr` orders addresses of one family by their network-order bytes, as the
    // specification orders them. A one-way ICMP message keeps its sender first.
    let (lo, hi) = if one_way || (a, a_port) <= (b, b_port) {
        ((a, a_port), (b, b_port))
    } else {
        ((b, b_port), (a, a_port))
    };
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    for ip in [lo.0, hi.0] {
        match ip {
            IpAddr::V4(v4) => h.update(v4.octets()),
            IpAddr::V6(v6) => h.update(v6.octets()),
        }
    }
    h.update([proto, 0]);
    if matches!(proto, 1 | 6 | 17 | 58 | 132) {
        h.update(lo.1.to_be_bytes());
        h.update(hi.1.to_be_bytes());
    }
    let mut id = String::with_capacity(30);
    id.push_str("1:");
    base64::engine::general_purpose::STANDARD.encode_string(h.finalize(), &mut id);
    id
}

/// The ICMP type that answers `kind` (echo ↔ echo reply and the other request/reply
/// pairs of the specification), or `None` for a message that is not part of a pair.
fn icmp_counterpart(v6: bool, kind: u8) -> Option<u8> {
    let pairs: &[(u8, u8)] = if v6 {
        &[
            (128, 129),
            (130, 131),
            (133, 134),
            (135, 136),
            (139, 140),
            (144, 145),
        ]
    } else {
        &[(8, 0), (13, 14), (15, 16), (10, 9), (17, 18)]
    };
    pairs.iter().find_map(|&(x, y)| match kind {
        k if k == x => Some(y),
        k if k == y => Some(x),
        _ => None,
    })
}

/// The port equivalents of an ICMP message from its sender: its type, and the type of the
/// answer to it, or its code when it has none. Both directions of a request and its
/// reply give the same pair, reversed; aigress keys ICMP flows by them too.
pub fn icmp_ports(v6: bool, kind: u8, code: u8) -> (u16, u16) {
    let other = icmp_counterpart(v6, kind).unwrap_or(code);
    (u16::from(kind), u16::from(other))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The vectors the specification's reference implementations are checked against
    /// (the same as Zeek's `community_id_v1` tests).
    #[test]
    fn the_published_vectors() {
        let (a, b) = (ip("1.2.3.4"), ip("5.6.7.8"));
        let cases = [
            (0, 6, "1:wCb3OG7yAFWelaUydu0D+125CLM="),
            (0, 17, "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg="),
            (1, 6, "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk="),
            (1, 17, "1:OShq+iKDAMVouh/4bMxB9Sz4amw="),
        ];
        for (seed, proto, want) in cases {
            assert_eq!(v1(seed, proto, a, 1122, b, 3344), want);
            assert_eq!(v1(seed, proto, b, 3344, a, 1122), want, "reversed");
        }
        // ICMP: the type and code stand in for the ports.
        assert_eq!(v1(0, 1, a, 8, b, 0), "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=");
        let (c, d) = (
            ip("fe80:1:203:405:607:809:a0b:c0d"),
            ip("fe80:1011:1213:1415:1617:1819:1a1b:1c1d"),
        );
        assert_eq!(v1(0, 58, c, 128, d, 129), "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=");
        assert_eq!(v1(1, 58, c, 128, d, 129), "1:IO27GQzPuCtNnwFvjWALMHu5tJE=");
    }

    /// The specification's rules for ICMP and other protocols: a reply gives its
    /// request's id, a one-way message keeps its sender first, a protocol without ports
    /// hashes the addresses alone.
    #[test]
    fn icmp_pairs_one_way_messages_and_portless_protocols() {
        let (a, b) = (ip("192.168.0.89"), ip("192.168.0.1"));
        let (s, d) = icmp_ports(false, 8, 0);
        let (rs, rd) = icmp_ports(false, 0, 0);
        assert_eq!((s, d), (rd, rs));
        assert_eq!(v1(0, 1, a, s, b, d), v1(0, 1, b, rs, a, rd));
        let (us, ud) = icmp_ports(false, 3, 3);
        assert_eq!((us, ud), (3, 3));
        assert_ne!(v1(0, 1, a, us, b, ud), v1(0, 1, b, us, a, ud), "one way");
        assert_eq!(v1(0, 50, a, 0, b, 0), v1(0, 50, b, 7, a, 9), "no ports");
    }
}

//! IP addresses as Suricata's EVE writes them, so events join with Suricata's on address:
//! IPv4 dotted, IPv6 as all eight groups in full, zero-padded
//! (`2001:0db8:0000:0000:0000:0000:0000:0001`). Consumers that join with Zeek or tshark,
//! which write the compressed form (`2001:db8::1`), choose it with `--ipv6-text compressed`.

use std::net::IpAddr;

use serde::{Serialize, Serializer};

/// How IPv6 addresses are written in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ipv6Text {
    /// Eight zero-padded groups, as Suricata 8 writes them.
    #[default]
    Full,
    /// RFC 5952's compressed form, as Zeek and tshark write them.
    Compressed,
}

impl std::str::FromStr for Ipv6Text {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "full" => Ok(Self::Full),
            "compressed" => Ok(Self::Compressed),
            other => Err(format!("{other:?}: expected full or compressed")),
        }
    }
}

/// The EVE text of an address.
pub fn eve_text(ip: IpAddr, style: Ipv6Text) -> String {
    EveIp(ip, style).to_string()
}

/// An address written in its EVE text: serialised, or displayed, without building a
/// string first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EveIp(pub IpAddr, pub Ipv6Text);

impl std::fmt::Display for EveIp {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.0, self.1) {
            (IpAddr::V6(v6), Ipv6Text::Full) => {
                let [a, b, c, d, e, f, g, h] = v6.segments();
                write!(
                    out,
                    "{a:04x}:{b:04x}:{c:04x}:{d:04x}:{e:04x}:{f:04x}:{g:04x}:{h:04x}"
                )
            }
            (ip, _) => std::fmt::Display::fmt(&ip, out),
        }
    }
}

impl Serialize for EveIp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_is_written_in_full_and_ipv4_as_dotted_quads() {
        let v6: IpAddr = "2600:1f13:f8:d400:3a6:303c:e011:18eb".parse().unwrap();
        let full = Ipv6Text::Full;
        assert_eq!(
            eve_text(v6, full),
            "2600:1f13:00f8:d400:03a6:303c:e011:18eb"
        );
        assert_eq!(
            eve_text("::1".parse().unwrap(), full),
            "0000:0000:0000:0000:0000:0000:0000:0001"
        );
        assert_eq!(eve_text("192.0.2.1".parse().unwrap(), full), "192.0.2.1");
        assert_eq!(
            eve_text(v6, Ipv6Text::Compressed),
            "2600:1f13:f8:d400:3a6:303c:e011:18eb"
        );
    }
}

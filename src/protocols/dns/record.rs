//! The dns event's record: a DNS query or response in Suricata's EVE version 3 layout.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use serde::ser::SerializeMap;

use super::parse as dns;
use crate::address::Ipv6Text;
use crate::protocols::roles::Record;

/// The word a DNS query's event is typed with: `request`, as Suricata's EVE version 3 writes
/// it; `--dns-request-type query` keeps the word aigress wrote before, for consumers that
/// read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsRequestType {
    Query,
    #[default]
    Request,
}

impl std::str::FromStr for DnsRequestType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "query" => Ok(Self::Query),
            "request" => Ok(Self::Request),
            other => Err(format!("{other:?}: expected query or request")),
        }
    }
}

impl DnsRequestType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Request => "request",
        }
    }
}

/// A DNS query or response, in Suricata's EVE version 3 layout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsInfo {
    /// The layout's version, 3.
    pub version: u8,
    /// `request` (or `query`, see [`DnsRequestType`]) or `response`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The message's number in its flow, from 0: every query and every response is a
    /// transaction of its own, as Suricata numbers them.
    pub tx_id: u64,
    pub id: u16,
    /// The header's flags word in hex, as Suricata writes it (`8180`).
    pub flags: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub qr: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub aa: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tc: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub rd: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub ra: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub z: bool,
    pub opcode: u8,
    /// The response code by name (`NOERROR` on queries too, as Suricata writes it).
    pub rcode: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queries: Vec<DnsQuery>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub answers: Vec<DnsAnswer>,
    /// The answers' data by record type, as Suricata's `grouped` format writes them.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub grouped: BTreeMap<String, Vec<Grouped>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub authorities: Vec<DnsAnswer>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub additionals: Vec<DnsAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsQuery {
    pub rrname: String,
    pub rrtype: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DnsAnswer {
    pub rrname: String,
    pub rrtype: String,
    pub ttl: u32,
    /// The record data as text, as Suricata writes it: an address (IPv6 in full), a name
    /// (for MX the exchange), one TXT character-string, NULL's bytes; absent for types
    /// written as an object or not decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdata: Option<String>,
    /// An SOA record's fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub soa: Option<dns::Soa>,
    /// SVCB/HTTPS parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub svcb: Option<SvcbInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SvcbInfo {
    pub priority: u16,
    pub target: String,
    pub alpn: Vec<String>,
    pub ipv4hint: Vec<IpAddr>,
    pub ipv6hint: Vec<IpAddr>,
    /// The record publishes an Encrypted Client Hello configuration.
    pub ech: bool,
}

/// One answer's data in the `grouped` object: text, or an SOA record's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Grouped {
    Text(String),
    Soa(dns::Soa),
}

impl DnsInfo {
    /// The EVE form of a parsed message, the `tx_id`th of its flow, with IPv6 addresses
    /// written `ipv6`.
    pub fn from_message(
        m: &dns::Message,
        request_type: DnsRequestType,
        ipv6: Ipv6Text,
        tx_id: u64,
    ) -> Self {
        let records = |rs: &[dns::Record]| {
            rs.iter()
                .flat_map(|r| DnsAnswer::from_record(r, ipv6))
                .collect()
        };
        let bit = |mask: u16| m.flags & mask != 0;
        let answers: Vec<DnsAnswer> = records(&m.answers);
        // The grouped form is the answers' data again, by record type.
        let mut grouped: BTreeMap<String, Vec<Grouped>> = BTreeMap::new();
        for a in &answers {
            let value = match (&a.soa, &a.rdata) {
                (Some(soa), _) => Grouped::Soa(soa.clone()),
                (None, Some(rdata)) => Grouped::Text(rdata.clone()),
                (None, None) => continue,
            };
            grouped.entry(a.rrtype.clone()).or_default().push(value);
        }
        DnsInfo {
            version: 3,
            kind: if m.response {
                "response"
            } else {
                request_type.as_str()
            },
            tx_id,
            id: m.id,
            flags: format!("{:x}", m.flags),
            qr: bit(0x8000),
            aa: bit(0x0400),
            tc: bit(0x0200),
            rd: bit(0x0100),
            ra: bit(0x0080),
            z: bit(0x0040),
            opcode: m.opcode,
            rcode: dns::rcode_name(m.rcode),
            queries: m
                .questions
                .iter()
                .map(|q| DnsQuery {
                    rrname: q.name.clone(),
                    rrtype: dns::type_name(q.qtype),
                })
                .collect(),
            answers,
            grouped,
            authorities: records(&m.authorities),
            additionals: records(&m.additionals),
        }
    }
}

/// Bytes from the wire as Suricata writes them in a string: as they are when they are
/// UTF-8, else ASCII as it is and every other byte as the text `\xNN`.
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().fold(String::new(), |mut out, &b| {
            if b.is_ascii() {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("\\x{b:02x}"));
            }
            out
        }),
    }
}

/// The `rdata` text of record data written as one string.
fn rdata_text(data: &dns::RData, ipv6: Ipv6Text) -> Option<String> {
    match data {
        dns::RData::A(a) => Some(a.to_string()),
        dns::RData::Aaaa(a) => Some(crate::address::eve_text(IpAddr::V6(*a), ipv6)),
        dns::RData::Name(n) => Some(n.clone()),
        dns::RData::Mx { exchange, .. } => Some(exchange.clone()),
        dns::RData::Null(bytes) => Some(text(bytes)),
        dns::RData::Svcb(s) => Some(format!("{} {}", s.priority, s.target)),
        dns::RData::Txt(_) | dns::RData::Soa(_) | dns::RData::Other(_) => None,
    }
}

impl DnsAnswer {
    /// The answers a record is written as: one, or one per character-string of a TXT
    /// record, as Suricata writes them.
    fn from_record(r: &dns::Record, ipv6: Ipv6Text) -> Vec<Self> {
        let answer = |rdata, soa, svcb| DnsAnswer {
            rrname: r.name.clone(),
            rrtype: dns::type_name(r.rtype),
            ttl: r.ttl,
            rdata,
            soa,
            svcb,
        };
        match &r.data {
            dns::RData::Txt(strings) => strings
                .iter()
                .map(|t| answer(Some(text(t)), None, None))
                .collect(),
            dns::RData::Soa(soa) => vec![answer(None, Some(soa.clone()), None)],
            dns::RData::Svcb(s) => vec![answer(
                rdata_text(&r.data, ipv6),
                None,
                Some(SvcbInfo {
                    priority: s.priority,
                    target: s.target.clone(),
                    alpn: s.alpn.clone(),
                    ipv4hint: s.ipv4hint.iter().map(|a| IpAddr::V4(*a)).collect(),
                    ipv6hint: s.ipv6hint.iter().map(|a| IpAddr::V6(*a)).collect(),
                    ech: s.ech,
                }),
            )],
            data => vec![answer(rdata_text(data, ipv6), None, None)],
        }
    }
}

impl Record for DnsInfo {
    const EVENT_TYPE: &'static str = "dns";
    const ABOUT_ITS_FLOW: bool = false;

    /// A lookup names no server of the flow it travels on: an alert raised on it carries
    /// no application-layer object.
    fn write_alert_app<M: SerializeMap>(&self, _: &mut M) -> Result<(), M::Error> {
        Ok(())
    }
}

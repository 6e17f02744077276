//! The dns event's record: a DNS query or response in Suricata's EVE version 3 layout.

use std::net::IpAddr;

use serde::Serialize;
use serde::ser::SerializeMap;

use super::parse as dns;
use crate::protocols::roles::Record;

/// The DNS message types as aigress writes them. Suricata's EVE version 3 says `request`
/// where aigress says `query`; `--dns-request-type request` writes Suricata's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsRequestType {
    #[default]
    Query,
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
    /// `query` (or `request`, see [`DnsRequestType`]) or `response`.
    #[serde(rename = "type")]
    pub kind: &'static str,
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
    /// The record data as text (address, name, `preference exchange`, …); absent for types
    /// aigress does not decode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rdata: Option<String>,
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

impl DnsInfo {
    /// The EVE form of a parsed message.
    pub fn from_message(m: &dns::Message, request_type: DnsRequestType) -> Self {
        let records = |rs: &[dns::Record]| rs.iter().map(DnsAnswer::from_record).collect();
        let bit = |mask: u16| m.flags & mask != 0;
        DnsInfo {
            version: 3,
            kind: if m.response {
                "response"
            } else {
                request_type.as_str()
            },
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
            answers: records(&m.answers),
            authorities: records(&m.authorities),
            additionals: records(&m.additionals),
        }
    }
}

impl DnsAnswer {
    fn from_record(r: &dns::Record) -> Self {
        let (rdata, svcb) = match &r.data {
            dns::RData::A(a) => (Some(a.to_string()), None),
            dns::RData::Aaaa(a) => (Some(a.to_string()), None),
            dns::RData::Name(n) => (Some(n.clone()), None),
            dns::RData::Mx {
                preference,
                exchange,
            } => (Some(format!("{preference} {exchange}")), None),
            dns::RData::Txt(t) => (Some(t.concat()), None),
            dns::RData::Soa {
                mname,
                rname,
                serial,
            } => (Some(format!("{mname} {rname} {serial}")), None),
            dns::RData::Svcb(s) => (
                Some(format!("{} {}", s.priority, s.target)),
                Some(SvcbInfo {
                    priority: s.priority,
                    target: s.target.clone(),
                    alpn: s.alpn.clone(),
                    ipv4hint: s.ipv4hint.iter().map(|a| IpAddr::V4(*a)).collect(),
                    ipv6hint: s.ipv6hint.iter().map(|a| IpAddr::V6(*a)).collect(),
                    ech: s.ech,
                }),
            ),
            dns::RData::Other(_) => (None, None),
        };
        DnsAnswer {
            rrname: r.name.clone(),
            rrtype: dns::type_name(r.rtype),
            ttl: r.ttl,
            rdata,
            svcb,
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

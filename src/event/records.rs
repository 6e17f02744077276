//! What each protocol's event says: a ClientHello (TLS or QUIC), an HTTP request head, a
//! DNS message, a flow record. Built by inspection from the pure parsers' values.

use std::net::IpAddr;

use serde::Serialize;

use crate::proto::dns;
use crate::proto::ja4::{Carrier, ja4};
use crate::proto::tls;
use crate::time::Timestamp;

/// A TLS ClientHello.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// server_name; absent when the ClientHello has none. With ECH, the outer (public)
    /// name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// ALPN protocols offered, in the client's order (also written as Suricata's
    /// `client_alpns` when there are any).
    pub alpn: Vec<String>,
    /// The version the server chose (from its ServerHello), in Suricata's words
    /// ([`crate::proto::tls::version_name`]); absent when no ServerHello was seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The highest version the client offered.
    pub client_version: String,
    /// The encrypted_client_hello extension (0xfe0d) is present: real ECH or GREASE ECH.
    pub ech: bool,
    /// A length in the hello ran past its container; the fields read before it are kept.
    pub malformed: bool,
    /// The client offers to resume a session (pre_shared_key or a session ticket).
    pub resumption: bool,
    /// A key share uses a post-quantum hybrid group (ML-KEM, Kyber).
    pub pq_key_share: bool,
    /// The JA4 fingerprint.
    pub ja4: String,
}

impl TlsInfo {
    /// The event form of a ClientHello carried by `carrier` (JA4 starts with `t` or `q`).
    pub fn from_hello(hello: &tls::ClientHello<'_>, carrier: Carrier) -> Self {
        Self {
            sni: hello.sni.map(|s| String::from_utf8_lossy(s).into_owned()),
            alpn: hello
                .alpn()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect(),
            version: None,
            client_version: tls::version_name(hello.max_version()),
            ech: hello.ech,
            malformed: hello.malformed,
            resumption: hello.resumption,
            pq_key_share: hello.pq_key_share,
            ja4: ja4(hello, carrier),
        }
    }
}

/// A QUIC ClientHello (or a Google QUIC CHLO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuicInfo {
    /// The QUIC version of the Initial packets as Suricata writes it
    /// ([`crate::proto::quic::version_text`]: `1`, `v2`, `ff00001d`, `Q050`).
    pub version: String,
    /// server_name (the CHLO's SNI tag for Google QUIC); absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    /// The JA4 fingerprint, with the `q` prefix; absent for Google QUIC CHLOs, which are
    /// not TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ja4: Option<String>,
    pub ech: bool,
    pub pq_key_share: bool,
    pub resumption: bool,
    pub malformed: bool,
    /// The Google QUIC user agent id (`UAID`), e.g. a Chrome version.
    #[serde(rename = "ua", skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

impl QuicInfo {
    pub fn from_hello(version: u32, hello: TlsInfo) -> Self {
        QuicInfo {
            version: crate::proto::quic::version_text(version),
            sni: hello.sni,
            alpn: hello.alpn,
            ja4: Some(hello.ja4),
            ech: hello.ech,
            pq_key_share: hello.pq_key_share,
            resumption: hello.resumption,
            malformed: hello.malformed,
            user_agent: None,
        }
    }

    pub fn from_chlo(version: u32, chlo: crate::proto::quic::Chlo) -> Self {
        QuicInfo {
            version: crate::proto::quic::version_text(version),
            sni: chlo.sni,
            alpn: Vec::new(),
            ja4: None,
            ech: false,
            pq_key_share: false,
            resumption: false,
            malformed: false,
            user_agent: chlo.user_agent,
        }
    }
}

/// An HTTP/1.x request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HttpInfo {
    /// The Host header's name, without a port; absent when there is no Host header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// The port the Host header names, when it names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_port: Option<u16>,
    pub http_method: String,
    /// The request target without its query string: queries can carry personal data.
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_user_agent: Option<String>,
}

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

/// Why a flow record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowEndReason {
    /// Idle for longer than its state's timeout.
    Timeout,
    /// Evicted to keep the flow table within its bound.
    Capacity,
    /// The end of the input (or the sensor stopping).
    Shutdown,
}

/// A finished flow, oriented client → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowInfo {
    pub pkts_toserver: u64,
    pub pkts_toclient: u64,
    pub bytes_toserver: u64,
    pub bytes_toclient: u64,
    #[serde(serialize_with = "crate::time::serialize_eve")]
    pub start: Timestamp,
    #[serde(serialize_with = "crate::time::serialize_eve")]
    pub end: Timestamp,
    /// Seconds from start to end.
    pub age: u64,
    /// `new`, `established` or `closed` for TCP; `new` or `established` (answered) for UDP.
    pub state: &'static str,
    pub reason: FlowEndReason,
    /// The application protocol identified: `tls`, `http`, `dns`, or null. Written at the
    /// top level of the event, as Suricata does.
    #[serde(skip)]
    pub app_proto: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_host: Option<String>,
    /// The name a DNS answer seen earlier resolved to the server's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
    /// A TLS or QUIC ClientHello started but could not be read (lost segments, a bound,
    /// malformed); written only when true.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub hello_unreadable: bool,
}

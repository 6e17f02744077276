//! The events aigress emits, serialised as EVE-style JSON (Suricata's field names where one
//! exists, so SIEM pipelines that read Suricata read aigress unchanged).
//!
//! Every event has `timestamp`, `flow_id`, `event_type`, `src_ip`, `src_port`, `dest_ip`,
//! `dest_port`, `proto`, `community_id` and, when the frame was tagged, `vlan`; `pcap_cnt`
//! (from a file) or `in_iface` (live); then one object named after the event type. Every
//! field Suricata's EVE schema defines has Suricata's name, type and format, and fields
//! Suricata omits when empty are omitted, not null. `schema/eve.schema.json` is the schema
//! of what aigress writes; EVENTS.md documents each field.

use std::net::IpAddr;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::ai::AiInfo;
use crate::alert::{AlertInfo, Verdict};
use crate::decode::Vlans;
use crate::landing::Landing;
use crate::proto::dns;
use crate::proto::ja4::{Carrier, ja4};
use crate::proto::tls;
use crate::time::Timestamp;

/// The transport protocol of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
        }
    }

    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
        }
    }
}

/// Fields every event carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub timestamp: Timestamp,
    pub flow_id: u64,
    pub src_ip: IpAddr,
    pub src_port: u16,
    pub dest_ip: IpAddr,
    pub dest_port: u16,
    pub proto: Transport,
    pub vlans: Vlans,
    /// The seed of the event's `community_id` (0 unless configured).
    pub community_id_seed: u16,
    /// The number of the packet in the capture that produced the event (files only).
    pub pcap_cnt: Option<u64>,
    /// The interface the packet was captured on (live capture only).
    pub in_iface: Option<Arc<str>>,
}

#[cfg(test)]
impl Header {
    /// A TCP header from 10.0.0.1:40000 to 192.0.2.1:443, for unit tests.
    pub(crate) fn sample(flow_id: u64, timestamp: Timestamp) -> Self {
        Self {
            timestamp,
            flow_id,
            src_ip: IpAddr::from([10, 0, 0, 1]),
            src_port: 40000,
            dest_ip: IpAddr::from([192, 0, 2, 1]),
            dest_port: 443,
            proto: Transport::Tcp,
            vlans: Vlans::default(),
            community_id_seed: 0,
            pcap_cnt: None,
            in_iface: None,
        }
    }
}

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

/// The type-specific part of an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Tls(TlsInfo),
    Quic(QuicInfo),
    Http(HttpInfo),
    Dns(DnsInfo),
    Flow(FlowInfo),
    /// An alert, with the app-layer object of the flow that raised it (written beside
    /// the `alert` object, as Suricata does).
    Alert(AlertInfo, Option<AlertApp>),
}

impl Body {
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::Tls(_) => "tls",
            Self::Quic(_) => "quic",
            Self::Http(_) => "http",
            Self::Dns(_) => "dns",
            Self::Flow(_) => "flow",
            Self::Alert(..) => "alert",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub header: Header,
    pub body: Body,
    /// The AI endpoint the event went to, when the signature database knows it.
    pub ai: Option<AiInfo>,
    /// Where the data of an AI flow lands.
    pub landing: Option<Landing>,
    /// The policy's verdict on an AI flow, when a policy is applied. Written as
    /// `policy_verdict`: Suricata's `verdict` is an object about packet actions.
    pub verdict: Option<Verdict>,
}

/// A TLS object with Suricata's `client_alpns` beside aigress's `alpn`.
#[derive(Serialize)]
struct TlsEve<'a> {
    #[serde(flatten)]
    info: &'a TlsInfo,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    client_alpns: &'a [String],
}

impl<'a> From<&'a TlsInfo> for TlsEve<'a> {
    fn from(info: &'a TlsInfo) -> Self {
        Self {
            info,
            client_alpns: &info.alpn,
        }
    }
}

/// The name of a server as a flow record knows it, written as the app-layer object of an
/// alert raised by a flow record (`{"tls": {"sni": …}}`).
#[derive(Serialize)]
struct ServerName<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    sni: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = &self.header;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("timestamp", &EveTime(h.timestamp))?;
        m.serialize_entry("flow_id", &h.flow_id)?;
        if let Some(n) = h.pcap_cnt {
            m.serialize_entry("pcap_cnt", &n)?;
        }
        if let Some(iface) = &h.in_iface {
            m.serialize_entry("in_iface", &**iface)?;
        }
        m.serialize_entry("event_type", self.body.event_type())?;
        m.serialize_entry("src_ip", &h.src_ip)?;
        m.serialize_entry("src_port", &h.src_port)?;
        m.serialize_entry("dest_ip", &h.dest_ip)?;
        m.serialize_entry("dest_port", &h.dest_port)?;
        m.serialize_entry("proto", h.proto.as_str())?;
        m.serialize_entry(
            "community_id",
            &crate::community_id::v1(
                h.community_id_seed,
                h.proto.number(),
                h.src_ip,
                h.src_port,
                h.dest_ip,
                h.dest_port,
            ),
        )?;
        if !h.vlans.as_slice().is_empty() {
            m.serialize_entry("vlan", h.vlans.as_slice())?;
        }
        match &self.body {
            Body::Tls(t) => m.serialize_entry("tls", &TlsEve::from(t))?,
            Body::Quic(q) => m.serialize_entry("quic", q)?,
            Body::Http(x) => m.serialize_entry("http", x)?,
            Body::Dns(d) => m.serialize_entry("dns", d)?,
            Body::Flow(f) => {
                if let Some(app) = f.app_proto {
                    m.serialize_entry("app_proto", app)?;
                }
                m.serialize_entry("flow", f)?;
            }
            Body::Alert(a, app) => {
                m.serialize_entry(
                    "alert",
                    &AlertEve {
                        alert: a,
                        header: h,
                    },
                )?;
                match app {
                    Some(AlertApp::Tls(t)) => {
                        m.serialize_entry("app_proto", "tls")?;
                        m.serialize_entry("tls", &TlsEve::from(t))?;
                    }
                    Some(AlertApp::Quic(q)) => {
                        m.serialize_entry("app_proto", "quic")?;
                        m.serialize_entry("quic", q)?;
                    }
                    Some(AlertApp::Http(x)) => {
                        m.serialize_entry("app_proto", "http")?;
                        m.serialize_entry("http", x)?;
                    }
                    Some(AlertApp::Flow { app_proto, name }) => {
                        m.serialize_entry("app_proto", app_proto)?;
                        let name = name.as_deref();
                        match *app_proto {
                            "http" => m.serialize_entry(
                                "http",
                                &ServerName {
                                    sni: None,
                                    hostname: name,
                                },
                            )?,
                            "tls" | "quic" => m.serialize_entry(
                                app_proto,
                                &ServerName {
                                    sni: name,
                                    hostname: None,
                                },
                            )?,
                            _ => {}
                        }
                    }
                    None => {}
                }
            }
        }
        if let Some(ai) = &self.ai {
            m.serialize_entry("ai", ai)?;
        }
        if let Some(landing) = &self.landing {
            m.serialize_entry("landing", landing)?;
        }
        if let Some(verdict) = &self.verdict {
            m.serialize_entry("policy_verdict", verdict)?;
        }
        m.end()
    }
}

/// A time written as Suricata writes it.
struct EveTime(Timestamp);

impl Serialize for EveTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::time::serialize_eve(&self.0, s)
    }
}

/// The `alert` object: Suricata's fields (`action`, `gid`, `signature_id`, `rev`,
/// `signature`, `category`, numeric `severity`, `source`, `target`), then aigress's.
struct AlertEve<'a> {
    alert: &'a AlertInfo,
    header: &'a Header,
}

impl Serialize for AlertEve<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Peer {
            ip: IpAddr,
            port: u16,
        }
        let (a, h) = (self.alert, self.header);
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("action", "allowed")?;
        m.serialize_entry("gid", &crate::alert::GID)?;
        m.serialize_entry("signature_id", &a.rule.signature_id())?;
        m.serialize_entry("rev", &a.rule.rev())?;
        m.serialize_entry("signature", a.rule.signature())?;
        m.serialize_entry("category", a.rule.category())?;
        m.serialize_entry("severity", &a.severity.number())?;
        m.serialize_entry(
            "source",
            &Peer {
                ip: h.src_ip,
                port: h.src_port,
            },
        )?;
        m.serialize_entry(
            "target",
            &Peer {
                ip: h.dest_ip,
                port: h.dest_port,
            },
        )?;
        m.serialize_entry("rule", &a.rule)?;
        m.serialize_entry("severity_name", &a.severity)?;
        m.serialize_entry("verdict", &a.verdict)?;
        m.serialize_entry("reason", &a.reason)?;
        m.serialize_entry("policy", &a.policy)?;
        m.serialize_entry("count", &a.count)?;
        m.serialize_entry("summary", &a.summary)?;
        m.serialize_entry("first_seen", &EveTime(a.first_seen))?;
        m.serialize_entry("last_seen", &EveTime(a.last_seen))?;
        if let Some(upload) = &a.upload {
            m.serialize_entry("upload", upload)?;
        }
        if !a.terms.is_empty() {
            m.serialize_entry("terms_changed", &a.terms)?;
        }
        m.end()
    }
}

/// What an alert says about the application layer of the flow that raised it, so the
/// alert names the server without a join on `flow_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertApp {
    Tls(TlsInfo),
    Quic(QuicInfo),
    Http(HttpInfo),
    /// Raised by a flow record: its protocol and the server name it carries.
    Flow {
        app_proto: &'static str,
        name: Option<String>,
    },
}

impl AlertApp {
    /// The app-layer object of the event an alert is raised on.
    pub fn of(body: &Body) -> Option<Self> {
        match body {
            Body::Tls(t) => Some(Self::Tls(t.clone())),
            Body::Quic(q) => Some(Self::Quic(q.clone())),
            Body::Http(x) => Some(Self::Http(x.clone())),
            Body::Flow(f) => f.app_proto.map(|app_proto| Self::Flow {
                app_proto,
                name: match app_proto {
                    "http" => f.http_host.clone(),
                    _ => f.sni.clone(),
                },
            }),
            Body::Dns(_) | Body::Alert(..) => None,
        }
    }
}

/// Where events go: the JSON writer, the table summary, later the alert and metrics sinks.
pub trait EventSink {
    /// Takes one event.
    ///
    /// # Errors
    /// An I/O error from the sink's writer; the engine stops on it.
    fn event(&mut self, event: Event) -> std::io::Result<()>;

    /// Writes out what the sink buffers (the live sensor calls it every second).
    ///
    /// # Errors
    /// The sink's I/O errors.
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A borrowed sink is a sink: a stage can end in a sink its caller keeps.
impl<S: EventSink + ?Sized> EventSink for &mut S {
    fn event(&mut self, event: Event) -> std::io::Result<()> {
        (**self).event(event)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        (**self).flush()
    }
}

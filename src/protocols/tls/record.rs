//! The tls event's record: what a ClientHello (and the server's answer) says.

use serde::Serialize;
use serde::ser::SerializeMap;

use super::ja4::{Carrier, ja4};
use super::parse as tls;
use crate::protocols::roles::{HelloView, Record};

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
    /// ([`super::parse::version_name`]); the client's version when no ServerHello was
    /// seen, as Suricata writes it.
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
            client_version: tls::version_name(hello.offered_version()),
            ech: hello.ech,
            malformed: hello.malformed,
            resumption: hello.resumption,
            pq_key_share: hello.pq_key_share,
            ja4: ja4(hello, carrier),
        }
    }
}

/// The tls object as written: Suricata's `client_alpns` beside aigress's `alpn`.
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

impl Record for TlsInfo {
    const EVENT_TYPE: &'static str = "tls";

    fn write_eve<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_entry(Self::EVENT_TYPE, &TlsEve::from(self))
    }

    fn write_alert_app<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_entry("app_proto", Self::EVENT_TYPE)?;
        self.write_eve(m)
    }

    fn client_hello(&self) -> Option<HelloView<'_>> {
        Some(HelloView {
            sni: self.sni.as_deref(),
            ech: self.ech,
            alpn: &self.alpn,
            transport: "TLS",
        })
    }

    fn client_fingerprint(&self) -> Option<(&'static str, &str)> {
        Some(("ja4", &self.ja4))
    }
}

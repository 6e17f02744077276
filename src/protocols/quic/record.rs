//! The quic event's record: a QUIC ClientHello or a Google QUIC CHLO.

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::protocols::roles::{HelloView, Record};

use crate::protocols::tls::TlsInfo;

/// A QUIC ClientHello (or a Google QUIC CHLO).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuicInfo {
    /// The QUIC version of the Initial packets as Suricata writes it
    /// ([`super::parse::version_text`]: `1`, `v2`, `ff00001d`, `Q050`).
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
            version: super::parse::version_text(version),
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

    pub fn from_chlo(version: u32, chlo: super::parse::Chlo) -> Self {
        QuicInfo {
            version: super::parse::version_text(version),
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

impl Record for QuicInfo {
    const EVENT_TYPE: &'static str = "quic";

    fn write_alert_app<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        m.serialize_entry("app_proto", Self::EVENT_TYPE)?;
        self.write_eve(m)
    }

    fn client_hello(&self) -> Option<HelloView<'_>> {
        Some(HelloView {
            sni: self.sni.as_deref(),
            ech: self.ech,
            alpn: &self.alpn,
            transport: "QUIC",
        })
    }

    fn client_fingerprint(&self) -> Option<(&'static str, &str)> {
        self.ja4.as_deref().map(|j| ("ja4", j))
    }
}

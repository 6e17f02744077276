//! The flow event's record: a finished flow's counters and the names it carried.

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::flow::ProtocolDetail;
use crate::protocols::roles::{Record, TableRow};
use crate::time::Timestamp;

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
    /// A new connection (a SYN) on the ports of this closed one.
    TcpReuse,
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
    /// Whole seconds from start to end, as clock readings (the end's second minus the
    /// start's), as Suricata computes it.
    pub age: u64,
    /// `new`, `established` or `closed` for TCP; `new` or `established` (answered) for UDP.
    pub state: &'static str,
    pub reason: FlowEndReason,
    /// The application protocol identified: `tls`, `http`, `dns`, or null. Written at the
    /// top level of the event, as Suricata does.
    #[serde(skip)]
    pub app_proto: Option<&'static str>,
    /// The protocol the flow started as when a `CONNECT` or an upgrade handed it to
    /// `app_proto`; top level, as Suricata writes it.
    #[serde(skip)]
    pub app_proto_orig: Option<&'static str>,
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
    /// ICMP types and codes or the ESP SPI, written at the top level as Suricata does.
    #[serde(skip)]
    pub detail: ProtocolDetail,
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

impl Record for FlowInfo {
    const EVENT_TYPE: &'static str = "flow";

    /// The application protocol is written at the top level, as Suricata does.
    fn write_eve<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        match self.detail {
            ProtocolDetail::None => {}
            ProtocolDetail::Icmp { request, response } => {
                m.serialize_entry("icmp_type", &request.kind)?;
                m.serialize_entry("icmp_code", &request.code)?;
                if let Some(response) = response {
                    m.serialize_entry("response_icmp_type", &response.kind)?;
                    m.serialize_entry("response_icmp_code", &response.code)?;
                }
            }
            ProtocolDetail::Esp { spi } => m.serialize_entry("spi", &spi)?,
        }
        if let Some(app) = self.app_proto {
            m.serialize_entry("app_proto", app)?;
        }
        if let Some(orig) = self.app_proto_orig {
            m.serialize_entry("app_proto_orig", orig)?;
        }
        m.serialize_entry(Self::EVENT_TYPE, self)
    }

    fn write_alert_app<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        let Some(app_proto) = self.app_proto else {
            return Ok(());
        };
        m.serialize_entry("app_proto", app_proto)?;
        match app_proto {
            "http" => m.serialize_entry(
                "http",
                &ServerName {
                    sni: None,
                    hostname: self.http_host.as_deref(),
                },
            ),
            "tls" | "quic" => m.serialize_entry(
                app_proto,
                &ServerName {
                    sni: self.sni.as_deref(),
                    hostname: None,
                },
            ),
            _ => Ok(()),
        }
    }

    fn table_row(&self) -> Option<TableRow<'_>> {
        Some(TableRow {
            name: self
                .sni
                .as_deref()
                .or(self.http_host.as_deref())
                .or(self.dns_name.as_deref()),
            app_proto: self.app_proto,
            pkts_up: self.pkts_toserver,
            pkts_down: self.pkts_toclient,
            bytes_up: self.bytes_toserver,
            bytes_down: self.bytes_toclient,
        })
    }
}

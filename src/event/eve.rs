//! How an event is written as an EVE JSON line: Suricata's field names, types and formats
//! where it defines the field, aigress's objects beside them.

use std::net::IpAddr;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::{AlertApp, Body, Event, Header, TlsInfo};
use crate::alert::AlertInfo;
use crate::time::Timestamp;

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

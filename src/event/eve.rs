//! How an event is written as an EVE JSON line: Suricata's field names, types and formats
//! where it defines the field, aigress's objects beside them.

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::{Body, Event, Header};
use crate::address::EveIp;
use crate::alert::AlertInfo;
use crate::time::Timestamp;

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
        m.serialize_entry("src_ip", &EveIp(h.src_ip, h.ipv6_text))?;
        if h.proto.has_ports() {
            m.serialize_entry("src_port", &h.src_port)?;
        }
        m.serialize_entry("dest_ip", &EveIp(h.dest_ip, h.ipv6_text))?;
        if h.proto.has_ports() {
            m.serialize_entry("dest_port", &h.dest_port)?;
        }
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
        if let Body::Alert(a, raised_on) = &self.body {
            m.serialize_entry(
                "alert",
                &AlertEve {
                    alert: a,
                    header: h,
                },
            )?;
            if let Some(body) = raised_on {
                body.write_alert_app(&mut m)?;
            }
        } else {
            self.body.write_record(&mut m)?;
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
            ip: EveIp,
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
                ip: EveIp(h.src_ip, h.ipv6_text),
                port: h.src_port,
            },
        )?;
        m.serialize_entry(
            "target",
            &Peer {
                ip: EveIp(h.dest_ip, h.ipv6_text),
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

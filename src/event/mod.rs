//! The events aigress emits, serialised as EVE-style JSON (Suricata's field names where one
//! exists, so SIEM pipelines that read Suricata read aigress unchanged).
//!
//! Every event has `timestamp`, `flow_id`, `event_type`, `src_ip`, `src_port`, `dest_ip`,
//! `dest_port`, `proto`, `community_id` and, when the frame was tagged, `vlan`; `pcap_cnt`
//! (from a file) or `in_iface` (live); then one object named after the event type. Every
//! field Suricata's EVE schema defines has Suricata's name, type and format, and fields
//! Suricata omits when empty are omitted, not null. `schema/eve.schema.json` is the schema
//! of what aigress writes; EVENTS.md documents each field.
//!
//! Here: the event envelope ([`Event`], [`Body`], [`Header`]) and where events go
//! ([`EventSink`]); each protocol's record is in its folder under `crate::protocols`, the
//! EVE writer of the envelope in `eve`.

mod eve;

use std::net::IpAddr;
use std::sync::Arc;

use serde::ser::SerializeMap;

use crate::address::Ipv6Text;
use crate::ai::AiInfo;
use crate::alert::{AlertInfo, Verdict};
use crate::decode::Vlans;
use crate::discovery::download::ModelDownloadInfo;
use crate::landing::Landing;
use crate::protocols::for_each_protocol;
use crate::protocols::roles::{HelloView, Protocol, Record, TableRow};
use crate::time::Timestamp;

/// The IP protocol a flow is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Sctp,
    Esp,
    /// The outer header of IPv4 carried in IP (protocol 4).
    Ipv4InIp,
    /// The outer header of IPv6 carried in IP (protocol 41).
    Ipv6InIp,
}

impl Transport {
    /// The name EVE writes in `proto`: IANA's keyword, as Suricata writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
            Self::Icmp => "ICMP",
            Self::Icmpv6 => "IPv6-ICMP",
            Self::Sctp => "SCTP",
            Self::Esp => "ESP",
            Self::Ipv4InIp => "IP-in-IP",
            Self::Ipv6InIp => "IPv6",
        }
    }

    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Self::Tcp => 6,
            Self::Udp => 17,
            Self::Icmp => 1,
            Self::Icmpv6 => 58,
            Self::Sctp => 132,
            Self::Esp => 50,
            Self::Ipv4InIp => 4,
            Self::Ipv6InIp => 41,
        }
    }

    /// The protocol of an IP-in-IP carrier by its protocol number.
    pub fn of_carrier(protocol: u8) -> Self {
        match protocol {
            4 => Self::Ipv4InIp,
            41 => Self::Ipv6InIp,
            _ => Self::Udp,
        }
    }

    /// Whether the protocol has ports, written as `src_port`/`dest_port`.
    pub fn has_ports(self) -> bool {
        matches!(self, Self::Tcp | Self::Udp | Self::Sctp)
    }

    /// Whether its flows carry the application protocols aigress reads (and so may be
    /// named by DNS and judged as AI traffic).
    pub fn is_inspected(self) -> bool {
        matches!(self, Self::Tcp | Self::Udp)
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
    /// How the event writes IPv6 addresses.
    pub ipv6_text: Ipv6Text,
    /// The number of the packet in the capture that produced the event (files only).
    pub pcap_cnt: Option<u64>,
    /// The interface the packet was captured on (live capture only).
    pub in_iface: Option<Arc<str>>,
}

impl Header {
    /// The same header for a message travelling the other way.
    pub fn reversed(&self) -> Self {
        Self {
            src_ip: self.dest_ip,
            src_port: self.dest_port,
            dest_ip: self.src_ip,
            dest_port: self.src_port,
            ..self.clone()
        }
    }
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
            ipv6_text: Ipv6Text::Full,
            pcap_cnt: None,
            in_iface: None,
        }
    }
}

macro_rules! event_body {
    ($(($field:ident, $variant:ident, $protocol:ty)),* $(,)?) => {
        /// The type-specific part of an event: one registered protocol's record, or an
        /// alert.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Body {
            $($variant(<$protocol as Protocol>::Record),)*
            /// A large download from a model hub, written after its flow's record.
            ModelDownload(ModelDownloadInfo),
            /// An alert, with the event it was raised on, whose application-layer object
            /// is written beside the `alert` object, as Suricata does.
            Alert(AlertInfo, Option<Box<Body>>),
        }

        impl Body {
            pub fn event_type(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => {
                        <<$protocol as Protocol>::Record as Record>::EVENT_TYPE
                    })*
                    Self::ModelDownload(_) => ModelDownloadInfo::EVENT_TYPE,
                    Self::Alert(..) => "alert",
                }
            }

            /// Writes the record's part of the EVE line.
            fn write_record<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
                match self {
                    $(Self::$variant(r) => r.write_eve(m),)*
                    Self::ModelDownload(r) => r.write_eve(m),
                    Self::Alert(..) => Ok(()),
                }
            }

            /// Writes what an alert raised on this event says about its application
            /// layer.
            fn write_alert_app<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
                match self {
                    $(Self::$variant(r) => r.write_alert_app(m),)*
                    Self::ModelDownload(r) => r.write_alert_app(m),
                    Self::Alert(..) => Ok(()),
                }
            }

            /// Whether the event is about the connection it travels on (see
            /// [`Record::ABOUT_ITS_FLOW`]); an alert is not.
            pub fn about_its_flow(&self) -> bool {
                match self {
                    $(Self::$variant(_) => {
                        <<$protocol as Protocol>::Record as Record>::ABOUT_ITS_FLOW
                    })*
                    Self::ModelDownload(_) => ModelDownloadInfo::ABOUT_ITS_FLOW,
                    Self::Alert(..) => false,
                }
            }

            /// The ClientHello the event carries, if it carries one.
            pub fn client_hello(&self) -> Option<HelloView<'_>> {
                match self {
                    $(Self::$variant(r) => r.client_hello(),)*
                    Self::ModelDownload(_) | Self::Alert(..) => None,
                }
            }

            /// What identifies the client software, as `(kind, value)`.
            pub fn client_fingerprint(&self) -> Option<(&'static str, &str)> {
                match self {
                    $(Self::$variant(r) => r.client_fingerprint(),)*
                    Self::ModelDownload(_) | Self::Alert(..) => None,
                }
            }

            /// What the event adds to the people's summary table.
            pub fn table_row(&self) -> Option<TableRow<'_>> {
                match self {
                    $(Self::$variant(r) => r.table_row(),)*
                    Self::ModelDownload(_) | Self::Alert(..) => None,
                }
            }
        }
    };
}

for_each_protocol!(event_body);

impl Body {
    /// The event as an alert raised on it keeps it, for its application-layer object.
    pub fn raised_on(&self) -> Option<Box<Body>> {
        match self {
            Self::Alert(..) => None,
            record => Some(Box::new(record.clone())),
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

    /// Tells the sink that the events up to the next flow record are those of the flow
    /// that started at `first_seen` with id `id`, which is ending. The flows ending at one
    /// moment end in this order, which lets several engines' events be merged back into
    /// one engine's order.
    fn flow_ending(&mut self, _first_seen: crate::time::Timestamp, _id: u64) {}
}

/// A borrowed sink is a sink: a stage can end in a sink its caller keeps.
impl<S: EventSink + ?Sized> EventSink for &mut S {
    fn event(&mut self, event: Event) -> std::io::Result<()> {
        (**self).event(event)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        (**self).flush()
    }

    fn flow_ending(&mut self, first_seen: crate::time::Timestamp, id: u64) {
        (**self).flow_ending(first_seen, id);
    }
}

//! The application protocols aigress reads, one folder each, and the one list that
//! registers them.
//!
//! Every protocol's folder has the same rooms: `parse.rs`, the pure parser (bytes in, a
//! value or a typed error out, no state, no I/O); `stream.rs` and/or `datagram.rs`, its
//! per-flow inspection state over TCP or UDP; `record.rs`, its event record and how the
//! record is written as EVE and as a table row; `report.rs`, how what inspection finds
//! becomes flow facts and events; and `mod.rs`, which names these parts
//! ([`roles::Protocol`]). The registration list, [`for_each_protocol!`], makes them the
//! enums the rest of aigress uses: [`Finding`], [`StreamState`], [`DatagramState`],
//! [`Stats`], the event body (`crate::event::Body`) and the report dispatch
//! (`crate::engine::report`).
//!
//! Adding a protocol is: a folder with those rooms, one line in the list, its object in
//! `schema/eve.schema.json` and its fields in EVENTS.md.

pub mod dns;
pub mod flow;
pub mod http;
pub mod quic;
pub mod roles;
pub mod tls;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::flow::budget::BufferBudget;
use crate::guard::Guard;
use roles::{Counters, DatagramParser, Next, Protocol, Step, StreamParser};

/// The registration list: every application protocol, one line each, as
/// `(counters' name, variant, protocol)`. The order is the order of detection by content
/// (TLS before HTTP: a TLS record cannot start like a request line, but the short prefix
/// that decides it is TLS's) and of the counters in the stats event.
///
/// Called with the name of a macro, it calls that macro with the list.
macro_rules! for_each_protocol {
    ($then:ident) => {
        $then! {
            (tls, Tls, $crate::protocols::tls::Tls),
            (quic, Quic, $crate::protocols::quic::Quic),
            (dns, Dns, $crate::protocols::dns::Dns),
            (http, Http, $crate::protocols::http::Http),
            (flow, Flow, $crate::protocols::flow::FlowRecord),
        }
    };
}
pub(crate) use for_each_protocol;

macro_rules! protocol_types {
    ($(($field:ident, $variant:ident, $protocol:ty)),* $(,)?) => {
        /// What inspection found, by protocol, or a bound that ended an inspection.
        #[derive(Debug, Clone, PartialEq)]
        pub enum Finding {
            $($variant(<$protocol as Protocol>::Finding),)*
            Guard(Guard),
        }

        /// The state of one TCP direction once its protocol is known.
        #[derive(Debug)]
        pub enum StreamState {
            $($variant(<$protocol as Protocol>::Stream),)*
        }

        impl StreamState {
            /// The state a port names, for bytes no probe recognises.
            pub fn on_port(client: u16, server: u16) -> Option<Self> {
                $(
                    if let Some(s) =
                        <<$protocol as Protocol>::Stream as StreamParser>::on_port(client, server)
                    {
                        return Some(Self::$variant(s));
                    }
                )*
                None
            }

            /// Recognises a protocol at the start of a direction's bytes, trying each in
            /// the list's order.
            pub fn probe(rest: &[u8], out: &mut Vec<Finding>) -> Option<Step<Self>> {
                $(
                    let step = <<$protocol as Protocol>::Stream as StreamParser>::probe(
                        rest,
                        &mut |f| out.push(Finding::$variant(f)),
                    );
                    if let Some(step) = step {
                        return Some(step.map(Self::$variant));
                    }
                )*
                None
            }

            /// Reads what whole messages `rest` holds.
            pub fn step(&mut self, rest: &[u8], out: &mut Vec<Finding>) -> Step<Self> {
                match self {
                    $(Self::$variant(s) => s
                        .step(rest, &mut |f| out.push(Finding::$variant(f)))
                        .map(Self::$variant),)*
                }
            }

            /// What the state may buffer, and the guard going past it counts.
            pub fn limit(&self) -> (usize, Option<Guard>) {
                match self {
                    $(Self::$variant(s) => s.limit(),)*
                }
            }

            /// Heap bytes the state holds.
            pub fn held_bytes(&self) -> usize {
                match self {
                    $(Self::$variant(s) => s.held_bytes(),)*
                }
            }

            /// Body bytes skipped in place: how many, and the state after them.
            pub fn skip(&mut self, data: &[u8], out: &mut Vec<Finding>) -> (usize, Option<Next<Self>>) {
                match self {
                    $(Self::$variant(s) => {
                        let (used, next) = s.skip(data, &mut |f| out.push(Finding::$variant(f)));
                        (used, next.map(|n| n.map(Self::$variant)))
                    })*
                }
            }

            /// The direction is cut with `unread` bytes not read: reports what was lost.
            pub fn cut(&self, unread: &[u8], out: &mut Vec<Finding>) {
                match self {
                    $(Self::$variant(s) => {
                        s.cut(unread, &mut |f| out.push(Finding::$variant(f)))
                    })*
                }
            }

            /// Where the direction goes after a hole in its stream.
            pub fn after_gap(self) -> Next<Self> {
                match self {
                    $(Self::$variant(s) => s.after_gap().map(Self::$variant),)*
                }
            }
        }

        /// The state of a UDP flow once its protocol is known.
        #[derive(Debug)]
        pub enum DatagramState {
            $($variant(<$protocol as Protocol>::Datagram),)*
        }

        impl DatagramState {
            /// The state of a flow on a protocol's own port, if it is on one.
            pub fn on_port(client: u16, server: u16) -> Option<Self> {
                $(
                    if let Some(s) =
                        <<$protocol as Protocol>::Datagram as DatagramParser>::on_port(
                            client, server,
                        )
                    {
                        return Some(Self::$variant(s));
                    }
                )*
                None
            }

            /// Recognises a protocol in a datagram of a flow not yet recognised; the
            /// state, and whether the datagram's sender is thereby known to be the client.
            pub fn probe(
                payload: &[u8],
                to_server: bool,
                buffers: &BufferBudget,
                out: &mut Vec<Finding>,
            ) -> Option<roles::Probed<Self>> {
                $(
                    let probed = <<$protocol as Protocol>::Datagram as DatagramParser>::probe(
                        payload,
                        to_server,
                        buffers,
                        &mut |f| out.push(Finding::$variant(f)),
                    );
                    if let Some(p) = probed {
                        return Some(p.map(Self::$variant));
                    }
                )*
                None
            }

            /// The `app_proto` of the flow.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => <$protocol as Protocol>::NAME,)*
                }
            }

            /// Whether there is nothing more to read.
            pub fn is_done(&self) -> bool {
                match self {
                    $(Self::$variant(s) => s.is_done(),)*
                }
            }

            /// Reads one datagram, `to_server` or back.
            pub fn datagram(&mut self, to_server: bool, payload: &[u8], out: &mut Vec<Finding>) {
                match self {
                    $(Self::$variant(s) => {
                        s.datagram(to_server, payload, &mut |f| out.push(Finding::$variant(f)))
                    })*
                }
            }

            /// The flow ends: reports what was left half-read.
            pub fn finish(&mut self, out: &mut Vec<Finding>) {
                match self {
                    $(Self::$variant(s) => s.finish(&mut |f| out.push(Finding::$variant(f))),)*
                }
            }
        }

        /// Every protocol's counters, written in the stats event under the protocol's
        /// name.
        #[derive(Debug, Default, Clone)]
        pub struct Stats {
            $(pub $field: <$protocol as Protocol>::Stats,)*
        }

        impl Stats {
            /// Adds another worker's counters to these.
            pub fn absorb(&mut self, other: &Self) {
                $(self.$field.absorb(&other.$field);)*
            }
        }

        impl Serialize for Stats {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                $(
                    if !<<$protocol as Protocol>::Stats as Counters>::NONE {
                        m.serialize_entry(stringify!($field), &self.$field)?;
                    }
                )*
                m.end()
            }
        }
    };
}

for_each_protocol!(protocol_types);

//! The per-packet path of one worker: decode → defragment → flow → inspect → events.
//!
//! [`Engine::process`] runs the whole path for one packet with plain function calls. For a
//! flow whose inspection has finished that is a decode, one hash lookup and two counter
//! updates; allocation happens only when something is found (an event) or a handshake is
//! being buffered. Events go to an [`EventSink`]; the classification, geolocation and
//! policy stages plug in between the findings and the sink.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

pub mod report;

use crate::address::Ipv6Text;
use crate::capture::{PacketSource, RawPacket};

use crate::decode::defrag::{DefragStats, Defragmenter, Reassembled};
use crate::decode::{self, Carrier, DecodeError, Decoded, L4, LinkType, TcpSegment, Vlans};
use crate::event::{EventSink, Header, Transport};
use crate::flow::budget::BufferBudget;
use crate::flow::{
    Counters, Direction, Endpoint, Flow, FlowKey, FlowStats, FlowTable, Inspection, ProtocolDetail,
    TcpSeen, TcpStart,
};
use crate::guard::GuardCounts;
use crate::protocols::dns::DnsRequestType;
use crate::protocols::dns::cache::{DnsCacheStats, SharedDnsCache};
use crate::protocols::flow::{FlowEndReason, flow_event, flow_header};
use crate::protocols::{self, DatagramState, Finding};
use crate::signatures::Database;
use crate::signatures::model_servers::ServerSightings;
use crate::time::Timestamp;
use report::{At, Reporter, bump};

/// Datagrams of an unrecognised UDP flow probed for a datagram protocol before it is left
/// to its counters.
const MAX_PROBE_DATAGRAMS: u16 = 8;

/// Sizes of the engine's bounded tables.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    pub max_flows: usize,
    pub dns_cache_entries: usize,
    /// Bytes all flows together may hold while ClientHellos, request heads and DNS
    /// messages arrive in pieces ([`crate::flow::budget`]).
    pub buffer_budget_bytes: usize,
    /// Bytes the IP datagrams in reassembly may hold together ([`crate::decode::defrag`]).
    pub defrag_budget_bytes: usize,
    /// The seed of every event's Community ID; tools that correlate must use the same.
    pub community_id_seed: u16,
    /// How events write IPv6 addresses.
    pub ipv6_text: Ipv6Text,
    /// The word DNS query events carry in `dns.type`.
    pub dns_request_type: DnsRequestType,
    /// The sensor sees one side of some connections (asymmetric routing), as Suricata's
    /// `stream.async-oneside`: a direction whose peer has sent nothing reports what it
    /// reads at once rather than waiting for acknowledgments that never pass the sensor,
    /// and a client's ACK after its SYN shows the connection established.
    pub async_oneside: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_flows: crate::flow::DEFAULT_MAX_FLOWS,
            dns_cache_entries: crate::protocols::dns::cache::DEFAULT_CAPACITY,
            buffer_budget_bytes: crate::flow::budget::DEFAULT_BUFFER_BUDGET_BYTES,
            defrag_budget_bytes: crate::decode::defrag::DEFAULT_BUDGET_BYTES,
            community_id_seed: 0,
            ipv6_text: Ipv6Text::Full,
            dns_request_type: DnsRequestType::Request,
            async_oneside: false,
        }
    }
}

/// What the engine counted over a run.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    /// Frames the capture's snap length cut short of their wire length.
    pub snaplen_truncated: u64,
    /// Frames not decoded to a transport header, by reason.
    pub decode: DecodeCounts,
    /// Packets of IP protocols that are no flow (IGMP, OSPF, PIM, …), and fragments
    /// inside a reassembled tunnel datagram: counted only.
    pub other_transport: u64,
    pub flows: FlowStats,
    pub defrag: DefragStats,
    pub dns_cache: DnsCacheStats,
    /// Each protocol's counters, under its name.
    #[serde(flatten)]
    pub protocols: protocols::Stats,
    /// TCP holes given up on during stream reassembly.
    pub reassembly_gaps: u64,
    /// Bounds on work and memory that ended an inspection, by [`Guard::name`].
    pub guards: GuardCounts,
}

impl Stats {
    /// Adds another packet worker's counters to these, for the sensor's totals. The DNS
    /// cache is one for all workers, so its counters are taken as they are, not added.
    pub fn absorb(&mut self, other: &Self) {
        // Destructured, so a counter added to `Stats` cannot be forgotten here.
        let Self {
            packets,
            bytes,
            snaplen_truncated,
            decode,
            other_transport,
            flows,
            defrag,
            dns_cache,
            protocols,
            reassembly_gaps,
            guards,
        } = other;
        let add = |mine: &mut u64, theirs: u64| *mine = mine.saturating_add(theirs);
        add(&mut self.packets, *packets);
        add(&mut self.bytes, *bytes);
        add(&mut self.snaplen_truncated, *snaplen_truncated);
        for (mine, theirs) in self.decode.0.iter_mut().zip(decode.0) {
            add(mine, theirs);
        }
        add(&mut self.other_transport, *other_transport);
        add(&mut self.flows.created, flows.created);
        add(&mut self.flows.timed_out, flows.timed_out);
        add(&mut self.flows.evicted, flows.evicted);
        add(&mut self.defrag.reassembled, defrag.reassembled);
        add(&mut self.defrag.timed_out, defrag.timed_out);
        add(&mut self.defrag.table_full, defrag.table_full);
        add(&mut self.defrag.oversized, defrag.oversized);
        add(&mut self.defrag.memcap, defrag.memcap);
        self.dns_cache = *dns_cache;
        self.protocols.absorb(protocols);
        add(&mut self.reassembly_gaps, *reassembly_gaps);
        self.guards.absorb(guards);
    }
}

/// Decode failures by [`DecodeError::reason`].
#[derive(Debug, Default, Clone)]
pub struct DecodeCounts([u64; DecodeError::ALL.len()]);

impl DecodeCounts {
    fn add(&mut self, e: DecodeError) {
        if let Some(c) = self.0.get_mut(e.index()) {
            *c = c.saturating_add(1);
        }
    }

    /// The count for one reason.
    pub fn get(&self, e: DecodeError) -> u64 {
        self.0.get(e.index()).copied().unwrap_or(0)
    }
}

impl Serialize for DecodeCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(DecodeError::ALL.iter().map(|e| (e.reason(), self.get(*e))))
    }
}

/// One worker's state: flow table, fragment reassembly, DNS names, counters.
pub struct Engine {
    signatures: Arc<Database>,
    flows: FlowTable,
    defrag: Defragmenter,
    dns_cache: SharedDnsCache,
    /// Model-server routes seen per server.
    sightings: ServerSightings,
    /// What unfinished messages of all flows may hold.
    buffers: BufferBudget,
    community_id_seed: u16,
    ipv6_text: Ipv6Text,
    dns_request_type: DnsRequestType,
    async_oneside: bool,
    /// Interface names by [`PacketSource::Interface`] number, for `in_iface`.
    interfaces: Vec<Arc<str>>,
    stats: Stats,
    /// Reused buffers, so the packet path does not allocate for them: a packet's
    /// findings about what the other direction sent (acknowledged by it), and about what
    /// it carried itself.
    findings: (Vec<Finding>, Vec<Finding>),
    ended: Vec<(Flow, FlowEndReason)>,
    last_seen: Timestamp,
    /// Where the id of the flow being processed is published for the live sensor's
    /// watchdog, so a stall can be traced to its flow.
    activity: Option<Arc<AtomicU64>>,
}

impl Engine {
    /// An engine classifying with `signatures`.
    pub fn new(config: EngineConfig, signatures: Arc<Database>) -> Self {
        let dns_cache = SharedDnsCache::new(config.dns_cache_entries);
        Self::with_dns_cache(config, signatures, dns_cache)
    }

    /// An engine that learns DNS names into, and names flows from, `dns_cache`, which
    /// other engines (packet workers) share.
    pub fn with_dns_cache(
        config: EngineConfig,
        signatures: Arc<Database>,
        dns_cache: SharedDnsCache,
    ) -> Self {
        Self {
            signatures,
            flows: FlowTable::new(config.max_flows),
            defrag: Defragmenter::new(config.defrag_budget_bytes),
            dns_cache,
            sightings: ServerSightings::default(),
            buffers: BufferBudget::new(config.buffer_budget_bytes),
            community_id_seed: config.community_id_seed,
            ipv6_text: config.ipv6_text,
            dns_request_type: config.dns_request_type,
            async_oneside: config.async_oneside,
            interfaces: Vec::new(),
            stats: Stats::default(),
            findings: (Vec::new(), Vec::new()),
            ended: Vec::new(),
            last_seen: Timestamp::default(),
            activity: None,
        }
    }

    /// Remembers model-server routes in `sightings`, which other engines (packet workers)
    /// share.
    pub fn share_model_server_sightings(&mut self, sightings: ServerSightings) {
        self.sightings = sightings;
    }

    /// Names the interfaces [`PacketSource::Interface`] numbers, in order.
    pub fn name_interfaces<I: IntoIterator<Item = S>, S: AsRef<str>>(&mut self, names: I) {
        self.interfaces = names.into_iter().map(|n| Arc::from(n.as_ref())).collect();
    }

    /// Publishes the id of each packet's flow to `cell` before inspecting it.
    pub fn publish_activity(&mut self, cell: Arc<AtomicU64>) {
        self.activity = Some(cell);
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.flows = self.flows.stats();
        s.defrag = self.defrag.stats();
        s.dns_cache = self.dns_cache.stats();
        s
    }

    /// The time of the latest packet processed.
    pub fn last_seen(&self) -> Timestamp {
        self.last_seen
    }

    /// Flows in the table now.
    pub fn flows_active(&self) -> usize {
        self.flows.len()
    }

    /// Calls `f(flow id, bytes to server, bytes to client)` for every open flow, so the
    /// live sensor can publish the traffic of long flows before they end.
    pub fn for_each_flow(&self, mut f: impl FnMut(u64, u64, u64)) {
        for flow in self.flows.iter() {
            f(flow.id, flow.to_server.bytes, flow.to_client.bytes);
        }
    }

    /// Bytes held now for unfinished messages, against the budget.
    pub fn buffered_bytes(&self) -> usize {
        self.buffers.used()
    }

    /// Addresses in the DNS cache now.
    pub fn dns_cache_entries(&self) -> usize {
        self.dns_cache.len()
    }

    /// Classifies with `signatures` from now on (a reloaded database); flows already
    /// seen keep the names they have.
    pub fn set_signatures(&mut self, signatures: Arc<Database>) {
        self.signatures = signatures;
    }

    /// Lets time pass without a packet (a quiet live interface): flows and fragments idle
    /// for longer than their timeouts at `now` end and are written.
    ///
    /// # Errors
    /// The sink's I/O errors.
    pub fn advance(&mut self, now: Timestamp, sink: &mut dyn EventSink) -> io::Result<()> {
        // Not gated on the latest packet's time: one packet stamped in the future must not
        // stop expiry; the table's own schedule decides whether a sweep is due.
        self.flows.expire(now, &mut self.ended);
        self.end_flows(sink)?;
        self.expire_fragments(now, sink)
    }

    /// Runs one packet through the whole path.
    ///
    /// # Errors
    /// Only the sink's I/O errors; a malformed packet is counted, never an error.
    pub fn process(
        &mut self,
        link: LinkType,
        packet: &RawPacket<'_>,
        sink: &mut dyn EventSink,
    ) -> io::Result<()> {
        let now = packet.timestamp;
        self.count_packet(packet);
        self.flows.expire(now, &mut self.ended);
        self.end_flows(sink)?;
        self.expire_fragments(now, sink)?;
        let source = Some(packet.source);
        let decoded = match decode::decode(link, packet.data) {
            Ok(d) => d,
            Err(e) => {
                self.stats.decode.add(e);
                return Ok(());
            }
        };
        self.carriers(now, &decoded, source);
        if let L4::Fragment(fragment) = decoded.l4 {
            let whole = self
                .defrag
                .push_packet(now, &decoded, &fragment, packet.wire_len);
            return match whole {
                Some(datagram) => self.datagram(&datagram, source, sink),
                None => Ok(()),
            };
        }
        self.inspect_flow(now, packet.wire_len, &decoded, source, sink)
    }

    /// Counts a packet in the totals and the latest packet time, the first step of
    /// [`Self::process`].
    pub fn count_packet(&mut self, packet: &RawPacket<'_>) {
        self.last_seen = self.last_seen.max(packet.timestamp);
        bump(&mut self.stats.packets);
        self.stats.bytes = self.stats.bytes.saturating_add(u64::from(packet.wire_len));
        if packet.data.len() < usize::try_from(packet.wire_len).unwrap_or(usize::MAX) {
            bump(&mut self.stats.snaplen_truncated);
        }
    }

    /// Ends the flows idle at `now` and writes them, whatever the table's own sweep
    /// schedule says: for a reader that keeps the schedule of several engines in step.
    ///
    /// # Errors
    /// The sink's I/O errors.
    pub fn sweep(&mut self, now: Timestamp, sink: &mut dyn EventSink) -> io::Result<()> {
        self.flows.sweep(now, &mut self.ended);
        self.end_flows(sink)
    }

    /// Continues datagrams whose fragments waited past their timeout at `now`.
    ///
    /// # Errors
    /// The sink's I/O errors.
    fn expire_fragments(&mut self, now: Timestamp, sink: &mut dyn EventSink) -> io::Result<()> {
        for partial in self.defrag.expire(now) {
            self.datagram(&partial, None, sink)?;
        }
        Ok(())
    }

    /// Whether flows ended by the last packet (evicted, idle at lookup, their ports
    /// reused) wait to be written; [`Self::process`] writes them at the next packet.
    pub fn has_ended(&self) -> bool {
        !self.ended.is_empty()
    }

    /// Writes the records of the flows [`Self::has_ended`] reports.
    ///
    /// # Errors
    /// The sink's I/O errors.
    pub fn write_ended(&mut self, sink: &mut dyn EventSink) -> io::Result<()> {
        self.end_flows(sink)
    }

    /// Counts a frame that could not be decoded, as [`Self::process`] does.
    pub fn count_undecodable(&mut self, e: DecodeError) {
        self.stats.decode.add(e);
    }

    /// Counts the outer packet of one of a packet's tunnels in that carrier's own flow, as
    /// [`Self::process`] does for each carrier before the packet's own flow: for a caller
    /// that hands a packet's flows to different engines.
    pub fn count_carrier(
        &mut self,
        now: Timestamp,
        carrier: &Carrier,
        source: Option<PacketSource>,
    ) {
        self.carrier(now, carrier, interface_of(source));
    }

    /// Continues with a reassembled datagram, or with the start of one that never completed
    /// (`source` is the packet that completed it, if one did).
    fn datagram(
        &mut self,
        datagram: &Reassembled,
        source: Option<PacketSource>,
        sink: &mut dyn EventSink,
    ) -> io::Result<()> {
        match decode::decode_transport(
            datagram.src,
            datagram.dst,
            datagram.protocol,
            &datagram.payload,
            datagram.vlans,
        ) {
            Ok(inner) => {
                self.carriers(datagram.first_seen, &inner, source);
                let wire_len = u32::try_from(datagram.wire_bytes).unwrap_or(u32::MAX);
                self.inspect_flow(datagram.first_seen, wire_len, &inner, source, sink)
            }
            Err(e) => {
                self.stats.decode.add(e);
                Ok(())
            }
        }
    }

    /// Counts a tunnelled packet in its carriers' flows.
    fn carriers(&mut self, now: Timestamp, decoded: &Decoded<'_>, source: Option<PacketSource>) {
        for carrier in decoded.carriers.iter() {
            self.carrier(now, carrier, interface_of(source));
        }
    }

    /// Counts a tunnel's outer packet in the carrier's own flow, which is never inspected.
    fn carrier(&mut self, now: Timestamp, carrier: &Carrier, interface: Option<u16>) {
        let (src_port, dst_port) = carrier.ports.unwrap_or_default();
        let transport = Transport::of_carrier(carrier.protocol);
        let (src, dst) = (
            Endpoint::new(carrier.src, src_port),
            Endpoint::new(carrier.dst, dst_port),
        );
        let opening = Opening {
            transport,
            client: src,
            server: dst,
            orientation_known: false,
            vlans: carrier.vlans,
            inspected: false,
            detail: ProtocolDetail::None,
        };
        let key = FlowKey::new(transport, src, dst, carrier.vlans);
        let cache = &self.dns_cache;
        if let Some(flow) = self.flows.get_or_insert(
            key,
            |id| new_flow(id, &opening, now, cache, interface),
            now,
            &mut self.ended,
        ) {
            let dir = flow.direction(src);
            count(
                flow,
                dir,
                now,
                u32::try_from(carrier.len).unwrap_or(u32::MAX),
            );
        }
    }

    /// Runs a decoded packet (no fragment: whole, or reassembled) through its own flow,
    /// not its carriers': lookup, counters, inspection, then the findings become events.
    /// `wire_len` is what the packet counts in its flow. Public for a caller that hands a
    /// packet's flows to different engines.
    ///
    /// # Errors
    /// The sink's I/O errors.
    pub fn inspect_flow(
        &mut self,
        now: Timestamp,
        wire_len: u32,
        decoded: &Decoded<'_>,
        source: Option<PacketSource>,
        sink: &mut dyn EventSink,
    ) -> io::Result<()> {
        let interface = interface_of(source);
        let wire_len = decoded
            .tunnelled_len
            .map_or(wire_len, |len| u32::try_from(len).unwrap_or(u32::MAX));
        let (proto, src_port, dst_port, detail) = match decoded.l4 {
            L4::Tcp(seg) => (
                Transport::Tcp,
                seg.src_port,
                seg.dst_port,
                ProtocolDetail::None,
            ),
            L4::Udp(udp) => (
                Transport::Udp,
                udp.src_port,
                udp.dst_port,
                ProtocolDetail::None,
            ),
            L4::Sctp { src_port, dst_port } => {
                (Transport::Sctp, src_port, dst_port, ProtocolDetail::None)
            }
            L4::Icmp { v6, message } => {
                let (s, d) = crate::community_id::icmp_ports(v6, message.kind, message.code);
                let transport = if v6 {
                    Transport::Icmpv6
                } else {
                    Transport::Icmp
                };
                let detail = ProtocolDetail::Icmp {
                    request: message,
                    response: None,
                };
                (transport, s, d, detail)
            }
            L4::Esp { spi } => (Transport::Esp, 0, 0, ProtocolDetail::Esp { spi }),
            // A fragment inside a reassembled tunnel datagram: nested fragmentation is
            // not reassembled.
            L4::Fragment(_) | L4::Other(_) => {
                bump(&mut self.stats.other_transport);
                return Ok(());
            }
            L4::Undecodable(e) => {
                self.stats.decode.add(e);
                return Ok(());
            }
        };
        let (src, dst) = (
            Endpoint::new(decoded.src, src_port),
            Endpoint::new(decoded.dst, dst_port),
        );
        let Self {
            flows,
            dns_cache,
            stats,
            findings,
            ended,
            signatures,
            buffers,
            activity,
            community_id_seed,
            ipv6_text,
            dns_request_type,
            async_oneside,
            interfaces,
            sightings,
            ..
        } = self;
        let mut key = FlowKey::new(proto, src, dst, decoded.vlans);
        if let ProtocolDetail::Esp { spi } = detail {
            key = key.with_spi(spi);
        }
        let cache = &*dns_cache;
        let make = |id| {
            let opening = Opening::of(decoded, proto, src, dst, detail);
            new_flow(id, &opening, now, cache, interface)
        };
        let opens =
            matches!(decoded.l4, L4::Tcp(seg) if seg.syn && !(seg.ack || seg.rst || seg.fin));
        let Some(flow) = flows.lookup(key, make, now, opens, ended) else {
            return Ok(());
        };
        if let Some(cell) = activity {
            cell.store(flow.id, Ordering::Relaxed);
        }
        let dir = flow.direction(src);
        count(flow, dir, now, wire_len);
        let (released, own) = findings;
        match &decoded.l4 {
            L4::Tcp(seg) => inspect_tcp(
                flow,
                dir,
                seg,
                TcpReading {
                    buffers,
                    async_oneside: *async_oneside,
                },
                stats,
                released,
                own,
            ),
            L4::Udp(udp) => inspect_udp(flow, dir, udp.payload, buffers, own),
            L4::Icmp { message, .. } => {
                if let (Direction::ToClient, ProtocolDetail::Icmp { response, .. }) =
                    (dir, &mut flow.detail)
                {
                    response.get_or_insert(*message);
                }
            }
            L4::Sctp { .. }
            | L4::Esp { .. }
            | L4::Fragment(_)
            | L4::Other(_)
            | L4::Undecodable(_) => {}
        }
        if released.is_empty() && own.is_empty() {
            return Ok(());
        }
        let header = Header {
            timestamp: now,
            flow_id: flow.id,
            src_ip: decoded.src,
            src_port,
            dest_ip: decoded.dst,
            dest_port: dst_port,
            proto: flow.transport,
            vlans: decoded.vlans,
            community_id_seed: *community_id_seed,
            ipv6_text: *ipv6_text,
            pcap_cnt: match source {
                Some(PacketSource::File { packet }) => Some(packet),
                _ => None,
            },
            in_iface: interface_name(interfaces, interface),
        };
        let mut reporter = Reporter {
            signatures,
            guards: &mut stats.guards,
            dns_cache,
            sightings,
            sink,
            now,
            dns_request_type: *dns_request_type,
            async_oneside: *async_oneside,
        };
        // What this packet acknowledged was sent the other way: its events are addressed
        // as that message was, and stamped with this packet.
        if !released.is_empty() {
            let reversed = header.reversed();
            let mut at = At {
                dir: flow.direction(dst),
                flow: &mut *flow,
                header: &reversed,
            };
            report::report(released, &mut stats.protocols, &mut at, &mut reporter)?;
        }
        if own.is_empty() {
            return Ok(());
        }
        // What the packet carried itself, in its direction as the flow now stands: a
        // first client datagram or the report above may have turned the flow round.
        let mut at = At {
            dir: flow.direction(src),
            flow,
            header: &header,
        };
        report::report(own, &mut stats.protocols, &mut at, &mut reporter)
    }

    /// Writes the records of flows that ended.
    fn end_flows(&mut self, sink: &mut dyn EventSink) -> io::Result<()> {
        if self.ended.is_empty() {
            return Ok(());
        }
        let ended = std::mem::take(&mut self.ended);
        for (flow, reason) in ended {
            self.end_flow(flow, reason, sink)?;
        }
        Ok(())
    }

    fn end_flow(
        &mut self,
        mut flow: Flow,
        reason: FlowEndReason,
        sink: &mut dyn EventSink,
    ) -> io::Result<()> {
        sink.flow_ending(flow.first_seen, flow.id);
        let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
        match std::mem::replace(&mut flow.inspection, Inspection::Done) {
            Inspection::Tcp(mut inspection) => {
                inspection.to_server.finish(&mut to_server);
                inspection.to_client.finish(&mut to_client);
                self.stats.reassembly_gaps =
                    self.stats.reassembly_gaps.saturating_add(inspection.gaps());
            }
            Inspection::Datagram(mut state) => state.finish(&mut to_server),
            Inspection::Done | Inspection::TcpStart(_) | Inspection::Probe { .. } => {}
        }
        // What is read at a flow's end is stamped with its last packet's time and no
        // packet number, as Suricata writes what it reads at a flow's end.
        let mut found = flow_header(&flow, self.community_id_seed, self.ipv6_text);
        found.in_iface = interface_name(&self.interfaces, flow.interface);
        found.timestamp = flow.last_seen;
        for (dir, findings) in [
            (Direction::ToServer, &mut to_server),
            (Direction::ToClient, &mut to_client),
        ] {
            if findings.is_empty() {
                continue;
            }
            let header = match dir {
                Direction::ToServer => found.clone(),
                Direction::ToClient => found.reversed(),
            };
            let mut reporter = Reporter {
                signatures: &self.signatures,
                guards: &mut self.stats.guards,
                dns_cache: &self.dns_cache,
                sightings: &self.sightings,
                sink: &mut *sink,
                now: flow.last_seen,
                dns_request_type: self.dns_request_type,
                async_oneside: self.async_oneside,
            };
            let mut at = At {
                flow: &mut flow,
                dir,
                header: &header,
            };
            report::report(findings, &mut self.stats.protocols, &mut at, &mut reporter)?;
        }
        let tls = flow.pending_tls.take().map(|pending| pending.event);
        for mut event in tls.into_iter().chain(flow.pending_http.drain(..)) {
            event.header.timestamp = found.timestamp;
            event.header.pcap_cnt = None;
            sink.event(event)?;
        }
        let mut header = flow_header(&flow, self.community_id_seed, self.ipv6_text);
        header.in_iface = interface_name(&self.interfaces, flow.interface);
        sink.event(flow_event(&flow, reason, &self.signatures, header))
    }

    /// Ends every flow (end of input) and writes their records.
    ///
    /// # Errors
    /// The sink's I/O errors.
    pub fn finish(&mut self, sink: &mut dyn EventSink) -> io::Result<()> {
        for partial in self.defrag.flush() {
            self.datagram(&partial, None, sink)?;
        }
        // Flows the last packets ended (evicted, or found idle past their timeout) are
        // written before the ones the input's end ends.
        self.end_flows(sink)?;
        for flow in self.flows.drain() {
            self.end_flow(flow, FlowEndReason::Shutdown, sink)?;
        }
        Ok(())
    }
}

/// The capture interface a live packet came from; `None` for a file's.
fn interface_of(source: Option<PacketSource>) -> Option<u16> {
    match source {
        Some(PacketSource::Interface(i)) => Some(i),
        _ => None,
    }
}

/// Ports below 1024 and the common alternative service ports belong to servers.
fn is_service_port(port: u16) -> bool {
    port < 1024
        || matches!(
            port,
            1900 | 3128 | 5060 | 8000 | 8008 | 8080 | 8443 | 8888 | 9443
        )
}

/// The client of a flow first seen mid-stream: the side whose port is not a service port,
/// else the sender of the first packet.
fn guess_orientation(src: Endpoint, dst: Endpoint) -> (Endpoint, Endpoint) {
    if is_service_port(src.port) && !is_service_port(dst.port) {
        (dst, src)
    } else {
        (src, dst)
    }
}

/// What a flow starts with: its protocol, its orientation and what will be read of it.
struct Opening {
    transport: Transport,
    client: Endpoint,
    server: Endpoint,
    /// The orientation came from a SYN, not a guess.
    orientation_known: bool,
    vlans: Vlans,
    /// Whether its payload is read: false for a tunnel's carrier and for protocols
    /// aigress does not read, whose flows are counted only.
    inspected: bool,
    detail: ProtocolDetail,
}

impl Opening {
    /// The opening of a flow whose first packet is `decoded`: a SYN or SYN-ACK says which
    /// side is the client; for UDP and SCTP the port guess stands until content (a
    /// ClientHello, a request, a QUIC Initial) shows it; other protocols are oriented by
    /// their first packet, as Suricata orients them.
    fn of(
        decoded: &Decoded<'_>,
        transport: Transport,
        src: Endpoint,
        dst: Endpoint,
        detail: ProtocolDetail,
    ) -> Self {
        let ((client, server), orientation_known) = match decoded.l4 {
            L4::Tcp(seg) => match (seg.syn, seg.ack) {
                (true, false) => ((src, dst), true),
                (true, true) => ((dst, src), true),
                _ => (guess_orientation(src, dst), false),
            },
            L4::Udp(_) | L4::Sctp { .. } => (guess_orientation(src, dst), false),
            _ => ((src, dst), false),
        };
        Self {
            transport,
            client,
            server,
            orientation_known,
            vlans: decoded.vlans,
            inspected: transport.is_inspected(),
            detail,
        }
    }
}

/// A new flow as `opening` describes it, named by a DNS answer seen earlier when its
/// payload is read.
fn new_flow(
    id: u64,
    opening: &Opening,
    now: Timestamp,
    cache: &SharedDnsCache,
    interface: Option<u16>,
) -> Flow {
    let Opening {
        transport,
        client,
        server,
        ..
    } = *opening;
    let inspection = match transport {
        _ if !opening.inspected => Inspection::Done,
        Transport::Tcp => Inspection::TcpStart(TcpStart::new([client.port, server.port])),
        _ => match DatagramState::on_port(client.port, server.port) {
            Some(state) => Inspection::Datagram(state),
            None => Inspection::Probe { datagrams: 0 },
        },
    };
    Flow {
        id,
        transport,
        client,
        server,
        vlans: opening.vlans,
        first_seen: now,
        last_seen: now,
        to_server: Counters::default(),
        to_client: Counters::default(),
        tcp: TcpSeen::default(),
        orientation_known: opening.orientation_known,
        inspection,
        app_proto: None,
        app_proto_orig: None,
        sni: None,
        http_host: None,
        dns_name: opening
            .inspected
            .then(|| cache.lookup(server.ip, now))
            .flatten(),
        model_server: None,
        pending_tls: None,
        pending_http: std::collections::VecDeque::new(),
        http_written_unanswered: 0,
        hello_unreadable: false,
        transactions: 0,
        interface,
        detail: opening.detail,
    }
}

/// What stream inspection reads with: the buffers' bound, and whether one-sided
/// connections are expected.
struct TcpReading<'a> {
    buffers: &'a BufferBudget,
    async_oneside: bool,
}

/// TCP flags and stream inspection for one segment.
///
/// What a direction reads is reported once the other side acknowledges it, as Suricata's
/// stream engine hands a direction's bytes to its parsers: `released` gets what this
/// segment acknowledges of the other direction, `own` what this direction reports at
/// once (the oldest of too many held findings, everything when the connection closes).
fn inspect_tcp(
    flow: &mut Flow,
    dir: Direction,
    seg: &TcpSegment<'_>,
    reading: TcpReading<'_>,
    stats: &mut Stats,
    released: &mut Vec<Finding>,
    own: &mut Vec<Finding>,
) {
    let TcpReading {
        buffers,
        async_oneside,
    } = reading;
    // The peer has sent nothing the sensor saw: with one-sided capture configured, none of
    // its acknowledgments will come.
    let peer_unseen = async_oneside && flow.counters(dir.opposite()).packets == 0;
    let first = flow
        .to_server
        .packets
        .saturating_add(flow.to_client.packets)
        == 1;
    match (seg.syn, seg.ack) {
        (true, false) => flow.tcp.syn = true,
        (true, true) => flow.tcp.syn_ack = true,
        (false, true) if first || (peer_unseen && flow.tcp.syn && dir == Direction::ToServer) => {
            flow.tcp.established_unseen = true;
        }
        _ => {}
    }
    if seg.fin {
        match dir {
            Direction::ToServer => flow.tcp.fin_to_server = true,
            Direction::ToClient => flow.tcp.fin_to_client = true,
        }
    }
    if seg.rst && !seg.signed && rst_accepted(&flow.inspection, dir, seg.seq) {
        flow.tcp.rst = true;
    }
    let closed = flow.tcp.closed();
    if let Inspection::TcpStart(start) = &mut flow.inspection {
        if seg.syn {
            start.syn(dir, seg.seq, seg.ack.then_some(seg.ack_number));
        }
        if closed {
            flow.inspection = Inspection::Done;
            return;
        }
        if seg.payload.is_empty() {
            return;
        }
        let start = *start;
        flow.inspection = Inspection::Tcp(Box::new(start.inspection(buffers)));
    }
    let Inspection::Tcp(inspection) = &mut flow.inspection else {
        return;
    };
    if seg.ack {
        inspection
            .half(dir.opposite())
            .acknowledged(seg.ack_number, released);
    }
    let half = inspection.half(dir);
    if seg.syn {
        half.syn(seg.seq);
    }
    // Data on a SYN (TCP Fast Open) starts after the SYN's own sequence number.
    let seq = if seg.syn {
        seg.seq.wrapping_add(1)
    } else {
        seg.seq
    };
    let tripped = half.segment(seq, seg.payload, own);
    if peer_unseen && let Some(end) = half.next_seq() {
        half.acknowledged(end, own);
    }
    // A bound that ends one direction ends the flow's inspection: its state is freed now,
    // not when the flow ends, so a flood of refused flows costs only their counters. A
    // connection that closed has everything it read reported at the closing packet.
    if closed || tripped {
        inspection.half(dir).finish(own);
        inspection.half(dir.opposite()).finish(released);
    }
    // Inspection ends once neither direction reads or holds anything more.
    if inspection.to_server.is_done()
        && inspection.to_client.is_done()
        && !inspection.to_server.has_unacked()
        && !inspection.to_client.has_unacked()
    {
        stats.reassembly_gaps = stats.reassembly_gaps.saturating_add(inspection.gaps());
        flow.inspection = Inspection::Done;
    }
}

/// Whether a RST travelling `dir` with sequence number `seq` ends the connection. As
/// Suricata's stream engine does by default (its Windows and BSD policies), only a RST at
/// exactly the sequence number the sender's next byte would carry is taken; any other —
/// merely in the window, or forged by a third party that guessed less well — is ignored,
/// so a client cannot hide a request behind a RST the server never honoured. Where no SYN
/// or data has said the sequence yet, the RST is taken. A RST signed with TCP-MD5 or
/// TCP-AO is never taken: a sensor cannot check the signature, and such RSTs are the
/// injection Suricata flags (`suspected_rst_inject`) while it reads on.
fn rst_accepted(inspection: &Inspection, dir: Direction, seq: u32) -> bool {
    let expected = match inspection {
        Inspection::TcpStart(start) => start.next_seq(dir),
        Inspection::Tcp(tcp) => tcp.next_seq(dir),
        Inspection::Done | Inspection::Probe { .. } | Inspection::Datagram(_) => None,
    };
    expected.is_none_or(|next| next == seq)
}

/// Datagram inspection: a known protocol's state reads the datagram, an unknown flow's
/// first datagrams are probed; a first client datagram sent "to the client" turns the
/// flow round.
fn inspect_udp(
    flow: &mut Flow,
    dir: Direction,
    payload: &[u8],
    buffers: &BufferBudget,
    findings: &mut Vec<Finding>,
) {
    match &mut flow.inspection {
        Inspection::Done | Inspection::TcpStart(_) | Inspection::Tcp(_) => {}
        Inspection::Probe { datagrams } => {
            *datagrams = datagrams.saturating_add(1);
            let probed = *datagrams;
            let to_server = dir == Direction::ToServer;
            if let Some(found) = DatagramState::probe(payload, to_server, buffers, findings) {
                if found.sender_is_client {
                    if dir == Direction::ToClient && !flow.orientation_known {
                        flow.reverse();
                    }
                    flow.orientation_known = true;
                }
                flow.identify(found.state.name());
                flow.inspection = if found.state.is_done() {
                    Inspection::Done
                } else {
                    Inspection::Datagram(found.state)
                };
            } else if probed >= MAX_PROBE_DATAGRAMS {
                flow.inspection = Inspection::Done;
            }
        }
        Inspection::Datagram(state) => {
            state.datagram(dir == Direction::ToServer, payload, findings);
            if state.is_done() {
                flow.inspection = Inspection::Done;
            }
        }
    }
}

fn count(flow: &mut Flow, dir: Direction, now: Timestamp, wire_len: u32) {
    let c = flow.counters(dir);
    c.packets = c.packets.saturating_add(1);
    c.bytes = c.bytes.saturating_add(u64::from(wire_len));
    flow.last_seen = flow.last_seen.max(now);
}

/// The name of interface `number`, shared by every event from it.
fn interface_name(names: &[Arc<str>], number: Option<u16>) -> Option<Arc<str>> {
    names.get(usize::from(number?)).map(Arc::clone)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guard::Guard;

    impl EventSink for Vec<crate::event::Event> {
        fn event(&mut self, event: crate::event::Event) -> io::Result<()> {
            self.push(event);
            Ok(())
        }
    }

    /// A UDP datagram 10.0.0.1:`port` → 192.0.2.1:9999, as a raw IPv4 frame.
    fn datagram(port: u16) -> Vec<u8> {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [192, 0, 2, 1], 64)
            .udp(port, 9999)
            .write(&mut v, b"x")
            .unwrap();
        v
    }

    fn run(engine: &mut Engine, frames: &[(i64, Vec<u8>)]) -> Vec<crate::event::Event> {
        let mut events = Vec::new();
        for (n, (at, frame)) in frames.iter().enumerate() {
            let packet = RawPacket {
                timestamp: Timestamp::from_micros(*at),
                data: frame,
                wire_len: u32::try_from(frame.len()).unwrap(),
                source: PacketSource::File {
                    packet: u64::try_from(n).unwrap() + 1,
                },
            };
            engine.process(LinkType::Raw, &packet, &mut events).unwrap();
        }
        engine.finish(&mut events).unwrap();
        events
    }

    fn flow_records(events: &[crate::event::Event]) -> Vec<(u16, FlowEndReason)> {
        events
            .iter()
            .filter_map(|e| match &e.body {
                crate::event::Body::Flow(f) => Some((e.header.src_port, f.reason)),
                _ => None,
            })
            .collect()
    }

    /// A TCP segment 10.0.0.1:50001 ↔ 192.0.2.1:443 with the flags `set` picks.
    fn segment(to_server: bool, seq: u32, set: impl Fn(&mut etherparse::TcpHeader)) -> Vec<u8> {
        let (a, b) = ([10, 0, 0, 1], [192, 0, 2, 1]);
        let (src, dst, sport, dport) = if to_server {
            (a, b, 50001, 443)
        } else {
            (b, a, 443, 50001)
        };
        let mut tcp = etherparse::TcpHeader::new(sport, dport, seq, 1024);
        set(&mut tcp);
        let mut v = Vec::new();
        etherparse::PacketBuilder::ipv4(src, dst, 64)
            .tcp_header(tcp)
            .write(&mut v, &[])
            .unwrap();
        v
    }

    #[test]
    fn a_syn_on_the_ports_of_a_closed_connection_starts_a_new_flow() {
        let db = Arc::new(Database::embedded().unwrap());
        let mut engine = Engine::new(EngineConfig::default(), db);
        let syn = |h: &mut etherparse::TcpHeader| h.syn = true;
        let syn_ack = |h: &mut etherparse::TcpHeader| {
            h.syn = true;
            h.ack = true;
        };
        let fin = |h: &mut etherparse::TcpHeader| {
            h.fin = true;
            h.ack = true;
        };
        let frames = [
            (0, segment(true, 100, syn)),
            (1, segment(false, 500, syn_ack)),
            (2, segment(true, 101, fin)),
            (3, segment(false, 501, fin)),
            // Seconds later, well within the closed flow's 60 s: a new connection.
            (5_000_000, segment(true, 9000, syn)),
        ];
        let events = run(&mut engine, &frames);
        let records: Vec<_> = events
            .iter()
            .filter_map(|e| match &e.body {
                crate::event::Body::Flow(f) => Some((e.header.flow_id, f.reason, f.pkts_toserver)),
                _ => None,
            })
            .collect();
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!((records[0].1, records[0].2), (FlowEndReason::TcpReuse, 2));
        assert_eq!((records[1].1, records[1].2), (FlowEndReason::Shutdown, 1));
        assert_ne!(records[0].0, records[1].0, "a flow id of its own");
    }

    #[test]
    fn flows_the_last_packet_ends_are_written_too() {
        let db = Arc::new(Database::embedded().unwrap());
        // A table of two: the third flow's packet, the capture's last, evicts the oldest.
        let config = EngineConfig {
            max_flows: 2,
            ..EngineConfig::default()
        };
        let mut engine = Engine::new(config, Arc::clone(&db));
        let frames = [
            (0, datagram(50001)),
            (1, datagram(50002)),
            (2, datagram(50003)),
        ];
        let mut records = flow_records(&run(&mut engine, &frames));
        records.sort_by_key(|(port, _)| *port);
        assert_eq!(records.len(), 3, "{records:?}");
        assert_eq!(records[0], (50001, FlowEndReason::Capacity));

        // A packet that finds its flow idle past Suricata's 30 s for an unanswered UDP
        // flow starts a new one, whenever the sweep last ran.
        let mut engine = Engine::new(EngineConfig::default(), db);
        let second = 31_000_000;
        let frames = [(0, datagram(50001)), (second, datagram(50001))];
        let records = flow_records(&run(&mut engine, &frames));
        assert_eq!(
            records,
            vec![
                (50001, FlowEndReason::Timeout),
                (50001, FlowEndReason::Shutdown)
            ]
        );
    }

    #[test]
    fn workers_counters_add_up_but_the_shared_dns_cache_counts_once() {
        let mut first = Stats {
            packets: 10,
            ..Stats::default()
        };
        first.flows.created = 2;
        first.protocols.tls.client_hellos = 1;
        first.decode.add(DecodeError::NotIp);
        first.guards.trip(Guard::BufferBudget);
        first.dns_cache.inserted = 7;
        let mut second = first.clone();
        second.packets = 5;
        second.protocols.dns.messages = 3;
        let mut total = Stats::default();
        total.absorb(&first);
        total.absorb(&second);
        assert_eq!(total.packets, 15);
        assert_eq!(total.flows.created, 4);
        assert_eq!(total.protocols.tls.client_hellos, 2);
        assert_eq!(total.protocols.dns.messages, 3);
        assert_eq!(total.decode.get(DecodeError::NotIp), 2);
        assert_eq!(total.guards.get(Guard::BufferBudget), 2);
        assert_eq!(total.dns_cache.inserted, 7, "one cache, not one per worker");
    }
}

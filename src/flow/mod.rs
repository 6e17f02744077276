//! Flows: bidirectional 5-tuples, their counters and their inspection state.
//!
//! The [`FlowTable`] is bounded: idle flows time out by the capture's clock, and when the
//! table is full the longest-idle flows are evicted in a batch (counted). For a flow whose
//! inspection has finished, a packet costs one hash lookup and two counter updates.

pub mod budget;
pub mod reassembly;
pub mod stream;

use std::hash::BuildHasher;
use std::net::IpAddr;

use hashbrown::HashTable;

use crate::decode::{IcmpMessage, Vlans};
use crate::event::Transport;
use crate::protocols::flow::FlowEndReason;
use crate::protocols::{DatagramState, StreamState};
use crate::time::Timestamp;
use stream::HalfStream;

/// Flows tracked at once by default. At about 240 bytes an idle flow (more while a
/// handshake is being read) this is about 60 MiB; a busy span port's active set fits.
pub const DEFAULT_MAX_FLOWS: usize = 262_144;
// Idle timeouts are Suricata's defaults (`flow-timeouts` in its suricata.yaml), so a flow
// ends, and its record says so, when Suricata's would: the records join one for one.
/// Idle timeout of a TCP connection not established (a SYN unanswered, one side only).
pub const TCP_NEW_MICROS: i64 = 60_000_000;
/// Idle timeout of an established TCP connection.
pub const TCP_IDLE_MICROS: i64 = 600_000_000;
/// Idle timeout after FIN from both sides or RST: only stragglers are left.
pub const TCP_CLOSED_MICROS: i64 = 60_000_000;
/// Idle timeout of a UDP (or ICMP, ESP…) flow that has had no answer.
pub const UDP_NEW_MICROS: i64 = 30_000_000;
/// Idle timeout of an answered UDP (or ICMP, ESP…) flow; QUIC's keep-alives reset it.
pub const UDP_IDLE_MICROS: i64 = 300_000_000;
/// The protocol that can hand its connection to another: HTTP, by `CONNECT` (a tunnel) or
/// `Upgrade` (HTTP/2 in clear).
const HANDS_OVER: &str = "http";
/// How often (in capture time) the table is swept for idle flows.
const SWEEP_INTERVAL_MICROS: i64 = 5_000_000;
/// The share of the table evicted at once when it is full, so eviction is amortised.
const EVICT_FRACTION: usize = 16;

/// One end of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub fn new(ip: IpAddr, port: u16) -> Self {
        Self { ip, port }
    }
}

/// The direction-free identity of a flow: the same for both directions' packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    transport: Transport,
    low: Endpoint,
    high: Endpoint,
    vlans: Vlans,
    /// The ESP security association (each direction of an IPsec tunnel has its own, and
    /// is a flow of its own, as Suricata keys them); 0 for other protocols.
    spi: u32,
}

impl FlowKey {
    /// The key of a flow between `a` and `b`. For ICMP the ports are the message types
    /// [`crate::community_id::icmp_ports`] gives; for ESP and IP in IP they are 0.
    pub fn new(transport: Transport, a: Endpoint, b: Endpoint, vlans: Vlans) -> Self {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        Self {
            transport,
            low,
            high,
            vlans,
            spi: 0,
        }
    }

    /// The key of the ESP security association `spi`.
    pub fn with_spi(self, spi: u32) -> Self {
        Self { spi, ..self }
    }
}

/// A ClientHello's tls event, held until both sides' handshake is over.
#[derive(Debug)]
pub struct PendingTls {
    pub event: crate::event::Event,
    pub client_done: bool,
    pub server_done: bool,
}

/// What a flow of a protocol other than TCP and UDP records of itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProtocolDetail {
    #[default]
    None,
    /// The first ICMP message each way.
    Icmp {
        request: IcmpMessage,
        response: Option<IcmpMessage>,
    },
    /// The security parameter index of an ESP flow.
    Esp { spi: u32 },
}

/// Which way a packet travels within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    ToClient,
}

impl Direction {
    pub fn opposite(self) -> Self {
        match self {
            Self::ToServer => Self::ToClient,
            Self::ToClient => Self::ToServer,
        }
    }
}

/// Packets and bytes in one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

/// What the TCP flags of a flow have shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpSeen {
    pub syn: bool,
    pub syn_ack: bool,
    /// The connection shows it was established though no SYN/ACK was seen: its first
    /// packet was an ACK without SYN (picked up mid-stream, as Suricata's midstream pickup
    /// takes it), or, with one-sided capture configured, the client acknowledged after its
    /// SYN (as Suricata's `async-oneside` takes it).
    pub established_unseen: bool,
    pub fin_to_server: bool,
    pub fin_to_client: bool,
    pub rst: bool,
}

impl TcpSeen {
    pub fn closed(&self) -> bool {
        self.rst || (self.fin_to_server && self.fin_to_client)
    }
}

/// What is still to be read from a flow.
#[derive(Debug)]
pub enum Inspection {
    /// Nothing: packets only move the counters.
    Done,
    /// A TCP flow that has carried no data yet.
    TcpStart(TcpStart),
    /// Both directions of a TCP stream.
    Tcp(Box<TcpInspection>),
    /// UDP not recognised yet: its first datagrams are probed for each datagram
    /// protocol.
    Probe { datagrams: u16 },
    /// A UDP flow whose protocol is known (by its port or its first datagrams).
    Datagram(DatagramState),
}

/// A TCP flow before its first byte of data: only what the SYNs said is kept, so a flow
/// that never carries data (a port scan, a SYN flood) allocates nothing for inspection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpStart {
    /// The flow's two ports, which hint at its protocol when content does not show one.
    ports: [u16; 2],
    syn_to_server: Option<u32>,
    syn_to_client: Option<u32>,
}

impl TcpStart {
    /// A flow between these ports.
    pub fn new(ports: [u16; 2]) -> Self {
        Self {
            ports,
            ..Self::default()
        }
    }

    /// Records a SYN travelling `dir` with sequence number `seq`, and `acked`, the
    /// acknowledgment number of a SYN/ACK.
    ///
    /// The latest SYN stands: a client that retries with a new initial sequence number
    /// (or a flood of SYNs before the real one) starts the stream where it now says, as
    /// Suricata keeps the latest SYN. A SYN/ACK's acknowledgment number says where the
    /// other side starts only when no SYN was seen (a capture that begins with the
    /// SYN/ACK); otherwise a SYN/ACK that acknowledges no SYN seen is not believed, as
    /// Suricata refuses it.
    pub fn syn(&mut self, dir: Direction, seq: u32, acked: Option<u32>) {
        let (own, other) = match dir {
            Direction::ToServer => (&mut self.syn_to_server, &mut self.syn_to_client),
            Direction::ToClient => (&mut self.syn_to_client, &mut self.syn_to_server),
        };
        *own = Some(seq);
        if let Some(ack) = acked {
            other.get_or_insert(ack.wrapping_sub(1));
        }
    }

    /// The sequence number the next byte travelling `dir` will carry, once a SYN said it.
    pub fn next_seq(&self, dir: Direction) -> Option<u32> {
        match dir {
            Direction::ToServer => self.syn_to_server,
            Direction::ToClient => self.syn_to_client,
        }
        .map(|isn| isn.wrapping_add(1))
    }

    /// The stream inspection of both directions, starting where the SYNs said.
    pub fn inspection(self, buffers: &budget::BufferBudget) -> TcpInspection {
        let [a, b] = self.ports;
        let half = |syn: Option<u32>| {
            let mut h = HalfStream::detect(buffers, StreamState::on_port(a, b));
            if let Some(seq) = syn {
                h.syn(seq);
            }
            h
        };
        TcpInspection {
            to_server: half(self.syn_to_server),
            to_client: half(self.syn_to_client),
        }
    }

    fn reverse(&mut self) {
        std::mem::swap(&mut self.syn_to_server, &mut self.syn_to_client);
    }
}

/// Inspection state of both directions of a TCP flow.
#[derive(Debug)]
pub struct TcpInspection {
    pub to_server: HalfStream,
    pub to_client: HalfStream,
}

impl TcpInspection {
    /// Reassembly gaps in both directions.
    pub fn gaps(&self) -> u64 {
        self.to_server.gaps().saturating_add(self.to_client.gaps())
    }

    /// The sequence number the next byte travelling `dir` will carry, when known.
    pub fn next_seq(&self, dir: Direction) -> Option<u32> {
        match dir {
            Direction::ToServer => self.to_server.next_seq(),
            Direction::ToClient => self.to_client.next_seq(),
        }
    }

    pub fn half(&mut self, dir: Direction) -> &mut HalfStream {
        match dir {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        }
    }
}

/// A flow, oriented client → server.
#[derive(Debug)]
pub struct Flow {
    pub id: u64,
    pub transport: Transport,
    pub client: Endpoint,
    pub server: Endpoint,
    pub vlans: Vlans,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub to_server: Counters,
    pub to_client: Counters,
    pub tcp: TcpSeen,
    /// The orientation came from a SYN or from content (a ClientHello, a request), not a
    /// port guess.
    pub orientation_known: bool,
    /// What is still to be read.
    pub inspection: Inspection,
    pub app_proto: Option<&'static str>,
    /// The protocol the flow started as, when an HTTP `CONNECT` or upgrade handed the
    /// connection to another (`app_proto` is then the other).
    pub app_proto_orig: Option<&'static str>,
    pub sni: Option<String>,
    pub http_host: Option<String>,
    pub dns_name: Option<String>,
    /// The model server a request on this flow called, recognised by its route.
    pub model_server: Option<Box<crate::ai::AiInfo>>,
    /// A TLS event waiting for the handshake to be over.
    pub pending_tls: Option<Box<PendingTls>>,
    /// HTTP requests' events waiting for their responses, oldest first.
    pub pending_http: std::collections::VecDeque<crate::event::Event>,
    /// Requests whose events were written before their responses came (too many waited,
    /// or the sensor saw one side only): the responses still owed to them are not
    /// responses to requests unseen.
    pub http_written_unanswered: u16,
    /// A TLS or QUIC ClientHello started on this flow but could not be read.
    pub hello_unreadable: bool,
    /// Application-layer transactions seen so far: DNS messages (the next one's
    /// `tx_id`), or the one TLS handshake a flow writes an event for.
    pub transactions: u64,
    /// The interface the flow's first packet came from (live capture).
    pub interface: Option<u16>,
    /// ICMP types and codes, or the ESP SPI.
    pub detail: ProtocolDetail,
}

impl Flow {
    /// Which way a packet from `src` travels.
    pub fn direction(&self, src: Endpoint) -> Direction {
        if src == self.client {
            Direction::ToServer
        } else {
            Direction::ToClient
        }
    }

    /// Names the flow's application protocol. A flow already named `http` that shows
    /// another protocol was handed over by a `CONNECT` or an `Upgrade`, and takes the new
    /// name as Suricata does, keeping the first; any other flow keeps its first name.
    pub fn identify(&mut self, name: &'static str) {
        match self.app_proto {
            None => self.app_proto = Some(name),
            Some(HANDS_OVER) if name != HANDS_OVER && self.app_proto_orig.is_none() => {
                self.app_proto_orig = Some(HANDS_OVER);
                self.app_proto = Some(name);
            }
            Some(_) => {}
        }
    }

    /// Turns the flow around: the side taken for the server is the client.
    pub fn reverse(&mut self) {
        std::mem::swap(&mut self.client, &mut self.server);
        std::mem::swap(&mut self.to_server, &mut self.to_client);
        std::mem::swap(&mut self.tcp.fin_to_server, &mut self.tcp.fin_to_client);
        match &mut self.inspection {
            Inspection::Tcp(i) => std::mem::swap(&mut i.to_server, &mut i.to_client),
            Inspection::TcpStart(start) => start.reverse(),
            _ => {}
        }
    }

    pub fn counters(&mut self, dir: Direction) -> &mut Counters {
        match dir {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        }
    }

    /// The table key of this flow.
    pub fn key(&self) -> FlowKey {
        let key = FlowKey::new(self.transport, self.client, self.server, self.vlans);
        match self.detail {
            ProtocolDetail::Esp { spi } => key.with_spi(spi),
            _ => key,
        }
    }

    /// The state name for the flow event.
    pub fn state(&self) -> &'static str {
        match self.transport {
            Transport::Tcp if self.tcp.closed() => "closed",
            _ if self.established() => "established",
            _ => "new",
        }
    }

    /// Whether the flow got its answer: a SYN/ACK or packets both ways (TCP), any packet
    /// back (UDP and the rest).
    fn established(&self) -> bool {
        match self.transport {
            Transport::Tcp => {
                self.tcp.syn_ack
                    || self.tcp.established_unseen
                    || (self.to_client.packets > 0 && self.to_server.packets > 0)
            }
            _ => self.to_client.packets > 0,
        }
    }

    /// Whether the flow has been idle past its timeout at `now`.
    fn timed_out(&self, now: Timestamp) -> bool {
        now.micros_since(self.last_seen) > self.idle_timeout()
    }

    fn idle_timeout(&self) -> i64 {
        match self.transport {
            Transport::Tcp if self.tcp.closed() => TCP_CLOSED_MICROS,
            Transport::Tcp if self.established() => TCP_IDLE_MICROS,
            Transport::Tcp => TCP_NEW_MICROS,
            _ if self.established() => UDP_IDLE_MICROS,
            _ => UDP_NEW_MICROS,
        }
    }
}

/// Flow table counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FlowStats {
    pub created: u64,
    pub timed_out: u64,
    pub evicted: u64,
}

/// A stable 51-bit flow id (FNV-1a over the key and start time), so a capture replays to the
/// same ids; 51 bits stay exact in JSON consumers that read numbers as doubles.
fn flow_id(key: &FlowKey, start: Timestamp) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut h = OFFSET;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    };
    for end in [key.low, key.high] {
        match end.ip {
            IpAddr::V4(a) => eat(&a.octets()),
            IpAddr::V6(a) => eat(&a.octets()),
        }
        eat(&end.port.to_be_bytes());
    }
    eat(&[key.transport.number()]);
    if key.spi != 0 {
        eat(&key.spi.to_be_bytes());
    }
    for v in key.vlans.as_slice() {
        eat(&v.to_be_bytes());
    }
    eat(&start.micros().to_be_bytes());
    h & ((1 << 51) - 1)
}

/// Packets that must pass between two sweeps triggered by the clock going backwards, so
/// timestamps that jump back and forth cannot make every packet walk the whole table.
const MIN_PACKETS_BEFORE_REBASE: u64 = 4096;

/// When a flow table's idle sweeps are due: at most once per sweep interval of capture
/// time, decided by packet times and counts alone, so a reader that hands packets to
/// several tables can keep their sweeps in step with one table's.
///
/// Time comes from packets, and a capture's clock can jump: one timestamp far in the
/// future must not stop expiry for the rest of the run, nor a live clock stepped back.
/// When the clock is more than an interval behind the last sweep, the schedule starts
/// again from the present after a floor of packets (at least
/// [`MIN_PACKETS_BEFORE_REBASE`], and an eighth of the table's capacity, so a clock
/// swinging back and forth costs a sweep of a full table per eight packets per flow, not
/// one per packet).
#[derive(Debug, Clone)]
pub struct SweepClock {
    next_sweep: Option<Timestamp>,
    packets_since_sweep: u64,
    floor: u64,
}

impl SweepClock {
    /// The clock of a table of at most `capacity` flows.
    pub fn new(capacity: usize) -> Self {
        Self {
            next_sweep: None,
            packets_since_sweep: 0,
            floor: MIN_PACKETS_BEFORE_REBASE.max(u64::try_from(capacity / 8).unwrap_or(u64::MAX)),
        }
    }

    /// Counts a packet at `now`; true when a sweep is due at it.
    pub fn due(&mut self, now: Timestamp) -> bool {
        self.packets_since_sweep = self.packets_since_sweep.saturating_add(1);
        let due = match self.next_sweep {
            None => true,
            Some(at) if now >= at => true,
            Some(at) => {
                let behind = now.micros() < at.micros().saturating_sub(2 * SWEEP_INTERVAL_MICROS);
                behind && self.packets_since_sweep >= self.floor
            }
        };
        if due {
            self.packets_since_sweep = 0;
            self.next_sweep = Some(Timestamp::from_micros(
                now.micros().saturating_add(SWEEP_INTERVAL_MICROS),
            ));
        }
        due
    }
}

/// The bounded table of live flows.
///
/// Flows sit densely in a vector; a hash table of 8-byte entries finds them by key. An
/// idle flow costs its `Flow` and about 18 bytes of index, so a million fit in about
/// 240 MiB.
pub struct FlowTable {
    flows: Vec<Flow>,
    /// One [`Slot`] per flow.
    index: HashTable<Slot>,
    hasher: foldhash::fast::RandomState,
    capacity: usize,
    /// When the next idle sweep is due.
    clock: SweepClock,
    /// Reused by eviction, so a full table does not allocate for each batch.
    by_age: Vec<(Timestamp, u32)>,
    stats: FlowStats,
}

/// An index entry: 32 bits of the key's hash and the flow's position in the vector. The
/// index is hashed by those 32 bits alone, so growing it never reads a flow, and a lookup
/// compares keys only where the stored bits agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    hash: u32,
    at: u32,
}

impl Slot {
    /// The table hash of a 32-bit key hash, spread over all 64 bits (hashbrown uses the
    /// top bits as tags and the low bits as the bucket).
    fn table_hash(hash: u32) -> u64 {
        u64::from(hash).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// The position in the flow vector; the table's capacity is at most `u32::MAX`.
    fn position(self) -> usize {
        usize::try_from(self.at).unwrap_or(usize::MAX)
    }
}

impl FlowTable {
    /// A table of at most `capacity` flows (at least one, at most `u32::MAX`). It grows
    /// as flows arrive: reserving the whole capacity up front cost more, for the many
    /// short runs over small captures, than the growth of the table costs a flood.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, usize::try_from(u32::MAX).unwrap_or(usize::MAX));
        Self {
            flows: Vec::new(),
            index: HashTable::new(),
            hasher: foldhash::fast::RandomState::default(),
            capacity,
            clock: SweepClock::new(capacity),
            by_age: Vec::new(),
            stats: FlowStats::default(),
        }
    }

    /// The flows in the table, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Flow> {
        self.flows.iter()
    }

    pub fn len(&self) -> usize {
        self.flows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// 32 bits of the seeded hash of a key.
    fn key_hash(&self, key: FlowKey) -> u32 {
        u32::try_from(self.hasher.hash_one(key) >> 32).unwrap_or_default()
    }

    /// The flow of `key`, created by `make` when new. Flows evicted to make room are moved
    /// to `ended`. `None` only if the table's own bookkeeping failed, which would be a bug.
    pub fn get_or_insert(
        &mut self,
        key: FlowKey,
        make: impl FnOnce(u64) -> Flow,
        now: Timestamp,
        ended: &mut Vec<(Flow, FlowEndReason)>,
    ) -> Option<&mut Flow> {
        self.lookup(key, make, now, false, ended)
    }

    /// As [`Self::get_or_insert`], for a packet that `opens` a TCP connection (a SYN): on
    /// the ports of a closed one it starts a flow of its own, with its own id and record,
    /// and the closed flow ends (`tcp_reuse`), as Suricata reuses the tuple.
    pub fn lookup(
        &mut self,
        key: FlowKey,
        make: impl FnOnce(u64) -> Flow,
        now: Timestamp,
        opens: bool,
        ended: &mut Vec<(Flow, FlowEndReason)>,
    ) -> Option<&mut Flow> {
        let hash = self.key_hash(key);
        let flows = &self.flows;
        let found = self
            .index
            .find(Slot::table_hash(hash), |s| {
                s.hash == hash && flows.get(s.position()).is_some_and(|f| f.key() == key)
            })
            .copied();
        // A flow that has ended before this packet — idle past its timeout, which the
        // sweep has not reached yet, or closed when a SYN opens the ports again — is
        // written, and the packet starts a new one, as Suricata's flow lookup does.
        let ending = found.and_then(|slot| {
            let flow = self.flows.get(slot.position())?;
            if flow.timed_out(now) {
                Some((slot, FlowEndReason::Timeout))
            } else if opens && flow.transport == Transport::Tcp && flow.tcp.closed() {
                Some((slot, FlowEndReason::TcpReuse))
            } else {
                None
            }
        });
        let found = match ending {
            Some((slot, reason)) => {
                if let Some(flow) = self.remove_at(slot.position()) {
                    if reason == FlowEndReason::Timeout {
                        self.stats.timed_out = self.stats.timed_out.saturating_add(1);
                    }
                    ended.push((flow, reason));
                }
                None
            }
            None => found,
        };
        let slot = match found {
            Some(slot) => slot,
            None => {
                if self.flows.len() >= self.capacity {
                    self.evict_oldest(ended);
                }
                let slot = Slot {
                    hash,
                    at: u32::try_from(self.flows.len()).ok()?,
                };
                self.stats.created = self.stats.created.saturating_add(1);
                self.flows.push(make(flow_id(&key, now)));
                self.index
                    .insert_unique(Slot::table_hash(hash), slot, |s| Slot::table_hash(s.hash));
                slot
            }
        };
        self.flows.get_mut(slot.position())
    }

    /// Removes the flow at `at`; the last flow moves into its place.
    fn remove_at(&mut self, at: usize) -> Option<Flow> {
        let hash = self.key_hash(self.flows.get(at)?.key());
        if let Ok(entry) = self
            .index
            .find_entry(Slot::table_hash(hash), |s| s.position() == at)
        {
            entry.remove();
        }
        let last = self.flows.len().checked_sub(1)?;
        let flow = self.flows.swap_remove(at);
        if at != last
            && let Some(moved) = self.flows.get(at)
        {
            let hash = self.key_hash(moved.key());
            if let Some(slot) = self
                .index
                .find_mut(Slot::table_hash(hash), |s| s.position() == last)
            {
                slot.at = u32::try_from(at).ok()?;
            }
        }
        Some(flow)
    }

    /// Moves flows idle past their timeout to `ended` when the table's [`SweepClock`]
    /// says a sweep is due at `now`; each call counts as one packet for the clock.
    pub fn expire(&mut self, now: Timestamp, ended: &mut Vec<(Flow, FlowEndReason)>) {
        if self.clock.due(now) {
            self.sweep(now, ended);
        }
    }

    /// Moves flows idle past their timeout at `now` to `ended`, oldest first. Flows stamped
    /// later than `now` (a clock that went back) count as active now.
    pub fn sweep(&mut self, now: Timestamp, ended: &mut Vec<(Flow, FlowEndReason)>) {
        let start = ended.len();
        // Downwards, so the flow that moves into a removed place was already looked at.
        let mut at = self.flows.len();
        while let Some(i) = at.checked_sub(1) {
            at = i;
            let Some(flow) = self.flows.get_mut(i) else {
                continue;
            };
            if flow.last_seen > now {
                flow.last_seen = now;
            }
            if flow.timed_out(now)
                && let Some(flow) = self.remove_at(i)
            {
                self.stats.timed_out = self.stats.timed_out.saturating_add(1);
                ended.push((flow, FlowEndReason::Timeout));
            }
        }
        sort_by_start(ended.get_mut(start..).unwrap_or_default());
    }

    /// Evicts the longest-idle sixteenth of the table.
    fn evict_oldest(&mut self, ended: &mut Vec<(Flow, FlowEndReason)>) {
        let mut by_age = std::mem::take(&mut self.by_age);
        by_age.clear();
        by_age.extend(self.flows.iter().zip(0u32..).map(|(f, i)| (f.last_seen, i)));
        let n = (self.flows.len() / EVICT_FRACTION).max(1);
        if n < by_age.len() {
            by_age.select_nth_unstable_by_key(n, |(t, _)| *t);
            by_age.truncate(n);
        }
        // Highest position first: removing one moves the last flow, which is never one
        // still to be removed.
        by_age.sort_unstable_by_key(|(_, i)| std::cmp::Reverse(*i));
        let start = ended.len();
        for (_, i) in &by_age {
            if let Some(flow) = self.remove_at(usize::try_from(*i).unwrap_or(usize::MAX)) {
                self.stats.evicted = self.stats.evicted.saturating_add(1);
                ended.push((flow, FlowEndReason::Capacity));
            }
        }
        self.by_age = by_age;
        sort_by_start(ended.get_mut(start..).unwrap_or_default());
    }

    /// Removes every flow (end of input), oldest first. Sorted in place, so the end of a
    /// run does not hold a second copy of a full table.
    pub fn drain(&mut self) -> Vec<Flow> {
        self.index.clear();
        let mut all = std::mem::take(&mut self.flows);
        sort_moving_each_once(&mut all, |f| (f.first_seen, f.id));
        all
    }
}

/// Flow records leave in a stable order, so a capture always replays to the same output.
fn sort_by_start(flows: &mut [(Flow, FlowEndReason)]) {
    sort_moving_each_once(flows, |(f, _)| (f.first_seen, f.id));
}

/// Sorts `items` by `key`, moving each item about once: the positions are sorted, then the
/// permutation is applied cycle by cycle. A flow is a few hundred bytes, and a comparison
/// sort moves each one about log2(n) times, which for a full table was most of the cost of
/// ending it.
fn sort_moving_each_once<T, K: Ord>(items: &mut [T], key: impl Fn(&T) -> K) {
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_unstable_by_key(|&i| items.get(i).map(&key));
    // `order[p]` is where the item for position `p` is now. Each round of the inner loop
    // settles one position for good (marking it `order[p] == p`), so both loops end.
    for start in 0..order.len() {
        let mut at = start;
        while let Some(slot) = order.get_mut(at) {
            let from = std::mem::replace(slot, at);
            if from == start || from == at {
                break;
            }
            items.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(last: u8, port: u16) -> Endpoint {
        Endpoint {
            ip: IpAddr::from([10, 0, 0, last]),
            port,
        }
    }

    /// A UDP flow from port `port` of 10.0.0.1 to 10.0.0.2:53, as a key from [`key`] names.
    fn flow(port: u16, id: u64, at: i64) -> Flow {
        Flow {
            id,
            transport: Transport::Udp,
            client: ep(1, port),
            server: ep(2, 53),
            vlans: Vlans::default(),
            first_seen: Timestamp::from_micros(at),
            last_seen: Timestamp::from_micros(at),
            to_server: Counters::default(),
            to_client: Counters::default(),
            tcp: TcpSeen::default(),
            orientation_known: false,
            inspection: Inspection::Done,
            app_proto: None,
            app_proto_orig: None,
            sni: None,
            http_host: None,
            dns_name: None,
            model_server: None,
            pending_tls: None,
            pending_http: std::collections::VecDeque::new(),
            http_written_unanswered: 0,
            hello_unreadable: false,
            transactions: 0,
            interface: None,
            detail: ProtocolDetail::None,
        }
    }

    fn key(port: u16) -> FlowKey {
        FlowKey::new(Transport::Udp, ep(1, port), ep(2, 53), Vlans::default())
    }

    #[test]
    fn sorting_by_moving_each_once_sorts() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in [0usize, 1, 2, 3, 10, 1000] {
            let mut v: Vec<(u64, usize)> = (0..len)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 50, i)
                })
                .collect();
            let mut want = v.clone();
            want.sort_by_key(|x| x.0);
            sort_moving_each_once(&mut v, |x| x.0);
            let keys = |v: &[(u64, usize)]| v.iter().map(|x| x.0).collect::<Vec<_>>();
            assert_eq!(keys(&v), keys(&want));
            let mut seen: Vec<_> = v.iter().map(|x| x.1).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..len).collect::<Vec<_>>(), "a permutation");
        }
    }

    #[test]
    fn only_http_hands_its_name_over_and_once() {
        let mut f = flow(40000, 1, 0);
        f.identify("http");
        f.identify("http");
        assert_eq!((f.app_proto, f.app_proto_orig), (Some("http"), None));
        f.identify("tls");
        f.identify("http2");
        assert_eq!((f.app_proto, f.app_proto_orig), (Some("tls"), Some("http")));
        let mut f = flow(40001, 2, 0);
        f.identify("dns");
        f.identify("http");
        assert_eq!((f.app_proto, f.app_proto_orig), (Some("dns"), None));
    }

    #[test]
    fn both_directions_share_a_key() {
        let v = Vlans::default();
        assert_eq!(
            FlowKey::new(Transport::Tcp, ep(1, 4000), ep(2, 443), v),
            FlowKey::new(Transport::Tcp, ep(2, 443), ep(1, 4000), v)
        );
    }

    #[test]
    fn a_full_table_evicts_the_longest_idle_flows_and_counts_them() {
        let mut t = FlowTable::new(32);
        let mut ended = Vec::new();
        for i in 0..40u16 {
            let key = key(1000 + i);
            let now = Timestamp::from_micros(i64::from(i));
            t.get_or_insert(key, |id| flow(1000 + i, id, i64::from(i)), now, &mut ended);
        }
        assert!(t.len() <= 32);
        assert_eq!(t.stats().evicted as usize, ended.len());
        assert!(
            ended
                .iter()
                .all(|(f, r)| *r == FlowEndReason::Capacity && f.first_seen.micros() < 10)
        );
    }

    #[test]
    fn a_timestamp_far_in_the_future_does_not_stop_expiry() {
        let mut t = FlowTable::new(1024);
        let mut ended = Vec::new();
        let far = Timestamp::from_micros(4_000_000_000_000_000);
        t.get_or_insert(key(1), |id| flow(1, id, far.micros()), far, &mut ended);
        t.expire(far, &mut ended);
        // Back to the real clock: flows come and go as before.
        let mut now = 0i64;
        for i in 0..(MIN_PACKETS_BEFORE_REBASE as i64 * 2) {
            now = i * 1_000;
            let port = 1000 + u16::try_from(i % 50).unwrap();
            let at = Timestamp::from_micros(now);
            t.get_or_insert(key(port), |id| flow(port, id, now), at, &mut ended);
            t.expire(at, &mut ended);
        }
        let later = Timestamp::from_micros(now + UDP_NEW_MICROS + 2 * SWEEP_INTERVAL_MICROS);
        for _ in 0..MIN_PACKETS_BEFORE_REBASE {
            t.get_or_insert(key(1), |id| flow(1, id, later.micros()), later, &mut ended);
            t.expire(later, &mut ended);
        }
        assert!(
            ended
                .iter()
                .filter(|(_, r)| *r == FlowEndReason::Timeout)
                .count()
                >= 50,
            "{} ended",
            ended.len()
        );
        assert!(t.len() <= 2, "{} left", t.len());
    }

    #[test]
    fn removal_keeps_every_remaining_flow_findable() {
        let mut t = FlowTable::new(64);
        let mut ended = Vec::new();
        for p in 0..64u16 {
            let at = Timestamp::from_micros(i64::from(p));
            t.get_or_insert(key(p), |id| flow(p, id, i64::from(p)), at, &mut ended);
        }
        // The 65th evicts the 4 longest idle; everything else is still found, not re-made.
        let at = Timestamp::from_micros(100);
        t.get_or_insert(key(100), |id| flow(100, id, 100), at, &mut ended);
        assert_eq!(ended.len(), 4);
        let created = t.stats().created;
        for p in 4..64u16 {
            let at = Timestamp::from_micros(200);
            let f = t
                .get_or_insert(key(p), |id| flow(p, id, 200), at, &mut ended)
                .unwrap();
            assert_eq!(f.first_seen.micros(), i64::from(p));
        }
        assert_eq!(t.stats().created, created);
    }

    #[test]
    fn idle_flows_time_out_by_capture_time() {
        let mut t = FlowTable::new(8);
        let mut ended = Vec::new();
        let key = key(1000);
        t.get_or_insert(
            key,
            |id| flow(1000, id, 0),
            Timestamp::from_micros(0),
            &mut ended,
        );
        // An unanswered UDP flow lasts Suricata's 30 s.
        t.expire(Timestamp::from_micros(UDP_NEW_MICROS), &mut ended);
        assert!(ended.is_empty());
        t.expire(
            Timestamp::from_micros(UDP_NEW_MICROS + SWEEP_INTERVAL_MICROS + 1),
            &mut ended,
        );
        assert_eq!(ended.len(), 1);
        assert_eq!(t.stats().timed_out, 1);
    }
}

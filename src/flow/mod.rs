//! Flows: bidirectional 5-tuples, their counters and their inspection state.
//!
//! The [`FlowTable`] is bounded: idle flows time out by the capture's clock, and when the
//! table is full the longest-idle flows are evicted in a batch (counted). For a flow whose
//! inspection has finished, a packet costs one hash lookup and two counter updates.

pub mod app;
pub mod quic;
pub mod reassembly;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::decode::Vlans;
use crate::event::{FlowEndReason, Transport};
use crate::time::Timestamp;
use app::HalfStream;

/// Flows tracked at once by default. At ~400 bytes a flow (more while a handshake is being
/// read) this is about 100 MiB; a busy span port's active set fits.
pub const DEFAULT_MAX_FLOWS: usize = 262_144;
/// Idle timeout of an open TCP connection (Suricata's default for established flows).
pub const TCP_IDLE_MICROS: i64 = 600_000_000;
/// Idle timeout after FIN from both sides or RST: only stragglers are left.
pub const TCP_CLOSED_MICROS: i64 = 10_000_000;
/// Idle timeout of a UDP flow; DNS and QUIC exchanges are short, QUIC idles at most 30 s
/// by default but its keep-alives reset that.
pub const UDP_IDLE_MICROS: i64 = 120_000_000;
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

/// The direction-free identity of a flow: the same for both directions' packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    transport: Transport,
    low: Endpoint,
    high: Endpoint,
    vlans: Vlans,
}

impl FlowKey {
    pub fn new(transport: Transport, a: Endpoint, b: Endpoint, vlans: Vlans) -> Self {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        Self {
            transport,
            low,
            high,
            vlans,
        }
    }
}

/// Which way a packet travels within its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    ToServer,
    ToClient,
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
    /// Both directions of a TCP stream.
    Tcp(Box<TcpInspection>),
    /// UDP port 53: every datagram is a DNS message.
    Dns,
    /// UDP not recognised yet: the client's first datagrams are probed for QUIC.
    Probe { datagrams: u16 },
    /// A QUIC connection whose client is still in its Initial phase.
    Quic(Box<quic::QuicInspection>),
    /// A Google QUIC connection: each client CHLO in clear is reported.
    Gquic { version: u32, datagrams: u16 },
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
    pub sni: Option<String>,
    pub http_host: Option<String>,
    pub dns_name: Option<String>,
    /// A TLS event waiting for the ServerHello's negotiated version.
    pub pending_tls: Option<Box<crate::event::Event>>,
    /// A TLS or QUIC ClientHello started on this flow but could not be read.
    pub hello_unreadable: bool,
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

    /// Turns the flow around: the side taken for the server is the client.
    pub fn reverse(&mut self) {
        std::mem::swap(&mut self.client, &mut self.server);
        std::mem::swap(&mut self.to_server, &mut self.to_client);
        std::mem::swap(&mut self.tcp.fin_to_server, &mut self.tcp.fin_to_client);
        if let Inspection::Tcp(i) = &mut self.inspection {
            std::mem::swap(&mut i.to_server, &mut i.to_client);
        }
    }

    pub fn counters(&mut self, dir: Direction) -> &mut Counters {
        match dir {
            Direction::ToServer => &mut self.to_server,
            Direction::ToClient => &mut self.to_client,
        }
    }

    /// The state name for the flow event.
    pub fn state(&self) -> &'static str {
        match self.transport {
            Transport::Tcp if self.tcp.closed() => "closed",
            Transport::Tcp
                if self.tcp.syn_ack
                    || (self.to_client.packets > 0 && self.to_server.packets > 0) =>
            {
                "established"
            }
            Transport::Udp if self.to_client.packets > 0 => "established",
            _ => "new",
        }
    }

    fn idle_timeout(&self) -> i64 {
        match self.transport {
            Transport::Tcp if self.tcp.closed() => TCP_CLOSED_MICROS,
            Transport::Tcp => TCP_IDLE_MICROS,
            Transport::Udp => UDP_IDLE_MICROS,
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
    for v in key.vlans.as_slice() {
        eat(&v.to_be_bytes());
    }
    eat(&start.micros().to_be_bytes());
    h & ((1 << 51) - 1)
}

/// The bounded table of live flows.
pub struct FlowTable {
    flows: HashMap<FlowKey, Flow, foldhash::fast::RandomState>,
    capacity: usize,
    next_sweep: Option<Timestamp>,
    stats: FlowStats,
}

impl FlowTable {
    pub fn new(capacity: usize) -> Self {
        Self {
            flows: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            capacity: capacity.max(1),
            next_sweep: None,
            stats: FlowStats::default(),
        }
    }

    /// The flows in the table, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Flow> {
        self.flows.values()
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

    /// The flow of `key`, created by `make` when new. Flows evicted to make room are moved
    /// to `ended`.
    pub fn get_or_insert(
        &mut self,
        key: FlowKey,
        make: impl FnOnce(u64) -> Flow,
        now: Timestamp,
        ended: &mut Vec<(Flow, FlowEndReason)>,
    ) -> &mut Flow {
        if !self.flows.contains_key(&key) && self.flows.len() >= self.capacity {
            self.evict_oldest(ended);
        }
        let stats = &mut self.stats;
        self.flows.entry(key).or_insert_with(|| {
            stats.created = stats.created.saturating_add(1);
            make(flow_id(&key, now))
        })
    }

    /// Moves flows idle past their timeout to `ended`, at most once per sweep interval.
    pub fn expire(&mut self, now: Timestamp, ended: &mut Vec<(Flow, FlowEndReason)>) {
        match self.next_sweep {
            Some(at) if now < at => return,
            _ => {
                self.next_sweep = Some(Timestamp::from_micros(
                    now.micros().saturating_add(SWEEP_INTERVAL_MICROS),
                ))
            }
        }
        let expired: Vec<FlowKey> = self
            .flows
            .iter()
            .filter(|(_, f)| now.micros_since(f.last_seen) > f.idle_timeout())
            .map(|(k, _)| *k)
            .collect();
        let start = ended.len();
        for key in expired {
            if let Some(flow) = self.flows.remove(&key) {
                self.stats.timed_out = self.stats.timed_out.saturating_add(1);
                ended.push((flow, FlowEndReason::Timeout));
            }
        }
        sort_by_start(ended.get_mut(start..).unwrap_or_default());
    }

    /// Evicts the longest-idle sixteenth of the table.
    fn evict_oldest(&mut self, ended: &mut Vec<(Flow, FlowEndReason)>) {
        let mut by_age: Vec<(Timestamp, FlowKey)> =
            self.flows.iter().map(|(k, f)| (f.last_seen, *k)).collect();
        let n = (self.flows.len() / EVICT_FRACTION).max(1);
        if n < by_age.len() {
            by_age.select_nth_unstable_by_key(n, |(t, _)| *t);
            by_age.truncate(n);
        }
        let start = ended.len();
        for (_, key) in by_age {
            if let Some(flow) = self.flows.remove(&key) {
                self.stats.evicted = self.stats.evicted.saturating_add(1);
                ended.push((flow, FlowEndReason::Capacity));
            }
        }
        sort_by_start(ended.get_mut(start..).unwrap_or_default());
    }

    /// Removes every flow (end of input), oldest first.
    pub fn drain(&mut self) -> Vec<(Flow, FlowEndReason)> {
        let mut all: Vec<_> = self
            .flows
            .drain()
            .map(|(_, f)| (f, FlowEndReason::Shutdown))
            .collect();
        sort_by_start(&mut all);
        all
    }
}

/// Flow records leave in a stable order, so a capture always replays to the same output.
fn sort_by_start(flows: &mut [(Flow, FlowEndReason)]) {
    flows.sort_by_key(|(f, _)| (f.first_seen, f.id));
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

    fn flow(id: u64, at: i64) -> Flow {
        Flow {
            id,
            transport: Transport::Udp,
            client: ep(1, 5000),
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
            sni: None,
            http_host: None,
            dns_name: None,
            pending_tls: None,
            hello_unreadable: false,
        }
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
            let key = FlowKey::new(Transport::Udp, ep(1, 1000 + i), ep(2, 53), Vlans::default());
            let now = Timestamp::from_micros(i64::from(i));
            t.get_or_insert(key, |id| flow(id, i64::from(i)), now, &mut ended);
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
    fn idle_flows_time_out_by_capture_time() {
        let mut t = FlowTable::new(8);
        let mut ended = Vec::new();
        let key = FlowKey::new(Transport::Udp, ep(1, 1000), ep(2, 53), Vlans::default());
        t.get_or_insert(key, |id| flow(id, 0), Timestamp::from_micros(0), &mut ended);
        t.expire(Timestamp::from_micros(UDP_IDLE_MICROS), &mut ended);
        assert!(ended.is_empty());
        t.expire(
            Timestamp::from_micros(UDP_IDLE_MICROS + SWEEP_INTERVAL_MICROS + 1),
            &mut ended,
        );
        assert_eq!(ended.len(), 1);
        assert_eq!(t.stats().timed_out, 1);
    }
}

//! Offline scanning on several cores, with the output of one engine.
//!
//! Every worker reads all the files itself, numbers their packets as one engine would,
//! decodes each, and runs through its engine only what concerns the flows it owns: a flow
//! belongs to the hash of its endpoints in either direction, so its two directions meet
//! in one engine; a tunnelled packet counts in each carrier's flow at the carrier's owner
//! and is inspected at its own flow's. Reading in every worker costs each the record
//! parsing and decoding of every packet, but nothing crosses threads per packet: handing
//! packets from one reader to the engines cost more, on two cores, than the work it
//! shared out.
//!
//! Every event an engine writes is stamped with where one engine would have written it
//! ([`Order`]); the caller's thread merges the workers' events back into that order, so
//! the output, `pcap_cnt` and the flow records are those of a single-engine scan. What
//! one engine does across flows is kept in step because every worker sees every packet:
//! - **Idle sweeps**: each worker keeps the [`SweepClock`] one engine keeps, and sweeps
//!   its flows before the packet at which one engine would.
//! - **IP fragments**: each worker reassembles every datagram, outside a tunnel or in one,
//!   with the [`Defragmenter`] one engine has, and runs it through its engine when it owns
//!   the datagram's flow.
//! - **DNS names**: every packet of a DNS flow (port 53) that a worker does not own goes
//!   through a mirror engine that writes nothing but teaches the worker's cache, so each
//!   engine names a new flow from the answers of all packets before it.
//!
//! Some limits are shared out, as among the live sensor's workers: the flow table and the
//! buffers of unfinished messages are split evenly between the engines, and each keeps
//! its own model-server sightings. A scan that fills them, or a model server recognised
//! only across connections that land on different engines, can therefore differ from a
//! single-engine scan. Every worker holds the fragments of every datagram being
//! reassembled (8 MiB at most), and inflates a compressed file itself.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash, Hasher};
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use memmap2::Mmap;

use super::{ScanError, ScanReport, SkippedLink, Truncation, Workers};
use crate::capture::{FileSource, Next, PacketSource, RawPacket};
use crate::decode::defrag::{Defragmenter, Reassembled};
use crate::decode::{self, Decoded, L4, LinkType};
use crate::engine::{Engine, EngineConfig, Stats};
use crate::event::{Event, EventSink};
use crate::flow::SweepClock;
use crate::protocols::dns::cache::SharedDnsCache;
use crate::signatures::Database;
use crate::time::Timestamp;

/// Packets a worker reads between handing back its events, unless told otherwise.
pub const ROUND_PACKETS: u64 = 1024;
/// Event batches a worker may hand back before the merge takes them.
const ROUNDS_IN_FLIGHT: usize = 4;
/// Events a worker hands back at once while it ends its last flows.
const FINAL_CHUNK: usize = 4096;
/// The DNS port: packets to or from it teach every engine's cache.
const DNS_PORT: u16 = 53;

/// Where one engine would have written an event, in the order it would have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Order {
    /// The packet (numbered across all files from 1) before or at which it is written;
    /// one past the last for what the end of input writes.
    index: u64,
    phase: Phase,
    /// Within a phase: the flow's start and id for flows ending together (sweeps and the
    /// end of input), the step that ended a flow for those written at the next packet.
    a: i64,
    b: u64,
    /// The engine's own count of events, so one engine's events keep their order.
    seq: u64,
}

impl Order {
    const FIRST: Self = Self {
        index: 0,
        phase: Phase::Flushed,
        a: i64::MIN,
        b: 0,
        seq: 0,
    };
    const LAST: Self = Self {
        index: u64::MAX,
        phase: Phase::Drained,
        a: i64::MAX,
        b: u64::MAX,
        seq: u64::MAX,
    };

    /// Before anything written from packet `index + 1` on, or at the end of input when
    /// that is the last: what a worker may still write once it has read up to `index`.
    fn after(index: u64) -> Self {
        Self {
            index: index.saturating_add(1),
            ..Self::FIRST
        }
    }
}

/// What one engine does at a packet, in the order it does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// The end of input: datagrams whose fragments never completed.
    Flushed,
    /// Flows the previous step ended (evicted, idle at lookup, their ports reused).
    Ended,
    /// Flows the idle sweep ends.
    Swept,
    /// Datagrams whose fragments waited too long.
    Expired,
    /// The packet itself, and a datagram it completed.
    Packet,
    /// The end of input: every flow still open.
    Drained,
}

/// One step of one engine's work at a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Step {
    index: u64,
    phase: Phase,
    /// Tells datagrams expiring at one packet apart.
    n: u64,
    /// Which of a packet's flows, in the order one engine looks them up: its carriers
    /// (outermost first), then its own; then those of a datagram it completed.
    part: u8,
}

/// The part of a step for a packet's own flow, after its (at most two) carriers.
const OWN_FLOW: u8 = 2;

/// What a worker found besides events, handed back with its last ones.
struct Done {
    /// Its engine's counters; the first worker's also count what every worker reads
    /// alike (fragments, reassembly).
    stats: Stats,
    /// The time of the latest packet of the input (the first worker's).
    last_seen: Timestamp,
    truncations: Vec<Truncation>,
    skipped_links: Vec<SkippedLink>,
    failure: Option<ScanError>,
}

/// Events a worker hands back, sorted; all it writes later come at or after `bound`.
struct Output {
    events: Vec<(Order, Event)>,
    bound: Order,
    /// Bytes on disk read since the last output (the first worker's).
    progress: u64,
    done: Option<Box<Done>>,
}

/// Runs `paths` through `workers` engines (at least two) as [`super::scan_files`] runs
/// them through one, with the same events in the same order.
///
/// # Errors
/// As [`super::scan_files`].
pub(super) fn scan_parallel(
    paths: &[PathBuf],
    config: &EngineConfig,
    setup: Workers,
    signatures: &Arc<Database>,
    sink: &mut dyn EventSink,
    progress: &mut dyn FnMut(u64),
) -> Result<ScanReport, ScanError> {
    // Every file is opened before the first packet is read; the workers share the maps
    // of plain files, so each page is read from the disk and mapped once.
    let maps = paths
        .iter()
        .map(|path| FileSource::open(path).map(|source| source.map().cloned()))
        .collect::<Result<Vec<_>, _>>()?;
    let workers = setup.engines;
    let positions: Vec<AtomicU64> = (0..workers).map(|_| AtomicU64::new(0)).collect();
    let positions = positions.as_slice();
    std::thread::scope(|scope| {
        let mut from_workers = Vec::with_capacity(workers);
        let mut spent = Vec::with_capacity(workers);
        for me in 0..workers {
            let (out_tx, out_rx) = sync_channel::<Output>(ROUNDS_IN_FLIGHT);
            let (spent_tx, spent_rx) = channel();
            let keyed = Keyed::new(out_tx, spent_rx);
            let worker = Worker::new(me, setup, config, signatures, keyed);
            let maps = maps.clone();
            std::thread::Builder::new()
                .name(format!("scan-worker-{me}"))
                .spawn_scoped(scope, move || worker.run(paths, maps, positions))
                .map_err(ScanError::Output)?;
            from_workers.push(out_rx);
            spent.push(spent_tx);
        }
        drop(maps);
        let mut merge = Merge::new(from_workers, spent);
        // On an error the merge's end hangs up on the workers, which then stop.
        let done = merge.run(sink, progress)?;
        let mut stats = Stats::default();
        let mut report = None;
        for done in done {
            if let Some(failure) = done.failure {
                return Err(failure);
            }
            stats.absorb(&done.stats);
            report.get_or_insert((done.last_seen, done.truncations, done.skipped_links));
        }
        let (last_seen, truncations, skipped_links) = report.unwrap_or_default();
        Ok(ScanReport {
            stats,
            truncations,
            skipped_links,
            last_seen,
        })
    })
}

/// One worker: its engine, a mirror engine for the DNS flows it does not own, and what
/// it keeps in step with the other workers.
struct Worker {
    me: usize,
    workers: u64,
    engine: Engine,
    mirror: Engine,
    clock: SweepClock,
    defrag: Defragmenter,
    hasher: foldhash::fast::FixedState,
    /// The number of the latest packet.
    index: u64,
    /// Packets read between handing back events.
    round_packets: u64,
    /// What only the first worker counts: packets reassembled here, not by an engine.
    reader: Stats,
    last_seen: Timestamp,
    keyed: Keyed,
}

impl Worker {
    fn new(
        me: usize,
        setup: Workers,
        config: &EngineConfig,
        signatures: &Arc<Database>,
        keyed: Keyed,
    ) -> Self {
        let cache = SharedDnsCache::new(config.dns_cache_entries);
        // Each engine gets an equal share of the flow table and the buffers, so the
        // configured totals hold for the scan, as for the live sensor's workers. The
        // sweep schedule and the fragments follow the whole configuration, as one
        // engine's do.
        let share = |total: usize| total.div_ceil(setup.engines).max(1);
        let mut engine_config = *config;
        engine_config.max_flows = share(config.max_flows);
        engine_config.buffer_budget_bytes = share(config.buffer_budget_bytes);
        Self {
            me,
            workers: u64::try_from(setup.engines).unwrap_or(1).max(1),
            engine: Engine::with_dns_cache(engine_config, Arc::clone(signatures), cache.clone()),
            mirror: Engine::with_dns_cache(engine_config, Arc::clone(signatures), cache),
            clock: SweepClock::new(config.max_flows),
            defrag: Defragmenter::new(config.defrag_budget_bytes),
            hasher: foldhash::fast::FixedState::default(),
            index: 0,
            round_packets: setup.round_packets,
            reader: Stats::default(),
            last_seen: Timestamp::default(),
            keyed,
        }
    }

    /// Reads every file and hands back its events; ends after its last events or when
    /// the merge hangs up.
    fn run(mut self, paths: &[PathBuf], maps: Vec<Option<Arc<Mmap>>>, positions: &[AtomicU64]) {
        let mut done = Done {
            stats: Stats::default(),
            last_seen: Timestamp::default(),
            truncations: Vec::new(),
            skipped_links: Vec::new(),
            failure: None,
        };
        match self.read(paths, maps, positions, &mut done) {
            Ok(()) => {}
            // The merge stopped first and says why.
            Err(ScanError::Output(_)) if self.keyed.hung_up => return,
            Err(e) => done.failure = Some(e),
        }
        if done.failure.is_none() && self.finish().is_err() {
            return;
        }
        let mut stats = self.engine.stats();
        if self.me == 0 {
            self.reader.defrag = self.defrag.stats();
            let engine = std::mem::replace(&mut stats, self.reader.clone());
            stats.absorb(&engine);
        }
        done.stats = stats;
        done.last_seen = self.last_seen;
        let _ = self.keyed.hand_back(Order::LAST, Some(Box::new(done)));
    }

    fn read(
        &mut self,
        paths: &[PathBuf],
        maps: Vec<Option<Arc<Mmap>>>,
        positions: &[AtomicU64],
        done: &mut Done,
    ) -> Result<(), ScanError> {
        for (file, (path, map)) in (1u64..).zip(paths.iter().zip(maps)) {
            let mut source = match map {
                Some(map) => FileSource::open_mapped(path, map)?,
                None => FileSource::open(path)?,
            };
            let mut compressed_seen = 0;
            // Ends at the file's end or damage: each turn reads one record.
            loop {
                let compressed_read = source.compressed_bytes_read();
                match source.next_packet() {
                    Next::Packet { packet, link } => {
                        if self.me == 0 {
                            let on_disk =
                                super::on_disk(&packet, compressed_read, &mut compressed_seen);
                            self.keyed.progress = self.keyed.progress.saturating_add(on_disk);
                        }
                        self.packet(link, &packet)?;
                        if self.index.is_multiple_of(self.round_packets) {
                            self.keyed.hand_back(Order::after(self.index), None)?;
                            source.keep_pages_from(kept_from(
                                positions,
                                self.me,
                                file,
                                source.offset(),
                            ));
                        }
                    }
                    Next::End => break,
                    Next::Truncated { packet, message } => {
                        done.truncations.push(Truncation {
                            path: path.clone(),
                            packet,
                            message,
                        });
                        break;
                    }
                }
            }
            if source.skipped() > 0 {
                done.skipped_links.push(SkippedLink {
                    path: path.clone(),
                    packets: source.skipped(),
                });
            }
        }
        Ok(())
    }

    /// What one engine does at a packet, for the flows this worker owns.
    fn packet(&mut self, link: LinkType, packet: &RawPacket<'_>) -> io::Result<()> {
        self.index = self.index.saturating_add(1);
        self.last_seen = self.last_seen.max(packet.timestamp);
        let index = self.index;
        let now = packet.timestamp;
        if self.clock.due(now) {
            self.keyed.at(index, Phase::Swept, 0, true);
            self.engine.sweep(now, &mut self.keyed)?;
            self.mirror.sweep(now, &mut Discard)?;
        }
        for (n, datagram) in (0u64..).zip(self.defrag.expire(now)) {
            let step = Step {
                index,
                phase: Phase::Expired,
                n,
                part: 0,
            };
            self.datagram(step, &datagram, None)?;
        }
        let step = Step {
            index,
            phase: Phase::Packet,
            n: 0,
            part: 0,
        };
        let decoded = match decode::decode(link, packet.data) {
            Ok(decoded) => decoded,
            Err(e) => {
                // Counted by the first engine; it touches no flow.
                if self.me == 0 {
                    self.engine.count_packet(packet);
                    self.engine.count_undecodable(e);
                }
                return Ok(());
            }
        };
        let source = Some(packet.source);
        self.carriers(step, now, &decoded, source)?;
        let step = Step {
            part: OWN_FLOW,
            ..step
        };
        if let L4::Fragment(fragment) = decoded.l4 {
            if self.me == 0 {
                count(&mut self.reader, packet);
            }
            let whole = self
                .defrag
                .push_packet(now, &decoded, &fragment, packet.wire_len);
            return match whole {
                Some(datagram) => self.datagram(step, &datagram, source),
                None => Ok(()),
            };
        }
        if self.owns(&decoded) {
            self.keyed.at(index, Phase::Packet, 0, false);
            self.engine.count_packet(packet);
            self.engine
                .inspect_flow(now, packet.wire_len, &decoded, source, &mut self.keyed)?;
        } else if is_dns(&decoded) {
            self.mirror
                .inspect_flow(now, packet.wire_len, &decoded, source, &mut Discard)?;
        }
        self.write_ended(step)
    }

    /// Counts a packet's tunnels in the flows of those this worker owns, each carrier's
    /// ended flows written before the next's, as one engine looks them up.
    fn carriers(
        &mut self,
        step: Step,
        now: Timestamp,
        decoded: &Decoded<'_>,
        source: Option<PacketSource>,
    ) -> io::Result<()> {
        for (part, carrier) in (step.part..).zip(decoded.carriers.iter()) {
            let (ports, protocol) = (carrier.ports.unwrap_or_default(), carrier.protocol);
            if self.owner_of(carrier.src, carrier.dst, ports, protocol) == self.me {
                self.engine.count_carrier(now, carrier, source);
                self.write_ended(Step { part, ..step })?;
            }
        }
        Ok(())
    }

    /// Runs a reassembled or expired datagram through the engines that own its flows: its
    /// carriers' and its own (or, for DNS, the mirror), at part `step.part` on.
    fn datagram(
        &mut self,
        step: Step,
        datagram: &Reassembled,
        source: Option<PacketSource>,
    ) -> io::Result<()> {
        let decoded = match decode::decode_transport(
            datagram.src,
            datagram.dst,
            datagram.protocol,
            &datagram.payload,
            datagram.vlans,
        ) {
            Ok(decoded) => decoded,
            Err(e) => {
                if self.me == 0 {
                    self.engine.count_undecodable(e);
                }
                return Ok(());
            }
        };
        let now = datagram.first_seen;
        self.carriers(step, now, &decoded, source)?;
        let step = Step {
            part: step.part.saturating_add(OWN_FLOW),
            ..step
        };
        let wire_len = u32::try_from(datagram.wire_bytes).unwrap_or(u32::MAX);
        if self.owns(&decoded) {
            self.keyed.at(step.index, step.phase, step.n, false);
            self.engine
                .inspect_flow(now, wire_len, &decoded, source, &mut self.keyed)?;
        } else if is_dns(&decoded) {
            self.mirror
                .inspect_flow(now, wire_len, &decoded, source, &mut Discard)?;
        }
        self.write_ended(step)
    }

    /// Writes the flows `step` ended, stamped as one engine writes them: before anything
    /// else at the next packet, or at the end of input before the flows still open.
    fn write_ended(&mut self, step: Step) -> io::Result<()> {
        if self.engine.has_ended() {
            let index = if step.phase == Phase::Flushed {
                step.index
            } else {
                step.index.saturating_add(1)
            };
            self.keyed.order = Order {
                index,
                phase: Phase::Ended,
                a: i64::try_from(step.index).unwrap_or(i64::MAX),
                b: (u64::from(step.phase as u8) << 56) | (step.n << 8) | u64::from(step.part),
                seq: 0,
            };
            self.keyed.by_flow = false;
            self.engine.write_ended(&mut self.keyed)?;
        }
        if self.mirror.has_ended() {
            self.mirror.write_ended(&mut Discard)?;
        }
        Ok(())
    }

    /// The end of input: datagrams never completed, then every flow still open.
    fn finish(&mut self) -> io::Result<()> {
        let end = self.index.saturating_add(1);
        for (n, datagram) in (0u64..).zip(self.defrag.flush()) {
            let step = Step {
                index: end,
                phase: Phase::Flushed,
                n,
                part: 0,
            };
            self.datagram(step, &datagram, None)?;
        }
        self.keyed.at(end, Phase::Drained, 0, true);
        self.keyed.chunked = true;
        self.engine.finish(&mut self.keyed)
    }

    /// Whether this worker owns a decoded packet's own flow (not its carriers').
    fn owns(&self, decoded: &Decoded<'_>) -> bool {
        let (ports, protocol) = match decoded.l4 {
            L4::Tcp(seg) => ((seg.src_port, seg.dst_port), 6),
            L4::Udp(udp) => ((udp.src_port, udp.dst_port), 17),
            L4::Sctp { src_port, dst_port } => ((src_port, dst_port), 132),
            L4::Icmp { .. }
            | L4::Esp { .. }
            | L4::Fragment(_)
            | L4::Other(_)
            | L4::Undecodable(_) => ((0, 0), 0),
        };
        self.owner_of(decoded.src, decoded.dst, ports, protocol) == self.me
    }

    /// The worker that owns the flow between two endpoints, the same whichever way a
    /// packet goes.
    fn owner_of(&self, src: IpAddr, dst: IpAddr, ports: (u16, u16), protocol: u8) -> usize {
        let one = (src, ports.0);
        let other = (dst, ports.1);
        let (low, high) = if one <= other {
            (one, other)
        } else {
            (other, one)
        };
        let mut hasher = self.hasher.build_hasher();
        hash_endpoint(&mut hasher, low);
        hash_endpoint(&mut hasher, high);
        hasher.write_u8(protocol);
        usize::try_from(hasher.finish().checked_rem(self.workers).unwrap_or(0)).unwrap_or(0)
    }
}

/// Publishes where worker `me` reads (`offset` in file number `file`) and returns where
/// the shared map of that file is still read from by the worker furthest behind: the
/// pages before it can be handed back.
fn kept_from(positions: &[AtomicU64], me: usize, file: u64, offset: usize) -> usize {
    let offset = u64::try_from(offset).unwrap_or(u64::MAX).min(MAX_OFFSET);
    if let Some(mine) = positions.get(me) {
        mine.store((file << OFFSET_BITS) | offset, Ordering::Relaxed);
    }
    let behind = positions
        .iter()
        .map(|p| p.load(Ordering::Relaxed))
        .min()
        .unwrap_or(0);
    if behind >> OFFSET_BITS == file {
        usize::try_from(behind & MAX_OFFSET).unwrap_or(0)
    } else {
        0
    }
}

/// Bits of a published position that hold the offset in its file (files up to 1 TiB).
const OFFSET_BITS: u32 = 40;
const MAX_OFFSET: u64 = (1 << OFFSET_BITS) - 1;

/// Counts a packet as an engine counts the packets it reads.
fn count(stats: &mut Stats, packet: &RawPacket<'_>) {
    stats.packets = stats.packets.saturating_add(1);
    stats.bytes = stats.bytes.saturating_add(u64::from(packet.wire_len));
    if packet.data.len() < usize::try_from(packet.wire_len).unwrap_or(usize::MAX) {
        stats.snaplen_truncated = stats.snaplen_truncated.saturating_add(1);
    }
}

fn hash_endpoint(hasher: &mut impl Hasher, (ip, port): (IpAddr, u16)) {
    ip.hash(hasher);
    hasher.write_u16(port);
}

/// Whether a packet belongs to a DNS flow, whose answers every engine learns.
fn is_dns(decoded: &Decoded<'_>) -> bool {
    match decoded.l4 {
        L4::Tcp(seg) => seg.src_port == DNS_PORT || seg.dst_port == DNS_PORT,
        L4::Udp(udp) => udp.src_port == DNS_PORT || udp.dst_port == DNS_PORT,
        _ => false,
    }
}

/// A worker ended without its last events: it panicked (a bug), and its events are lost.
fn worker_lost() -> ScanError {
    ScanError::Output(io::Error::other("a scan worker stopped unexpectedly"))
}

/// The workers' events, merged into one engine's order as they come back.
struct Merge {
    from_workers: Vec<Receiver<Output>>,
    /// Where each worker's emptied event buffers go back.
    spent: Vec<Sender<Vec<(Order, Event)>>>,
    queues: Vec<VecDeque<(Order, Event)>>,
    bounds: Vec<Order>,
    done: Vec<Option<Box<Done>>>,
}

impl Merge {
    fn new(from_workers: Vec<Receiver<Output>>, spent: Vec<Sender<Vec<(Order, Event)>>>) -> Self {
        let n = from_workers.len();
        Self {
            from_workers,
            spent,
            queues: (0..n).map(|_| VecDeque::new()).collect(),
            bounds: vec![Order::FIRST; n],
            done: (0..n).map(|_| None).collect(),
        }
    }

    /// Writes every worker's events in order until all are done; returns what they found.
    fn run(
        &mut self,
        sink: &mut dyn EventSink,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Vec<Done>, ScanError> {
        // Each turn takes one output from the worker holding the merge back, until every
        // worker has handed back its last.
        loop {
            self.write_ready(sink)?;
            let waiting = self
                .queues
                .iter()
                .zip(&self.bounds)
                .zip(&self.done)
                .enumerate()
                .filter(|(_, ((queue, _), done))| queue.is_empty() && done.is_none())
                .min_by_key(|(_, ((_, bound), _))| **bound)
                .map(|(worker, _)| worker);
            let Some(worker) = waiting else {
                break;
            };
            let output = self
                .from_workers
                .get(worker)
                .and_then(|rx| rx.recv().ok())
                .ok_or_else(worker_lost)?;
            progress(output.progress);
            self.accept(worker, output);
        }
        self.write_ready(sink)?;
        Ok(self
            .done
            .iter_mut()
            .filter_map(Option::take)
            .map(|done| *done)
            .collect())
    }

    fn accept(&mut self, worker: usize, mut output: Output) {
        if let Some(queue) = self.queues.get_mut(worker) {
            queue.extend(output.events.drain(..));
        }
        // The buffer goes back to its worker, to be filled again.
        if let Some(back) = self.spent.get(worker) {
            let _ = back.send(output.events);
        }
        if let Some(bound) = self.bounds.get_mut(worker) {
            *bound = output.bound;
        }
        if let (Some(done), Some(slot)) = (output.done, self.done.get_mut(worker)) {
            *slot = Some(done);
        }
    }

    /// Writes, in order, every event no worker can still write anything before.
    fn write_ready(&mut self, sink: &mut dyn EventSink) -> Result<(), ScanError> {
        // Ends when no queue has an event ready: each turn writes one.
        loop {
            let mut first: Option<(usize, Order)> = None;
            let mut limit = Order::LAST;
            for (worker, (queue, bound)) in self.queues.iter().zip(&self.bounds).enumerate() {
                match queue.front() {
                    Some((order, _)) => {
                        if first.is_none_or(|(_, o)| *order < o) {
                            first = Some((worker, *order));
                        }
                    }
                    None => limit = limit.min(*bound),
                }
            }
            let Some((worker, order)) = first else {
                return Ok(());
            };
            if order >= limit {
                return Ok(());
            }
            if let Some((_, event)) = self.queues.get_mut(worker).and_then(VecDeque::pop_front) {
                sink.event(event)?;
            }
        }
    }
}

/// The sink of a worker's engine: stamps each event with its [`Order`] and hands them
/// back to the merge.
struct Keyed {
    out: SyncSender<Output>,
    /// Buffers the merge emptied, to fill again.
    spent: Receiver<Vec<(Order, Event)>>,
    events: Vec<(Order, Event)>,
    order: Order,
    /// Flows ending now are ordered by their start and id.
    by_flow: bool,
    seq: u64,
    /// Hands events back in chunks as they come (the end of input's flows, in order).
    chunked: bool,
    /// Bytes on disk read since the last hand-back.
    progress: u64,
    /// The merge has stopped taking events.
    hung_up: bool,
}

impl Keyed {
    fn new(out: SyncSender<Output>, spent: Receiver<Vec<(Order, Event)>>) -> Self {
        Self {
            out,
            spent,
            events: Vec::new(),
            order: Order::LAST,
            by_flow: false,
            seq: 0,
            chunked: false,
            progress: 0,
            hung_up: false,
        }
    }

    fn at(&mut self, index: u64, phase: Phase, n: u64, by_flow: bool) {
        self.order = Order {
            index,
            phase,
            a: 0,
            b: n,
            seq: 0,
        };
        self.by_flow = by_flow;
    }

    /// Hands back the events so far, sorted, with `bound`.
    fn hand_back(&mut self, bound: Order, done: Option<Box<Done>>) -> io::Result<()> {
        self.events.sort_unstable_by_key(|(order, _)| *order);
        let spare = self.spent.try_recv().unwrap_or_default();
        let output = Output {
            events: std::mem::replace(&mut self.events, spare),
            bound,
            progress: std::mem::take(&mut self.progress),
            done,
        };
        self.out.send(output).map_err(|_| {
            self.hung_up = true;
            io::Error::other("the scan's merge stopped")
        })
    }
}

impl EventSink for Keyed {
    fn event(&mut self, event: Event) -> io::Result<()> {
        self.seq = self.seq.saturating_add(1);
        let order = Order {
            seq: self.seq,
            ..self.order
        };
        self.events.push((order, event));
        if self.chunked && self.events.len() >= FINAL_CHUNK {
            // The flows still open end in their order, so nothing after comes before.
            return self.hand_back(order, None);
        }
        Ok(())
    }

    fn flow_ending(&mut self, first_seen: Timestamp, id: u64) {
        if self.by_flow {
            self.order.a = first_seen.micros();
            self.order.b = id;
        }
    }
}

/// The sink of a mirror engine, which only learns.
struct Discard;

impl EventSink for Discard {
    fn event(&mut self, _: Event) -> io::Result<()> {
        Ok(())
    }
}

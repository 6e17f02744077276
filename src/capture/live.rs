//! Live capture from network interfaces through libpcap.
//!
//! Each capture socket has a thread that fills [`Batch`]es of packets and hands them to
//! its packet worker over a bounded channel; the worker hands emptied batches back, so the
//! steady state allocates nothing. The kernel delivers packets in blocks of its ring
//! (TPACKET_V3), a block as soon as it is full or [`READ_TIMEOUT_MS`] after its first
//! packet: one wakeup per block rather than per packet, which at 100,000 packets/s cut
//! the sensor's CPU time fivefold against immediate delivery (BENCHMARKS.md), for at
//! most 100 ms more latency. When the worker falls behind, the capture thread
//! waits on the channel, the kernel buffer fills, and libpcap counts the drops — the
//! loss is visible in the metrics, never silent. An interface that fails (unplugged,
//! brought down) is opened again with backoff while the sensor keeps running.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pcap::{Active, Capture, Precision};

use super::{PacketSource, RawPacket};
use crate::capture::fanout;
use crate::decode::LinkType;
use crate::metrics::CaptureCounts;
use crate::time::Timestamp;

/// The snap length: whole frames, so no ClientHello is ever cut (jumbo frames and
/// offloaded segments included).
pub const SNAPLEN: i32 = 262_144;
/// Packets per batch; a batch also goes out when the capture's read timeout passes.
const BATCH_PACKETS: usize = 256;
/// Frame bytes per batch: a batch also goes out once it holds this much, so a queue of
/// jumbo frames costs what one of ordinary frames does (256 frames of 1,600 bytes).
const BATCH_BYTES: usize = BATCH_PACKETS * 1600;
/// How long the kernel holds a block of packets that is not full, and how long a read
/// waits for packets before the thread checks for shutdown.
const READ_TIMEOUT_MS: u16 = 100;
/// How long a stopping capture keeps reading: the kernel's block timeout and a poll's.
const DRAIN: Duration = Duration::from_millis(2 * READ_TIMEOUT_MS as u64);
/// A capture filter no frame matches (every frame is longer than one byte).
const NOTHING: &str = "less 1";
/// The longest wait between attempts to reopen a failed interface.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The first wait before reopening a failed interface.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);

/// How to open an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOptions {
    pub interface: String,
    pub promiscuous: bool,
    /// Kernel buffer size in bytes.
    pub buffer_bytes: i32,
    /// A BPF filter (tcpdump syntax); all traffic when `None`.
    pub filter: Option<String>,
    /// The fanout group this capture shares the interface's packets with (one socket per
    /// packet worker); a reopened capture enters it again.
    pub fanout: Option<fanout::Membership>,
}

impl LiveOptions {
    pub fn new(interface: String) -> Self {
        Self {
            interface,
            promiscuous: true,
            buffer_bytes: 64 * 1024 * 1024,
            filter: None,
            fanout: None,
        }
    }
}

/// Why an interface could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("cannot capture on {interface}: {message}")]
    Open { interface: String, message: String },
    #[error("bad capture filter {filter:?} on {interface}: {message}")]
    Filter {
        interface: String,
        filter: String,
        message: String,
    },
    #[error("cannot share {interface} between packet workers (AF_PACKET fanout): {source}")]
    Fanout {
        interface: String,
        source: std::io::Error,
    },
    #[error("{interface}: {source}")]
    LinkType {
        interface: String,
        source: crate::decode::UnsupportedLinkType,
    },
}

/// An open interface.
pub struct LiveCapture {
    options: LiveOptions,
    capture: Capture<Active>,
    link: LinkType,
    /// The fanout group the socket entered, left when it closes.
    group: Option<fanout::Group>,
}

impl Drop for LiveCapture {
    fn drop(&mut self) {
        if let (Some(membership), Some(group)) = (&self.options.fanout, self.group) {
            membership.leave(group);
        }
    }
}

impl LiveCapture {
    /// Opens `options.interface`: promiscuous if asked, whole frames, delivery in blocks
    /// (at most [`READ_TIMEOUT_MS`] late), the kernel buffer and filter given.
    ///
    /// # Errors
    /// No such interface, no permission (CAP_NET_RAW), a filter that does not compile, or
    /// a link type aigress does not decode.
    pub fn open(options: &LiveOptions) -> Result<Self, LiveError> {
        let open_err = |e: pcap::Error| LiveError::Open {
            interface: options.interface.clone(),
            message: e.to_string(),
        };
        let mut capture = Capture::from_device(options.interface.as_str())
            .map_err(open_err)?
            .promisc(options.promiscuous)
            .snaplen(SNAPLEN)
            .buffer_size(options.buffer_bytes)
            .immediate_mode(false)
            .timeout(i32::from(READ_TIMEOUT_MS))
            .precision(Precision::Nano)
            .open()
            .and_then(Capture::setnonblock)
            .map_err(open_err)?;
        // A socket receives all the interface's traffic from its activation until it
        // joins the fanout group, traffic the group's other sockets also get: it holds
        // nothing (a filter that matches no frame, which libpcap also applies to what its
        // ring already holds) until it has joined, or those flows would count twice.
        let set_filter = |capture: &mut Capture<Active>, filter: &str| {
            capture.filter(filter, true).map_err(|e| LiveError::Filter {
                interface: options.interface.clone(),
                filter: filter.to_owned(),
                message: e.to_string(),
            })
        };
        if options.fanout.is_some() {
            set_filter(&mut capture, NOTHING)?;
        } else if let Some(filter) = &options.filter {
            set_filter(&mut capture, filter)?;
        }
        let link = LinkType::from_number(capture.get_datalink().0).map_err(|source| {
            LiveError::LinkType {
                interface: options.interface.clone(),
                source,
            }
        })?;
        let mut opened = Self {
            options: options.clone(),
            capture,
            link,
            group: None,
        };
        if let Some(membership) = &options.fanout {
            use std::os::fd::AsFd;
            let group =
                membership
                    .enter(opened.capture.as_fd())
                    .map_err(|source| LiveError::Fanout {
                        interface: options.interface.clone(),
                        source,
                    })?;
            opened.group = Some(group);
            // An empty expression matches every frame.
            set_filter(
                &mut opened.capture,
                options.filter.as_deref().unwrap_or_default(),
            )?;
        }
        Ok(opened)
    }

    pub fn interface(&self) -> &str {
        &self.options.interface
    }
}

/// Packets of one interface, copied out of libpcap's buffer.
#[derive(Debug)]
pub struct Batch {
    /// Which interface (index into the run's list) it came from.
    pub interface: usize,
    pub link: LinkType,
    data: Vec<u8>,
    records: Vec<(Timestamp, u32, Range<usize>)>,
}

impl Batch {
    fn new(interface: usize, link: LinkType) -> Self {
        Self {
            interface,
            link,
            data: Vec::with_capacity(BATCH_BYTES),
            records: Vec::with_capacity(BATCH_PACKETS),
        }
    }

    fn push(&mut self, timestamp: Timestamp, wire_len: u32, bytes: &[u8]) {
        let start = self.data.len();
        // Past its usual size a batch grows by the frame only, not by doubling: it goes
        // out right after, at most one frame over [`BATCH_BYTES`].
        self.data.reserve_exact(bytes.len());
        self.data.extend_from_slice(bytes);
        self.records
            .push((timestamp, wire_len, start..self.data.len()));
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Whether the batch should go now: it holds [`BATCH_PACKETS`] packets or
    /// [`BATCH_BYTES`] of frames.
    fn is_full(&self) -> bool {
        self.records.len() >= BATCH_PACKETS || self.data.len() >= BATCH_BYTES
    }

    /// Empties the batch for reuse, keeping its usual memory: one that grew past it for
    /// a large last frame gives the excess back, so pooled batches stay within the bound.
    pub fn clear(&mut self) {
        self.data.clear();
        self.data.shrink_to(BATCH_BYTES);
        self.records.clear();
    }

    /// The packets, in capture order.
    pub fn packets(&self) -> impl Iterator<Item = RawPacket<'_>> {
        self.records
            .iter()
            .map(|(timestamp, wire_len, range)| RawPacket {
                timestamp: *timestamp,
                data: self.data.get(range.clone()).unwrap_or_default(),
                wire_len: *wire_len,
                source: PacketSource::Interface(u16::try_from(self.interface).unwrap_or(u16::MAX)),
            })
    }
}

/// What a capture thread shares with the rest of the sensor.
pub struct CaptureLink {
    pub batches: SyncSender<Batch>,
    /// Emptied batches coming back from the engine.
    pub pool: Receiver<Batch>,
    pub counts: Arc<Mutex<CaptureCounts>>,
    pub stop: Arc<AtomicBool>,
    /// The packet worker it feeds, for the thread's name (`capture<worker>-<interface>`).
    pub worker: usize,
}

/// Reads `capture` on its own thread until `link.stop` is set, reopening it with backoff
/// when it fails.
///
/// # Errors
/// The thread could not be started.
pub fn spawn(
    index: usize,
    capture: LiveCapture,
    link: CaptureLink,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!(
            "capture{}-{}",
            link.worker, capture.options.interface
        ))
        .spawn(move || run(index, capture, &link))
}

fn run(index: usize, mut capture: LiveCapture, link: &CaptureLink) {
    // libpcap's counters restart with each open; these carry the totals across.
    let mut base = CaptureCounts::default();
    let mut last_stats = Instant::now();
    let mut batch = Batch::new(index, capture.link);
    // The wait before the next reopen. It starts again from the shortest only once a
    // capture has stayed up for a whole maximum wait: an interface that opens but fails
    // every read is retried ever more slowly, not twice a second forever.
    let mut backoff = FIRST_BACKOFF;
    let mut opened_at = Instant::now();
    let mut drain_until: Option<Instant> = None;
    loop {
        if drain_until.is_none() && link.stop.load(Ordering::Relaxed) {
            // The kernel hands over the block it is filling within a read timeout: keep
            // reading that long, so packets that arrived before the stop are processed.
            drain_until = Some(
                Instant::now()
                    .checked_add(DRAIN)
                    .unwrap_or_else(Instant::now),
            );
        }
        if drain_until.is_some_and(|until| Instant::now() >= until) {
            break;
        }
        let mut idle = false;
        match capture.capture.next_packet() {
            // `time_t` and `suseconds_t` are `i64` here but `i32` on some targets.
            #[allow(clippy::useless_conversion)]
            Ok(p) => {
                let ts = Timestamp::from_secs_nanos(
                    i64::from(p.header.ts.tv_sec),
                    i64::from(p.header.ts.tv_usec),
                );
                batch.push(ts, p.header.len, p.data);
            }
            Err(pcap::Error::TimeoutExpired) => {
                // Nothing buffered: wait for the socket, at most a read timeout, so a
                // quiet interface still notices a stop and hands over its partial batch
                // (in non-blocking mode libpcap itself does not wait).
                idle = true;
                wait_readable(&capture.capture);
            }
            Err(_) if drain_until.is_some() => break,
            Err(e) => {
                tracing::warn!(interface = capture.interface(), error = %e, "Capture failed; reopening.");
                base = totals(base, &mut capture, link);
                if !send(&mut batch, link) {
                    return;
                }
                if opened_at.elapsed() >= MAX_BACKOFF {
                    backoff = FIRST_BACKOFF;
                }
                let Some(fresh) = reopen(&capture.options, link, &mut backoff) else {
                    return;
                };
                capture = fresh;
                opened_at = Instant::now();
                base.reopens = base.reopens.saturating_add(1);
                batch.link = capture.link;
                continue;
            }
        }
        // A full batch goes at once, a partial one when the wire goes quiet (the read
        // found nothing), so events are never held back for long. The clock is read only
        // then, not per packet.
        if !batch.is_full() && !idle {
            continue;
        }
        if last_stats.elapsed() >= Duration::from_secs(1) {
            publish(base, &mut capture, link);
            last_stats = Instant::now();
        }
        if !send(&mut batch, link) {
            return;
        }
    }
    publish(base, &mut capture, link);
    send(&mut batch, link);
}

fn wait_readable(capture: &Capture<Active>) {
    use std::os::fd::AsFd;
    let mut fds = [nix::poll::PollFd::new(
        capture.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    let timeout = nix::poll::PollTimeout::from(READ_TIMEOUT_MS);
    // An interrupted or failed poll only shortens the wait; the next read tells.
    let _ = nix::poll::poll(&mut fds, timeout);
}

/// Hands a non-empty batch to the engine and takes a fresh one from the pool; false when
/// the engine is gone.
fn send(batch: &mut Batch, link: &CaptureLink) -> bool {
    if batch.is_empty() {
        return true;
    }
    let fresh = match link.pool.try_recv() {
        Ok(mut b) => {
            b.clear();
            b.interface = batch.interface;
            b.link = batch.link;
            b
        }
        Err(_) => Batch::new(batch.interface, batch.link),
    };
    let full = std::mem::replace(batch, fresh);
    match link.batches.try_send(full) {
        Ok(()) => true,
        // The engine is behind: wait for it rather than drop here; the kernel buffer
        // absorbs the burst and libpcap counts what it cannot.
        Err(TrySendError::Full(full)) => link.batches.send(full).is_ok(),
        Err(TrySendError::Disconnected(_)) => false,
    }
}

fn current(base: CaptureCounts, capture: &mut LiveCapture) -> CaptureCounts {
    let Ok(s) = capture.capture.stats() else {
        return base;
    };
    CaptureCounts {
        received: base.received.saturating_add(u64::from(s.received)),
        dropped_kernel: base.dropped_kernel.saturating_add(u64::from(s.dropped)),
        dropped_interface: base
            .dropped_interface
            .saturating_add(u64::from(s.if_dropped)),
        reopens: base.reopens,
    }
}

fn publish(base: CaptureCounts, capture: &mut LiveCapture, link: &CaptureLink) {
    let now = current(base, capture);
    *link.counts.lock().unwrap_or_else(PoisonError::into_inner) = now;
}

/// The totals so far, before the capture is dropped.
fn totals(base: CaptureCounts, capture: &mut LiveCapture, link: &CaptureLink) -> CaptureCounts {
    publish(base, capture, link);
    current(base, capture)
}

/// Opens the interface again after `wait`, doubling it (to [`MAX_BACKOFF`]) after each
/// attempt, so the caller's next reopen waits longer still; `None` when asked to stop
/// first.
fn reopen(options: &LiveOptions, link: &CaptureLink, wait: &mut Duration) -> Option<LiveCapture> {
    loop {
        let started = Instant::now();
        while started.elapsed() < *wait {
            if link.stop.load(Ordering::Relaxed) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let opened = LiveCapture::open(options);
        *wait = wait.saturating_mul(2).min(MAX_BACKOFF);
        match opened {
            Ok(c) => {
                tracing::info!(interface = %options.interface, "Capture reopened.");
                return Some(c);
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = wait.as_secs_f32(), "Reopening the capture failed.");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_of_jumbo_frames_is_bounded_in_bytes_and_gives_back_its_growth() {
        let mut batch = Batch::new(0, LinkType::Ethernet);
        let jumbo = vec![0u8; 9000];
        let mut packets = 0;
        while !batch.is_full() {
            batch.push(Timestamp::default(), 9000, &jumbo);
            packets += 1;
        }
        assert_eq!(
            packets,
            BATCH_BYTES.div_ceil(9000),
            "full by bytes, not by count"
        );
        assert!(batch.data.capacity() < BATCH_BYTES + 9000);

        // The largest frame libpcap hands over arrives last: the batch grows by it once,
        // then gives the growth back when it is emptied for reuse.
        let huge = vec![0u8; usize::try_from(SNAPLEN).unwrap()];
        batch.push(Timestamp::default(), 9000, &huge);
        assert!(batch.data.capacity() <= BATCH_BYTES + 9000 + huge.len());
        batch.clear();
        assert!(batch.data.capacity() <= BATCH_BYTES);
    }
}

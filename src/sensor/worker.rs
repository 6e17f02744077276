//! Packet workers: each owns an engine (its own flow table, fragment reassembly and
//! buffers) and runs the packets of the flows the kernel hands its capture sockets.
//!
//! A worker does everything per packet; what it finds leaves as events, a batch of them
//! per packet batch, to the output loop, which alone judges (landing, policy, alert
//! deduplication), counts and writes, so verdicts, deduplication windows and the inventory
//! see every worker's events as one stream. Once a second a worker expires idle flows,
//! picks up a reloaded signature database, and reports its counters and the traffic of
//! the open AI flows the output loop is watching.

use std::collections::HashSet;
use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::capture::live::Batch;
use crate::engine::{Engine, Stats};
use crate::event::{Event, EventSink};
use crate::metrics::OpenAiFlows;
use crate::signatures::Database;
use crate::time::Timestamp;

use super::TICK;
use super::watchdog::LoopState;

/// What a worker sends the output loop.
#[derive(Debug)]
pub enum Report {
    /// Events, in the order the worker found them.
    Events(Vec<Event>),
    /// The worker's counters; after `finished` it sends nothing more.
    Status(Box<Status>),
}

/// A worker's counters and open-flow traffic at one moment.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub worker: usize,
    pub stats: Stats,
    pub flows_active: usize,
    pub buffered_bytes: usize,
    pub last_seen: Timestamp,
    /// `(flow id, bytes to the server, bytes to the client)` of the open flows the output
    /// loop watches (AI flows seen but not ended).
    pub progress: Vec<(u64, u64, u64)>,
    pub finished: bool,
}

/// One worker's inputs and outputs.
pub struct Worker {
    pub index: usize,
    pub engine: Engine,
    /// Batches from this worker's capture sockets, one per interface.
    pub batches: Receiver<Batch>,
    /// Where emptied batches go back, by interface number.
    pub pools: Vec<SyncSender<Batch>>,
    pub output: SyncSender<Report>,
    /// Signature databases loaded on SIGHUP.
    pub signatures: Receiver<Arc<Database>>,
    pub loops: Arc<LoopState>,
    /// The open AI flows the output loop keeps, to report their traffic.
    pub watched: OpenAiFlows,
}

/// Starts `worker` on a thread of its own; it ends once its captures have ended (every
/// batch sender dropped) and it has ended its flows, or when the output loop is gone.
///
/// # Errors
/// The thread could not be started.
pub fn spawn(worker: Worker) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("worker-{}", worker.index))
        .spawn(move || worker.run())
}

/// How many events a worker holds before handing them over mid-batch.
const EVENTS_PER_REPORT: usize = 256;
/// How long a worker waits for a batch before looking at the clock.
const WAIT: Duration = Duration::from_millis(200);

/// Collects a worker's events and hands them to the output loop.
struct ToOutput {
    pending: Vec<Event>,
    output: SyncSender<Report>,
    loops: Arc<LoopState>,
    slot: usize,
}

impl ToOutput {
    fn send(&self, report: Report) -> io::Result<()> {
        self.output
            .send(report)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the output loop ended"))?;
        // Handing work on is progress: a worker ending thousands of flows at shutdown
        // sends a report every few hundred events and is never taken for stuck.
        self.loops.busy(self.slot, Timestamp::now());
        Ok(())
    }
}

impl EventSink for ToOutput {
    fn event(&mut self, event: Event) -> io::Result<()> {
        self.pending.push(event);
        if self.pending.len() >= EVENTS_PER_REPORT {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // Taken, not replaced by a reserved vector: most batches carry a few events, and
        // the next vector grows only as far as the next batch needs.
        let events = std::mem::take(&mut self.pending);
        self.send(Report::Events(events))
    }
}

/// Marks a loop's slot idle when its thread ends, however it ends (a panic included): a
/// loop that has left waits for nothing, and the watchdog must not take its last mark
/// for a stall while the output loop drains.
struct Left {
    loops: Arc<LoopState>,
    slot: usize,
}

impl Drop for Left {
    fn drop(&mut self) {
        self.loops.idle(self.slot);
    }
}

impl Worker {
    fn run(mut self) {
        let _left = Left {
            loops: Arc::clone(&self.loops),
            slot: self.index,
        };
        let mut sink = ToOutput {
            pending: Vec::new(),
            output: self.output.clone(),
            loops: Arc::clone(&self.loops),
            slot: self.index,
        };
        // Ends with an error only when the output loop has gone, which has then
        // already decided how the sensor stops.
        if let Err(e) = self.work(&mut sink) {
            tracing::debug!(worker = self.index, error = %e, "Packet worker stopped early.");
        }
    }

    fn work(&mut self, sink: &mut ToOutput) -> io::Result<()> {
        let mut last_tick = Instant::now();
        let mut watched = HashSet::new();
        loop {
            self.loops.idle(self.index);
            let received = self.batches.recv_timeout(WAIT);
            self.loops.busy(self.index, Timestamp::now());
            match received {
                Ok(batch) => {
                    for packet in batch.packets() {
                        self.engine.process(batch.link, &packet, sink)?;
                    }
                    sink.flush()?;
                    if let Some(pool) = self.pools.get(batch.interface) {
                        // A full pool or an ended capture just lets the batch go.
                        let _ = pool.try_send(batch);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                // Every capture socket of this worker has ended: the sensor is stopping.
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Looked at every batch, not every tick: a flow that starts right after a
            // new database is installed is judged by it.
            while let Ok(signatures) = self.signatures.try_recv() {
                self.engine.set_signatures(signatures);
            }
            if last_tick.elapsed() < TICK {
                continue;
            }
            last_tick = Instant::now();
            self.engine.advance(Timestamp::now(), sink)?;
            sink.flush()?;
            let status = self.status(&mut watched, false);
            sink.send(Report::Status(Box::new(status)))?;
        }
        self.engine.finish(sink)?;
        sink.flush()?;
        let status = self.status(&mut watched, true);
        sink.send(Report::Status(Box::new(status)))
    }

    /// The worker's counters, and the traffic so far of the open flows the output loop
    /// watches (their ids copied out first, so the shared map is locked only briefly).
    fn status(&self, watched: &mut HashSet<u64>, finished: bool) -> Status {
        watched.clear();
        watched.extend(
            self.watched
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .keys()
                .copied(),
        );
        let mut progress = Vec::new();
        if !watched.is_empty() {
            self.engine.for_each_flow(|id, sent, received| {
                if watched.contains(&id) {
                    progress.push((id, sent, received));
                }
            });
        }
        Status {
            worker: self.index,
            stats: self.engine.stats(),
            flows_active: self.engine.flows_active(),
            buffered_bytes: self.engine.buffered_bytes(),
            last_seen: self.engine.last_seen(),
            progress,
            finished,
        }
    }
}

//! The output loop of the live sensor: takes the workers' events and counters, judges and
//! writes the events, and each second publishes metrics, closes deduplication windows,
//! flushes the outputs, watches the signature directory and the signal flags, and
//! notices a part of the sensor that stopped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::outputs::OutputHealth;
use super::watchdog::LoopState;
use super::worker::{Report, Status};
use super::{Handles, Running, Signals, SignaturesDir, Sources, TICK, reload};
use crate::assess::Assessor;
use crate::engine::Stats;
use crate::event::EventSink;
use crate::inventory::writer::WriterStats;
use crate::metrics::{CaptureCounts, Metrics, OpenAiFlows, WorkerCounts};
use crate::protocols::dns::cache::SharedDnsCache;
use crate::time::Timestamp;

/// How long the loop waits for a report before it looks at its clock and flags again.
const WAIT: Duration = Duration::from_millis(200);

/// What the output loop reads, watches and publishes.
pub(super) struct OutputLoop<'a, 'b> {
    pub reports: Receiver<Report>,
    pub loops: &'a LoopState,
    /// The loop's slot in the watchdog's state.
    pub slot: usize,
    /// Each worker's latest counters.
    pub statuses: &'a mut Vec<Status>,
    pub published: &'a Published<'b>,
    pub health: &'a OutputHealth,
    pub signals: &'a Signals,
    pub ready: &'a AtomicBool,
    pub capture_stop: &'a AtomicBool,
    pub running: &'a Running,
    pub inventory_stats: Option<&'a WriterStats>,
    pub sources: &'a Sources,
    pub signatures_dir: SignaturesDir<'a>,
    pub handles: Handles<'a>,
}

impl OutputLoop<'_, '_> {
    /// Runs until every worker has ended its flows and stopped (after a stop signal or a
    /// failure, which stops the captures). Returns why the sensor stopped on its own, if
    /// it did: it then drained exactly as on SIGTERM.
    pub fn run<S: EventSink>(&mut self, assessor: &mut Assessor<S>) -> Option<String> {
        let current_flow = self.loops.flow_cell(self.slot);
        // What each open AI flow has sent, as the workers last reported.
        let mut sent = Vec::new();
        let mut last_tick = Instant::now();
        let mut stopping = false;
        let mut failure: Option<String> = None;
        loop {
            self.loops.idle(self.slot);
            let received = self.reports.recv_timeout(WAIT);
            self.loops.busy(self.slot, Timestamp::now());
            match received {
                Ok(Report::Events(events)) => {
                    for event in events {
                        current_flow.store(event.header.flow_id, Ordering::Relaxed);
                        if let Err(e) = assessor.event(event) {
                            failure.get_or_insert_with(|| format!("judging events: {e}"));
                        }
                    }
                }
                Ok(Report::Status(status)) => {
                    if let Some(slot) = self.statuses.get_mut(status.worker) {
                        *slot = *status;
                    }
                    // Published as each worker reports, so the metrics lag its second
                    // only, not its second and the output loop's.
                    sent = self.published.publish(self.statuses, assessor);
                }
                Err(RecvTimeoutError::Timeout) => {}
                // Every worker has ended its flows and stopped: stopping is complete.
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if failure.is_none() {
                failure = self.health.failure();
            }
            if !stopping && (self.signals.stop.load(Ordering::Relaxed) || failure.is_some()) {
                self.stop(failure.as_deref());
                stopping = true;
            }
            if last_tick.elapsed() < TICK {
                continue;
            }
            last_tick = Instant::now();
            if !stopping && failure.is_none() {
                failure = self.stopped_part();
            }
            if let Err(e) = self.tick(assessor, &sent) {
                failure.get_or_insert(e);
            }
        }
        failure
    }

    /// Stops the captures; the workers then drain their batches and end their flows.
    fn stop(&self, failure: Option<&str>) {
        match failure {
            Some(cause) => {
                tracing::error!(error = %cause, "Stopping after a failure: draining the captures.")
            }
            None => tracing::info!("Stopping: draining the captures."),
        }
        self.ready.store(false, Ordering::Relaxed);
        self.capture_stop.store(true, Ordering::Relaxed);
    }

    /// A part of the sensor that ended while it runs: a packet worker, a capture thread
    /// or the inventory writer.
    fn stopped_part(&self) -> Option<String> {
        self.running.unexpected_end().or_else(|| {
            self.inventory_stats
                .filter(|s| s.stopped.load(Ordering::Relaxed))
                .map(|_| "the inventory writer stopped unexpectedly".to_owned())
        })
    }

    /// The housekeeping of each second: deduplication windows, output flushes, a new
    /// signature database or SIGHUP, the inventory's counters, long uploads.
    ///
    /// # Errors
    /// What failed to be written.
    fn tick<S: EventSink>(
        &mut self,
        assessor: &mut Assessor<S>,
        sent: &[(u64, u64)],
    ) -> Result<(), String> {
        let written = |e: std::io::Error| format!("writing events: {e}");
        let now = Timestamp::now();
        let mut result = assessor
            .tick(now)
            .and_then(|()| assessor.flush())
            .map_err(written);
        let moved = self.signatures_dir.moved();
        if moved {
            tracing::info!("A new signature database was installed; loading it.");
        }
        if self.signals.reload.swap(false, Ordering::Relaxed) || moved {
            let reloaded = reload(self.sources, &self.handles, assessor).map_err(written);
            result = result.and(reloaded);
        }
        if let Some(stats) = self.inventory_stats {
            self.published.metrics.publish_inventory(stats);
        }
        result.and(assessor.upload_progress(sent, now).map_err(written))
    }
}

/// What the output loop publishes each second.
pub(super) struct Published<'a> {
    pub metrics: &'a Metrics,
    /// Capture counters by worker, then interface.
    pub counts: &'a [Vec<Arc<Mutex<CaptureCounts>>>],
    pub interfaces: &'a [&'a str],
    pub open_flows: &'a OpenAiFlows,
    pub dns_cache: &'a SharedDnsCache,
}

impl Published<'_> {
    /// Publishes the counters, and returns what each open AI flow has sent so far
    /// (`(flow id, bytes to the server)`), as its worker last reported.
    pub fn publish<S: EventSink>(
        &self,
        statuses: &[Status],
        assessor: &Assessor<S>,
    ) -> Vec<(u64, u64)> {
        let metrics = self.metrics;
        let mut progress = Vec::new();
        {
            let mut open = self
                .open_flows
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for &(id, sent, received) in statuses.iter().flat_map(|s| &s.progress) {
                if let Some(flow) = open.get_mut(&id) {
                    metrics.ai_flow_progress(flow, sent, received);
                    progress.push((id, sent));
                }
            }
        }
        let (stats, last_seen) = totals(statuses);
        metrics.publish_engine(
            &stats,
            statuses.iter().map(|s| s.flows_active).sum(),
            self.dns_cache.len(),
            statuses.iter().map(|s| s.buffered_bytes).sum(),
            last_seen,
        );
        let mut per_interface = vec![CaptureCounts::default(); self.interfaces.len()];
        for (worker, sockets) in self.counts.iter().enumerate() {
            let mut dropped = 0u64;
            for (interface, count) in sockets.iter().enumerate() {
                let c = *count.lock().unwrap_or_else(PoisonError::into_inner);
                dropped = dropped
                    .saturating_add(c.dropped_kernel)
                    .saturating_add(c.dropped_interface);
                if let Some(total) = per_interface.get_mut(interface) {
                    total.absorb(c);
                }
            }
            if let Some(status) = statuses.get(worker) {
                metrics.publish_worker(
                    worker,
                    WorkerCounts {
                        packets: status.stats.packets,
                        dropped,
                        flows_active: status.flows_active,
                    },
                );
            }
        }
        for (name, count) in self.interfaces.iter().zip(per_interface) {
            metrics.publish_capture(name, count);
        }
        for (kind, stats) in assessor.sink_stats() {
            metrics.publish_sink(kind, &stats);
        }
        progress
    }
}

/// The workers' counters added up, and the latest packet any of them saw.
pub(super) fn totals(statuses: &[Status]) -> (Stats, Timestamp) {
    let mut stats = Stats::default();
    let mut last_seen = Timestamp::default();
    for s in statuses {
        stats.absorb(&s.stats);
        last_seen = last_seen.max(s.last_seen);
    }
    (stats, last_seen)
}

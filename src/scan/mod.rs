//! Offline scanning: capture files, in order, through one engine (or several, with one
//! engine's output) into a sink.
//!
//! Every file is opened and its link type checked before the first packet is read, so a
//! typo in the last file name fails the run at once instead of after an hour of output.
//! Flows continue across files, as they do across the rotated files of one capture.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

use crate::alert::sinks::AlertSink;
use crate::assess::AssessStats;
use crate::capture::{CaptureError, FileSource, Next, RawPacket};
use crate::engine::{Engine, EngineConfig, Stats};
use crate::event::EventSink;
use crate::inventory::InventoryOptions;
use crate::inventory::store::Store;
use crate::landing::LandingContext;
use crate::pipeline::{Pipeline, Stages};
use crate::policy::Policy;
use crate::signatures::Database;
use crate::time::Timestamp;

pub mod workers;

/// Why a scan stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    /// Writing events failed (a closed pipe, a full disk).
    #[error("writing events: {0}")]
    Output(#[from] io::Error),
    /// The inventory database failed.
    #[error(transparent)]
    Inventory(#[from] crate::inventory::store::StoreError),
}

/// How many engines a scan runs, each on a thread of its own with its own share of the
/// flows (one: on the caller's thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Workers {
    engines: usize,
    round_packets: u64,
}

impl Workers {
    /// `engines` engines, at least one.
    pub fn new(engines: usize) -> Self {
        Self {
            engines: engines.max(1),
            round_packets: workers::ROUND_PACKETS,
        }
    }

    /// Engines hand their events to the merge every `packets` packets (at least one)
    /// rather than every [`workers::ROUND_PACKETS`]: the output is the same, only memory
    /// and hand-over costs change, which is what tests of the merge rely on.
    #[must_use]
    pub fn with_round_packets(self, packets: u64) -> Self {
        Self {
            round_packets: packets.max(1),
            ..self
        }
    }
}

/// A capture file that ended inside a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    pub path: PathBuf,
    /// The 1-based number of the packet that was cut.
    pub packet: u64,
    pub message: String,
}

/// Packets of a capture file skipped because their interface's link type is not one
/// aigress decodes (a pcapng file may mix link types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLink {
    pub path: PathBuf,
    pub packets: u64,
}

/// What a scan did.
#[derive(Debug, Clone)]
pub struct ScanReport {
    pub stats: Stats,
    pub truncations: Vec<Truncation>,
    pub skipped_links: Vec<SkippedLink>,
    /// The time of the last packet, for the stats record.
    pub last_seen: Timestamp,
}

/// Runs `paths` (capture files, plain or compressed; see [`crate::capture::offline::expand`]
/// for directories) through fresh engines classifying with `signatures`, calling
/// `progress` with each packet's size on disk. With more than one of `workers`, flows are
/// shared out among that many engines on threads of their own, and their events merged
/// back into the order one engine writes them (see [`workers`]).
///
/// # Errors
/// [`ScanError::Capture`] when a file cannot be opened or has an unsupported link type
/// (before any packet is processed); [`ScanError::Output`] when the sink fails.
pub fn scan_files(
    paths: &[PathBuf],
    config: EngineConfig,
    workers: Workers,
    signatures: Arc<Database>,
    sink: &mut dyn EventSink,
    progress: &mut dyn FnMut(u64),
) -> Result<ScanReport, ScanError> {
    if workers.engines > 1 {
        return workers::scan_parallel(paths, &config, workers, &signatures, sink, progress);
    }
    for path in paths {
        FileSource::open(path)?;
    }
    let mut engine = Engine::new(config, signatures);
    let mut truncations = Vec::new();
    let mut skipped_links = Vec::new();
    for path in paths {
        let mut source = FileSource::open(path)?;
        let mut compressed_seen = 0;
        loop {
            let compressed_read = source.compressed_bytes_read();
            match source.next_packet() {
                Next::Packet { packet, link } => {
                    progress(on_disk(&packet, compressed_read, &mut compressed_seen));
                    engine.process(link, &packet, sink)?;
                }
                Next::End => break,
                Next::Truncated { packet, message } => {
                    truncations.push(Truncation {
                        path: path.clone(),
                        packet,
                        message,
                    });
                    break;
                }
            }
        }
        if source.skipped() > 0 {
            skipped_links.push(SkippedLink {
                path: path.clone(),
                packets: source.skipped(),
            });
        }
    }
    engine.finish(sink)?;
    Ok(ScanReport {
        stats: engine.stats(),
        truncations,
        skipped_links,
        last_seen: engine.last_seen(),
    })
}

/// How far a packet advances through its file on disk: a compressed file by what its
/// inflater read (`compressed_read`, of which `seen` was counted before), a plain one by
/// the record, a 16-byte header plus the captured bytes.
fn on_disk(packet: &RawPacket<'_>, compressed_read: Option<u64>, seen: &mut u64) -> u64 {
    match compressed_read {
        Some(read) => {
            let step = read.saturating_sub(*seen);
            *seen = read;
            step
        }
        None => u64::try_from(packet.data.len())
            .unwrap_or(0)
            .saturating_add(16),
    }
}

/// What a scan needs besides its files and sink: the signature database, where data
/// lands, the policy (none: landings but no verdicts or alerts), and the alert sinks.
pub struct Judging {
    pub signatures: Arc<Database>,
    pub landing: Arc<LandingContext>,
    pub policy: Option<Arc<Policy>>,
    pub alert_sinks: Vec<Box<dyn AlertSink>>,
    /// Record AI flows in this inventory store.
    pub inventory: Option<(Store, InventoryOptions)>,
}

/// [`scan_files`] with landings, the policy and alerts applied between the engine and
/// `sink`, as `aigress scan` runs it.
///
/// # Errors
/// As [`scan_files`]; also an alert sink's I/O error.
pub fn scan_judged(
    paths: &[PathBuf],
    config: EngineConfig,
    workers: Workers,
    judging: Judging,
    sink: &mut dyn EventSink,
    progress: &mut dyn FnMut(u64),
) -> Result<(ScanReport, AssessStats), ScanError> {
    let policy_handle = Arc::new(std::sync::RwLock::new(judging.policy.clone()));
    let stages = Stages {
        landing: judging.landing,
        policy: judging.policy,
        alert_sinks: judging.alert_sinks,
        inventory: judging.inventory,
        policy_handle,
        metrics: None,
    };
    let mut pipeline = Pipeline::build(stages, sink)?;
    let report = scan_files(
        paths,
        config,
        workers,
        judging.signatures,
        pipeline.judge(),
        progress,
    )?;
    let finished = pipeline.finish(None);
    if let Some(e) = finished.inventory_failure {
        return Err(e.into());
    }
    if let Some(failure) = finished.alerts_failure {
        return Err(io::Error::other(failure).into());
    }
    let assessment = finished.assessment;
    Ok((report, assessment))
}

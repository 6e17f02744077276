//! `aigress run`: the live sensor.
//!
//! ```text
//!  interface ──AF_PACKET fanout (hash of addresses and ports: both directions of a flow
//!      │        to one socket)
//!      ├─► capture thread ─batches─► packet worker 0 ─┐  engine: flows, reassembly,
//!      └─► capture thread ─batches─► packet worker 1 ─┤  TLS/QUIC/DNS/HTTP → events
//!          (one socket per worker      ▲ emptied       │
//!           per interface)             └─ batches      ▼ events, counters
//!                                               output loop (this thread): landing,
//!                                               policy, alert dedup, metrics,
//!                                               inventory, EVE ──► HTTP thread (tokio)
//! ```
//!
//! Each packet worker owns its engine, so nothing per packet is shared or locked; the
//! DNS cache is shared (an answer and the flow it names are different flows, on any
//! worker) and locked once per answer and once per new flow. The output loop alone
//! judges and writes, so alert deduplication, the inventory and the counters see one
//! stream. Each second the workers let idle flows expire and report their counters; the
//! output loop closes deduplication windows, publishes metrics (totals and per worker),
//! flushes output and looks at the signal flags: SIGHUP (or a new version installed in
//! the signature directory, noticed within a tick) reloads the signatures, policy
//! and GeoIP databases (built and checked before the swap, the signatures then handed
//! to every worker; a broken file keeps the old ones and counts a failed reload) and
//! reopens the output files; SIGTERM or SIGINT stops the captures, lets every worker
//! drain its batches and end its flows, then delivers queued alerts and the inventory's
//! last batch within one grace and returns. A failed output ([`outputs`]), a packet
//! worker, capture thread or inventory writer that ends stops the sensor the same way;
//! the error it then returns names the cause and what was not written.

pub mod http;
mod output_loop;
pub mod outputs;
pub mod watchdog;
pub mod worker;

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::alert::sinks::{AlertOutputs, AlertSink};
use crate::assess::Assessor;
use crate::capture::fanout;
use crate::capture::live::{self, Batch, CaptureLink, LiveCapture, LiveError, LiveOptions};
use crate::engine::{Engine, EngineConfig};
use crate::event::EventSink;
use crate::inventory::store::{Location, Store, StoreError};
use crate::inventory::{InventoryOptions, PolicyHandle, SHUTDOWN_GRACE};
use crate::landing::{LandingContext, LandingError};
use crate::metrics::{CaptureCounts, Metrics, MetricsError, OpenAiFlows};
use crate::pipeline::{Pipeline, Stages};
use crate::policy::{Policy, PolicyError};
use crate::protocols::dns::cache::SharedDnsCache;
use crate::signatures::model_servers::ServerSightings;
use crate::signatures::{Database, DatabaseError, DatabaseHandle, LoadError};
use crate::sink::JsonSink;
use crate::time::Timestamp;
use output_loop::{OutputLoop, Published, totals};
use outputs::{EventOut, GuardedSink, OutputHealth};
use watchdog::{LoopState, Watchdog};
use worker::{Report, Status, Worker};

/// Batches waiting for each packet worker.
const QUEUE_BATCHES: usize = 64;
/// Reports (event batches, counters) waiting for the output loop.
const QUEUE_REPORTS: usize = 256;
/// The smallest kernel buffer a worker's socket gets when the interface's is split.
const MIN_SOCKET_BUFFER: i32 = 4 * 1024 * 1024;
/// How often the loops do their housekeeping.
const TICK: Duration = Duration::from_secs(1);
/// How far past the inventory's shutdown grace the drain may run before the watchdog
/// gives up on it: a webhook request in flight at the grace's end finishes within its
/// own time limit.
const DRAIN_SLACK: Duration = Duration::from_secs(5);

/// Where the judging inputs come from, so they can be loaded again on SIGHUP.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// A signature directory; the built-in database when `None`.
    pub signatures: Option<PathBuf>,
    pub geoip_country: Option<PathBuf>,
    pub geoip_asn: Option<PathBuf>,
    pub no_geoip: bool,
    pub policy: Option<PathBuf>,
}

/// The judging inputs, loaded and checked.
pub struct Judging {
    pub signatures: Arc<Database>,
    pub policy: Option<Arc<Policy>>,
    pub landing: Arc<LandingContext>,
}

/// Why the sensor could not start (or load its inputs).
#[derive(Debug, thiserror::Error)]
pub enum SensorError {
    #[error("no interface to capture on (--interface or capture.interfaces)")]
    NoInterface,
    #[error(transparent)]
    Capture(#[from] LiveError),
    #[error(transparent)]
    Signatures(#[from] DatabaseError),
    #[error("the built-in signature database is invalid: {0}")]
    BuiltIn(#[from] LoadError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Landing(#[from] LandingError),
    #[error(transparent)]
    AlertOutput(#[from] crate::alert::sinks::OpenError),
    #[error(transparent)]
    Http(#[from] http::HttpError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("dropping privileges to {user}: {message}")]
    User { user: String, message: String },
    #[error(transparent)]
    Inventory(#[from] StoreError),
    #[error("{context}: {source}")]
    Io { context: String, source: io::Error },
    /// The sensor stopped because something failed while it ran (an output, a packet
    /// worker, a capture thread), or it stopped on request but could not write all it
    /// held: the message names the cause and what was not written.
    #[error("{0}")]
    Stopped(String),
}

fn io_error(context: &str) -> impl FnOnce(io::Error) -> SensorError + '_ {
    move |source| SensorError::Io {
        context: context.to_owned(),
        source,
    }
}

impl Sources {
    /// Loads signatures, policy and landing context; nothing is kept unless all load.
    ///
    /// # Errors
    /// The first input that is missing or invalid.
    pub fn load(&self) -> Result<Judging, SensorError> {
        let signatures = Arc::new(match &self.signatures {
            Some(dir) => Database::from_dir(dir)?,
            None => Database::embedded()?,
        });
        let policy = self
            .policy
            .as_deref()
            .map(|p| Policy::load(p, &signatures))
            .transpose()?
            .map(Arc::new);
        let landing = Arc::new(LandingContext::load(
            self.geoip_country.as_deref(),
            self.geoip_asn.as_deref(),
            self.no_geoip,
            policy.as_deref().map(Policy::transfer_lists),
        )?);
        Ok(Judging {
            signatures,
            policy,
            landing,
        })
    }
}

/// What a reload replaces besides the judge's own inputs.
struct Handles<'a> {
    signatures: &'a DatabaseHandle,
    policy: &'a PolicyHandle,
    /// Each packet worker's way to the database it classifies with.
    workers: &'a [std::sync::mpsc::Sender<Arc<Database>>],
    metrics: &'a Metrics,
}

/// Loads signatures, policy and GeoIP again and puts them in use everywhere, all or
/// none; then raises `vendor_terms_changed` for what the new database changes of the
/// products in use. A broken input keeps the old ones, logged and counted.
///
/// # Errors
/// Writing the alerts failed.
fn reload<S: EventSink>(
    sources: &Sources,
    to: &Handles<'_>,
    assessor: &mut Assessor<S>,
) -> io::Result<()> {
    let j = match sources.load() {
        Ok(j) => j,
        Err(e) => {
            to.metrics.reloaded(false);
            tracing::error!(error = %e, "Reload failed; keeping the signatures, policy and GeoIP databases in use.");
            return Ok(());
        }
    };
    let old = std::mem::replace(
        &mut *to
            .signatures
            .write()
            .unwrap_or_else(PoisonError::into_inner),
        Arc::clone(&j.signatures),
    );
    for worker in to.workers {
        // A worker that has ended needs no database.
        let _ = worker.send(Arc::clone(&j.signatures));
    }
    assessor.set_landing(j.landing);
    *to.policy.write().unwrap_or_else(PoisonError::into_inner) = j.policy.clone();
    assessor.set_policy(j.policy);
    to.metrics.set_signatures(&j.signatures);
    to.metrics.reloaded(true);
    tracing::info!(
        from = %old.version,
        to = %j.signatures.version,
        "Reloaded signatures, policy and GeoIP databases."
    );
    let changes = crate::signatures::diff::diff(&old, &j.signatures);
    let alerts = assessor.terms_changed(&changes, &j.signatures, Timestamp::now())?;
    if alerts > 0 {
        tracing::warn!(
            facts = changes.len(),
            alerts,
            "The new signature database changes facts of AI products in use."
        );
    }
    Ok(())
}

/// A signature directory whose target is watched: a signature update installs a new
/// version by switching the `current` symlink, which the sensor notices within a tick and
/// loads as on SIGHUP.
struct SignaturesDir<'a> {
    dir: Option<&'a Path>,
    /// Where the directory resolved to when last looked at.
    resolved: Option<PathBuf>,
}

impl<'a> SignaturesDir<'a> {
    fn watch(dir: Option<&'a Path>) -> Self {
        Self {
            dir,
            resolved: dir.and_then(|d| std::fs::canonicalize(d).ok()),
        }
    }

    /// Whether the directory now resolves elsewhere than when last asked.
    fn moved(&mut self) -> bool {
        let Some(dir) = self.dir else {
            return false;
        };
        let now = std::fs::canonicalize(dir).ok();
        if now.is_none() || now == self.resolved {
            return false;
        }
        self.resolved = now;
        true
    }
}

/// The HTTP endpoint.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub auth: http::Auth,
    /// PEM certificate chain and key for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

/// Everything `aigress run` needs.
#[derive(Debug, Clone)]
pub struct Settings {
    pub interfaces: Vec<LiveOptions>,
    /// Packet workers, each with its own capture socket per interface and its own flow
    /// table.
    pub workers: usize,
    pub engine: EngineConfig,
    pub sources: Sources,
    /// Events to this file (reopened on SIGHUP); stdout when `None`.
    pub events: Option<PathBuf>,
    pub alerts: AlertOutputs,
    pub http: Option<HttpSettings>,
    /// Drop to this user once captures and the HTTP port are open.
    pub user: Option<String>,
    /// Record the inventory in this database.
    pub inventory: Option<(Location, InventoryOptions)>,
    /// How long the packet loop may stay inside one batch before the watchdog calls it
    /// stalled.
    pub stall_after: Duration,
}

/// The signal flags the packet loop polls.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    pub stop: Arc<AtomicBool>,
    pub reload: Arc<AtomicBool>,
    /// Reopen output files (set by SIGHUP together with `reload`).
    pub reopen_events: Arc<AtomicBool>,
    pub reopen_alerts: Arc<AtomicBool>,
}

impl Signals {
    /// SIGTERM and SIGINT set `stop` (a second SIGINT kills at once); SIGHUP sets
    /// `reload` and the reopen flags.
    ///
    /// # Errors
    /// The handlers could not be installed.
    pub fn install() -> io::Result<Self> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        let s = Self::default();
        signal_hook::flag::register_conditional_shutdown(SIGINT, 130, Arc::clone(&s.stop))?;
        signal_hook::flag::register(SIGINT, Arc::clone(&s.stop))?;
        signal_hook::flag::register(SIGTERM, Arc::clone(&s.stop))?;
        for flag in [&s.reload, &s.reopen_events, &s.reopen_alerts] {
            signal_hook::flag::register(SIGHUP, Arc::clone(flag))?;
        }
        Ok(s)
    }
}

/// The alert sinks, each guarded so that its failure stops the sensor after a drain
/// rather than at once.
fn alert_sinks(
    outputs: &AlertOutputs,
    reopen: &Arc<AtomicBool>,
    health: &Arc<OutputHealth>,
) -> Result<Vec<Box<dyn AlertSink>>, SensorError> {
    Ok(outputs
        .open(reopen)?
        .into_iter()
        .map(|sink| Box::new(GuardedSink::new(sink, Arc::clone(health))) as Box<dyn AlertSink>)
        .collect())
}

/// Becomes `name`, keeping only the capabilities capture needs (CAP_NET_RAW and
/// CAP_NET_ADMIN), so an interface that goes away can still be opened again. Capture
/// threads started afterwards inherit them; the HTTP thread, started before, keeps none.
fn drop_privileges(name: &str) -> Result<(), SensorError> {
    use caps::{CapSet, Capability};
    let fail = |message: String| SensorError::User {
        user: name.to_owned(),
        message,
    };
    let user = nix::unistd::User::from_name(name)
        .map_err(|e| fail(e.to_string()))?
        .ok_or_else(|| fail("no such user".into()))?;
    nix::sys::prctl::set_keepcaps(true).map_err(|e| fail(format!("keepcaps: {e}")))?;
    nix::unistd::setgroups(&[user.gid]).map_err(|e| fail(format!("setgroups: {e}")))?;
    nix::unistd::setgid(user.gid).map_err(|e| fail(format!("setgid: {e}")))?;
    nix::unistd::setuid(user.uid).map_err(|e| fail(format!("setuid: {e}")))?;
    let keep: caps::CapsHashSet = [Capability::CAP_NET_RAW, Capability::CAP_NET_ADMIN]
        .into_iter()
        .collect();
    for set in [CapSet::Permitted, CapSet::Effective] {
        caps::set(None, set, &keep).map_err(|e| fail(format!("capabilities: {e}")))?;
    }
    nix::sys::prctl::set_keepcaps(false).map_err(|e| fail(format!("keepcaps: {e}")))?;
    tracing::info!(
        user = name,
        uid = user.uid.as_raw(),
        "Dropped privileges; kept CAP_NET_RAW and CAP_NET_ADMIN."
    );
    Ok(())
}

/// Runs the sensor until `signals.stop` is set.
///
/// # Errors
/// Anything that keeps it from starting (an interface, an input, the HTTP port), or an
/// output that fails while running.
pub fn run(settings: &Settings, signals: &Signals) -> Result<(), SensorError> {
    if settings.interfaces.is_empty() {
        return Err(SensorError::NoInterface);
    }
    let workers = settings.workers.max(1);
    let judging = settings.sources.load()?;
    let captures = open_captures(&settings.interfaces, workers)?;
    let metrics = Arc::new(Metrics::new()?);
    metrics.set_signatures(&judging.signatures);
    let open_flows: OpenAiFlows = Arc::default();
    let ready = Arc::new(AtomicBool::new(false));
    let output_slot = workers;
    let loops = Arc::new(LoopState::new(
        settings.stall_after,
        (0..workers)
            .map(|w| format!("packet worker {w}"))
            .chain(std::iter::once("output loop".to_owned())),
    ));
    let policy_handle: PolicyHandle = Arc::new(RwLock::new(judging.policy.clone()));
    let signatures_handle: DatabaseHandle = Arc::new(RwLock::new(Arc::clone(&judging.signatures)));
    let mut server = match &settings.http {
        Some(h) => {
            let shared = http::Shared {
                metrics: Arc::clone(&metrics),
                flows: Arc::clone(&open_flows),
                ready: Arc::clone(&ready),
                packet_loop: Arc::clone(&loops),
                signatures: Arc::clone(&signatures_handle),
                inventory: settings.inventory.as_ref().map(|(location, _)| {
                    http::InventoryReports {
                        location: location.clone(),
                        policy: Arc::clone(&policy_handle),
                    }
                }),
            };
            Some(serve(h, shared)?)
        }
        None => None,
    };
    // Outputs are opened while still privileged, like the captures; files reopened on
    // SIGHUP later must be writable by the user dropped to.
    let health = Arc::new(OutputHealth::default());
    let mut out = JsonSink::new(
        EventOut::open(
            settings.events.as_deref(),
            &signals.reopen_events,
            Arc::clone(&health),
        )
        .map_err(io_error("opening the event output"))?,
    );
    let sinks = alert_sinks(&settings.alerts, &signals.reopen_alerts, &health)?;
    let store = settings
        .inventory
        .as_ref()
        .map(|(location, options)| Store::connect(location).map(|s| (s, options.clone())))
        .transpose()?;
    if let Some(user) = &settings.user {
        drop_privileges(user)?;
    }

    let dns_cache = SharedDnsCache::new(settings.engine.dns_cache_entries);
    let (report_tx, reports) = sync_channel::<Report>(QUEUE_REPORTS);
    let capture_stop = Arc::new(AtomicBool::new(false));
    let running = start_workers(
        captures,
        settings,
        &WorkerShared {
            signatures: &judging.signatures,
            dns_cache: &dns_cache,
            sightings: &ServerSightings::default(),
            loops: &loops,
            open_flows: &open_flows,
            capture_stop: &capture_stop,
        },
        &report_tx,
    )?;
    drop(report_tx);

    let stages = Stages {
        landing: Arc::clone(&judging.landing),
        policy: judging.policy.clone(),
        alert_sinks: sinks,
        inventory: store,
        policy_handle: Arc::clone(&policy_handle),
        metrics: Some((Arc::clone(&metrics), Arc::clone(&open_flows))),
    };
    let mut pipeline = Pipeline::build(stages, &mut out)?;
    let inventory_stats = pipeline.inventory_stats().cloned();
    let assessor = pipeline.judge();
    let watchdog = Watchdog::start(
        Arc::clone(&loops),
        Arc::clone(&metrics),
        Arc::clone(&signals.stop),
    )
    .map_err(io_error("starting the watchdog"))?;
    ready.store(true, Ordering::Relaxed);
    watchdog::notify_systemd(sd_notify::NotifyState::Ready);
    tracing::info!(
        interfaces = ?settings.interfaces.iter().map(|i| i.interface.as_str()).collect::<Vec<_>>(),
        workers,
        signatures = %judging.signatures.version,
        policy = ?settings.sources.policy,
        "Capturing."
    );

    let interface_names: Vec<&str> = settings
        .interfaces
        .iter()
        .map(|i| i.interface.as_str())
        .collect();
    let published = Published {
        metrics: &metrics,
        counts: &running.counts,
        interfaces: &interface_names,
        open_flows: &open_flows,
        dns_cache: &dns_cache,
    };
    let mut statuses: Vec<Status> = (0..workers)
        .map(|worker| Status {
            worker,
            ..Status::default()
        })
        .collect();
    let mut output = OutputLoop {
        reports,
        loops: &loops,
        slot: workers,
        statuses: &mut statuses,
        published: &published,
        health: &health,
        signals,
        ready: &ready,
        capture_stop: &capture_stop,
        running: &running,
        inventory_stats: inventory_stats.as_deref(),
        sources: &settings.sources,
        signatures_dir: SignaturesDir::watch(settings.sources.signatures.as_deref()),
        handles: Handles {
            signatures: &signatures_handle,
            policy: &policy_handle,
            workers: &running.reload,
            metrics: &metrics,
        },
    };
    let mut failure = output.run(assessor);
    watchdog::notify_systemd(sd_notify::NotifyState::Stopping);
    join(running.workers, running.captures, &mut failure);
    if let Some(unfinished) = statuses.iter().find(|s| !s.finished) {
        tracing::error!(
            worker = unfinished.worker,
            "A packet worker ended without reporting its last counters."
        );
    }
    published.publish(&statuses, assessor);

    // The drain: alerts still queued and the inventory's last batch, all by one deadline
    // that the watchdog knows, so a slow drain is never taken for a stuck loop.
    let started = Instant::now();
    let deadline = started.checked_add(SHUTDOWN_GRACE).unwrap_or(started);
    let drain_micros =
        i64::try_from(SHUTDOWN_GRACE.saturating_add(DRAIN_SLACK).as_micros()).unwrap_or(i64::MAX);
    loops.draining(Timestamp::now().add_micros(drain_micros));
    loops.idle(output_slot);
    let finished = pipeline.finish(Some(deadline));
    if let Some(failure_in_alerts) = finished.alerts_failure {
        failure.get_or_insert(failure_in_alerts);
    }
    let assessment = finished.assessment;
    let inventory_loss = finished.inventory_failure.map(|e| e.to_string());
    if let Some(stats) = &inventory_stats {
        metrics.publish_inventory(stats);
    }
    let (stats, last_seen) = totals(&statuses);
    if let Err(e) = out
        .stats(last_seen, &stats, &assessment)
        .and_then(|()| out.finish().map(drop))
    {
        failure.get_or_insert_with(|| format!("writing events: {e}"));
    }
    drop(watchdog);
    if let Some(s) = &mut server {
        s.stop();
    }
    let losses = Losses {
        events: health.events_lost(),
        alerts: assessment
            .sinks
            .iter()
            .map(|s| s.failed.saturating_add(s.dropped))
            .sum(),
        inventory: inventory_loss,
    };
    for s in &assessment.sinks {
        if s.failed > 0 || s.dropped > 0 {
            tracing::warn!(sink = %s.sink, sent = s.sent, failed = s.failed, dropped = s.dropped, "Some alerts were not delivered.");
        }
    }
    outcome(failure.or_else(|| health.failure()), &losses)
}

/// Starts the HTTP endpoint.
fn serve(h: &HttpSettings, shared: http::Shared) -> Result<http::HttpServer, SensorError> {
    let tls = h
        .tls
        .as_ref()
        .map(|(cert, key)| http::tls_config(cert, key))
        .transpose()?;
    let server = http::start(h.listen, shared, h.auth.clone(), tls)?;
    tracing::info!(addr = %server.addr, "Serving /metrics, /healthz, /readyz, /flows.");
    Ok(server)
}

/// Waits for the packet workers and capture threads, which have ended or end within their
/// drain time once the report channel is closed (it closes only when every worker has).
fn join(workers: Vec<JoinHandle<()>>, captures: Vec<JoinHandle<()>>, failure: &mut Option<String>) {
    for (worker, t) in workers.into_iter().enumerate() {
        if t.join().is_err() {
            failure.get_or_insert_with(|| {
                format!("packet worker {worker} panicked; the flows it held were not ended")
            });
        }
    }
    for t in captures {
        if t.join().is_err() {
            failure.get_or_insert_with(|| "a capture thread panicked".to_owned());
        }
    }
}

/// How the sensor ends: cleanly, or with an error naming why it stopped and what was not
/// written.
fn outcome(failure: Option<String>, losses: &Losses) -> Result<(), SensorError> {
    match (failure, losses.describe()) {
        (None, None) => {
            tracing::info!("Stopped; everything was written.");
            Ok(())
        }
        (cause, lost) => {
            let message = match (cause, lost) {
                (Some(cause), Some(lost)) => format!("stopped after a failure ({cause}); {lost}"),
                (Some(cause), None) => {
                    format!("stopped after a failure ({cause}); nothing else was lost")
                }
                (None, Some(lost)) => format!("stopped; {lost}"),
                (None, None) => "stopped".to_owned(),
            };
            tracing::error!("{message}");
            Err(SensorError::Stopped(message))
        }
    }
}

/// What a stopping sensor could not write.
struct Losses {
    /// Events not written to the event stream.
    events: u64,
    /// Alerts not delivered by the alert sinks (given up on, or dropped from a full
    /// queue).
    alerts: u64,
    /// The inventory's own account of what it could not write.
    inventory: Option<String>,
}

impl Losses {
    /// The losses in words, or `None` when nothing was lost.
    fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.events > 0 {
            parts.push(format!("{} events not written", self.events));
        }
        if self.alerts > 0 {
            parts.push(format!("{} alerts not delivered", self.alerts));
        }
        if let Some(inventory) = &self.inventory {
            parts.push(inventory.clone());
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Opens every interface once per worker: `[worker][interface]`. With more than one
/// worker, each interface's sockets form one fanout group, so the kernel hands every
/// flow, both directions, to one worker; the kernel buffer is split between them so
/// `buffer_bytes` stays the interface's total.
fn open_captures(
    interfaces: &[LiveOptions],
    workers: usize,
) -> Result<Vec<Vec<LiveCapture>>, SensorError> {
    let mut captures: Vec<Vec<LiveCapture>> = (0..workers).map(|_| Vec::new()).collect();
    for options in interfaces {
        let mut options = options.clone();
        if workers > 1 {
            options.fanout = Some(fanout::Membership::default());
            let per_socket = i32::try_from(workers)
                .ok()
                .and_then(|w| options.buffer_bytes.checked_div(w))
                .unwrap_or(options.buffer_bytes);
            options.buffer_bytes = per_socket.max(MIN_SOCKET_BUFFER);
        }
        for sockets in &mut captures {
            sockets.push(LiveCapture::open(&options)?);
        }
    }
    Ok(captures)
}

/// What every packet worker shares.
struct WorkerShared<'a> {
    signatures: &'a Arc<Database>,
    dns_cache: &'a SharedDnsCache,
    /// Model-server routes seen per server, for all workers.
    sightings: &'a ServerSightings,
    loops: &'a Arc<LoopState>,
    /// The open AI flows the output loop keeps, whose traffic workers report.
    open_flows: &'a OpenAiFlows,
    capture_stop: &'a Arc<AtomicBool>,
}

/// The running packet workers and the capture threads that feed them.
struct Running {
    workers: Vec<JoinHandle<()>>,
    captures: Vec<JoinHandle<()>>,
    /// Capture counters by worker, then interface.
    counts: Vec<Vec<Arc<Mutex<CaptureCounts>>>>,
    /// Where reloaded signature databases go, a sender per worker.
    reload: Vec<std::sync::mpsc::Sender<Arc<Database>>>,
}

impl Running {
    /// Why the sensor must stop, when a packet worker or a capture thread has ended
    /// while it runs: the flows they would see go unseen.
    fn unexpected_end(&self) -> Option<String> {
        if let Some(worker) = self.workers.iter().position(JoinHandle::is_finished) {
            return Some(format!("packet worker {worker} stopped unexpectedly"));
        }
        self.captures
            .iter()
            .position(JoinHandle::is_finished)
            .map(|t| format!("capture thread {t} stopped unexpectedly"))
    }
}

/// Starts a packet worker per entry of `captures` (its sockets, by interface) and a
/// capture thread per socket; the workers report to `output`.
fn start_workers(
    captures: Vec<Vec<LiveCapture>>,
    settings: &Settings,
    shared: &WorkerShared<'_>,
    output: &SyncSender<Report>,
) -> Result<Running, SensorError> {
    // Each worker gets an equal share of the flow table and buffer bounds, so the
    // configured totals hold for the sensor as a whole.
    let workers = captures.len().max(1);
    let share = |total: usize| total.div_ceil(workers).max(1);
    let mut engine_config = settings.engine;
    engine_config.max_flows = share(engine_config.max_flows);
    engine_config.buffer_budget_bytes = share(engine_config.buffer_budget_bytes);
    engine_config.defrag_budget_bytes = share(engine_config.defrag_budget_bytes);
    let mut running = Running {
        workers: Vec::new(),
        captures: Vec::new(),
        counts: Vec::new(),
        reload: Vec::new(),
    };
    for (index, sockets) in captures.into_iter().enumerate() {
        let (batch_tx, batch_rx) = sync_channel::<Batch>(QUEUE_BATCHES);
        let mut pools = Vec::new();
        let mut counts = Vec::new();
        for (interface, capture) in sockets.into_iter().enumerate() {
            let (pool_tx, pool_rx) = sync_channel::<Batch>(QUEUE_BATCHES);
            let count = Arc::new(Mutex::new(CaptureCounts::default()));
            let link = CaptureLink {
                batches: batch_tx.clone(),
                pool: pool_rx,
                counts: Arc::clone(&count),
                stop: Arc::clone(shared.capture_stop),
                worker: index,
            };
            running.captures.push(
                live::spawn(interface, capture, link)
                    .map_err(io_error("starting a capture thread"))?,
            );
            pools.push(pool_tx);
            counts.push(count);
        }
        let mut engine = Engine::with_dns_cache(
            engine_config,
            Arc::clone(shared.signatures),
            shared.dns_cache.clone(),
        );
        engine.publish_activity(shared.loops.flow_cell(index));
        engine.share_model_server_sightings(shared.sightings.clone());
        engine.name_interfaces(settings.interfaces.iter().map(|i| i.interface.as_str()));
        let (reload_tx, reload_rx) = std::sync::mpsc::channel();
        running.workers.push(
            worker::spawn(Worker {
                index,
                engine,
                batches: batch_rx,
                pools,
                output: output.clone(),
                signatures: reload_rx,
                loops: Arc::clone(shared.loops),
                watched: Arc::clone(shared.open_flows),
            })
            .map_err(io_error("starting a packet worker"))?,
        );
        running.reload.push(reload_tx);
        running.counts.push(counts);
    }
    Ok(running)
}

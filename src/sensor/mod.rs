//! `aigress run`: the live sensor.
//!
//! ```text
//! capture threads ──batches──► packet loop (this thread) ──► HTTP thread (tokio)
//! (one per interface)          engine → assess → metrics → EVE   /metrics /flows …
//!          ▲──── emptied batches ──┘
//! ```
//!
//! The packet loop owns the engine and every sink, so nothing on the packet path is
//! shared or locked. Each second it lets idle flows expire, closes deduplication
//! windows, publishes counters, flushes output, and looks at the signal flags: SIGHUP
//! reloads the signatures, policy and GeoIP databases (built and checked before the
//! swap; a broken file keeps the old ones and counts a failed reload) and reopens the
//! output files; SIGTERM or SIGINT stops the captures, drains every batch in flight,
//! ends every flow, flushes the sinks and returns.

pub mod http;
pub mod watchdog;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::alert::sinks::{
    AlertSink, FileSink, SyslogSink, WebhookConfig, WebhookError, WebhookSink,
};
use crate::assess::Assessor;
use crate::capture::live::{self, Batch, CaptureLink, LiveCapture, LiveError, LiveOptions};
use crate::engine::{Engine, EngineConfig};
use crate::event::EventSink;
use crate::inventory::store::{Location, Store, StoreError};
use crate::inventory::{InventoryOptions, InventorySink, KnownPairs, PolicyHandle};
use crate::landing::{LandingContext, LandingError};
use crate::metrics::{CaptureCounts, Metrics, MetricsError, MetricsSink, OpenAiFlows};
use crate::output::JsonSink;
use crate::output::reopening::ReopeningFile;
use crate::policy::{Policy, PolicyError};
use crate::signatures::{Database, DatabaseError, LoadError};
use crate::time::Timestamp;
use watchdog::{LoopState, Watchdog};

/// Batches waiting for the packet loop, per sensor.
const QUEUE_BATCHES: usize = 64;
/// How often the loop does its housekeeping.
const TICK: Duration = Duration::from_secs(1);

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
    Webhook(#[from] WebhookError),
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
            policy.as_deref(),
        )?);
        Ok(Judging {
            signatures,
            policy,
            landing,
        })
    }
}

/// The alert outputs besides the event stream.
#[derive(Debug, Clone, Default)]
pub struct AlertOutputs {
    pub file: Option<PathBuf>,
    pub webhook: Option<WebhookConfig>,
    pub syslog: Option<SocketAddr>,
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

/// Where events are written: stdout, or a file reopened (at the next flush) once asked.
enum EventOut {
    Stdout(io::BufWriter<io::Stdout>),
    File(ReopeningFile),
}

impl EventOut {
    fn open(path: Option<&PathBuf>, reopen: &Arc<AtomicBool>) -> io::Result<Self> {
        Ok(match path {
            Some(p) if p.as_os_str() != "-" => {
                Self::File(ReopeningFile::open(p, Arc::clone(reopen))?)
            }
            _ => Self::Stdout(io::BufWriter::new(io::stdout())),
        })
    }
}

impl Write for EventOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Stdout(s) => s.write(buf),
            Self::File(f) => f.write(buf),
        }
    }

    /// The packet loop flushes between events, so this is where a file is reopened.
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Stdout(s) => s.flush(),
            Self::File(f) => {
                f.flush()?;
                f.reopen_if_asked()
            }
        }
    }
}

fn alert_sinks(
    outputs: &AlertOutputs,
    reopen: &Arc<AtomicBool>,
) -> Result<Vec<Box<dyn AlertSink>>, SensorError> {
    let mut sinks: Vec<Box<dyn AlertSink>> = Vec::new();
    if let Some(path) = &outputs.file {
        sinks.push(Box::new(
            FileSink::open(path, Arc::clone(reopen)).map_err(io_error("opening the alert file"))?,
        ));
    }
    if let Some(config) = &outputs.webhook {
        sinks.push(Box::new(WebhookSink::start(config.clone())?));
    }
    if let Some(addr) = outputs.syslog {
        sinks.push(Box::new(
            SyslogSink::open(addr).map_err(io_error("opening the syslog socket"))?,
        ));
    }
    Ok(sinks)
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
    let judging = settings.sources.load()?;
    let captures = settings
        .interfaces
        .iter()
        .map(LiveCapture::open)
        .collect::<Result<Vec<_>, _>>()?;
    let metrics = Arc::new(Metrics::new()?);
    metrics.set_signatures(&judging.signatures);
    let open_flows: OpenAiFlows = Arc::default();
    let ready = Arc::new(AtomicBool::new(false));
    let loop_state = Arc::new(LoopState::new(settings.stall_after));
    let policy_handle: PolicyHandle = Arc::new(RwLock::new(judging.policy.clone()));
    let mut server = match &settings.http {
        Some(h) => {
            let tls = h
                .tls
                .as_ref()
                .map(|(cert, key)| http::tls_config(cert, key))
                .transpose()?;
            let shared = http::Shared {
                metrics: Arc::clone(&metrics),
                flows: Arc::clone(&open_flows),
                ready: Arc::clone(&ready),
                packet_loop: Arc::clone(&loop_state),
                inventory: settings.inventory.as_ref().map(|(location, _)| {
                    http::InventoryReports {
                        location: location.clone(),
                        signatures: Arc::clone(&judging.signatures),
                        policy: Arc::clone(&policy_handle),
                    }
                }),
            };
            let server = http::start(h.listen, shared, h.auth.clone(), tls)?;
            tracing::info!(addr = %server.addr, "Serving /metrics, /healthz, /readyz, /flows.");
            Some(server)
        }
        None => None,
    };
    // Outputs are opened while still privileged, like the captures; files reopened on
    // SIGHUP later must be writable by the user dropped to.
    let mut out = JsonSink::new(
        EventOut::open(settings.events.as_ref(), &signals.reopen_events)
            .map_err(io_error("opening the event output"))?,
    );
    let sinks = alert_sinks(&settings.alerts, &signals.reopen_alerts)?;
    let store = settings
        .inventory
        .as_ref()
        .map(|(location, options)| Store::connect(location).map(|s| (s, options.clone())))
        .transpose()?;
    if let Some(user) = &settings.user {
        drop_privileges(user)?;
    }

    let (tx, rx) = sync_channel::<Batch>(QUEUE_BATCHES);
    let capture_stop = Arc::new(AtomicBool::new(false));
    let mut pools = Vec::new();
    let mut counts = Vec::new();
    let mut threads = Vec::new();
    for (index, capture) in captures.into_iter().enumerate() {
        let (pool_tx, pool_rx) = sync_channel::<Batch>(QUEUE_BATCHES);
        let count = Arc::new(Mutex::new(CaptureCounts::default()));
        let name = capture.interface().to_owned();
        let link = CaptureLink {
            batches: tx.clone(),
            pool: pool_rx,
            counts: Arc::clone(&count),
            stop: Arc::clone(&capture_stop),
        };
        threads.push(
            live::spawn(index, capture, link).map_err(io_error("starting a capture thread"))?,
        );
        pools.push(pool_tx);
        counts.push((name, count));
    }
    drop(tx);

    let mut known = KnownPairs::default();
    let mut inventory = match store {
        Some((store, options)) => {
            known = KnownPairs::load(&store, options.pseudonymiser.clone())?;
            InventorySink::new(store, options, Arc::clone(&policy_handle), &mut out)?
        }
        None => InventorySink::disabled(&mut out),
    };
    let inventory_stats = inventory.writer_stats();
    let mut metrics_sink = MetricsSink::new(
        Arc::clone(&metrics),
        Arc::clone(&open_flows),
        &mut inventory,
    );
    let mut assessor = Assessor::new(
        Arc::clone(&judging.landing),
        judging.policy.clone(),
        &mut metrics_sink,
        sinks,
    );
    assessor.set_known_pairs(known);
    let mut engine = Engine::new(settings.engine, Arc::clone(&judging.signatures));
    engine.publish_activity(loop_state.flow_cell());
    engine.name_interfaces(settings.interfaces.iter().map(|i| i.interface.as_str()));
    let watchdog = Watchdog::start(
        Arc::clone(&loop_state),
        Arc::clone(&metrics),
        Arc::clone(&signals.stop),
    )
    .map_err(io_error("starting the watchdog"))?;
    ready.store(true, Ordering::Relaxed);
    watchdog::notify_systemd(sd_notify::NotifyState::Ready);
    tracing::info!(
        interfaces = ?settings.interfaces.iter().map(|i| i.interface.as_str()).collect::<Vec<_>>(),
        signatures = %judging.signatures.version,
        policy = ?settings.sources.policy,
        "Capturing."
    );

    let mut last_tick = Instant::now();
    let mut stopping = false;
    let result = loop {
        loop_state.idle();
        let received = rx.recv_timeout(Duration::from_millis(200));
        loop_state.busy(Timestamp::now());
        match received {
            Ok(batch) => {
                let mut failed = None;
                for packet in batch.packets() {
                    if let Err(e) = engine.process(batch.link, &packet, &mut assessor) {
                        failed = Some(e);
                        break;
                    }
                }
                if let Some(pool) = pools.get(batch.interface) {
                    // A full pool just lets the batch go; the capture makes a new one.
                    let _ = pool.try_send(batch);
                }
                if let Some(e) = failed {
                    break Err(io_error("writing events")(e));
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            // Every capture thread has ended: stopping is complete.
            Err(RecvTimeoutError::Disconnected) => break Ok(()),
        }
        if signals.stop.load(Ordering::Relaxed) && !stopping {
            tracing::info!("Stopping: draining the captures.");
            stopping = true;
            ready.store(false, Ordering::Relaxed);
            capture_stop.store(true, Ordering::Relaxed);
        }
        if last_tick.elapsed() < TICK {
            continue;
        }
        last_tick = Instant::now();
        let now = Timestamp::now();
        if let Err(e) = engine
            .advance(now, &mut assessor)
            .and_then(|()| assessor.tick(now))
            .and_then(|()| assessor.flush())
        {
            break Err(io_error("writing events")(e));
        }
        if signals.reload.swap(false, Ordering::Relaxed) {
            match settings.sources.load() {
                Ok(j) => {
                    engine.set_signatures(Arc::clone(&j.signatures));
                    assessor.set_landing(j.landing);
                    *policy_handle
                        .write()
                        .unwrap_or_else(PoisonError::into_inner) = j.policy.clone();
                    assessor.set_policy(j.policy);
                    metrics.set_signatures(&j.signatures);
                    metrics.reloaded(true);
                    tracing::info!(signatures = %j.signatures.version, "Reloaded signatures, policy and GeoIP databases.");
                }
                Err(e) => {
                    metrics.reloaded(false);
                    tracing::error!(error = %e, "Reload failed; keeping the signatures, policy and GeoIP databases in use.");
                }
            }
        }
        let sent = publish(&metrics, &engine, &assessor, &counts, &open_flows);
        if let Some(stats) = &inventory_stats {
            metrics.publish_inventory(stats);
        }
        if let Err(e) = assessor.upload_progress(&sent, now) {
            break Err(io_error("writing events")(e));
        }
    };
    watchdog::notify_systemd(sd_notify::NotifyState::Stopping);
    capture_stop.store(true, Ordering::Relaxed);
    // After an output error the loop no longer drains the queue: closing it unblocks a
    // capture thread waiting to hand over a batch, so it can end.
    drop(rx);
    for t in threads {
        if t.join().is_err() {
            tracing::error!("A capture thread stopped abnormally.");
        }
    }
    result?;
    engine
        .finish(&mut assessor)
        .map_err(io_error("writing events"))?;
    publish(&metrics, &engine, &assessor, &counts, &open_flows);
    let assessment = assessor.finish().map_err(io_error("delivering alerts"))?;
    for s in &assessment.sinks {
        if s.failed > 0 || s.dropped > 0 {
            tracing::warn!(sink = %s.sink, sent = s.sent, failed = s.failed, dropped = s.dropped, "Some alerts were not delivered.");
        }
    }
    drop(metrics_sink);
    inventory.finish()?;
    out.stats(engine.last_seen(), &engine.stats(), &assessment)
        .and_then(|()| out.finish().map(drop))
        .map_err(io_error("writing events"))?;
    drop(watchdog);
    if let Some(s) = &mut server {
        s.stop();
    }
    tracing::info!("Stopped.");
    Ok(())
}

/// Publishes the counters, and returns what each open AI flow has sent so far
/// (`(flow id, bytes to the server)`).
fn publish(
    metrics: &Metrics,
    engine: &Engine,
    assessor: &Assessor<'_>,
    counts: &[(String, Arc<Mutex<CaptureCounts>>)],
    open_flows: &OpenAiFlows,
) -> Vec<(u64, u64)> {
    let mut progress = Vec::new();
    {
        let mut open = open_flows.lock().unwrap_or_else(PoisonError::into_inner);
        if !open.is_empty() {
            engine.for_each_flow(|id, sent, received| {
                if let Some(flow) = open.get_mut(&id) {
                    metrics.ai_flow_progress(flow, sent, received);
                    progress.push((id, sent));
                }
            });
        }
    }
    metrics.publish_engine(
        &engine.stats(),
        engine.flows_active(),
        engine.dns_cache_entries(),
        engine.buffered_bytes(),
        engine.last_seen(),
    );
    for (name, count) in counts {
        let c = *count.lock().unwrap_or_else(PoisonError::into_inner);
        metrics.publish_capture(name, c);
    }
    for (kind, stats) in assessor.sink_stats() {
        metrics.publish_sink(kind, &stats);
    }
    progress
}

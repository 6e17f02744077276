//! Every Prometheus metric aigress exports, defined in one place.
//!
//! Conventions: the `aigress_` prefix, base units (bytes, seconds), `_total` on counters,
//! and only bounded labels — interface, reason, transport, vendor, product, kind, landing
//! country, verdict, rule, severity, sink — never an address or a host name.
//!
//! The engine counts in plain integers on its own thread; [`Metrics::publish_engine`]
//! adds what changed since the last call, so the packet path never touches an atomic.
//! AI flows and alerts are counted by [`MetricsSink`] as events pass through.

use std::collections::BTreeMap;
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use prometheus::{
    Encoder, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use serde::Serialize;

use crate::alert::sinks::SinkStats;
use crate::decode::DecodeError;
use crate::engine::Stats;
use crate::event::{Body, Event, EventSink};
use crate::guard::Guard;
use crate::signatures::Database;
use crate::time::Timestamp;

/// Capture counters of one interface, as libpcap reports them (cumulative over reopens).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureCounts {
    pub received: u64,
    pub dropped_kernel: u64,
    pub dropped_interface: u64,
    pub reopens: u64,
}

impl CaptureCounts {
    /// Adds the counts of another socket on the same interface (another packet worker's).
    pub fn absorb(&mut self, other: Self) {
        self.received = self.received.saturating_add(other.received);
        self.dropped_kernel = self.dropped_kernel.saturating_add(other.dropped_kernel);
        self.dropped_interface = self
            .dropped_interface
            .saturating_add(other.dropped_interface);
        self.reopens = self.reopens.saturating_add(other.reopens);
    }
}

/// What one packet worker did, for its own series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerCounts {
    /// Packets its engine processed.
    pub packets: u64,
    /// Packets the kernel or interface dropped before its sockets read them.
    pub dropped: u64,
    pub flows_active: usize,
}

/// The registry and every metric in it.
pub struct Metrics {
    pub registry: Registry,
    packets: IntCounter,
    bytes: IntCounter,
    snaplen_truncated: IntCounter,
    decode_errors: IntCounterVec,
    other_transport: IntCounter,
    flows: IntCounter,
    flows_timed_out: IntCounter,
    flows_evicted: IntCounter,
    flows_active: IntGauge,
    client_hellos: IntCounterVec,
    dns_messages: IntCounterVec,
    http_requests: IntCounter,
    dns_cache_entries: IntGauge,
    reassembly_gaps: IntCounter,
    guard_trips: IntCounterVec,
    buffered_bytes: IntGauge,
    loop_stalled: IntGauge,
    capture_received: IntCounterVec,
    capture_dropped: IntCounterVec,
    capture_reopens: IntCounterVec,
    worker_packets: IntCounterVec,
    worker_dropped: IntCounterVec,
    worker_flows_active: IntGaugeVec,
    ai_flows: IntCounterVec,
    ai_bytes_sent: IntCounterVec,
    ai_bytes_received: IntCounterVec,
    saas_ai_flows: IntCounterVec,
    saas_ai_bytes_sent: IntCounterVec,
    model_downloads: IntCounterVec,
    model_download_bytes: IntCounterVec,
    ai_flows_active: IntGauge,
    alerts: IntCounterVec,
    alert_sink: IntCounterVec,
    signature_info: IntGaugeVec,
    signature_vendors: IntGauge,
    signature_date: IntGauge,
    inventory_batches: IntCounterVec,
    inventory_write_failures: IntCounter,
    inventory_rows_waiting: IntGauge,
    inventory_rows_dropped: IntCounter,
    inventory_rows_refused: IntCounter,
    signature_endpoints: IntGauge,
    reloads: IntCounterVec,
    last_packet: IntGauge,
    /// What was published last, to add only the change.
    published: Mutex<Published>,
}

#[derive(Default)]
struct Published {
    engine: Stats,
    captures: BTreeMap<String, CaptureCounts>,
    workers: BTreeMap<usize, WorkerCounts>,
    sinks: BTreeMap<String, SinkStats>,
}

/// Why the metrics could not be set up (a name registered twice: a bug).
#[derive(Debug, thiserror::Error)]
#[error("setting up metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

fn counter(r: &Registry, name: &str, help: &str) -> Result<IntCounter, prometheus::Error> {
    let c = IntCounter::new(name, help)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn counter_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntCounterVec, prometheus::Error> {
    let c = IntCounterVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(c.clone()))?;
    Ok(c)
}

fn gauge(r: &Registry, name: &str, help: &str) -> Result<IntGauge, prometheus::Error> {
    let g = IntGauge::new(name, help)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

fn gauge_vec(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
) -> Result<IntGaugeVec, prometheus::Error> {
    let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
    r.register(Box::new(g.clone()))?;
    Ok(g)
}

/// The labels of the AI flow metrics.
const AI_LABELS: [&str; 4] = ["vendor", "product", "kind", "landing_country"];

fn delta(new: u64, old: u64) -> u64 {
    new.saturating_sub(old)
}

impl Metrics {
    /// A registry with every metric, the build info set.
    ///
    /// # Errors
    /// Only on a programming error (a metric defined twice).
    pub fn new() -> Result<Self, MetricsError> {
        let r = Registry::new();
        let build = gauge_vec(
            &r,
            "aigress_build_info",
            "aigress version; always 1.",
            &["version"],
        )?;
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let m = Self {
            packets: counter(
                &r,
                "aigress_packets_total",
                "Packets read from the capture.",
            )?,
            bytes: counter(
                &r,
                "aigress_bytes_total",
                "Bytes on the wire of the packets read.",
            )?,
            snaplen_truncated: counter(
                &r,
                "aigress_snaplen_truncated_packets_total",
                "Packets the capture's snap length cut short.",
            )?,
            decode_errors: counter_vec(
                &r,
                "aigress_decode_errors_total",
                "Packets not decoded to a transport header, by reason.",
                &["reason"],
            )?,
            other_transport: counter(
                &r,
                "aigress_other_transport_packets_total",
                "IP packets of protocols aigress tracks no flow for (IGMP, OSPF, PIM, …).",
            )?,
            flows: counter(&r, "aigress_flows_total", "Flows created.")?,
            flows_timed_out: counter(
                &r,
                "aigress_flows_timed_out_total",
                "Flows ended by their idle timeout.",
            )?,
            flows_evicted: counter(
                &r,
                "aigress_flows_evicted_total",
                "Flows evicted to keep the flow table within its bound.",
            )?,
            flows_active: gauge(&r, "aigress_flows_active", "Flows in the flow table.")?,
            client_hellos: counter_vec(
                &r,
                "aigress_client_hellos_total",
                "TLS and QUIC ClientHellos, read or unreadable, by transport.",
                &["transport", "result"],
            )?,
            dns_messages: counter_vec(
                &r,
                "aigress_dns_messages_total",
                "DNS messages, valid or invalid.",
                &["result"],
            )?,
            http_requests: counter(
                &r,
                "aigress_http_requests_total",
                "HTTP/1.x request heads read.",
            )?,
            dns_cache_entries: gauge(
                &r,
                "aigress_dns_cache_entries",
                "Addresses remembered from DNS answers.",
            )?,
            reassembly_gaps: counter(
                &r,
                "aigress_tcp_reassembly_gaps_total",
                "TCP holes given up on while reassembling handshakes.",
            )?,
            guard_trips: counter_vec(
                &r,
                "aigress_inspection_guard_trips_total",
                "Inspections ended by a bound on work or memory, by guard.",
                &["guard"],
            )?,
            buffered_bytes: gauge(
                &r,
                "aigress_buffered_bytes",
                "Bytes held for ClientHellos, request heads and DNS messages still arriving, all flows together.",
            )?,
            loop_stalled: gauge(
                &r,
                "aigress_packet_loop_stalled",
                "1 while a packet worker or the output loop has been inside one batch longer than the watchdog's bound.",
            )?,
            capture_received: counter_vec(
                &r,
                "aigress_capture_received_packets_total",
                "Packets the capture received, as libpcap counts them.",
                &["interface"],
            )?,
            capture_dropped: counter_vec(
                &r,
                "aigress_capture_dropped_packets_total",
                "Packets dropped before aigress read them: by the kernel (buffer full) or the interface.",
                &["interface", "by"],
            )?,
            capture_reopens: counter_vec(
                &r,
                "aigress_capture_reopens_total",
                "Times an interface's capture failed and was opened again.",
                &["interface"],
            )?,
            worker_packets: counter_vec(
                &r,
                "aigress_worker_packets_total",
                "Packets a packet worker processed (the kernel hands each worker whole flows).",
                &["worker"],
            )?,
            worker_dropped: counter_vec(
                &r,
                "aigress_worker_dropped_packets_total",
                "Packets dropped before a packet worker's capture sockets read them (kernel or interface), over all interfaces.",
                &["worker"],
            )?,
            worker_flows_active: gauge_vec(
                &r,
                "aigress_worker_flows_active",
                "Flows in a packet worker's flow table now.",
                &["worker"],
            )?,
            ai_flows: counter_vec(
                &r,
                "aigress_ai_flows_total",
                "Finished flows to AI endpoints.",
                &["vendor", "product", "kind", "landing_country", "verdict"],
            )?,
            ai_bytes_sent: counter_vec(
                &r,
                "aigress_ai_sent_bytes_total",
                "Bytes sent to AI endpoints (client to server), counted when the flow ends.",
                &AI_LABELS,
            )?,
            ai_bytes_received: counter_vec(
                &r,
                "aigress_ai_received_bytes_total",
                "Bytes received from AI endpoints, counted when the flow ends.",
                &AI_LABELS,
            )?,
            saas_ai_flows: counter_vec(
                &r,
                "aigress_saas_ai_flows_total",
                "Finished flows to SaaS whose AI features send data to AI sub-processors (kept apart from direct AI flows).",
                &["vendor", "product", "verdict"],
            )?,
            saas_ai_bytes_sent: counter_vec(
                &r,
                "aigress_saas_ai_sent_bytes_total",
                "Bytes sent to SaaS whose AI features send data to AI sub-processors, counted when the flow ends.",
                &["vendor", "product"],
            )?,
            model_downloads: counter_vec(
                &r,
                "aigress_model_downloads_total",
                "Flows that downloaded 1 MiB or more from a model hub (model_download events).",
                &["vendor", "product"],
            )?,
            model_download_bytes: counter_vec(
                &r,
                "aigress_model_download_bytes_total",
                "Bytes received by those downloads.",
                &["vendor", "product"],
            )?,
            ai_flows_active: gauge(
                &r,
                "aigress_ai_flows_active",
                "Flows to AI endpoints open now.",
            )?,
            alerts: counter_vec(
                &r,
                "aigress_alerts_total",
                "Alerts written (summaries of repeats included), by rule, severity and vendor (none for visibility gaps).",
                &["rule", "severity", "vendor"],
            )?,
            alert_sink: counter_vec(
                &r,
                "aigress_alert_sink_alerts_total",
                "Alerts handed to each sink: sent, failed after every retry, or dropped by a full queue.",
                &["sink", "result"],
            )?,
            signature_info: gauge_vec(
                &r,
                "aigress_signature_database_info",
                "The signature database in use; always 1.",
                &["version", "date"],
            )?,
            signature_date: gauge(
                &r,
                "aigress_signature_database_date_timestamp_seconds",
                "The date of the signature database in use (its database.toml), as Unix time: time() minus it is the database's age.",
            )?,
            signature_vendors: gauge(
                &r,
                "aigress_signature_vendors",
                "Vendors in the signature database.",
            )?,
            signature_endpoints: gauge(
                &r,
                "aigress_signature_endpoints",
                "Endpoints in the signature database.",
            )?,
            inventory_batches: counter_vec(
                &r,
                "aigress_inventory_batches_total",
                "Inventory batches written (written) or found written before, a retry after a lost reply (repeated).",
                &["result"],
            )?,
            inventory_write_failures: counter(
                &r,
                "aigress_inventory_write_failures_total",
                "Failed attempts to write an inventory batch; each is retried with backoff.",
            )?,
            inventory_rows_waiting: gauge(
                &r,
                "aigress_inventory_rows_waiting",
                "Inventory rows held in memory, not yet in the database.",
            )?,
            inventory_rows_dropped: counter(
                &r,
                "aigress_inventory_dropped_rows_total",
                "Inventory rows dropped because the buffer was full while the database was away.",
            )?,
            inventory_rows_refused: counter(
                &r,
                "aigress_inventory_refused_rows_total",
                "Inventory rows the database refused for their content, each alone after its batch was split.",
            )?,
            reloads: counter_vec(
                &r,
                "aigress_reloads_total",
                "Reloads of signatures, policy and GeoIP databases (SIGHUP), by result.",
                &["result"],
            )?,
            last_packet: gauge(
                &r,
                "aigress_last_packet_timestamp_seconds",
                "Time of the latest packet read, seconds since the epoch.",
            )?,
            registry: r,
            published: Mutex::new(Published::default()),
        };
        for result in ["success", "failure"] {
            m.reloads.with_label_values(&[result]);
        }
        for e in DecodeError::ALL {
            m.decode_errors.with_label_values(&[e.reason()]);
        }
        Ok(m)
    }

    /// Shows `db` as the database in use.
    pub fn set_signatures(&self, db: &Database) {
        self.signature_info.reset();
        self.signature_info
            .with_label_values(&[db.version.as_str(), db.date.as_str()])
            .set(1);
        self.signature_vendors
            .set(i64::try_from(db.vendors.len()).unwrap_or(i64::MAX));
        let date = crate::signatures::load::checked_date(&db.date)
            .and_then(|d| d.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.signature_date.set(date);
        self.signature_endpoints
            .set(i64::try_from(db.endpoints.len()).unwrap_or(i64::MAX));
    }

    /// Shows the inventory writer's counters.
    pub fn publish_inventory(&self, stats: &crate::inventory::writer::WriterStats) {
        use std::sync::atomic::Ordering::Relaxed;
        let raise = |c: &IntCounter, to: u64| {
            if let Some(delta) = to.checked_sub(c.get()) {
                c.inc_by(delta);
            }
        };
        raise(
            &self.inventory_batches.with_label_values(&["written"]),
            stats.batches_written.load(Relaxed),
        );
        raise(
            &self.inventory_batches.with_label_values(&["repeated"]),
            stats.batches_repeated.load(Relaxed),
        );
        raise(
            &self.inventory_write_failures,
            stats.write_failures.load(Relaxed),
        );
        raise(
            &self.inventory_rows_dropped,
            stats.rows_dropped.load(Relaxed),
        );
        raise(
            &self.inventory_rows_refused,
            stats.rows_refused.load(Relaxed),
        );
        let waiting = stats
            .rows_waiting
            .load(Relaxed)
            .saturating_add(stats.rows_buffered.load(Relaxed));
        self.inventory_rows_waiting
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    pub fn reloaded(&self, ok: bool) {
        self.reloads
            .with_label_values(&[if ok { "success" } else { "failure" }])
            .inc();
    }

    /// Adds what the engine counted since the last call.
    pub fn publish_engine(
        &self,
        stats: &Stats,
        flows_active: usize,
        dns_entries: usize,
        buffered_bytes: usize,
        last_seen: Timestamp,
    ) {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let old = &published.engine;
        self.packets.inc_by(delta(stats.packets, old.packets));
        self.bytes.inc_by(delta(stats.bytes, old.bytes));
        self.snaplen_truncated
            .inc_by(delta(stats.snaplen_truncated, old.snaplen_truncated));
        for e in DecodeError::ALL {
            self.decode_errors
                .with_label_values(&[e.reason()])
                .inc_by(delta(stats.decode.get(e), old.decode.get(e)));
        }
        self.other_transport
            .inc_by(delta(stats.other_transport, old.other_transport));
        self.flows
            .inc_by(delta(stats.flows.created, old.flows.created));
        self.flows_timed_out
            .inc_by(delta(stats.flows.timed_out, old.flows.timed_out));
        self.flows_evicted
            .inc_by(delta(stats.flows.evicted, old.flows.evicted));
        let hellos = [
            (
                "tcp",
                "read",
                stats.protocols.tls.client_hellos,
                old.protocols.tls.client_hellos,
            ),
            (
                "tcp",
                "unreadable",
                stats.protocols.tls.client_hellos_unreadable,
                old.protocols.tls.client_hellos_unreadable,
            ),
            (
                "quic",
                "read",
                stats.protocols.quic.client_hellos,
                old.protocols.quic.client_hellos,
            ),
            (
                "quic",
                "unreadable",
                stats.protocols.quic.client_hellos_unreadable,
                old.protocols.quic.client_hellos_unreadable,
            ),
        ];
        for (transport, result, new, old) in hellos {
            self.client_hellos
                .with_label_values(&[transport, result])
                .inc_by(delta(new, old));
        }
        self.dns_messages
            .with_label_values(&["valid"])
            .inc_by(delta(
                stats.protocols.dns.messages,
                old.protocols.dns.messages,
            ));
        self.dns_messages
            .with_label_values(&["invalid"])
            .inc_by(delta(
                stats.protocols.dns.invalid,
                old.protocols.dns.invalid,
            ));
        self.http_requests.inc_by(delta(
            stats.protocols.http.requests,
            old.protocols.http.requests,
        ));
        self.reassembly_gaps
            .inc_by(delta(stats.reassembly_gaps, old.reassembly_gaps));
        for g in Guard::ALL {
            self.guard_trips
                .with_label_values(&[g.name()])
                .inc_by(delta(stats.guards.get(g), old.guards.get(g)));
        }
        self.buffered_bytes
            .set(i64::try_from(buffered_bytes).unwrap_or(i64::MAX));
        self.flows_active
            .set(i64::try_from(flows_active).unwrap_or(i64::MAX));
        self.dns_cache_entries
            .set(i64::try_from(dns_entries).unwrap_or(i64::MAX));
        if last_seen.micros() > 0 {
            self.last_packet.set(last_seen.micros() / 1_000_000);
        }
        published.engine = stats.clone();
    }

    /// Whether the watchdog finds the packet loop stuck.
    pub fn set_loop_stalled(&self, stalled: bool) {
        self.loop_stalled.set(i64::from(stalled));
    }

    /// Adds what an interface's capture counted since the last call.
    pub fn publish_capture(&self, interface: &str, counts: CaptureCounts) {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let old = published
            .captures
            .insert(interface.to_owned(), counts)
            .unwrap_or_default();
        self.capture_received
            .with_label_values(&[interface])
            .inc_by(delta(counts.received, old.received));
        self.capture_dropped
            .with_label_values(&[interface, "kernel"])
            .inc_by(delta(counts.dropped_kernel, old.dropped_kernel));
        self.capture_dropped
            .with_label_values(&[interface, "interface"])
            .inc_by(delta(counts.dropped_interface, old.dropped_interface));
        self.capture_reopens
            .with_label_values(&[interface])
            .inc_by(delta(counts.reopens, old.reopens));
    }

    /// Adds what packet worker `worker` did since the last call.
    pub fn publish_worker(&self, worker: usize, counts: WorkerCounts) {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let old = published.workers.insert(worker, counts).unwrap_or_default();
        let label = worker.to_string();
        self.worker_packets
            .with_label_values(&[label.as_str()])
            .inc_by(delta(counts.packets, old.packets));
        self.worker_dropped
            .with_label_values(&[label.as_str()])
            .inc_by(delta(counts.dropped, old.dropped));
        self.worker_flows_active
            .with_label_values(&[label.as_str()])
            .set(i64::try_from(counts.flows_active).unwrap_or(i64::MAX));
    }

    /// Adds what an alert sink did since the last call; `kind` is its bounded label
    /// (`file`, `webhook`, `syslog`).
    pub fn publish_sink(&self, kind: &str, stats: &SinkStats) {
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let old = published
            .sinks
            .insert(stats.sink.clone(), stats.clone())
            .unwrap_or_default();
        for (result, new, old) in [
            ("sent", stats.sent, old.sent),
            ("failed", stats.failed, old.failed),
            ("dropped", stats.dropped, old.dropped),
        ] {
            self.alert_sink
                .with_label_values(&[kind, result])
                .inc_by(delta(new, old));
        }
    }

    /// The text exposition format, for `/metrics`.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if let Err(e) = TextEncoder::new().encode(&self.registry.gather(), &mut out) {
            tracing::error!(error = %e, "Encoding metrics failed.");
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

/// An AI flow open now, for the sensor's `/flows` view.
#[derive(Debug, Clone, Serialize)]
pub struct OpenAiFlow {
    pub flow_id: u64,
    pub first_seen: Timestamp,
    pub src_ip: IpAddr,
    pub dest_ip: IpAddr,
    pub dest_port: u16,
    pub vendor: String,
    pub product: String,
    pub kind: &'static str,
    pub matched: String,
    pub landing_country: Option<String>,
    pub verdict: Option<&'static str>,
    /// Bytes counted in the AI byte metrics so far, each way.
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

impl OpenAiFlow {
    fn labels(&self) -> [&str; 4] {
        [
            self.vendor.as_str(),
            self.product.as_str(),
            self.kind,
            self.landing_country.as_deref().unwrap_or("unknown"),
        ]
    }
}

impl Metrics {
    /// Brings an open AI flow's byte counters up to `sent` and `received`, so long
    /// flows show in the metrics while they last, not only when they end.
    pub fn ai_flow_progress(&self, flow: &mut OpenAiFlow, sent: u64, received: u64) {
        let labels = flow.labels();
        self.ai_bytes_sent
            .with_label_values(&labels)
            .inc_by(delta(sent, flow.bytes_sent));
        self.ai_bytes_received
            .with_label_values(&labels)
            .inc_by(delta(received, flow.bytes_received));
        flow.bytes_sent = flow.bytes_sent.max(sent);
        flow.bytes_received = flow.bytes_received.max(received);
    }
}

/// The open AI flows, shared with the HTTP endpoint.
pub type OpenAiFlows = Arc<Mutex<BTreeMap<u64, OpenAiFlow>>>;

/// Counts AI flows, their bytes and alerts on their way to the output, and keeps the
/// view of open AI flows; without counters (an offline scan) it passes events on.
pub struct MetricsSink<S> {
    counters: Option<(Arc<Metrics>, OpenAiFlows)>,
    inner: S,
}

impl<S: EventSink> MetricsSink<S> {
    pub fn new(metrics: Arc<Metrics>, open: OpenAiFlows, inner: S) -> Self {
        Self {
            counters: Some((metrics, open)),
            inner,
        }
    }

    /// A stage that counts nothing.
    pub fn pass_through(inner: S) -> Self {
        Self {
            counters: None,
            inner,
        }
    }

    /// The next stage.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: EventSink> EventSink for MetricsSink<S> {
    fn event(&mut self, event: Event) -> io::Result<()> {
        let Some((metrics, open_flows)) = &self.counters else {
            return self.inner.event(event);
        };
        let landing = event
            .landing
            .as_ref()
            .and_then(|l| l.country.as_deref())
            .unwrap_or("unknown");
        if let (Body::Flow(f), Some(ai)) = (&event.body, &event.ai)
            && ai.indirect()
        {
            let labels = [ai.vendor.as_str(), ai.product.as_str()];
            let verdict = event.verdict.map_or("none", |v| v.as_str());
            metrics
                .saas_ai_flows
                .with_label_values(&[labels[0], labels[1], verdict])
                .inc();
            metrics
                .saas_ai_bytes_sent
                .with_label_values(&labels)
                .inc_by(f.bytes_toserver);
            return self.inner.event(event);
        }
        match (&event.body, &event.ai) {
            (Body::ModelDownload(d), Some(ai)) => {
                let labels = [ai.vendor.as_str(), ai.product.as_str()];
                metrics.model_downloads.with_label_values(&labels).inc();
                metrics
                    .model_download_bytes
                    .with_label_values(&labels)
                    .inc_by(d.bytes);
            }
            (Body::Alert(a, _), ai) => {
                let vendor = ai.as_ref().map_or("none", |ai| ai.vendor.as_str());
                metrics
                    .alerts
                    .with_label_values(&[a.rule.as_str(), a.severity.as_str(), vendor])
                    .inc_by(a.count);
            }
            (Body::Flow(f), ai) => {
                let mut open = open_flows.lock().unwrap_or_else(PoisonError::into_inner);
                let was_open = open.remove(&event.header.flow_id);
                metrics
                    .ai_flows_active
                    .set(i64::try_from(open.len()).unwrap_or(i64::MAX));
                drop(open);
                if let Some(ai) = ai {
                    let labels = [ai.vendor.as_str(), ai.product.as_str(), ai.kind, landing];
                    let verdict = event.verdict.map_or("none", |v| v.as_str());
                    metrics
                        .ai_flows
                        .with_label_values(&[labels[0], labels[1], labels[2], labels[3], verdict])
                        .inc();
                    match was_open {
                        // Bytes already published while the flow was open are not
                        // counted twice; its labels stay those it was published under.
                        Some(mut flow) => {
                            metrics.ai_flow_progress(&mut flow, f.bytes_toserver, f.bytes_toclient)
                        }
                        None => {
                            metrics
                                .ai_bytes_sent
                                .with_label_values(&labels)
                                .inc_by(f.bytes_toserver);
                            metrics
                                .ai_bytes_received
                                .with_label_values(&labels)
                                .inc_by(f.bytes_toclient);
                        }
                    }
                }
            }
            (body, Some(ai)) if body.about_its_flow() && !ai.indirect() => {
                let mut open = open_flows.lock().unwrap_or_else(PoisonError::into_inner);
                open.entry(event.header.flow_id)
                    .or_insert_with(|| OpenAiFlow {
                        flow_id: event.header.flow_id,
                        first_seen: event.header.timestamp,
                        src_ip: event.header.src_ip,
                        dest_ip: event.header.dest_ip,
                        dest_port: event.header.dest_port,
                        vendor: ai.vendor.clone(),
                        product: ai.product.clone(),
                        kind: ai.kind,
                        matched: ai.matched.clone(),
                        landing_country: event.landing.as_ref().and_then(|l| l.country.clone()),
                        verdict: event.verdict.map(|v| v.as_str()),
                        bytes_sent: 0,
                        bytes_received: 0,
                    });
                metrics
                    .ai_flows_active
                    .set(i64::try_from(open.len()).unwrap_or(i64::MAX));
            }
            _ => {}
        }
        self.inner.event(event)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_counters_are_published_as_deltas() {
        let m = Metrics::new().unwrap();
        let mut stats = Stats {
            packets: 10,
            bytes: 1000,
            ..Stats::default()
        };
        m.publish_engine(&stats, 3, 7, 0, Timestamp::from_secs(1_700_000_000));
        stats.packets = 15;
        m.publish_engine(&stats, 2, 7, 0, Timestamp::from_secs(1_700_000_001));
        let text = m.render();
        assert!(text.contains("aigress_packets_total 15\n"), "{text}");
        assert!(text.contains("aigress_bytes_total 1000\n"));
        assert!(text.contains("aigress_flows_active 2\n"));
        assert!(text.contains("aigress_build_info{version=\""));
        assert!(text.contains("aigress_reloads_total{result=\"failure\"} 0\n"));
    }

    #[test]
    fn open_ai_flows_publish_bytes_as_they_go_and_are_not_counted_twice() {
        use crate::ai::AiInfo;
        use crate::event::Header;
        use crate::protocols::flow::{FlowEndReason, FlowInfo};
        use crate::protocols::tls::TlsInfo;
        let metrics = Arc::new(Metrics::new().unwrap());
        let open = OpenAiFlows::default();
        let mut inner = crate::sink::JsonSink::new(Vec::new());
        let mut sink = MetricsSink::new(Arc::clone(&metrics), Arc::clone(&open), &mut inner);
        let header = Header::sample(7, Timestamp::from_secs(1));
        let ai = AiInfo {
            vendor: "openai".into(),
            vendor_name: "OpenAI".into(),
            product: "OpenAI API".into(),
            endpoint: "openai-api".into(),
            kind: "api",
            matched: "api.openai.com".into(),
            match_source: "sni",
            host: "api.openai.com".into(),
            host_evidence: "vendor",
            trains_on_inputs: "no",
            training_by_plan: None,
            region: None,
            region_country: None,
            processing: None,
            vendor_country: Some("US".into()),
            retention: None,
            eu_residency: None,
            inferred: Vec::new(),
            signatures_version: "test".into(),
            eea_alternative: None,
            routes_to_other_vendors: false,
            saas: None,
        };
        let tls = TlsInfo {
            sni: Some("api.openai.com".into()),
            alpn: vec![],
            version: None,
            client_version: "TLS 1.3".into(),
            ech: false,
            malformed: false,
            resumption: false,
            pq_key_share: false,
            ja4: String::new(),
        };
        let event = |body| Event {
            header: header.clone(),
            body,
            ai: Some(ai.clone()),
            landing: None,
            verdict: None,
        };
        sink.event(event(Body::Tls(tls))).unwrap();
        let series = "aigress_ai_sent_bytes_total{kind=\"api\",landing_country=\"unknown\",product=\"OpenAI API\",vendor=\"openai\"}";
        {
            let mut flows = open.lock().unwrap();
            let flow = flows.get_mut(&7).unwrap();
            metrics.ai_flow_progress(flow, 100, 1000);
        }
        assert!(metrics.render().contains(&format!("{series} 100\n")));
        // A closed one-second TLS flow that started at `start` seconds.
        let ended = |bytes_toserver, bytes_toclient, start| {
            Body::Flow(FlowInfo {
                pkts_toserver: 3,
                pkts_toclient: 3,
                bytes_toserver,
                bytes_toclient,
                start: Timestamp::from_secs(start),
                end: Timestamp::from_secs(start + 1),
                age: 1,
                state: "closed",
                reason: FlowEndReason::Timeout,
                app_proto: Some("tls"),
                app_proto_orig: None,
                sni: None,
                http_host: None,
                dns_name: None,
                hello_unreadable: false,
                detail: crate::flow::ProtocolDetail::None,
            })
        };
        sink.event(event(ended(150, 1200, 1))).unwrap();
        let text = metrics.render();
        assert!(text.contains(&format!("{series} 150\n")), "{text}");
        assert!(open.lock().unwrap().is_empty());

        // A flow to a SaaS whose AI runs at sub-processors counts in its own families.
        let slack = AiInfo {
            vendor: "slack".into(),
            product: "Slack".into(),
            kind: "saas",
            saas: Some(Arc::new(crate::ai::SaasAi {
                subprocessors: Vec::new(),
                ai_features: Vec::new(),
                ai_on_by_default: "unknown",
                admin_settings: None,
            })),
            ..ai.clone()
        };
        sink.event(Event {
            ai: Some(slack),
            ..event(ended(70, 90, 3))
        })
        .unwrap();
        let text = metrics.render();
        assert!(
            text.contains(
                "aigress_saas_ai_sent_bytes_total{product=\"Slack\",vendor=\"slack\"} 70\n"
            ),
            "{text}"
        );
        assert!(text.contains(
            "aigress_saas_ai_flows_total{product=\"Slack\",vendor=\"slack\",verdict=\"none\"} 1\n"
        ));
        assert!(text.contains(&format!("{series} 150\n")), "{text}");
        assert!(
            !text.contains("aigress_ai_sent_bytes_total{kind=\"saas\""),
            "{text}"
        );
    }

    #[test]
    fn capture_counts_survive_a_reopen() {
        let m = Metrics::new().unwrap();
        let c = CaptureCounts {
            received: 100,
            dropped_kernel: 2,
            ..CaptureCounts::default()
        };
        m.publish_capture("eth0", c);
        m.publish_capture(
            "eth0",
            CaptureCounts {
                received: 150,
                reopens: 1,
                ..c
            },
        );
        let text = m.render();
        assert!(text.contains("aigress_capture_received_packets_total{interface=\"eth0\"} 150"));
        assert!(
            text.contains(
                "aigress_capture_dropped_packets_total{by=\"kernel\",interface=\"eth0\"} 2"
            )
        );
        assert!(text.contains("aigress_capture_reopens_total{interface=\"eth0\"} 1"));
    }
}

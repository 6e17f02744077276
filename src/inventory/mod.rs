//! The auditor's inventory: a durable record of every AI data flow, aggregated per
//! internal host, vendor, product, endpoint, landing country and verdict, with the
//! client fingerprints seen and the alert log, in SQLite for one sensor or PostgreSQL for
//! a fleet ([`store`]). The reports made from it are in [`crate::report`].
//!
//! [`InventorySink`] sits in the event chain and writes batches every interval and on
//! shutdown. Internal hosts can be pseudonymised with a keyed HMAC: the same key maps
//! a host to the same pseudonym, so a shared inventory still counts hosts, while the
//! readable network label ("servers", "crm") stays. Payload is never stored.

pub mod backend;
pub mod postgres;
pub mod schema;
pub mod sqlite;
pub mod store;
pub mod stored;
pub mod writer;

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use crate::discovery::unknown::UnknownDestinations;
use crate::event::{Body, Event, EventSink};
use crate::policy::Policy;
use crate::time::Timestamp;
use store::{AlertRow, Batch, DailyRow, FingerprintRow, FlowRow, Store, StoreError};
use writer::{Unwritten, Writer, WriterStats};

/// The shortest pseudonymisation key accepted, in bytes.
const MIN_KEY_BYTES: usize = 16;

/// Maps internal addresses to stable pseudonyms under a secret key.
#[derive(Clone)]
pub struct Pseudonymiser {
    key: ring::hmac::Key,
}

impl std::fmt::Debug for Pseudonymiser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymiser(<key>)")
    }
}

impl Pseudonymiser {
    /// A pseudonymiser keyed with `key`.
    ///
    /// # Errors
    /// A key shorter than 16 bytes.
    pub fn new(key: &[u8]) -> io::Result<Self> {
        if key.len() < MIN_KEY_BYTES {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("a pseudonymisation key needs at least {MIN_KEY_BYTES} bytes"),
            ));
        }
        Ok(Self {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
        })
    }

    /// Reads the key from a file (its bytes, surrounding whitespace removed).
    ///
    /// # Errors
    /// The file cannot be read, or the key is too short.
    pub fn from_file(path: &Path) -> io::Result<Self> {
        let bytes = std::fs::read(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Self::new(bytes.trim_ascii())
    }

    /// `h:` and 16 hex digits of HMAC-SHA256(key, address).
    pub fn pseudonym(&self, ip: IpAddr) -> String {
        let tag = ring::hmac::sign(&self.key, ip.to_string().as_bytes());
        let mut out = String::from("h:");
        for b in tag.as_ref().iter().take(8) {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

/// The (internal host, vendor) pairs an inventory has already recorded, so a restarted
/// sensor or a second scan does not call them new.
#[derive(Debug, Default)]
pub struct KnownPairs {
    pseudonymiser: Option<Pseudonymiser>,
    pairs: std::collections::HashSet<(String, String)>,
}

impl KnownPairs {
    /// The pairs in `store`, its hosts written as `pseudonymiser` writes them.
    ///
    /// # Errors
    /// The store's errors.
    pub fn load(store: &Store, pseudonymiser: Option<Pseudonymiser>) -> Result<Self, StoreError> {
        Ok(Self {
            pairs: store.host_vendor_pairs()?.into_iter().collect(),
            pseudonymiser,
        })
    }

    /// Whether `ip` has been seen talking to `vendor`.
    pub fn contains(&self, ip: IpAddr, vendor: &str) -> bool {
        if self.pairs.is_empty() {
            return false;
        }
        let host = match &self.pseudonymiser {
            Some(p) => p.pseudonym(ip),
            None => ip.to_string(),
        };
        self.pairs.contains(&(host, vendor.to_owned()))
    }
}

/// How the inventory is written.
#[derive(Debug, Clone)]
pub struct InventoryOptions {
    /// This sensor's name, kept on every row (merged stores keep who saw what).
    pub sensor: String,
    pub pseudonymiser: Option<Pseudonymiser>,
    /// How often a batch is written.
    pub interval: Duration,
    /// The most rows kept in memory while the database cannot be written; rows for new
    /// keys beyond it are dropped and counted (existing rows keep counting).
    pub buffer_rows: usize,
}

/// The rows kept in memory while the database is away, by default.
pub const DEFAULT_BUFFER_ROWS: usize = 200_000;

/// How long a stopping sensor keeps trying to write what it holds: inside the 30 s that
/// systemd and Kubernetes give a stopping service.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// The sensor's name by default: the host name.
pub fn default_sensor_name() -> String {
    crate::sink::host_name().unwrap_or_else(|| "sensor".into())
}

/// The policy in use, shared with the packet loop so a reload reaches the inventory.
pub type PolicyHandle = Arc<RwLock<Option<Arc<Policy>>>>;

type FlowKey = (String, String, String, String, String, String);
type PrintKey = (String, String, String, String, String);
type DayKey = (String, String, String);

/// Records AI flows, fingerprints and alerts on their way to the output (or, without a
/// store, passes events through).
pub struct InventorySink<S> {
    writer: Option<Writer>,
    options: InventoryOptions,
    policy: PolicyHandle,
    inner: S,
    flows: HashMap<FlowKey, FlowRow>,
    prints: HashMap<PrintKey, FingerprintRow>,
    daily: HashMap<DayKey, DailyRow>,
    alerts: Vec<AlertRow>,
    /// Destinations no signature matches, in fixed memory.
    unknown: UnknownDestinations,
    last_write: Instant,
}

impl<S: EventSink> InventorySink<S> {
    /// Writes to `store`; `policy` (when given) says which hosts are internal and names
    /// their networks.
    ///
    /// # Errors
    /// The store cannot record the sensor's name.
    pub fn new(
        store: Store,
        options: InventoryOptions,
        policy: PolicyHandle,
        inner: S,
    ) -> Result<Self, StoreError> {
        store.set_meta("last_sensor", &options.sensor)?;
        let writer = Writer::start(store)
            .map_err(|e| StoreError::Config(format!("starting the inventory writer: {e}")))?;
        Ok(Self::with(Some(writer), options, policy, inner))
    }

    /// The writer's counters, when there is a store.
    pub fn writer_stats(&self) -> Option<Arc<WriterStats>> {
        self.writer.as_ref().map(Writer::stats)
    }

    /// Rows aggregated in memory, not yet handed to the writer. The unknown destinations
    /// are not among them: they keep to their own fixed bound.
    pub fn buffered_rows(&self) -> usize {
        self.flows
            .len()
            .saturating_add(self.prints.len())
            .saturating_add(self.daily.len())
            .saturating_add(self.alerts.len())
    }

    /// Whether there is anything to write.
    fn has_news(&self) -> bool {
        self.buffered_rows() > 0 || self.unknown.gathered()
    }

    /// Whether a row for a new key may be added, counting it as dropped when not.
    fn room_for_new_row(&mut self) -> bool {
        if self.buffered_rows() < self.options.buffer_rows {
            return true;
        }
        let before = self.writer.as_ref().map_or(0, |w| {
            w.stats()
                .rows_dropped
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        });
        if before == 0 {
            tracing::error!(
                limit = self.options.buffer_rows,
                "The inventory buffer is full (the database is away or slower than the traffic): rows for new keys are dropped and counted (aigress_inventory_dropped_rows_total)."
            );
        }
        false
    }

    /// A sink that records nothing and passes every event to `inner`.
    pub fn disabled(inner: S) -> Self {
        let options = InventoryOptions {
            sensor: String::new(),
            pseudonymiser: None,
            interval: Duration::MAX,
            buffer_rows: 0,
        };
        Self::with(None, options, PolicyHandle::default(), inner)
    }

    fn with(
        writer: Option<Writer>,
        options: InventoryOptions,
        policy: PolicyHandle,
        inner: S,
    ) -> Self {
        Self {
            writer,
            options,
            policy,
            inner,
            flows: HashMap::new(),
            prints: HashMap::new(),
            daily: HashMap::new(),
            alerts: Vec::new(),
            unknown: UnknownDestinations::default(),
            last_write: Instant::now(),
        }
    }

    /// Writes what is pending and stops the writer, trying for up to
    /// [`SHUTDOWN_GRACE`] while the database is away.
    ///
    /// # Errors
    /// What could not be written, named.
    pub fn finish(self) -> Result<(), StoreError> {
        let now = Instant::now();
        self.finish_by(now.checked_add(SHUTDOWN_GRACE).unwrap_or(now))
    }

    /// [`Self::finish`], trying until `deadline` while the database is away.
    ///
    /// # Errors
    /// What could not be written, named.
    pub fn finish_by(mut self, deadline: Instant) -> Result<(), StoreError> {
        let Some(writer) = self.writer.take() else {
            return Ok(());
        };
        let stats = writer.stats();
        let dropped = stats
            .rows_dropped
            .load(std::sync::atomic::Ordering::Relaxed);
        let refused = stats
            .rows_refused
            .load(std::sync::atomic::Ordering::Relaxed);
        let mut lost = Vec::new();
        if self.has_news() {
            if writer.wait_ready(deadline) {
                writer.hand_over(self.take_batch());
            } else {
                lost.push(Unwritten {
                    flows: self.flows.len(),
                    fingerprints: self.prints.len(),
                    daily: self.daily.len(),
                    alerts: self.alerts.len(),
                    unknown: self.unknown.len(),
                    error: "the database stayed unreachable".into(),
                });
            }
        }
        lost.extend(writer.close(deadline));
        if lost.is_empty() && dropped == 0 && refused == 0 {
            return Ok(());
        }
        let count = |f: fn(&Unwritten) -> usize| lost.iter().map(f).sum::<usize>();
        let mut parts = Vec::new();
        if !lost.is_empty() {
            parts.push(format!(
                "not written to the inventory: {} flow groups, {} fingerprints, {} daily totals, {} alerts, {} unknown-destination rows ({})",
                count(|u| u.flows),
                count(|u| u.fingerprints),
                count(|u| u.daily),
                count(|u| u.alerts),
                count(|u| u.unknown),
                lost.first().map_or("", |u| u.error.as_str()),
            ));
        }
        if dropped > 0 {
            parts.push(format!(
                "{dropped} inventory rows dropped earlier because the buffer was full"
            ));
        }
        if refused > 0 {
            parts.push(format!(
                "{refused} inventory rows refused by the database for their content"
            ));
        }
        Err(StoreError::Config(parts.join("; ")))
    }

    /// Moves the aggregates into a batch with a fresh id.
    fn take_batch(&mut self) -> Batch {
        let (unknown, unknown_hosts) = self.unknown.take(&self.options.sensor);
        Batch {
            id: store::batch_id(&self.options.sensor),
            flows: self.flows.drain().map(|(_, v)| v).collect(),
            fingerprints: self.prints.drain().map(|(_, v)| v).collect(),
            daily: self.daily.drain().map(|(_, v)| v).collect(),
            alerts: std::mem::take(&mut self.alerts),
            unknown,
            unknown_hosts,
        }
    }

    /// Hands the aggregates to the writer when it can take them; otherwise they keep
    /// aggregating until it can.
    pub fn write(&mut self) {
        self.last_write = Instant::now();
        let ready = match &self.writer {
            Some(w) => w.ready(),
            None => return,
        };
        if ready && self.has_news() {
            let batch = self.take_batch();
            if let Some(w) = &self.writer {
                w.hand_over(batch);
            }
        }
        let buffered = u64::try_from(self.buffered_rows()).unwrap_or(u64::MAX);
        if let Some(w) = &self.writer {
            w.stats()
                .rows_buffered
                .store(buffered, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Whether the policy in use (if any) counts `ip` as internal.
    fn policy_says_internal(&self, ip: IpAddr) -> bool {
        self.policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|p| p.is_internal(ip))
    }

    /// The host as stored: its address, or its pseudonym; and its network label.
    fn host(&self, ip: IpAddr) -> Option<(String, String)> {
        let policy = self
            .policy
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let label = match &policy {
            Some(p) if !p.is_internal(ip) => return None,
            Some(p) => p.groups_of(ip).join(","),
            None => String::new(),
        };
        let host = match &self.options.pseudonymiser {
            Some(p) => p.pseudonym(ip),
            None => ip.to_string(),
        };
        Some((host, label))
    }

    fn record(&mut self, event: &Event) {
        match &event.body {
            Body::Tls(_) => self.unknown.observe(event, None),
            Body::Flow(f) => {
                // Only egress counts under a policy: an intranet name is no unknown
                // service. The host is worked out only for a flow that can count.
                let h = &event.header;
                let host = (UnknownDestinations::counts(f, event.ai.as_ref())
                    && !self.policy_says_internal(h.dest_ip))
                .then(|| self.host(h.src_ip).map(|(host, _)| host))
                .flatten();
                self.unknown.observe(event, host);
            }
            _ => {}
        }
        let Some(ai) = &event.ai else {
            return;
        };
        let h = &event.header;
        let sensor = self.options.sensor.clone();
        match &event.body {
            Body::Flow(f) => {
                let Some((host, label)) = self.host(h.src_ip) else {
                    return;
                };
                let landing = event.landing.as_ref();
                let country = landing.and_then(|l| l.country.clone()).unwrap_or_default();
                let verdict = event.verdict.map_or("none", |v| v.as_str()).to_owned();
                let endpoint = f
                    .sni
                    .clone()
                    .or_else(|| f.http_host.clone())
                    .or_else(|| f.dns_name.clone())
                    .unwrap_or_else(|| h.dest_ip.to_string());
                let key = (
                    host.clone(),
                    ai.vendor.clone(),
                    ai.product.clone(),
                    endpoint.clone(),
                    country.clone(),
                    verdict.clone(),
                );
                let day = f.start.date();
                let day_key = (day.clone(), ai.vendor.clone(), country.clone());
                if (!self.flows.contains_key(&key) || !self.daily.contains_key(&day_key))
                    && !self.room_for_new_row()
                {
                    return;
                }
                let row = self.flows.entry(key).or_insert_with(|| FlowRow {
                    sensor: sensor.clone(),
                    internal_host: host,
                    host_label: label,
                    vendor: ai.vendor.clone(),
                    product: ai.product.clone(),
                    kind: ai.kind.to_owned(),
                    endpoint,
                    landing_country: country.clone(),
                    eea: landing.is_some_and(|l| l.eea),
                    verdict,
                    first_seen: f.start.micros(),
                    last_seen: f.end.micros(),
                    ..FlowRow::default()
                });
                if let Some(l) = landing {
                    l.confidence
                        .as_str()
                        .clone_into(&mut row.landing_confidence);
                }
                row.first_seen = row.first_seen.min(f.start.micros());
                row.last_seen = row.last_seen.max(f.end.micros());
                row.flows = row.flows.saturating_add(1);
                row.packets = row
                    .packets
                    .saturating_add(f.pkts_toserver.saturating_add(f.pkts_toclient));
                row.bytes_sent = row.bytes_sent.saturating_add(f.bytes_toserver);
                row.bytes_received = row.bytes_received.saturating_add(f.bytes_toclient);
                let d = self.daily.entry(day_key).or_insert_with(|| DailyRow {
                    sensor,
                    day,
                    vendor: ai.vendor.clone(),
                    landing_country: country,
                    ..DailyRow::default()
                });
                d.flows = d.flows.saturating_add(1);
                d.bytes_sent = d.bytes_sent.saturating_add(f.bytes_toserver);
                d.bytes_received = d.bytes_received.saturating_add(f.bytes_toclient);
            }
            body => {
                let value = body
                    .client_fingerprint()
                    .map(|(kind, value)| (kind, value.to_owned()));
                let (Some((kind, value)), Some((host, _))) = (value, self.host(h.src_ip)) else {
                    return;
                };
                let now = h.timestamp.micros();
                let key = (
                    host.clone(),
                    ai.vendor.clone(),
                    ai.product.clone(),
                    kind.to_owned(),
                    value.clone(),
                );
                if !self.prints.contains_key(&key) && !self.room_for_new_row() {
                    return;
                }
                let row = self.prints.entry(key).or_insert_with(|| FingerprintRow {
                    sensor,
                    internal_host: host,
                    vendor: ai.vendor.clone(),
                    product: ai.product.clone(),
                    kind: kind.to_owned(),
                    value,
                    first_seen: now,
                    last_seen: now,
                    seen: 0,
                });
                row.first_seen = row.first_seen.min(now);
                row.last_seen = row.last_seen.max(now);
                row.seen = row.seen.saturating_add(1);
            }
        }
    }

    fn record_alert(&mut self, event: &Event) {
        let Body::Alert(a, _) = &event.body else {
            return;
        };
        if !self.room_for_new_row() {
            return;
        }
        let host = match &self.options.pseudonymiser {
            Some(p) => p.pseudonym(event.header.src_ip),
            None => event.header.src_ip.to_string(),
        };
        self.alerts.push(AlertRow {
            sensor: self.options.sensor.clone(),
            timestamp: event.header.timestamp.micros(),
            rule: a.rule.as_str().to_owned(),
            severity: a.severity.as_str().to_owned(),
            verdict: a.verdict.as_str().to_owned(),
            internal_host: host,
            vendor: event
                .ai
                .as_ref()
                .map(|x| x.vendor.clone())
                .unwrap_or_default(),
            product: event
                .ai
                .as_ref()
                .map(|x| x.product.clone())
                .unwrap_or_default(),
            landing_country: event
                .landing
                .as_ref()
                .and_then(|l| l.country.clone())
                .unwrap_or_default(),
            // With pseudonymisation the reason must not name the host either.
            reason: match &self.options.pseudonymiser {
                Some(p) => a.reason.replace(
                    &event.header.src_ip.to_string(),
                    &p.pseudonym(event.header.src_ip),
                ),
                None => a.reason.clone(),
            },
            count: a.count,
            summary: a.summary,
        });
    }
}

impl<S: EventSink> EventSink for InventorySink<S> {
    fn event(&mut self, event: Event) -> io::Result<()> {
        if self.writer.is_none() {
            return self.inner.event(event);
        }
        self.record(&event);
        self.record_alert(&event);
        self.inner.event(event)?;
        if self.last_write.elapsed() >= self.options.interval {
            self.write();
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.last_write.elapsed() >= self.options.interval {
            self.write();
        }
        self.inner.flush()
    }
}

/// A time in a report filter: `2026-11-01`, an RFC 3339 instant, or a duration before
/// now (`7d`, `24h`).
///
/// # Errors
/// Text in none of those forms.
pub fn parse_time(text: &str) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(d) = humantime::parse_duration(text) {
        let back = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        return Ok(Timestamp::now().micros().saturating_sub(back));
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    humantime::parse_rfc3339_weak(&full)
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        })
        .map_err(|e| format!("{text:?} is not a date, an RFC 3339 time or a duration like 7d: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_under_one_key_and_differ_under_another() {
        let a = Pseudonymiser::new(b"0123456789abcdef-key-one").unwrap();
        let b = Pseudonymiser::new(b"0123456789abcdef-key-two").unwrap();
        let ip: IpAddr = "192.168.77.10".parse().unwrap();
        let other: IpAddr = "192.168.77.21".parse().unwrap();
        assert_eq!(a.pseudonym(ip), a.pseudonym(ip));
        assert_ne!(a.pseudonym(ip), b.pseudonym(ip));
        assert_ne!(a.pseudonym(ip), a.pseudonym(other));
        assert!(a.pseudonym(ip).starts_with("h:") && a.pseudonym(ip).len() == 18);
        assert!(Pseudonymiser::new(b"short").is_err());
    }

    #[test]
    fn report_times_take_dates_instants_and_durations() {
        assert_eq!(parse_time("2026-11-01").unwrap(), 1_793_491_200_000_000);
        assert_eq!(
            parse_time("2026-11-01T12:00:00Z").unwrap(),
            1_793_491_200_000_000 + 43_200_000_000
        );
        let week = parse_time("7d").unwrap();
        assert!(Timestamp::now().micros() - week >= 7 * 86_400_000_000);
        assert!(parse_time("last tuesday").is_err());
    }
}

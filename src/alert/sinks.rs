//! Where alerts go besides the event stream: a JSON-lines file (reopened on SIGHUP for
//! logrotate), an HTTPS webhook (rustls, retries with backoff, a bounded queue, counted
//! drops), and syslog (RFC 5424 over UDP).

use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::alert::Severity;
use crate::output::reopening::ReopeningFile;

/// An alert sink takes each alert as one JSON line (without the newline).
pub trait AlertSink: Send {
    /// Takes one alert.
    ///
    /// # Errors
    /// Only errors that should stop the sensor (a file that cannot be written); a
    /// network sink counts its failures instead.
    fn alert(&mut self, severity: Severity, json: &[u8]) -> io::Result<()>;

    /// Delivers what is queued and reports what happened.
    ///
    /// # Errors
    /// A final write or flush that failed.
    fn finish(&mut self) -> io::Result<SinkStats>;

    /// What the sink did so far.
    fn stats(&self) -> SinkStats;

    /// The sink's kind, a bounded metrics label: `file`, `webhook` or `syslog`.
    fn kind(&self) -> &'static str;
}

/// What a sink did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SinkStats {
    pub sink: String,
    /// Alerts delivered.
    pub sent: u64,
    /// Alerts given up on after every retry.
    pub failed: u64,
    /// Alerts dropped because the queue was full.
    pub dropped: u64,
    /// Delivery attempts that were retried.
    pub retries: u64,
}

/// Alerts appended to a file as JSON lines. When `reopen` is set (by SIGHUP) the file is
/// closed and opened again by name, so logrotate can move it away.
pub struct FileSink {
    out: ReopeningFile,
    sent: u64,
}

impl FileSink {
    /// Opens (creating or appending) `path`.
    ///
    /// # Errors
    /// The file cannot be opened for appending.
    pub fn open(path: &Path, reopen: Arc<AtomicBool>) -> io::Result<Self> {
        Ok(Self {
            out: ReopeningFile::open(path, reopen)?,
            sent: 0,
        })
    }
}

impl AlertSink for FileSink {
    fn alert(&mut self, _severity: Severity, json: &[u8]) -> io::Result<()> {
        self.out.reopen_if_asked()?;
        self.out.write_all(json)?;
        self.out.write_all(b"\n")?;
        // Alerts are rare and read by tail -f and log shippers: write each at once.
        self.out.flush()?;
        self.sent = self.sent.saturating_add(1);
        Ok(())
    }

    fn finish(&mut self) -> io::Result<SinkStats> {
        self.out.flush()?;
        Ok(self.stats())
    }

    fn stats(&self) -> SinkStats {
        SinkStats {
            sink: format!("file:{}", self.out.path().display()),
            sent: self.sent,
            ..SinkStats::default()
        }
    }

    fn kind(&self) -> &'static str {
        "file"
    }
}

/// How the webhook delivers.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// An `https://` URL.
    pub url: String,
    /// PEM file with extra root certificates (a private CA); Mozilla's roots otherwise.
    pub ca_file: Option<PathBuf>,
    /// Sent as `Authorization: Bearer …`.
    pub bearer_token: Option<String>,
    /// Alerts waiting for delivery; more are dropped and counted.
    pub queue: usize,
    /// Attempts per alert, the first included.
    pub attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff: Duration,
    /// Per-request time limit.
    pub timeout: Duration,
}

impl WebhookConfig {
    pub fn new(url: String) -> Self {
        Self {
            url,
            ca_file: None,
            bearer_token: None,
            queue: 1024,
            attempts: 5,
            backoff: Duration::from_millis(500),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How long queued alerts may still be tried once the sensor stops.
const DRAIN_TIME: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    retries: AtomicU64,
}

/// Alerts POSTed as JSON to an HTTPS endpoint by a worker thread. The queue is bounded:
/// when the receiver is slower than the alerts, the newest are dropped and counted, and
/// the packet path never waits for the network. At shutdown the queue gets ten seconds
/// to drain; what is left is counted as failed.
pub struct WebhookSink {
    url: String,
    queue: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    /// When the sink was asked to finish.
    closing: Arc<Mutex<Option<Instant>>>,
}

/// Why a webhook could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook URL {0:?} must start with https://")]
    NotHttps(String),
    #[error("reading webhook CA file {path}: {source}")]
    Ca { path: PathBuf, source: io::Error },
    #[error("webhook CA file {0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("starting the webhook thread: {0}")]
    Thread(io::Error),
}

impl WebhookSink {
    /// Starts the delivery thread.
    ///
    /// # Errors
    /// A URL that is not https, or an unreadable CA file.
    pub fn start(config: WebhookConfig) -> Result<Self, WebhookError> {
        if !config.url.starts_with("https://") {
            return Err(WebhookError::NotHttps(config.url));
        }
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|source| WebhookError::Ca {
                path: path.clone(),
                source,
            })?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(WebhookError::NoCertificate(path.clone()));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls.build())
            .timeout_global(Some(config.timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("aigress/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let (tx, rx) = sync_channel(config.queue.max(1));
        let counters = Arc::new(Counters::default());
        let worker_counters = Arc::clone(&counters);
        let closing = Arc::new(Mutex::new(None));
        let worker_closing = Arc::clone(&closing);
        let url = config.url.clone();
        let worker = std::thread::Builder::new()
            .name("aigress-webhook".into())
            .spawn(move || deliver(&agent, &config, &rx, &worker_counters, &worker_closing))
            .map_err(WebhookError::Thread)?;
        Ok(Self {
            url,
            queue: Some(tx),
            worker: Some(worker),
            counters,
            closing,
        })
    }

    fn counters(&self) -> SinkStats {
        SinkStats {
            sink: format!("webhook:{}", self.url),
            sent: self.counters.sent.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
        }
    }
}

fn deliver(
    agent: &ureq::Agent,
    config: &WebhookConfig,
    rx: &Receiver<Vec<u8>>,
    counters: &Counters,
    closing: &Mutex<Option<Instant>>,
) {
    // Once the sensor stops, what is still queued gets DRAIN_TIME in all; after that each
    // remaining alert is counted as failed instead of tried, so shutdown stays prompt.
    let out_of_time = || {
        closing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some_and(|since| since.elapsed() >= DRAIN_TIME)
    };
    for body in rx {
        let mut wait = config.backoff;
        let mut attempt = 1u32;
        loop {
            if out_of_time() {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                break;
            }
            let mut request = agent
                .post(&config.url)
                .header("Content-Type", "application/json");
            if let Some(token) = &config.bearer_token {
                request = request.header("Authorization", &format!("Bearer {token}"));
            }
            let outcome = match request.send(&body[..]) {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) => Err(format!("HTTP {}", r.status())),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(()) => {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(why) if attempt < config.attempts => {
                    tracing::debug!(url = %config.url, attempt, error = %why, "Webhook delivery failed; retrying.");
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    let started = Instant::now();
                    while started.elapsed() < wait && !out_of_time() {
                        std::thread::sleep(wait.min(Duration::from_millis(100)));
                    }
                    wait = wait.saturating_mul(2).min(MAX_BACKOFF);
                    attempt = attempt.saturating_add(1);
                }
                Err(why) => {
                    tracing::warn!(url = %config.url, attempts = attempt, error = %why, "Webhook gave up on an alert.");
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
}

impl AlertSink for WebhookSink {
    fn alert(&mut self, _severity: Severity, json: &[u8]) -> io::Result<()> {
        let Some(queue) = &self.queue else {
            return Ok(());
        };
        match queue.try_send(json.to_vec()) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                let dropped = self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                if dropped.is_power_of_two() || dropped == 0 {
                    tracing::warn!(url = %self.url, dropped = dropped.saturating_add(1), "Webhook queue full; alerts dropped.");
                }
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<SinkStats> {
        // Closing the queue lets the worker drain what is left (for DRAIN_TIME at most)
        // and stop.
        *self.closing.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        self.queue = None;
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            tracing::error!(url = %self.url, "The webhook worker stopped abnormally.");
        }
        Ok(self.counters())
    }

    fn stats(&self) -> SinkStats {
        self.counters()
    }

    fn kind(&self) -> &'static str {
        "webhook"
    }
}

/// Alerts as RFC 5424 syslog messages over UDP, facility local0, the JSON as message.
pub struct SyslogSink {
    socket: UdpSocket,
    target: SocketAddr,
    hostname: String,
    sent: u64,
    failed: u64,
}

impl SyslogSink {
    /// A sink sending to `target`.
    ///
    /// # Errors
    /// No local UDP socket could be bound.
    pub fn open(target: SocketAddr) -> io::Result<Self> {
        let bind: SocketAddr = if target.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            ([0u16; 8], 0).into()
        };
        let hostname = crate::output::host_name().unwrap_or_else(|| "-".into());
        Ok(Self {
            socket: UdpSocket::bind(bind)?,
            target,
            hostname,
            sent: 0,
            failed: 0,
        })
    }
}

/// The RFC 5424 message for one alert: `<PRI>1 TIMESTAMP HOST aigress PID alert - MSG`.
pub fn syslog_message(severity: Severity, hostname: &str, pid: u32, json: &[u8]) -> Vec<u8> {
    // Facility local0 (16); RFC 5424 severities: 2 critical, 3 error, 4 warning,
    // 5 notice, 6 informational.
    let level: u8 = match severity {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info | Severity::Off => 6,
    };
    let pri = 16u16.saturating_mul(8).saturating_add(u16::from(level));
    let mut line = format!(
        "<{pri}>1 {} {hostname} aigress {pid} alert - ",
        crate::time::Timestamp::now()
    )
    .into_bytes();
    line.extend_from_slice(json);
    line
}

impl AlertSink for SyslogSink {
    fn alert(&mut self, severity: Severity, json: &[u8]) -> io::Result<()> {
        let message = syslog_message(severity, &self.hostname, std::process::id(), json);
        match self.socket.send_to(&message, self.target) {
            Ok(_) => self.sent = self.sent.saturating_add(1),
            Err(e) => {
                self.failed = self.failed.saturating_add(1);
                tracing::warn!(target = %self.target, error = %e, "Syslog send failed.");
            }
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<SinkStats> {
        Ok(self.stats())
    }

    fn stats(&self) -> SinkStats {
        SinkStats {
            sink: format!("syslog:{}", self.target),
            sent: self.sent,
            failed: self.failed,
            ..SinkStats::default()
        }
    }

    fn kind(&self) -> &'static str {
        "syslog"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_messages_follow_rfc5424() {
        let m = syslog_message(Severity::High, "sensor1", 42, b"{\"a\":1}");
        let text = String::from_utf8(m).unwrap();
        assert!(text.starts_with("<131>1 "), "{text}");
        assert!(
            text.ends_with(" sensor1 aigress 42 alert - {\"a\":1}"),
            "{text}"
        );
    }

    #[test]
    fn the_file_sink_reopens_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("alerts.json");
        let flag = Arc::new(AtomicBool::new(false));
        let mut sink = FileSink::open(&path, Arc::clone(&flag)).unwrap();
        sink.alert(Severity::High, b"{\"n\":1}").unwrap();
        let rotated = dir.path().join("alerts.json.1");
        std::fs::rename(&path, &rotated).unwrap();
        flag.store(true, Ordering::Relaxed);
        sink.alert(Severity::High, b"{\"n\":2}").unwrap();
        assert_eq!(sink.finish().unwrap().sent, 2);
        assert_eq!(std::fs::read_to_string(&rotated).unwrap(), "{\"n\":1}\n");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{\"n\":2}\n");
    }

    #[test]
    fn a_webhook_must_be_https() {
        let e = WebhookSink::start(WebhookConfig::new("http://127.0.0.1:1/".into()));
        assert!(matches!(e, Err(WebhookError::NotHttps(_))));
    }
}

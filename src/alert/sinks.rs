//! Where alerts go besides the event stream: a JSON-lines file (reopened on SIGHUP for
//! logrotate), an HTTPS webhook (rustls, retries with backoff, a bounded queue, counted
//! drops), and syslog (RFC 5424 over UDP).
//!
//! A webhook URL is a credential: Slack, Teams and most chat services put the secret in
//! its path. Stats, logs and errors name the webhook by [`redact_url`], scheme and host
//! only, and the bearer token is sent and never shown.

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
use crate::sink::reopening::ReopeningFile;

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
    /// `kind:target`: the file's path, the syslog address, or the webhook's URL as
    /// [`redact_url`] shows it.
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

/// The alert outputs besides the event stream, as the command line or the
/// configuration names them: what `scan` and `run` both open with [`AlertOutputs::open`].
#[derive(Debug, Clone, Default)]
pub struct AlertOutputs {
    pub file: Option<PathBuf>,
    pub webhook: Option<WebhookConfig>,
    pub syslog: Option<SocketAddr>,
}

/// Why an alert output could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("opening the alert file {path}: {source}")]
    File { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    #[error("opening the syslog socket: {0}")]
    Syslog(io::Error),
}

impl AlertOutputs {
    /// Whether any output is named.
    pub fn any(&self) -> bool {
        self.file.is_some() || self.webhook.is_some() || self.syslog.is_some()
    }

    /// Opens every output named: the file (reopened when `reopen` is set), the webhook,
    /// syslog.
    ///
    /// # Errors
    /// The first output that cannot be opened.
    pub fn open(&self, reopen: &Arc<AtomicBool>) -> Result<Vec<Box<dyn AlertSink>>, OpenError> {
        let mut sinks: Vec<Box<dyn AlertSink>> = Vec::new();
        if let Some(path) = &self.file {
            let file =
                FileSink::open(path, Arc::clone(reopen)).map_err(|source| OpenError::File {
                    path: path.clone(),
                    source,
                })?;
            sinks.push(Box::new(file));
        }
        if let Some(config) = &self.webhook {
            sinks.push(Box::new(WebhookSink::start(config.clone())?));
        }
        if let Some(addr) = self.syslog {
            sinks.push(Box::new(SyslogSink::open(addr).map_err(OpenError::Syslog)?));
        }
        Ok(sinks)
    }
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

/// How the webhook delivers. Its `Debug` shows neither the URL's secret part nor the
/// token.
#[derive(Clone)]
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

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &redact_url(&self.url))
            .field("ca_file", &self.ca_file)
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "(redacted)"),
            )
            .field("queue", &self.queue)
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl WebhookConfig {
    /// Delivery to `url` with the defaults: no extra CA, no token, a queue of 1024, five
    /// attempts half a second apart and doubling, ten seconds per request.
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

/// A URL split where its secrets may be.
struct UrlParts<'a> {
    scheme: Option<&'a str>,
    /// `user:password` before an `@`.
    userinfo: Option<&'a str>,
    host: &'a str,
    port: Option<&'a str>,
    /// The path, query and fragment: where webhook services keep their secret.
    rest: &'a str,
}

fn url_parts(url: &str) -> UrlParts<'_> {
    let (scheme, after) = match url.split_once("://") {
        Some((scheme, after))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            (Some(scheme), after)
        }
        _ => (None, url),
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (userinfo, host_port) = match authority.rsplit_once('@') {
        Some((userinfo, host_port)) => (Some(userinfo), host_port),
        None => (None, authority),
    };
    // The port follows the last colon, unless that colon is inside an IPv6 literal's
    // brackets.
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (host_port, None),
    };
    UrlParts {
        scheme,
        userinfo,
        host,
        port,
        rest,
    }
}

/// A URL as logs, stats and errors may show it: the scheme, the host and a port other
/// than the scheme's default, then `/…` if anything followed. The path and query (where
/// Slack, Teams and most webhook services keep the secret) and any `user:password@` are
/// left out: `https://hooks.slack.com/services/T0/B0/XXXX` shows as
/// `https://hooks.slack.com/…`.
pub fn redact_url(url: &str) -> String {
    let parts = url_parts(url);
    let mut shown = String::new();
    let default_port = match parts.scheme {
        Some(scheme) => {
            shown.push_str(scheme);
            shown.push_str("://");
            if scheme.eq_ignore_ascii_case("https") {
                "443"
            } else if scheme.eq_ignore_ascii_case("http") {
                "80"
            } else {
                ""
            }
        }
        None => "",
    };
    shown.push_str(parts.host);
    // A port that is not a number is no port: most likely a password cut by a `/`.
    if let Some(port) = parts.port
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port != default_port
    {
        shown.push(':');
        shown.push_str(port);
    }
    if matches!(parts.rest, "" | "/") {
        shown.push_str(parts.rest);
    } else {
        shown.push_str("/…");
    }
    shown
}

/// `text` (the HTTP client's error, which may quote the URL) with `url` shown as `shown`
/// and its secret parts cut out wherever else they appear.
fn scrub(text: &str, url: &str, shown: &str) -> String {
    let parts = url_parts(url);
    let mut out = text.replace(url, shown);
    for secret in [parts.userinfo.unwrap_or_default(), parts.rest] {
        // A lone `/` or `?` is no secret, and cutting it would garble the message.
        if secret.len() > 1 {
            out = out.replace(secret, "…");
        }
    }
    out
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
    /// The URL as it may be shown ([`redact_url`]).
    shown: String,
    queue: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    /// When the sink was asked to finish.
    closing: Arc<Mutex<Option<Instant>>>,
}

/// Why a webhook could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// Holds the URL as [`redact_url`] shows it.
    #[error("webhook URL {0:?} must start with https://")]
    NotHttps(String),
    #[error("webhook CA file {path}: {message}")]
    Ca { path: PathBuf, message: String },
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
            return Err(WebhookError::NotHttps(redact_url(&config.url)));
        }
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &config.ca_file {
            let roots = crate::pem::client_roots(path).map_err(|message| WebhookError::Ca {
                path: path.clone(),
                message,
            })?;
            tls = tls.root_certs(roots);
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
        let shown = redact_url(&config.url);
        let worker_shown = shown.clone();
        let worker = std::thread::Builder::new()
            .name("aigress-webhook".into())
            .spawn(move || {
                deliver(
                    &agent,
                    &config,
                    &worker_shown,
                    &rx,
                    &worker_counters,
                    &worker_closing,
                );
            })
            .map_err(WebhookError::Thread)?;
        Ok(Self {
            shown,
            queue: Some(tx),
            worker: Some(worker),
            counters,
            closing,
        })
    }

    fn counters(&self) -> SinkStats {
        SinkStats {
            sink: format!("webhook:{}", self.shown),
            sent: self.counters.sent.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
        }
    }
}

/// Posts each queued alert to `config.url`; logs name the webhook as `shown`.
fn deliver(
    agent: &ureq::Agent,
    config: &WebhookConfig,
    shown: &str,
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
                Err(e) => Err(scrub(&e.to_string(), &config.url, shown)),
            };
            match outcome {
                Ok(()) => {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(why) if attempt < config.attempts => {
                    tracing::debug!(url = %shown, attempt, error = %why, "Webhook delivery failed; retrying.");
                    counters.retries.fetch_add(1, Ordering::Relaxed);
                    let started = Instant::now();
                    while started.elapsed() < wait && !out_of_time() {
                        std::thread::sleep(wait.min(Duration::from_millis(100)));
                    }
                    wait = wait.saturating_mul(2).min(MAX_BACKOFF);
                    attempt = attempt.saturating_add(1);
                }
                Err(why) => {
                    tracing::warn!(url = %shown, attempts = attempt, error = %why, "Webhook gave up on an alert.");
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
                    tracing::warn!(url = %self.shown, dropped = dropped.saturating_add(1), "Webhook queue full; alerts dropped.");
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
            tracing::error!(url = %self.shown, "The webhook worker stopped abnormally.");
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
        let hostname = crate::sink::host_name().unwrap_or_else(|| "-".into());
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

    #[test]
    fn webhook_urls_show_scheme_host_and_port_only() {
        for (url, shown) in [
            (
                "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
                "https://hooks.slack.com/…",
            ),
            (
                "https://acme.webhook.office.com/webhookb2/SECRET@x/IncomingWebhook/SECRET2",
                "https://acme.webhook.office.com/…",
            ),
            (
                "https://h.example:443/a?token=SECRET",
                "https://h.example/…",
            ),
            (
                "https://h.example:8443?token=SECRET",
                "https://h.example:8443/…",
            ),
            ("http://h.example:80/SECRET", "http://h.example/…"),
            ("https://user:SECRET@h.example/", "https://h.example/"),
            (
                "https://[2001:db8::1]:9443/SECRET",
                "https://[2001:db8::1]:9443/…",
            ),
            ("https://[2001:db8::1]/SECRET", "https://[2001:db8::1]/…"),
            ("https://h.example", "https://h.example"),
            ("h.example/SECRET", "h.example/…"),
            ("https://user:SEC/RET@h.example/", "https://user/…"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn webhook_secrets_stay_out_of_errors_stats_and_debug() {
        let secret = "XXXXSECRET";
        let e = WebhookSink::start(WebhookConfig::new(format!(
            "http://hooks.example/services/T000/B000/{secret}"
        )))
        .err()
        .unwrap()
        .to_string();
        assert!(!e.contains(secret), "{e}");
        assert!(e.contains("http://hooks.example/…"), "{e}");

        let url = format!("https://127.0.0.1:1/services/T000/B000/{secret}");
        let mut config = WebhookConfig::new(url.clone());
        config.bearer_token = Some("TOKENSECRET".into());
        let debug = format!("{config:?}");
        assert!(
            !debug.contains(secret) && !debug.contains("TOKENSECRET"),
            "{debug}"
        );
        let mut sink = WebhookSink::start(config).unwrap();
        assert_eq!(sink.stats().sink, "webhook:https://127.0.0.1:1/…");
        assert_eq!(sink.finish().unwrap().sink, "webhook:https://127.0.0.1:1/…");

        let error = format!("bad uri: {url} is missing host; path /services/T000/B000/{secret}");
        let scrubbed = scrub(&error, &url, &redact_url(&url));
        assert_eq!(
            scrubbed,
            "bad uri: https://127.0.0.1:1/… is missing host; path …"
        );
    }
}

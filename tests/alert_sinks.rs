//! Alert delivery: the HTTPS webhook against a local receiver (loopback only) that fails
//! before it succeeds, a dead receiver, a full queue, and syslog over UDP; and a webhook
//! URL whose path is its secret, kept out of every output.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aigress::alert::sinks::{AlertSink, SyslogSink, WebhookConfig, WebhookSink};
use aigress::engine::EngineConfig;
use aigress::metrics::Metrics;
use aigress::policy::Policy;
use aigress::scan::{Judging, Workers, scan_judged};
use aigress::sink::JsonSink;
use common::https::{HttpsServer, Response};

/// An HTTPS server on 127.0.0.1 that answers 503 to its first `failures` requests and
/// 200 after, keeping the bodies it accepted.
struct Receiver {
    url: String,
    ca: PathBuf,
    bodies: Arc<Mutex<Vec<String>>>,
    requests: Arc<AtomicUsize>,
    _server: HttpsServer,
}

fn receiver(failures: usize) -> Receiver {
    receiver_at(failures, "/alerts")
}

/// A [`Receiver`] taking alerts at `path`.
fn receiver_at(failures: usize, path: &str) -> Receiver {
    let request_line = format!("POST {path} HTTP/1.1");
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let requests = Arc::new(AtomicUsize::new(0));
    let (kept, count) = (Arc::clone(&bodies), Arc::clone(&requests));
    let server = HttpsServer::start(move |request| {
        if request.line != request_line {
            return Response {
                status: "404 Not Found",
                body: Vec::new(),
            };
        }
        let n = count.fetch_add(1, Ordering::SeqCst);
        if n < failures {
            return Response {
                status: "503 Service Unavailable",
                body: Vec::new(),
            };
        }
        kept.lock().unwrap().push(request.body);
        Response {
            status: "200 OK",
            body: Vec::new(),
        }
    });
    Receiver {
        url: format!("{}{path}", server.base),
        ca: server.ca.clone(),
        bodies,
        requests,
        _server: server,
    }
}

fn deploy_policy() -> Arc<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/policy.toml");
    Arc::new(Policy::load(&path, &common::database()).unwrap())
}

/// Scans the Python SDK capture with the default policy into `sink`; returns the alert
/// lines of the event stream and what the sink reported.
fn scan_with(sink: Box<dyn AlertSink>) -> (Vec<String>, aigress::alert::sinks::SinkStats) {
    let policy = deploy_policy();
    let judging = Judging {
        signatures: common::database(),
        landing: common::landing(Some(&policy)),
        policy: Some(policy),
        alert_sinks: vec![sink],
        inventory: None,
    };
    let mut out = JsonSink::new(Vec::new());
    let capture = common::captures_dir().join("ai-clients__b_python_sdks.pcap");
    let (_, stats) = scan_judged(
        &[capture],
        EngineConfig::default(),
        Workers::new(1),
        judging,
        &mut out,
        &mut |_| {},
    )
    .expect("the scan succeeds whatever the receiver does");
    let text = String::from_utf8(out.finish().unwrap()).unwrap();
    let alerts = text
        .lines()
        .filter(|l| l.contains("\"event_type\":\"alert\""))
        .map(str::to_owned)
        .collect();
    (alerts, stats.sinks.into_iter().next().unwrap())
}

fn webhook(url: &str, ca: Option<&Path>, attempts: u32, queue: usize) -> Box<dyn AlertSink> {
    let mut config = WebhookConfig::new(url.to_owned());
    config.ca_file = ca.map(Path::to_owned);
    config.attempts = attempts;
    config.backoff = Duration::from_millis(5);
    config.timeout = Duration::from_secs(5);
    config.queue = queue;
    Box::new(WebhookSink::start(config).unwrap())
}

#[test]
fn the_webhook_retries_until_the_receiver_accepts() {
    let r = receiver(2);
    let (alerts, stats) = scan_with(webhook(&r.url, Some(&r.ca), 4, 1024));
    assert!(alerts.len() >= 10, "{}", alerts.len());
    assert_eq!(stats.sent, alerts.len() as u64, "{stats:?}");
    assert_eq!((stats.retries, stats.failed, stats.dropped), (2, 0, 0));
    assert_eq!(r.requests.load(Ordering::SeqCst), alerts.len() + 2);
    let mut bodies = r.bodies.lock().unwrap().clone();
    let mut expected = alerts.clone();
    bodies.sort();
    expected.sort();
    assert_eq!(
        bodies, expected,
        "the receiver got exactly the alerts of the stream"
    );
}

#[test]
fn an_untrusted_certificate_is_refused_and_counted() {
    let r = receiver(0);
    let (alerts, stats) = scan_with(webhook(&r.url, None, 1, 1024));
    assert_eq!(stats.sent, 0);
    assert_eq!(stats.failed, alerts.len() as u64);
    assert!(r.bodies.lock().unwrap().is_empty());
}

#[test]
fn a_dead_receiver_loses_no_alert_silently() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("https://127.0.0.1:{port}/alerts");
    let (alerts, stats) = scan_with(webhook(&url, None, 3, 1024));
    assert_eq!(stats.sent, 0);
    assert_eq!(stats.failed, alerts.len() as u64, "{stats:?}");
    assert_eq!(stats.retries, 2 * alerts.len() as u64);

    // With a queue of one, most alerts wait for nothing: they are dropped, and counted.
    let (alerts, stats) = scan_with(webhook(&url, None, 3, 1));
    assert!(stats.dropped > 0, "{stats:?}");
    assert_eq!(
        stats.sent + stats.failed + stats.dropped,
        alerts.len() as u64,
        "{stats:?}"
    );
}

#[test]
fn syslog_gets_one_rfc5424_message_per_alert() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let sink = SyslogSink::open(socket.local_addr().unwrap()).unwrap();
    let (alerts, stats) = scan_with(Box::new(sink));
    assert_eq!(stats.sent, alerts.len() as u64);
    let mut buf = vec![0; 65536];
    for alert in &alerts {
        let n = socket.recv(&mut buf).unwrap();
        let message = std::str::from_utf8(&buf[..n]).unwrap();
        assert!(
            message.starts_with('<') && message.contains(">1 "),
            "{message}"
        );
        assert!(message.ends_with(alert.as_str()), "{message}");
    }
}

#[test]
fn a_dead_receiver_does_not_hold_up_shutdown() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut config = WebhookConfig::new(format!("https://127.0.0.1:{port}/alerts"));
    config.attempts = 10;
    config.backoff = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let (alerts, stats) = scan_with(Box::new(WebhookSink::start(config).unwrap()));
    // Ten tries per alert with backoff would take minutes; the drain gets ten seconds.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(stats.sent, 0);
    assert_eq!(
        stats.failed + stats.dropped,
        alerts.len() as u64,
        "{stats:?}"
    );
}

/// What a Slack-style webhook URL keeps in its path, and a bearer token: neither may show.
const SECRETS: [&str; 2] = ["XXXXSECRET", "TOKENSECRET"];

#[test]
fn the_webhook_url_secret_and_token_show_in_no_output() {
    // Every delivery fails: each alert is retried once (a debug log line naming the
    // webhook), then given up (a warning), and the scan warns that alerts were lost.
    let r = receiver_at(usize::MAX, "/services/T000/B000/XXXXSECRET");
    let port = r.url.split(':').nth(2).unwrap().split('/').next().unwrap();
    let capture = common::captures_dir().join("ai-clients__b_python_sdks.pcap");
    let out = common::aigress(&[
        "-vv",
        "scan",
        "-f",
        "json",
        "--policy",
        &common::deploy_policy(),
        "--webhook",
        &r.url,
        "--webhook-ca",
        r.ca.to_str().unwrap(),
        "--webhook-token",
        SECRETS[1],
        "--webhook-attempts",
        "2",
        capture.to_str().unwrap(),
    ]);
    let (stdout, stderr) = (common::text(&out.stdout), common::text(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(
        r.requests.load(Ordering::SeqCst) > 0,
        "the webhook was used"
    );
    for logged in [
        "Webhook delivery failed; retrying.",
        "Webhook gave up on an alert.",
        "Some alerts were not delivered.",
    ] {
        assert!(stderr.contains(logged), "{logged}: {stderr}");
    }
    for secret in SECRETS {
        assert!(!stdout.contains(secret), "{secret} in the events");
        assert!(!stderr.contains(secret), "{secret} in the log: {stderr}");
    }
    let stats: serde_json::Value = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["event_type"] == "stats")
        .unwrap();
    assert_eq!(
        stats["stats"]["sinks"][0]["sink"],
        format!("webhook:https://127.0.0.1:{port}/…")
    );
}

#[test]
fn metrics_and_errors_name_the_webhook_without_its_secret() {
    let metrics = Metrics::new().unwrap();
    let mut config = WebhookConfig::new("https://127.0.0.1:1/services/T000/B000/XXXXSECRET".into());
    config.bearer_token = Some(SECRETS[1].into());
    let mut sink = WebhookSink::start(config).unwrap();
    metrics.publish_sink(sink.kind(), &sink.finish().unwrap());
    let page = metrics.render();
    assert!(page.contains("sink=\"webhook\""), "{page}");

    let refused = WebhookSink::start(WebhookConfig::new(
        "http://hooks.example/services/T000/B000/XXXXSECRET".into(),
    ))
    .err()
    .unwrap()
    .to_string();
    assert!(refused.contains("http://hooks.example/…"), "{refused}");
    for secret in SECRETS {
        assert!(!page.contains(secret), "{secret} in /metrics");
        assert!(!refused.contains(secret), "{secret} in {refused}");
    }
}

//! The HTTP endpoint cannot be exhausted by clients without credentials: a half-sent
//! request is cut off after the header timeout, connections beyond the cap are closed at
//! once, a silent client cannot hold a TLS handshake open, and `stop()` returns promptly
//! with a half-open client connected. Everything runs on loopback, against
//! `http::start_limited` in this process, with limits of about a second.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use aigress::metrics::{Metrics, OpenAiFlows};
use aigress::sensor::http::{self, Auth, HttpServer, Limits, Shared};
use aigress::sensor::watchdog::LoopState;

/// Limits short enough for tests: one second for headers and handshakes.
fn quick() -> Limits {
    Limits {
        max_connections: 4,
        header_read_timeout: Duration::from_secs(1),
        tls_handshake_timeout: Duration::from_secs(1),
        connection_lifetime: Duration::from_secs(30),
        drain_timeout: Duration::from_millis(500),
    }
}

fn shared() -> Shared {
    Shared {
        metrics: Arc::new(Metrics::new().unwrap()),
        flows: OpenAiFlows::default(),
        ready: Arc::new(AtomicBool::new(true)),
        packet_loop: Arc::new(LoopState::new(
            Duration::from_secs(5),
            ["packet worker 0".to_owned()],
        )),
        signatures: Arc::new(std::sync::RwLock::new(Arc::new(
            aigress::signatures::Database::embedded().unwrap(),
        ))),
        inventory: None,
    }
}

fn serve(limits: Limits) -> HttpServer {
    let loopback = "127.0.0.1:0".parse().unwrap();
    http::start_limited(loopback, shared(), Auth::Open, None, limits).unwrap()
}

fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap()
}

/// A complete request for `path`, after which the server closes the connection.
fn request(path: &str, token: Option<&str>) -> String {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!("GET {path} HTTP/1.1\r\nHost: aigress\r\n{auth}Connection: close\r\n\r\n")
}

/// The status of a response, read to its end.
fn status(mut stream: impl Read) -> u16 {
    let mut response = Vec::new();
    match stream.read_to_end(&mut response) {
        Ok(_) => {}
        // A TLS peer may close without close_notify once the response is complete.
        Err(e) if e.kind() == ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => panic!("reading the response: {e}"),
    }
    let text = String::from_utf8_lossy(&response);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"))
}

fn get(addr: SocketAddr, path: &str) -> u16 {
    let mut s = connect(addr);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request(path, None).as_bytes()).unwrap();
    status(s)
}

/// How long the server takes to close `stream`, reading (and discarding) whatever it
/// sends; panics if it is still open after `bound`.
fn closed_within(stream: &mut TcpStream, bound: Duration) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        let left = bound.saturating_sub(started.elapsed());
        assert!(
            !left.is_zero(),
            "the server closed the connection within {bound:?}"
        );
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return started.elapsed(),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return started.elapsed(),
        }
    }
}

#[test]
fn a_client_trickling_a_request_head_is_cut_off_after_the_header_timeout() {
    let server = serve(quick());
    let mut client = connect(server.addr);
    client
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // About 150 bytes, with no end to the head: 15 s at one byte every 100 ms.
    let head = [
        &b"GET /healthz HTTP/1.1\r\nHost: aigress\r\nX-Slow: "[..],
        &[b'a'; 100],
    ]
    .concat();
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    // The server hears from the client every 100 ms; only the head's total time can
    // end this.
    let cut_off = head.iter().any(|byte| {
        if client.write_all(&[*byte]).is_err() {
            return true;
        }
        match client.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    });
    let elapsed = started.elapsed();
    assert!(cut_off, "the server still reads after {elapsed:?}");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(3),
        "cut off after {elapsed:?}, not about the 1 s header timeout"
    );
}

#[test]
fn a_half_sent_request_is_disconnected_after_the_header_timeout() {
    let server = serve(quick());
    let mut client = connect(server.addr);
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: aigress\r\n")
        .unwrap();
    let elapsed = closed_within(&mut client, Duration::from_secs(5));
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed after {elapsed:?}, before the header timeout"
    );
    // The endpoint itself still answers.
    assert_eq!(get(server.addr, "/healthz"), 200);
}

#[test]
fn a_keep_alive_connection_left_idle_is_closed_after_the_header_timeout() {
    let server = serve(quick());
    let mut client = connect(server.addr);
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: aigress\r\n\r\n")
        .unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 1024];
    let answer = client.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..answer]).starts_with("HTTP/1.1 200"));
    let elapsed = closed_within(&mut client, Duration::from_secs(5));
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed after {elapsed:?}, before the header timeout"
    );
}

#[test]
fn connections_beyond_the_cap_are_closed_at_once_and_requests_succeed_once_idle_ones_time_out() {
    let limits = quick();
    let server = serve(limits);
    let mut idle: Vec<TcpStream> = (0..limits.max_connections)
        .map(|_| connect(server.addr))
        .collect();
    // The idle connections are accepted before any later one: the kernel queues them in
    // order. Twenty more, each with a complete request, are all closed unanswered, well
    // before the idle ones time out.
    let started = Instant::now();
    for _ in 0..20 {
        let mut extra = connect(server.addr);
        // The server may have closed it already.
        let _ = extra.write_all(request("/healthz", None).as_bytes());
        let mut response = Vec::new();
        extra
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        match extra.read_to_end(&mut response) {
            Ok(_) => assert!(
                response.is_empty(),
                "a connection beyond the cap was served: {}",
                String::from_utf8_lossy(&response)
            ),
            Err(e) => assert!(
                !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
                "a connection beyond the cap was held open"
            ),
        }
    }
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "refusing took {:?}",
        started.elapsed()
    );
    for conn in &mut idle {
        closed_within(conn, Duration::from_secs(3));
    }
    assert_eq!(get(server.addr, "/healthz"), 200);
    assert_eq!(get(server.addr, "/readyz"), 200);
}

#[test]
fn stop_returns_within_two_seconds_with_a_half_open_client_connected() {
    // The default limits, as the sensor runs: a 10 s header timeout the stop must not
    // wait for.
    let loopback = "127.0.0.1:0".parse().unwrap();
    let mut server =
        http::start_limited(loopback, shared(), Auth::Open, None, Limits::default()).unwrap();
    let mut half_open = connect(server.addr);
    half_open
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: aigress\r\nX-Half: ")
        .unwrap();
    let mut idle = connect(server.addr);
    // A keep-alive client that got its answer and stays.
    let mut kept = connect(server.addr);
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: aigress\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 1024];
    kept.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(kept.read(&mut buf).unwrap() > 0);
    std::thread::sleep(Duration::from_millis(200));

    let started = Instant::now();
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        server.stop();
        let _ = done.send(());
    });
    assert!(
        stopped.recv_timeout(Duration::from_secs(5)).is_ok(),
        "stop() still waits after 5 s"
    );
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "stop() took {elapsed:?}");
    for conn in [&mut half_open, &mut idle, &mut kept] {
        closed_within(conn, Duration::from_millis(500));
    }
}

/// A self-signed certificate for `localhost`, as PEM files, and a client trusting it.
struct Tls {
    cert: PathBuf,
    key: PathBuf,
    client: Arc<rustls::ClientConfig>,
    _dir: tempfile::TempDir,
}

fn tls() -> Tls {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(generated.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    Tls {
        cert,
        key,
        client: Arc::new(client),
        _dir: dir,
    }
}

fn https_get(
    addr: SocketAddr,
    client: &Arc<rustls::ClientConfig>,
    path: &str,
    token: Option<&str>,
) -> u16 {
    let tcp = connect(addr);
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let conn =
        rustls::ClientConnection::new(Arc::clone(client), "localhost".try_into().unwrap()).unwrap();
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    stream.write_all(request(path, token).as_bytes()).unwrap();
    status(stream)
}

#[test]
fn https_keeps_its_authentication_and_a_silent_client_cannot_hold_a_handshake() {
    let tls = tls();
    let config = http::tls_config(&tls.cert, &tls.key).unwrap();
    let loopback = "127.0.0.1:0".parse().unwrap();
    let server = http::start_limited(
        loopback,
        shared(),
        Auth::Bearer("secret".into()),
        Some(config),
        quick(),
    )
    .unwrap();

    let mut silent = connect(server.addr);
    let elapsed = closed_within(&mut silent, Duration::from_secs(5));
    assert!(
        elapsed >= Duration::from_millis(900),
        "closed after {elapsed:?}, before the handshake timeout"
    );

    assert_eq!(
        https_get(server.addr, &tls.client, "/metrics", Some("secret")),
        200
    );
    assert_eq!(https_get(server.addr, &tls.client, "/metrics", None), 401);
    assert_eq!(
        https_get(server.addr, &tls.client, "/metrics", Some("wrong")),
        401
    );
    assert_eq!(https_get(server.addr, &tls.client, "/healthz", None), 200);

    // A client that completes its handshake and then sends half a request is cut off
    // after the header timeout too.
    let tcp = connect(server.addr);
    let conn =
        rustls::ClientConnection::new(Arc::clone(&tls.client), "localhost".try_into().unwrap())
            .unwrap();
    let mut half = rustls::StreamOwned::new(conn, tcp);
    half.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
    half.flush().unwrap();
    let started = Instant::now();
    half.sock
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = Vec::new();
    let read = half.read_to_end(&mut buf);
    let elapsed = started.elapsed();
    assert!(
        !matches!(&read, Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "the server still reads after {elapsed:?}"
    );
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_secs(3),
        "cut off after {elapsed:?}"
    );
}

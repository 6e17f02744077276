//! The live sensor's watchdog fires on a real stall and clears when the loop moves again.
//!
//! The stall is one that happens in production: the event output blocks (here a FIFO
//! that nobody reads, as a hung NFS mount or a stopped log shipper would). The sensor
//! captures on loopback, where the test's own requests to its HTTP endpoint are the
//! traffic; no packet leaves the machine.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: aigress\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    let status = body.split(' ').nth(1)?.parse().ok()?;
    Some((status, body))
}

fn wait_for(what: &str, bound: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < bound, "{what} within {bound:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct Sensor(Child);

impl Drop for Sensor {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[test]
#[ignore = "needs root to capture on loopback: scripts/test.sh runs it"]
fn a_stuck_packet_loop_fails_healthz_and_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("events");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo")
            .success()
    );
    // Held open for reading and writing, so the sensor's open does not block; nobody
    // reads until the test lets the loop go.
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .expect("open the FIFO");
    let addr = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let log = dir.path().join("stderr");
    let sensor = Sensor(
        Command::new(env!("CARGO_BIN_EXE_aigress"))
            .args(["run", "-i", "lo", "--no-promiscuous", "--no-geoip"])
            .args(["--listen", &addr.to_string(), "--stall-after", "2s"])
            .arg("--events")
            .arg(&fifo)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start aigress run"),
    );
    wait_for("the sensor is ready", Duration::from_secs(30), || {
        get(addr, "/readyz").is_some_and(|(s, _)| s == 200)
    });
    assert_eq!(get(addr, "/healthz").map(|r| r.0), Some(200));

    // Every request is a flow with an HTTP event; the pipe fills and the loop blocks.
    wait_for("/healthz fails", Duration::from_secs(60), || {
        for _ in 0..20 {
            get(addr, "/readyz");
        }
        get(addr, "/healthz").is_some_and(|(s, _)| s == 503)
    });
    // The watchdog thread looks four times a second, so its gauge and log follow
    // /healthz within a moment.
    wait_for("the gauge and the log", Duration::from_secs(5), || {
        let metrics = get(addr, "/metrics").map(|r| r.1).unwrap_or_default();
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        metrics.contains("aigress_packet_loop_stalled 1")
            && logged.contains("stuck inside one batch")
            && logged.contains("flow_id")
    });

    // Read the events: the loop moves again and the watchdog says so.
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        while reader.read(&mut buf).is_ok_and(|n| n > 0) {}
    });
    wait_for("/healthz recovers", Duration::from_secs(30), || {
        get(addr, "/healthz").is_some_and(|(s, _)| s == 200)
    });
    wait_for("the gauge clears", Duration::from_secs(5), || {
        get(addr, "/metrics").is_some_and(|(_, m)| m.contains("aigress_packet_loop_stalled 0"))
    });
    drop(sensor);
}

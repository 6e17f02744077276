//! Helpers for tests of the live sensor on loopback: AI flows from curl to a listener that
//! never answers, the sensor's readiness, waiting with a bound.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How many internal hosts (127.0.0.2, …) open an AI flow.
pub const HOSTS: u8 = 12;

pub fn wait_for(what: &str, bound: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < bound, "{what} within {bound:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn ready(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.write_all(b"GET /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply.starts_with("HTTP/1.1 200")
}

pub fn free_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

/// A TLS "server" that takes connections and never answers: every client's flow stays
/// open, its ClientHello seen, until the test ends.
pub struct Silent {
    pub port: u16,
}

pub fn silent_server() -> Silent {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    Silent { port }
}

/// Opens one AI flow from each internal host; the curls wait on the silent server.
pub fn open_ai_flows(server: &Silent) -> Vec<Child> {
    (2..2 + HOSTS)
        .map(|host| {
            let resolve = format!("api.openai.com:{}:127.0.0.1", server.port);
            Command::new("curl")
                .args(["-sk", "--max-time", "120", "--resolve", &resolve])
                .args(["--interface", &format!("127.0.0.{host}")])
                .arg(format!("https://api.openai.com:{}/v1/models", server.port))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("curl runs (scripts/setup.sh --test)")
        })
        .collect()
}

pub struct Sensor(pub Child);

impl Drop for Sensor {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// `aigress run` on loopback, seeing the AI flows to `server` and its own HTTP endpoint
/// at `listen`, nothing else (tests run side by side on one loopback), its log in
/// `dir/stderr`; returned once ready.
pub fn start_sensor(dir: &Path, listen: SocketAddr, server: &Silent, extra: &[&str]) -> Sensor {
    let policy = dir.join("policy.toml");
    // The hosts are internal, the listener (127.0.0.1) is not: every flow leaves the
    // organisation, to an unapproved vendor.
    std::fs::write(
        &policy,
        "[networks]\ninternal = [\"127.0.0.2/31\", \"127.0.0.4/30\", \"127.0.0.8/29\"]\n",
    )
    .expect("policy");
    let sensor = Sensor(
        Command::new(env!("CARGO_BIN_EXE_aigress"))
            .args(["run", "-i", "lo", "--no-promiscuous", "--no-geoip"])
            .args(["--workers", "2", "--stall-after", "1s", "--filter"])
            .arg(format!(
                "tcp port {} or tcp port {}",
                server.port,
                listen.port()
            ))
            .arg("--listen")
            .arg(listen.to_string())
            .arg("--policy")
            .arg(&policy)
            .args(["--db-interval", "1h"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stderr")).expect("log file"))
            .spawn()
            .expect("start aigress run"),
    );
    let mut sensor = sensor;
    wait_for("the sensor is ready", Duration::from_secs(30), || {
        if let Ok(Some(status)) = sensor.0.try_wait() {
            let log = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
            panic!("the sensor ended before it was ready ({status}): {log}");
        }
        ready(listen)
    });
    sensor
}

/// The openai rows of the inventory `db` (`extra`: its credentials): (internal hosts,
/// flows).
pub fn openai_inventory(db: &str, extra: &[&str]) -> (usize, u64) {
    let out = super::aigress(&[&["inventory", "--db", db, "--format", "json"], extra].concat());
    assert!(out.status.success(), "{}", super::text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let rows: Vec<&serde_json::Value> = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["vendor"] == "openai")
        .collect();
    let flows = rows.iter().filter_map(|r| r["flows"].as_u64()).sum();
    (rows.len(), flows)
}

/// Waits for the sensor to exit, at most `bound`, calling `meanwhile` between looks (to
/// send it traffic, say); its exit status.
pub fn wait_exit(
    sensor: &mut Sensor,
    bound: Duration,
    what: &str,
    mut meanwhile: impl FnMut(),
) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = sensor.0.try_wait().expect("wait") {
            return status;
        }
        assert!(started.elapsed() < bound, "{what} within {bound:?}");
        meanwhile();
    }
}

/// Sends the sensor `signal` (`TERM`, `HUP`).
pub fn signal(sensor: &Sensor, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(sensor.0.id().to_string())
        .status()
        .expect("kill");
    assert!(sent.success(), "SIG{signal} sent");
}

/// Stops the sensor with SIGTERM and waits for it; its exit status.
pub fn stop(sensor: &mut Sensor) -> std::process::ExitStatus {
    signal(sensor, "TERM");
    wait_exit(
        sensor,
        Duration::from_secs(60),
        "the sensor stops within its grace",
        pause,
    )
}

/// A tenth of a second between looks.
pub fn pause() {
    std::thread::sleep(Duration::from_millis(100));
}

/// Ends the curls holding the AI flows open.
pub fn end(curls: Vec<Child>) {
    for mut c in curls {
        c.kill().ok();
        c.wait().ok();
    }
}

pub fn last_line(log: &str) -> &str {
    log.lines().last().unwrap_or_default()
}

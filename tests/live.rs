//! The live sensor end to end, as a user runs it: two network namespaces joined by a
//! veth pair, `aigress run` capturing on the server side, a real curl/TLS exchange with
//! a local TLS server, a tcpreplay of a real capture, a real Prometheus server scraping
//! `/metrics`, SIGHUP with a valid and a broken signature file, and SIGTERM with events
//! in flight. Only the test's own namespaces (and their loopbacks) are ever addressed.
//!
//! Needs root, iproute2, curl, tcpreplay and Debian's prometheus package (with promtool):
//! `scripts/setup.sh` installs them and `scripts/test.sh` runs these tests
//! (`cargo test --test live -- --ignored`).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

const SERVER_IP: &str = "203.0.113.10";
const CLIENT_IP: &str = "10.99.0.10";
const SENSOR: &str = "127.0.0.1:9477";
const PROMETHEUS: &str = "127.0.0.1:9090";

fn sh(args: &[&str]) -> std::process::Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Two namespaces and a veth pair, deleted on drop.
struct Lab {
    client: String,
    server: String,
    client_if: String,
    server_if: String,
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Lab {
    fn new() -> Self {
        // Unique per test in this process, and short: interface names stop at 15 bytes.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}{}",
            std::process::id() % 100_000,
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Self {
            client: format!("aigress-c{id}"),
            server: format!("aigress-s{id}"),
            client_if: format!("agc{id}"),
            server_if: format!("ags{id}"),
            dir: tempfile::tempdir().unwrap(),
            children: Vec::new(),
        };
        let (c, s, ci, si) = (&lab.client, &lab.server, &lab.client_if, &lab.server_if);
        sh(&["ip", "netns", "add", c]);
        sh(&["ip", "netns", "add", s]);
        sh(&["ip", "link", "add", ci, "type", "veth", "peer", "name", si]);
        sh(&["ip", "link", "set", ci, "netns", c]);
        sh(&["ip", "link", "set", si, "netns", s]);
        for (ns, ifname, addr) in [(c, ci, "10.99.0.10/24"), (s, si, "10.99.0.1/24")] {
            sh(&["ip", "-n", ns, "addr", "add", addr, "dev", ifname]);
            sh(&["ip", "-n", ns, "link", "set", ifname, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        // The "AI vendor" lives at a documentation address inside the server namespace.
        sh(&[
            "ip",
            "-n",
            s,
            "addr",
            "add",
            &format!("{SERVER_IP}/32"),
            "dev",
            si,
        ]);
        sh(&[
            "ip",
            "-n",
            c,
            "route",
            "add",
            &format!("{SERVER_IP}/32"),
            "dev",
            ci,
        ]);
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn in_ns(&self, ns: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).args(args);
        cmd
    }

    fn spawn(&mut self, ns: &str, args: &[&str], log: &str) -> u32 {
        let log = std::fs::File::create(self.path(log)).unwrap();
        let child = self
            .in_ns(ns, args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Starts `aigress [global...] run -i <server interface> --listen SENSOR [run...]` in
    /// the server namespace, logging to `aigress.log`; returns its pid.
    fn sensor(&mut self, global: &[&str], run: &[&str]) -> u32 {
        let (server, server_if) = (self.server.clone(), self.server_if.clone());
        let mut args = vec![env!("CARGO_BIN_EXE_aigress")];
        args.extend_from_slice(global);
        args.extend_from_slice(&["run", "-i", &server_if, "--listen", SENSOR]);
        args.extend_from_slice(run);
        self.spawn(&server, &args, "aigress.log")
    }

    /// A throwaway certificate for `name` and its key, as PEM files; their paths.
    fn write_cert(&self, name: &str) -> (PathBuf, PathBuf) {
        let cert = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let (cert_path, key_path) = (self.path("cert.pem"), self.path("key.pem"));
        std::fs::write(&cert_path, cert.cert.pem()).unwrap();
        std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    /// An HTTP GET from inside the server namespace; (status, body).
    fn get(&self, url: &str) -> (u16, String) {
        let out = self
            .in_ns(&self.server, &["curl", "-s", "-w", "\n%{http_code}", url])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_owned())
    }

    /// A TLS request from the client namespace to `name` at the server address.
    fn curl_tls(&self, name: &str) {
        let out = self
            .in_ns(
                &self.client,
                &[
                    "curl",
                    "-sk",
                    "--max-time",
                    "5",
                    "--resolve",
                    &format!("{name}:443:{SERVER_IP}"),
                    &format!("https://{name}/v1/models"),
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                ],
            )
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "200",
            "curl to {name}"
        );
    }

    /// Replays `capture` from the client namespace onto the veth with tcpreplay's
    /// `options`; tcpreplay's report.
    fn replay(&self, options: &[&str], capture: &Path) -> String {
        let mut args = vec!["tcpreplay"];
        args.extend_from_slice(options);
        args.extend_from_slice(&["-i", &self.client_if, capture.to_str().unwrap()]);
        let replay = self.in_ns(&self.client, &args).output().unwrap();
        assert!(
            replay.status.success(),
            "{}",
            String::from_utf8_lossy(&replay.stderr)
        );
        String::from_utf8_lossy(&replay.stdout).into_owned()
    }

    fn metric(&self, text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    }

    fn metrics(&self) -> String {
        let (code, body) = self.get(&format!("http://{SENSOR}/metrics"));
        assert_eq!(code, 200);
        body
    }

    /// Sends the sensor `pid` SIGTERM and waits for it to exit, at most `within`.
    fn stop(&mut self, pid: u32, within: Duration) -> std::process::ExitStatus {
        signal(pid, "TERM");
        let child = self.children.iter_mut().find(|c| c.id() == pid).unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < within, "the sensor did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_for(&self, what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ok() {
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}; sensor log:\n{}",
                std::fs::read_to_string(self.path("aigress.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in [&self.client, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn signal(pid: u32, sig: &str) {
    sh(&["kill", &format!("-{sig}"), &pid.to_string()]);
}

fn events(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
#[ignore = "needs root, network namespaces, curl, tcpreplay and prometheus: scripts/test.sh runs it"]
fn the_live_sensor_end_to_end() {
    let mut lab = Lab::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));

    // A TLS server answering for any name, with a throwaway certificate.
    let (cert_path, key_path) = lab.write_cert("api.openai.com");
    let server = lab.server.clone();
    lab.spawn(
        &server,
        &[
            "openssl",
            "s_server",
            "-accept",
            &format!("{SERVER_IP}:443"),
            "-cert",
            cert_path.to_str().unwrap(),
            "-key",
            key_path.to_str().unwrap(),
            "-www",
            "-quiet",
        ],
        "s_server.log",
    );

    let policy = lab.path("policy.toml");
    std::fs::write(
        &policy,
        "[networks]\ninternal = [\"10.99.0.0/24\", \"192.168.77.0/24\", \"fd77::/64\"]\n\
         [networks.groups]\nservers = [\"192.168.77.0/28\"]\n\
         [[approve]]\nvendor = \"openai\"\nkinds = [\"api\"]\n\
         [[approve]]\nvendor = \"amazon\"\nfrom = [\"servers\"]\n",
    )
    .unwrap();
    let signatures = lab.path("signatures");
    copy_dir(&root.join("signatures"), &signatures);
    let (events_path, alerts_path) = (lab.path("eve.json"), lab.path("alerts.json"));
    let inventory_path = lab.path("inventory.db");
    let sensor = lab.sensor(
        &["--signatures", signatures.to_str().unwrap()],
        &[
            "--policy",
            policy.to_str().unwrap(),
            "--events",
            events_path.to_str().unwrap(),
            "--alerts-file",
            alerts_path.to_str().unwrap(),
            "--db",
            inventory_path.to_str().unwrap(),
            "--db-interval",
            "1s",
        ],
    );
    lab.wait_for("/readyz", Duration::from_secs(30), || {
        lab.get(&format!("http://{SENSOR}/readyz")).0 == 200
    });
    assert_eq!(lab.get(&format!("http://{SENSOR}/healthz")).0, 200);

    // Real TLS exchanges: an approved API and an unapproved consumer chat app.
    for _ in 0..3 {
        lab.curl_tls("api.openai.com");
    }
    lab.curl_tls("chat.mistral.ai");
    // A real capture replayed onto the wire: the Python SDKs of a CRM server.
    let capture = common::captures_dir().join("ai-clients__b_python_sdks.pcap");
    lab.replay(&["-q", "--topspeed"], &capture);

    // /flows shows the AI flows still open.
    lab.wait_for("the AI flow view", Duration::from_secs(10), || {
        lab.get(&format!("http://{SENSOR}/flows"))
            .1
            .contains("\"vendor\":\"amazon\"")
    });

    // Open flows' bytes reach the metrics before the flows end (closed TCP flows end 60 s
    // after their last packet).
    let amazon_bytes = |text: &str| {
        text.lines()
            .filter(|l| {
                l.starts_with("aigress_ai_sent_bytes_total{") && l.contains("vendor=\"amazon\"")
            })
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum::<f64>()
    };
    lab.wait_for(
        "bytes of still-open Bedrock flows in /metrics",
        Duration::from_secs(10),
        || {
            // Both at once: the metric holds bytes while /flows still lists the flows.
            let bytes = amazon_bytes(&lab.metrics());
            let open = lab
                .get(&format!("http://{SENSOR}/flows"))
                .1
                .contains("\"vendor\":\"amazon\"");
            bytes > 0.0 && open
        },
    );

    // A real Prometheus scrapes the sensor; its query API returns the AI byte counters.
    let prom_config = lab.path("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: aigress\n    static_configs:\n      - targets: ['{SENSOR}']\n"
        ),
    )
    .unwrap();
    let tsdb = lab.path("tsdb");
    lab.spawn(
        &server,
        &[
            "prometheus",
            &format!("--config.file={}", prom_config.display()),
            &format!("--storage.tsdb.path={}", tsdb.display()),
            &format!("--web.listen-address={PROMETHEUS}"),
        ],
        "prometheus.log",
    );
    let query = |q: &str| -> f64 {
        let (code, body) = lab.get(&format!(
            "http://{PROMETHEUS}/api/v1/query?query={}",
            q.replace(' ', "%20")
                .replace('"', "%22")
                .replace('{', "%7B")
                .replace('}', "%7D")
        ));
        if code != 200 {
            return -1.0;
        }
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(-1.0)
    };
    lab.wait_for(
        "Prometheus to hold the AI byte counters",
        Duration::from_secs(60),
        || {
            query("sum(aigress_ai_sent_bytes_total{vendor=\"openai\"})") > 0.0
                && query("sum(aigress_ai_sent_bytes_total{vendor=\"amazon\"})") > 0.0
        },
    );
    assert!(query("sum(aigress_alerts_total{rule=\"unapproved_ai_vendor\"})") >= 1.0);

    // The inventory the sensor keeps, served as JSON and as the HTML report; flows are
    // recorded when they end (closed TCP flows 60 s after their last packet, Suricata's
    // default).
    lab.wait_for(
        "the inventory to hold the replayed flows",
        Duration::from_secs(100),
        || {
            let (code, body) = lab.get(&format!("http://{SENSOR}/inventory"));
            let report: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            code == 200
                && report["rows"].as_array().is_some_and(|rows| {
                    rows.iter().any(|r| {
                        r["vendor"] == "amazon"
                            && r["internal_host"] == "192.168.77.10"
                            && r["landing_country"] == "US"
                    })
                })
        },
    );
    let (code, page) = lab.get(&format!("http://{SENSOR}/inventory.html"));
    assert_eq!(code, 200);
    assert!(page.contains("AI data flow inventory") && page.contains("Bedrock"));
    assert_eq!(query("up{job=\"aigress\"}"), 1.0);

    let metrics = lab.metrics();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
    let received = format!(
        "aigress_capture_received_packets_total{{interface=\"{}\"}}",
        lab.server_if
    );
    assert!(lab.metric(&metrics, &received) >= 324.0, "{metrics}");
    assert!(metrics.contains("aigress_client_hellos_total{result=\"read\",transport=\"tcp\"}"));
    assert!(lab.metric(&metrics, "aigress_packets_total") > 300.0);

    // Events and alerts, as a SIEM would read them.
    let alerts = events(&alerts_path);
    let rules = |rule: &str, vendor: &str| {
        alerts
            .iter()
            .filter(|a| a["alert"]["rule"] == rule && a["ai"]["vendor"] == vendor)
            .count()
    };
    assert!(rules("unapproved_ai_vendor", "mistral") >= 1, "{alerts:#?}");
    assert!(rules("non_eea_landing", "amazon") >= 1, "{alerts:#?}");
    assert_eq!(rules("unapproved_ai_vendor", "openai"), 0);

    // SIGHUP with a valid database, then with a broken one: the second keeps the first.
    signal(sensor, "HUP");
    lab.wait_for("a successful reload", Duration::from_secs(10), || {
        lab.metric(&lab.metrics(), "aigress_reloads_total{result=\"success\"}") == 1.0
    });
    std::fs::write(
        signatures.join("openai.toml"),
        "[vendor]\nid = \"Not Valid\"\n",
    )
    .unwrap();
    signal(sensor, "HUP");
    lab.wait_for("a failed reload", Duration::from_secs(10), || {
        lab.metric(&lab.metrics(), "aigress_reloads_total{result=\"failure\"}") == 1.0
    });
    lab.curl_tls("api.openai.com");
    lab.wait_for("OpenAI still classified", Duration::from_secs(10), || {
        lab.get(&format!("http://{SENSOR}/flows"))
            .1
            .contains("\"vendor\":\"openai\"")
    });

    // SIGTERM with events in flight: every connection made gets its flow record.
    for _ in 0..5 {
        lab.curl_tls("api.openai.com");
    }
    let status = lab.stop(sensor, Duration::from_secs(20));
    assert!(status.success(), "exit status {status}");
    let eve = events(&events_path);
    assert_eq!(eve.last().unwrap()["event_type"], "stats");
    let openai_flows = eve
        .iter()
        .filter(|e| {
            e["event_type"] == "flow"
                && e["flow"]["sni"] == "api.openai.com"
                && e["src_ip"] == CLIENT_IP
        })
        .count();
    assert_eq!(
        openai_flows,
        3 + 1 + 5,
        "one flow record per curl connection"
    );
    let hellos = eve
        .iter()
        .filter(|e| e["event_type"] == "tls" && e["tls"]["sni"] == "api.openai.com")
        .count();
    // Nine from curl, one from the replayed SDK capture.
    assert_eq!(hellos, 10);
    // Live events name the interface they were captured on, not a packet number.
    for e in eve.iter().filter(|e| e["event_type"] != "stats") {
        assert_eq!(e["in_iface"], lab.server_if.as_str(), "{e}");
        assert!(e.get("pcap_cnt").is_none(), "{e}");
    }
}

#[test]
#[ignore = "needs root, network namespaces and curl: scripts/test.sh runs it"]
fn the_sensor_drops_privileges_serves_https_with_a_token_and_survives_a_lost_interface() {
    let mut lab = Lab::new();
    let (cert_path, key_path) = lab.write_cert("127.0.0.1");
    std::fs::write(lab.path("token"), "s3cret-token\n").unwrap();
    let (server, server_if) = (lab.server.clone(), lab.server_if.clone());
    let token = lab.path("token");
    let sensor = lab.sensor(
        &[],
        &[
            "--http-tls-cert",
            cert_path.to_str().unwrap(),
            "--http-tls-key",
            key_path.to_str().unwrap(),
            "--http-token-file",
            token.to_str().unwrap(),
            "--user",
            "nobody",
        ],
    );
    let https = |path: &str, token: Option<&str>| -> u16 {
        let mut args = vec![
            "curl".to_owned(),
            "-s".into(),
            "-o".into(),
            "/dev/null".into(),
            "-w".into(),
            "%{http_code}".into(),
            "--cacert".into(),
            cert_path.display().to_string(),
        ];
        if let Some(t) = token {
            args.push("-H".into());
            args.push(format!("Authorization: Bearer {t}"));
        }
        args.push(format!("https://{SENSOR}{path}"));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = lab.in_ns(&server, &args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0)
    };
    lab.wait_for("/readyz over HTTPS", Duration::from_secs(30), || {
        https("/readyz", Some("s3cret-token")) == 200
    });
    // Probes answer without credentials; a client that never completes its TLS
    // handshake keeps nobody else out.
    assert_eq!(https("/healthz", None), 200);
    let mut silent: Vec<_> = (0..4)
        .map(|_| {
            lab.in_ns(
                &server,
                &["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9477; sleep 30"],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    assert_eq!(https("/metrics", Some("s3cret-token")), 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    for s in &mut silent {
        s.kill().ok();
        s.wait().ok();
    }
    assert_eq!(https("/metrics", None), 401);
    assert_eq!(https("/metrics", Some("wrong-token!")), 401);
    assert_eq!(https("/metrics", Some("s3cret-token")), 200);

    // The process runs as nobody once the interface and the port are open.
    let status = std::fs::read_to_string(format!("/proc/{sensor}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "65534"),
        "{uid}"
    );

    // The interface disappears and comes back: the capture is opened again.
    sh(&["ip", "-n", &server, "link", "del", &server_if]);
    std::thread::sleep(Duration::from_secs(1));
    let (client, client_if) = (lab.client.clone(), lab.client_if.clone());
    sh(&[
        "ip", "link", "add", &client_if, "type", "veth", "peer", "name", &server_if,
    ]);
    sh(&["ip", "link", "set", &client_if, "netns", &client]);
    sh(&["ip", "link", "set", &server_if, "netns", &server]);
    sh(&["ip", "-n", &client, "link", "set", &client_if, "up"]);
    sh(&["ip", "-n", &server, "link", "set", &server_if, "up"]);
    lab.wait_for(
        "the capture to be reopened",
        Duration::from_secs(30),
        || {
            let out = lab
                .in_ns(
                    &server,
                    &[
                        "curl",
                        "-s",
                        "--cacert",
                        cert_path.to_str().unwrap(),
                        "-H",
                        "Authorization: Bearer s3cret-token",
                        &format!("https://{SENSOR}/metrics"),
                    ],
                )
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            lab.metric(
                &text,
                &format!("aigress_capture_reopens_total{{interface=\"{server_if}\"}}"),
            ) >= 1.0
        },
    );
    let log = std::fs::read_to_string(lab.path("aigress.log")).unwrap();
    assert!(log.contains("The interface disappeared"), "{log}");
    signal(sensor, "TERM");
}

#[test]
#[ignore = "needs root, network namespaces, curl and tcpreplay: scripts/test.sh runs it"]
fn a_burst_beyond_the_kernel_buffer_is_counted_never_silently_lost() {
    let mut lab = Lab::new();
    let server_if = lab.server_if.clone();
    lab.sensor(&[], &["--buffer-mib", "1", "--events", "/dev/null"]);
    lab.wait_for("/readyz", Duration::from_secs(30), || {
        lab.get(&format!("http://{SENSOR}/readyz")).0 == 200
    });
    // 300 copies of a real capture as fast as the veth takes them.
    let capture = common::captures_dir().join("ai-clients__b_python_sdks.pcap");
    lab.replay(&["-q", "--topspeed", "--loop=300"], &capture);
    let sent = 300.0 * 324.0;
    let received = format!("aigress_capture_received_packets_total{{interface=\"{server_if}\"}}");
    let dropped =
        format!("aigress_capture_dropped_packets_total{{by=\"kernel\",interface=\"{server_if}\"}}");
    // Every packet the capture received is either processed or counted as dropped.
    lab.wait_for(
        "every received packet to be processed or counted",
        Duration::from_secs(60),
        || {
            let m = lab.metrics();
            let got = lab.metric(&m, &received);
            got >= sent && lab.metric(&m, "aigress_packets_total") + lab.metric(&m, &dropped) == got
        },
    );
}

/// A flow record's identity and counters, the same whichever side it was first seen from.
fn flow_records(events: &[serde_json::Value]) -> Vec<String> {
    let mut records: Vec<String> = events
        .iter()
        .filter(|e| e["event_type"] == "flow")
        .map(|e| {
            let ends = [
                format!("{}:{}", e["src_ip"], e["src_port"]),
                format!("{}:{}", e["dest_ip"], e["dest_port"]),
            ];
            let f = &e["flow"];
            format!(
                "{} {} {} {} {} {} {}",
                e["proto"],
                ends[0],
                ends[1],
                f["pkts_toserver"],
                f["pkts_toclient"],
                f["bytes_toserver"],
                f["bytes_toclient"]
            )
        })
        .collect();
    records.sort();
    records
}

#[test]
#[ignore = "needs root, network namespaces and tcpreplay: scripts/test.sh runs it"]
fn two_packet_workers_see_each_flow_whole_and_count_as_one_sensor() {
    let mut lab = Lab::new();
    let events_path = lab.path("events.json");
    let sensor = lab.sensor(
        &[],
        &[
            "--workers",
            "2",
            "--no-geoip",
            "--events",
            events_path.to_str().unwrap(),
        ],
    );
    lab.wait_for("/readyz", Duration::from_secs(30), || {
        lab.get(&format!("http://{SENSOR}/readyz")).0 == 200
    });
    // Real clients' captures, TCP and QUIC, one VLAN-tagged, replayed one after another
    // slowly enough that nothing is dropped.
    let captures: Vec<PathBuf> = common::ai_client_captures()
        .iter()
        .map(PathBuf::from)
        .collect();
    let mut sent_packets = 0.0;
    for capture in &captures {
        let report = lab.replay(&["--pps", "4000"], capture);
        let sent: f64 = report
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("Actual: ")?
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or_else(|| panic!("tcpreplay's report: {report}"));
        sent_packets += sent;
    }
    let worker = |m: &str, n: u32| {
        lab.metric(
            m,
            &format!("aigress_worker_packets_total{{worker=\"{n}\"}}"),
        )
    };
    lab.wait_for("every packet processed", Duration::from_secs(30), || {
        let m = lab.metrics();
        lab.metric(&m, "aigress_packets_total") >= sent_packets
    });
    let m = lab.metrics();
    let (first, second) = (worker(&m, 0), worker(&m, 1));
    assert!(
        first > 0.0 && second > 0.0,
        "the kernel spread the flows over both workers: {first} and {second}"
    );
    assert_eq!(first + second, lab.metric(&m, "aigress_packets_total"));
    assert_eq!(
        lab.metric(&m, "aigress_worker_dropped_packets_total{worker=\"0\"}")
            + lab.metric(&m, "aigress_worker_dropped_packets_total{worker=\"1\"}"),
        0.0
    );
    assert!(
        lab.metric(&m, "aigress_worker_flows_active{worker=\"0\"}") > 0.0
            && lab.metric(&m, "aigress_worker_flows_active{worker=\"1\"}") > 0.0
    );
    signal(sensor, "TERM");
    lab.wait_for("the sensor to stop", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&events_path).unwrap_or_default();
        text.ends_with('\n')
            && text
                .lines()
                .last()
                .is_some_and(|l| l.contains("\"event_type\":\"stats\""))
    });

    // Both directions of every flow met in one worker: each flow has one record with the
    // same packet and byte counts a scan of the same captures gives.
    let live = events(&events_path);
    let mut scanned = Vec::new();
    for capture in &captures {
        scanned.extend(common::scan_events(capture));
    }
    // The veth also carries the kernel's own IPv6 neighbour discovery and multicast
    // listener reports: ICMPv6 flows of the live sensor that are not in the captures.
    let not_icmpv6 = |records: &[String]| -> Vec<String> {
        records
            .iter()
            .filter(|r| !r.starts_with("\"IPv6-ICMP\""))
            .cloned()
            .collect()
    };
    let live_all = flow_records(&live);
    let (live_flows, scanned_flows) = (not_icmpv6(&live_all), not_icmpv6(&flow_records(&scanned)));
    assert!(scanned_flows.len() > 150, "{}", scanned_flows.len());
    assert_eq!(live_flows, scanned_flows);
    // The stats record adds both workers up.
    let stats = &live.last().unwrap()["stats"];
    assert!(
        stats["packets"].as_f64().unwrap() >= sent_packets,
        "{stats}"
    );
    assert_eq!(
        stats["flows"]["created"].as_u64(),
        Some(u64::try_from(live_all.len()).unwrap())
    );
}

/// Runs `args` in namespace `ns` and returns its standard output, failing on an error.
fn run_in(lab: &Lab, ns: &str, args: &[&str]) -> String {
    let out = lab.in_ns(ns, args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs root, network namespaces, curl and the openai Python SDK: scripts/test.sh runs it"]
fn self_hosted_model_servers_and_a_hub_download_on_the_wire() {
    let mut lab = Lab::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let models = root.join("tests/data/models");
    let server_script = models.join("model-server.py");
    let client_script = models.join("model-client.py");
    let server = lab.server.clone();
    let client = lab.client.clone();
    // An OpenAI-compatible server the policy approves, an Ollama-style one it does not,
    // both inside the network; and a hub's file CDN outside it, over TLS.
    for (listen, log) in [
        ("10.99.0.1:8000", "openai.log"),
        ("10.99.0.1:11434", "ollama.log"),
    ] {
        lab.spawn(
            &server,
            &[
                "python3",
                server_script.to_str().unwrap(),
                "--listen",
                listen,
            ],
            log,
        );
    }
    let (cert, key) = lab.write_cert("cdn-lfs-us-1.hf.co");
    lab.spawn(
        &server,
        &[
            "python3",
            server_script.to_str().unwrap(),
            "--listen",
            &format!("{SERVER_IP}:443"),
            "--hub-bytes",
            "6000000",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        "hub.log",
    );
    let policy = lab.path("policy.toml");
    std::fs::write(
        &policy,
        "[networks]\ninternal = [\"10.99.0.0/24\"]\n\
         [self_hosted]\napproved = [\"10.99.0.1/32\"]\nports = [8000]\n\
         [alerts.severity]\nself_hosted_ai = \"medium\"\nmodel_download = \"low\"\n\
         [alerts.model_download]\nbytes = \"4 MiB\"\n",
    )
    .unwrap();
    let (events_path, db) = (lab.path("eve.json"), lab.path("inventory.db"));
    let key_file = lab.path("pseudonym.key");
    std::fs::write(&key_file, "a key of the lab, long enough").unwrap();
    let sensor = lab.sensor(
        &[],
        &[
            "--policy",
            policy.to_str().unwrap(),
            "--events",
            events_path.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            "--pseudonymise-key",
            key_file.to_str().unwrap(),
            "--db-interval",
            "1s",
        ],
    );
    lab.wait_for("/readyz", Duration::from_secs(30), || {
        lab.get(&format!("http://{SENSOR}/readyz")).0 == 200
    });
    lab.wait_for("the model servers", Duration::from_secs(20), || {
        ["10.99.0.1:8000", "10.99.0.1:11434"].iter().all(|s| {
            lab.in_ns(
                &client,
                &["curl", "-sf", &format!("http://{s}/nothing-here")],
            )
            .output()
            .is_ok_and(|o| o.status.code() == Some(22))
        })
    });

    // The real openai SDK, Ollama's API as its clients call it, and a model file pulled
    // from the hub.
    let said = run_in(
        &lab,
        &client,
        &[
            "python3",
            client_script.to_str().unwrap(),
            "openai",
            "http://10.99.0.1:8000",
        ],
    );
    assert!(
        said.contains("openai stream The answer is forty-two."),
        "{said}"
    );
    let said = run_in(
        &lab,
        &client,
        &[
            "python3",
            client_script.to_str().unwrap(),
            "ollama",
            "http://10.99.0.1:11434",
        ],
    );
    assert!(
        said.contains("ollama chat The answer is forty-two."),
        "{said}"
    );
    run_in(
        &lab,
        &client,
        &[
            "curl",
            "-sfk",
            "--max-time",
            "20",
            "--resolve",
            &format!("cdn-lfs-us-1.hf.co:443:{SERVER_IP}"),
            "https://cdn-lfs-us-1.hf.co/repos/ab/cd/model.safetensors",
            "-o",
            "/dev/null",
        ],
    );

    // The metrics name both kinds while the sensor runs (open flows' bytes every second),
    // and count the download once its flow has ended (closed TCP flows end 60 s after
    // their last packet, Suricata's default).
    lab.wait_for(
        "self-hosted bytes and the hub download in /metrics",
        Duration::from_secs(100),
        || {
            let text = lab.metrics();
            text.contains("kind=\"self_hosted_ai\"")
                && text.contains("kind=\"model_hub\"")
                && lab.metric(
                    &text,
                    "aigress_model_downloads_total{product=\"Hugging Face model and dataset file downloads\",vendor=\"huggingface\"}",
                ) == 1.0
        },
    );
    let status = lab.stop(sensor, Duration::from_secs(25));
    assert!(status.success(), "exit status {status}");

    let eve = events(&events_path);
    let calls: Vec<(String, String, String)> = eve
        .iter()
        .filter(|e| e["event_type"] == "http" && e["ai"]["kind"] == "self_hosted_ai")
        .map(|e| {
            (
                e["ai"]["host"].as_str().unwrap().to_owned(),
                e["http"]["url"].as_str().unwrap().to_owned(),
                e["policy_verdict"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let call = |host: &str, url: &str| calls.iter().find(|c| c.0 == host && c.1 == url);
    assert_eq!(
        call("10.99.0.1:8000", "/v1/chat/completions").map(|c| c.2.as_str()),
        Some("approved"),
        "{calls:?}"
    );
    assert!(
        call("10.99.0.1:8000", "/v1/embeddings").is_some(),
        "{calls:?}"
    );
    // Ollama's routes are generic: the one its packet worker reports first names nothing,
    // the second names the server (two workers may report them in either order).
    let ollama: Vec<&(String, String, String)> =
        calls.iter().filter(|c| c.0 == "10.99.0.1:11434").collect();
    assert_eq!(ollama.len(), 1, "{calls:?}");
    assert!(["/api/tags", "/api/chat"].contains(&ollama[0].1.as_str()));
    assert_eq!(ollama[0].2, "review", "{calls:?}");
    let alerts: Vec<&serde_json::Value> =
        eve.iter().filter(|e| e["event_type"] == "alert").collect();
    let fired = |sid: u64, dest: &str| {
        alerts
            .iter()
            .filter(|a| a["alert"]["signature_id"] == sid && a["dest_ip"] == dest)
            .count()
    };
    assert_eq!(fired(9_441_010, "10.99.0.1"), 1, "{alerts:#?}");
    assert_eq!(fired(9_441_011, SERVER_IP), 1, "{alerts:#?}");
    let downloads: Vec<&serde_json::Value> = eve
        .iter()
        .filter(|e| e["event_type"] == "model_download")
        .collect();
    assert_eq!(downloads.len(), 1, "{downloads:#?}");
    assert_eq!(downloads[0]["model_download"]["hub"], "cdn-lfs-us-1.hf.co");
    assert!(downloads[0]["model_download"]["bytes"].as_u64().unwrap() >= 6_000_000);

    // The inventory: rows per server and hub, hosts pseudonymised, no credential or body.
    let out = common::ok(&[
        "inventory",
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["internal_host"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        kinds.iter().any(|(k, _)| *k == "self_hosted_ai"),
        "{kinds:?}"
    );
    assert!(kinds.iter().any(|(k, _)| *k == "model_hub"), "{kinds:?}");
    assert!(kinds.iter().all(|(_, h)| h.starts_with("h:")), "{kinds:?}");
    let stored = std::fs::read(&db).unwrap();
    for secret in ["sk-lab-secret-key", "customer record 4711", CLIENT_IP] {
        assert!(
            !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} stored in the inventory"
        );
    }
}

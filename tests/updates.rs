//! Signed signature updates from a local HTTPS server (loopback, a test CA): what installs,
//! and that every refusal — a bad signature, an unknown key, a truncated or invalid
//! bundle, a downgrade, a plain-http or unreachable server — leaves the installed
//! database as it was, with an error that says why.

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use aigress::signatures::bundle::{self, SigningKey};
use common::https::{HttpsServer, Response};
use common::{aigress, ok, text};

/// A copy of the shipped database with `version`, and Cohere's API and OpenAI's API
/// training defaults set to `training` (shipped: `opt_out` and `no`).
fn database(dir: &Path, version: &str, training: &str) -> PathBuf {
    let out = dir.join(format!("db-{version}"));
    std::fs::create_dir_all(&out).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("signatures");
    for entry in std::fs::read_dir(shipped).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let mut text = std::fs::read_to_string(&path).unwrap();
            if path.ends_with("database.toml") {
                text = format!("version = \"{version}\"\ndate = \"2026-12-06\"\n");
            }
            if path.ends_with("cohere.toml") {
                text = text.replacen("value = \"opt_out\"", &format!("value = \"{training}\""), 1);
            }
            if path.ends_with("openai.toml") && training != "opt_out" {
                text = text.replacen("value = \"no\"", &format!("value = \"{training}\""), 1);
            }
            std::fs::write(out.join(path.file_name().unwrap()), text).unwrap();
        }
    }
    out
}

/// Runs `aigress` and returns its stderr, asserting it failed.
fn refused(args: &[&str]) -> String {
    let out = aigress(args);
    assert!(!out.status.success(), "aigress {args:?} succeeded");
    text(&out.stderr)
}

struct Setup {
    dir: tempfile::TempDir,
    key: PathBuf,
    public: PathBuf,
    state: PathBuf,
    /// What the server serves at /bundle.
    served: Arc<Mutex<Vec<u8>>>,
    server: HttpsServer,
}

impl Setup {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().join("release");
        ok(&["signatures", "keygen", "--out", prefix.to_str().unwrap()]);
        let served = Arc::new(Mutex::new(Vec::new()));
        let body = Arc::clone(&served);
        let server = HttpsServer::start(move |request| {
            if request.line.starts_with("GET /bundle ") {
                Response {
                    status: "200 OK",
                    body: body.lock().unwrap().clone(),
                }
            } else {
                Response {
                    status: "404 Not Found",
                    body: Vec::new(),
                }
            }
        });
        Self {
            key: prefix.with_extension("key"),
            public: prefix.with_extension("pub"),
            state: dir.path().join("state"),
            dir,
            served,
            server,
        }
    }

    /// Signs a database of `version` with the release key and serves it.
    fn serve(&self, version: &str, training: &str) -> Vec<u8> {
        let db = database(self.dir.path(), version, training);
        let out = self.dir.path().join(format!("{version}.bundle"));
        ok(&[
            "signatures",
            "bundle",
            db.to_str().unwrap(),
            "--key",
            self.key.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ]);
        let bytes = std::fs::read(&out).unwrap();
        self.serve_bytes(bytes.clone());
        bytes
    }

    fn serve_bytes(&self, bytes: Vec<u8>) {
        *self.served.lock().unwrap() = bytes;
    }

    fn url(&self) -> String {
        format!("{}/bundle", self.server.base)
    }

    fn update(&self, extra: &[&str]) -> std::process::Output {
        let url = self.url();
        let mut args = vec![
            "signatures",
            "update",
            "--from",
            &url,
            "--state-dir",
            self.state.to_str().unwrap(),
            "--trusted-key",
            self.public.to_str().unwrap(),
            "--ca",
            self.server.ca.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        aigress(&args)
    }

    fn current(&self) -> String {
        let target = std::fs::read_link(self.state.join("current")).unwrap();
        target.file_name().unwrap().to_str().unwrap().to_owned()
    }

    /// The update fails, says `why`, and the installed version stays `version`.
    fn refuses(&self, extra: &[&str], why: &str, version: &str) {
        let out = self.update(extra);
        assert!(!out.status.success(), "installed: {}", text(&out.stdout));
        let err = text(&out.stderr);
        assert!(err.contains(why), "want {why:?} in: {err}");
        assert_eq!(
            self.current(),
            version,
            "the installed database is untouched"
        );
        let check = ok(&[
            "signatures",
            "check",
            self.state.join("current").to_str().unwrap(),
        ]);
        assert!(check.contains(version), "{check}");
    }
}

#[test]
fn a_signed_bundle_installs_and_every_bad_one_leaves_the_database_in_place() {
    let s = Setup::new();
    s.serve("2030.1.1.1", "opt_out");
    let out = s.update(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("installed version 2030.1.1.1 (was none)"));
    assert_eq!(s.current(), "2030.1.1.1");
    assert!(text(&s.update(&[]).stdout).contains("already current"));

    let good = s.serve("2030.1.1.2", "yes");
    let mut altered = good.clone();
    let last = altered.len() - 3;
    altered[last] ^= 1;
    s.serve_bytes(altered);
    s.refuses(&[], "signature does not verify", "2030.1.1.1");

    s.serve_bytes(good[..good.len() / 2].to_vec());
    s.refuses(&[], "signature does not verify", "2030.1.1.1");

    s.serve_bytes(b"<html>not found</html>".to_vec());
    s.refuses(&[], "not a signature bundle", "2030.1.1.1");

    let (stranger, _) = SigningKey::generate().unwrap();
    let foreign = bundle::seal(
        &[(
            "database.toml".into(),
            "version = \"2030.1.1.3\"\ndate = \"2030-01-01\"\n".into(),
        )],
        "2030-01-01T00:00:00Z",
        &stranger,
    )
    .unwrap();
    s.serve_bytes(foreign);
    s.refuses(&[], "which is not among the trusted keys", "2030.1.1.1");

    let trusted = SigningKey::from_pem(&std::fs::read_to_string(&s.key).unwrap()).unwrap();
    let invalid = bundle::seal(
        &[
            (
                "database.toml".into(),
                "version = \"2030.1.1.4\"\ndate = \"2030-01-01\"\n".into(),
            ),
            ("acme.toml".into(), "[vendor]\nid = \"Acme\"\n".into()),
        ],
        "2030-01-01T00:00:00Z",
        &trusted,
    )
    .unwrap();
    s.serve_bytes(invalid);
    s.refuses(&[], "does not load, nothing installed", "2030.1.1.1");

    s.serve("2029.12.31.1", "no");
    s.refuses(&[], "older than the installed 2030.1.1.1", "2030.1.1.1");

    let plain = s.url().replace("https://", "http://");
    let out = aigress(&[
        "signatures",
        "update",
        "--from",
        &plain,
        "--state-dir",
        s.state.to_str().unwrap(),
        "--trusted-key",
        s.public.to_str().unwrap(),
    ]);
    assert!(text(&out.stderr).contains("only https:// URLs or local files"));

    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = refused(&[
        "signatures",
        "update",
        "--from",
        &format!("https://127.0.0.1:{port}/bundle"),
        "--state-dir",
        s.state.to_str().unwrap(),
        "--trusted-key",
        s.public.to_str().unwrap(),
    ]);
    assert!(
        err.contains(&format!("downloading https://127.0.0.1:{port}/bundle")),
        "{err}"
    );
    assert_eq!(s.current(), "2030.1.1.1");

    let untrusted_ca = refused(&[
        "signatures",
        "update",
        "--from",
        &s.url(),
        "--state-dir",
        s.state.to_str().unwrap(),
        "--trusted-key",
        s.public.to_str().unwrap(),
    ]);
    assert!(untrusted_ca.contains("downloading"), "{untrusted_ca}");
    assert_eq!(s.current(), "2030.1.1.1");

    s.serve("2029.12.31.1", "no");
    assert!(s.update(&["--allow-downgrade"]).status.success());
    assert_eq!(s.current(), "2029.12.31.1");
    let back = ok(&[
        "signatures",
        "update",
        "--rollback",
        "--state-dir",
        s.state.to_str().unwrap(),
    ]);
    assert!(
        back.contains("rolled back from 2029.12.31.1 to 2030.1.1.1"),
        "{back}"
    );
    assert_eq!(s.current(), "2030.1.1.1");
}

#[test]
fn diff_names_the_product_the_old_and_new_value_and_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let old = database(dir.path(), "2030.1.1.1", "opt_out");
    let new = database(dir.path(), "2030.1.1.2", "yes");
    let out = ok(&[
        "signatures",
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let changes: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let c = changes
        .iter()
        .find(|c| c["vendor"] == "cohere")
        .unwrap_or_else(|| panic!("{out}"));
    let openai: Vec<&serde_json::Value> =
        changes.iter().filter(|c| c["vendor"] == "openai").collect();
    assert!(
        openai
            .iter()
            .all(|c| c["field"] == "training" && c["new"] == "yes"),
        "{out}"
    );
    assert_eq!(changes.len(), 1 + openai.len(), "{out}");
    assert_eq!(c["field"], "training");
    assert_eq!(
        (c["old"].as_str(), c["new"].as_str()),
        (Some("opt_out"), Some("yes"))
    );
    assert_eq!(c["new_source"], "https://cohere.com/data-usage-policy");
    let same = ok(&[
        "signatures",
        "diff",
        old.to_str().unwrap(),
        old.to_str().unwrap(),
    ]);
    assert_eq!(same.trim(), "no fact or host changed");
}

#[test]
fn keys_are_written_once_and_the_private_one_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("k");
    ok(&["signatures", "keygen", "--out", prefix.to_str().unwrap()]);
    let mode = std::fs::metadata(prefix.with_extension("key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let again = refused(&["signatures", "keygen", "--out", prefix.to_str().unwrap()]);
    assert!(again.contains("not overwritten"), "{again}");
}

/// One HTTP/1.1 GET to the sensor's endpoint; the whole reply.
fn get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    );
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply);
    reply
}

#[test]
#[ignore = "needs root to capture on loopback, and curl: scripts/test.sh runs it"]
fn a_running_sensor_takes_a_new_database_mid_capture_without_losing_a_flow() {
    use common::live::{Silent, end, free_addr, open_ai_flows, openai_inventory};
    use common::live::{start_sensor, stop, wait_for};
    use std::time::Duration;

    let s = Setup::new();
    s.serve("2030.1.1.1", "opt_out");
    assert!(s.update(&[]).status.success());
    let dir = s.dir.path();
    let listen = free_addr();
    // An "API" that completes the handshake and answers, so each ClientHello's event
    // reaches the judge at once and the product counts as in use before the switch.
    let api = HttpsServer::start(|_| Response {
        status: "200 OK",
        body: b"{}".to_vec(),
    });
    let server = Silent {
        port: api.base.rsplit(':').next().unwrap().parse().unwrap(),
    };
    let events = dir.join("events.json");
    let db = dir.join("inventory.db").display().to_string();
    let current = s.state.join("current").display().to_string();
    let mut sensor = start_sensor(
        dir,
        listen,
        &server,
        &[
            "-v",
            "--signatures",
            &current,
            "--db",
            &db,
            "--events",
            &events.display().to_string(),
        ],
    );
    assert!(get(listen, "/healthz").contains("signatures 2030.1.1.1"));
    let before = open_ai_flows(&server);
    std::thread::sleep(Duration::from_secs(2));

    s.serve("2030.1.1.2", "yes");
    let installed = s.update(&[]);
    assert!(installed.status.success(), "{}", text(&installed.stderr));
    wait_for(
        "the sensor loads the new version",
        Duration::from_secs(15),
        || {
            get(listen, "/metrics").contains(
                "aigress_signature_database_info{date=\"2026-12-06\",version=\"2030.1.1.2\"} 1",
            )
        },
    );
    assert!(get(listen, "/healthz").contains("signatures 2030.1.1.2"));
    // Each worker takes the new database at its next batch or poll (a fifth of a second
    // on a quiet interface).
    std::thread::sleep(Duration::from_millis(500));
    let after = open_ai_flows(&server);
    std::thread::sleep(Duration::from_secs(2));

    let status = stop(&mut sensor);
    end(before);
    end(after);
    let log = std::fs::read_to_string(dir.join("stderr")).unwrap();
    assert!(status.success(), "{log}");
    assert!(
        log.contains("from=2030.1.1.1") && log.contains("to=2030.1.1.2"),
        "the log says which version replaced which: {log}"
    );
    let (hosts, flows) = openai_inventory(&db, &[]);
    assert_eq!(
        (hosts, flows),
        (
            usize::from(common::live::HOSTS),
            2 * u64::from(common::live::HOSTS)
        ),
        "no flow is lost across the switch: {log}"
    );
    let all: Vec<serde_json::Value> = std::fs::read_to_string(&events)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let changed: Vec<&serde_json::Value> = all
        .iter()
        .filter(|e| e["alert"]["rule"] == "vendor_terms_changed")
        .collect();
    assert_eq!(
        changed.len(),
        1,
        "one alert for the one product in use: {log}"
    );
    let alert = changed[0];
    assert_eq!(alert["ai"]["product"], "OpenAI API");
    assert_eq!(alert["ai"]["trains_on_inputs"], "yes");
    assert_eq!(alert["ai"]["signatures_version"], "2030.1.1.2");
    let terms = &alert["alert"]["terms_changed"][0];
    assert_eq!(
        (
            terms["field"].as_str(),
            terms["old"].as_str(),
            terms["new"].as_str()
        ),
        (Some("training"), Some("no"), Some("yes"))
    );
    assert!(
        terms["new_source"]
            .as_str()
            .is_some_and(|s| s.starts_with("https://"))
    );
    assert!(
        alert["alert"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("training (OpenAI API): no -> yes")),
        "{alert}"
    );
    let report: serde_json::Value = serde_json::from_str(&ok(&[
        "inventory",
        "--db",
        &db,
        "--report",
        "changes",
        "--since",
        "2001-01-01",
        "--format",
        "json",
    ]))
    .unwrap();
    let listed = report["terms_changed"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{report}");
    assert_eq!(listed[0]["product"], "OpenAI API");
    assert!(
        listed[0]["what"]
            .as_str()
            .is_some_and(|w| w.contains("training (OpenAI API): no -> yes"))
    );
    let versions: Vec<String> = all
        .iter()
        .filter(|e| e["event_type"] == "tls" && e["ai"]["vendor"] == "openai")
        .map(|e| {
            e["ai"]["signatures_version"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    let count = |v: &str| versions.iter().filter(|x| *x == v).count();
    assert_eq!(
        (count("2030.1.1.1"), count("2030.1.1.2")),
        (
            usize::from(common::live::HOSTS),
            usize::from(common::live::HOSTS)
        ),
        "each ClientHello is judged by the database in use when it was seen: {versions:?}\n{log}"
    );
}

//! A fleet's inventory in a real PostgreSQL server (Debian's `postgresql` package, started
//! here in a temporary directory as an unprivileged user): sensors writing at once, the
//! same report as merged SQLite stores, a server restarted mid-run, a sensor killed with
//! SIGKILL, TLS, migration from SQLite, and clear errors. Hostile names from the wire
//! stored alike by both backends, a batch the server refuses split around the refused
//! row, and a server that accepts and never answers failing calls within their bounds.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aigress::inventory::store::{
    AlertRow, Batch, DailyRow, Filter, FingerprintRow, FlowRow, Location, Store, UnknownHostRow,
    UnknownRow,
};
use aigress::inventory::writer::Writer;
use common::{aigress, text};

/// A PostgreSQL server of its own, stopped when dropped.
struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

/// Runs a PostgreSQL program as the `postgres` user when root (initdb refuses root).
fn pg_command(bin: &Path, program: &str) -> Command {
    let path = bin.join(program);
    if nix::unistd::Uid::effective().is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const PASSWORD: &str = "fleet-inventory-secret";

impl Postgres {
    /// initdb with a password-protected `aigress` superuser, then start on loopback.
    fn start(extra_conf: &str) -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's postgresql is installed (scripts/setup.sh --test)")
            .map(|e| e.unwrap().path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .max()
            .expect("a PostgreSQL server version");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let pwfile = root.join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if nix::unistd::Uid::effective().is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres"])
                .arg(root)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let out = pg_command(&bin, "initdb")
            .arg("-D")
            .arg(root.join("data"))
            .args([
                "-U",
                "aigress",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {}", text(&out.stderr));
        std::fs::remove_file(&pwfile).unwrap();
        let conf = root.join("data/postgresql.conf");
        let mut settings = std::fs::read_to_string(&conf).unwrap();
        settings.push_str(extra_conf);
        std::fs::write(&conf, settings).unwrap();
        let pg = Self {
            port: free_port(),
            dir,
            bin,
        };
        pg.ctl(&["start", "-w"]);
        let out = Command::new("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "aigress",
            ])
            .arg("inventory")
            .env("PGPASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(out.status.success(), "createdb: {}", text(&out.stderr));
        pg
    }

    fn ctl(&self, action: &[&str]) {
        let out = self.ctl_command(action).output().unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {action:?}: {}",
            text(&out.stderr)
        );
    }

    /// `pg_ctl ACTION` on this server, to run where the test wants (another thread).
    fn ctl_command(&self, action: &[&str]) -> Command {
        let root = self.dir.path();
        let mut command = pg_command(&self.bin, "pg_ctl");
        command
            .arg("-D")
            .arg(root.join("data"))
            .arg("-l")
            .arg(root.join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                root.display()
            ))
            .args(action);
        command
    }

    /// The URL of the inventory database (never with the password).
    fn url(&self, params: &str) -> String {
        format!(
            "postgres://aigress@127.0.0.1:{}/inventory{params}",
            self.port
        )
    }

    /// A file holding the password, for `--db-password-file`.
    fn password_file(&self) -> String {
        let path = self.dir.path().join("client-password");
        std::fs::write(&path, format!("{PASSWORD}\n")).unwrap();
        path.display().to_string()
    }

    /// Runs `sql` in psql, as a DBA would; its output, unaligned.
    fn sql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "aigress", "-d", "inventory", "-v", "ON_ERROR_STOP=1"])
            .args(["-tAc", sql])
            .env("PGPASSWORD", PASSWORD)
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {sql}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    }

    /// The inventory database as a store of this process.
    fn store(&self) -> Store {
        let location = Location::parse(&self.url("?sslmode=disable"))
            .unwrap()
            .with_credentials(Some(Path::new(&self.password_file())), None)
            .unwrap();
        Store::connect(&location).unwrap()
    }

    /// The server's processes: the postmaster and its children.
    fn processes(&self) -> Vec<String> {
        let pid_file =
            std::fs::read_to_string(self.dir.path().join("data/postmaster.pid")).unwrap();
        let postmaster = pid_file.lines().next().unwrap().trim().to_owned();
        let mut pids = vec![postmaster.clone()];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...: the fields after the last ')'.
            let parent = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1));
            if parent == Some(postmaster.as_str()) {
                pids.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        pids
    }

    /// Stops (`-STOP`) or resumes (`-CONT`) every process of the server: stopped, it
    /// still accepts TCP connections and acknowledges what it is sent (the kernel does),
    /// and never answers.
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(signal)
            .args(self.processes())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = pg_command(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["stop", "-m", "immediate"])
            .output();
    }
}

/// `aigress scan` recording into `db` as `sensor`, every event its own batch.
fn scan_command(db: &str, password_file: Option<&str>, sensor: &str, files: &[String]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_aigress"));
    c.args([
        "scan",
        "-f",
        "json",
        "--policy",
        &common::deploy_policy(),
        "--db",
        db,
    ])
    .args(["--sensor-name", sensor, "--db-interval", "0s"]);
    if let Some(p) = password_file {
        c.args(["--db-password-file", p]);
    }
    c.args(files).stdout(Stdio::null()).stderr(Stdio::piped());
    c.env_remove("AIGRESS_DB")
        .env_remove("PGPASSWORD")
        .env("AIGRESS_LOG", "info");
    c
}

/// The inventory report as JSON with its lists sorted, so stores that wrote the same
/// rows in another order compare equal.
fn report(db: &str, password_file: Option<&str>, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["inventory", "--db", db, "--format", "json"];
    if let Some(p) = password_file {
        args.extend(["--db-password-file", p]);
    }
    args.extend(extra);
    let out = aigress(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_object_mut().unwrap().remove("generated");
    for key in [
        "rows",
        "daily",
        "fingerprints",
        "alerts",
        "hosts",
        "vendors",
        "transfers",
        "saas",
    ] {
        if let Some(list) = v[key].as_array_mut() {
            list.sort_by_key(|x| x.to_string());
        }
    }
    v
}

fn split_captures() -> (Vec<String>, Vec<String>) {
    let all = common::ai_client_captures();
    let (a, b): (Vec<_>, Vec<_>) = all
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    (
        a.into_iter().map(|(_, f)| f).collect(),
        b.into_iter().map(|(_, f)| f).collect(),
    )
}

#[test]
#[ignore = "needs root and Debian's postgresql: scripts/test.sh runs it"]
fn two_sensors_at_once_make_the_report_of_their_merged_sqlite_stores() {
    let pg = Postgres::start("");
    let url = pg.url("?sslmode=disable");
    let pw = pg.password_file();
    let (a, b) = split_captures();
    // Many passes each, so the two sensors' transactions interleave.
    let passes =
        |files: &[String]| -> Vec<String> { (0..20).flat_map(|_| files.to_vec()).collect() };
    let (a, b) = (passes(&a), passes(&b));
    let mut one = scan_command(&url, Some(&pw), "office", &a).spawn().unwrap();
    let mut two = scan_command(&url, Some(&pw), "datacentre", &b)
        .spawn()
        .unwrap();
    for child in [&mut one, &mut two] {
        let status = child.wait().unwrap();
        assert!(status.success());
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = |name: &str, files: &[String]| {
        let path = dir.path().join(format!("{name}.db")).display().to_string();
        let out = scan_command(&path, None, name, files).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        path
    };
    let (office, datacentre) = (sqlite("office", &a), sqlite("datacentre", &b));
    let merged = dir.path().join("merged.db").display().to_string();
    let out = aigress(&["inventory", "merge", &office, &datacentre, "--out", &merged]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    let mut fleet = report(&url, Some(&pw), &[]);
    let mut expected = report(&merged, None, &[]);
    // `new_ai_flow` means new to the inventory: a sensor starting after the other has
    // written knows that one's (host, vendor) pairs, as a fleet should; separate SQLite
    // stores do not. Every other alert, and every number, must be the same.
    let mut new_flow_alerts = Vec::new();
    for r in [&mut fleet, &mut expected] {
        let alerts = r["alerts"].as_array_mut().unwrap();
        let before = alerts.len();
        alerts.retain(|a| a["rule"] != "new_ai_flow");
        new_flow_alerts.push(before - alerts.len());
        r["summary"].as_object_mut().unwrap().remove("alerts");
    }
    assert!(
        new_flow_alerts[0] <= new_flow_alerts[1],
        "{new_flow_alerts:?}"
    );
    assert_eq!(fleet["rows"], expected["rows"]);
    assert_eq!(fleet["summary"], expected["summary"]);
    assert_eq!(fleet["daily"], expected["daily"]);
    assert_eq!(fleet["alerts"], expected["alerts"]);
    assert_eq!(fleet["transfers"], expected["transfers"]);
    assert_eq!(
        fleet["sensors"],
        serde_json::json!(["datacentre", "office"])
    );
    assert!(fleet["summary"]["flows"].as_u64().unwrap() > 100);

    // One sensor's share, as that sensor's own store has it.
    let office_only = report(&url, Some(&pw), &["--sensor", "office"]);
    assert_eq!(office_only["rows"], report(&office, None, &[])["rows"]);
}

#[test]
#[ignore = "needs root and Debian's postgresql: scripts/test.sh runs it"]
fn a_server_restarted_mid_run_loses_nothing_and_a_kill_leaves_it_consistent() {
    let pg = Postgres::start("");
    let url = pg.url("?sslmode=disable");
    let pw = pg.password_file();
    let files: Vec<String> = (0..300)
        .flat_map(|_| common::ai_client_captures())
        .collect();

    let child = scan_command(&url, Some(&pw), "restarted", &files)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    pg.ctl(&["restart", "-m", "fast", "-w"]);
    let out = child.wait_with_output().unwrap();
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("Writing the inventory failed; keeping the batch and retrying"),
        "the restart must fall inside the run: {log}"
    );
    assert!(log.contains("written again"), "{log}");
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference.db").display().to_string();
    let out = scan_command(&reference, None, "restarted", &files)
        .output()
        .unwrap();
    assert!(out.status.success());
    let fleet = report(&url, Some(&pw), &[]);
    let expected = report(&reference, None, &[]);
    assert_eq!(
        fleet["rows"], expected["rows"],
        "nothing lost, nothing twice"
    );
    assert_eq!(fleet["alerts"], expected["alerts"]);

    // SIGKILL in the middle of writing: every batch is whole or absent.
    let mut child = scan_command(&url, Some(&pw), "killed", &files)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        child.try_wait().unwrap().is_none(),
        "still running when killed"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let sums = |table: &str| -> i64 {
        pg.sql(&format!(
            "SELECT COALESCE(SUM(flows), 0)::BIGINT FROM {table} WHERE sensor = 'killed'"
        ))
        .parse()
        .unwrap()
    };
    let (flows, daily) = (sums("ai_flows"), sums("daily"));
    assert!(flows > 0, "batches before the kill are kept");
    assert_eq!(
        flows, daily,
        "a batch's flow rows and daily totals go together"
    );
    let out = aigress(&[
        "inventory",
        "--db",
        &url,
        "--db-password-file",
        &pw,
        "--sensor",
        "killed",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
#[ignore = "needs root and Debian's postgresql: scripts/test.sh runs it"]
fn tls_migration_and_clear_errors() {
    // A private CA and a server certificate for 127.0.0.1.
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .signed_by(&server_key, &issuer)
        .unwrap();
    let certs = tempfile::tempdir().unwrap();
    let write = |name: &str, pem: String| {
        let path = certs.path().join(name);
        std::fs::write(&path, pem).unwrap();
        path
    };
    let ca_file = write("ca.pem", ca.pem()).display().to_string();
    let cert = write("server.pem", server.pem());
    let key = write("server.key", server_key.serialize_pem());
    let pg = Postgres::start("");
    let data = pg.dir.path().join("data");
    std::fs::copy(&cert, data.join("server.crt")).unwrap();
    std::fs::copy(&key, data.join("server.key")).unwrap();
    if nix::unistd::Uid::effective().is_root() {
        for f in ["server.crt", "server.key"] {
            Command::new("chown")
                .arg("postgres")
                .arg(data.join(f))
                .status()
                .unwrap();
        }
    }
    Command::new("chmod")
        .arg("600")
        .arg(data.join("server.key"))
        .status()
        .unwrap();
    let conf = data.join("postgresql.conf");
    let mut settings = std::fs::read_to_string(&conf).unwrap();
    settings.push_str("\nssl = on\n");
    std::fs::write(&conf, settings).unwrap();
    pg.ctl(&["restart", "-m", "fast", "-w"]);
    let pw = pg.password_file();
    let tls_url = pg.url("?sslmode=require");

    // A SQLite inventory moved into the fleet's database over verified TLS, once.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("old.db").display().to_string();
    let out = scan_command(&file, None, "old-sensor", &common::ai_client_captures())
        .output()
        .unwrap();
    assert!(out.status.success());
    let migrate = |ca: Option<&str>| {
        let mut args = vec![
            "inventory",
            "migrate",
            "--from",
            &file,
            "--to",
            &tls_url,
            "--db-password-file",
            &pw,
        ];
        if let Some(ca) = ca {
            args.extend(["--db-ca", ca]);
        }
        aigress(&args)
    };
    let out = migrate(None);
    assert!(
        !out.status.success(),
        "a private CA is not trusted by default"
    );
    assert!(
        text(&out.stderr).to_lowercase().contains("certificate"),
        "{}",
        text(&out.stderr)
    );
    let out = migrate(Some(&ca_file));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("copied into"));
    let out = migrate(Some(&ca_file));
    assert!(text(&out.stdout).contains("had already been copied"));
    let mut tls_report = report(&tls_url, Some(&pw), &["--db-ca", &ca_file]);
    let mut file_report = report(&file, None, &[]);
    for r in [&mut tls_report, &mut file_report] {
        r.as_object_mut().unwrap().remove("sensors");
    }
    assert_eq!(tls_report["rows"], file_report["rows"]);
    assert_eq!(tls_report["alerts"], file_report["alerts"]);

    // Clear errors, and the password never shown.
    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password").unwrap();
    let plain = pg.url("?sslmode=disable");
    let cases: [(Vec<&str>, &str); 5] = [
        (
            vec![
                "--db",
                &plain,
                "--db-password-file",
                wrong.to_str().unwrap(),
            ],
            "password authentication failed",
        ),
        (
            vec!["--db", "postgres://aigress:hunter2@127.0.0.1/inventory"],
            "carries a password",
        ),
        (
            vec!["--db", "postgres://aigress@127.0.0.1:1/inventory"],
            "Connection refused",
        ),
        (
            vec!["--db", "postgres://aigress@[::1/inventory"],
            "not a PostgreSQL URL",
        ),
        (vec!["--db", &plain], "password missing"),
    ];
    for (args, needle) in cases {
        let mut all = vec!["inventory"];
        all.extend(args);
        let out = aigress(&all);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{all:?}");
        assert!(err.contains(needle), "{all:?}: {err}");
        assert!(
            !err.contains("not-the-password") && !err.contains("hunter2"),
            "{err}"
        );
    }

    // A schema from a newer aigress is refused by name.
    pg.sql("UPDATE aigress_schema SET version = 99");
    let out = aigress(&["inventory", "--db", &plain, "--db-password-file", &pw]);
    assert!(text(&out.stderr).contains("schema version 99, newer than this aigress"));
}

/// `made__hostile_names.pcap`: a NUL byte and 5,000 bytes in server names and
/// User-Agents (tests/data/make-hostile.py).
fn hostile_capture() -> String {
    common::captures_dir()
        .join("made__hostile_names.pcap")
        .display()
        .to_string()
}

/// Rows with what a hostile client can put in them: a NUL byte, an ESC, a backslash and
/// 5,000 bytes, in keys (endpoint, User-Agent) and in an alert's reason.
fn hostile_batch(id: &str) -> Batch {
    let long_name = format!("{}.api.openai.com", "a".repeat(4985));
    let flow = |endpoint: &str| FlowRow {
        sensor: "lab".into(),
        internal_host: "192.168.77.21".into(),
        vendor: "openai".into(),
        product: "OpenAI API".into(),
        kind: "api".into(),
        endpoint: endpoint.into(),
        landing_country: "US".into(),
        verdict: "unapproved".into(),
        first_seen: 1,
        last_seen: 2,
        flows: 1,
        packets: 5,
        bytes_sent: 100,
        bytes_received: 50,
        ..FlowRow::default()
    };
    let print = |value: &str| FingerprintRow {
        sensor: "lab".into(),
        internal_host: "192.168.77.21".into(),
        vendor: "openai".into(),
        product: "OpenAI API".into(),
        kind: "user_agent".into(),
        value: value.into(),
        first_seen: 1,
        last_seen: 2,
        seen: 1,
    };
    Batch {
        id: id.into(),
        flows: vec![
            flow("api.openai.com\0evil"),
            flow(&long_name),
            flow("api.openai.com\\x00evil"),
        ],
        fingerprints: vec![
            print("curl/8\u{1b}[31m\0\\"),
            print(&format!("Mozilla/5.0 {}", "A".repeat(4988))),
        ],
        daily: vec![DailyRow {
            sensor: "lab".into(),
            day: "2026-01-15".into(),
            vendor: "openai".into(),
            landing_country: "US".into(),
            flows: 3,
            bytes_sent: 300,
            bytes_received: 150,
        }],
        alerts: vec![AlertRow {
            sensor: "lab".into(),
            timestamp: 1,
            rule: "unapproved_ai_vendor".into(),
            severity: "high".into(),
            verdict: "unapproved".into(),
            internal_host: "192.168.77.21".into(),
            vendor: "openai".into(),
            landing_country: "US".into(),
            reason: format!("192.168.77.21 sent data to {long_name}\0 and api.openai.com\0evil."),
            count: 1,
            ..AlertRow::default()
        }],
        unknown: vec![UnknownRow {
            sensor: "lab".into(),
            domain: "new-tool\0.ai".into(),
            example: "api.new-tool\0.ai".into(),
            bytes_sent: 5000,
            bytes_error: 10,
            bytes_received: 700,
            flows: 2,
            first_seen: 1,
            last_seen: 2,
            hints: 1,
            hosts_capped: false,
        }],
        unknown_hosts: vec![UnknownHostRow {
            sensor: "lab".into(),
            domain: "new-tool\0.ai".into(),
            internal_host: "192.168.77.21".into(),
            first_seen: 1,
            last_seen: 2,
        }],
    }
}

/// Everything a store holds.
fn contents(
    store: &Store,
) -> (
    Vec<FlowRow>,
    Vec<FingerprintRow>,
    Vec<DailyRow>,
    Vec<AlertRow>,
) {
    let all = Filter::default();
    (
        store.flows(&all).unwrap(),
        store.fingerprints(&all).unwrap(),
        store.daily(&all).unwrap(),
        store.alerts(&all).unwrap(),
    )
}

#[test]
#[ignore = "needs root and Debian's postgresql: scripts/test.sh runs it"]
fn hostile_names_are_stored_alike_by_sqlite_and_postgresql() {
    let pg = Postgres::start("");
    let mut fleet = pg.store();
    let dir = tempfile::tempdir().unwrap();
    let mut file = Store::open(&dir.path().join("inv.db")).unwrap();
    let batch = hostile_batch("lab:hostile:1");
    file.write(&batch).unwrap();
    fleet.write(&batch).unwrap();
    let stored = contents(&file);
    assert_eq!(contents(&fleet), stored, "the same rows in both backends");
    for table in aigress::inventory::schema::TABLES {
        let migrated = pg.sql(&format!(
            "SELECT string_agg(column_name, ',' ORDER BY ordinal_position)
             FROM information_schema.columns WHERE table_name = '{}' AND column_name <> 'id'",
            table.name
        ));
        let described: Vec<&str> = table.columns.iter().map(|c| c.name).collect();
        assert_eq!(
            migrated,
            described.join(","),
            "the migrations end at the described {}",
            table.name
        );
    }

    let (flows, prints, _, alerts) = stored;
    let endpoints: Vec<&str> = flows.iter().map(|r| r.endpoint.as_str()).collect();
    assert!(
        endpoints.contains(&"api.openai.com\\x00evil"),
        "{endpoints:?}"
    );
    assert!(
        endpoints.contains(&"api.openai.com\\\\x00evil"),
        "a NUL and `\\x00` stay apart"
    );
    let long = endpoints.iter().find(|e| e.starts_with("aaaa")).unwrap();
    assert!(long.len() <= 512 && long.contains("\\#"), "{long}");
    assert!(prints.iter().any(|p| p.value == "curl/8\\x1b[31m\\x00\\\\"));
    assert!(prints.iter().all(|p| p.value.len() <= 512));
    assert!(!alerts[0].reason.contains('\0'));

    // Written again (another batch): the same keys, so counters add up in both.
    let again = hostile_batch("lab:hostile:2");
    file.write(&again).unwrap();
    fleet.write(&again).unwrap();
    let (flows, ..) = contents(&fleet);
    assert!(flows.iter().all(|r| r.flows == 2), "{flows:?}");
    assert_eq!(contents(&fleet), contents(&file));

    // Copied into another store, stored text is not escaped a second time.
    let mut merged = Store::open(&dir.path().join("merged.db")).unwrap();
    merged.merge_from(&fleet).unwrap();
    assert_eq!(contents(&merged).0, contents(&fleet).0);
}

#[test]
#[ignore = "needs root and Debian's postgresql: scripts/test.sh runs it"]
fn a_hostile_capture_scans_into_postgresql_as_into_sqlite() {
    let pg = Postgres::start("");
    let url = pg.url("?sslmode=disable");
    let pw = pg.password_file();
    let capture = [hostile_capture()];
    let out = scan_command(&url, Some(&pw), "lab", &capture)
        .output()
        .unwrap();
    let log = text(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("Writing the inventory failed"), "{log}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lab.db").display().to_string();
    let out = scan_command(&file, None, "lab", &capture).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));

    let fleet = report(&url, Some(&pw), &[]);
    assert_eq!(fleet, report(&file, None, &[]));
    let endpoints: Vec<&str> = fleet["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["endpoint"].as_str().unwrap())
        .collect();
    assert!(
        endpoints.contains(&"api.openai.com\\x00evil"),
        "{endpoints:?}"
    );
    assert!(
        endpoints
            .iter()
            .any(|e| e.starts_with("aaaa") && e.len() <= 512),
        "{endpoints:?}"
    );
    assert!(
        fleet["fingerprints"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["value"] == "python-requests/2.32\\x1b[31m\\x00evil\\\\x00")
    );
}

#[test]
#[ignore = "needs root and Debian's postgresql: scripts/test.sh runs it"]
fn a_batch_the_server_refuses_is_split_and_its_good_rows_land() {
    let pg = Postgres::start("");
    let store = pg.store();
    // A DBA's rule the sensor knows nothing of: the server refuses such rows (23514).
    pg.sql("ALTER TABLE ai_flows ADD CONSTRAINT no_evil CHECK (endpoint NOT LIKE '%evil%')");
    let writer = Writer::start(store).unwrap();
    let stats = writer.stats();
    let mut batch = hostile_batch("lab:refused:1");
    for name in ["a.openai.com", "b.openai.com", "c.openai.com"] {
        let mut row = batch.flows[1].clone();
        row.endpoint = name.into();
        batch.flows.push(row);
    }
    let rows = batch.rows();
    writer.hand_over(batch);
    let lost = writer.close(Instant::now() + Duration::from_secs(60));
    assert!(lost.is_empty(), "{lost:?}");
    let refused = stats
        .rows_refused
        .load(std::sync::atomic::Ordering::Relaxed);
    // The NUL endpoint, stored as `\x00evil`, and the literal `\x00evil`.
    assert_eq!(refused, 2);
    let landed: usize = [
        "ai_flows",
        "fingerprints",
        "daily",
        "alerts",
        "unknown_destinations",
        "unknown_destination_hosts",
    ]
    .iter()
    .map(|t| {
        pg.sql(&format!("SELECT count(*) FROM {t}"))
            .parse::<usize>()
            .unwrap()
    })
    .sum();
    assert_eq!(landed + 2, rows, "every other row landed");
    assert_eq!(
        pg.sql("SELECT count(*) FROM ai_flows WHERE endpoint LIKE '%evil%'"),
        "0"
    );
    assert!(
        stats
            .write_failures
            .load(std::sync::atomic::Ordering::Relaxed)
            == 0
    );
}

/// A TCP listener on loopback that accepts connections and never answers, like a hung
/// server or one behind a firewall that went quiet; it holds what it accepted.
fn silent_server() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    port
}

#[test]
fn a_silent_server_fails_the_connection_within_its_bound() {
    let port = silent_server();
    for url in [
        format!("postgres://aigress@127.0.0.1:{port}/inventory"),
        format!("postgres://aigress@127.0.0.1:{port}/inventory?sslmode=disable"),
    ] {
        let started = Instant::now();
        let result = Store::connect(&Location::parse(&url).unwrap());
        let took = started.elapsed();
        let Err(e) = result else {
            panic!("{url}: connected to a server that never answers");
        };
        assert!(took < Duration::from_secs(20), "{url}: {took:?}");
        assert!(e.to_string().contains("no answer within 10 s"), "{e}");
    }
    // The command line gives up as fast, with the reason.
    let url = format!("postgres://aigress@127.0.0.1:{port}/inventory");
    let started = Instant::now();
    let out = aigress(&["inventory", "--db", &url]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no answer"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
#[ignore = "needs root and Debian's postgresql: scripts/test.sh runs it"]
fn a_frozen_server_fails_a_write_within_its_bound_and_close_keeps_its_deadline() {
    let pg = Postgres::start("");
    let mut store = pg.store();
    store.write(&hostile_batch("lab:frozen:1")).unwrap();
    pg.signal("-STOP");
    let started = Instant::now();
    let result = store.write(&hostile_batch("lab:frozen:2"));
    let took = started.elapsed();
    assert!(result.is_err(), "a frozen server cannot take a write");
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert!(
        result
            .unwrap_err()
            .to_string()
            .contains("no reply within 15 s"),
        "the reply deadline ended it"
    );

    // The writer, while a write hangs: close returns at its deadline, naming the batch
    // in hand and the one queued.
    let writer = Writer::start(store).unwrap();
    writer.hand_over(hostile_batch("lab:frozen:3"));
    assert!(writer.wait_ready(Instant::now() + Duration::from_secs(5)));
    writer.hand_over(hostile_batch("lab:frozen:4"));
    let started = Instant::now();
    let lost = writer.close(started + Duration::from_secs(3));
    let took = started.elapsed();
    pg.signal("-CONT");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(lost.len(), 2, "{lost:?}");
    assert!(lost.iter().all(|u| u.flows == 3 && u.fingerprints == 2));
}

/// SIGTERM while the database is down: the flows open at the stop are written once it
/// is back within the grace; when it stays down, the exit status and the last log line
/// name what was not written. The watchdog never cuts the drain short.
#[test]
#[ignore = "needs root, curl and Debian's postgresql: scripts/test.sh runs it"]
fn sigterm_during_an_outage_writes_or_names_every_open_flow() {
    use common::live::{
        HOSTS, end, free_addr, last_line, open_ai_flows, openai_inventory, silent_server,
        start_sensor, stop,
    };
    let pg = Postgres::start("");
    let url = pg.url("?sslmode=disable");
    let pw = pg.password_file();
    for comes_back in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let server = silent_server();
        let sensor_name = if comes_back { "back" } else { "away" };
        let mut sensor = start_sensor(
            dir.path(),
            free_addr(),
            &server,
            &[
                "--db",
                &url,
                "--db-password-file",
                &pw,
                "--sensor-name",
                sensor_name,
            ],
        );
        let curls = open_ai_flows(&server);
        std::thread::sleep(Duration::from_secs(2));
        pg.ctl(&["stop", "-m", "fast", "-w"]);
        let restart = comes_back.then(|| {
            let mut ctl = pg.ctl_command(&["start", "-w"]);
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(4));
                assert!(ctl.status().unwrap().success(), "PostgreSQL starts again");
            })
        });
        let status = stop(&mut sensor);
        end(curls);
        if let Some(r) = restart {
            r.join().unwrap();
        }
        let log = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
        assert!(!log.contains("exiting without draining"), "{log}");
        let (hosts, flows) = if comes_back {
            openai_inventory(&url, &["--db-password-file", &pw, "--sensor", sensor_name])
        } else {
            pg.ctl(&["start", "-w"]);
            openai_inventory(&url, &["--db-password-file", &pw, "--sensor", sensor_name])
        };
        if comes_back {
            assert_eq!(status.code(), Some(0), "{log}");
            assert_eq!(
                (hosts, flows),
                (usize::from(HOSTS), u64::from(HOSTS)),
                "{log}"
            );
        } else {
            assert_eq!(status.code(), Some(1), "{log}");
            assert_eq!((hosts, flows), (0, 0), "nothing was written: {log}");
            let last = last_line(&log);
            assert!(
                last.contains(&format!(
                    "not written to the inventory: {HOSTS} flow groups"
                )),
                "the last line names every flow lost: {last}"
            );
        }
    }
}

//! A fleet's inventory in a real PostgreSQL server (Debian's `postgresql` package, started
//! here in a temporary directory as an unprivileged user): sensors writing at once, the
//! same report as merged SQLite stores, a server restarted mid-run, a sensor killed with
//! SIGKILL, TLS, migration from SQLite, and clear errors.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

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
        let root = self.dir.path();
        let out = pg_command(&self.bin, "pg_ctl")
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
            .args(action)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_ctl {action:?}: {}",
            text(&out.stderr)
        );
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

    fn client(&self) -> postgres::Client {
        postgres::Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user("aigress")
            .password(PASSWORD)
            .dbname("inventory")
            .connect(postgres::NoTls)
            .unwrap()
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
    let mut client = pg.client();
    let mut sums = |table: &str| -> i64 {
        client
            .query_one(
                &format!(
                    "SELECT COALESCE(SUM(flows), 0)::BIGINT FROM {table} WHERE sensor = 'killed'"
                ),
                &[],
            )
            .unwrap()
            .get(0)
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
    pg.client()
        .execute("UPDATE aigress_schema SET version = 99", &[])
        .unwrap();
    let out = aigress(&["inventory", "--db", &plain, "--db-password-file", &pw]);
    assert!(text(&out.stderr).contains("schema version 99, newer than this aigress"));
}

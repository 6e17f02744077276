//! Helpers shared by the integration tests.

#![allow(dead_code)]

pub mod https;
pub mod live;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aigress::engine::EngineConfig;
use aigress::geo::{FrontDoors, GeoIp};
use aigress::landing::{Jurisdictions, LandingContext};
use aigress::policy::Policy;
use aigress::scan::{Judging, Workers, scan_judged};
use aigress::signatures::Database;
use aigress::sink::JsonSink;

/// Runs the aigress binary with `args`, with no `AIGRESS_*` setting of the caller's
/// environment leaking in.
pub fn aigress(args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_aigress"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AIGRESS_") {
            command.env_remove(name);
        }
    }
    command.args(args).output().expect("aigress runs")
}

/// Output bytes as text.
/// Runs `aigress` with `args`, asserts it succeeded, and returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = aigress(args);
    assert!(
        out.status.success(),
        "aigress {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs `aigress` with `args`, asserts it succeeded, and returns the JSON lines it wrote.
pub fn json_lines(args: &[&str]) -> Vec<serde_json::Value> {
    ok(args)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Headless Chromium (Debian's) on the local file `page` with `extra` flags, a fresh
/// profile in `profile`, and nothing fetched from the network; its log on stderr.
pub fn chromium(profile: &Path, page: &Path, extra: &[&str]) -> std::process::Output {
    std::process::Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("chromium runs")
}

/// `deploy/policy.toml`, the example policy.
pub fn deploy_policy() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/policy.toml")
        .display()
        .to_string()
}

/// The shipped captures of real AI clients (SDKs, curl, Chromium).
pub fn ai_client_captures() -> Vec<String> {
    captures()
        .into_iter()
        .filter(|p| stem(p).starts_with("ai-clients__"))
        .map(|p| p.display().to_string())
        .collect()
}

/// `tests/data/captures`.
pub fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/captures")
}

/// Every capture file shipped for the tests, sorted. Fails when the folder has lost its
/// captures, so no test over them can pass by finding nothing.
pub fn captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(captures_dir())
        .expect("tests/data/captures exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| {
            matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            )
        })
        .collect();
    v.sort();
    assert!(
        v.len() >= 50,
        "tests/data/captures holds {} captures; expected the 50+ shipped ones",
        v.len()
    );
    v
}

/// The JSON lines `aigress scan --format json` writes for `paths`, stats line included.
pub fn scan_json(paths: &[PathBuf]) -> String {
    scan_json_with(paths, None)
}

/// Where data lands, as `aigress scan` judges it by default (built-in GeoIP database and
/// tables), adjusted by `policy`.
pub fn landing(policy: Option<&Policy>) -> Arc<LandingContext> {
    let mut jurisdictions = Jurisdictions::embedded().expect("built-in jurisdictions");
    if let Some(p) = policy {
        jurisdictions.set_dpf_certified(p.dpf_certified.iter().cloned());
    }
    Arc::new(LandingContext {
        geo: GeoIp::embedded().expect("built-in GeoIP database"),
        front_doors: FrontDoors::embedded().expect("built-in front doors"),
        jurisdictions,
    })
}

/// The JSON lines of a scan applying `policy`, as `aigress scan --policy` writes them.
pub fn scan_json_with(paths: &[PathBuf], policy: Option<Arc<Policy>>) -> String {
    scan_json_judged(paths, policy, database())
}

/// [`scan_json_with`] with the signature database `signatures`.
pub fn scan_json_judged(
    paths: &[PathBuf],
    policy: Option<Arc<Policy>>,
    signatures: Arc<Database>,
) -> String {
    scan_json_on(paths, policy, signatures, Workers::new(1))
}

/// [`scan_json_judged`] on `workers` engines.
pub fn scan_json_on(
    paths: &[PathBuf],
    policy: Option<Arc<Policy>>,
    signatures: Arc<Database>,
    workers: Workers,
) -> String {
    let mut sink = JsonSink::new(Vec::new());
    let judging = Judging {
        signatures,
        landing: landing(policy.as_deref()),
        policy,
        alert_sinks: Vec::new(),
        inventory: None,
    };
    let (report, assessment) = scan_judged(
        paths,
        EngineConfig::default(),
        workers,
        judging,
        &mut sink,
        &mut |_| {},
    )
    .expect("scan succeeds");
    sink.stats(report.last_seen, &report.stats, &assessment)
        .expect("write stats");
    String::from_utf8(sink.finish().expect("flush")).expect("JSON is UTF-8")
}

/// The built-in signature database.
pub fn database() -> Arc<Database> {
    Arc::new(Database::embedded().expect("the built-in database is valid"))
}

/// The events of a scan, parsed.
pub fn scan_events(path: &Path) -> Vec<serde_json::Value> {
    scan_json(&[path.to_owned()])
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// The file name without its extension.
pub fn stem(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned()
}

/// Rows of a tab-separated file with a header line, as column → value maps.
pub fn read_tsv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    lines
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            header
                .iter()
                .zip(l.split('\t'))
                .map(|(h, v)| ((*h).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

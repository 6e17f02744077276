//! The auditor's evidence pack on the shipped AI-client captures: the transfer register
//! with its mechanisms and EEA alternatives, the changes between two audits, and the
//! HTML report printed to PDF by a real headless Chromium.

mod common;

use common::{aigress, ok, text};

use std::path::{Path, PathBuf};
use std::process::Command;

fn capture(stem: &str) -> String {
    common::captures()
        .into_iter()
        .find(|p| common::stem(p) == stem)
        .unwrap_or_else(|| panic!("{stem} is shipped"))
        .display()
        .to_string()
}

/// The deploy policy, with Anthropic confirmed as certified under the DPF.
fn dpf_policy(dir: &Path) -> String {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/policy.toml"))
            .unwrap();
    assert!(text.contains("dpf_certified = []"));
    let path = dir.join("policy.toml");
    std::fs::write(
        &path,
        text.replace("dpf_certified = []", "dpf_certified = [\"anthropic\"]"),
    )
    .unwrap();
    path.display().to_string()
}

/// Scans `captures` with `policy` into `db`; returns the JSON events.
fn scan(db: &Path, policy: &str, captures: &[String]) -> Vec<serde_json::Value> {
    let mut args = vec![
        "scan",
        "-f",
        "json",
        "--policy",
        policy,
        "--db",
        db.to_str().unwrap(),
    ];
    args.extend(captures.iter().map(String::as_str));
    ok(&args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

const REGISTER_COLUMNS: &str = "vendor,product,endpoint,destination_country,confidence,mechanism,mechanism_source,internal_hosts,networks,flows,bytes_sent,first_seen,last_seen,eea_alternative,mechanism_detail";

#[test]
fn the_register_names_each_transfer_its_mechanism_and_eea_alternative() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inv.db");
    let policy = dpf_policy(dir.path());
    let events = scan(&db, &policy, &common::ai_client_captures());
    let db = db.to_str().unwrap();

    let csv = ok(&[
        "inventory",
        "--db",
        db,
        "--report",
        "transfers",
        "--policy",
        &policy,
        "--format",
        "csv",
    ]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(header.join(","), REGISTER_COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let row = |endpoint: &str, country: &str| {
        rows.iter()
            .find(|r| &r[2] == endpoint && &r[3] == country)
            .unwrap_or_else(|| panic!("no row {endpoint} {country} in\n{csv}"))
    };

    let deepseek = row("chat.deepseek.com", "CN");
    assert_eq!(&deepseek[0], "deepseek");
    assert_eq!(&deepseek[5], "none_known", "DeepSeek has no mechanism");
    assert_eq!(&deepseek[6], "");

    let claude = row("api.anthropic.com", "US");
    assert_eq!(
        &claude[5], "dpf",
        "the policy lists Anthropic under the DPF"
    );
    assert!(claude[6].ends_with("policy.toml: landing.dpf_certified"));

    let openai = row("api.openai.com", "US");
    assert_eq!(&openai[5], "scc_in_dpa");
    assert!(
        openai[6].starts_with("https://openai.com/"),
        "{}",
        &openai[6]
    );
    assert!(openai[13].contains("eu.api.openai.com"), "{}", &openai[13]);
    assert!(
        openai[14].starts_with("Modules 2, 3; UK personal data") && openai[14].contains("stated"),
        "the SCCs' scope and basis: {}",
        &openai[14]
    );
    assert!(
        openai[13].contains("https://"),
        "the alternative has its source"
    );

    let bedrock = row("bedrock-runtime.us-west-2.amazonaws.com", "US");
    assert_eq!(
        &bedrock[4], "high",
        "the region in the name is high confidence"
    );
    assert!(
        bedrock[13].contains("eu-central-1 (DE)"),
        "{}",
        &bedrock[13]
    );

    let vertex = row("us-central1-aiplatform.googleapis.com", "US");
    assert!(vertex[13].contains("europe-west"), "{}", &vertex[13]);

    assert_eq!(&row("api.groq.com", "unknown")[5], "unknown_landing");

    // EEA landings are no transfers: Bedrock in Ireland, Vertex in Belgium, Le Chat.
    for r in &rows {
        assert!(
            !["IE", "BE", "NL", "FR", "EU"].contains(&&r[3]),
            "an EEA landing in the register: {r:?}"
        );
        assert!(!r[7].is_empty() && r[9].parse::<u64>().unwrap() > 0);
    }

    // Without the policy Anthropic is not taken to be DPF-certified; its DPA's SCCs remain.
    let json = ok(&[
        "inventory",
        "--db",
        db,
        "--report",
        "transfers",
        "--format",
        "json",
    ]);
    let register: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(register.len(), rows.len());
    let claude = register
        .iter()
        .find(|t| t["endpoint"] == "api.anthropic.com")
        .unwrap();
    assert_eq!(claude["mechanism"], "scc_in_dpa");

    // The non-EEA alert says where the EEA alternative is.
    let reason = events
        .iter()
        .find(|e| {
            e["event_type"] == "alert"
                && e["alert"]["rule"] == "non_eea_landing"
                && e["ai"]["host"] == "api.openai.com"
        })
        .map(|e| e["alert"]["reason"].as_str().unwrap().to_owned())
        .expect("a non_eea_landing alert for api.openai.com");
    assert!(
        reason.contains("documents an EEA alternative: eu.api.openai.com"),
        "{reason}"
    );

    // The inventory report carries the register too.
    let report: serde_json::Value = serde_json::from_str(&ok(&[
        "inventory",
        "--db",
        db,
        "--policy",
        &policy,
        "--format",
        "json",
    ]))
    .unwrap();
    assert_eq!(report["transfers"].as_array().unwrap().len(), rows.len());
    assert!(report.get("changes").is_none());
}

#[test]
fn changes_between_two_audits_list_what_is_new_and_what_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dpf_policy(dir.path());
    let before = dir.path().join("before.db");
    let after = dir.path().join("after.db");
    scan(&before, &policy, &[capture("ai-clients__a_curl")]);
    scan(
        &after,
        &policy,
        &[
            capture("ai-clients__b_python_sdks"),
            capture("ai-clients__c_chromium_dns_mtu1500"),
        ],
    );
    let changes: serde_json::Value = serde_json::from_str(&ok(&[
        "inventory",
        "--db",
        after.to_str().unwrap(),
        "--baseline-db",
        before.to_str().unwrap(),
        "--report",
        "changes",
        "--format",
        "json",
    ]))
    .unwrap();
    let items = |key: &str| -> Vec<String> {
        changes[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["item"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut vendors = items("new_vendors");
    vendors.sort();
    assert_eq!(vendors, ["amazon", "anthropic", "deepseek"]);
    assert!(items("new_products").contains(&"microsoft/Azure OpenAI".to_owned()));
    assert!(items("new_destination_countries").contains(&"IE".to_owned()));
    for n in changes["new_vendors"].as_array().unwrap() {
        assert!(n["first_seen"].as_str().unwrap().starts_with("2026-"));
    }
    let stopped = changes["stopped"].as_array().unwrap();
    assert!(
        stopped
            .iter()
            .any(|s| s["vendor"] == "moonshot" && s["internal_host"] == "192.168.77.22"),
        "{stopped:?}"
    );
    // Same store, different days: a capture of another week is the baseline.
    let one = dir.path().join("one.db");
    scan(&one, &policy, &[capture("ai-clients__a_curl")]);
    scan(&one, &policy, &[capture("made__saas_ai")]);
    let csv = ok(&[
        "inventory",
        "--db",
        one.to_str().unwrap(),
        "--report",
        "changes",
        "--since",
        "2026-11-28",
        "--format",
        "csv",
    ]);
    assert!(csv.starts_with("change,item,detail,first_seen\n"), "{csv}");
    assert!(csv.contains("new vendor,salesforce,"), "{csv}");
    assert!(
        !csv.contains("new vendor,openai,"),
        "OpenAI was seen before: {csv}"
    );
    assert!(
        csv.contains("stopped,192.168.77.21 -> groq/GroqCloud"),
        "{csv}"
    );

    let out = aigress(&[
        "inventory",
        "--db",
        one.to_str().unwrap(),
        "--report",
        "changes",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("changes need a baseline"));
    let out = aigress(&[
        "inventory",
        "--db",
        one.to_str().unwrap(),
        "--report",
        "changes",
        "--since",
        "7d",
        "--factor",
        "0.5",
    ]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("not a factor above 1"));
}

#[test]
#[ignore = "needs Debian's chromium and poppler-utils: scripts/test.sh runs it"]
fn the_html_report_prints_to_pdf_with_every_column() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dpf_policy(dir.path());
    let db = dir.path().join("inv.db");
    scan(&db, &policy, &[capture("ai-clients__a_curl")]);
    let mut rest: Vec<String> = common::ai_client_captures();
    rest.retain(|c| !c.contains("a_curl"));
    rest.push(capture("made__saas_ai"));
    scan(&db, &policy, &rest);
    let html = dir.path().join("report.html");
    ok(&[
        "inventory",
        "--db",
        db.to_str().unwrap(),
        "--policy",
        &policy,
        "--since",
        "2026-11-28",
        "--format",
        "html",
        "--out",
        html.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"transfers\"") && page.contains("id=\"changes\""));
    assert!(page.contains("@media print"));
    assert!(!page.contains("<script") && !page.contains("src=\"http") && !page.contains("<link"));

    let pdf = dir.path().join("report.pdf");
    let print = format!("--print-to-pdf={}", pdf.display());
    let out = common::chromium(
        &dir.path().join("profile"),
        &html,
        &[&print, "--no-pdf-header-footer"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let bytes = std::fs::read(&pdf).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "a PDF");

    // Text that a clipped table would lose: the register's last column and values.
    let pdftext = Command::new("pdftotext")
        .args(["-layout", pdf.to_str().unwrap(), "-"])
        .output()
        .expect("pdftotext runs");
    assert!(pdftext.status.success());
    let printed = text(&pdftext.stdout);
    for needle in [
        "Transfer register",
        "EEA alternative",
        "none_known",
        "eu.api.openai.com",
        "Changes since the last audit",
        "salesforce",
        "Alert log",
    ] {
        assert!(printed.contains(needle), "{needle:?} missing from the PDF");
    }

    // Every page rendered to an image has ink on it, and is landscape A4.
    let prefix = dir.path().join("page");
    let out = Command::new("pdftoppm")
        .args([
            "-png",
            "-r",
            "40",
            pdf.to_str().unwrap(),
            prefix.to_str().unwrap(),
        ])
        .output()
        .expect("pdftoppm runs");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut pages: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    pages.sort();
    assert!(pages.len() >= 2, "{} pages", pages.len());
    for p in &pages {
        let png = std::fs::read(p).unwrap();
        // PNG IHDR: width and height at bytes 16..24.
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert!(
            width > height,
            "{} is {width}x{height}, not landscape",
            p.display()
        );
        // A blank page compresses to almost nothing.
        assert!(
            png.len() > 3_000,
            "{} looks blank ({} bytes)",
            p.display(),
            png.len()
        );
    }
    if let Ok(keep) = std::env::var("AIGRESS_KEEP_PDF") {
        std::fs::copy(&pdf, keep).unwrap();
    }
}

/// A fact the database infers (Grok's training default: xAI's terms give logged-in users
/// the choice without saying which is preset) is shown as inferred, with the reasoning,
/// wherever the inventory shows it; stated facts carry no mark.
#[test]
fn the_inventory_shows_which_facts_are_inferred() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dpf_policy(dir.path());
    let db = dir.path().join("inv.db");
    scan(&db, &policy, &common::ai_client_captures());
    let db = db.to_str().unwrap();

    let json: serde_json::Value =
        serde_json::from_str(&ok(&["inventory", "--db", db, "--format", "json"])).unwrap();
    let vendors = json["vendors"].as_array().unwrap();
    let vendor = |id: &str| {
        vendors
            .iter()
            .find(|v| v["vendor"] == id)
            .unwrap_or_else(|| panic!("{id} in {json}"))
    };
    let grok = &vendor("xai")["inferred"]["Grok"]["trains_on_inputs"];
    assert!(
        grok.as_str()
            .is_some_and(|why| why.contains("without saying which choice is preset")),
        "{}",
        vendor("xai")
    );
    assert!(
        vendor("openai").get("inferred").is_none(),
        "OpenAI's facts are all stated"
    );

    let md = ok(&["inventory", "--db", db, "--format", "md"]);
    assert!(md.contains(r"Grok: opt\_out (inferred)"), "{md}");

    let html = ok(&["inventory", "--db", db, "--format", "html"]);
    let mark = html
        .find("(inferred)</abbr>")
        .expect("the HTML report marks the inferred fact");
    let row_start = html[..mark].rfind("<tr").unwrap();
    assert!(
        html[row_start..mark].contains("Grok"),
        "the mark sits in xAI's row"
    );
    assert!(html[row_start..mark].contains("title=\"inferred, not stated by the source: "));
}

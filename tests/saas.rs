//! AI reached through SaaS: the database knows the SaaS's own hosts and the AI
//! sub-processors behind them; a flow to one is an indirect AI flow, judged by its own rule,
//! and the inventory keeps it apart from direct AI flows.

mod common;

use common::aigress;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8")
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn capture() -> PathBuf {
    common::captures_dir().join("made__saas_ai.pcapng")
}

/// Hosts of the 20 business SaaS most companies run, as their clients reach them.
const SAAS_HOSTS: [&str; 20] = [
    "acme.my.salesforce.com",
    "app.hubspot.com",
    "acme.zendesk.com",
    "api.intercom.io",
    "www.notion.so",
    "app.slack.com",
    "us02web.zoom.us",
    "acme.atlassian.net",
    "miro.com",
    "app.asana.com",
    "acme.monday.com",
    "www.figma.com",
    "www.canva.com",
    "app.grammarly.com",
    "acme.freshdesk.com",
    "www.dropbox.com",
    "app.box.com",
    "gitlab.com",
    "acme.service-now.com",
    "app.clickup.com",
];

fn matched(host: &str) -> Value {
    let out = aigress(&["signatures", "match", "--format", "json", host]);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    assert_eq!(v["query"], host);
    v["ai"].clone()
}

#[test]
fn signatures_match_names_the_ai_behind_common_saas() {
    let mut indirect = Vec::new();
    for host in SAAS_HOSTS {
        let m = matched(host);
        if m["indirect"] == true {
            let subs = m["subprocessors"].as_array().expect("subprocessors");
            assert!(!subs.is_empty(), "{host}: {m}");
            assert!(subs.iter().all(|s| s["name"].is_string()), "{host}: {m}");
            assert_eq!(m["kind"], "saas", "{host}: {m}");
            indirect.push(host);
        }
    }
    assert!(indirect.len() >= 15, "only {indirect:?}");
    // A sub-processor the database knows brings its own training default: Zoom sends to
    // OpenAI, whose API does not train on inputs.
    let zoom = matched("us02web.zoom.us");
    let openai = zoom["subprocessors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["vendor"] == "openai")
        .expect("OpenAI among Zoom's sub-processors");
    assert_eq!(openai["trains_on_inputs"], "no");
    // Direct AI stays direct; names that merely look like a SaaS match nothing.
    assert_eq!(matched("api.openai.com")["indirect"], false);
    for lookalike in [
        "notslack.com",
        "slack.com.evil.example",
        "zoom.us.example.net",
        "my-salesforce.com",
        "atlassian.net.attacker.io",
        "gitlab.example.com",
    ] {
        let m = matched(lookalike);
        assert!(m.is_null(), "{lookalike}: {m}");
    }
}

fn scan(policy: &Path, db: Option<&Path>) -> Vec<Value> {
    let capture = capture();
    let mut args = vec![
        "scan",
        "--format",
        "json",
        "--policy",
        policy.to_str().unwrap(),
    ];
    if let Some(db) = db {
        args.extend(["--db", db.to_str().unwrap()]);
    }
    args.push(capture.to_str().unwrap());
    stdout(&aigress(&args))
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect()
}

#[test]
fn saas_flows_raise_one_review_alert_per_network_and_saas_and_reach_the_inventory() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("inventory.db");
    let events = scan(&root().join("deploy/policy.toml"), Some(&db));

    // Every TLS event to a SaaS carries the indirect AI object and both landings.
    let saas_hellos: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "tls" && e["ai"]["indirect"] == true)
        .collect();
    assert_eq!(saas_hellos.len(), 32, "16 SaaS from two hosts");
    for e in &saas_hellos {
        assert!(
            !e["ai"]["subprocessors"].as_array().unwrap().is_empty(),
            "{e}"
        );
        assert!(e["landing"]["subprocessor_countries"].is_array(), "{e}");
        assert_eq!(e["policy_verdict"], "review", "{e}");
    }

    let alerts: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "alert" && e["alert"]["summary"] == false)
        .collect();
    let saas_alerts: Vec<&&Value> = alerts
        .iter()
        .filter(|a| a["alert"]["rule"] == "saas_ai_subprocessor")
        .collect();
    // Two hosts of one network use 16 SaaS: one alert per SaaS, the second host's use
    // folded into the summary.
    assert_eq!(saas_alerts.len(), 16);
    let vendors: std::collections::BTreeSet<&str> = saas_alerts
        .iter()
        .map(|a| a["ai"]["vendor"].as_str().unwrap())
        .collect();
    assert_eq!(vendors.len(), 16);
    for a in &saas_alerts {
        assert_eq!(a["alert"]["severity_name"], "low");
        assert_eq!(a["alert"]["verdict"], "review");
        assert_eq!(a["alert"]["signature_id"], 9_441_008);
        let reason = a["alert"]["reason"].as_str().unwrap();
        for sub in a["ai"]["subprocessors"].as_array().unwrap() {
            assert!(
                reason.contains(sub["name"].as_str().unwrap()),
                "{reason} does not name {sub}"
            );
        }
        assert!(reason.contains("admin settings"), "{reason}");
        assert!(a["tls"]["sni"].is_string(), "{a}");
    }
    // The rules about choosing an AI vendor are not about SaaS: only direct AI (the
    // OpenAI API from a workstation) raises them.
    for a in &alerts {
        if a["alert"]["rule"] != "saas_ai_subprocessor" {
            assert_eq!(a["ai"]["vendor"], "openai", "{a}");
        }
    }
    let stats = events.last().unwrap();
    assert_eq!(stats["stats"]["alerts"]["saas_ai_subprocessor"], 32);

    // The inventory keeps SaaS apart: the summary counts the direct AI vendor only.
    let db_text = db.to_str().unwrap();
    let report: Value = serde_json::from_str(&stdout(&aigress(&[
        "inventory",
        "--db",
        db_text,
        "--format",
        "json",
    ])))
    .expect("JSON report");
    assert_eq!(report["summary"]["vendors"], 1, "{}", report["summary"]);
    let direct_sent: u64 = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["indirect"] == false)
        .map(|r| r["bytes_sent"].as_u64().unwrap())
        .sum();
    assert_eq!(report["summary"]["bytes_sent"], direct_sent);
    let saas = report["saas"].as_array().expect("saas section");
    assert_eq!(saas.len(), 16);
    for s in saas {
        assert_eq!(s["internal_hosts"].as_array().unwrap().len(), 2, "{s}");
        assert!(s["bytes_sent"].as_u64().unwrap() > 40_000, "{s}");
        assert!(!s["subprocessors"].as_array().unwrap().is_empty(), "{s}");
        assert!(!s["questions"].as_array().unwrap().is_empty(), "{s}");
    }
    let csv = stdout(&aigress(&["inventory", "--db", db_text, "--format", "csv"]));
    let header = csv.lines().next().unwrap();
    assert!(header.split(',').any(|c| c == "indirect"), "{header}");
    let html = stdout(&aigress(&[
        "inventory",
        "--db",
        db_text,
        "--format",
        "html",
    ]));
    assert!(html.contains("id=\"saas-table\""));
    assert!(html.contains("AI reached through SaaS"));
}

#[test]
fn approving_a_saas_with_its_ai_silences_it_and_approving_it_without_names_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        r#"
[networks]
internal = ["10.0.0.0/8"]

[[approve]]
vendor = "zoom"
ai = true
note = "AI Companion reviewed; DPA signed"

[[approve]]
vendor = "slack"
note = "Slack approved; Slack AI not reviewed"

[landing]
judge_subprocessors = true
"#,
    )
    .unwrap();
    let events = scan(&policy, None);
    let alerts_about = |vendor: &str, rule: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| {
                e["event_type"] == "alert"
                    && e["ai"]["vendor"] == vendor
                    && e["alert"]["rule"] == rule
                    && e["alert"]["summary"] == false
            })
            .cloned()
            .collect()
    };
    assert!(alerts_about("zoom", "saas_ai_subprocessor").is_empty());
    let slack = alerts_about("slack", "saas_ai_subprocessor");
    assert_eq!(slack.len(), 1);
    let reason = slack[0]["alert"]["reason"].as_str().unwrap();
    assert!(reason.contains("approves Slack"), "{reason}");
    assert!(reason.contains("but not its AI (approve[2])"), "{reason}");
    // Zoom's AI is approved, but its sub-processors are in the US, which this policy's
    // landing rule (EEA and adequacy, the US only for DPF-listed vendors) does not allow:
    // judged per host, as every landing is.
    let zoom_landing = alerts_about("zoom", "non_eea_landing");
    assert_eq!(zoom_landing.len(), 2);
    assert!(
        zoom_landing[0]["alert"]["reason"]
            .as_str()
            .unwrap()
            .contains("AI sub-processors outside the allowed jurisdictions")
    );
}

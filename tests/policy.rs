//! Where data lands, what the policy says, and the alerts it raises, on real-client
//! captures (`ai-clients__`) and one made from them (`made__chromium_from_servers`, the
//! laptops renumbered into the default policy's server subnet).

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aigress::policy::Policy;
use aigress::signatures::Database;
use serde_json::Value;

fn capture(name: &str) -> PathBuf {
    common::captures_dir().join(name)
}

fn deploy_policy() -> Arc<Policy> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/policy.toml");
    Arc::new(Policy::load(&path, &common::database()).expect("deploy/policy.toml is valid"))
}

fn policy_text(text: &str) -> Arc<Policy> {
    Arc::new(Policy::parse("test.toml", text, &common::database()).expect("test policy is valid"))
}

fn events(name: &str, policy: Option<Arc<Policy>>) -> Vec<Value> {
    common::scan_json_with(&[capture(name)], policy)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn tls_to<'a>(events: &'a [Value], sni: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == "tls" && e["tls"]["sni"] == sni)
        .collect()
}

fn alerts<'a>(events: &'a [Value], rule: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event_type"] == "alert" && e["alert"]["rule"] == rule)
        .collect()
}

#[test]
fn regional_endpoints_land_in_their_regions_country() {
    let ev = events("ai-clients__b_python_sdks.pcap", None);
    for (sni, country) in [
        ("bedrock-runtime.eu-west-1.amazonaws.com", "IE"),
        ("bedrock-runtime.us-west-2.amazonaws.com", "US"),
        ("europe-west1-aiplatform.googleapis.com", "BE"),
    ] {
        let hello = tls_to(&ev, sni);
        assert_eq!(hello.len(), 1, "{sni}");
        let landing = &hello[0]["landing"];
        assert_eq!(landing["country"], country, "{sni}: {landing}");
        assert_eq!(landing["basis"], "hostname_region", "{sni}");
        assert_eq!(landing["confidence"], "high", "{sni}");
        assert_eq!(landing["eea"], country != "US", "{sni}");
    }
    // The Vertex address is Google's (GeoIP: US); the host name says Belgium.
    let vertex = tls_to(&ev, "europe-west1-aiplatform.googleapis.com");
    assert_eq!(vertex[0]["landing"]["geoip_country"], "US");
    // An Azure OpenAI resource name pins no region; its address (not a front door) does.
    let azure = tls_to(&ev, "acme-eu.openai.azure.com");
    assert_eq!(azure[0]["landing"]["country"], "NL");
    assert_eq!(azure[0]["landing"]["basis"], "geoip");
    assert_eq!(azure[0]["landing"]["confidence"], "medium");
    assert_eq!(azure[0]["landing"]["eea"], true);
}

#[test]
fn the_same_vendor_in_a_us_region_raises_non_eea_landing() {
    let ev = events("ai-clients__b_python_sdks.pcap", Some(deploy_policy()));
    let non_eea = alerts(&ev, "non_eea_landing");
    let bedrock: Vec<_> = non_eea
        .iter()
        .filter(|a| a["ai"]["vendor"] == "amazon")
        .collect();
    assert_eq!(bedrock.len(), 1, "{non_eea:#?}");
    let a = bedrock[0];
    assert_eq!(a["landing"]["country"], "US");
    assert_eq!(a["alert"]["verdict"], "violation");
    assert_eq!(a["alert"]["severity"], 1);
    assert_eq!(a["alert"]["severity_name"], "high");
    assert_eq!(a["src_ip"], "192.168.77.10");
    let reason = a["alert"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("lands in US") && reason.contains("Data Privacy Framework"),
        "{reason}"
    );
    // eu-west-1 is approved and in the EEA: no alert but the first-flow notice.
    let eu = tls_to(&ev, "bedrock-runtime.eu-west-1.amazonaws.com");
    assert_eq!(eu[0]["policy_verdict"], "approved");
}

#[test]
fn a_dpf_certified_vendor_in_the_us_is_adequate() {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/policy.toml"))
            .unwrap()
            .replace("dpf_certified = []", "dpf_certified = [\"amazon\"]");
    let ev = events("ai-clients__b_python_sdks.pcap", Some(policy_text(&text)));
    let us = tls_to(&ev, "bedrock-runtime.us-west-2.amazonaws.com");
    assert_eq!(us[0]["landing"]["adequacy"], true);
    assert_eq!(us[0]["policy_verdict"], "approved");
    assert!(
        alerts(&ev, "non_eea_landing")
            .iter()
            .all(|a| a["ai"]["vendor"] != "amazon")
    );
}

#[test]
fn an_api_behind_cloudflare_is_not_placed_at_the_edge() {
    let ev = events("ai-clients__b_python_sdks.pcap", None);
    let openai = tls_to(&ev, "api.openai.com");
    let landing = &openai[0]["landing"];
    assert_eq!(landing["front_door"], "cloudflare", "{landing}");
    assert_eq!(landing["basis"], "vendor_headquarters");
    assert_eq!(landing["confidence"], "low");
    assert_eq!(landing["country"], openai[0]["ai"]["vendor_country"]);
    // A vendor without a sourced headquarters behind the same edge: unknown, not the
    // edge's country.
    let groq = tls_to(&ev, "api.groq.com");
    assert_eq!(groq[0]["landing"]["country"], Value::Null);
    assert_eq!(groq[0]["landing"]["basis"], "unknown");
    assert_eq!(groq[0]["landing"]["geoip_country"], "US");
}

#[test]
fn a_consumer_chat_app_reached_from_a_server_subnet_raises_training_endpoint() {
    let from_servers = events("made__chromium_from_servers.pcap", Some(deploy_policy()));
    let training = alerts(&from_servers, "training_endpoint");
    let mut vendors: Vec<&str> = training
        .iter()
        .map(|a| a["ai"]["vendor"].as_str().unwrap())
        .collect();
    vendors.sort_unstable();
    vendors.dedup();
    // Le Chat, Grok and Perplexity train on inputs unless the account opts out, and AI
    // Studio trains on them by default (Gemini API terms, unpaid services).
    assert_eq!(vendors, ["google", "mistral", "perplexity", "xai"]);
    for a in &training {
        assert_eq!(a["alert"]["verdict"], "unapproved");
        assert!(
            a["alert"]["reason"]
                .as_str()
                .unwrap()
                .contains("in the servers network"),
            "{a}"
        );
    }
    // The same traffic from the laptops' workstation subnet is not a training alert.
    let from_laptops = events(
        "ai-clients__c_chromium_tcp_mtu1500.pcap",
        Some(deploy_policy()),
    );
    assert!(alerts(&from_laptops, "training_endpoint").is_empty());
}

#[test]
fn an_unapproved_vendor_alerts_once_per_window_with_repeats_counted() {
    let ev = events(
        "ai-clients__c_chromium_tcp_mtu1500.pcap",
        Some(deploy_policy()),
    );
    let mistral: Vec<_> = alerts(&ev, "unapproved_ai_vendor")
        .into_iter()
        .filter(|a| a["ai"]["vendor"] == "mistral" && a["src_ip"] == "192.168.77.22")
        .collect();
    assert_eq!(mistral.len(), 2, "{mistral:#?}");
    assert_eq!(mistral[0]["alert"]["summary"], false);
    assert_eq!(mistral[0]["alert"]["count"], 1);
    assert_eq!(mistral[1]["alert"]["summary"], true);
    assert_eq!(mistral[1]["alert"]["count"], 1);
    let flows_to_mistral = ev
        .iter()
        .filter(|e| {
            e["event_type"] == "flow"
                && e["ai"]["vendor"] == "mistral"
                && e["src_ip"] == "192.168.77.22"
        })
        .count();
    assert_eq!(flows_to_mistral, 2, "one alert plus one counted repeat");
    let stats = ev.last().unwrap();
    assert!(stats["stats"]["suppressed"].as_u64().unwrap() >= 1);

    // Without a window every flow alerts.
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/policy.toml"))
            .unwrap()
            .replace("dedup_window = \"1h\"", "dedup_window = \"0s\"");
    let ev = events(
        "ai-clients__c_chromium_tcp_mtu1500.pcap",
        Some(policy_text(&text)),
    );
    let each: Vec<_> = alerts(&ev, "unapproved_ai_vendor")
        .into_iter()
        .filter(|a| a["ai"]["vendor"] == "mistral" && a["src_ip"] == "192.168.77.22")
        .collect();
    assert_eq!(each.len(), 2);
    assert!(each.iter().all(|a| a["alert"]["summary"] == false));
}

#[test]
fn every_alert_says_what_happened_and_why() {
    let ev = events("ai-clients__b_python_sdks.pcap", Some(deploy_policy()));
    let all: Vec<_> = ev.iter().filter(|e| e["event_type"] == "alert").collect();
    assert!(!all.is_empty());
    for a in all {
        for field in ["flow_id", "src_ip", "dest_ip", "dest_port", "proto"] {
            assert!(!a[field].is_null(), "{field} missing: {a}");
        }
        let alert = &a["alert"];
        for field in ["rule", "severity", "verdict", "reason", "policy", "count"] {
            assert!(!alert[field].is_null(), "alert.{field} missing: {a}");
        }
        let reason = alert["reason"].as_str().unwrap();
        assert!(
            reason.ends_with('.') && reason.contains(a["src_ip"].as_str().unwrap()),
            "{reason}"
        );
        if alert["rule"] != "visibility_gap" {
            assert!(
                !a["ai"]["vendor"].is_null() && !a["landing"].is_null(),
                "{a}"
            );
        }
    }
}

#[test]
fn an_exception_silences_its_rule_only() {
    let ev = events("ai-clients__b_python_sdks.pcap", Some(deploy_policy()));
    let anthropic = tls_to(&ev, "api.anthropic.com");
    assert_eq!(anthropic[0]["landing"]["country"], "US");
    // deploy/policy.toml excepts Anthropic from non_eea_landing (SCCs in its DPA).
    assert!(
        alerts(&ev, "non_eea_landing")
            .iter()
            .all(|a| a["ai"]["vendor"] != "anthropic")
    );
    assert_eq!(anthropic[0]["policy_verdict"], "approved");
}

#[test]
fn encrypted_dns_is_a_visibility_gap() {
    let ev = events(
        "ai-clients__c_chromium_doh_mtu1500.pcap",
        Some(deploy_policy()),
    );
    let gaps = alerts(&ev, "visibility_gap");
    assert!(!gaps.is_empty());
    let reason = gaps[0]["alert"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("DNS-over-HTTPS at doh.opendns.com"),
        "{reason}"
    );
    assert_eq!(gaps[0]["alert"]["verdict"], "review");
    assert_eq!(gaps[0]["src_ip"], "192.168.77.21");
}

#[test]
fn no_policy_means_landings_but_no_verdicts_or_alerts() {
    let ev = events("ai-clients__b_python_sdks.pcap", None);
    assert!(
        ev.iter()
            .all(|e| e["event_type"] != "alert" && e["policy_verdict"].is_null())
    );
    assert!(ev.iter().any(|e| !e["landing"].is_null()));
}

/// Policy problems name file and line.
#[test]
fn policy_errors_name_file_and_line() {
    let db = common::database();
    let base = "[networks]\ninternal = [\"10.0.0.0/8\"]\n";
    let cases: &[(&str, usize, &str)] = &[
        (
            "[networks]\ninternal = [\"10.0.0.0/33\"]\n",
            2,
            "not an address or CIDR",
        ),
        (
            "[networks]\ninternal = [\"10.0.0.0/8\"]\ncolour = 1\n",
            3,
            "unknown field",
        ),
        (
            "[networks]\ninternal = [\"10.0.0.0/8\"]\n\n[[approve]]\nvendor = \"opneai\"\n",
            5,
            "no vendor \"opneai\"",
        ),
        (
            "[networks]\ninternal = [\"10.0.0.0/8\"]\n[[approve]]\nvendor = \"openai\"\nendpoints = [\"claude-api\"]\n",
            5,
            "no endpoint \"claude-api\"",
        ),
        (
            "[networks]\ninternal = [\"10.0.0.0/8\"]\n[[approve]]\nvendor = \"openai\"\nfrom = [\"crm\"]\n",
            5,
            "no network group \"crm\"",
        ),
        (
            "[networks]\ninternal = [\"10.0.0.0/8\"]\n[alerts]\ndedup_window = \"soon\"\n",
            4,
            "not a duration",
        ),
        (
            "[networks]\ninternal = [\"10.0.0.0/8\"]\n[alerts.severity]\nunapproved_vendor = \"high\"\n",
            4,
            "no rule \"unapproved_vendor\"",
        ),
        (
            "[networks]\ninternal = [\"10.0.0.0/8\"]\n[alerts.severity]\nnew_ai_flow = \"loud\"\n",
            4,
            "unknown variant",
        ),
        (
            "[networks]\ninternal = [\"10.0.0.0/8\"]\n[landing]\nallowed = [\"EEA\", \"europe\"]\n",
            4,
            "is not \"EEA\"",
        ),
        ("[networks\n", 1, "unclosed table"),
    ];
    for (text, line, message) in cases {
        let e = Policy::parse("p.toml", text, &db).unwrap_err();
        let p = &e.problems[0];
        assert_eq!((p.file.as_str(), p.line), ("p.toml", *line), "{text}\n{e}");
        assert!(p.message.contains(message), "{text}\n{e}");
        assert!(e.to_string().contains(&format!("p.toml:{line}:")), "{e}");
    }
    assert!(Policy::parse("p.toml", base, &db).is_ok());
}

#[test]
fn a_client_hello_that_could_not_be_read_is_a_visibility_gap() {
    // In this capture a Google QUIC T051 client's hello never completes.
    let policy = policy_text("[networks]\ninternal = [\"187.227.136.0/24\"]\n");
    let ev = events("ndpi__quic_t51.pcap", Some(policy));
    let gaps = alerts(&ev, "visibility_gap");
    assert_eq!(gaps.len(), 1, "{gaps:#?}");
    let reason = gaps[0]["alert"]["reason"].as_str().unwrap();
    assert!(reason.contains("could not be read"), "{reason}");
    assert_eq!(gaps[0]["dest_ip"], "211.247.147.90");
}

#[test]
fn a_vendor_level_match_is_recorded_but_judged_only_for_large_uploads() {
    // The database as it would be were OpenAI's API host known only as one of OpenAI's
    // domains: its file keeps the vendor, its one endpoint is `*.openai.com` at vendor level.
    let files: Vec<(String, String)> = Database::embedded_files()
        .into_iter()
        .map(|(name, text)| {
            if name != "openai.toml" {
                return (name, text);
            }
            let vendor = text
                .split("[[plans]]")
                .next()
                .expect("the vendor table")
                .to_owned();
            let other = r#"[[endpoints]]
id = "openai-other"
product = "OpenAI (other domains)"
kind = "vendor_other"
hosts = ["openai.com", "*.openai.com"]
source = "https://openai.com/policies/eu-privacy-policy/"
"#;
            (name, format!("{vendor}{other}"))
        })
        .collect();
    let db = Arc::new(Database::from_files(&files).expect("the altered database is valid"));
    let policy = Policy::parse(
        "test.toml",
        "[networks]\ninternal = [\"192.168.0.0/16\"]\n\n[alerts.large_upload.bytes]\nvendor_other = \"1 KiB\"\n",
        &db,
    )
    .expect("test policy is valid");
    let events: Vec<Value> = common::scan_json_judged(
        &[capture("ai-clients__b_python_sdks.pcap")],
        Some(Arc::new(policy)),
        db,
    )
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();

    let to_openai = tls_to(&events, "api.openai.com");
    assert!(!to_openai.is_empty());
    for e in &to_openai {
        assert_eq!(e["ai"]["kind"], "vendor_other", "{e}");
        assert_eq!(e["ai"]["vendor"], "openai");
        assert!(
            e.get("verdict").is_none(),
            "no verdict at vendor level: {e}"
        );
    }
    let about_openai: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "alert" && e["ai"]["vendor"] == "openai")
        .collect();
    let rules: Vec<&str> = about_openai
        .iter()
        .filter_map(|e| e["alert"]["rule"].as_str())
        .collect();
    assert_eq!(
        rules,
        ["large_upload"],
        "a visit raises nothing, a large upload is still data sent to the vendor"
    );
    // The other vendors of the capture are judged as before.
    assert!(!alerts(&events, "unapproved_ai_vendor").is_empty());
}

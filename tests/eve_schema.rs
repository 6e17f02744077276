//! Every event aigress writes for the shipped captures, with and without the default
//! policy, validates against `schema/eve.schema.json`, and every field it shares with
//! Suricata's EVE schema has Suricata's JSON type (`tests/data/suricata-eve-types.tsv`,
//! written from Suricata's `etc/schema.json` by `scripts/suricata-eve-types`).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use aigress::policy::Policy;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn default_policy() -> Arc<Policy> {
    let db = common::database();
    Arc::new(Policy::load(&root().join("deploy/policy.toml"), &db).expect("the default policy"))
}

/// The events of every shipped capture scanned alone, without and with the default policy.
fn all_events() -> Vec<(String, Value)> {
    let policy = default_policy();
    let mut events = Vec::new();
    for capture in common::captures() {
        for policy in [None, Some(Arc::clone(&policy))] {
            let label = format!(
                "{}{}",
                common::stem(&capture),
                if policy.is_some() { " (policy)" } else { "" }
            );
            for line in common::scan_json_with(std::slice::from_ref(&capture), policy).lines() {
                let event = serde_json::from_str(line).expect("each line is JSON");
                events.push((label.clone(), event));
            }
        }
    }
    events
}

/// Suricata's types by field path (`dns.queries[].rrname`), and its patterns.
fn suricata_types() -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, String>) {
    let text = std::fs::read_to_string(root().join("tests/data/suricata-eve-types.tsv"))
        .expect("tests/data/suricata-eve-types.tsv");
    let mut types = BTreeMap::new();
    let mut patterns = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (path, kinds) = line.split_once('\t').expect("path<TAB>types");
        match path.strip_suffix("#pattern") {
            Some(field) => {
                patterns.insert(field.to_owned(), kinds.to_owned());
            }
            None => {
                types.insert(
                    path.to_owned(),
                    kinds.split('|').map(str::to_owned).collect(),
                );
            }
        }
    }
    (types, patterns)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Calls `f(path, value)` for every value in `v`, objects and arrays included.
fn walk(path: &str, v: &Value, f: &mut impl FnMut(&str, &Value)) {
    if !path.is_empty() {
        f(path, v);
    }
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(&p, child, f);
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(&format!("{path}[]"), item, f);
            }
        }
        _ => {}
    }
}

#[test]
fn every_event_validates_and_shares_suricatas_types() {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("schema/eve.schema.json")).expect("schema file"),
    )
    .expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let (types, patterns) = suricata_types();
    let pattern_validators: BTreeMap<&str, jsonschema::Validator> = patterns
        .iter()
        .map(|(field, pattern)| {
            let check = serde_json::json!({"type": "string", "pattern": pattern});
            (
                field.as_str(),
                jsonschema::validator_for(&check).expect("Suricata's pattern compiles"),
            )
        })
        .collect();

    let events = all_events();
    assert!(events.len() > 3_000, "{} events", events.len());
    // The checks can fail: the old forms of a timestamp, a severity and a version do.
    let tls = events
        .iter()
        .map(|(_, e)| e)
        .find(|e| e["event_type"] == "tls")
        .expect("a tls event");
    let mut old = tls.clone();
    old["timestamp"] = "2026-11-23T07:50:52.338141Z".into();
    assert!(!validator.is_valid(&old));
    assert!(!pattern_validators["timestamp"].is_valid(&old["timestamp"]));
    let mut old = tls.clone();
    old["tls"]["sni"] = Value::Null;
    assert!(!validator.is_valid(&old));
    assert!(types["alert.severity"].contains("integer"));
    let mut invalid = Vec::new();
    let mut mismatched = BTreeSet::new();
    let mut shared = BTreeSet::new();
    let mut event_types = BTreeSet::new();
    for (capture, event) in &events {
        event_types.insert(event["event_type"].as_str().unwrap_or("?").to_owned());
        for error in validator.iter_errors(event).take(3) {
            invalid.push(format!(
                "{capture}: {} at {}: {event}",
                error,
                error.instance_path()
            ));
        }
        walk("", event, &mut |path, value| {
            if let Some(allowed) = types.get(path) {
                shared.insert(path.to_owned());
                let t = json_type(value);
                let ok = allowed.contains(t) || (t == "integer" && allowed.contains("number"));
                if !ok {
                    mismatched.insert(format!("{path}: {t}, Suricata says {allowed:?}"));
                }
            }
            if let Some(check) = pattern_validators.get(path)
                && !check.is_valid(value)
            {
                mismatched.insert(format!("{path}: {value} does not match Suricata's pattern"));
            }
        });
    }
    assert!(
        invalid.is_empty(),
        "{} events break schema/eve.schema.json, e.g.:\n{}",
        invalid.len(),
        invalid
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        mismatched.is_empty(),
        "fields typed unlike Suricata's:\n{}",
        mismatched.into_iter().collect::<Vec<_>>().join("\n")
    );
    for t in ["tls", "quic", "dns", "http", "flow", "alert", "stats"] {
        assert!(event_types.contains(t), "no {t} event in the captures");
    }
    // The check reached the fields that matter to a SIEM, not just a few.
    for field in [
        "timestamp",
        "flow_id",
        "pcap_cnt",
        "community_id",
        "vlan",
        "app_proto",
        "tls.sni",
        "tls.version",
        "tls.ja4",
        "tls.client_alpns",
        "quic.version",
        "quic.sni",
        "quic.ua",
        "http.hostname",
        "http.http_port",
        "dns.version",
        "dns.flags",
        "dns.rcode",
        "dns.queries[].rrtype",
        "dns.answers[].ttl",
        "flow.start",
        "flow.bytes_toserver",
        "alert.severity",
        "alert.signature_id",
        "alert.gid",
        "alert.rev",
        "alert.category",
        "alert.source.ip",
    ] {
        assert!(shared.contains(field), "no event carried {field}");
    }
}

#[test]
fn every_alert_about_a_named_server_names_it() {
    let mut checked = 0;
    for (capture, event) in all_events() {
        if event["event_type"] != "alert" {
            continue;
        }
        let Some(ai) = event.get("ai") else { continue };
        let (object, field) = match ai["match_source"].as_str() {
            Some("sni") => ("tls", "sni"),
            Some("quic_sni") => ("quic", "sni"),
            Some("http_host") => ("http", "hostname"),
            _ => continue,
        };
        let named = event[object][field].as_str().map(str::to_ascii_lowercase);
        assert_eq!(
            named.as_deref(),
            ai["host"].as_str(),
            "{capture}: an alert about {} does not name it in {object}.{field}: {event}",
            ai["host"]
        );
        assert_eq!(event["app_proto"], object, "{capture}: {event}");
        checked += 1;
    }
    assert!(checked > 100, "only {checked} alerts checked");
}

#[test]
fn a_large_upload_to_a_chat_app_raises_one_alert_naming_host_product_bytes_and_window() {
    let capture = common::captures_dir().join("made__large_upload.pcapng");
    let events: Vec<Value> = common::scan_json_with(&[capture], Some(default_policy()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let uploads: Vec<&Value> = events
        .iter()
        .filter(|e| e["event_type"] == "alert" && e["alert"]["rule"] == "large_upload")
        .collect();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    let a = uploads[0];
    // Two flows of 1.6 MB and 1.5 MB of body: each alone is under the 2 MiB limit for
    // consumer chat apps, together they pass it.
    assert_eq!(a["alert"]["upload"]["flows"], 2);
    let bytes = a["alert"]["upload"]["bytes_toserver"].as_u64().unwrap();
    assert!((3_100_000..3_200_000).contains(&bytes), "{bytes}");
    assert_eq!(a["alert"]["upload"]["limit"], 2 * 1024 * 1024);
    assert_eq!(a["alert"]["upload"]["window_seconds"], 3600);
    assert_eq!(a["alert"]["signature_id"], 9_441_007);
    assert_eq!(a["alert"]["severity"], 2);
    assert_eq!(a["src_ip"], "10.20.30.40");
    assert_eq!(a["ai"]["product"], "ChatGPT");
    assert_eq!(a["tls"]["sni"], "chatgpt.com");
    let reason = a["alert"]["reason"].as_str().unwrap();
    for part in [
        "10.20.30.40",
        "3.0 MiB",
        "ChatGPT",
        "2 flows",
        "1h",
        "2.0 MiB",
    ] {
        assert!(reason.contains(part), "{part:?} not in {reason:?}");
    }
    let stats = events.last().unwrap();
    assert_eq!(stats["stats"]["alerts"]["large_upload"], 1);
}

#[test]
fn a_lower_limit_in_the_policy_fires_on_the_first_flow() {
    let db = common::database();
    let text = "[networks]\ninternal = [\"10.0.0.0/8\"]\n[alerts.large_upload]\nwindow = \"10m\"\n[alerts.large_upload.bytes]\nconsumer_chat = \"1 MB\"\n";
    let policy = Arc::new(Policy::parse("policy.toml", text, &db).expect("valid policy"));
    let capture = common::captures_dir().join("made__large_upload.pcapng");
    let uploads: Vec<Value> = common::scan_json_with(&[capture], Some(policy))
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .filter(|e| e["alert"]["rule"] == "large_upload")
        .collect();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0]["alert"]["upload"]["flows"], 1);
    assert_eq!(uploads[0]["alert"]["upload"]["limit"], 1_000_000);
    assert_eq!(uploads[0]["alert"]["upload"]["window_seconds"], 600);
}

#[test]
fn bad_large_upload_settings_are_named() {
    let db = common::database();
    let base = "[networks]\ninternal = [\"10.0.0.0/8\"]\n";
    for (extra, expected) in [
        ("window = \"soon\"\n", "alerts.large_upload.window"),
        ("window = \"0s\"\n", "longer than zero"),
        (
            "[alerts.large_upload.bytes]\nchat = \"1 MiB\"\n",
            "no product kind \"chat\"",
        ),
        (
            "[alerts.large_upload.bytes]\napi = \"lots\"\n",
            "not a size",
        ),
    ] {
        let text = format!("{base}\n[alerts.large_upload]\n{extra}");
        let err = Policy::parse("policy.toml", &text, &db).expect_err(extra);
        assert!(err.to_string().contains(expected), "{extra:?}: {err}");
    }
}

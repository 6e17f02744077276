//! aigress against tshark: for every shipped capture, the ClientHellos (TLS and QUIC), DNS
//! questions and answers and HTTP requests aigress reports are the ones tshark 4.0 finds (the
//! `*.truth.tsv` files), except for the cases in `tests/data/known_differences.tsv`, each
//! explained in `tests/data/KNOWN_DIFFERENCES.md`. A new difference fails, and so does a
//! listed one that went away.

mod common;

use std::collections::BTreeMap;

use serde_json::Value;

type Key = (String, String, String, String, String, String);

fn norm(name: &str) -> String {
    name.trim().to_lowercase().trim_end_matches('.').to_owned()
}

/// An address in tshark's (compressed) text: events write IPv6 in Suricata's full form.
fn address(text: String) -> String {
    text.parse::<std::net::IpAddr>()
        .map_or(text, |ip| ip.to_string())
}

fn rows_from_events(events: &[Value]) -> Vec<(String, Key)> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut rows = Vec::new();
    for e in events {
        let addr = |kind: &str, name: &str| {
            (
                kind.to_owned(),
                (
                    address(text(&e["src_ip"])),
                    text(&e["src_port"]),
                    address(text(&e["dest_ip"])),
                    text(&e["dest_port"]),
                    norm(name),
                    String::new(),
                ),
            )
        };
        match e["event_type"].as_str() {
            Some(kind @ ("tls" | "quic")) => rows.push(addr(kind, &text(&e[kind]["sni"]))),
            // A response whose request was not seen has its own event, but it is no
            // request, which is what tshark lists.
            Some("http") if e["http"].get("http_method").is_some() => {
                rows.push(addr("http", &text(&e["http"]["hostname"])));
            }
            Some("dns") if e["dns"]["type"] == "request" => {
                for q in e["dns"]["queries"].as_array().into_iter().flatten() {
                    rows.push(addr("dns_query", &text(&q["rrname"])));
                }
            }
            Some("dns") => {
                for section in ["answers", "authorities", "additionals"] {
                    for a in e["dns"][section].as_array().into_iter().flatten() {
                        if matches!(a["rrtype"].as_str(), Some("A" | "AAAA" | "CNAME")) {
                            rows.push(addr("dns_answer", &text(&a["rrname"])));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    rows
}

fn count(rows: impl IntoIterator<Item = (String, Key)>) -> BTreeMap<(String, Key), i64> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r).or_insert(0) += 1;
    }
    m
}

#[test]
fn aigress_finds_what_tshark_finds() {
    let known = common::read_tsv(&common::captures_dir().join("../known_differences.tsv"));
    let mut unexplained = Vec::new();
    let mut compared = 0;
    for capture in common::captures() {
        let stem = common::stem(&capture);
        let truth_path = capture.with_file_name(format!("{stem}.truth.tsv"));
        let truth = common::read_tsv(&truth_path);
        let want = count(truth.iter().map(|r| {
            (
                r["kind"].clone(),
                (
                    r["src"].clone(),
                    r["sport"].clone(),
                    r["dst"].clone(),
                    r["dport"].clone(),
                    norm(&r["name"]),
                    String::new(),
                ),
            )
        }));
        let got = count(rows_from_events(&common::scan_events(&capture)));
        compared += want.values().sum::<i64>();
        let mut diffs: BTreeMap<String, i64> = BTreeMap::new();
        for key in want.keys().chain(got.keys()) {
            let delta = got.get(key).copied().unwrap_or(0) - want.get(key).copied().unwrap_or(0);
            if delta != 0 {
                let (kind, (src, sport, dst, dport, name, _)) = key;
                let side = if delta > 0 { "extra" } else { "missed" };
                let line = format!("{side}\t{kind}\t{src}\t{sport}\t{dst}\t{dport}\t{name}");
                diffs.insert(line, delta.abs());
            }
        }
        let listed: BTreeMap<String, i64> = known
            .iter()
            .filter(|k| k["capture"] == stem)
            .map(|k| {
                let line = format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    k["side"], k["kind"], k["src"], k["sport"], k["dst"], k["dport"], k["name"]
                );
                (line, k["count"].parse().unwrap_or(1))
            })
            .collect();
        if diffs != listed {
            unexplained.push(format!("{stem}:\n  found  {diffs:?}\n  listed {listed:?}"));
        }
    }
    assert!(compared > 800, "only {compared} truth rows compared");
    assert!(unexplained.is_empty(), "{}", unexplained.join("\n"));
}

#[test]
fn ja4_matches_the_reference_implementation() {
    let mut checked = 0;
    for capture in common::captures() {
        let stem = common::stem(&capture);
        let client_truth = capture.with_file_name(format!("{stem}.client-truth.tsv"));
        if !client_truth.exists() {
            continue;
        }
        let events = common::scan_events(&capture);
        for row in common::read_tsv(&client_truth) {
            let event_type = match row["kind"].as_str() {
                "tls_client_hello" => "tls",
                "quic_client_hello" => "quic",
                _ => continue,
            };
            let event = events
                .iter()
                .find(|e| {
                    e["event_type"] == event_type
                        && address(e["src_ip"].as_str().unwrap_or_default().to_owned())
                            == row["src"]
                        && e["src_port"] == row["sport"].parse::<u64>().unwrap_or(0)
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{stem}: no {event_type} event from {}:{}",
                        row["src"], row["sport"]
                    )
                });
            assert_eq!(
                event[event_type]["ja4"],
                row["ja4"].as_str(),
                "{stem} {}:{}",
                row["src"],
                row["sport"]
            );
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} ClientHellos checked");
}

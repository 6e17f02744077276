//! The `aigress` binary as a user runs it: exit codes, messages, output formats.

mod common;

use common::{aigress, text};

use std::path::{Path, PathBuf};

fn capture(name: &str) -> PathBuf {
    common::captures_dir().join(name)
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn table_output_leads_with_ai_servers_then_sorts_by_bytes_sent() {
    let cap = capture("ai-clients__b_python_sdks.pcap");
    let out = aigress(&["scan", path_str(&cap)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("SERVER"), "{stdout}");
    let rows: Vec<(bool, u64)> = lines[1..]
        .iter()
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let ai = cols.last().is_none_or(|c| *c != "-");
            (ai, cols[5].parse().expect("BYTES_UP column"))
        })
        .collect();
    let first_other = rows.iter().position(|(ai, _)| !ai).unwrap_or(rows.len());
    assert!(
        rows[first_other..].iter().all(|(ai, _)| !ai),
        "AI rows come first: {stdout}"
    );
    for group in [&rows[..first_other], &rows[first_other..]] {
        assert!(
            group.windows(2).all(|w| w[0].1 >= w[1].1),
            "sorted by bytes sent: {stdout}"
        );
    }
    assert!(stdout.contains("api.anthropic.com") && stdout.contains("anthropic/Claude API"));
    assert!(first_other >= 10, "{stdout}");
}

#[test]
fn json_output_is_one_event_per_line_ending_with_stats() {
    let cap = capture("ai-clients__c_chromium_tcp_mtu1500.pcap");
    let out = aigress(&["scan", "--format", "json", path_str(&cap)]);
    assert!(out.status.success());
    let events: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    let tls: Vec<_> = events.iter().filter(|e| e["event_type"] == "tls").collect();
    // Four sites, three connections each, as tshark counts them.
    assert_eq!(tls.len(), 12);
    for e in &tls {
        assert!(
            e["tls"]["pq_key_share"].as_bool().unwrap(),
            "Chromium offers ML-KEM: {e}"
        );
        assert!(e["tls"]["ja4"].as_str().unwrap().starts_with("t13d"));
    }
    assert_eq!(events.last().unwrap()["event_type"], "stats");
}

#[test]
fn several_files_are_read_in_order_as_one_run() {
    let a = capture("zeek__dns-svcb.pcap");
    let b = capture("arkime__dns-tcp.pcap");
    let out = aigress(&["scan", "-f", "json", path_str(&a), path_str(&b)]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    let stats: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let single = |p: &Path| -> u64 {
        let o = aigress(&["scan", "-f", "json", path_str(p)]);
        let s: serde_json::Value =
            serde_json::from_str(text(&o.stdout).lines().last().unwrap()).unwrap();
        s["stats"]["packets"].as_u64().unwrap()
    };
    assert_eq!(
        stats["stats"]["packets"].as_u64().unwrap(),
        single(&a) + single(&b)
    );
    // DNS events come in packet order: all of the 2021 capture before the 2013 one.
    let years: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("\"event_type\":\"dns\""))
        .map(|l| &l[14..18])
        .collect();
    let first_2013 = years
        .iter()
        .position(|y| *y == "2013")
        .expect("second file's events");
    assert!(
        years[..first_2013].iter().all(|y| *y == "2021"),
        "{years:?}"
    );
    assert!(
        years[first_2013..].iter().all(|y| *y == "2013"),
        "{years:?}"
    );
}

/// A pcapng file whose third block claims 8 bytes, less than a block's own framing (found by
/// fuzzing: pcap-parser subtracts the framing from it), and whose interfaces have different
/// link types, one aigress does not decode.
#[test]
fn a_damaged_pcapng_block_is_reported_and_mixed_link_types_are_read() {
    fn block(kind: u32, body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(body.len() + 12).unwrap();
        let mut b = kind.to_le_bytes().to_vec();
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(body);
        b.extend_from_slice(&len.to_le_bytes());
        b
    }
    let packet = |interface: u32, frame: &[u8]| {
        let mut body = interface.to_le_bytes().to_vec();
        body.extend_from_slice(&[0; 8]);
        let len = u32::try_from(frame.len()).unwrap().to_le_bytes();
        body.extend_from_slice(&len);
        body.extend_from_slice(&len);
        body.extend_from_slice(frame);
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        block(6, &body)
    };
    // A DNS query for example.com from 10.0.0.1, as raw IPv4.
    let mut dns = vec![0u8; 0];
    dns.extend_from_slice(&[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    dns.extend_from_slice(b"\x07example\x03com\x00\x00\x01\x00\x01");
    let udp_len = u16::try_from(8 + dns.len()).unwrap();
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 53,
    ];
    ip[2..4].copy_from_slice(&(20 + udp_len).to_be_bytes());
    ip.extend_from_slice(&40000u16.to_be_bytes());
    ip.extend_from_slice(&53u16.to_be_bytes());
    ip.extend_from_slice(&udp_len.to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(&dns);

    let mut file = block(
        0x0a0d_0d0a,
        &[
            0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        ],
    );
    file.extend(block(1, &[228, 0, 0, 0, 0, 0, 0, 0])); // IPv4
    file.extend(block(1, &[147, 0, 0, 0, 0, 0, 0, 0])); // a user link type
    file.extend(packet(0, &ip));
    file.extend(packet(1, b"not decoded"));
    file.extend(packet(0, &ip));
    // A process information block of 8 bytes.
    file.extend_from_slice(&0x8000_0001u32.to_le_bytes());
    file.extend_from_slice(&8u32.to_le_bytes());
    file.extend(packet(0, &ip));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.pcapng");
    std::fs::write(&path, &file).unwrap();
    let out = aigress(&["scan", "--format", "json", path_str(&path)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("invalid block length 8"), "{stderr}");
    assert!(stderr.contains("packets=1"), "one packet skipped: {stderr}");
    let queries = text(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"event_type\":\"dns\""))
        .count();
    assert_eq!(queries, 2, "the two queries before the damage");
}

#[test]
fn a_truncated_capture_yields_the_packets_before_the_cut_and_warns() {
    let original = std::fs::read(capture("ai-clients__b_python_sdks.pcap")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.pcap");
    // Cut in the middle of a record well into the file.
    std::fs::write(&cut, &original[..original.len() * 2 / 3 + 7]).unwrap();
    let out = aigress(&["scan", "--format", "json", path_str(&cut)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("ends inside a packet record"), "{stderr}");
    let packet: u64 = stderr
        .split("packet=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("warning names the packet number");
    let stats: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(stats["stats"]["packets"].as_u64().unwrap(), packet - 1);
    assert!(text(&out.stdout).contains("\"event_type\":\"tls\""));
}

#[test]
fn an_unsupported_link_type_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zigbee.pcap");
    let mut header = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    header.extend_from_slice(&65535u32.to_le_bytes());
    header.extend_from_slice(&195u32.to_le_bytes());
    std::fs::write(&path, header).unwrap();
    let out = aigress(&["scan", path_str(&path)]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("link type 195 (IEEE802_15_4) is not supported"),
        "{stderr}"
    );
    assert!(stderr.contains("zigbee.pcap"), "{stderr}");
}

#[test]
fn a_missing_file_fails_before_any_output() {
    let good = capture("zeek__dns-svcb.pcap");
    let out = aigress(&["scan", "-f", "json", path_str(&good), "/nonexistent/x.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "no events before the error");
    assert!(text(&out.stderr).contains("/nonexistent/x.pcap"));
}

#[test]
fn a_file_that_is_not_a_capture_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "not a capture at all").unwrap();
    let out = aigress(&["scan", path_str(&path)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("cannot open"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn wrong_flags_are_usage_errors() {
    let out = aigress(&["scan", "--format", "xml", "x.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("possible values: table, json"));
    assert_eq!(aigress(&["scan"]).status.code(), Some(2));
    assert_eq!(aigress(&["frobnicate"]).status.code(), Some(2));
    for workers in ["0", "257", "many"] {
        let out = aigress(&["run", "-i", "lo", "--workers", workers]);
        assert_eq!(out.status.code(), Some(2), "--workers {workers}");
        assert!(
            text(&out.stderr).contains("--workers"),
            "{}",
            text(&out.stderr)
        );
    }
}

fn deploy_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/policy.toml")
}

#[test]
fn geoip_says_country_eea_and_front_door() {
    let out = aigress(&[
        "geoip",
        "-f",
        "json",
        "104.18.7.192",
        "3.251.88.13",
        "10.1.2.3",
        "not-an-ip",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answers: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(answers.len(), 4);
    assert_eq!(answers[0]["front_door"], "cloudflare");
    assert_eq!(answers[0]["adequacy"], true);
    assert!(
        answers[0]["adequacy_condition"]
            .as_str()
            .unwrap()
            .contains("Data Privacy Framework")
    );
    assert_eq!(answers[1]["country"], "IE");
    assert_eq!(answers[1]["eea"], true);
    assert_eq!(answers[2]["country"], serde_json::Value::Null);
    assert!(answers[3]["error"].as_str().unwrap().contains("not an IP"));
    let table = aigress(&["geoip", "3.251.88.13"]);
    assert!(
        text(&table.stdout).contains("built-in"),
        "{}",
        text(&table.stdout)
    );
}

#[test]
fn a_missing_or_corrupt_geoip_database_stops_at_start() {
    let cap = capture("ai-clients__b_python_sdks.pcap");
    let out = aigress(&[
        "scan",
        "--geoip-country",
        "/nonexistent/Country.mmdb",
        path_str(&cap),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("/nonexistent/Country.mmdb") && err.contains("--no-geoip"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("c.mmdb");
    std::fs::write(&corrupt, b"\xab\xcd\xefMaxMind.com garbage").unwrap();
    let out = aigress(&["geoip", "--geoip-country", path_str(&corrupt), "1.1.1.1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a usable MaxMind database"),
        "{}",
        text(&out.stderr)
    );

    let out = aigress(&["scan", "-f", "json", "--no-geoip", path_str(&cap)]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("\"landing\""));
    assert!(
        !stdout.contains("\"basis\":\"geoip\""),
        "no GeoIP basis without GeoIP"
    );
}

#[test]
fn policy_check_accepts_the_default_and_names_problems_by_line() {
    let out = aigress(&["policy", "check", path_str(&deploy_policy())]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("ok: policy"));

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("policy.toml");
    std::fs::write(
        &bad,
        "[networks]\ninternal = [\"10.0.0.0/8\"]\n\n[[approve]]\nvendor = \"nosuchvendor\"\n",
    )
    .unwrap();
    let out = aigress(&["policy", "check", path_str(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("{}:5: approve[1]: no vendor", bad.display())),
        "{err}"
    );

    let cap = capture("ai-clients__b_python_sdks.pcap");
    let out = aigress(&["scan", "--policy", path_str(&bad), path_str(&cap)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

#[test]
fn alerts_go_to_the_stream_and_to_the_alert_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("alerts.json");
    let cap = capture("ai-clients__b_python_sdks.pcap");
    let out = aigress(&[
        "scan",
        "-f",
        "json",
        "--policy",
        path_str(&deploy_policy()),
        "--alerts-file",
        path_str(&file),
        path_str(&cap),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let in_stream: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("\"event_type\":\"alert\""))
        .collect();
    let in_file = std::fs::read_to_string(&file).unwrap();
    assert!(!in_stream.is_empty());
    assert_eq!(in_file.lines().collect::<Vec<_>>(), in_stream);
    let stats: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        stats["stats"]["sinks"][0]["sent"].as_u64(),
        Some(in_stream.len() as u64)
    );

    let table = aigress(&[
        "scan",
        "--policy",
        path_str(&deploy_policy()),
        path_str(&cap),
    ]);
    let t = text(&table.stdout);
    assert!(
        t.contains("LANDING") && t.contains("non_eea_landing"),
        "{t}"
    );

    let no_policy = aigress(&["scan", "--alerts-file", path_str(&file), path_str(&cap)]);
    assert_eq!(
        no_policy.status.code(),
        Some(2),
        "alert sinks need a policy"
    );
}

#[test]
fn dns_queries_say_request_as_suricata_8_does_and_query_on_request() {
    let cap = capture("ai-clients__a_curl.pcap");
    let types = |extra: &[&str]| -> std::collections::BTreeSet<String> {
        scan_events(&cap, extra)
            .into_iter()
            .filter(|e| e["event_type"] == "dns")
            .map(|e| e["dns"]["type"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(types(&[]), ["request", "response"].map(String::from).into());
    assert_eq!(
        types(&["--dns-request-type", "query"]),
        ["query", "response"].map(String::from).into()
    );
    let bad = aigress(&["scan", "--dns-request-type", "ask", path_str(&cap)]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("expected query or request"));
}

#[test]
fn ipv6_is_written_in_full_as_suricata_does_or_compressed_on_request() {
    let cap = capture("ai-clients__a_curl.pcap");
    let sources = |extra: &[&str]| -> std::collections::BTreeSet<String> {
        scan_events(&cap, extra)
            .into_iter()
            .filter_map(|e| e["src_ip"].as_str().map(str::to_owned))
            .filter(|ip| ip.contains(':'))
            .collect()
    };
    let full = sources(&[]);
    assert!(
        full.contains("fd77:0000:0000:0000:3e22:fbff:fe91:4b21"),
        "{full:?}"
    );
    let compressed = sources(&["--ipv6-text", "compressed"]);
    assert!(
        compressed.contains("fd77::3e22:fbff:fe91:4b21"),
        "{compressed:?}"
    );
    assert_eq!(full.len(), compressed.len());
    let bad = aigress(&["scan", "--ipv6-text", "short", path_str(&cap)]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("expected full or compressed"));
}

/// The events of `aigress scan --format json EXTRA CAPTURE`.
fn scan_events(capture: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["scan", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(path_str(capture));
    common::json_lines(&args)
}

/// A sensor told it sees one side of some connections writes what that side sends when it
/// is read, not when an answer that never passes it would complete it; without being told,
/// the request waits for its response until the flow ends, as Suricata's default does.
#[test]
fn a_one_sided_sensor_writes_what_it_reads_at_once() {
    let dir = common::captures_dir().join("../suricata-verify/stream-async/http");
    let client = dir.join("stream-async-6063-cli-01/http-request-header-async-cli.pcap");
    let server = dir.join("stream-async-6063-srv-01/http-request-header-async-srv.pcap");
    let scan = |extra: &[&str], file: &Path| {
        let mut args = vec!["scan", "--format", "json"];
        args.extend_from_slice(extra);
        args.push(path_str(file));
        common::json_lines(&args)
    };
    let of_type = |events: &[serde_json::Value], kind: &str| -> Vec<serde_json::Value> {
        events
            .iter()
            .filter(|e| e["event_type"] == kind)
            .cloned()
            .collect()
    };

    let waiting = scan(&[], &client);
    let request = &of_type(&waiting, "http")[0];
    assert_eq!(request["http"]["http_method"], "GET");
    assert!(request.get("pcap_cnt").is_none(), "{request}");
    assert_eq!(of_type(&waiting, "flow")[0]["flow"]["state"], "new");

    let at_once = scan(&["--async-oneside"], &client);
    let request = &of_type(&at_once, "http")[0];
    assert_eq!(
        request["pcap_cnt"], 3,
        "the request's own packet: {request}"
    );
    assert_eq!(of_type(&at_once, "flow")[0]["flow"]["state"], "established");

    // The server's side alone: its response is a transaction of its own, addressed client
    // to server, written when the response has ended.
    let response = &of_type(&scan(&["--async-oneside"], &server), "http")[0];
    assert_eq!(response["http"]["status"], 200);
    assert!(response["http"].get("http_method").is_none());
    assert_eq!(response["dest_port"], 80);
    assert_eq!(response["pcap_cnt"], 4);

    // The client's side first, then the server's: the request was written when read, and
    // the response that comes after all answers it, rather than being one without a
    // request.
    let mut both = std::fs::read(&client).unwrap();
    both.extend_from_slice(&std::fs::read(&server).unwrap()[24..]);
    let dir = tempfile::tempdir().unwrap();
    let joined = dir.path().join("client-then-server.pcap");
    std::fs::write(&joined, &both).unwrap();
    let http = of_type(&scan(&["--async-oneside"], &joined), "http");
    assert_eq!(http.len(), 1, "{http:?}");
    assert_eq!(http[0]["http"]["http_method"], "GET");
}

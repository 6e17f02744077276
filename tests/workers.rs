//! Several engines scan a capture to the same output as one: every event, in the same
//! order, and the same counters.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aigress::policy::Policy;
use aigress::scan::Workers;
use common::{database, scan_json_on};

/// Every capture file under `tests/data`, sorted.
fn shipped_captures() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable folder") {
            let path = entry.expect("readable entry").path();
            if path.is_dir() {
                walk(&path, found);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("pcap" | "pcapng")
            ) {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"),
        &mut found,
    );
    found.sort();
    assert!(found.len() >= 200, "{} captures shipped", found.len());
    found
}

fn scan(paths: &[PathBuf], workers: Workers) -> String {
    scan_json_on(paths, None, database(), workers)
}

#[test]
fn every_shipped_capture_scans_to_the_same_output_on_several_engines() {
    // Rounds of a few packets put many hand-overs inside these small captures, so the
    // merge across them is what is tested, as it is on long captures.
    let setups = [
        Workers::new(2),
        Workers::new(3).with_round_packets(3),
        Workers::new(4).with_round_packets(1),
    ];
    let mut differ = Vec::new();
    for capture in shipped_captures() {
        let paths = [capture.clone()];
        let one = scan(&paths, Workers::new(1));
        for workers in setups {
            if scan(&paths, workers) != one {
                differ.push(format!("{} with {workers:?}", capture.display()));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "output differs from one engine's:\n{}",
        differ.join("\n")
    );
}

#[test]
fn flows_continue_across_files_on_several_engines_as_on_one() {
    let captures = common::ai_client_captures();
    let paths: Vec<PathBuf> = captures.iter().map(PathBuf::from).collect();
    assert!(paths.len() >= 5);
    let one = scan(&paths, Workers::new(1));
    assert!(one.lines().count() > 100, "the captures have events");
    assert_eq!(scan(&paths, Workers::new(3).with_round_packets(64)), one);
}

#[test]
fn a_judged_scan_writes_the_same_verdicts_and_alerts_on_several_engines() {
    let paths: Vec<PathBuf> = common::ai_client_captures()
        .iter()
        .map(PathBuf::from)
        .collect();
    let policy = || {
        let path = PathBuf::from(common::deploy_policy());
        Some(Arc::new(
            Policy::load(&path, &database()).expect("deploy/policy.toml is valid"),
        ))
    };
    let one = scan_json_on(&paths, policy(), database(), Workers::new(1));
    assert!(
        one.contains("\"event_type\":\"alert\""),
        "the policy raises alerts"
    );
    assert!(one.contains("\"summary\":true"), "repeats are summarised");
    for workers in [Workers::new(2), Workers::new(3).with_round_packets(16)] {
        assert_eq!(scan_json_on(&paths, policy(), database(), workers), one);
    }
}

#[test]
fn a_flow_seen_through_two_tunnels_is_one_flow_on_several_engines() {
    // The eighth packet of this GRE-in-UDP capture, the inner HTTP request, is moved to
    // a tunnel with another far end: its carrier is another flow, its inner flow the same.
    let source = common::captures_dir().join("zeek__tunnels__gre-over-udp-4754.pcap");
    let mut bytes = std::fs::read(&source).expect("read capture");
    let mut at = 24;
    for _ in 1..8 {
        let captured = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().expect("4 bytes"));
        at += 16 + usize::try_from(captured).expect("length");
    }
    // Ethernet (14 bytes), then the second byte of the outer IPv4 destination.
    let outer_destination = at + 16 + 14 + 17;
    assert_eq!(bytes[outer_destination], 168, "192.168.5.1");
    bytes[outer_destination] = 100;
    let dir = tempfile::tempdir().expect("temp dir");
    let moved = dir.path().join("moved.pcap");
    std::fs::write(&moved, bytes).expect("write");
    let paths = [moved];
    let one = scan(&paths, Workers::new(1));
    assert!(
        one.contains("\"hostname\":\"zeek.org\""),
        "the request is read"
    );
    for engines in 2..=4 {
        assert_eq!(
            scan(&paths, Workers::new(engines)),
            one,
            "{engines} engines"
        );
    }
}

#[test]
fn a_cut_capture_ends_at_the_same_packet_on_several_engines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let source = common::captures_dir().join("ai-clients__a_curl.pcap");
    let bytes = std::fs::read(&source).expect("read capture");
    let cut = dir.path().join("cut.pcap");
    std::fs::write(&cut, bytes.get(..bytes.len() * 2 / 3).expect("cut")).expect("write");
    let paths = [cut];
    let one = scan(&paths, Workers::new(1));
    assert_eq!(scan(&paths, Workers::new(2).with_round_packets(7)), one);
}

#[test]
fn the_command_line_scans_on_several_engines_to_the_same_output() {
    let capture = common::captures_dir().join("ai-clients__a_curl.pcap");
    let capture = capture.to_str().expect("UTF-8 path");
    let one = common::ok(&["scan", "--format", "json", capture]);
    let three = common::ok(&["scan", "--format", "json", "--workers", "3", capture]);
    assert_eq!(three, one);
    let refused = common::aigress(&["scan", "--workers", "0", capture]);
    assert!(!refused.status.success());
}

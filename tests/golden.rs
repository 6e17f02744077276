//! Golden output: each capture in `tests/data/captures` scans to exactly the JSON lines in
//! `tests/data/expected/<capture>.jsonl`. Run with `AIGRESS_UPDATE_GOLDEN=1` to rewrite
//! them after an intended change, then review the diff. The signature database's version,
//! which every AI event carries and every data change bumps, is written as `VERSION`.

mod common;

use std::fs;

#[test]
fn every_capture_scans_to_its_golden_events() {
    let update = std::env::var_os("AIGRESS_UPDATE_GOLDEN").is_some();
    let expected_dir = common::captures_dir().join("../expected");
    let mut failures = Vec::new();
    for capture in common::captures() {
        let got = without_version(&common::scan_json(std::slice::from_ref(&capture)));
        let golden = expected_dir.join(format!("{}.jsonl", common::stem(&capture)));
        if update {
            fs::write(&golden, &got).expect("write golden file");
            continue;
        }
        let want = fs::read_to_string(&golden).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with AIGRESS_UPDATE_GOLDEN=1",
                golden.display()
            )
        });
        if got != want {
            let line = got
                .lines()
                .zip(want.lines())
                .position(|(g, w)| g != w)
                .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
            failures.push(format!(
                "{}: differs at line {}\n  got:  {}\n  want: {}",
                capture.display(),
                line + 1,
                got.lines().nth(line).unwrap_or("<end>"),
                want.lines().nth(line).unwrap_or("<end>")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn without_version(events: &str) -> String {
    let version = aigress::signatures::Database::embedded()
        .expect("built-in database")
        .version;
    events.replace(
        &format!("\"signatures_version\":\"{version}\""),
        "\"signatures_version\":\"VERSION\"",
    )
}

#[test]
fn scanning_twice_gives_the_same_output() {
    let capture = common::captures_dir().join("ai-clients__b_python_sdks.pcap");
    let paths = [capture];
    assert_eq!(common::scan_json(&paths), common::scan_json(&paths));
}

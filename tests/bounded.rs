//! No capture can stall a scan: every shipped capture, and damaged copies of each, must
//! scan to the end within a generous wall-clock bound. A hang in the packet path fails
//! this test instead of timing out the whole run.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Far above what any shipped capture takes (milliseconds), even in a debug build on a
/// loaded machine; only a loop that does not end reaches it.
const BOUND: Duration = Duration::from_secs(60);
/// Damaged copies made of each classic pcap.
const MUTANTS: u64 = 3;

/// Runs `aigress scan --format json FILE`, killing it at [`BOUND`]. Returns the failure.
fn scan_bounded(file: &Path) -> Option<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aigress"))
        .args(["scan", "--format", "json"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start aigress");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for aigress") {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                std::io::Read::read_to_string(&mut e, &mut stderr).ok();
            }
            // 0 is success, 2 a clean refusal (a file cut inside its header, say).
            return match status.code() {
                Some(0 | 2) if !stderr.contains("panicked") => None,
                _ => Some(format!("{}: {status}: {stderr}", file.display())),
            };
        }
        if started.elapsed() > BOUND {
            child.kill().ok();
            child.wait().ok();
            return Some(format!("{}: still running after {BOUND:?}", file.display()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A copy of a classic pcap with a few bytes past the link header of some packets
/// replaced, deterministically from `seed` (xorshift): damage as a broken NIC, a bad
/// capture or an attacker would make it.
fn mutate(raw: &[u8], seed: u64) -> Option<Vec<u8>> {
    let little = match raw.get(..4)? {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return None,
    };
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = raw.to_vec();
    let mut off = 24usize;
    while off + 16 <= out.len() {
        let field: [u8; 4] = out[off + 8..off + 12].try_into().ok()?;
        let incl = if little {
            u32::from_le_bytes(field)
        } else {
            u32::from_be_bytes(field)
        } as usize;
        let (start, end) = (off + 16, off + 16 + incl);
        if end > out.len() {
            break;
        }
        if incl > 20 && next() % 10 == 0 {
            for _ in 0..1 + next() % 4 {
                let at = start + 14 + (next() as usize) % (incl - 14);
                out[at] = next() as u8;
            }
        }
        off = end;
    }
    Some(out)
}

#[test]
fn every_capture_and_damaged_copies_of_it_scan_to_the_end_promptly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut failures = Vec::new();
    for capture in common::captures() {
        failures.extend(scan_bounded(&capture));
        let raw = std::fs::read(&capture).expect("read capture");
        for seed in 0..MUTANTS {
            let Some(damaged) = mutate(&raw, seed + 1) else {
                continue;
            };
            let path = dir
                .path()
                .join(format!("{}.m{seed}.pcap", common::stem(&capture)));
            std::fs::write(&path, damaged).expect("write damaged copy");
            if let Some(f) = scan_bounded(&path) {
                // Keep the input that failed, for a regression test.
                let kept = std::env::temp_dir().join(path.file_name().expect("name"));
                std::fs::copy(&path, &kept).ok();
                failures.push(format!("{f} (kept as {})", kept.display()));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

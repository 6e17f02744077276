//! Audit archives as they are kept: captures compressed with gzip or zstd, and directories
//! of rotated files. Compressed captures are inflated as streams into libpcap, so every
//! shipped capture must scan to exactly the bytes its plain copy scans to.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use common::{aigress, captures, captures_dir, scan_json, text};

fn gzip(from: &Path, to: &Path) {
    let mut out = flate2::write::GzEncoder::new(
        std::fs::File::create(to).unwrap(),
        flate2::Compression::default(),
    );
    out.write_all(&std::fs::read(from).unwrap()).unwrap();
    out.finish().unwrap();
}

fn zstd(from: &Path, to: &Path) {
    let bytes = zstd::encode_all(std::fs::read(from).unwrap().as_slice(), 3).unwrap();
    std::fs::write(to, bytes).unwrap();
}

#[test]
fn every_shipped_capture_scans_the_same_compressed_with_gzip_or_zstd() {
    let dir = tempfile::tempdir().unwrap();
    for capture in captures() {
        let name = capture.file_name().unwrap().to_str().unwrap();
        let (gz, zst) = (
            dir.path().join(format!("{name}.gz")),
            dir.path().join(format!("{name}.zst")),
        );
        gzip(&capture, &gz);
        zstd(&capture, &zst);
        let plain = scan_json(std::slice::from_ref(&capture));
        assert_eq!(scan_json(&[gz]), plain, "{name}.gz");
        assert_eq!(scan_json(&[zst]), plain, "{name}.zst");
    }
}

#[test]
fn a_directory_is_its_captures_in_the_time_order_of_their_first_packets() {
    let dir = tempfile::tempdir().unwrap();
    // The later capture has the earlier name; one is gzip, one zstd, one not a capture.
    let later = captures_dir().join("ai-clients__a_curl.pcap");
    let earlier = captures_dir().join("ai-clients__b_python_sdks.pcap");
    gzip(&later, &dir.path().join("a-rotated.pcap.gz"));
    zstd(&earlier, &dir.path().join("b-rotated.pcap.zst"));
    std::fs::write(dir.path().join("notes.txt"), "not a capture").unwrap();
    let out = aigress(&["scan", "--format", "json", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let explicit = aigress(&[
        "scan",
        "--format",
        "json",
        earlier.to_str().unwrap(),
        later.to_str().unwrap(),
    ]);
    assert_eq!(text(&out.stdout), text(&explicit.stdout));

    let empty = tempfile::tempdir().unwrap();
    let out = aigress(&["scan", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no capture files"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_damaged_compressed_capture_keeps_the_packets_before_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let capture = captures_dir().join("ai-clients__a_curl.pcap");
    let gz: PathBuf = dir.path().join("a.pcap.gz");
    gzip(&capture, &gz);
    let whole = std::fs::read(&gz).unwrap();
    let cut = dir.path().join("cut.pcap.gz");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let out = aigress(&["scan", "--format", "json", cut.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ends inside a packet record") && stderr.contains("decompressing"),
        "{stderr}"
    );
    let events = text(&out.stdout).lines().count();
    let all = scan_json(&[capture]).lines().count();
    assert!(events > 1 && events < all, "{events} of {all}");

    let garbage = dir.path().join("garbage.pcap.zst");
    std::fs::write(&garbage, [0x28, 0xb5, 0x2f, 0xfd, 0, 1, 2, 3]).unwrap();
    let out = aigress(&["scan", garbage.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("garbage.pcap.zst"),
        "{}",
        text(&out.stderr)
    );
}

/// A compressed file that inflates to far more than the inflater may run ahead, and is no
/// capture, fails at once: the inflater, waiting to hand over its next chunk, is stopped
/// rather than waited for.
#[test]
fn a_large_compressed_file_that_is_no_capture_fails_promptly() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("noise.bin");
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let noise: Vec<u8> = (0..32 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    std::fs::write(&plain, &noise).unwrap();
    for (name, compress) in [
        ("noise.pcap.gz", gzip as fn(&Path, &Path)),
        ("noise.pcap.zst", zstd as fn(&Path, &Path)),
    ] {
        let file = dir.path().join(name);
        compress(&plain, &file);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_aigress"))
            .args(["scan", "--format", "json", file.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let started = std::time::Instant::now();
        // Ends when the scan does, or fails the test after a minute.
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > std::time::Duration::from_secs(60) {
                child.kill().unwrap();
                panic!("{name}: the scan hung");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let out = child.wait_with_output().unwrap();
        assert_eq!(status.code(), Some(2), "{name}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains("not a pcap or pcapng"), "{name}");
    }
}

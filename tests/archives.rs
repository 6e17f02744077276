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

//! Capture file records (pcap and pcapng, both byte orders), read whole as a scan reads a
//! memory-mapped file: every turn consumes a record or stops.
#![no_main]

use aigress::capture::records::{Record, Records, Start};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Start::Capture { mut records, len } = Records::start(data) else {
        return;
    };
    let mut at = len;
    while let Some(rest) = data.get(at..) {
        match records.next(rest) {
            Record::Packet { len, data: range, .. } => {
                assert!(len > 0 && range.end <= len && range.start <= range.end);
                at += len;
            }
            Record::Other { len } => {
                assert!(len > 0);
                at += len;
            }
            Record::NeedMore | Record::Damaged(_) => break,
        }
    }
});
